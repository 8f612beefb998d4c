"""The workcell URDF and the launch file (run here against named stand-ins for launch/launch_ros,
which are not installed on this machine; on a ROS install the real ones load the same file)."""

import importlib.util
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from robospatial_ros.core.urdf import UrdfError, frame_transform
from robospatial_ros.ros.graph import SIM_GRAPH, LaunchArgs, graph_for
from robospatial_ros.sim.tabletop import TabletopConfig

URDF = "urdf/workcell.urdf"


def test_urdf_camera_matches_the_simulated_camera():
    T = frame_transform(URDF, "panda_link0", "camera_color_optical_frame")
    np.testing.assert_allclose(T, TabletopConfig().camera().camera_to_world, atol=1e-5)
    body = frame_transform(URDF, "panda_link0", "camera_link")
    # REP-103: the optical frame's z (forward) is the body frame's x.
    np.testing.assert_allclose(T[:3, 2], body[:3, 0], atol=1e-6)
    assert frame_transform(URDF, "panda_link0", "table")[2, 3] == pytest.approx(-0.375)


def test_urdf_errors_are_typed(tmp_path):
    with pytest.raises(UrdfError):
        frame_transform(URDF, "panda_link0", "no_such_link")
    (tmp_path / "bad.urdf").write_text("<robot")
    with pytest.raises(UrdfError):
        frame_transform(tmp_path / "bad.urdf", "a", "b")


def test_graph_for_launch_arguments():
    robot = graph_for(LaunchArgs(camera="gazebo", plan_only=False, backend="geometric"))
    names = [spec.name for spec, _, _ in robot]
    assert names == ["perception", "reasoner", "planner"]
    remaps = robot[0][2]
    assert remaps["/camera/camera/aligned_depth_to_color/image_raw"] == "/rgbd_camera/depth_image"
    assert robot[2][1]["plan_only"] is False and robot[1][1]["backend"] == "geometric"
    ns = graph_for(LaunchArgs(camera_namespace="/arm_cam/d435"))[0][2]
    assert ns["/camera/camera/color/image_raw"] == "/arm_cam/d435/color/image_raw"
    assert [s for s, _, _ in graph_for(LaunchArgs(sim=True))] == list(SIM_GRAPH)
    with pytest.raises(ValueError, match="robot"):
        LaunchArgs(robot="ur5")
    with pytest.raises(ValueError, match="camera"):
        LaunchArgs(camera="kinect")


def _stand_in_launch_modules(share: Path) -> dict[str, types.ModuleType]:
    """Minimal stand-ins for launch, launch_ros and ament_index_python (not on PyPI)."""

    class Record:
        def __init__(self, *args, **kwargs):
            self.args, self.kwargs = args, kwargs

    class LaunchConfiguration:
        values: dict[str, str] = {}

        def __init__(self, name):
            self.name = name

        def perform(self, context):
            return context[self.name]

    mods = {
        name: types.ModuleType(name)
        for name in (
            "launch",
            "launch.actions",
            "launch.substitutions",
            "launch_ros",
            "launch_ros.actions",
            "ament_index_python",
            "ament_index_python.packages",
        )
    }
    mods["launch"].LaunchDescription = lambda entities: list(entities)
    mods["launch.actions"].DeclareLaunchArgument = Record
    mods["launch.actions"].OpaqueFunction = Record
    mods["launch.substitutions"].LaunchConfiguration = LaunchConfiguration
    mods["launch_ros.actions"].Node = Record
    mods["ament_index_python.packages"].get_package_share_directory = lambda pkg: str(share)
    return mods


def test_launch_file_starts_the_declared_graph(monkeypatch, tmp_path):
    for name, module in _stand_in_launch_modules(tmp_path).items():
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("robospatial_launch", "launch/robospatial.launch.py")
    launch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch)
    entities = launch.generate_launch_description()
    declared = {e.args[0]: e.kwargs["default_value"] for e in entities[:-1]}
    assert declared["robot"] == "panda" and declared["plan_only"] == "true" and declared["camera"] == "realsense"
    context = {**declared, "camera": "isaac", "sim": "false", "plan_only": "false", "params_file": "extra.yaml"}
    nodes = entities[-1].kwargs["function"](context)
    by_name = {n.kwargs["name"]: n.kwargs for n in nodes}
    assert set(by_name) == {"perception", "reasoner", "planner"}
    assert by_name["planner"]["parameters"][0] == str(tmp_path / "config" / "planner.yaml")
    assert by_name["planner"]["parameters"][1] == "extra.yaml"
    assert by_name["planner"]["parameters"][2]["plan_only"] is False
    assert ("/camera/camera/color/image_raw", "/rgb") in by_name["perception"]["remappings"]
