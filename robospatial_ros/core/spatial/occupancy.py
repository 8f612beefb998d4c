"""Top-down occupancy grid over the support area.

A cell is occupied when its centre lies inside the convex hull of an obstacle's
footprint. Deliberate differences from the reference generator (DESIGN.md):
the support under the reference object bounds the grid instead of filling it,
and anything no higher than that support's top (the floor under a table) is not
an obstacle on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robospatial_ros.core.scene import SceneObject
from robospatial_ros.core.spatial.view import SceneView


@dataclass
class OccupancyGrid:
    """Cells of `resolution_m` from (x0, y0) (world, metres); arrays are (ny, nx), row = y."""

    x0: float
    y0: float
    resolution_m: float
    inside: np.ndarray  # (ny, nx) bool: cell centre within the support area
    occupied: np.ndarray  # (ny, nx) bool: cell centre within an obstacle footprint

    @property
    def shape(self) -> tuple[int, int]:
        return self.inside.shape  # type: ignore[return-value]

    @property
    def free(self) -> np.ndarray:
        return self.inside & ~self.occupied

    def centers(self, rows: slice | None = None, cols: slice | None = None) -> np.ndarray:
        """(R, C, 2) cell centres of a window (default: the whole grid), world x/y, metres."""
        ny, nx = self.shape
        r0, r1, _ = (rows or slice(0, ny)).indices(ny)
        c0, c1, _ = (cols or slice(0, nx)).indices(nx)
        xs = self.x0 + (np.arange(c0, c1) + 0.5) * self.resolution_m
        ys = self.y0 + (np.arange(r0, r1) + 0.5) * self.resolution_m
        out = np.empty((len(ys), len(xs), 2))
        out[..., 0] = xs[None, :]
        out[..., 1] = ys[:, None]
        return out

    def index_of(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) world x/y -> (N, 2) integer (row, col); may fall outside the grid."""
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        col = np.floor((xy[:, 0] - self.x0) / self.resolution_m).astype(int)
        row = np.floor((xy[:, 1] - self.y0) / self.resolution_m).astype(int)
        return np.stack([row, col], axis=1)

    def is_free(self, xy: np.ndarray) -> np.ndarray:
        """(N,) bool: the cell containing each world point is inside the area and unoccupied."""
        idx = self.index_of(xy)
        ny, nx = self.shape
        ok = (idx[:, 0] >= 0) & (idx[:, 0] < ny) & (idx[:, 1] >= 0) & (idx[:, 1] < nx)
        out = np.zeros(len(idx), dtype=bool)
        out[ok] = self.free[idx[ok, 0], idx[ok, 1]]
        return out

    def window(self, lo: np.ndarray, hi: np.ndarray) -> tuple[slice, slice]:
        """(row slice, col slice) of the cells whose centres lie in the world box [lo, hi] (2,) each."""
        ny, nx = self.shape
        res = self.resolution_m
        r0 = max(int(np.ceil((lo[1] - self.y0) / res - 0.5 - 1e-9)), 0)
        r1 = min(int(np.floor((hi[1] - self.y0) / res - 0.5 + 1e-9)) + 1, ny)
        c0 = max(int(np.ceil((lo[0] - self.x0) / res - 0.5 - 1e-9)), 0)
        c1 = min(int(np.floor((hi[0] - self.x0) / res - 0.5 + 1e-9)) + 1, nx)
        return slice(r0, max(r0, r1)), slice(c0, max(c0, c1))

    def polygon_cells(self, polygon: np.ndarray) -> tuple[slice, slice, np.ndarray]:
        """Cells whose centres lie in a convex (K, 2) polygon: (row slice, col slice, window mask).

        Scanline fill: per row of cell centres, the polygon's x-interval at that y.
        """
        res = self.resolution_m
        rows, cols = self.window(polygon.min(axis=0), polygon.max(axis=0))
        r0, r1, c0, c1 = rows.start, rows.stop, cols.start, cols.stop
        if r1 <= r0 or c1 <= c0 or len(polygon) < 3:
            return rows, cols, np.zeros((max(r1 - r0, 0), max(c1 - c0, 0)), dtype=bool)
        ys = self.y0 + (np.arange(r0, r1) + 0.5) * res  # (R,)
        a, b = polygon, np.concatenate([polygon[1:], polygon[:1]])  # edges a -> b, (K, 2)
        dy = b[:, 1] - a[:, 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (ys[:, None] - a[None, :, 1]) / dy[None, :]  # (R, K)
        crosses = (t >= -1e-9) & (t <= 1 + 1e-9) & (np.abs(dy)[None, :] > 1e-12)
        x = a[None, :, 0] + t * (b[:, 0] - a[:, 0])[None, :]
        x_left = np.where(crosses, x, np.inf).min(axis=1)
        x_right = np.where(crosses, x, -np.inf).max(axis=1)
        xs = self.x0 + (np.arange(c0, c1) + 0.5) * res  # (C,)
        mask = (xs[None, :] >= x_left[:, None] - 1e-9) & (xs[None, :] <= x_right[:, None] + 1e-9)
        return rows, cols, mask


def _area(view: SceneView, support: SceneObject | None) -> tuple[np.ndarray, np.ndarray]:
    """(min xy, max xy) of the grid: the support's footprint, else all objects' footprints."""
    if support is not None:
        fp = view.view(support).footprint
        return fp.min(axis=0), fp.max(axis=0)
    pts = np.concatenate([view.view(o).footprint for o in view.scene.objects])
    return pts.min(axis=0), pts.max(axis=0)


@dataclass
class _Layers:
    """Every obstacle stamped once over one support area: per-cell counts plus each stamp."""

    empty: OccupancyGrid
    counts: np.ndarray  # (ny, nx) int16: obstacle footprints covering each cell
    stamps: dict[str, tuple[slice, slice, np.ndarray]]


def _build_layers(view: SceneView, support: SceneObject | None) -> _Layers:
    res = view.config.grid_resolution_m
    lo, hi = _area(view, support)
    nx, ny = (np.maximum(np.ceil((hi - lo) / res - 1e-9), 1)).astype(int)
    grid = OccupancyGrid(float(lo[0]), float(lo[1]), res, np.ones((ny, nx), bool), np.zeros((ny, nx), bool))
    top = -np.inf
    if support is not None:
        top = view.view(support).z_max
        rows, cols, mask = grid.polygon_cells(view.view(support).footprint)
        grid.inside[:] = False
        grid.inside[rows, cols] = mask
    counts = np.zeros((ny, nx), np.int16)
    stamps = {}
    for obj in view.scene.objects:
        if obj is support:
            continue
        v = view.view(obj)
        if v.z_max <= top + 1e-3:
            continue  # under or level with the support's top (the floor under a table)
        rows, cols, mask = grid.polygon_cells(v.footprint)
        if mask.size:
            counts[rows, cols] += mask
            stamps[obj.name] = (rows, cols, mask)
    return _Layers(grid, counts, stamps)


def obstacle_layers(view: SceneView, support: SceneObject | None) -> _Layers:
    """Every obstacle's footprint stamped over `support`'s area, cached per view."""
    key = ("grid-layers", None if support is None else support.name)
    if key not in view.cache:
        view.cache[key] = _build_layers(view, support)
    return view.cache[key]  # type: ignore[return-value]


def grid_for(view: SceneView, exclude: frozenset[str], support: SceneObject | None) -> OccupancyGrid:
    """Occupancy over `support`'s top (or the objects' extent) with every object but `exclude`.

    Footprints are stamped once per support and scene; leaving objects out subtracts
    their stamps, so the many grids of a scene's questions cost one array op each.
    """
    support_key = None if support is None else support.name
    key = ("grid", exclude, support_key)
    if key in view.cache:
        return view.cache[key]  # type: ignore[return-value]
    layers = obstacle_layers(view, support)
    counts = layers.counts
    removed = [layers.stamps[name] for name in exclude if name in layers.stamps]
    if removed:
        counts = counts.copy()
        for rows, cols, mask in removed:
            counts[rows, cols] -= mask
    e = layers.empty
    grid = OccupancyGrid(e.x0, e.y0, e.resolution_m, e.inside, counts > 0)
    view.cache[key] = grid
    return grid
