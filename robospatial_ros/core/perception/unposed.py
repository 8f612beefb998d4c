"""Frames without a camera pose: the support plane defines the world.

Gravity comes from the dominant plane in view whose normal lies within `cone_deg` of the
usual "up" of a camera looking down at a table (between image-up for a level camera and
toward the lens for a top-down one): walls seen to the side or straight ahead of a tilted
camera fall outside that cone. The world then has z up = that normal, its origin on the
support right below the camera and x along the camera's heading (its optical axis, or
image-up for a top-down view, projected onto the plane); y = z x x (left), as REP-103.
"""

from __future__ import annotations

import numpy as np

from robospatial_ros.core.perception.errors import NoSupportPlaneError
from robospatial_ros.core.perception.plane import PlaneSearch, SupportPlane, best_plane_along

# (3,) "up" expected in the optical frame (x right, y down, z forward) of a camera pitched 45 deg down.
UP_PRIOR_OPTICAL = np.array([0.0, -1.0, -1.0]) / np.sqrt(2.0)


def gravity_plane(
    points_optical: np.ndarray, search: PlaneSearch, cone_deg: float, rng: np.random.Generator
) -> SupportPlane:
    """The dominant plane of (N, 3) optical-frame points (metres) within `cone_deg` of UP_PRIOR_OPTICAL.

    Its normal points toward the camera (the camera is above it). NoSupportPlaneError if none.
    """
    wide = PlaneSearch(
        search.distance_threshold_m, search.iterations, search.sample_points, cone_deg, search.min_inliers, 1.0
    )
    plane = best_plane_along(points_optical, wide, UP_PRIOR_OPTICAL, rng)
    if plane is None:
        raise NoSupportPlaneError(
            f"no support plane: no plane in view faces the camera from below within {cone_deg:g} deg of a "
            f"table seen by a camera tilted 45 deg down (a camera looking up, or rolled on its side?)"
        )
    if plane.offset_m <= 0:  # the camera (the optical origin) must lie on the normal's side
        plane = SupportPlane(-plane.normal, -plane.offset_m)
    return plane


def pose_from_plane(plane_optical: SupportPlane) -> np.ndarray:
    """(4, 4) camera-to-world pose whose world is defined by a plane given in the optical frame.

    z = the plane normal (toward the camera), origin = the foot of the camera on the plane,
    x = the optical axis (or, looking straight down, image-up) projected onto the plane.
    """
    n = np.asarray(plane_optical.normal, dtype=float)
    n = n / np.linalg.norm(n)
    if n @ np.zeros(3) + plane_optical.offset_m < 0:  # orient the normal toward the camera
        n, offset = -n, -plane_optical.offset_m
    else:
        offset = plane_optical.offset_m
    heading = np.array([0.0, 0.0, 1.0])  # the optical axis
    if abs(heading @ n) > 0.97:  # within ~14 deg of straight down: image-up is the better heading
        heading = np.array([0.0, -1.0, 0.0])
    x = heading - (heading @ n) * n
    x /= np.linalg.norm(x)
    y = np.cross(n, x)
    R = np.stack([x, y, n])  # rows: world axes in the optical frame -> optical-to-world rotation
    foot = -offset * n  # (3,) the plane point under the camera, optical frame, metres
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = -R @ foot
    return T
