"""Stable ids across frames (core.perception.tracking): the simulator with the arm moving an object,
and synthetic scenes for the matching rules."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np
import pytest

from robospatial_ros.core.camera import CameraModel
from robospatial_ros.core.errors import ConfigError, SceneError, UnknownObjectError
from robospatial_ros.core.geometry import OrientedBox
from robospatial_ros.core.perception.pipeline import Perception
from robospatial_ros.core.perception.tracking import ObjectTracker, TrackerConfig
from robospatial_ros.core.planning import PickPlaceConfig, plan_pick_place
from robospatial_ros.core.planning.pick_place import scene_obstacles
from robospatial_ros.core.scene import Scene, SceneObject, resolve_name
from robospatial_ros.sim.tabletop import TabletopConfig, TabletopSim

LAYOUT = (("can", 0.45, 0.15, 0.0), ("box", 0.62, -0.05, 0.4), ("bowl", 0.45, -0.25, 0.0))


def _ids_by_truth(sim, scene):
    """sim object name -> the perceived id whose box centre is nearest it (within 3 cm)."""
    out = {}
    for name in sim.names:
        centre = sim.object_box(name).center[:2]
        best = min(scene.objects[1:], key=lambda o: np.linalg.norm(o.box.center[:2] - centre))
        assert np.linalg.norm(best.box.center[:2] - centre) < 0.03, name
        out[name] = best.name
    return out


def test_ids_stay_while_the_arm_moves_an_object():
    sim = TabletopSim(TabletopConfig(seed=0, objects=("can", "box", "bowl"), fixed_poses=LAYOUT))
    perception, tracker = Perception(), ObjectTracker()

    def look():
        return tracker.update(perception.perceive(sim.render().frame).scene)

    first = look()
    ids = _ids_by_truth(sim, first)
    assert len(set(ids.values())) == 3
    assert {first.get(ids[n]).colour for n in ("can", "box", "bowl")} == {"green", "orange", "blue"}
    assert _ids_by_truth(sim, look()) == ids  # a still scene: the same ids
    tracker.name(ids["can"], "soda")  # an operator's name, kept with the id
    scene = sim.scene()
    plan = plan_pick_place(
        scene.get("can").box,
        np.array([0.62, 0.22, 0.0]),
        PickPlaceConfig(),
        0.0,
        obstacles=scene_obstacles(scene, "can"),
    )
    start = sim.object_box("can").center
    assert sim.execute(plan).success
    assert np.linalg.norm(sim.object_box("can").center[:2] - start[:2]) > 0.15  # it really moved
    for _ in range(2):
        after = look()
        assert _ids_by_truth(sim, after) == ids  # the moved can kept its id (matched by appearance)
        assert resolve_name("the soda", after.names) == ids["can"]
        assert after.get(ids["can"]).user_name == "soda"


def _camera():
    T = np.eye(4)
    T[:3, :3] = np.diag([1.0, -1.0, -1.0])
    T[2, 3] = 1.0
    return CameraModel(np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]]), 640, 480, T)


def _scene(*objects):
    """Perceived-style scene: objects (x, y, colour) named object_0.. left to right, as perception does."""
    table = SceneObject("table", OrientedBox(np.array([0, 0, -0.01]), np.array([1.0, 1.0, 0.02]), np.eye(3)))
    ordered = sorted(objects)
    made = [
        SceneObject(
            f"object_{k}",
            OrientedBox(np.array([x, y, 0.05]), np.full(3, 0.1), np.eye(3)),
            None,
            colour=c,
            size_class="medium",
        )
        for k, (x, y, c) in enumerate(ordered)
    ]
    return Scene((table, *made), _camera())


def _by_colour(scene):
    return {o.colour: o.name for o in scene.objects if o.colour}


def test_renumbering_by_perception_does_not_change_ids():
    tracker = ObjectTracker()
    first = _by_colour(tracker.update(_scene((0.0, 0.0, "red"), (0.2, 0.0, "blue"))))
    # A new object appears at the far left: perception now numbers the others 1 and 2.
    later = _by_colour(tracker.update(_scene((-0.3, 0.0, "green"), (0.01, 0.0, "red"), (0.2, 0.01, "blue"))))
    assert later["red"] == first["red"] and later["blue"] == first["blue"]
    assert later["green"] not in first.values()  # a new id, never a reused one


def test_two_look_alikes_moving_are_not_guessed_and_a_vanished_object_is_forgotten():
    tracker = ObjectTracker(TrackerConfig(forget_after_updates=1))
    first = tracker.update(_scene((0.0, 0.0, "red"), (0.3, 0.0, "red")))
    moved = tracker.update(_scene((0.0, 0.3, "red"), (0.3, 0.3, "red")))  # both far away: which is which?
    assert not {o.name for o in moved.objects} & {o.name for o in first.objects[1:]}
    tracker.update(_scene())
    tracker.update(_scene())
    again = tracker.update(_scene((0.0, 0.3, "red")))
    assert again.objects[1].name not in {o.name for o in moved.objects}  # the old tracks were dropped


def test_naming_errors_are_typed():
    tracker = ObjectTracker()
    with pytest.raises(UnknownObjectError):
        tracker.name("object 0", "mug")  # nothing seen yet
    tracker.update(_scene((0.0, 0.0, "red")))
    with pytest.raises(UnknownObjectError):
        tracker.name("object 7", "mug")
    with pytest.raises(SceneError):
        tracker.name("object 0", "  ")
    with pytest.raises(SceneError):
        tracker.name("table", "desk")
    assert tracker.name("the red object", "the mug") == "object_0" and tracker.user_names == {"object_0": "mug"}
    with pytest.raises(ConfigError):
        TrackerConfig(max_match_distance_m=0.0)
