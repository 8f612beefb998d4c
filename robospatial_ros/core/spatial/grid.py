"""The top-down occupancy grid: cells over a support area and the obstacles stamped on them.

Pure numerics, no scene: which area a grid covers and which objects are obstacles is decided by
`view.SceneView.obstacle_layers` (the per-scene stamps) and `occupancy.grid_for` (the grid a query sees).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from robospatial_ros.core.errors import ConfigError, SceneError


@dataclass
class OccupancyGrid:
    """Cells of `resolution_m` from (x0, y0) (world, metres); arrays are (ny, nx), row = y.

    A cell's centre is the grid point every rule tests (inside an area, under a footprint, free).
    """

    x0: float
    y0: float
    resolution_m: float
    inside: np.ndarray  # (ny, nx) bool: cell centre within the support area
    occupied: np.ndarray  # (ny, nx) bool: cell centre within an obstacle footprint

    @property
    def shape(self) -> tuple[int, int]:
        ny, nx = self.inside.shape
        return ny, nx

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
        c0 = _cell_bound((float(lo[0]) - self.x0) / res - 0.5 - 1e-9, nx, first=True)
        r0 = _cell_bound((float(lo[1]) - self.y0) / res - 0.5 - 1e-9, ny, first=True)
        c1 = _cell_bound((float(hi[0]) - self.x0) / res - 0.5 + 1e-9, nx, first=False)
        r1 = _cell_bound((float(hi[1]) - self.y0) / res - 0.5 + 1e-9, ny, first=False)
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


def _cell_bound(t: float, n: int, first: bool) -> int:
    """A window bound in 0..n from a cell position `t` (cells), clipped before rounding: a box far off
    the grid (1e308, inf) gives an empty window, not an OverflowError; NaN gives 0. Plain floats: this
    runs for every context and compatibility query."""
    if t != t:
        return 0
    t = min(max(t, -1.0), n + 1.0)
    return min(max(math.ceil(t) if first else math.floor(t) + 1, 0), n)


def empty_grid(
    lo: np.ndarray, hi: np.ndarray, resolution_m: float, max_cells: int, alignment: str = "center"
) -> OccupancyGrid:
    """A grid of `resolution_m` cells covering the world box [lo, hi] ((2,) x/y each, metres), all inside and free.

    ConfigError (before any allocation) when it would have more than `max_cells` cells; SceneError when
    the box is not finite (a coordinate of 1e308 overflows the extent).

    alignment center: cells tile the box from `lo`, their centres (the grid's points) half a cell in;
    edge: the points start on the box's edge, lo + i * resolution_m while below `hi` (the reference
    generator's `arange` grid), so each cell is centred on its point.
    """
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    _check_cells(lo, hi, resolution_m, max_cells)
    if alignment == "edge":
        nx, ny = np.maximum(np.ceil((hi - lo) / resolution_m), 1).astype(int)
        lo = lo - resolution_m / 2.0
    else:
        nx, ny = (np.maximum(np.ceil((hi - lo) / resolution_m - 1e-9), 1)).astype(int)
    return OccupancyGrid(float(lo[0]), float(lo[1]), resolution_m, np.ones((ny, nx), bool), np.zeros((ny, nx), bool))


def _check_cells(lo: np.ndarray, hi: np.ndarray, resolution_m: float, max_cells: int) -> None:
    """Refuse a grid over a non-finite box or of more than `max_cells` cells, counted in floats so
    that a huge extent cannot overflow the count itself."""
    with np.errstate(over="ignore", invalid="ignore"):
        extent = hi - lo  # (2,) metres; inf when a coordinate is near the float limit
        sides = np.ceil(extent / resolution_m) + 1.0  # (2,) cells, an upper bound for either alignment
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise SceneError(f"the occupancy grid's area is not finite: {lo.tolist()} .. {hi.tolist()} (metres)")
    cells = float(np.prod(np.maximum(sides, 1.0)))  # inf when an extent overflows
    if not cells <= max_cells:  # inf included
        raise ConfigError(
            f"an occupancy grid of {cells:.3g} cells ({extent[0]:.3g} m x {extent[1]:.3g} m at grid_resolution_m="
            f"{resolution_m!r}) exceeds max_grid_cells={max_cells}; use a coarser grid_resolution_m"
        )


@dataclass(frozen=True)
class ObstacleLayers:
    """Every obstacle stamped once over one support area: per-cell counts plus each stamp."""

    empty: OccupancyGrid
    counts: np.ndarray  # (ny, nx) int16: obstacle footprints covering each cell
    stamps: dict[str, tuple[slice, slice, np.ndarray]]  # obstacle name -> (rows, cols, window mask)
    # (ny, nx) bool: cells the camera did not observe as bare support (something unnamed stands there,
    # or nothing was seen); None without an observation (scene files: the boxes alone decide).
    unobserved_or_blocked: np.ndarray | None = None

    def without(self, exclude: frozenset[str]) -> OccupancyGrid:
        """The grid with every obstacle but `exclude`: their stamps subtracted, one array op each.

        What the camera observed stays blocked, except under the footprints left out (the object
        being moved is seen where it stands now; that spot is free once it moves)."""
        counts = self.counts
        blocked = self.unobserved_or_blocked
        removed = [self.stamps[name] for name in exclude if name in self.stamps]
        if removed:
            counts = counts.copy()
            blocked = None if blocked is None else blocked.copy()
            for rows, cols, mask in removed:
                counts[rows, cols] -= mask
                if blocked is not None:
                    blocked[rows, cols] &= ~mask
        e = self.empty
        occupied = counts > 0 if blocked is None else (counts > 0) | blocked
        return OccupancyGrid(e.x0, e.y0, e.resolution_m, e.inside, occupied)


def stamp_obstacles(
    empty: OccupancyGrid, footprints: dict[str, np.ndarray], unobserved_or_blocked: np.ndarray | None = None
) -> ObstacleLayers:
    """Stamp each obstacle's (K, 2) convex footprint (world x/y, metres) on `empty`, by name;
    `unobserved_or_blocked` ((ny, nx) bool or None) is the observation's layer, see ObstacleLayers."""
    ny, nx = empty.shape
    counts = np.zeros((ny, nx), np.int16)
    stamps = {}
    for name, footprint in footprints.items():
        rows, cols, mask = empty.polygon_cells(footprint)
        if mask.size:
            counts[rows, cols] += mask
            stamps[name] = (rows, cols, mask)
    return ObstacleLayers(empty, counts, stamps, unobserved_or_blocked)
