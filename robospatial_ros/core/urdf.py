"""Fixed-joint transforms from a URDF (the workcell's camera mount), without ROS.

Enough of URDF for a cell description: links, fixed joints with <origin xyz rpy>. Moving
joints are read at their zero position.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from robospatial_ros.core.errors import RoboSpatialError
from robospatial_ros.core.geometry import make_transform, rot_x, rot_y, rot_z


class UrdfError(RoboSpatialError, ValueError):
    """The URDF cannot be read or does not connect the requested frames."""


def _origin(joint: ET.Element) -> np.ndarray:
    origin = joint.find("origin")
    xyz = np.zeros(3) if origin is None else np.array(origin.get("xyz", "0 0 0").split(), dtype=float)
    rpy = np.zeros(3) if origin is None else np.array(origin.get("rpy", "0 0 0").split(), dtype=float)
    return make_transform(rot_z(rpy[2]) @ rot_y(rpy[1]) @ rot_x(rpy[0]), xyz)  # URDF: fixed-axis roll-pitch-yaw


def frame_transform(urdf: str | Path, parent: str, child: str) -> np.ndarray:
    """(4, 4) pose of `child` in `parent` (child-to-parent), following joints from child up to parent."""
    try:
        root = ET.parse(str(urdf)).getroot()
    except (OSError, ET.ParseError) as exc:
        raise UrdfError(f"cannot read URDF {urdf}: {exc}") from None
    up = {j.find("child").get("link"): (j.find("parent").get("link"), _origin(j)) for j in root.iter("joint")}
    T, link = np.eye(4), child
    while link != parent:
        if link not in up:
            raise UrdfError(f"URDF {urdf}: no chain of joints from {parent!r} to {child!r}")
        link, joint_T = up[link]
        T = joint_T @ T
    return T
