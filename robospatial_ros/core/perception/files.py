"""Saved RGB-D frames: colour PNG/JPEG + depth PNG + intrinsics file -> RGBDFrame.

Depth is a single-channel 16-bit PNG in units of `depth_scale_m` (0.001 for millimetres, a
RealSense SR300's 1e-4, an L515's 2.5e-4) or a 32-bit float image in metres; 0 = no reading.
Intrinsics are a JSON / YAML mapping `{"fx", "fy", "cx", "cy"}`, one holding a 3x3 (or flat,
row-major) "K" (a ROS CameraInfo dump has one), Open3D's `{"intrinsic_matrix"}` (flat,
column-major), or a text file with the 3x3 matrix. A frame saved without a pose gets the
identity: perceive it with `Perception.perceive_unposed`, which finds the world from the table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from robospatial_ros.core.perception.errors import FrameFileError
from robospatial_ros.core.perception.frame import FrameError, RGBDFrame

__all__ = ["load_color", "load_depth", "load_frame", "load_intrinsics", "load_pose", "parse_intrinsics"]


def _existing(path: str | Path, what: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise FrameFileError(f"{what} file {p} does not exist")
    return p


def load_color(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB from a PNG / JPEG (grey and 16-bit images are converted)."""
    import cv2

    p = _existing(path, "colour")
    image = cv2.imread(str(p), cv2.IMREAD_COLOR)
    if image is None:
        raise FrameFileError(f"colour file {p} is not a readable PNG/JPEG image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def load_depth(path: str | Path) -> np.ndarray:
    """(H, W) uint16 (units of the frame's depth scale) or float32 metres, as stored; 0 / NaN = no reading."""
    import cv2

    p = _existing(path, "depth")
    depth = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    if depth is None:
        exr = p.suffix.lower() == ".exr"
        hint = " (OpenCV here reads no EXR: convert it to a 16-bit millimetre PNG)" if exr else ""
        raise FrameFileError(f"depth file {p} is not a readable image{hint}")
    if depth.ndim == 3 and depth.shape[2] >= 3 and np.array_equal(depth[..., 0], depth[..., 1]):
        depth = depth[..., 0]  # some tools save depth as three equal channels
    if depth.ndim != 2:
        raise FrameFileError(f"depth file {p} must hold one channel, got shape {depth.shape}")
    if depth.dtype == np.uint8:
        raise FrameFileError(f"depth file {p} is 8-bit: save depth as a 16-bit PNG (millimetres) or float metres")
    if depth.dtype not in (np.uint16, np.float32, np.float64):
        raise FrameFileError(f"depth file {p} has unsupported type {depth.dtype} (need uint16 or float)")
    return depth.astype(np.float32) if depth.dtype == np.float64 else depth


def parse_intrinsics(data: Any, source: str = "intrinsics") -> np.ndarray:
    """(3, 3) float K from a mapping (fx/fy/cx/cy, "K", Open3D "intrinsic_matrix") or a 3x3 / flat-9 list."""
    if isinstance(data, Mapping):
        if all(k in data for k in ("fx", "fy", "cx", "cy")):
            values = [data[k] for k in ("fx", "fy", "cx", "cy")]
            K = _numbers(values, source, "fx, fy, cx, cy")
            K = np.array([[K[0], 0.0, K[2]], [0.0, K[1], K[3]], [0.0, 0.0, 1.0]])
        elif "K" in data or "k" in data:
            K = _matrix(data.get("K", data.get("k")), source, row_major=True)
        elif "intrinsic_matrix" in data:  # Open3D's PinholeCameraIntrinsic JSON: column-major
            K = _matrix(data["intrinsic_matrix"], source, row_major=False)
        else:
            raise FrameFileError(
                f"{source}: no intrinsics found; give fx, fy, cx, cy or a 3x3 K (keys: {sorted(map(str, data))})"
            )
    else:
        K = _matrix(data, source, row_major=True)
    return _checked_K(K, source)


def _numbers(values: Any, source: str, what: str) -> np.ndarray:
    try:
        out = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise FrameFileError(f"{source}: {what} must be numbers, got {values!r}") from None
    return out


def _matrix(values: Any, source: str, row_major: bool) -> np.ndarray:
    K = _numbers(values, source, "K")
    if K.shape == (9,):
        K = K.reshape(3, 3) if row_major else K.reshape(3, 3).T
    if K.shape != (3, 3):
        raise FrameFileError(f"{source}: K must be 3x3 (or 9 numbers), got shape {K.shape}")
    return K


def _checked_K(K: np.ndarray, source: str) -> np.ndarray:
    if not np.all(np.isfinite(K)):
        raise FrameFileError(f"{source}: K holds NaN or infinite values")
    if K[0, 0] <= 0 or K[1, 1] <= 0:
        raise FrameFileError(f"{source}: focal lengths must be positive, got fx={K[0, 0]:g} fy={K[1, 1]:g}")
    if not np.allclose(K[2], [0.0, 0.0, 1.0]) or abs(K[1, 0]) > 1e-9:
        shape = "[[fx, 0, cx], [0, fy, cy], [0, 0, 1]]"
        raise FrameFileError(f"{source}: K must be {shape}, got {np.round(K, 3).tolist()}")
    return K


def load_intrinsics(path: str | Path) -> np.ndarray:
    """(3, 3) K from a .json / .yaml mapping or a text file holding the 3x3 matrix."""
    p = _existing(path, "intrinsics")
    text = p.read_text()
    suffix = p.suffix.lower()
    try:
        if suffix == ".json":
            data: Any = json.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = np.loadtxt(p, dtype=float, ndmin=2)
    except ValueError as exc:  # json.JSONDecodeError and numpy parse errors are ValueErrors
        raise FrameFileError(f"intrinsics file {p} cannot be parsed: {str(exc).splitlines()[0]}") from None
    except Exception as exc:  # yaml.YAMLError: the module is imported lazily, so catch broadly and re-type
        raise FrameFileError(f"intrinsics file {p} cannot be parsed: {type(exc).__name__}") from None
    return parse_intrinsics(data, source=f"intrinsics file {p}")


def load_pose(path: str | Path) -> np.ndarray:
    """(4, 4) camera-to-world pose (optical frame) from a text file or JSON {"camera_to_world": 4x4}."""
    p = _existing(path, "pose")
    try:
        if p.suffix.lower() == ".json":
            data = json.loads(p.read_text())
            T = np.asarray(data.get("camera_to_world") if isinstance(data, dict) else data, dtype=float)
        else:
            T = np.loadtxt(p, dtype=float, ndmin=2)
    except (ValueError, TypeError) as exc:
        raise FrameFileError(f"pose file {p} cannot be parsed: {str(exc).splitlines()[0]}") from None
    if T.shape != (4, 4) or not np.all(np.isfinite(T)):
        raise FrameFileError(f"pose file {p} must hold a finite 4x4 matrix, got shape {T.shape}")
    return T


def load_frame(
    color_path: str | Path,
    depth_path: str | Path,
    intrinsics: str | Path | np.ndarray,
    depth_scale_m: float | None = None,
    camera_to_world: np.ndarray | None = None,
) -> RGBDFrame:
    """One saved frame. `intrinsics` is a file or a (3, 3) K; no pose -> identity (use perceive_unposed).

    `depth_scale_m` None: 0.001 (millimetres) for a 16-bit depth image, 1.0 (metres) for a float one.
    """
    color, depth = load_color(color_path), load_depth(depth_path)
    if depth.shape != color.shape[:2]:
        raise FrameFileError(
            f"depth {depth_path} is {depth.shape[1]}x{depth.shape[0]} but colour {color_path} is "
            f"{color.shape[1]}x{color.shape[0]}: depth must be aligned to colour"
        )
    if isinstance(intrinsics, (str, Path)):
        K = load_intrinsics(intrinsics)
    else:
        K = parse_intrinsics(intrinsics, source="intrinsics")
    if depth_scale_m is None:
        depth_scale_m = 0.001 if depth.dtype == np.uint16 else 1.0
    T = np.eye(4) if camera_to_world is None else np.asarray(camera_to_world, dtype=float)
    try:
        return RGBDFrame(color, depth, K, T, depth_scale_m=float(depth_scale_m))
    except FrameError as exc:
        raise FrameFileError(f"frame {color_path} + {depth_path}: {exc}") from None
