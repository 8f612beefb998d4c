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
from robospatial_ros.core.geometry import invert_transform, points_in_convex_polygon, transform_points
from robospatial_ros.core.scene import SceneObject
from robospatial_ros.core.spatial.occupancy import OccupancyGrid, grid_for
from robospatial_ros.core.spatial.types import Frame, Relation
from robospatial_ros.core.spatial.view import ObjectView, SceneView

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
    sides: dict[tuple[Frame, Relation], np.ndarray] = field(default_factory=dict)  # side_mask cache
    occluded: np.ndarray | None = None  # (N,) bool, filled by context_points

    def take(self, index: np.ndarray) -> Candidates:
        return Candidates(self.xyz[index], self.uv[index], self.depth[index], self.clearance_m[index], self.grid)


def _clearance(free: np.ndarray, resolution_m: float, bounded: bool) -> np.ndarray:
    """Distance in metres from each cell of a (rows, cols) window to the nearest non-free cell."""
    f = free.astype(np.uint8)
    if bounded:  # the support's edge is a real edge: pad with blocked cells
        f = np.pad(f, 1)
    dist = cv2.distanceTransform(f, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return (dist[1:-1, 1:-1] if bounded else dist) * resolution_m


def candidates(
    view: SceneView, ref: SceneObject, threshold_m: float, exclude: frozenset[str], in_image: bool = True
) -> Candidates:
    """Free points within `threshold_m` of `ref`'s footprint (grid without `exclude`), best first.

    `in_image`: keep only points whose pixel lies in the image (every image-based answer).
    """
    key = ("candidates", ref.name, round(threshold_m, 9), exclude, in_image)
    if key in view.cache:
        return view.cache[key]  # type: ignore[return-value]
    support = view.support_of(ref)
    grid = grid_for(view, exclude, support)
    rv = view.view(ref)
    # Only cells within the threshold of the footprint matter: work in that window.
    rows, cols, _ = grid.polygon_cells(_grown_box(rv.footprint, threshold_m + grid.resolution_m))
    centers = grid.centers()[rows, cols]  # (R, C, 2)
    dist = rv.distance_to_footprint(centers.reshape(-1, 2)).reshape(centers.shape[:2])
    free = grid.free[rows, cols] & (dist > 1e-9)  # cells on the footprint edge belong to it
    # Clearance counts blocked cells outside the window too: pad the window by the threshold.
    clearance = _clearance(free, grid.resolution_m, bounded=True)
    keep = free & (dist <= threshold_m + 1e-9)
    r, c = np.nonzero(keep)
    # Row-major order, then a stable sort: most clearance first, then nearest the reference.
    # Keys rounded to a micrometre so float noise (a translated scene) cannot reorder ties.
    order = np.lexsort((np.round(dist[r, c], 6), -np.round(clearance[r, c], 6)))
    r, c = r[order], c[order]
    xyz = np.column_stack([centers[r, c], np.full(len(r), rv.z_min)])
    uv, depth = view.scene.camera.project(xyz)
    result = Candidates(xyz, uv, depth, clearance[r, c], grid)
    if in_image:
        result = result.take(np.flatnonzero((depth > MIN_DEPTH_M) & view.scene.camera.in_image(uv)))
    view.cache[key] = result
    return result


def _grown_box(polygon: np.ndarray, margin: float) -> np.ndarray:
    lo, hi = polygon.min(axis=0) - margin, polygon.max(axis=0) + margin
    return np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])


def occluded(view: SceneView, ref: SceneObject, uv: np.ndarray) -> np.ndarray:
    """(N,) bool: pixels on the silhouette of an object other than the support (and ref, optionally)."""
    support = view.support_of(ref)
    out = np.zeros(len(uv), dtype=bool)
    top = -np.inf if support is None else view.view(support).z_max
    for obj in view.scene.objects:
        if obj is support or (obj is ref and not view.config.occlude_by_reference):
            continue
        v = view.view(obj)
        if v.z_max <= top + 1e-3 or v.ego is None:
            continue  # below the support's top, or not in the image
        box = v.ego.box
        near = (uv[:, 0] >= box[0]) & (uv[:, 0] <= box[2]) & (uv[:, 1] >= box[1]) & (uv[:, 1] <= box[3])
        if near.any():
            out[near] |= points_in_convex_polygon(uv[near], v.silhouette)
    return out


def _extent_along(v: ObjectView, axis: np.ndarray) -> float:
    return float(np.abs((v.corners - v.obj.box.center) @ axis).max())


def side_mask(view: SceneView, ref: SceneObject, cands: Candidates, frame: Frame, relation: Relation) -> np.ndarray:
    """(N,) bool: which candidates lie `relation` of `ref` in `frame` (cached per candidate set)."""
    key = (frame, relation)
    if key not in cands.sides:
        cands.sides[key] = _side_mask(view, ref, cands, frame, relation)
    return cands.sides[key]


def _side_mask(view: SceneView, ref: SceneObject, cands: Candidates, frame: Frame, relation: Relation) -> np.ndarray:
    rv = view.view(ref)
    n = len(cands.xyz)
    if frame is Frame.OBJECT:
        d = cands.xyz - rv.obj.box.center
        along, across = d @ rv.forward, d @ rv.right
        half_f, half_r = _extent_along(rv, rv.forward) + OBJECT_MARGIN_M, _extent_along(rv, rv.right) + OBJECT_MARGIN_M
        return {
            Relation.IN_FRONT: along > half_f,
            Relation.BEHIND: along < -half_f,
            Relation.RIGHT: across > half_r,
            Relation.LEFT: across < -half_r,
        }[relation]
    if frame is Frame.WORLD and view.config.world_heading == "base":
        pts = transform_points(invert_transform(view.scene.base_to_world), cands.xyz)
        x, depth, pv = -pts[:, 1], pts[:, 0], rv.base
    else:
        pv = rv.ego
        if pv is None:
            return np.zeros(n, dtype=bool)
        x, depth = cands.uv[:, 0], cands.depth
    # A point level with the reference's extent is on neither side (EPS: as configuration does,
    # and so float noise, e.g. from a translated scene, cannot flip a boundary point).
    return {
        Relation.LEFT: x < pv.x_min - EPS,
        Relation.RIGHT: x > pv.x_max + EPS,
        Relation.IN_FRONT: depth < pv.near - EPS,
        Relation.BEHIND: depth > pv.far + EPS,
    }[relation]


def context_points(view: SceneView, ref: SceneObject, frame: Frame, relation: Relation) -> Candidates:
    """Up to `max_context_points` visible free points `relation` of `ref` in `frame`, best first."""
    if relation not in (Relation.LEFT, Relation.RIGHT, Relation.IN_FRONT, Relation.BEHIND):
        raise ValueError(f"context is defined for left/right/in front/behind, not {relation.value!r}")
    cands = candidates(view, ref, view.config.context_threshold_m, frame_exclude(ref))
    if cands.occluded is None:
        cands.occluded = occluded(view, ref, cands.uv)
    keep = np.flatnonzero(side_mask(view, ref, cands, frame, relation) & ~cands.occluded)
    return cands.take(keep[: view.config.max_context_points])


def frame_exclude(ref: SceneObject) -> frozenset[str]:
    """Objects left out of the context grid: the reference itself."""
    return frozenset([ref.name])
