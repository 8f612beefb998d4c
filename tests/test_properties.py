"""Properties of the spatial semantics over random tabletop scenes (hypothesis)."""

import cv2
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robospatial_ros.core.camera import CameraModel
from robospatial_ros.core.geometry import OrientedBox, convex_polygons_overlap, make_transform, rot_z
from robospatial_ros.core.scene import Scene, SceneObject
from robospatial_ros.core.spatial.compatibility import compatibility
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.core.spatial.configuration import configuration
from robospatial_ros.core.spatial.context import context_points, frame_exclude
from robospatial_ros.core.spatial.occupancy import grid_for
from robospatial_ros.core.spatial.types import CONFIGURATION_RELATIONS, Frame, Relation
from robospatial_ros.core.spatial.view import SceneView

from scenes import table

PLANAR = (Relation.LEFT, Relation.RIGHT, Relation.IN_FRONT, Relation.BEHIND)
FAST = dict(grid_resolution_m=0.02, context_threshold_m=0.15, min_distance_m=0.02)
PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # examples: tests/conftest.py


@st.composite
def tabletop_scenes(draw, min_objects=2, max_objects=5):
    """Non-overlapping boxes (some stacked) on a 2 m table, seen by a camera looking down at it."""
    objects: list[SceneObject] = [table()]
    for i in range(draw(st.integers(min_objects, max_objects))):
        for _ in range(20):
            # Millimetres and whole degrees: no value lands within float noise of a 1e-6 margin,
            # where any threshold rule (ours or the reference's) would flip under a translation.
            x, y = draw(st.integers(0, 1000)) / 1000, draw(st.integers(-600, 600)) / 1000
            sx, sy, sz = (draw(st.integers(40, 200)) / 1000 for _ in range(3))
            yaw = np.radians(draw(st.integers(-180, 180)))
            box = OrientedBox.axis_aligned([x, y, sz / 2], [sx, sy, sz], yaw)
            if not any(convex_polygons_overlap(box.footprint(), o.box.footprint()) for o in objects[1:]):
                objects.append(SceneObject(f"obj{i}", box, box.rotation[:, 0]))
                break
    azimuth, elevation = draw(st.floats(-np.pi, np.pi)), draw(st.floats(0.4, 1.2))
    distance = draw(st.floats(1.2, 2.0))
    target = np.array([0.5, 0.0, 0.0])
    eye = target + distance * np.array(
        [np.cos(azimuth) * np.cos(elevation), np.sin(azimuth) * np.cos(elevation), np.sin(elevation)]
    )
    return Scene(tuple(objects), CameraModel.look_at(eye, target))


def _pairs(scene):
    objs = scene.objects[1:]
    return [(a, b) for a in objs for b in objs if a is not b]


@PROPERTY
@given(tabletop_scenes(), st.sampled_from(["strict", "lenient"]), st.sampled_from(["camera", "base"]))
def test_relations_are_antisymmetric_and_converse(scene, strictness, heading):
    view = SceneView(scene, SpatialConfig(strictness=strictness, world_heading=heading, **FAST))
    for frame in (Frame.EGO, Frame.WORLD):
        for a, b in _pairs(scene):
            ab, ba = configuration(view, a, b, frame), configuration(view, b, a, frame)
            for rel in CONFIGURATION_RELATIONS:
                assert not (rel in ab and rel in ba), (frame, rel, a.name, b.name)
                assert (rel in ab) == (rel.opposite in ba), (frame, rel, a.name, b.name)
            assert not (Relation.LEFT in ab and Relation.RIGHT in ab)
            assert not (Relation.IN_FRONT in ab and Relation.BEHIND in ab)


def _answers(scene, config):
    """Every configuration/compatibility answer and every context point list of a scene."""
    view = SceneView(scene, config)
    out = {}
    for frame in (Frame.EGO, Frame.WORLD, Frame.OBJECT):
        for a, b in _pairs(scene):
            out[("conf", frame, a.name, b.name)] = configuration(view, a, b, frame)
            for rel in PLANAR:
                out[("comp", frame, rel, a.name, b.name)] = compatibility(view, a, b, frame, rel).fits
        for b in scene.objects[1:]:
            for rel in PLANAR:
                out[("ctx", frame, rel, b.name)] = context_points(view, b, frame, rel)
    return out


@PROPERTY
@given(tabletop_scenes(max_objects=4), st.tuples(*[st.floats(-5.0, 5.0)] * 3), st.sampled_from(["camera", "base"]))
def test_translating_scene_and_camera_changes_no_answer(scene, offset, heading):
    config = SpatialConfig(world_heading=heading, **FAST)
    moved_scene = scene.transformed(make_transform(np.eye(3), np.array(offset)))
    before, after = _answers(scene, config), _answers(moved_scene, config)
    for key, value in before.items():
        if key[0] == "ctx":
            np.testing.assert_allclose(after[key].uv, value.uv, atol=1e-6, err_msg=str(key))
            np.testing.assert_allclose(after[key].xyz - offset, value.xyz, atol=1e-6, err_msg=str(key))
        else:
            assert after[key] == value, key


@PROPERTY
@given(tabletop_scenes(max_objects=4), st.floats(-np.pi, np.pi))
def test_with_base_heading_a_camera_yaw_changes_no_world_answer(scene, yaw):
    config = SpatialConfig(world_heading="base", **FAST)
    spin = make_transform(rot_z(yaw), np.zeros(3))
    pivot = make_transform(np.eye(3), np.array([0.5, 0.0, 0.0]))
    camera = scene.camera
    turned = CameraModel(
        camera.K, camera.width, camera.height, pivot @ spin @ np.linalg.inv(pivot) @ camera.camera_to_world
    )
    v1, v2 = SceneView(scene, config), SceneView(Scene(scene.objects, turned), config)
    for a, b in _pairs(scene):
        assert configuration(v1, a, b, Frame.WORLD) == configuration(v2, a, b, Frame.WORLD)
        for rel in (*PLANAR, Relation.ON_TOP):
            assert compatibility(v1, a, b, Frame.WORLD, rel).fits == compatibility(v2, a, b, Frame.WORLD, rel).fits


@PROPERTY
@given(tabletop_scenes(), st.data())
def test_every_context_point_is_free_and_on_the_requested_side(scene, data):
    heading = data.draw(st.sampled_from(["camera", "base"]))
    view = SceneView(scene, SpatialConfig(world_heading=heading, **FAST))
    ref = data.draw(st.sampled_from(scene.objects[1:]))
    grid = grid_for(view, frame_exclude(ref), view.support_of(ref))
    rv = view.view(ref)
    for frame in (Frame.EGO, Frame.WORLD, Frame.OBJECT):
        for rel in PLANAR:
            pts = context_points(view, ref, frame, rel).xyz
            if len(pts) == 0:
                continue
            assert grid.is_free(pts[:, :2]).all()
            assert _on_side(view, rv, pts, frame, rel).all(), (frame, rel)


def _on_side(view, rv, pts, frame, rel):
    """The side rule of docs/architecture.md ("Configuration"), recomputed from first principles."""
    if frame is Frame.OBJECT:
        d = pts - rv.obj.box.center
        fwd = rv.obj.facing.copy()
        fwd[2] = 0
        fwd /= np.linalg.norm(fwd)
        right = np.cross(fwd, [0, 0, 1])
        half_f = np.abs((rv.corners - rv.obj.box.center) @ fwd).max()
        half_r = np.abs((rv.corners - rv.obj.box.center) @ right).max()
        along, across = d @ fwd, d @ right
        return {
            Relation.IN_FRONT: along > half_f,
            Relation.BEHIND: along < -half_f,
            Relation.RIGHT: across > half_r,
            Relation.LEFT: across < -half_r,
        }[rel]
    if frame is Frame.WORLD and view.config.world_heading == "base":
        # Base = world here: left is +y beyond the box, in front is nearer the base (smaller x).
        x, y = pts[:, 0], pts[:, 1]
        c = rv.corners
        return {
            Relation.LEFT: y > c[:, 1].max(),
            Relation.RIGHT: y < c[:, 1].min(),
            Relation.IN_FRONT: x < c[:, 0].min(),
            Relation.BEHIND: x > c[:, 0].max(),
        }[rel]
    cam = view.scene.camera
    uv, depth = cam.project(pts)
    cuv, cdepth = cam.project(rv.corners)
    # The reference's way: rasterize the box's projection into the image, take its columns.
    mask = np.zeros((cam.height, cam.width), np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(cuv).astype(np.int32)), 1)
    cols = np.flatnonzero(mask.any(axis=0))
    return {
        Relation.LEFT: uv[:, 0] < cols.min() + 1.0,
        Relation.RIGHT: uv[:, 0] > cols.max() - 1.0,
        Relation.IN_FRONT: depth < cdepth.min(),
        Relation.BEHIND: depth > cdepth.max(),
    }[rel]
