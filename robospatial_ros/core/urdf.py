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


def _link_box(root: ET.Element, link: str, urdf: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """((4, 4) box pose in the link frame, (3,) full size in metres) of a link's collision (or visual) box."""
    node = next((n for n in root.iter("link") if n.get("name") == link), None)
    if node is None:
        raise UrdfError(f"URDF {urdf}: no link {link!r}")
    for tag in ("collision", "visual"):
        for element in node.iter(tag):
            box = element.find("geometry/box")
            if box is not None:
                size = np.array(box.get("size", "0 0 0").split(), dtype=float)
                return _origin(element), size
    raise UrdfError(f"URDF {urdf}: link {link!r} has no <box> geometry to bound a workspace")


def workspace_from_urdf(
    urdf: str | Path,
    table_link: str = "table",
    base_link: str = "panda_link0",
    height_m: float = 0.6,
    below_m: float = 0.05,
    base_clearance_m: float = 0.15,
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """The perception workspace over a table link's box: ((x, y, z) min, (x, y, z) max) in `base_link`, metres.

    x/y: the axis-aligned bounds of the box's top face, starting no nearer than `base_clearance_m`
    in front of the robot base (its x axis points forward, REP-103), so the base and its mounting
    plate on the table stay out; z: from `below_m` under the top surface (the support plane's
    noise) to `height_m` above it. The floor, chairs, the robot's stand fall outside.
    """
    try:
        root = ET.parse(str(urdf)).getroot()
    except (OSError, ET.ParseError) as exc:
        raise UrdfError(f"cannot read URDF {urdf}: {exc}") from None
    box_pose, size = _link_box(root, table_link, urdf)
    T = frame_transform(urdf, base_link, table_link) @ box_pose  # (4, 4) box centre in the base frame
    half = size / 2.0
    top = np.array([[sx * half[0], sy * half[1], half[2]] for sx in (-1, 1) for sy in (-1, 1)])  # (4, 3) box frame
    corners = top @ T[:3, :3].T + T[:3, 3]  # (4, 3) base frame, metres
    z_top = float(corners[:, 2].max())
    x_min = max(float(corners[:, 0].min()), base_clearance_m)
    if x_min >= float(corners[:, 0].max()):
        raise UrdfError(f"URDF {urdf}: link {table_link!r} lies entirely within base_clearance_m of {base_link!r}")
    lo = (x_min, float(corners[:, 1].min()), z_top - below_m)
    hi = (float(corners[:, 0].max()), float(corners[:, 1].max()), z_top + height_m)
    return lo, hi
