"""Validation of every geometric input at the boundary: scene files, camera_info, poses, boxes, names.

One place decides what a usable transform, intrinsic matrix, box or object name is, so the scene
loader, the camera model, the ROS message conversions and the node parameters agree. Each check
returns the value as a float array (or str) and raises a typed error naming the field, e.g.
"extrinsic: rotation is not orthonormal (|R^T R - I| = 1)"; callers choose the error type (a scene
file raises SceneError, a message MessageError, a parameter ConfigError).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from robospatial_ros.core.errors import RoboSpatialError, SceneError

# A rotation block R is accepted when max |R^T R - I| and |det R - 1| are within this: loose enough for
# matrices printed with 6 digits (the RoboSpatial annotations are within 1e-6), tight enough to reject
# scaled, sheared or rank-deficient ones.
ORTHONORMAL_TOL = 1e-3
# The largest |coordinate| (metres) of a position in a scene: a tabletop within a building, with room to
# spare; beyond it, products and squares overflow float arithmetic downstream (occupancy grids).
MAX_COORDINATE_M = 1e4
# The largest box edge, metres.
MAX_BOX_SIZE_M = 1e3
# The largest focal length or principal point coordinate, pixels.
MAX_PIXELS = 1e7

ErrorType = type[RoboSpatialError]


def finite_array(value: Any, shape: tuple[int, ...], field: str, error: ErrorType = SceneError) -> np.ndarray:
    """`value` as a float64 array of `shape`, all finite; `error` naming `field` when not."""
    try:
        m = np.asarray(value, dtype=float)
    except (TypeError, ValueError, OverflowError):  # ragged, strings, objects, ints too large for a float
        raise error(f"{field} must be a numeric array of shape {shape}") from None
    if m.shape != shape:
        raise error(f"{field} must have shape {shape}, got {m.shape}")
    if not np.all(np.isfinite(m)):
        raise error(f"{field} contains NaN or infinite values")
    return m


def rigid_transform(value: Any, field: str, error: ErrorType = SceneError) -> np.ndarray:
    """A (4, 4) rigid transform: finite, rotation orthonormal with det +1 (within ORTHONORMAL_TOL),
    bottom row [0, 0, 0, 1], translation within MAX_COORDINATE_M metres."""
    T = finite_array(value, (4, 4), field, error)
    R = T[:3, :3]
    # Entries of an orthonormal matrix lie in [-1, 1]: testing that first keeps R^T R from overflowing.
    off = float(np.abs(R.T @ R - np.eye(3)).max()) if np.abs(R).max() <= 1.0 + ORTHONORMAL_TOL else np.inf
    if off > ORTHONORMAL_TOL:
        raise error(f"{field}: rotation is not orthonormal (max |R^T R - I| = {off:.3g}); give a rigid transform")
    if abs(float(np.linalg.det(R)) - 1.0) > ORTHONORMAL_TOL:
        raise error(f"{field}: rotation is a reflection (det = {np.linalg.det(R):.3g}); give a proper rotation")
    if not np.allclose(T[3], [0.0, 0.0, 0.0, 1.0], atol=ORTHONORMAL_TOL):
        raise error(f"{field}: the bottom row must be [0, 0, 0, 1], got {T[3].tolist()}")
    _within(T[:3, 3], MAX_COORDINATE_M, f"{field} translation", error)
    return T


def intrinsics(value: Any, field: str, error: ErrorType = SceneError) -> np.ndarray:
    """(3, 3) K from a 3x3 or homogeneous 4x4 matrix: finite, focal lengths positive, all within MAX_PIXELS."""
    try:
        shape = np.asarray(value, dtype=float).shape
    except (TypeError, ValueError, OverflowError):
        raise error(f"{field} must be a numeric 3x3 or 4x4 matrix") from None
    K = finite_array(value, shape if shape in ((3, 3), (4, 4)) else (3, 3), field, error)[:3, :3]
    if K[0, 0] <= 0 or K[1, 1] <= 0:
        raise error(f"{field}: focal lengths fx, fy must be positive, got {K[0, 0]:g}, {K[1, 1]:g}")
    _within(K[:2, :].ravel(), MAX_PIXELS, field, error)
    return K


def quaternion(value: Any, field: str, error: ErrorType = SceneError) -> np.ndarray:
    """(4,) unit quaternion [x, y, z, w] from a finite non-zero one of any length (normalised here)."""
    q = finite_array(value, (4,), field, error)
    scale = np.abs(q).max()
    if scale < 1e-9:
        raise error(f"{field} must be a non-zero quaternion [x, y, z, w], got {q.tolist()}")
    q = q / scale  # scaled first: squaring a huge component in the norm would overflow
    return q / np.linalg.norm(q)


def box_parts(center: Any, size: Any, field: str, error: ErrorType = SceneError) -> tuple[np.ndarray, np.ndarray]:
    """((3,) centre, (3,) size), metres: finite, |centre| <= MAX_COORDINATE_M, 0 < size <= MAX_BOX_SIZE_M."""
    c = finite_array(center, (3,), f"{field} centre", error)
    s = finite_array(size, (3,), f"{field} size", error)
    _within(c, MAX_COORDINATE_M, f"{field} centre", error)
    if np.any(s <= 0) or np.any(s > MAX_BOX_SIZE_M):
        raise error(f"{field}: sizes must be in (0, {MAX_BOX_SIZE_M:g}] m, got {s.tolist()}")
    return c, s


def box_9dof(value: Any, field: str, error: ErrorType = SceneError) -> np.ndarray:
    """(9,) [cx, cy, cz, sx, sy, sz, rz, rx, ry] (metres, radians), checked as `box_parts`; angles finite
    and at most 1e3 rad (sin and cos lose all precision far beyond)."""
    v = finite_array(value, (9,), field, error)
    box_parts(v[:3], v[3:6], field, error)
    _within(v[6:], 1e3, f"{field} angles", error)
    return v


def object_name(value: Any, field: str, error: ErrorType = SceneError) -> str:
    """A non-empty string (null, numbers and blank strings are errors, not names like 'None')."""
    if not isinstance(value, str) or not value.strip():
        raise error(f"{field} must be a non-empty string, got {_short(value)}")
    return value


def unique_names(names: Iterable[str], field: str, error: ErrorType = SceneError) -> list[str]:
    """The names, each a non-empty string and none repeated; the error lists the repeated ones."""
    out = [object_name(n, f"{field}[{i}]", error) for i, n in enumerate(names)]
    repeated = sorted(n for n, k in Counter(out).items() if k > 1)  # linear: scenes hold up to max_objects
    if repeated:
        raise error(f"{field} must be unique; repeated: {', '.join(map(repr, repeated))}")
    return out


def stamp_seconds(sec: int, nanosec: int, field: str, error: ErrorType = SceneError) -> float:
    """A ROS time stamp as seconds: sec >= 0 and 0 <= nanosec < 1e9 (builtin_interfaces/Time's range)."""
    if not 0 <= int(nanosec) < 1_000_000_000:
        raise error(f"{field}: nanosec must be in [0, 1e9), got {nanosec}")
    if int(sec) < 0:
        raise error(f"{field}: sec must be >= 0, got {sec}")
    return float(sec) + 1e-9 * float(nanosec)


def _within(values: np.ndarray | Sequence[float], limit: float, field: str, error: ErrorType) -> None:
    if np.any(np.abs(np.asarray(values, dtype=float)) > limit):
        raise error(f"{field}: values must be within +-{limit:g}, got {np.asarray(values).tolist()}")


def _short(value: Any) -> str:
    text = "null" if value is None else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
