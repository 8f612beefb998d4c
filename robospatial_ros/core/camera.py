"""Pinhole camera model with a camera-to-world pose in the optical convention.

Pixel convention (as the RoboSpatial generator): u = fx * x / z + cx, v = fy * y / z + cy,
pixel centres at integer coordinates, normalized image points are (u / W, v / H).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robospatial_ros.core.errors import SceneError
from robospatial_ros.core.geometry import R_BODY_OPTICAL, invert_transform, make_transform, transform_points
from robospatial_ros.core.validation import intrinsics, rigid_transform

# Points closer to the image plane than this (metres) are treated as behind the camera.
MIN_DEPTH_M = 1e-6
# The largest image side, pixels.
MAX_IMAGE_SIDE = 100_000


@dataclass(frozen=True)
class CameraModel:
    """Intrinsics K (3, 3), image size in pixels and the camera-to-world (4, 4) optical pose."""

    K: np.ndarray
    width: int
    height: int
    camera_to_world: np.ndarray

    def __post_init__(self) -> None:
        # Every camera passes here (scene files, camera_info, simulators): an impossible one (NaN principal
        # point, zero or rank-deficient extrinsic) is a SceneError, never a silently wrong answer.
        K = intrinsics(self.K, "intrinsics K")
        T = rigid_transform(self.camera_to_world, "extrinsic")
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "camera_to_world", T)
        object.__setattr__(self, "width", _image_side(self.width, "image width"))
        object.__setattr__(self, "height", _image_side(self.height, "image height"))
        object.__setattr__(self, "_world_to_camera", invert_transform(T))

    @classmethod
    def look_at(
        cls,
        eye: np.ndarray,
        target: np.ndarray,
        width: int = 640,
        height: int = 480,
        fov_x_deg: float = 69.4,
    ) -> CameraModel:
        """A camera at `eye` looking at `target` (world, z up), image x horizontal.

        The default field of view is the RealSense D435 colour camera's.
        """
        eye, target = np.asarray(eye, dtype=float), np.asarray(target, dtype=float)
        forward = target - eye
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, [0.0, 0.0, 1.0])
        if np.linalg.norm(right) < 1e-9:
            raise ValueError("look_at: viewing direction is vertical; image x is undefined")
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        R = np.stack([right, down, forward], axis=1)  # columns: optical x, y, z in world
        fx = (width / 2.0) / np.tan(np.radians(fov_x_deg) / 2.0)
        K = np.array([[fx, 0.0, (width - 1) / 2.0], [0.0, fx, (height - 1) / 2.0], [0.0, 0.0, 1.0]])
        return cls(K, width, height, make_transform(R, eye))

    @property
    def world_to_camera(self) -> np.ndarray:
        return self._world_to_camera  # type: ignore[attr-defined]

    @property
    def position(self) -> np.ndarray:
        """(3,) camera centre, world frame, metres."""
        return self.camera_to_world[:3, 3].copy()

    @property
    def body_to_world(self) -> np.ndarray:
        """(4, 4) pose of the REP-103 camera body frame (x forward, y left, z up)."""
        return self.camera_to_world @ make_transform(R_BODY_OPTICAL.T, np.zeros(3))

    def to_camera(self, points_world: np.ndarray) -> np.ndarray:
        """(N, 3) world points -> (N, 3) optical-frame points, metres."""
        return transform_points(self.world_to_camera, np.asarray(points_world, dtype=float).reshape(-1, 3))

    def project(self, points_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3) world points -> ((N, 2) pixels (u, v), (N,) depth = optical z, metres).

        Points at or behind the image plane get NaN pixels; callers filter on depth.
        """
        pc = self.to_camera(points_world)
        depth = pc[:, 2]
        behind = depth <= MIN_DEPTH_M
        uv = pc[:, :2] / np.where(behind, 1.0, depth)[:, None] * self.K[[0, 1], [0, 1]] + self.K[:2, 2]
        uv[behind] = np.nan
        return uv, depth

    def pixel_rays(self, uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 2) pixels -> (origin (3,), (N, 3) unit directions), world frame."""
        uv = np.asarray(uv, dtype=float).reshape(-1, 2)
        x = (uv[:, 0] - self.K[0, 2]) / self.K[0, 0]
        y = (uv[:, 1] - self.K[1, 2]) / self.K[1, 1]
        d_cam = np.stack([x, y, np.ones_like(x)], axis=1)
        d_world = d_cam @ self.camera_to_world[:3, :3].T
        return self.position, d_world / np.linalg.norm(d_world, axis=1, keepdims=True)

    def in_image(self, uv: np.ndarray) -> np.ndarray:
        """(N,) bool: the rounded pixel lies inside the image (as the reference generator rounds)."""
        r = np.round(uv)
        ok = np.isfinite(r).all(axis=1)
        r = np.where(ok[:, None], r, -1)
        return ok & (r[:, 0] >= 0) & (r[:, 0] < self.width) & (r[:, 1] >= 0) & (r[:, 1] < self.height)

    def normalize(self, uv: np.ndarray) -> np.ndarray:
        """(N, 2) pixels -> (N, 2) normalized image coordinates in [0, 1]."""
        return np.clip(np.asarray(uv, dtype=float) / [self.width, self.height], 0.0, 1.0)

    def denormalize(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) normalized image coordinates -> (N, 2) pixels."""
        return np.asarray(xy, dtype=float) * [self.width, self.height]

    def transformed(self, T: np.ndarray) -> CameraModel:
        """The same camera after moving the whole world by the rigid (4, 4) transform `T`."""
        return CameraModel(self.K, self.width, self.height, T @ self.camera_to_world)


def _image_side(value: object, field: str) -> int:
    """A whole number of pixels in [1, MAX_IMAGE_SIDE]; SceneError naming `field` otherwise."""
    try:
        side = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        side = float("nan")
    if isinstance(value, bool) or not (np.isfinite(side) and side == int(side) and 0 < side <= MAX_IMAGE_SIDE):
        raise SceneError(f"{field} must be a whole number in [1, {MAX_IMAGE_SIDE}] pixels, got {value!r}")
    return int(side)
