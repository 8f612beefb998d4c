"""Rigid transforms, 9-DoF oriented boxes and 2D convex geometry.

Conventions (REP-103 / REP-105):
- world and robot base frames: x forward, y left, z up, metres;
- camera *body* frame: x forward (out of the lens), y left, z up;
- camera *optical* frame: x right, y down, z forward (OpenCV, image axes).
RoboSpatial annotations give camera-to-world extrinsics in the optical
convention and box rotations as z-x-y Euler angles (Open3D's
`get_rotation_matrix_from_zxy`: R = Rz(a) @ Rx(b) @ Ry(c)).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

# Columns are the optical axes expressed in the body frame:
# optical x (right) = -body y, optical y (down) = -body z, optical z (fwd) = body x.
R_BODY_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def rot_x(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rotation_from_zxy(rz: float, rx: float, ry: float) -> np.ndarray:
    """R = Rz(rz) @ Rx(rx) @ Ry(ry), the RoboSpatial/EmbodiedScan box convention."""
    return rot_z(rz) @ rot_x(rx) @ rot_y(ry)


def make_transform(rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """(4, 4) homogeneous transform from a (3, 3) rotation and a (3,) translation."""
    T = np.eye(4)
    T[:3, :3] = rotation
    T[:3, 3] = translation
    return T


def invert_transform(T: np.ndarray) -> np.ndarray:
    """Inverse of a rigid (4, 4) transform without a general matrix inverse."""
    R, t = T[:3, :3], T[:3, 3]
    return make_transform(R.T, -R.T @ t)


def transform_points(T: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply (4, 4) `T` to (N, 3) points; returns (N, 3)."""
    return points @ T[:3, :3].T + T[:3, 3]


def quaternion_from_matrix(R: np.ndarray) -> np.ndarray:
    """(x, y, z, w) unit quaternion of a (3, 3) rotation (ROS field order)."""
    m = R
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    if trace > 0.0:
        s = 2.0 * np.sqrt(trace + 1.0)
        q = [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s]
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s, (m[1, 0] - m[0, 1]) / s]
    q = np.asarray(q)
    return q / np.linalg.norm(q)


def matrix_from_quaternion(q: np.ndarray) -> np.ndarray:
    """(3, 3) rotation from an (x, y, z, w) quaternion (normalized here)."""
    x, y, z, w = np.asarray(q, dtype=float) / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


# Unit-cube corner signs, (8, 3): bottom face (z = -1) first, then the top face.
_CORNER_SIGNS = np.array(
    [[-1, -1, -1], [1, -1, -1], [1, 1, -1], [-1, 1, -1], [-1, -1, 1], [1, -1, 1], [1, 1, 1], [-1, 1, 1]],
    dtype=float,
)


@dataclass(frozen=True)
class OrientedBox:
    """A 9-DoF box: centre (3,), full edge lengths (3,), rotation (3, 3); world frame, metres."""

    center: np.ndarray
    size: np.ndarray
    rotation: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "center", np.asarray(self.center, dtype=float).reshape(3))
        object.__setattr__(self, "size", np.asarray(self.size, dtype=float).reshape(3))
        object.__setattr__(self, "rotation", np.asarray(self.rotation, dtype=float).reshape(3, 3))
        if not (np.all(np.isfinite(self.center)) and np.all(np.isfinite(self.size))):
            raise ValueError("box centre and size must be finite")
        if np.any(self.size < 0):
            raise ValueError(f"box size must be non-negative, got {self.size.tolist()}")

    @classmethod
    def from_9dof(cls, values: list[float] | np.ndarray) -> OrientedBox:
        """[cx, cy, cz, sx, sy, sz, rz, rx, ry] as in RoboSpatial `bbox_3d`."""
        v = np.asarray(values, dtype=float).reshape(-1)
        if v.shape[0] != 9:
            raise ValueError(f"a 9-DoF box needs 9 numbers, got {v.shape[0]}")
        return cls(v[:3], v[3:6], rotation_from_zxy(v[6], v[7], v[8]))

    @classmethod
    def axis_aligned(cls, center: np.ndarray, size: np.ndarray, yaw: float = 0.0) -> OrientedBox:
        return cls(center, size, rot_z(yaw))

    def corners(self) -> np.ndarray:
        """(8, 3) corners, world frame; indices 0-3 bottom face, 4-7 top face (in box z)."""
        return self._corners.copy()

    @cached_property
    def _corners(self) -> np.ndarray:
        return self.center + (_CORNER_SIGNS * (self.size / 2.0)) @ self.rotation.T

    @cached_property
    def z_min(self) -> float:
        return float(self._corners[:, 2].min())

    @cached_property
    def z_max(self) -> float:
        return float(self._corners[:, 2].max())

    def footprint(self) -> np.ndarray:
        """(K, 2) convex hull of the box seen from above (world x, y), counter-clockwise."""
        return self._footprint.copy()

    @cached_property
    def _footprint(self) -> np.ndarray:
        return convex_hull_2d(self._corners[:, :2])

    def translated(self, offset: np.ndarray) -> OrientedBox:
        return OrientedBox(self.center + np.asarray(offset, dtype=float), self.size, self.rotation)

    def transformed(self, T: np.ndarray) -> OrientedBox:
        """The same box under the rigid (4, 4) transform `T`."""
        return OrientedBox(T[:3, :3] @ self.center + T[:3, 3], self.size, T[:3, :3] @ self.rotation)


def convex_hull_2d(points: np.ndarray) -> np.ndarray:
    """(K, 2) convex hull, counter-clockwise (x right, y up), no repeated end point."""
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    if len(pts) < 3:
        return pts.copy()
    # OpenCV picks the hull vertices (by index, so the float64 values are kept exactly). It takes
    # float32: scaling by a power of two first keeps coordinates beyond float32's range (1e308 boxes
    # built in code, past the loader's checks) from overflowing the cast, and changes no rounding.
    peak = float(np.abs(pts).max())
    exponent = int(np.frexp(peak)[1]) if np.isfinite(peak) and peak > 0 else 0
    scaled = np.ldexp(pts, -exponent).astype(np.float32)
    index = cv2.convexHull(scaled, clockwise=False, returnPoints=False).reshape(-1)
    return pts[index]


def points_in_convex_polygon(points: np.ndarray, polygon: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """(N,) bool: which (N, 2) points lie inside or on a counter-clockwise convex (K, 2) polygon."""
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    if len(polygon) < 3:
        return np.zeros(len(points), dtype=bool)
    a = polygon
    edge = _next(polygon) - a  # (K, 2)
    rel = points[:, None, :] - a[None, :, :]  # (N, K, 2)
    cross = edge[None, :, 0] * rel[:, :, 1] - edge[None, :, 1] * rel[:, :, 0]
    return np.all(cross >= -tol, axis=1)


def convex_polygons_overlap(p: np.ndarray, q: np.ndarray, tol: float = 1e-9) -> bool:
    """Separating-axis test for two convex (K, 2) polygons; touching edges do not overlap."""
    for poly in (p, q):
        edges = _next(poly) - poly
        normals = np.stack([-edges[:, 1], edges[:, 0]], axis=1)
        for n in normals:
            pa, qa = p @ n, q @ n
            if pa.max() <= qa.min() + tol or qa.max() <= pa.min() + tol:
                return False
    return True


def oriented_boxes_overlap(a: OrientedBox, b: OrientedBox, tol: float = 1e-9) -> bool:
    """3D separating-axis test (15 axes) for two oriented boxes; touching faces do not overlap."""
    ra, rb = a.rotation, b.rotation
    cross = np.cross(ra.T[:, None, :], rb.T[None, :, :]).reshape(9, 3)
    cross = cross[np.linalg.norm(cross, axis=1) > 1e-9]  # parallel edge pairs give no axis
    axes = np.concatenate([ra.T, rb.T, cross])  # (M, 3)
    pa, pb = a.corners() @ axes.T, b.corners() @ axes.T  # (8, M)
    separated = (pa.max(axis=0) <= pb.min(axis=0) + tol) | (pb.max(axis=0) <= pa.min(axis=0) + tol)
    return not bool(separated.any())


def clip_polygon_to_rect(polygon: np.ndarray, x_min: float, y_min: float, x_max: float, y_max: float) -> np.ndarray:
    """Sutherland-Hodgman clip of a convex (K, 2) polygon to an axis-aligned rectangle."""
    poly = [tuple(p) for p in np.asarray(polygon, dtype=float).reshape(-1, 2)]
    # Each boundary: (axis, limit, keep-if-greater).
    for axis, limit, keep_greater in ((0, x_min, True), (0, x_max, False), (1, y_min, True), (1, y_max, False)):
        if not poly:
            break
        out = []
        for i, cur in enumerate(poly):
            prev = poly[i - 1]
            cur_in = cur[axis] >= limit if keep_greater else cur[axis] <= limit
            prev_in = prev[axis] >= limit if keep_greater else prev[axis] <= limit
            if cur_in != prev_in:
                t = (limit - prev[axis]) / (cur[axis] - prev[axis])
                out.append(tuple(prev[k] + t * (cur[k] - prev[k]) for k in range(2)))
            if cur_in:
                out.append(cur)
        poly = out
    return np.array(poly, dtype=float).reshape(-1, 2)


def convex_overlap_area(a: np.ndarray, b: np.ndarray) -> float:
    """Area shared by two convex counter-clockwise (K, 2) polygons: `a` clipped by each edge of `b`
    (Sutherland-Hodgman), in the polygons' squared unit."""
    out = np.asarray(a, dtype=float).reshape(-1, 2)
    b = np.asarray(b, dtype=float).reshape(-1, 2)
    for p, q in zip(b, _next(b)):
        if len(out) == 0:
            return 0.0
        edge = q - p
        side = edge[0] * (out[:, 1] - p[1]) - edge[1] * (out[:, 0] - p[0])  # >= 0: left of p->q, inside
        kept = []
        for i in range(len(out)):
            j = (i + 1) % len(out)
            if side[i] >= 0:
                kept.append(out[i])
            if (side[i] >= 0) != (side[j] >= 0):
                t = side[i] / (side[i] - side[j])
                kept.append(out[i] + t * (out[j] - out[i]))
        out = np.array(kept).reshape(-1, 2)
    return polygon_area_centroid(out)[0] if len(out) >= 3 else 0.0


def polygon_area_centroid(polygon: np.ndarray) -> tuple[float, np.ndarray]:
    """(area, (2,) centroid) of a simple polygon; vertex mean when the area vanishes."""
    p = np.asarray(polygon, dtype=float).reshape(-1, 2)
    if len(p) == 0:
        return 0.0, np.full(2, np.nan)
    q = _next(p)
    cross = p[:, 0] * q[:, 1] - q[:, 0] * p[:, 1]
    area = cross.sum() / 2.0
    if abs(area) < 1e-12:
        return 0.0, p.mean(axis=0)
    centroid = ((p + q) * cross[:, None]).sum(axis=0) / (6.0 * area)
    return abs(float(area)), centroid


def distance_to_convex_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """(N,) distance from (N, 2) points to a convex counter-clockwise (K, 2) polygon; 0 inside."""
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    a = np.asarray(polygon, dtype=float).reshape(-1, 2)
    ab = _next(a) - a  # (K, 2) edge vectors
    px, py = points[:, :1] - a[None, :, 0], points[:, 1:] - a[None, :, 1]  # (N, K) each
    t = np.clip((px * ab[:, 0] + py * ab[:, 1]) / np.maximum((ab * ab).sum(axis=1), 1e-18), 0.0, 1.0)
    dx, dy = px - t * ab[:, 0], py - t * ab[:, 1]
    d = np.sqrt((dx * dx + dy * dy).min(axis=1))
    if len(a) >= 3:
        inside = np.all(ab[:, 0] * py - ab[:, 1] * px >= -1e-12, axis=1)
        d[inside] = 0.0
    return d


def _next(polygon: np.ndarray) -> np.ndarray:
    """Each vertex's successor (the polygon rolled by one), without np.roll's overhead."""
    return np.concatenate([polygon[1:], polygon[:1]])


# A footprint whose world-axis-aligned bounding rectangle is at most this much larger than its
# minimum-area rectangle is reported axis-aligned: for round things (bowls, cans) the
# minimum-area rectangle's yaw is arbitrary, and perception and ground truth must agree on one.
ROUND_FOOTPRINT_RATIO = 1.03


def footprint_rectangle(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(centre (2,), size (2,), yaw) of the rectangle used for gravity-aligned boxes.

    The minimum-area rectangle of (N, 2) points (yaw folded into [-45, 45) degrees), or the
    axis-aligned one when that is within ROUND_FOOTPRINT_RATIO of it in area. The one box
    convention shared by perception and the simulator's ground truth.
    """
    pts = np.ascontiguousarray(np.asarray(xy, dtype=np.float32).reshape(-1, 2))
    (cx, cy), (w, h), angle_deg = cv2.minAreaRect(pts)
    lo, hi = pts.min(axis=0).astype(float), pts.max(axis=0).astype(float)
    if np.prod(hi - lo) <= ROUND_FOOTPRINT_RATIO * w * h + 1e-12:
        return (lo + hi) / 2, hi - lo, 0.0
    yaw = float((np.radians(angle_deg) + np.pi / 4) % (np.pi / 2) - np.pi / 4)
    c, s = np.cos(yaw), np.sin(yaw)
    local = (pts - [cx, cy]) @ np.array([[c, -s], [s, c]])  # coordinates along the rectangle's axes
    l_lo, l_hi = local.min(axis=0), local.max(axis=0)
    mid = (l_lo + l_hi) / 2
    center = np.array([cx + mid[0] * c - mid[1] * s, cy + mid[0] * s + mid[1] * c])
    return center, l_hi - l_lo, yaw
