"""Spatial compatibility: can A be placed `relation` of B?

A's footprint hull is tried, at the configured rotations, on B's context
candidates (threshold widened by half of A's and B's largest horizontal extents);
it fits where it covers only free cells of the support area and the occupied share
of a `min_distance_m` buffer ring stays under `buffer_ratio`. The grid holds every
object but A (B included). 'on top' (world frame only): A placeable, B a flat
surface, A's horizontal extents no larger than B's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from robospatial_ros.core.geometry import polygon_area_centroid, rot_z
from robospatial_ros.core.scene import SceneObject
from robospatial_ros.core.spatial.context import candidates, side_mask
from robospatial_ros.core.spatial.occupancy import OccupancyGrid
from robospatial_ros.core.spatial.types import Frame, Relation
from robospatial_ros.core.spatial.view import SceneView


@dataclass(frozen=True)
class Fit:
    """Outcome of a compatibility test; on success, where A's footprint centre goes."""

    fits: bool
    xy: np.ndarray | None = None  # (2,) world frame, metres
    z: float | None = None  # base height of the placement, metres
    yaw_offset_deg: float = 0.0  # rotation relative to A's current yaw
    reason: str = ""


def _words(category: str) -> set[str]:
    return set(category.replace("_", " ").split())


def on_top(view: SceneView, a: SceneObject, b: SceneObject) -> Fit:
    cfg = view.config
    if _words(a.category) & set(cfg.not_placeable):
        return Fit(False, reason=f"{a.name!r} is not placeable")
    if not _words(b.category) & set(cfg.flat_surfaces):
        return Fit(False, reason=f"{b.name!r} is not a flat surface")
    if np.any(np.sort(a.box.size[:2]) > np.sort(b.box.size[:2]) + 1e-9):
        return Fit(False, reason=f"{a.name!r} is larger than {b.name!r}")
    return Fit(True, b.box.center[:2].copy(), view.view(b).z_max)


def _inside_bounds(grid: OccupancyGrid, hull: np.ndarray) -> bool:
    ny, nx = grid.shape
    lo = np.array([grid.x0, grid.y0]) + grid.resolution_m / 2
    hi = lo + (np.array([nx, ny]) - 1) * grid.resolution_m
    return bool(np.all(hull.min(axis=0) >= lo - 1e-9) and np.all(hull.max(axis=0) <= hi + 1e-9))


def footprint_fits(grid: OccupancyGrid, hull: np.ndarray, buffer_cells: int, buffer_ratio: float) -> bool:
    """A (K, 2) world footprint covers >= 1 cell, only free ones, with a light enough buffer ring."""
    if not _inside_bounds(grid, hull):
        return False
    rows, cols, mask = grid.polygon_cells(hull)
    n_inside = int(mask.sum())
    if n_inside == 0 or not np.all(grid.free[rows, cols][mask]):
        return False
    if buffer_cells == 0:
        return True
    ny, nx = grid.shape
    r0, r1 = max(rows.start - buffer_cells, 0), min(rows.stop + buffer_cells, ny)
    c0, c1 = max(cols.start - buffer_cells, 0), min(cols.stop + buffer_cells, nx)
    window = np.zeros((r1 - r0, c1 - c0), np.uint8)
    window[rows.start - r0 : rows.stop - r0, cols.start - c0 : cols.stop - c0] = mask
    kernel = np.ones((2 * buffer_cells + 1, 2 * buffer_cells + 1), np.uint8)
    ring = cv2.dilate(window, kernel).astype(bool) & ~window.astype(bool)
    n_blocked = int((ring & grid.occupied[r0:r1, c0:c1]).sum())
    return n_blocked / n_inside < buffer_ratio


def compatibility(view: SceneView, a: SceneObject, b: SceneObject, frame: Frame, relation: Relation) -> Fit:
    """Whether (and where) A fits `relation` of B in `frame`."""
    key = ("compatibility", a.name, b.name, frame, relation)
    if key in view.cache:
        return view.cache[key]  # type: ignore[return-value]
    if relation is Relation.ON_TOP:
        fit = on_top(view, a, b) if frame is Frame.WORLD else Fit(False, reason="'on top' is asked in the world frame")
    else:
        fit = _fit_beside(view, a, b, frame, relation)
    view.cache[key] = fit
    return fit


def _fit_beside(view: SceneView, a: SceneObject, b: SceneObject, frame: Frame, relation: Relation) -> Fit:
    cfg = view.config
    threshold = cfg.context_threshold_m + (a.box.size[:2].max() + b.box.size[:2].max()) / 2
    cands = candidates(view, b, threshold, frozenset([a.name]))
    chosen = np.flatnonzero(side_mask(view, b, cands, frame, relation))
    if len(chosen) == 0:
        return Fit(False, reason=f"no free space {relation.value} of {b.name!r}")
    fp = view.view(a).footprint
    local = fp - polygon_area_centroid(fp)[1]  # (K, 2) about the footprint centroid
    buffer_cells = math.ceil(cfg.min_distance_m / cfg.grid_resolution_m - 1e-9)
    shapes = [(angle, local @ rot_z(math.radians(angle))[:2, :2].T) for angle in cfg.compatibility_angles_deg]
    for i in chosen:  # best candidates first, so the first fit is the placement to use
        xy = cands.xyz[i, :2]
        for angle, shape in shapes:
            if footprint_fits(cands.grid, shape + xy, buffer_cells, cfg.buffer_ratio):
                return Fit(True, xy.copy(), float(cands.xyz[i, 2]), float(angle))
    return Fit(False, reason=f"{a.name!r} does not fit {relation.value} of {b.name!r}")
