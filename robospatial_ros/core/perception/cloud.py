"""Depth pixels -> 3D points, computed only where they are needed.

Measured on a 640x480 frame (2-core machine): the full 307k-point world cloud costs
14.5 ms in numpy and 6.1 ms with open3d `create_from_rgbd_image`; the pipeline builds
neither. It back-projects a 4-pixel-strided grid (0.7 ms; support plane, returned cloud),
the full-resolution pixels of each detection, and for clustering works on the depth image
itself (segment.py). Per-pixel optical rays depend only on the intrinsics and are cached;
the pose is applied to the selected points, so a moving camera costs nothing extra.
"""

from __future__ import annotations

import numpy as np

from robospatial_ros.core.perception.errors import NoValidDepthError
from robospatial_ros.core.perception.frame import FrameError, RGBDFrame

MIN_FLYING_JUMP_M = 0.005  # the flying-pixel jump threshold never goes below this (near range)


class PixelRays:
    """Caches (H*W, 3) float32 optical-frame rays (x/z, y/z, 1) for one intrinsic matrix."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._rays: np.ndarray | None = None

    def get(self, K: np.ndarray, width: int, height: int) -> np.ndarray:
        key = (np.asarray(K, dtype=float).tobytes(), width, height)
        if key != self._key or self._rays is None:
            self._rays = optical_rays(K, width, height)
            self._key = key
        return self._rays


def optical_rays(K: np.ndarray, width: int, height: int) -> np.ndarray:
    """(H*W, 3) float32 rays in the optical frame with z = 1, row-major pixel order."""
    u = (np.arange(width, dtype=np.float64) - K[0, 2]) / K[0, 0]
    v = (np.arange(height, dtype=np.float64) - K[1, 2]) / K[1, 1]
    rays = np.empty((height, width, 3), dtype=np.float32)
    rays[..., 0] = u[None, :]
    rays[..., 1] = v[:, None]
    rays[..., 2] = 1.0
    return rays.reshape(-1, 3)


def check_intrinsics(frame: RGBDFrame) -> None:
    """FrameError for intrinsics or poses that would give nonsense points."""
    K, T = frame.camera().K, np.asarray(frame.camera_to_world, dtype=float)
    if not np.all(np.isfinite(K)):
        raise FrameError("intrinsics K contain NaN or infinite values")
    if not np.allclose(K[2], [0.0, 0.0, 1.0]) or abs(K[1, 0]) > 1e-9 or abs(K[0, 1]) > 1e-6 * K[0, 0]:
        raise FrameError(f"intrinsics K must be [[fx, 0, cx], [0, fy, cy], [0, 0, 1]], got {np.round(K, 3).tolist()}")
    if not (-frame.width <= K[0, 2] <= 2 * frame.width and -frame.height <= K[1, 2] <= 2 * frame.height):
        raise FrameError(
            f"principal point ({K[0, 2]:.1f}, {K[1, 2]:.1f}) is far outside the {frame.width}x{frame.height} image"
        )
    R = T[:3, :3]
    if not np.allclose(R @ R.T, np.eye(3), atol=1e-4) or np.linalg.det(R) < 0 or not np.allclose(T[3], [0, 0, 0, 1]):
        raise FrameError("camera_to_world must be a rigid transform (orthonormal rotation, last row [0, 0, 0, 1])")


def check_depth(frame: RGBDFrame, min_depth_m: float, max_depth_m: float) -> None:
    """NoValidDepthError when no pixel holds a measurement inside [min_depth_m, max_depth_m]."""
    depth = frame.depth
    if depth.dtype == np.uint16:
        # Compare raw units: no float copy of the whole image.
        lo, hi = min_depth_m / frame.depth_scale_m, max_depth_m / frame.depth_scale_m
        if not depth.any():
            raise NoValidDepthError("depth image has no measurements (every pixel is 0)")
        if np.count_nonzero((depth >= lo) & (depth <= hi)) == 0:
            raise NoValidDepthError(_range_message(frame, min_depth_m, max_depth_m))
        return
    finite = np.isfinite(depth) & (depth > 0)
    if not finite.any():
        raise NoValidDepthError("depth image has no measurements (every pixel is 0, NaN or inf)")
    metres = depth[finite] * frame.depth_scale_m
    if not np.any((metres >= min_depth_m) & (metres <= max_depth_m)):
        raise NoValidDepthError(_range_message(frame, min_depth_m, max_depth_m))


def _range_message(frame: RGBDFrame, min_depth_m: float, max_depth_m: float) -> str:
    d = frame.depth_m()
    lo, hi = float(np.nanmin(d)), float(np.nanmax(d))
    side = f"out of range: all > max_depth_m {max_depth_m:g}" if lo > max_depth_m else "out of range"
    if hi < min_depth_m:
        side = f"out of range: all < min_depth_m {min_depth_m:g}"
    return (
        f"no depth inside [{min_depth_m:g}, {max_depth_m:g}] m ({side}; measured {lo:.3f}..{hi:.3f} m; "
        f"is depth_scale_m={frame.depth_scale_m:g} right?)"
    )


def depth_at(frame: RGBDFrame, flat_index: np.ndarray | slice, min_depth_m: float, max_depth_m: float) -> np.ndarray:
    """(N,) float32 metres at row-major pixel indices (or a slice of them: no gather, faster);
    NaN where missing or out of range."""
    raw = frame.depth.reshape(-1)[flat_index]
    d = raw.astype(np.float32) * np.float32(frame.depth_scale_m)
    with np.errstate(invalid="ignore"):
        d[~((d >= min_depth_m) & (d <= max_depth_m))] = np.nan  # also catches NaN, inf and 0
    return d


def to_world(frame: RGBDFrame, rays: np.ndarray, flat_index: np.ndarray, depth_m: np.ndarray) -> np.ndarray:
    """(N,) valid pixels and their (N,) float32 depths in metres -> (N, 3) float32 world points, metres."""
    cam = rays[flat_index] * depth_m[:, None]  # (N, 3) float32, optical frame, metres
    T = frame.camera_to_world
    return cam @ T[:3, :3].T.astype(np.float32) + T[:3, 3].astype(np.float32)


def usable_depth(
    frame: RGBDFrame,
    rows: tuple[int, int],
    cols: tuple[int, int],
    min_depth_m: float,
    max_depth_m: float,
    flying_jump_m: float,
) -> np.ndarray:
    """(h, w) float32 metres of the pixel block rows x cols; NaN where missing, out of range or flying.

    A flying (mixed) pixel sits between a foreground and a background surface: it differs from
    BOTH its left and right (or upper and lower) neighbours by more than the jump threshold
    flying_jump_m * depth^2 (stereo noise grows with depth^2), never less than 5 mm. A true
    edge pixel is continuous with one side, so silhouettes are not eroded. Steep slopes
    (depth changing faster than the threshold per pixel) drop out too: at such grazing
    angles stereo depth is unreliable anyway. flying_jump_m = 0 keeps every pixel.
    """
    (r0, r1), (c0, c1) = rows, cols
    window = _depth_window(frame, r0 - 1, r1 + 1, c0 - 1, c1 + 1, min_depth_m, max_depth_m)
    d = window[1:-1, 1:-1]
    if flying_jump_m <= 0:
        return d.copy()
    tau = np.maximum(d * d * np.float32(flying_jump_m), np.float32(MIN_FLYING_JUMP_M))
    with np.errstate(invalid="ignore"):  # NaN neighbours (holes, image border) never flag a pixel
        fly = (np.abs(d - window[1:-1, :-2]) > tau) & (np.abs(d - window[1:-1, 2:]) > tau)
        fly |= (np.abs(d - window[:-2, 1:-1]) > tau) & (np.abs(d - window[2:, 1:-1]) > tau)
    out = d.copy()
    out[fly] = np.nan
    return out


def _depth_window(
    frame: RGBDFrame, r0: int, r1: int, c0: int, c1: int, min_depth_m: float, max_depth_m: float
) -> np.ndarray:
    """(r1 - r0, c1 - c0) float32 metres, NaN where missing, out of range or outside the image."""
    out = np.full((r1 - r0, c1 - c0), np.nan, dtype=np.float32)
    v0, v1, u0, u1 = max(r0, 0), min(r1, frame.height), max(c0, 0), min(c1, frame.width)
    block = frame.depth[v0:v1, u0:u1].astype(np.float32) * np.float32(frame.depth_scale_m)
    with np.errstate(invalid="ignore"):
        block[~((block >= min_depth_m) & (block <= max_depth_m))] = np.nan
    out[v0 - r0 : v1 - r0, u0 - c0 : u1 - c0] = block
    return out


def strided_index(width: int, height: int, stride: int) -> np.ndarray:
    """(M,) row-major indices of every `stride`-th pixel in both directions, offset to the cell centre."""
    off = stride // 2
    rows = np.arange(off, height, stride)
    cols = np.arange(off, width, stride)
    return (rows[:, None] * width + cols[None, :]).reshape(-1)
