"""2D -> 3D: a model's image point becomes a point on the support plane.

A placement pixel is free space, and a depth camera looking at free space between objects
often measures the wall or floor behind the table (or nothing). So the pixel's ray is
intersected with the support plane instead of reading the depth there: the spatial core's
context points lie on the reference object's base plane, and so do these.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robospatial_ros.core.camera import CameraModel
from robospatial_ros.core.errors import RoboSpatialError
from robospatial_ros.core.scene import SceneObject
from robospatial_ros.core.spatial.view import SceneView

MIN_RAY_COS = 1e-6  # rays this close to parallel to the plane never meet it


class LiftError(RoboSpatialError):
    """No image point could be turned into a 3D point (rays miss the plane, points outside the image)."""


@dataclass(frozen=True)
class Plane:
    """n . p + offset_m = 0 in the world frame, n a unit normal pointing up."""

    normal: np.ndarray  # (3,) unit, world frame
    offset_m: float

    @classmethod
    def horizontal(cls, height_m: float) -> Plane:
        return cls(np.array([0.0, 0.0, 1.0]), -float(height_m))


@dataclass(frozen=True)
class Lifted:
    points_3d: np.ndarray  # (N, 3) float64, world frame, metres (NaN where invalid)
    valid: np.ndarray  # (N,) bool: inside the image and the ray hits the plane in front of the camera


def lift_to_plane(points_2d: np.ndarray, camera: CameraModel, plane: Plane) -> Lifted:
    """Normalized image points (N, 2) in [0, 1] -> their rays' intersections with `plane`."""
    xy = np.asarray(points_2d, dtype=float).reshape(-1, 2)
    uv = camera.denormalize(xy)  # (N, 2) pixels
    origin, dirs = camera.pixel_rays(uv)  # (3,), (N, 3) unit, world frame
    denom = dirs @ plane.normal
    with np.errstate(divide="ignore", invalid="ignore"):
        t = -(origin @ plane.normal + plane.offset_m) / denom  # metres along each ray
    inside = (xy >= 0).all(axis=1) & (xy <= 1).all(axis=1)
    valid = inside & (np.abs(denom) > MIN_RAY_COS) & (t > 0) & np.isfinite(t)
    pts = origin + dirs * np.where(valid, t, np.nan)[:, None]
    return Lifted(pts, valid)


def reference_plane(view: SceneView, reference: SceneObject) -> Plane:
    """The plane the reference stands on, at its base height: where context points live (docs/architecture.md)."""
    return Plane.horizontal(view.view(reference).z_min)


def lift_for_reference(points_2d: np.ndarray, view: SceneView, reference: SceneObject) -> Lifted:
    """Lift normalized image points onto the reference object's base plane; LiftError if none survive."""
    lifted = lift_to_plane(points_2d, view.scene.camera, reference_plane(view, reference))
    if len(lifted.valid) and not lifted.valid.any():
        raise LiftError(
            f"none of the {len(lifted.valid)} image points reaches the plane the "
            f"{reference.name} stands on (outside the image, or rays above the horizon)"
        )
    return lifted
