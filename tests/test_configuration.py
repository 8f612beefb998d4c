"""Configuration relations on analytic scenes, answers worked out by hand.

The level camera sits at x = -1, z = 0.05 and looks along +x, so for a point (x, y, z):
depth = x + 1 and u - cx = -f * y / depth (image left is world +y).
"""

import numpy as np
import pytest

from robospatial_ros.core.camera import CameraModel
from robospatial_ros.core.geometry import make_transform
from robospatial_ros.core.reasoning.reasoner import GeometricReasoner
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.core.spatial.configuration import configuration
from robospatial_ros.core.spatial.types import Frame, Relation
from robospatial_ros.core.spatial.view import SceneView

from scenes import cube, level_camera, scene

L, R, F, B, UP, DOWN = (
    Relation.LEFT,
    Relation.RIGHT,
    Relation.IN_FRONT,
    Relation.BEHIND,
    Relation.ABOVE,
    Relation.BELOW,
)


def relations(objects, a="a", b="b", frame=Frame.EGO, strictness="strict", camera=None, **cfg):
    s = scene(*objects, camera=camera or level_camera(), with_table=False)
    view = SceneView(s, SpatialConfig(strictness=strictness, **cfg))
    return configuration(view, s.get(a), s.get(b), frame)


@pytest.mark.parametrize("strictness", ["strict", "lenient"])
def test_clearly_left_in_both_modes(strictness):
    # A's image extent [-0.35/0.95, -0.25/1.05] f lies wholly left of B's [-0.053, 0.053] f.
    objs = (cube("a", 0.0, 0.3), cube("b", 0.0, 0.0))
    assert relations(objs, strictness=strictness) == {L}
    assert relations(objs, "b", "a", strictness=strictness) == {R}


def test_overlapping_image_extents_strict_says_neither_lenient_says_left():
    # A at (0.5, 0.06): u - cx in [-0.11/1.45, -0.01/1.55] f = [-0.076, -0.006] f, overlapping
    # B's [-0.053, 0.053] f; A's centroid is left of B's, and B's centroid (u = cx) is outside A's box.
    objs = (cube("a", 0.5, 0.06), cube("b", 0.0, 0.0))
    assert L not in relations(objs, strictness="strict") and R not in relations(objs, strictness="strict")
    assert L in relations(objs, strictness="lenient")
    assert R in relations(objs, "b", "a", strictness="lenient")


def test_lenient_needs_the_other_centroid_outside_the_box():
    # A at (0.5, 0.04): A's box spans u = cx, where B's centroid is, so not even lenient calls it left.
    objs = (cube("a", 0.5, 0.04), cube("b", 0.0, 0.0))
    assert not {L, R} & relations(objs, strictness="lenient")


@pytest.mark.parametrize("strictness", ["strict", "lenient"])
def test_depth_separated(strictness):
    # A spans depth [1.45, 1.55], B [0.95, 1.05].
    objs = (cube("a", 0.5, 0.0), cube("b", 0.0, 0.0))
    assert B in relations(objs, strictness=strictness)
    assert F in relations(objs, "b", "a", strictness=strictness)


def test_overlapping_depths_strict_neither_lenient_by_mid_depth():
    # A spans [1.0, 1.1] (mid 1.05), B [0.95, 1.05] (mid 1.0).
    objs = (cube("a", 0.05, 0.3), cube("b", 0.0, 0.0))
    assert not {F, B} & relations(objs, strictness="strict")
    assert B in relations(objs, strictness="lenient")
    assert F in relations(objs, "b", "a", strictness="lenient")


@pytest.mark.parametrize("strictness", ["strict", "lenient"])
def test_above_below_from_world_heights(strictness):
    objs = (cube("a", 0.0, 0.0, z0=0.2), cube("b", 0.0, 0.0))  # A: z in [0.2, 0.3], B: [0, 0.1]
    assert UP in relations(objs, strictness=strictness)
    assert DOWN in relations(objs, "b", "a", strictness=strictness)


def test_lenient_above_when_centre_is_above_the_top():
    objs = (cube("a", 0.0, 0.3, z0=0.05, height=0.2), cube("b", 0.0, 0.0))  # A: z in [0.05, 0.25], avg 0.15
    assert UP not in relations(objs, strictness="strict")
    assert UP in relations(objs, strictness="lenient")
    assert DOWN in relations(objs, "b", "a", strictness="lenient")


def test_no_clamping_below_zero():
    # The reference clamps negative z to 0 and loses above/below; we use the true heights.
    objs = (cube("a", 0.0, 0.0, z0=-4.8), cube("b", 0.0, 0.0, z0=-5.0))
    cam = CameraModel.look_at([-1.0, 0.0, -4.9], [0.0, 0.0, -4.9])
    assert UP in relations(objs, camera=cam)


def test_world_frame_defaults_to_the_camera_rules():
    objs = (cube("a", 0.5, 0.3), cube("b", 0.0, 0.0))
    assert relations(objs, frame=Frame.WORLD) == relations(objs, frame=Frame.EGO) == {L, B}


def test_world_heading_base_follows_the_robot_not_the_camera():
    # The camera looks back at the robot from x = 2: its image is mirrored w.r.t. the base.
    cam = CameraModel.look_at([2.0, 0.0, 0.05], [0.0, 0.0, 0.05])
    objs = (cube("a", 0.5, 0.3), cube("b", 0.0, 0.0))
    assert relations(objs, camera=cam, frame=Frame.EGO) == {R, F}
    assert relations(objs, camera=cam, frame=Frame.WORLD, world_heading="base") == {L, B}
    assert relations(objs, camera=cam, frame=Frame.WORLD, world_heading="camera") == {R, F}


def test_world_heading_base_uses_the_base_pose():
    # A base turned to face +y: the robot's left is world -x.
    base = make_transform(np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), np.zeros(3))
    s = scene(cube("a", -0.3, 0.0), cube("b", 0.0, 0.0), camera=level_camera(), with_table=False)
    s = type(s)(s.objects, s.camera, base)
    view = SceneView(s, SpatialConfig(world_heading="base"))
    assert L in configuration(view, s.get("a"), s.get("b"), Frame.WORLD)


def test_object_frame_uses_the_reference_facing():
    objs = (cube("a", 0.3, 0.1), cube("b", 0.0, 0.0))  # B faces +x; its right is -y
    assert relations(objs, frame=Frame.OBJECT) == {F, L}
    objs = (cube("a", 0.3, 0.1), cube("b", 0.0, 0.0, yaw=np.pi / 2))  # B faces +y; its right is +x
    assert relations(objs, frame=Frame.OBJECT) == {F, R}


def test_object_frame_overlap_gives_no_planar_relation():
    objs = (cube("a", 0.05, 0.0), cube("b", 0.0, 0.0))
    assert relations(objs, frame=Frame.OBJECT) == set()


def test_object_frame_without_facing_faces_the_camera():
    # Camera at x = -1: B's front points to -x, so its right is +y.
    objs = (cube("a", -0.3, 0.0), cube("c", 0.0, 0.3), cube("b", 0.0, 0.0, facing=False))
    assert relations(objs, frame=Frame.OBJECT) == {F}
    assert relations(objs, "c", "b", frame=Frame.OBJECT) == {R}
    s = scene(*objs, camera=level_camera(), with_table=False)
    answer = GeometricReasoner().ask(s, "is the a in front of the b from the b's perspective?")
    assert answer.yes is True
    assert any("face the camera" in note for note in answer.assumptions)


def test_invisible_objects_have_no_image_relations():
    objs = (cube("a", -2.0, 0.0), cube("b", 0.0, 0.0))  # A is behind the camera
    assert not {L, R, F, B} & relations(objs)


def test_reasoner_answers_yes_no_through_the_parser():
    s = scene(cube("mug", 0.0, 0.3), cube("bowl", 0.0, 0.0), camera=level_camera(), with_table=False)
    r = GeometricReasoner()
    assert r.ask(s, "Is the mug to the left of the bowl?").text == "Yes"
    assert r.ask(s, "Is the mug right of the bowl from the camera's perspective? Answer yes or no.").text == "No"
    template = "<image>Is the bowl right of the mug from the world's perspective? Final answer should be yes or no."
    assert r.ask(s, template).yes is True
