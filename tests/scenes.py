"""Small analytic scenes whose answers can be worked out by hand.

World: x forward, y left, z up (REP-103); the table top is z = 0 unless shifted.
"""

from __future__ import annotations

import numpy as np

from robospatial_ros.core.camera import CameraModel
from robospatial_ros.core.geometry import OrientedBox
from robospatial_ros.core.scene import Scene, SceneObject

TABLE = "table"


def cube(
    name: str,
    x: float,
    y: float,
    size: float = 0.1,
    z0: float = 0.0,
    yaw: float = 0.0,
    height: float | None = None,
    facing: bool = True,
) -> SceneObject:
    """A box of footprint `size` standing on z0 (its bottom face) at (x, y)."""
    h = size if height is None else height
    box = OrientedBox.axis_aligned([x, y, z0 + h / 2], [size, size, h], yaw)
    return SceneObject(name, box, box.rotation[:, 0] if facing else None)


def table(size_x: float = 2.0, size_y: float = 2.0, top: float = 0.0, cx: float = 0.5) -> SceneObject:
    return SceneObject(TABLE, OrientedBox.axis_aligned([cx, 0.0, top - 0.05], [size_x, size_y, 0.1]))


def level_camera(x: float = -1.0, z: float = 0.05) -> CameraModel:
    """Looks horizontally along +x: image x grows toward -y, depth = x - camera x."""
    return CameraModel.look_at([x, 0.0, z], [x + 1.0, 0.0, z])


def tilted_camera(eye: tuple = (-0.6, 0.0, 0.9), target: tuple = (0.4, 0.0, 0.0)) -> CameraModel:
    """Looks down at the table along +x: image left is world +y."""
    return CameraModel.look_at(np.array(eye), np.array(target))


def scene(*objects: SceneObject, camera: CameraModel | None = None, with_table: bool = True) -> Scene:
    objs = ((table(),) if with_table else ()) + objects
    return Scene(objs, camera or tilted_camera())
