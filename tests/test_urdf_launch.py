"""The workcell URDF and the graph's launch arguments, parameter layers and files (graph.py), without launch;
the launch file itself runs under the real launch system in test_launch.py."""

import dataclasses
import re

import numpy as np
import pytest
import rclpy
from rclpy.context import Context
from ros_helpers import fresh_domain_id

from robospatial_ros.core.errors import ConfigError
from robospatial_ros.core.reasoning.backends import BACKEND_NAMES
from robospatial_ros.core.urdf import UrdfError, frame_transform
from robospatial_ros.ros.graph import (
    CAMERA_REMAPS,
    LABELS_TOPIC,
    REASONER,
    SIM_GRAPH,
    LaunchArgs,
    PackageFiles,
    camera_pose_overrides,
    graph_for,
    launch_arguments,
    package_files,
    ros_args,
    workspace_overrides,
    write_params_file,
)
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
    files = package_files()
    robot = graph_for(LaunchArgs(camera="gazebo", plan_only=False, backend="geometric"), files)
    assert [p.spec.name for p in robot] == ["perception", "reasoner", "planner"]
    by_name = {p.spec.name: p for p in robot}
    assert by_name["perception"].remaps["/camera/camera/aligned_depth_to_color/image_raw"] == "/rgbd_camera/depth_image"
    # its model backends read the camera too; only perception reads Gazebo's segmentation labels
    camera_topics = {k: v for k, v in by_name["perception"].remaps.items() if k != LABELS_TOPIC}
    assert by_name["reasoner"].remaps == camera_topics == CAMERA_REMAPS["gazebo"]
    assert by_name["perception"].remaps[LABELS_TOPIC] == "/segmentation/labels_map"
    assert by_name["planner"].remaps == {}
    assert by_name["planner"].explicit == {"plan_only": False} and by_name["reasoner"].explicit == {
        "backend": "geometric"
    }
    # The camera pose and the workspace derive from the URDF's mount and table (layer 2), below the
    # user's params files; the workspace starts in front of the robot base, so its plate is ignored.
    # camera gazebo: the objects are named from its segmentation camera's labels (gz-sensors' labels_map).
    derived = by_name["perception"].derived
    labels = {"detections": "labels", "labels.encoding": "gazebo_semantic"}
    assert derived == {**camera_pose_overrides(files.urdf), **workspace_overrides(files.urdf), **labels}
    assert graph_for(LaunchArgs(), files)[0].derived == {
        **camera_pose_overrides(files.urdf),
        **workspace_overrides(files.urdf),
    }
    assert derived["perception.workspace_min_xyz_m"][0] > 0.1 and derived["perception.workspace_max_xyz_m"][2] > 0.3
    ns = graph_for(LaunchArgs(camera_namespace="/arm_cam/d435"))[0].remaps
    assert ns["/camera/camera/color/image_raw"] == "/arm_cam/d435/color/image_raw"
    sim = graph_for(LaunchArgs(sim=True, camera="isaac"))
    assert [p.spec for p in sim] == list(SIM_GRAPH)
    assert sim[0].remaps == CAMERA_REMAPS["isaac"]  # the simulator publishes on the chosen camera's topics
    assert sim[1].derived["detections"] == "masks"
    assert LABELS_TOPIC not in sim[1].remaps  # the simulator's masks, not label images
    with pytest.raises(ConfigError, match="robot"):
        LaunchArgs(robot="ur5")
    with pytest.raises(ConfigError, match="camera"):
        LaunchArgs(camera="kinect")


def test_launch_arguments_left_empty_set_nothing():
    """Only arguments given explicitly override the params files: empty backend/plan_only/use_sim_time set nothing."""
    args = LaunchArgs.from_strings({"backend": "", "plan_only": "", "use_sim_time": "", "sim": "false"})
    assert all(p.explicit == {} for p in graph_for(args))
    given = LaunchArgs.from_strings({"backend": "hf", "plan_only": "False", "use_sim_time": "true"})
    explicit = {p.spec.name: p.explicit for p in graph_for(given)}
    assert explicit["planner"] == {"plan_only": False, "use_sim_time": True}
    assert explicit["reasoner"] == {"backend": "hf", "use_sim_time": True}
    for bad, needle in (
        ({"plan_only": "maybe"}, "plan_only"),
        ({"colour": "red"}, "colour"),
        ({"bag_rate": "x"}, "bag_rate"),
    ):
        with pytest.raises(ConfigError, match=needle):
            LaunchArgs.from_strings(bad)
    with pytest.raises(ConfigError, match="sim and bag"):
        LaunchArgs(sim=True, bag="recording.mcap")


def test_every_launch_argument_is_described_with_its_choices():
    args = {a.name: a for a in launch_arguments()}
    assert set(args) == {f.name for f in dataclasses.fields(LaunchArgs)}
    assert all(len(a.description) > 20 for a in args.values())
    assert args["camera"].choices == tuple(CAMERA_REMAPS) and args["sim"].choices == ("true", "false")
    assert args["backend"].choices == ("", *BACKEND_NAMES) and args["backend"].default == ""


def test_package_files_are_found_or_their_absence_is_an_error(tmp_path):
    files = package_files()
    assert files.origin == "checkout" and files.params(REASONER).name == "reasoner.yaml"
    empty = PackageFiles(tmp_path, "ament index")
    with pytest.raises(ConfigError, match="workcell URDF is missing"):
        graph_for(LaunchArgs(), empty)  # no silent default camera pose
    with pytest.raises(ConfigError, match="reasoner node's parameters is missing"):
        empty.params(REASONER)


def test_params_files_written_for_a_layer_are_read_by_ros(tmp_path):
    from rclpy.parameter import Parameter

    path = write_params_file(tmp_path / "p.yaml", {"perception": {"camera_position_m": [1.0, 2.0, 3.0]}, "x": {}})
    context = Context()
    rclpy.init(args=ros_args([path]), context=context, domain_id=fresh_domain_id())
    try:
        node = rclpy.create_node("perception", context=context, automatically_declare_parameters_from_overrides=True)
        assert node.get_parameter("camera_position_m").get_parameter_value().double_array_value.tolist() == [1, 2, 3]
        assert node.get_parameter("camera_position_m").type_ == Parameter.Type.DOUBLE_ARRAY
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)


def test_simulator_label_arguments(tmp_path):
    """camera:=gazebo|isaac without sim: the label topic remapped onto the perception node's, the encoding
    (derived per simulator, or given), the names file (explicit layer); misuse is a ConfigError."""
    from robospatial_ros.core.perception.labels import LABEL_ENCODINGS as CORE_ENCODINGS
    from robospatial_ros.ros import graph
    from robospatial_ros.ros.nodes.perception_node import LABELS_TOPIC as NODE_LABELS_TOPIC

    assert LABELS_TOPIC == NODE_LABELS_TOPIC and graph.LABEL_ENCODINGS == CORE_ENCODINGS
    names = tmp_path / "labels.yaml"
    names.write_text("0: BACKGROUND\n2: mug\n")
    isaac = LaunchArgs(camera="isaac", labels_file=str(names))
    perception = graph_for(isaac)[0]
    assert perception.remaps[LABELS_TOPIC] == "/semantic_segmentation"
    assert perception.derived["detections"] == "labels" and perception.derived["labels.encoding"] == "ids"
    assert perception.explicit == {"labels.names_file": str(names.resolve())}
    panoptic = LaunchArgs.from_strings(
        {"camera": "gazebo", "labels_topic": "/cam/panoptic/labels_map", "labels_encoding": "gazebo_panoptic"}
    )
    perception = graph_for(panoptic)[0]
    assert perception.remaps[LABELS_TOPIC] == "/cam/panoptic/labels_map"
    assert perception.explicit == {"labels.encoding": "gazebo_panoptic"}
    for bad, needle in (
        ({"labels_file": str(names)}, re.escape("apply to camera:=gazebo|isaac without sim")),
        ({"camera": "gazebo", "sim": "true", "labels_topic": "/x"}, "sim is true"),
        ({"camera": "gazebo", "labels_encoding": "rgb"}, "labels_encoding"),
        ({"camera": "isaac", "labels_file": str(tmp_path / "missing.yaml")}, "labels_file not found"),
    ):
        with pytest.raises(ConfigError, match=needle):
            LaunchArgs.from_strings(bad)
