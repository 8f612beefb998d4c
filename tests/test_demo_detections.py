"""`robospatial demo --detections none`: the simulator's masks unused, objects named by perception alone
(clustering: object_0, ... with colours), on the direct path and through the graph."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np
import pytest
from ros_helpers import fresh_domain_id

from robospatial_ros.core.configio import load_config
from robospatial_ros.core.errors import ConfigError
from robospatial_ros.core.resources import DEFAULT_TABLETOP_CONFIG
from robospatial_ros.core.scene import Scene
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.core.urdf import workspace_from_urdf
from robospatial_ros.ros.graph import package_files
from robospatial_ros.ros.graph_demo import GraphSession
from robospatial_ros.sim.demo import DemoConfig, run_episode, true_name
from robospatial_ros.sim.tabletop import TabletopConfig, TabletopSim

# Yellow: the banana; green: the can (sim/objects.py colours). Seed 1 lays them out so the banana fits left
# of the can (camera's view) on both paths.
COMMAND = "put the yellow object to the left of the green object"
SEED = 1
SIM_OBJECTS = {"mug", "bowl", "plate", "box", "can", "banana", "block"}


def _spatial() -> SpatialConfig:
    return load_config(SpatialConfig, DEFAULT_TABLETOP_CONFIG)


def _assert_perceived_by_clustering(perceived: Scene) -> None:
    """Every object has a clustering name and a colour, lies in the URDF table's workspace (no robot base),
    and the objects are the simulator's seven, one each."""
    lo, hi = workspace_from_urdf(package_files().urdf)  # (x, y, z) robot base frame, metres
    truth = TabletopSim(TabletopConfig(seed=SEED)).scene()
    objects = [o for o in perceived.objects if o.name != "table"]
    assert all(o.name.startswith("object_") and o.colour for o in objects), [(o.name, o.colour) for o in objects]
    for o in objects:
        centre = np.asarray(o.box.center)
        assert np.all(centre[:2] >= np.asarray(lo[:2])) and np.all(centre[:2] <= np.asarray(hi[:2])), (o.name, centre)
    assert {true_name(o.name, perceived, truth) for o in objects} == SIM_OBJECTS
    colours = {true_name(o.name, perceived, truth): o.colour for o in objects}
    assert colours["banana"] == "yellow" and colours["can"] == "green", colours


def test_direct_demo_without_masks_names_objects_by_colour():
    config = DemoConfig(spatial=_spatial(), detections="none").with_urdf_workspace(package_files().urdf)
    ep = run_episode(COMMAND, SEED, config)
    assert ep.success, ep.failure
    before = ep.perceived["before"].scene
    _assert_perceived_by_clustering(before)
    truth = ep.frames["before"].scene
    assert true_name(ep.parsed.target, before, truth) == "banana"
    assert true_name(ep.parsed.reference, before, truth) == "can"
    assert ep.check_ground_truth is True
    assert ep.moved_m > 0.05  # the banana itself was carried (measured on the simulator's body)


def test_graph_demo_without_masks_names_objects_by_colour():
    with GraphSession(_spatial(), domain_id=fresh_domain_id(), detections="none") as session:
        ep = session.episode(COMMAND, SEED)
    assert ep.success, ep.failure
    before = ep.record["before"][1]
    _assert_perceived_by_clustering(before)
    truth = TabletopSim(TabletopConfig(seed=SEED)).scene()
    parsed = ep.report["parsed"]
    assert true_name(parsed["object"], before, truth) == "banana"
    assert true_name(parsed["reference"], before, truth) == "can"
    assert ep.report["check"] == {**ep.report["check"], "answer": "Yes", "ground_truth_answer": "Yes"}


def test_demo_detections_must_be_masks_or_none():
    with pytest.raises(ConfigError, match="detections must be one of masks, none"):
        DemoConfig(detections="boxes")
    with pytest.raises(ConfigError, match="detections must be one of masks, none"):
        GraphSession(_spatial(), domain_id=fresh_domain_id(), detections="labels")
