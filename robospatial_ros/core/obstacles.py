"""What the camera observed on the support, top-down: every cell free, occupied or unknown.

A placement must never land on something the camera sees but nobody named (an object the
detector missed, a cable, the robot's own base plate) nor where the camera could not see
(no depth, a shadow behind a tall object, a transparent object, outside the view). Named
objects' boxes cannot tell either, so perception also publishes this map, built from every
observed point:

- occupied: some point stands above the support (higher than `min_height_m`) in the cell;
- free: the support surface itself was observed there, and nothing above it;
- unknown: nothing was observed there.

The cell values are those of nav_msgs/OccupancyGrid (0 free, 100 occupied, -1 unknown), so
the map travels as one and RViz draws it. Scene files have no map: their free space is what
the RoboSpatial reference computes from the named boxes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robospatial_ros.core.errors import ConfigError, SceneError

FREE, OCCUPIED, UNKNOWN = np.int8(0), np.int8(100), np.int8(-1)


@dataclass(frozen=True)
class ObstacleMap:
    """A top-down grid over the support in the world frame (x, y; z up). Cell (i, j) covers
    x in [origin_x + j * res, origin_x + (j + 1) * res), y likewise with i (row = y)."""

    cells: np.ndarray  # (H, W) int8: FREE, OCCUPIED or UNKNOWN
    origin_xy_m: np.ndarray  # (2,) world x, y of cell (0, 0)'s corner, metres
    resolution_m: float
    support_height_m: float  # world z of the support surface the map lies on

    def __post_init__(self) -> None:
        cells = np.asarray(self.cells)
        if cells.ndim != 2 or cells.size == 0:
            raise SceneError(f"obstacle map cells must be a non-empty 2-D grid, got shape {cells.shape}")
        if not np.isin(cells, (FREE, OCCUPIED, UNKNOWN)).all():
            raise SceneError("obstacle map cells must be 0 (free), 100 (occupied) or -1 (unknown)")
        origin = np.asarray(self.origin_xy_m, dtype=float).reshape(-1)
        if origin.shape != (2,) or not np.isfinite(origin).all():
            raise SceneError(f"obstacle map origin must be two finite numbers, got {self.origin_xy_m!r}")
        if not (np.isfinite(self.resolution_m) and self.resolution_m > 0):
            raise SceneError(f"obstacle map resolution must be positive, got {self.resolution_m}")
        if not np.isfinite(self.support_height_m):
            raise SceneError("obstacle map support height must be finite")
        object.__setattr__(self, "cells", cells.astype(np.int8, copy=False))
        object.__setattr__(self, "origin_xy_m", origin)

    @property
    def shape(self) -> tuple[int, int]:
        return self.cells.shape  # type: ignore[return-value]

    def state_at(self, xy: np.ndarray) -> np.ndarray:
        """(N,) int8 state of the cells under world points `xy` (N, 2); UNKNOWN outside the map."""
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        jj = np.floor((xy[:, 0] - self.origin_xy_m[0]) / self.resolution_m)
        ii = np.floor((xy[:, 1] - self.origin_xy_m[1]) / self.resolution_m)
        h, w = self.shape
        inside = np.isfinite(ii) & np.isfinite(jj) & (ii >= 0) & (ii < h) & (jj >= 0) & (jj < w)
        out = np.full(len(xy), UNKNOWN, dtype=np.int8)
        out[inside] = self.cells[ii[inside].astype(int), jj[inside].astype(int)]
        return out

    def free_at(self, xy: np.ndarray) -> np.ndarray:
        """(N,) bool: the camera saw the bare support under each of `xy` (N, 2), nothing on it."""
        return self.state_at(xy) == FREE

    def summary(self) -> dict[str, float | int]:
        """Cell counts and extent, for reports (`robospatial perceive --json`)."""
        h, w = self.shape
        return {
            "resolution_m": self.resolution_m,
            "width_cells": int(w),
            "height_cells": int(h),
            "origin_xy_m": [round(float(v), 4) for v in self.origin_xy_m],
            "support_height_m": round(float(self.support_height_m), 4),
            "free_cells": int((self.cells == FREE).sum()),
            "occupied_cells": int((self.cells == OCCUPIED).sum()),
            "unknown_cells": int((self.cells == UNKNOWN).sum()),
        }


@dataclass(frozen=True)
class ObstacleMapConfig:
    """How observed points become cells. Lengths in metres."""

    resolution_m: float = 0.01
    min_height_m: float = 0.01  # a point this far above the support occupies its cell (sensor noise below)
    surface_tolerance_m: float = 0.01  # a point this close to the support plane observes the bare surface
    fill_holes_cells: int = 1  # unknown cells closed by free neighbours within this radius (sparse sampling)
    grow_occupied_cells: int = 1  # occupied cells grown by this many (mixed pixels at object edges)

    def __post_init__(self) -> None:
        for name in ("resolution_m", "min_height_m", "surface_tolerance_m"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ConfigError(f"obstacle map {name} must be positive, got {value}")
        for name in ("fill_holes_cells", "grow_occupied_cells"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10:
                raise ConfigError(f"obstacle map {name} must be an integer in 0..10, got {value!r}")


def build_obstacle_map(
    points: np.ndarray,
    support_height_m: float,
    bounds_xy_m: np.ndarray,
    config: ObstacleMapConfig | None = None,
) -> ObstacleMap:
    """The map of `points` (N, 3), world frame, metres (every valid observed point, already cut to the
    workspace) over the rectangle `bounds_xy_m` ((2, 2): [[x_min, y_min], [x_max, y_max]]), on a support
    at world z `support_height_m`."""
    cfg = config or ObstacleMapConfig()
    pts = np.asarray(points, dtype=float).reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(axis=1)]
    lo, hi = np.asarray(bounds_xy_m, dtype=float).reshape(2, 2)
    if not (np.isfinite(lo).all() and np.isfinite(hi).all() and (hi > lo).all()):
        raise SceneError(f"obstacle map bounds must be [[x_min, y_min], [x_max, y_max]], got {bounds_xy_m!r}")
    w, h = (int(v) for v in np.ceil((hi - lo) / cfg.resolution_m))
    rel = pts[:, 2] - support_height_m
    on_surface = np.abs(rel) <= cfg.surface_tolerance_m
    above = rel > cfg.min_height_m
    cells = np.full((h, w), UNKNOWN, dtype=np.int8)
    free = _hits(pts[on_surface, :2], lo, cfg.resolution_m, (h, w))
    occupied = _hits(pts[above, :2], lo, cfg.resolution_m, (h, w))
    free = _close(free, cfg.fill_holes_cells)
    occupied = _dilate(occupied, cfg.grow_occupied_cells)
    cells[free] = FREE
    cells[occupied] = OCCUPIED  # anything seen above the support wins over the surface around it
    return ObstacleMap(cells, lo, cfg.resolution_m, float(support_height_m))


def _hits(xy: np.ndarray, lo: np.ndarray, res: float, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: cells holding at least one of the points `xy` (N, 2)."""
    ij = np.floor((xy[:, ::-1] - lo[::-1]) / res).astype(np.int64)  # (N, 2) row (y), column (x)
    keep = (ij >= 0).all(axis=1) & (ij[:, 0] < shape[0]) & (ij[:, 1] < shape[1])
    out = np.zeros(shape, dtype=bool)
    out[ij[keep, 0], ij[keep, 1]] = True
    return out


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    if radius <= 0 or not mask.any():
        return mask
    import cv2  # opencv is a core dependency; imported here to keep this module's import light

    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)


def _close(mask: np.ndarray, radius: int) -> np.ndarray:
    """Fill gaps of up to `radius` cells inside an observed surface (a strided cloud leaves some)."""
    if radius <= 0 or not mask.any():
        return mask
    import cv2

    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, kernel).astype(bool)
