"""RGBDFrame: one aligned colour + depth image with its camera, and the detection inputs.

Depth arrives as 16UC1 millimetres (RealSense driver, `depth_scale_m=0.001`) or 32FC1
metres (Gazebo, Isaac, `depth_scale_m=1.0`); 0, NaN and inf mean "no measurement".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from robospatial_ros.core.camera import CameraModel
from robospatial_ros.core.errors import RoboSpatialError


class FrameError(RoboSpatialError, ValueError):
    """An RGB-D frame is unusable: wrong shapes or encodings, no valid depth, bad intrinsics."""


@dataclass(frozen=True)
class RGBDFrame:
    color: np.ndarray  # (H, W, 3) uint8, RGB
    depth: np.ndarray  # (H, W) uint16 (units of depth_scale_m) or float32 metres, aligned to color
    K: np.ndarray  # (3, 3) colour intrinsics, pixels
    camera_to_world: np.ndarray  # (4, 4) optical-frame pose in the world (robot base) frame
    depth_scale_m: float = 0.001  # metres per depth unit (0.001 for 16UC1 mm, 1.0 for 32FC1 m)
    stamp_s: float = 0.0

    def __post_init__(self) -> None:
        color, depth = np.asarray(self.color), np.asarray(self.depth)
        if color.ndim != 3 or color.shape[2] != 3 or color.dtype != np.uint8:
            raise FrameError(f"colour must be (H, W, 3) uint8 RGB, got {color.shape} {color.dtype}")
        if depth.ndim != 2:
            raise FrameError(f"depth must be (H, W), got shape {depth.shape}")
        if depth.shape != color.shape[:2]:
            raise FrameError(
                f"depth {depth.shape[1]}x{depth.shape[0]} is not aligned to colour {color.shape[1]}x{color.shape[0]}"
            )
        if depth.dtype not in (np.uint16, np.float32, np.float64):
            raise FrameError(f"depth must be uint16 (16UC1) or float32 (32FC1), got {depth.dtype}")
        if not (np.isfinite(self.depth_scale_m) and self.depth_scale_m > 0):
            raise FrameError(f"depth_scale_m must be positive, got {self.depth_scale_m}")
        try:
            self.camera()
        except ValueError as exc:
            raise FrameError(f"bad camera: {exc}") from None

    @property
    def height(self) -> int:
        return int(self.color.shape[0])

    @property
    def width(self) -> int:
        return int(self.color.shape[1])

    def camera(self) -> CameraModel:
        return CameraModel(self.K, self.width, self.height, self.camera_to_world)

    def depth_m(self) -> np.ndarray:
        """(H, W) float32 metres, NaN where there is no measurement."""
        d = np.asarray(self.depth, dtype=np.float32) * np.float32(self.depth_scale_m)
        d[~np.isfinite(d) | (d <= 0)] = np.nan
        return d


@dataclass(frozen=True)
class MaskDetections:
    """Named instance masks (a simulator's segmentation, a segmenter): name -> (H, W) bool."""

    masks: dict[str, np.ndarray] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class BoxDetections:
    """Labelled 2D boxes from any detector: (N, 4) [u_min, v_min, u_max, v_max] pixels."""

    labels: list[str]
    boxes: np.ndarray  # (N, 4) float, pixels
    scores: np.ndarray | None = None  # (N,)
