"""Spatial compatibility: can A be placed `relation` of B?

A's footprint hull is tried, at the configured rotations, on B's context
candidates (threshold widened by half of A's and B's largest horizontal extents);
it fits where it covers only free cells of the support area and the occupied share
of the `min_distance_m` buffer ring around it stays under `buffer_ratio`. The grid holds every
object but A (B included). 'on top' (world frame only): A placeable, B a flat
surface, A's horizontal extents no larger than B's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from robospatial_ros.core.errors import ConfigError, SceneError
from robospatial_ros.core.geometry import points_in_convex_polygon, polygon_area_centroid, rot_z
from robospatial_ros.core.scene import SceneObject
from robospatial_ros.core.spatial.config import category_matches
from robospatial_ros.core.spatial.context import Candidates, candidates, side_mask
from robospatial_ros.core.spatial.frames import FrameRule, frame_rule
from robospatial_ros.core.spatial.grid import OccupancyGrid
from robospatial_ros.core.spatial.occupancy import grid_for
from robospatial_ros.core.spatial.types import PLANAR, Frame, Relation
from robospatial_ros.core.spatial.view import SceneView, register_preparer
from robospatial_ros.core.validation import MAX_COORDINATE_M


@dataclass(frozen=True)
class Fit:
    """Outcome of a compatibility test; on success, where A's footprint centre goes."""

    fits: bool
    xy: np.ndarray | None = None  # (2,) world frame, metres
    z: float | None = None  # base height of the placement, metres
    yaw_offset_deg: float = 0.0  # rotation relative to A's current yaw
    reason: str = ""


def on_top(view: SceneView, a: SceneObject, b: SceneObject) -> Fit:
    cfg = view.config
    if category_matches(a.category, cfg.not_placeable, cfg.category_match):
        return Fit(False, reason=f"{a.name!r} is not placeable")
    if not category_matches(b.category, cfg.flat_surfaces, cfg.category_match):
        return Fit(False, reason=f"{b.name!r} is not a flat surface")
    if np.any(np.sort(a.box.size[:2]) > np.sort(b.box.size[:2]) + 1e-9):
        return Fit(False, reason=f"{a.name!r} is larger than {b.name!r}")
    return Fit(True, b.box.center[:2].copy(), view.view(b).z_max)


def footprint_fits(grid: OccupancyGrid, hull: np.ndarray, buffer_cells: int, buffer_ratio: float) -> bool:
    """The fit rule stated directly for one (K, 2) world footprint (`fit_map` evaluates it everywhere).

    Covers >= 1 cell centre, only free cells, lies within the grid's cell centres, and the
    occupied share of the `buffer_cells`-wide ring around it is under `buffer_ratio`
    (docs/architecture.md, deviations; the reference generator divides by the footprint's cell count instead).
    """
    ny, nx = grid.shape
    first = np.array([grid.x0, grid.y0]) + grid.resolution_m / 2
    last = first + (np.array([nx, ny]) - 1) * grid.resolution_m
    if np.any(hull.min(axis=0) < first - 1e-9) or np.any(hull.max(axis=0) > last + 1e-9):
        return False
    rows, cols, mask = grid.polygon_cells(hull)
    n_inside = int(mask.sum())
    if n_inside == 0 or not np.all(grid.free[rows, cols][mask]):
        return False
    if buffer_cells == 0:
        return True
    r0, r1 = max(rows.start - buffer_cells, 0), min(rows.stop + buffer_cells, ny)
    c0, c1 = max(cols.start - buffer_cells, 0), min(cols.stop + buffer_cells, nx)
    window = np.zeros((r1 - r0, c1 - c0), np.uint8)
    window[rows.start - r0 : rows.stop - r0, cols.start - c0 : cols.stop - c0] = mask
    ring = cv2.dilate(window, np.ones((2 * buffer_cells + 1,) * 2, np.uint8)).astype(bool) & ~window.astype(bool)
    n_ring = int(ring.sum())
    return n_ring == 0 or int((ring & grid.occupied[r0:r1, c0:c1]).sum()) / n_ring < buffer_ratio


@dataclass(frozen=True)
class _FitMap:
    """For one footprint shape on one grid: where, centred on a cell, it fits.

    Candidates are cell centres, so the cells a footprint covers at any candidate are one
    fixed stencil shifted by whole cells: the fit test becomes two correlations of the grid.
    """

    fits: np.ndarray  # (ny, nx) bool: the footprint centred on this cell fits
    angle_deg: float


def _stencil(resolution_m: float, shape: np.ndarray) -> np.ndarray:
    """(2r+1, 2c+1) uint8: cells whose centres lie in `shape` (K, 2) centred on a cell centre."""
    res = resolution_m
    half = np.ceil(np.abs(shape).max(axis=0) / res).astype(int) + 1  # (cols, rows) radius
    offs_c, offs_r = np.arange(-half[0], half[0] + 1) * res, np.arange(-half[1], half[1] + 1) * res
    offsets = np.empty((len(offs_r), len(offs_c), 2))  # (rows, cols, 2) cell-centre offsets, x/y metres
    offsets[..., 0], offsets[..., 1] = offs_c[None, :], offs_r[:, None]
    inside = points_in_convex_polygon(offsets.reshape(-1, 2), shape)
    return inside.reshape(offsets.shape[:2]).astype(np.uint8)


def _correlate(mask: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """out[i, j] = number of set cells of `mask` under `kernel` centred on (i, j); zeros beyond the edge."""
    src = mask if mask.dtype == np.float32 else mask.astype(np.float32)
    return cv2.filter2D(src, -1, kernel.astype(np.float32), borderType=cv2.BORDER_CONSTANT)


def _any_under(mask: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """out[i, j] = some set cell of `mask` lies under `kernel` centred on (i, j): `_correlate(...) > 0`,
    as a dilation (binary, many times faster); nothing beyond the edge."""
    src = mask if mask.dtype == np.uint8 else mask.astype(np.uint8)
    out = cv2.dilate(src, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return out.astype(bool)


@dataclass(frozen=True)
class _Kernels:
    """A footprint's cells and its buffer ring as correlation kernels (depend on the shape and the
    cell size only, so one object's kernels serve every grid it is tested on)."""

    shape: np.ndarray  # (K, 2) the footprint about its centroid, world x/y, metres
    stencil: np.ndarray  # (2r+1, 2c+1) uint8
    ring: np.ndarray | None  # (2r+1+2b, 2c+1+2b) uint8, None without a buffer
    # (2r+1+2b, 2c+1+2b) uint8: the footprint with its ring. Where the footprint covers nothing blocked
    # (the only places a fit is possible) the occupied cells under it are those of the ring alone.
    grown: np.ndarray | None = None
    # grid shape (ny, nx) -> (ny, nx) float32: ring cells inside a grid of that shape around each cell
    ring_counts: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)

    def occupied_in_ring(self, occupied: np.ndarray) -> np.ndarray:
        """(ny, nx) float32: occupied cells under `grown` (= in the ring wherever the footprint is clear);
        a box sum when `grown` is a rectangle (an axis-aligned footprint), many times cheaper."""
        assert self.grown is not None
        if self.grown.all():
            h, w = self.grown.shape
            return cv2.boxFilter(occupied, -1, (w, h), normalize=False, borderType=cv2.BORDER_CONSTANT)
        return _correlate(occupied, self.grown)

    def ring_cells(self, grid_shape: tuple[int, int]) -> np.ndarray:
        """(ny, nx) float32: how many of the ring's cells lie in the grid, the footprint centred on each cell."""
        counts = self.ring_counts.get(grid_shape)
        if counts is None and self.ring is not None:
            counts = self.ring_counts[grid_shape] = _correlate(np.ones(grid_shape, bool), self.ring)
        return counts


def _kernels(resolution_m: float, shape: np.ndarray, buffer_cells: int) -> _Kernels:
    stencil = _stencil(resolution_m, shape)
    ring = grown = None
    if buffer_cells > 0:
        padded = np.pad(stencil, buffer_cells)
        grown = cv2.dilate(padded, np.ones((2 * buffer_cells + 1,) * 2, np.uint8))
        ring = grown & (1 - padded)
    return _Kernels(shape, stencil, ring, grown)


def fit_map(
    grid: OccupancyGrid, shape: np.ndarray, angle_deg: float, buffer_cells: int, buffer_ratio: float
) -> _FitMap:
    """Evaluate the fit rule for a (K, 2) footprint (about its centroid) at every cell of the grid."""
    return _fit_map(grid, _kernels(grid.resolution_m, shape, buffer_cells), angle_deg, buffer_ratio)


def _fit_map(
    grid: OccupancyGrid, kernels: _Kernels, angle_deg: float, buffer_ratio: float, masks: _GridMasks | None = None
) -> _FitMap:
    ny, nx = grid.shape
    if not kernels.stencil.any():  # the footprint covers no cell centre at this resolution: it never fits
        return _FitMap(np.zeros((ny, nx), bool), angle_deg)
    masks = masks or _GridMasks.of(grid)
    fits = ~_any_under(masks.blocked, kernels.stencil)
    if kernels.ring is not None:
        share = kernels.occupied_in_ring(masks.occupied) / np.maximum(kernels.ring_cells(grid.shape), 1.0)
        fits &= share < buffer_ratio
    # The footprint's bounding box must lie within the grid's cell centres.
    res = grid.resolution_m
    lo, hi = kernels.shape.min(axis=0), kernels.shape.max(axis=0)
    xs = grid.x0 + (np.arange(nx) + 0.5) * res
    ys = grid.y0 + (np.arange(ny) + 0.5) * res
    ok_x = (xs + lo[0] >= xs[0] - 1e-9) & (xs + hi[0] <= xs[-1] + 1e-9)
    ok_y = (ys + lo[1] >= ys[0] - 1e-9) & (ys + hi[1] <= ys[-1] + 1e-9)
    return _FitMap(fits & ok_y[:, None] & ok_x[None, :], angle_deg)


@dataclass(frozen=True)
class _GridMasks:
    """A grid's masks as the filters take them, converted once for all rotations."""

    blocked: np.ndarray  # (ny, nx) uint8: not free (outside the area, or occupied)
    occupied: np.ndarray  # (ny, nx) float32

    @classmethod
    def of(cls, grid: OccupancyGrid) -> _GridMasks:
        return cls((~grid.free).astype(np.uint8), grid.occupied.astype(np.float32))


def _footprint_kernels(view: SceneView, a: SceneObject) -> list[_Kernels]:
    """A's kernels at each configured rotation, cached per scene and object."""
    cache = view.scene_results(_SceneStencils).kernels
    if a.name not in cache:
        cfg = view.config
        fp = view.view(a).footprint
        with np.errstate(over="ignore", invalid="ignore"):
            local = fp - polygon_area_centroid(fp)[1]  # (K, 2) about the footprint centroid
        _check_stencil(a, local, cfg.grid_resolution_m, cfg.max_grid_cells)
        buffer_cells = math.ceil(cfg.min_distance_m / cfg.grid_resolution_m - 1e-9)
        cache[a.name] = [
            _kernels(cfg.grid_resolution_m, local @ rot_z(math.radians(angle))[:2, :2].T, buffer_cells)
            for angle in cfg.compatibility_angles_deg
        ]
    return cache[a.name]


def _check_stencil(a: SceneObject, local: np.ndarray, resolution_m: float, max_cells: int) -> None:
    """SceneError for a box out of range (its footprint not finite, or so far out that float64 no longer
    resolves its size) and ConfigError for one whose stencil ((K, 2) `local`, metres, rotated: its
    circumscribed square) exceeds the cell budget."""
    if not np.all(np.isfinite(local)) or np.abs(a.box.center).max() > MAX_COORDINATE_M:
        raise SceneError(f"the {a.name}'s box is out of range (centre beyond +-{MAX_COORDINATE_M:g} m, or not finite)")
    side = 2.0 * (math.ceil(float(np.hypot(local[:, 0], local[:, 1]).max()) / resolution_m) + 1) + 1
    if side * side > max_cells:
        raise ConfigError(
            f"the {a.name}'s footprint spans {side:.3g} cells a side at grid_resolution_m={resolution_m!r}: "
            f"more than max_grid_cells={max_cells} allows"
        )


@register_preparer
def _prepare_kernels(view: SceneView, a: SceneObject) -> None:
    """Per-scene work of every compatibility query placing `a`: its stencils, and their ring counts on
    the grid of its own support (where it is most often placed)."""
    grid_shape = view.obstacle_layers(view.support_of(a)).empty.shape
    for kernels in _footprint_kernels(view, a):
        kernels.ring_cells(grid_shape)


def _fit_maps(view: SceneView, a: SceneObject, support: SceneObject | None) -> list[_FitMap]:
    """Cached per (A, support): one map per configured rotation, on the grid without A."""
    cache = view.results(_CompatibilityResults).fit_maps
    key = (a.name, None if support is None else support.name)
    if key not in cache:
        cfg = view.config
        grid = grid_for(view, frozenset([a.name]), support)
        masks = _GridMasks.of(grid)
        cache[key] = [
            _fit_map(grid, k, angle, cfg.buffer_ratio, masks)
            for k, angle in zip(_footprint_kernels(view, a), cfg.compatibility_angles_deg)
        ]
    return cache[key]


def compatibility(view: SceneView, a: SceneObject, b: SceneObject, frame: Frame, relation: Relation) -> Fit:
    """Whether (and where) A fits `relation` of B in `frame`."""
    cache = view.results(_CompatibilityResults).fits
    key = (a.name, b.name, frame, relation)
    if key in cache:
        return cache[key]
    if relation is Relation.ON_TOP:
        fit = on_top(view, a, b) if frame is Frame.WORLD else Fit(False, reason="'on top' is asked in the world frame")
        cache[key] = fit
        return fit
    # Every side in every frame that tries the same candidates shares them and their fits: answer
    # them together (a scene's questions ask them all). Image-based frames try the points the camera
    # sees (as the reference does); the robot base frame tries every free point (see `frames`).
    in_image = frame_rule(frame, view.config).image_based
    frames = [f for f in Frame if frame_rule(f, view.config).image_based == in_image]
    for (f, rel), fit in _fits_beside(view, a, b, frames, in_image).items():
        cache[(a.name, b.name, f, rel)] = fit
    return cache[key]


def _fits_beside(
    view: SceneView, a: SceneObject, b: SceneObject, frames: list[Frame], in_image: bool
) -> dict[tuple[Frame, Relation], Fit]:
    """A's fit left, right, in front of and behind B in each of `frames` (all on one candidate set)."""
    cands, fits, angles = candidate_fits(view, a, b, in_image)
    keys = [(f, rel) for f in frames for rel in PLANAR]
    sides = np.stack([side_mask(view, b, cands, f, rel) for f, rel in keys]).reshape(len(keys), -1)  # (S, N)
    fitting = sides & fits.any(axis=1)
    any_side, any_fit = sides.any(axis=1).tolist(), fitting.any(axis=1).tolist()
    if any(any_fit):  # the best candidate per side (ordered best first), and the first rotation fitting there
        first = fitting.argmax(axis=1)
        best_xyz, best_angle = cands.xyz[first], angles[fits[first].argmax(axis=1)].tolist()
    out = {}
    faceless = not view.has_front(b)
    for k, (frame, relation) in enumerate(keys):
        if faceless and frame_rule(frame, view.config) is FrameRule.OBJECT:
            out[frame, relation] = Fit(False, reason=f"{b.name!r} has no front of its own (object_facing: listed)")
        elif not any_side[k]:
            out[frame, relation] = Fit(False, reason=f"no free space {relation.value} of {b.name!r}")
        elif not any_fit[k]:
            out[frame, relation] = Fit(False, reason=f"{a.name!r} does not fit {relation.value} of {b.name!r}")
        else:
            out[frame, relation] = Fit(True, best_xyz[k, :2].copy(), float(best_xyz[k, 2]), float(best_angle[k]))
    return out


def candidate_fits(
    view: SceneView, a: SceneObject, b: SceneObject, in_image: bool
) -> tuple[Candidates, np.ndarray, np.ndarray]:
    """B's candidates for A, (N, R) bool: A fits there at rotation r, and the (R,) rotations in degrees.

    Shared by every frame and direction of the pair (A, B).
    """
    cache = view.results(_CompatibilityResults).candidate_fits
    key = (a.name, b.name, in_image)
    if key not in cache:
        cfg = view.config
        threshold = cfg.context_threshold_m + (a.box.size[:2].max() + b.box.size[:2].max()) / 2
        cands = candidates(view, b, threshold, frozenset([a.name]), in_image)
        cells = cands.grid.index_of(cands.xyz[:, :2])  # (N, 2) row, col
        maps = _fit_maps(view, a, view.support_of(b))
        fits = np.stack([m.fits[cells[:, 0], cells[:, 1]] for m in maps], axis=1).reshape(len(cells), len(maps))
        cache[key] = (cands, fits, np.array([m.angle_deg for m in maps]))
    return cache[key]


@dataclass
class _SceneStencils:
    """Per-scene compatibility measurements of one scene (shared by the views `for_new_query` makes)."""

    kernels: dict[str, list[_Kernels]] = field(default_factory=dict)  # by A's name, one per rotation


@dataclass
class _CompatibilityResults:
    """Per-query compatibility results of one SceneView."""

    fit_maps: dict[tuple[str, str | None], list[_FitMap]] = field(default_factory=dict)  # by (A, support or None)
    # by (A, B, in_image): B's candidates, (N, R) bool fits, (R,) rotations in degrees
    candidate_fits: dict[tuple[str, str, bool], tuple[Candidates, np.ndarray, np.ndarray]] = field(default_factory=dict)
    fits: dict[tuple[str, str, Frame, Relation], Fit] = field(default_factory=dict)  # by (A, B, frame, relation)
