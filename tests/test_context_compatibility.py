"""Context points and compatibility on a tabletop, checked against the rules directly."""

import numpy as np
import pytest

from robospatial_ros.core.geometry import OrientedBox, distance_to_convex_polygon, points_in_convex_polygon
from robospatial_ros.core.reasoning.reasoner import GeometricReasoner
from robospatial_ros.core.scene import Scene, SceneObject
from robospatial_ros.core.spatial.compatibility import compatibility
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.core.spatial.context import context_points, frame_exclude
from robospatial_ros.core.spatial.occupancy import grid_for
from robospatial_ros.core.spatial.types import Frame, Relation
from robospatial_ros.core.spatial.view import SceneView

from scenes import TABLE, cube, scene, tilted_camera

TABLETOP = SpatialConfig(grid_resolution_m=0.01, context_threshold_m=0.2, min_distance_m=0.02)
PLANAR = (Relation.LEFT, Relation.RIGHT, Relation.IN_FRONT, Relation.BEHIND)


def view_of(*objects, config=TABLETOP, **kw) -> SceneView:
    return SceneView(scene(*objects, **kw), config)


def test_support_is_found_from_heights_and_bounds_the_grid():
    view = view_of(cube("bowl", 0.4, 0.0), cube("mug", 0.4, 0.3))
    bowl = view.scene.get("bowl")
    assert view.support_of(bowl).name == TABLE
    grid = grid_for(view, frame_exclude(bowl), view.support_of(bowl))
    assert grid.shape == (200, 200)  # the 2 m x 2 m table top at 1 cm
    assert grid.free.mean() > 0.99  # the table is not an obstacle on itself
    assert not grid.is_free(np.array([[0.4, 0.3]]))[0]  # the mug is
    assert grid.is_free(np.array([[0.4, 0.0]]))[0]  # the reference is left out


@pytest.mark.parametrize("frame", [Frame.EGO, Frame.WORLD, Frame.OBJECT])
@pytest.mark.parametrize("relation", PLANAR)
def test_context_points_are_free_near_on_the_support_and_on_the_side(frame, relation):
    view = view_of(cube("bowl", 0.4, 0.0), cube("mug", 0.4, 0.22), cube("can", 0.6, -0.15))
    bowl = view.scene.get("bowl")
    pts = context_points(view, bowl, frame, relation)
    assert 0 < len(pts.xyz) <= TABLETOP.max_context_points
    grid = grid_for(view, frame_exclude(bowl), view.support_of(bowl))
    assert grid.is_free(pts.xyz[:, :2]).all()
    fp = view.view(bowl).footprint
    d = distance_to_convex_polygon(pts.xyz[:, :2], fp)
    assert np.all(d > 0) and np.all(d <= TABLETOP.context_threshold_m + 1e-9)
    np.testing.assert_allclose(pts.xyz[:, 2], 0.0)  # lifted to the bowl's base = the table top
    assert np.all(np.diff(pts.clearance_m) <= 1e-6)  # best (most clearance) first
    # Side, recomputed from the definition. Camera looks along +x: image left = world +y.
    y, x = pts.xyz[:, 1], pts.xyz[:, 0]
    expected = {
        Relation.LEFT: y > 0.05,
        Relation.RIGHT: y < -0.05,
        Relation.IN_FRONT: x < 0.35,
        Relation.BEHIND: x > 0.45,
    }
    if frame is Frame.OBJECT:  # the bowl faces +x: its front is +x and its left +y
        expected[Relation.IN_FRONT], expected[Relation.BEHIND] = x > 0.45, x < 0.35
    if frame is Frame.OBJECT or relation in (Relation.IN_FRONT, Relation.BEHIND):
        assert expected[relation].all()
    else:  # ego/world left/right compare image columns: perspective widens the band, so check u
        cam, ego = view.scene.camera, view.view(bowl).ego
        u = cam.project(pts.xyz)[0][:, 0]
        assert np.all(u < ego.x_min) if relation is Relation.LEFT else np.all(u > ego.x_max)
        assert expected[relation].mean() > 0.9


def test_context_points_never_land_on_other_objects_in_the_image():
    view = view_of(cube("bowl", 0.4, 0.0), cube("box", 0.55, 0.12, size=0.15, height=0.3))
    bowl, box = view.scene.get("bowl"), view.scene.get("box")
    sil = view.view(box).silhouette
    for rel in PLANAR:
        pts = context_points(view, bowl, Frame.EGO, rel)
        assert not points_in_convex_polygon(pts.uv, sil).any()


def test_context_answer_text_is_normalized_with_three_decimals():
    s = scene(cube("bowl", 0.4, 0.0))
    answer = GeometricReasoner(TABLETOP).ask(s, "points in the free space to the left of the bowl")
    assert answer.text.startswith("[(") and answer.text.endswith(")]")
    first = answer.text[2:].split(")")[0].split(", ")
    assert all(len(v.split(".")[1]) == 3 for v in first)
    np.testing.assert_allclose([float(v) for v in first], answer.points_2d[0], atol=5e-4)
    assert np.all((answer.points_2d >= 0) & (answer.points_2d <= 1))


def test_tables_do_not_block_everything():
    # The reference generator fills the grid with the table's footprint; we treat it as free.
    s = scene(cube("mug", 0.3, 0.3, size=0.08), cube("bowl", 0.4, 0.0, size=0.15))
    r = GeometricReasoner(TABLETOP)
    assert r.ask(s, "Can the mug fit left of the bowl?").yes
    assert len(r.ask(s, "points behind the bowl").points_2d) > 0


def test_compatibility_blocked_side_says_no_free_side_says_yes():
    # A wall along the bowl's left (+y: the bowl faces +x) over y in [0.06, 0.26] leaves no free
    # 0.1 m square within reach (centre within 0.2 m of the bowl) on that side; the right is open.
    wall = [cube(f"wall{i}", x, 0.16, size=0.2, height=0.05) for i, x in enumerate((0.1, 0.3, 0.5, 0.7))]
    config = SpatialConfig(grid_resolution_m=0.01, context_threshold_m=0.1, min_distance_m=0.0)
    view = view_of(cube("mug", 0.0, -0.4, size=0.1), cube("bowl", 0.4, 0.0, size=0.1), *wall, config=config)
    mug, bowl = view.scene.get("mug"), view.scene.get("bowl")
    assert not compatibility(view, mug, bowl, Frame.OBJECT, Relation.LEFT).fits
    fit = compatibility(view, mug, bowl, Frame.OBJECT, Relation.RIGHT)
    assert fit.fits and fit.xy[1] < -0.05
    # The placement: the mug's footprint at fit.xy covers only free cells.
    grid = grid_for(view, frozenset(["mug"]), view.support_of(bowl))
    corners = fit.xy + np.array([[-0.05, -0.05], [0.05, -0.05], [0.05, 0.05], [-0.05, 0.05]])
    assert grid.is_free(corners * 0.95 + fit.xy * 0.05).all()


def _slab(name, x0, x1, y0, y1, height=0.1):
    """An axis-aligned box over [x0, x1] x [y0, y1] standing on the table."""
    box = OrientedBox.axis_aligned([(x0 + x1) / 2, (y0 + y1) / 2, height / 2], [x1 - x0, y1 - y0, height])
    return SceneObject(name, box)


def test_compatibility_rotates_a_long_object_to_fit():
    # Left of the bowl (+y) only a strip y in [0.05, 0.11] is free: a 0.04 x 0.30 bar lying along
    # y cannot fit (nor at 45 degrees), turned by 90 degrees it lies along the strip.
    bar = _slab("bar", -0.02, 0.02, -0.75, -0.45, height=0.04)
    cfg = SpatialConfig(grid_resolution_m=0.01, context_threshold_m=0.05, min_distance_m=0.0)
    view = view_of(bar, cube("bowl", 0.4, 0.0, size=0.1), _slab("wall", -0.1, 1.1, 0.11, 0.51), config=cfg)
    fit = compatibility(view, view.scene.get("bar"), view.scene.get("bowl"), Frame.OBJECT, Relation.LEFT)
    assert fit.fits and fit.yaw_offset_deg == 90.0
    assert 0.05 < fit.xy[1] <= 0.09


def test_buffer_ratio_rejects_crowded_spots():
    # A 6 cm mug fits in the 8 cm strip left of the bowl, but every spot there has the long box
    # within 5 cm: with a 5 cm buffer ring and a 5 % ratio it no longer fits.
    objs = (cube("mug", 0.0, -0.5, size=0.06), cube("bowl", 0.4, 0.0, size=0.1), _slab("box", -0.1, 1.1, 0.13, 0.2))
    loose = SpatialConfig(grid_resolution_m=0.01, context_threshold_m=0.06, min_distance_m=0.0)
    tight = SpatialConfig(grid_resolution_m=0.01, context_threshold_m=0.06, min_distance_m=0.05, buffer_ratio=0.05)
    results = []
    for cfg in (loose, tight):
        view = view_of(*objs, config=cfg)
        results.append(compatibility(view, view.scene.get("mug"), view.scene.get("bowl"), Frame.OBJECT, Relation.LEFT))
    assert results[0].fits and not results[1].fits


def test_on_top_rules():
    s = scene(
        cube("mug", 0.0, -0.5, size=0.08),
        cube("plate", 0.4, 0.0, size=0.2, height=0.02),
        cube("bowl", 0.4, 0.3, size=0.15),
    )
    view = SceneView(s, TABLETOP)
    get = s.get
    assert compatibility(view, get("mug"), get("plate"), Frame.WORLD, Relation.ON_TOP).fits
    assert not compatibility(view, get("mug"), get("bowl"), Frame.WORLD, Relation.ON_TOP).fits  # not flat
    assert not compatibility(view, get("table"), get("plate"), Frame.WORLD, Relation.ON_TOP).fits  # not placeable
    big = scene(cube("box", 0.0, -0.5, size=0.3), cube("plate", 0.4, 0.0, size=0.2, height=0.02))
    v2 = SceneView(big, TABLETOP)
    assert not compatibility(v2, big.get("box"), big.get("plate"), Frame.WORLD, Relation.ON_TOP).fits  # too big
    assert not compatibility(view, get("mug"), get("plate"), Frame.EGO, Relation.ON_TOP).fits  # world only


def test_without_a_support_the_grid_spans_the_objects():
    s = Scene((cube("mug", 0.0, 0.3), cube("bowl", 0.4, 0.0)), tilted_camera())
    view = SceneView(s, TABLETOP)
    assert view.support_of(s.get("bowl")) is None
    grid = grid_for(view, frozenset(["bowl"]), None)
    assert grid.inside.all()
    # The grid's first point lies on the objects' edge (the reference generator's grid), one cell apart.
    np.testing.assert_allclose(grid.centers()[0, 0], [-0.05, -0.05])
    np.testing.assert_allclose(grid.centers()[1, 1] - grid.centers()[0, 0], [0.01, 0.01])
