"""The support plane: the near-horizontal surface (world z up) that the scene's evidence backs.

Candidates: RANSAC finds the dominant near-horizontal plane, then a height histogram along
its normal finds the other levels parallel to it (floor, table, shelf, lids, box tops); each
gets a least-squares refit. Evidence for a candidate is the surface AREA (m^2) of its largest
connected inlier region on the pixel grid: a far floor seen at a grazing angle is not
under-counted, a near lid not over-counted, and coplanar scraps elsewhere in view do not add
up. The support is the highest candidate, below the camera, whose area is at least
`min_share` of the best one and `min_area_m2` (a table over a wide floor, never a lid); an
optional height hint picks the level near it instead.

RANSAC here is a few vectorized numpy lines rather than open3d's `segment_plane` (both ~1.5 ms
for 200 hypotheses on a 3000-point sample on this project's 2-core machine), but it draws and
scores only hypotheses whose normal is within `max_tilt_deg` of the search axis, so a wall or
a large box side never wins and it needs no open3d.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from robospatial_ros.core.geometry import convex_hull_2d, points_in_convex_polygon, polygon_area_centroid
from robospatial_ros.core.perception.errors import (
    CameraBelowSupportError,
    GravityMismatchError,
    NoSupportPlaneError,
)

_BLOCK = 16  # RANSAC hypotheses scored per block
_MAX_REFITS = 6  # least-squares refits of a RANSAC plane, at most ...
_SETTLED = 0.002  # ... stopping once the inlier count changes by less than this share
_MIN_COS_INCIDENCE = 0.2  # per-point area grows as 1 / cos(incidence), capped here (78 deg)
# A level is a rim (a tote's edge around its contents), not a support, when more than this share of
# the points over its footprint's hull lie below it and it covers less than _RIM_SOLIDITY of that hull.
_RIM_BELOW_SHARE = 0.3
_RIM_SOLIDITY = 0.5
_BELOW_SAMPLE = 1000  # the share below is estimated on this many of the points off the level
_GRAVITY_CHECK_SHARE = 0.3  # a support with fewer of the points is checked against the dominant plane ...
_GRAVITY_DWARF = 3.0  # ... which, this many times bigger and outside the tilt cone, says the pose is wrong


class SupportPlane(NamedTuple):
    """n . p + offset_m = 0 for points p on the plane; world frame, metres; n unit, n_z > 0."""

    normal: np.ndarray  # (3,) float64, unit, pointing up
    offset_m: float

    def height(self, points: np.ndarray) -> np.ndarray:
        """(N,) signed distance above the plane of (N, 3) world points, metres."""
        n = self.normal.astype(points.dtype, copy=False)
        return points @ n + points.dtype.type(self.offset_m)

    def z_at(self, xy: np.ndarray) -> np.ndarray:
        """(N,) world z of the plane above/below (N, 2) world x, y points, metres."""
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        n = self.normal
        return -(self.offset_m + xy @ n[:2]) / n[2]

    def tilt_deg(self, up: np.ndarray | None = None) -> float:
        """Angle between the normal and `up` (default world z), degrees."""
        axis = np.array([0.0, 0.0, 1.0]) if up is None else np.asarray(up, dtype=float)
        return float(np.degrees(np.arccos(np.clip(self.normal @ axis / np.linalg.norm(axis), -1.0, 1.0))))


@dataclass(frozen=True)
class PlaneSearch:
    """How to look for the support plane; lengths in metres, areas in m^2, angles in degrees."""

    distance_threshold_m: float  # inlier distance for RANSAC and the refits
    iterations: int  # RANSAC hypotheses per search
    sample_points: int  # hypotheses are scored on this many random points
    max_tilt_deg: float  # the normal is within this of world z
    min_inliers: int  # a support plane has at least this many grid inliers
    min_share: float  # a higher level wins over the best one with this share of its area
    max_levels: int = 3  # how many histogram levels besides the dominant plane become candidates
    min_area_m2: float = 0.0  # a support's connected surface is at least this large
    height_hint_m: float | None = None  # pick the level whose world z is nearest this (within tolerance)
    height_tolerance_m: float = 0.05
    min_extent_m: float = 0.0  # a support's region is at least this long on both sides (no strips)


@dataclass(frozen=True)
class GridCloud:
    """The pixel-strided cloud the search runs on, with its grid layout.

    points (N, 3) float32, world frame, metres; cells (N,) int, row-major index of each point's
    cell in the (rows, cols) grid; pixel_area_m2 (N,) float32, the area one grid cell covers on
    a surface facing the camera at that depth ((stride * depth)^2 / (fx * fy)); camera (3,)
    the camera centre, world frame.
    """

    points: np.ndarray
    cells: np.ndarray
    shape: tuple[int, int]
    pixel_area_m2: np.ndarray
    camera: np.ndarray


@dataclass
class PlaneCandidate:
    """One level: its plane, (N,) bool inliers, (N,) bool largest connected region, area in m^2."""

    plane: SupportPlane
    inliers: np.ndarray
    region: np.ndarray
    area_m2: float
    camera_height_m: float  # the camera's signed height above the plane
    z_m: float  # world z of the plane under its region's centre
    below_share: float = 0.0  # of the points over the region's hull, the share lying below the plane
    solidity: float = 1.0  # the region's area / its hull's area

    @property
    def is_rim(self) -> bool:
        return self.below_share > _RIM_BELOW_SHARE and self.solidity < _RIM_SOLIDITY


def fit_support_plane(
    cloud: GridCloud, search: PlaneSearch, rng: np.random.Generator, dominant: SupportPlane | None = None
) -> PlaneCandidate:
    """The support among the candidate levels of the grid cloud (see the module docstring).

    `dominant`: the dominant near-horizontal plane when already known (perceive_unposed's gravity).

    Raises NoSupportPlaneError (too few points, no near-horizontal plane, all too small or away
    from the hint), GravityMismatchError (the dominant plane is far from world z) or
    CameraBelowSupportError (every candidate lies above the camera).
    """
    points = cloud.points
    if len(points) < max(3, search.min_inliers):
        raise NoSupportPlaneError(
            f"no support plane: only {len(points)} valid depth points (need {max(3, search.min_inliers)})"
        )
    if dominant is None:
        dominant = _best_plane(points, search, np.array([0.0, 0.0, 1.0]), rng)
    if dominant is None:
        raise _tilt_error(points, search, rng)
    planes = [dominant, *_parallel_levels(points, dominant, search)]
    candidates = [_candidate(cloud, p, search.distance_threshold_m) for p in planes]
    candidates = [c for c in candidates if np.count_nonzero(c.region) >= search.min_inliers]
    if not candidates:
        raise NoSupportPlaneError(
            f"no support plane: no near-horizontal surface has {search.min_inliers} connected points (min_plane_points)"
        )
    above = [c for c in candidates if c.camera_height_m > search.distance_threshold_m]
    if not above:
        below = min(c.camera_height_m for c in candidates)
        raise CameraBelowSupportError(
            f"no support plane: the camera is {-below:.2f} m BELOW every near-horizontal surface in view; "
            f"is camera_to_world right (world z must point up)? A frame without a pose: perceive_unposed"
        )
    chosen = _choose(above, search, cloud)
    _check_gravity(points, chosen, search, rng)
    return chosen


def _check_gravity(points: np.ndarray, chosen: PlaneCandidate, search: PlaneSearch, rng: np.random.Generator) -> None:
    """GravityMismatchError when a plane far outside the tilt cone dwarfs the chosen support.

    A wrong camera pose tilts the table out of the cone while some small patch (a box side) still
    passes; only checked when the support holds less than _GRAVITY_CHECK_SHARE of the points.
    """
    held = np.count_nonzero(chosen.inliers)
    if held >= _GRAVITY_CHECK_SHARE * len(points):
        return
    wide = PlaneSearch(search.distance_threshold_m, search.iterations, search.sample_points, 89.0, 3, 1.0)
    other = _best_plane(points, wide, np.array([0.0, 0.0, 1.0]), rng)
    if other is None or other.tilt_deg() <= search.max_tilt_deg:
        return
    count = np.count_nonzero(np.abs(other.height(points)) < search.distance_threshold_m)
    if count > _GRAVITY_DWARF * held:
        raise GravityMismatchError(
            f"no support plane: the dominant plane in view ({count / len(points):.0%} of the points) is "
            f"{other.tilt_deg():.0f} deg from world z, the near-horizontal one only {held / len(points):.0%}; "
            f"is camera_to_world right (world z must point up)?"
        )


def _choose(candidates: list[PlaneCandidate], search: PlaneSearch, cloud: GridCloud) -> PlaneCandidate:
    """The hinted level, else the highest whose area is >= min_share of the best and >= min_area_m2.

    Levels with much of the scene below them inside their footprint (a tote's rim around its
    contents) are no support: checked on the way down from the highest eligible level only.
    """
    levels = ", ".join(f"z {c.z_m:.3f} m ({c.area_m2:.2f} m^2)" for c in sorted(candidates, key=lambda c: c.z_m))
    if search.height_hint_m is not None:
        near = [c for c in candidates if abs(c.z_m - search.height_hint_m) <= search.height_tolerance_m]
        if not near:
            raise NoSupportPlaneError(
                f"no support plane within {search.height_tolerance_m:g} m of support_height_m="
                f"{search.height_hint_m:g} (levels found: {levels})"
            )
        return _first_solid(sorted(near, key=lambda c: -c.area_m2), cloud, search)
    best = max(c.area_m2 for c in candidates)
    enough = [c for c in candidates if c.area_m2 >= max(search.min_area_m2, search.min_share * best)]
    if not enough:
        raise NoSupportPlaneError(
            f"no support plane: the largest near-horizontal surface covers {best:.3f} m^2, less than "
            f"min_support_area_m2={search.min_area_m2:g} (levels found: {levels})"
        )
    return _first_solid(sorted(enough, key=lambda c: -c.z_m), cloud, search)


def _first_solid(ordered: list[PlaneCandidate], cloud: GridCloud, search: PlaneSearch) -> PlaneCandidate:
    """The first candidate that is neither a strip nor a rim (measured only as far as needed), else the first."""
    for c in ordered:
        if _narrow_side(cloud, c) < search.min_extent_m:
            continue
        _measure_rim(cloud, c, search.distance_threshold_m)
        if not c.is_rim:
            return c
    return ordered[0]


def _narrow_side(cloud: GridCloud, c: PlaneCandidate) -> float:
    """The shorter side of the minimum-area rectangle of a candidate's region (x/y, metres)."""
    xy = np.compress(c.region, cloud.points[:, :2], axis=0)
    if len(xy) < 3:
        return 0.0
    _, (w, h), _ = cv2.minAreaRect(np.ascontiguousarray(xy[:: max(1, len(xy) // 2000)], dtype=np.float32))
    return float(min(w, h))


def _candidate(cloud: GridCloud, plane: SupportPlane, threshold_m: float) -> PlaneCandidate:
    """A plane's inliers, largest connected region on the grid and that region's surface area."""
    points = cloud.points
    inliers = np.abs(plane.height(points)) < threshold_m
    grid = np.zeros(cloud.shape[0] * cloud.shape[1], dtype=bool)
    grid[cloud.cells[inliers]] = True
    region = largest_region(grid.reshape(cloud.shape)).reshape(-1)[cloud.cells] & inliers
    inside = np.compress(region, points, axis=0)
    ray = inside - cloud.camera.astype(np.float32)  # (M, 3) camera -> point, world frame, metres
    dist = np.sqrt(np.einsum("ij,ij->i", ray, ray))
    cos = np.abs(ray @ plane.normal.astype(np.float32)) / np.maximum(dist, np.float32(1e-9))
    area = float(np.sum(cloud.pixel_area_m2[region] / np.maximum(cos, np.float32(_MIN_COS_INCIDENCE))))
    centre = [float(inside[:, i].mean()) for i in range(2)] if len(inside) else [0.0, 0.0]
    cam_h = float(plane.height(cloud.camera[None].astype(np.float64))[0])
    return PlaneCandidate(plane, inliers, region, area, cam_h, float(plane.z_at(np.array(centre))[0]))


def _measure_rim(cloud: GridCloud, c: PlaneCandidate, threshold_m: float) -> None:
    """Fill in a candidate's below_share and solidity (see PlaneCandidate.is_rim)."""
    inside = np.compress(c.region, cloud.points, axis=0)
    if len(inside) < 3:
        return
    hull = convex_hull_2d(inside[:: max(1, len(inside) // 2000), :2])
    hull_area = polygon_area_centroid(hull)[0] if len(hull) >= 3 else 0.0
    c.solidity = min(1.0, c.area_m2 * abs(c.plane.normal[2]) / hull_area) if hull_area > 0 else 1.0
    if c.solidity < _RIM_SOLIDITY:  # a solid surface is no rim whatever lies below: skip the costlier test
        c.below_share = _below_share(cloud.points, c.plane, c.region, hull, len(inside), threshold_m)


def _below_share(
    points: np.ndarray, plane: SupportPlane, region: np.ndarray, hull: np.ndarray, n_region: int, threshold_m: float
) -> float:
    """Of the points whose x/y fall in the region's (K, 2) hull, the share lying below the plane.

    Estimated on a strided sample of the points off the region (a table has little below it
    over its footprint, its own edge; a tote's rim has the tote's contents).
    """
    off = np.flatnonzero(~region)
    if len(off) == 0 or len(hull) < 3:
        return 0.0
    step = max(1, len(off) // _BELOW_SAMPLE)
    sample = points[off[::step]]
    over = points_in_convex_polygon(sample[:, :2], hull)
    below = np.count_nonzero(over & (plane.height(sample) < -3 * threshold_m)) * step
    total = n_region + np.count_nonzero(over) * step
    return below / total


def _parallel_levels(points: np.ndarray, dominant: SupportPlane, search: PlaneSearch) -> list[SupportPlane]:
    """Other near-horizontal levels parallel to the dominant plane: peaks of a height histogram."""
    thr = search.distance_threshold_m
    h = dominant.height(points)
    lo, hi = float(h.min()), float(h.max())
    if hi - lo < 4 * thr:
        return []
    counts, edges = np.histogram(h, bins=max(1, int((hi - lo) / thr)), range=(lo, hi))
    counts[np.abs(edges[:-1] + thr / 2) < 3 * thr] = 0  # the dominant plane itself
    # Local maxima (a level's points spread over a bin or two), biggest first.
    padded = np.r_[0, counts, 0]
    peaks = np.flatnonzero((counts >= padded[:-2]) & (counts > padded[2:]) & (counts >= search.min_inliers // 2))
    peaks = peaks[np.argsort(-counts[peaks])][: search.max_levels]
    cos_tilt = float(np.cos(np.radians(search.max_tilt_deg)))
    out = []
    for k in peaks:
        level = (edges[k] + edges[k + 1]) / 2.0
        shifted = SupportPlane(dominant.normal, dominant.offset_m - level)
        plane = _refit(points, shifted, thr, max_refits=2)  # the histogram already placed it well
        if plane is not None and plane.normal[2] >= cos_tilt and not _duplicate(plane, [dominant, *out], points, thr):
            out.append(plane)
    return out


def _duplicate(plane: SupportPlane, others: list[SupportPlane], points: np.ndarray, thr: float) -> bool:
    """A refit that converged onto an already-listed plane (same height at the cloud's centre)."""
    centre = np.array([float(points[:, 0].mean()), float(points[:, 1].mean())])
    z = plane.z_at(centre)[0]
    return any(abs(o.z_at(centre)[0] - z) < 2 * thr for o in others)


def _best_plane(
    points: np.ndarray, search: PlaneSearch, axis: np.ndarray, rng: np.random.Generator
) -> SupportPlane | None:
    """RANSAC (normals within max_tilt_deg of `axis`) + least-squares refits; None if nothing fits."""
    cos_tilt = float(np.cos(np.radians(search.max_tilt_deg)))
    sample = points[rng.integers(0, len(points), min(len(points), search.sample_points))]
    found = _ransac(sample, search.distance_threshold_m, search.iterations, axis, cos_tilt, rng)
    if found is None:
        return None
    plane = _refit(points, found, search.distance_threshold_m)
    if plane is None or plane.normal @ axis < cos_tilt:
        return None
    return plane


def _refit(
    points: np.ndarray, plane: SupportPlane, threshold_m: float, max_refits: int = _MAX_REFITS
) -> SupportPlane | None:
    """Least-squares refits on all inliers until the inlier set settles (2 passes for a real plane).

    A plane that merely slices through a tilted surface keeps turning toward it (the caller
    checks the tilt). None when fewer than 3 inliers remain.
    """
    count = -1
    for _ in range(max_refits):
        inliers = np.abs(plane.height(points)) < threshold_m
        previous, count = count, int(np.count_nonzero(inliers))
        if count < 3:
            return None
        if abs(count - previous) <= _SETTLED * count:  # noise flips a few points at the threshold
            break
        plane = _least_squares_plane(np.compress(inliers, points, axis=0), plane.normal)
    return plane


def best_plane_along(
    points: np.ndarray, search: PlaneSearch, axis: np.ndarray, rng: np.random.Generator
) -> SupportPlane | None:
    """The dominant plane of (N, 3) points whose normal is within max_tilt_deg of `axis` (any frame)."""
    return _best_plane(points, search, np.asarray(axis, dtype=float) / np.linalg.norm(axis), rng)


def _ransac(
    sample: np.ndarray, threshold_m: float, iterations: int, axis: np.ndarray, cos_tilt: float, rng: np.random.Generator
) -> SupportPlane | None:
    """Best plane among 3-point hypotheses with normals within acos(cos_tilt) of `axis`; None if none."""
    tri = rng.integers(0, len(sample), (iterations, 3))
    p0, p1, p2 = sample[tri[:, 0]], sample[tri[:, 1]], sample[tri[:, 2]]  # (K, 3) each
    n = np.cross(p1 - p0, p2 - p0).astype(np.float64)
    norm = np.linalg.norm(n, axis=1)
    along = n @ axis
    with np.errstate(invalid="ignore", divide="ignore"):
        keep = (norm > 1e-9) & (np.abs(along) >= cos_tilt * norm)
    if not keep.any():
        return None
    n = n[keep] / norm[keep, None]
    n *= np.sign(along[keep])[:, None]  # point along the axis (up)
    d = -(n * p0[keep]).sum(axis=1)
    counts = np.zeros(len(n), dtype=np.int64)
    sample_t = np.ascontiguousarray(sample.T, dtype=np.float32)  # (3, M)
    n32, d32 = n.astype(np.float32), d.astype(np.float32)
    # Blocks of hypotheses keep each (block, M) float32 distance matrix small: large fresh
    # temporaries cost page faults (measured: 3 ms instead of 0.5 ms for one (150, 3000) pass).
    for lo in range(0, len(n), _BLOCK):
        dist = np.abs(n32[lo : lo + _BLOCK] @ sample_t + d32[lo : lo + _BLOCK, None])
        counts[lo : lo + _BLOCK] = np.count_nonzero(dist < threshold_m, axis=1)
    best = int(np.argmax(counts))
    return SupportPlane(n[best], float(d[best]))


def _least_squares_plane(points: np.ndarray, up: np.ndarray, max_points: int = 4000) -> SupportPlane:
    """Total-least-squares plane through (N, 3) points (normal = least-variance direction), along `up`.

    At most `max_points` evenly strided points: thousands already pin the height to well
    under a millimetre, and the covariance is the refit's whole cost.
    """
    p = points[:: max(1, len(points) // max_points)].astype(np.float64)
    centroid = np.array([p[:, 0].mean(), p[:, 1].mean(), p[:, 2].mean()])  # per column: axis-0 means are slow
    q = p - centroid
    _, vectors = np.linalg.eigh(q.T @ q)
    normal = vectors[:, 0] * (1.0 if vectors[:, 0] @ up >= 0 else -1.0)
    return SupportPlane(normal, float(-normal @ centroid))


def _tilt_error(points: np.ndarray, search: PlaneSearch, rng: np.random.Generator) -> NoSupportPlaneError:
    """Why no near-horizontal plane: name the dominant plane's tilt when there is one (a wrong pose)."""
    wide = PlaneSearch(search.distance_threshold_m, search.iterations, search.sample_points, 89.0, 3, 1.0)
    any_plane = _best_plane(points, wide, np.array([0.0, 0.0, 1.0]), rng)
    hint = "is camera_to_world right (world z must point up)?"
    if any_plane is None:
        return NoSupportPlaneError(
            f"no support plane: no plane within {search.max_tilt_deg:g} deg of horizontal; {hint}"
        )
    share = np.count_nonzero(np.abs(any_plane.height(points)) < search.distance_threshold_m) / len(points)
    message = (
        f"no support plane: no plane within {search.max_tilt_deg:g} deg of horizontal; the dominant plane in view "
        f"({share:.0%} of the points) is {any_plane.tilt_deg():.0f} deg from world z; {hint}"
    )
    return GravityMismatchError(message) if share >= 0.3 else NoSupportPlaneError(message)


def largest_region(grid_mask: np.ndarray) -> np.ndarray:
    """(h, w) bool: the largest 8-connected region of a (h, w) bool grid (empty grid -> all False).

    Used on the strided inlier grid so the support's footprint is the table under the
    camera, not every coplanar patch in view (another table at the same height).
    """
    count, labels, stats, _ = cv2.connectedComponentsWithStats(grid_mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros_like(grid_mask, dtype=bool)
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == biggest
