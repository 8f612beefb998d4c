"""The frame rule (core/spatial/frames.py): which axes decide the planar sides, and what that does to answers.

The scene's camera stands at x = 2 and looks back along -x at the robot base (at the origin, facing +x),
so its image is the base's view mirrored: image right is the base's left (+y), and nearer the camera
(in front, for the camera) is farther ahead of the base (behind, for the base).
"""

import itertools

import numpy as np
import pytest

from robospatial_ros.core.camera import CameraModel
from robospatial_ros.core.spatial.config import WORLD_HEADINGS, SpatialConfig
from robospatial_ros.core.spatial.configuration import configuration
from robospatial_ros.core.spatial.context import point_sides
from robospatial_ros.core.spatial.frames import FrameRule, frame_rule, uses_base_axes
from robospatial_ros.core.spatial.types import PLANAR, Frame, Relation
from robospatial_ros.core.spatial.view import SceneView

from scenes import cube, scene

L, R, F, B = Relation.LEFT, Relation.RIGHT, Relation.IN_FRONT, Relation.BEHIND

# Well-separated cubes: each pair is either clearly apart or level along each axis, so strict extents
# and perspective cannot disagree. (x, y) in the base frame, metres.
PLACES = {"a": (0.0, 0.0), "b": (0.5, 0.3), "c": (0.5, -0.3), "d": (-0.5, 0.0), "e": (0.0, 0.6)}


def mirrored_scene():
    camera = CameraModel.look_at([2.0, 0.0, 0.05], [0.0, 0.0, 0.05])
    return scene(*(cube(name, x, y) for name, (x, y) in PLACES.items()), camera=camera, with_table=False)


@pytest.mark.parametrize("heading", WORLD_HEADINGS)
def test_ego_and_object_frames_ignore_the_world_heading(heading):
    config = SpatialConfig(world_heading=heading)
    assert frame_rule(Frame.EGO, config) is FrameRule.CAMERA
    assert frame_rule(Frame.OBJECT, config) is FrameRule.OBJECT
    assert not uses_base_axes(Frame.EGO, config) and not uses_base_axes(Frame.OBJECT, config)


def test_world_frame_follows_the_heading():
    # The reference generator reads the world frame's sides as the camera does; `base` is our option.
    assert frame_rule(Frame.WORLD, SpatialConfig(world_heading="camera")) is FrameRule.CAMERA
    assert frame_rule(Frame.WORLD, SpatialConfig(world_heading="base")) is FrameRule.BASE
    assert uses_base_axes(Frame.WORLD, SpatialConfig(world_heading="base"))
    assert not uses_base_axes(Frame.WORLD, SpatialConfig(world_heading="camera"))


def test_only_the_base_rule_answers_with_points_the_camera_does_not_see():
    assert [rule for rule in FrameRule if not rule.image_based] == [FrameRule.BASE]


def _planar(view, a, b, frame):
    return configuration(view, view.scene.get(a), view.scene.get(b), frame) & set(PLANAR)


def test_world_answers_flip_between_camera_and_base_headings():
    s = mirrored_scene()
    camera = SceneView(s, SpatialConfig(world_heading="camera"))
    base = SceneView(s, SpatialConfig(world_heading="base"))
    answered = 0
    for a, b in itertools.permutations(PLACES, 2):
        ego = _planar(camera, a, b, Frame.EGO)
        assert _planar(camera, a, b, Frame.WORLD) == ego  # world = ego under the reference's rule
        assert _planar(base, a, b, Frame.EGO) == ego  # the heading never touches the ego frame
        assert _planar(base, a, b, Frame.WORLD) == {rel.opposite for rel in ego}  # the mirror image
        answered += bool(ego)
    assert answered == 20  # every pair has a side: the flips above are not vacuous


def test_world_answers_under_base_heading_follow_the_base_axes():
    # b is ahead of a (+x) and to its left (+y): behind a for the base, left of it.
    s = mirrored_scene()
    assert _planar(SceneView(s, SpatialConfig(world_heading="base")), "b", "a", Frame.WORLD) == {L, B}
    assert _planar(SceneView(s, SpatialConfig(world_heading="camera")), "b", "a", Frame.WORLD) == {R, F}


def test_context_sides_flip_with_the_heading():
    # Points on the ground left (+y), right (-y), ahead (+x) and behind (-x) of cube a, in the base frame.
    s = mirrored_scene()
    xyz = np.array([[0.0, 0.3, 0.0], [0.0, -0.3, 0.0], [0.3, 0.0, 0.0], [-0.3, 0.0, 0.0]])
    uv, depth = s.camera.project(xyz)
    for_base = {L: [1, 0, 0, 0], R: [0, 1, 0, 0], B: [0, 0, 1, 0], F: [0, 0, 0, 1]}
    for_camera = {rel.opposite: mask for rel, mask in for_base.items()}  # the mirror image
    for heading, expected in (("base", for_base), ("camera", for_camera)):
        view = SceneView(s, SpatialConfig(world_heading=heading))
        sides = point_sides(view, s.get("a"), xyz, uv, depth, Frame.WORLD)
        assert {rel: mask.astype(int).tolist() for rel, mask in sides.items()} == expected, heading
