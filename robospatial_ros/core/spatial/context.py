"""Spatial context: points in the free space on one side of a reference object.

Free cells of the top-down grid within `context_threshold_m` of the reference
footprint are lifted to the reference's base height (the support plane: the depth
at a free-space pixel often sees the wall behind), projected into the image,
dropped when off-image or on an object's silhouette, labelled per frame and
direction, and ranked best first by clearance (distance to the nearest blocked cell).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from robospatial_ros.core.camera import MIN_DEPTH_M
from robospatial_ros.core.errors import UnsupportedQueryError
from robospatial_ros.core.geometry import invert_transform, points_in_convex_polygon, transform_points
from robospatial_ros.core.scene import SceneObject
from robospatial_ros.core.spatial.frames import FrameRule, frame_rule
from robospatial_ros.core.spatial.grid import OccupancyGrid
from robospatial_ros.core.spatial.occupancy import grid_for
from robospatial_ros.core.spatial.types import Frame, Relation
from robospatial_ros.core.spatial.view import SceneView, register_preparer

# Object-frame labels need the point this far beyond the reference's half extent (reference: 1e-4).
OBJECT_MARGIN_M = 1e-4
EPS = 1e-6


@dataclass
class Candidates:
    """Free points around a reference object, best first."""

    xyz: np.ndarray  # (N, 3) world frame, metres, at the reference's base height
    uv: np.ndarray  # (N, 2) pixels
    depth: np.ndarray  # (N,) optical depth, metres
    clearance_m: np.ndarray  # (N,) distance to the nearest blocked cell, metres
    grid: OccupancyGrid
    sides: dict[tuple[FrameRule, Relation], np.ndarray] = field(default_factory=dict)  # side_mask cache
    occluded: np.ndarray | None = None  # (N,) bool, filled by context_points

    def take(self, index: np.ndarray) -> Candidates:
        return Candidates(self.xyz[index], self.uv[index], self.depth[index], self.clearance_m[index], self.grid)


def _clearance(free: np.ndarray, resolution_m: float, bounded: bool) -> np.ndarray:
    """Distance in metres from each cell of a (rows, cols) window to the nearest non-free cell."""
    f = free.astype(np.uint8)
    if bounded:  # the support's edge is a real edge: pad with blocked cells
        f = cv2.copyMakeBorder(f, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    dist = cv2.distanceTransform(f, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return (dist[1:-1, 1:-1] if bounded else dist) * resolution_m


def candidates(
    view: SceneView, ref: SceneObject, threshold_m: float, exclude: frozenset[str], in_image: bool = True
) -> Candidates:
    """Free points within `threshold_m` of `ref`'s footprint (grid without `exclude`), best first.

    `in_image`: keep only points whose pixel lies in the image (every image-based answer).
    """
    cache = view.results(_ContextResults).candidates
    key = (ref.name, round(threshold_m, 9), exclude, in_image)
    if key in cache:
        return cache[key]
    grid = grid_for(view, exclude, view.support_of(ref))
    # Only cells within the threshold of the footprint matter: work in that window.
    lo, hi = _footprint_box(view, ref, threshold_m + grid.resolution_m)
    rows, cols = grid.window(lo, hi)
    near = _near_cells(view, ref, grid, rows, cols)
    win = (
        slice(rows.start - near.rows.start, rows.stop - near.rows.start),
        slice(cols.start - near.cols.start, cols.stop - near.cols.start),
    )
    dist = near.dist[win]  # (R, C) metres to the footprint
    free = grid.inside[rows, cols] & ~grid.occupied[rows, cols] & (dist > 1e-9)  # footprint edge cells belong to it
    # Clearance: distance to the nearest blocked cell, the support's edge included.
    clearance = _clearance(free, grid.resolution_m, bounded=True)
    keep = free & (dist <= threshold_m + 1e-9)
    if in_image:
        keep &= near.visible[win]
    r, c = np.nonzero(keep)  # row-major
    # A stable sort: most clearance first, then nearest the reference, then row-major. The keys in
    # whole micrometres, so float noise (a translated scene) cannot reorder ties; one int64 key.
    clear_um = np.rint(clearance[r, c] * 1e6).astype(np.int64)
    dist_um = np.rint(dist[r, c] * 1e6).astype(np.int64)
    order = np.argsort(-clear_um * (1 << 31) + dist_um, kind="stable")
    r, c = r[order], c[order]
    flat = (r + win[0].start) * near.visible.shape[1] + (c + win[1].start)  # indices into the near arrays
    xyz = np.empty((len(r), 3))  # (N, 3) world, metres: grid points at the reference's base height
    xyz[:, :2], xyz[:, 2] = near.centers.reshape(-1, 2)[flat], view.view(ref).z_min
    uv, depth = near.uv.reshape(-1, 2)[flat], near.depth.reshape(-1)[flat]
    result = Candidates(xyz, uv, depth, clearance[r, c], grid)
    cache[key] = result
    return result


@dataclass
class _NearCells:
    """Grid cells around a reference object and where they appear, shared by all its candidate sets
    (the sets differ only in which objects block cells and how far they reach)."""

    rows: slice
    cols: slice
    centers: np.ndarray  # (R, C, 2) cell centres, world x/y, metres
    dist: np.ndarray  # (R, C) distance to the reference's footprint, metres
    uv: np.ndarray  # (R, C, 2) pixels of the centres lifted to the reference's base height
    depth: np.ndarray  # (R, C) their optical depth, metres
    visible: np.ndarray  # (R, C) bool: in front of the camera and inside the image

    def covers(self, rows: slice, cols: slice) -> bool:
        return (
            self.rows.start <= rows.start
            and rows.stop <= self.rows.stop
            and self.cols.start <= cols.start
            and cols.stop <= self.cols.stop
        )


def _footprint_box(view: SceneView, ref: SceneObject, margin: float) -> tuple[np.ndarray, np.ndarray]:
    fp = view.view(ref).footprint
    return fp.min(axis=0) - margin, fp.max(axis=0) + margin


def _near_cells(
    view: SceneView, ref: SceneObject, grid: OccupancyGrid, rows: slice | None = None, cols: slice | None = None
) -> _NearCells:
    """Cells of the window `rows` x `cols` (or a larger one) on `grid`'s geometry, cached per scene and
    reference object (`prepare` builds them up front).

    Built once for the widest window a scene's questions ask (compatibility widens the threshold
    by half of the largest objects' extents), rebuilt larger if a wider one is asked later.
    """
    cache = view.scene_results(_SceneCells).near_cells
    near = cache.get(ref.name)
    if near is not None and (rows is None or cols is None or near.covers(rows, cols)):
        return near
    cfg = view.config
    widest = max(o.box.size[:2].max() for o in view.scene.objects)
    margin = cfg.context_threshold_m + (widest + ref.box.size[:2].max()) / 2 + grid.resolution_m
    big_rows, big_cols = grid.window(*_footprint_box(view, ref, margin))
    if rows is not None and cols is not None:
        big_rows = slice(min(rows.start, big_rows.start), max(rows.stop, big_rows.stop))
        big_cols = slice(min(cols.start, big_cols.start), max(cols.stop, big_cols.stop))
    rv = view.view(ref)
    centers = grid.centers(big_rows, big_cols)  # (R, C, 2)
    shape = centers.shape[:2]
    dist = rv.distance_to_footprint(centers.reshape(-1, 2)).reshape(shape)
    xyz = np.column_stack([centers.reshape(-1, 2), np.full(shape[0] * shape[1], rv.z_min)])
    cam = view.scene.camera
    uv, depth = cam.project(xyz)
    visible = (depth > MIN_DEPTH_M) & cam.in_image(uv)  # the rounded pixel, as the reference generator reads it
    near = _NearCells(
        big_rows, big_cols, centers, dist, uv.reshape(*shape, 2), depth.reshape(shape), visible.reshape(shape)
    )
    cache[ref.name] = near
    return near


@register_preparer
def _prepare_near_cells(view: SceneView, ref: SceneObject) -> None:
    """Per-scene work of every context and compatibility query about `ref`: its cells, projected."""
    _near_cells(view, ref, view.obstacle_layers(view.support_of(ref)).empty)


@dataclass
class _SceneCells:
    """Per-scene context measurements of one scene (shared by the views `for_new_query` makes)."""

    near_cells: dict[str, _NearCells] = field(default_factory=dict)  # by reference name


@dataclass
class _ContextResults:
    """Per-query context results of one SceneView."""

    # by (reference name, threshold in metres rounded to 1e-9, objects left out of the grid, in_image)
    candidates: dict[tuple[str, float, frozenset[str], bool], Candidates] = field(default_factory=dict)


def occluders(view: SceneView, ref: SceneObject) -> list[SceneObject]:
    """Objects whose silhouettes hide free space around `ref`: all in the image that rise above
    its support's top, except the support (and ref itself unless `occlude_by_reference`)."""
    support = view.support_of(ref)
    top = -np.inf if support is None else view.view(support).z_max
    out = []
    for obj in view.scene.objects:
        if obj is support or (obj is ref and not view.config.occlude_by_reference):
            continue
        v = view.view(obj)
        if v.z_max <= top + 1e-3 or v.ego is None:
            continue  # below the support's top, or not in the image
        out.append(obj)
    return out


def occluded(view: SceneView, ref: SceneObject, uv: np.ndarray) -> np.ndarray:
    """(N,) bool: points (N, 2) pixels on the silhouette of an object other than the support (and ref,
    optionally), as points or by the pixel they round to (the reference generator reads a point's
    rounded pixel in a rasterized silhouette): a point the reference would drop is dropped."""
    out = np.zeros(len(uv), dtype=bool)
    rounded = np.round(uv)
    for obj in occluders(view, ref):
        v = view.view(obj)
        if v.ego is None:
            continue  # never: occluders are in the image
        x0, y0, x1, y1 = v.ego.box
        near = (uv[:, 0] >= x0 - 0.5) & (uv[:, 0] <= x1 + 0.5) & (uv[:, 1] >= y0 - 0.5) & (uv[:, 1] <= y1 + 0.5)
        if near.any():
            hit = points_in_convex_polygon(uv[near], v.silhouette) | points_in_convex_polygon(
                rounded[near], v.silhouette
            )
            out[near] |= hit
    return out


def side_mask(view: SceneView, ref: SceneObject, cands: Candidates, frame: Frame, relation: Relation) -> np.ndarray:
    """(N,) bool: which candidates lie `relation` of `ref` in `frame` (cached per candidate set).

    Cached per frame rule, so frames that follow the same rule (ego, and world under
    `world_heading: camera`) share their masks."""
    rule = frame_rule(frame, view.config)
    key = (rule, relation)
    if key not in cands.sides:
        if relation not in _SIDES:
            raise UnsupportedQueryError(f"sides are left/right/in front/behind, not {relation.value!r}")
        # One rule's four sides share their projections: label them together.
        for rel, mask in _side_masks(view, ref, cands.xyz, cands.uv, cands.depth, rule).items():
            cands.sides[(rule, rel)] = mask
    return cands.sides[key]


def point_sides(
    view: SceneView, ref: SceneObject, xyz: np.ndarray, uv: np.ndarray, depth: np.ndarray, frame: Frame
) -> dict[Relation, np.ndarray]:
    """(N,) bool per side (left, right, in front, behind): which points lie there of `ref` in `frame`,
    by the rule context candidates follow. xyz (N, 3) world, metres; uv (N, 2) pixels; depth (N,) metres."""
    return _side_masks(view, ref, xyz, uv, depth, frame_rule(frame, view.config))


_SIDES = (Relation.LEFT, Relation.RIGHT, Relation.IN_FRONT, Relation.BEHIND)


def _side_masks(
    view: SceneView, ref: SceneObject, xyz: np.ndarray, uv: np.ndarray, depth: np.ndarray, rule: FrameRule
) -> dict[Relation, np.ndarray]:
    rv = view.view(ref)
    n = len(xyz)
    if rule is FrameRule.OBJECT:
        if not view.has_front(ref):  # `object_facing: listed` and not a listed category: no sides of its own
            return {rel: np.zeros(n, dtype=bool) for rel in _SIDES}
        d = xyz - rv.obj.box.center
        along, across = d @ rv.forward, d @ rv.right
        half_f, half_r = rv.half_forward_m + OBJECT_MARGIN_M, rv.half_right_m + OBJECT_MARGIN_M
        return {
            Relation.IN_FRONT: along > half_f,
            Relation.BEHIND: along < -half_f,
            Relation.RIGHT: across > half_r,
            Relation.LEFT: across < -half_r,
        }
    if rule is FrameRule.BASE:
        pts = transform_points(invert_transform(view.scene.base_to_world), xyz)
        x, depth, pv = -pts[:, 1], pts[:, 0], rv.base
    else:
        pv = rv.ego
        if pv is None:
            return {rel: np.zeros(n, dtype=bool) for rel in _SIDES}
        x = uv[:, 0]
    # A point level with the reference's extent is on neither side (EPS: as configuration does,
    # and so float noise, e.g. from a translated scene, cannot flip a boundary point).
    return {
        Relation.LEFT: x < pv.x_min - EPS,
        Relation.RIGHT: x > pv.x_max + EPS,
        Relation.IN_FRONT: depth < pv.near - EPS,
        Relation.BEHIND: depth > pv.far + EPS,
    }


def context_points(view: SceneView, ref: SceneObject, frame: Frame, relation: Relation) -> Candidates:
    """Up to `max_context_points` visible free points `relation` of `ref` in `frame`, best first."""
    if relation not in (Relation.LEFT, Relation.RIGHT, Relation.IN_FRONT, Relation.BEHIND):
        raise UnsupportedQueryError(f"context is defined for left/right/in front/behind, not {relation.value!r}")
    cands = candidates(view, ref, view.config.context_threshold_m, frame_exclude(ref))
    if cands.occluded is None:
        cands.occluded = occluded(view, ref, cands.uv)
    keep = np.flatnonzero(side_mask(view, ref, cands, frame, relation) & ~cands.occluded)
    return cands.take(keep[: view.config.max_context_points])


def frame_exclude(ref: SceneObject) -> frozenset[str]:
    """Objects left out of the context grid: the reference itself."""
    return frozenset([ref.name])
