"""Top-down pick-and-place plans for a parallel gripper, in the robot base frame.

All poses are (4, 4) poses of the gripper's tool centre point (TCP: the grasp centre between
the fingertips) in the base frame (REP-103: x forward, y left, z up, metres). The TCP frame
follows the Franka hand: z is the approach direction (pointing down for a top-down grasp) and
y is the axis the fingers travel along, so the fingers close across the TCP y axis.

The grasp closes across the object's narrower horizontal box axis, at `grasp_depth_m` below
its top (but never lower than `min_grasp_height_m` above its bottom, so the fingertips clear
the support). The object is carried rigidly: the place pose puts the box's bottom centre on
`place_xyz` (z = the support's top), turned by `place_yaw_offset_rad` about the vertical.
Of the equivalent grasps (the hand turned by 180 degrees, or by 90 degrees for a square object)
we keep one whose open hand clears the given obstacles and whose wrist stays nearest its
mid-range at both pick and place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from robospatial_ros.core.errors import ConfigError, RoboSpatialError
from robospatial_ros.core.geometry import (
    OrientedBox,
    convex_hull_2d,
    convex_polygons_overlap,
    invert_transform,
    make_transform,
    rot_z,
)
from robospatial_ros.core.scene import Scene

# TCP orientation at yaw 0: x forward, y to the right, z down (the Panda's "ready" hand).
_R_DOWN = np.diag([1.0, -1.0, -1.0])


@dataclass(frozen=True)
class GripperGeometry:
    """The hand's shape around the TCP, for clearance checks (Franka hand: measured from its meshes)."""

    hand_half_size_m: tuple[float, float] = (0.032, 0.104)  # hand body, along TCP x and y (finger axis)
    hand_bottom_above_tcp_m: float = 0.037  # the hand body's underside is this far above the TCP
    finger_half_width_m: float = 0.0105  # along TCP x
    finger_thickness_m: float = 0.027  # along TCP y, outward from the finger's inner face
    fingertip_below_tcp_m: float = 0.009


class PlanningError(RoboSpatialError, ValueError):
    """No plan can be made: the object cannot be grasped, or the inputs are malformed."""


class UnsafeGoalError(PlanningError):
    """A pose of the plan lies outside the configured workspace."""


@dataclass(frozen=True)
class PickPlaceConfig:
    """Top-down pick-and-place geometry. Lengths in metres."""

    approach_height_m: float = 0.10  # pre-grasp / pre-place / retreat above the grasp and place poses
    lift_height_m: float = 0.18  # lift the object this far above its grasp height before moving it
    grasp_depth_m: float = 0.03  # fingertip centre below the object's top
    min_grasp_height_m: float = 0.015  # ... but at least this far above the object's bottom
    gripper_open_m: float = 0.08  # finger opening for the approach and the release (Panda: 0.08)
    finger_clearance_m: float = 0.005  # free space each side of the object when the fingers come down
    # Opening commanded to grasp. 0: close until the gripper's force limit stops the fingers on the object
    # (the box's width may overstate what lies between the fingers, e.g. a curved banana's).
    grasp_close_m: float = 0.0
    max_object_width_m: float = 0.07  # widest graspable object (across the fingers)
    place_clearance_m: float = 0.005  # release the object this high above the support
    # TCP yaw, from the radial direction, at which the wrist joint is mid-range (Panda: joint 7 at 0 turns
    # the hand 45 degrees from its "ready" yaw); grasps are turned to stay near it at pick and place.
    wrist_neutral_yaw_rad: float = np.pi / 4
    collision_margin_m: float = 0.005  # the open hand keeps this far from obstacles
    gripper: GripperGeometry = field(default_factory=GripperGeometry)
    max_reach_m: float = 0.78  # TCP distance from the base's z axis (the Panda's top-down reach)
    min_reach_m: float = 0.30  # ... and no nearer: top-down poses close to the base are out of the wrist's range
    workspace_min_xyz_m: tuple[float, float, float] = (0.15, -0.55, 0.0)
    workspace_max_xyz_m: tuple[float, float, float] = (0.85, 0.55, 0.70)

    def __post_init__(self) -> None:
        if not 0 <= self.min_reach_m < self.max_reach_m:
            raise ConfigError("min_reach_m must be >= 0 and below max_reach_m")
        for name in ("approach_height_m", "lift_height_m", "gripper_open_m", "max_object_width_m", "max_reach_m"):
            if not (np.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        for name in (
            "grasp_depth_m",
            "min_grasp_height_m",
            "finger_clearance_m",
            "grasp_close_m",
            "place_clearance_m",
            "collision_margin_m",
        ):
            if not (np.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise ConfigError(f"{name} must be non-negative, got {getattr(self, name)}")
        if not np.isfinite(self.wrist_neutral_yaw_rad):
            raise ConfigError("wrist_neutral_yaw_rad must be finite")
        try:
            lo, hi = np.asarray(self.workspace_min_xyz_m, float), np.asarray(self.workspace_max_xyz_m, float)
        except (TypeError, ValueError):
            raise ConfigError("workspace bounds must be numbers") from None
        if lo.shape != (3,) or hi.shape != (3,) or not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            raise ConfigError("workspace_min_xyz_m and workspace_max_xyz_m must be 3 finite numbers each")
        if np.any(hi <= lo):
            raise ConfigError("workspace_min_xyz_m must be below workspace_max_xyz_m on every axis")
        object.__setattr__(self, "workspace_min_xyz_m", tuple(map(float, lo)))
        object.__setattr__(self, "workspace_max_xyz_m", tuple(map(float, hi)))


@dataclass(frozen=True)
class PickPlacePlan:
    """TCP poses (4, 4), base frame, in execution order, and the gripper openings (metres)."""

    object_id: str
    pick_box: OrientedBox  # the object's box when planned
    place_xyz: np.ndarray  # (3,) where the box's bottom centre goes, base frame
    place_yaw_offset_rad: float
    pre_grasp: np.ndarray
    grasp: np.ndarray
    lift: np.ndarray
    pre_place: np.ndarray
    place: np.ndarray
    retreat: np.ndarray
    object_width_m: float  # the box's extent across the fingers
    gripper_open_m: float  # opening for the approach and after the release
    gripper_grasp_m: float  # opening commanded to hold the object (0: close to the force limit)

    def waypoints(self) -> list[tuple[str, np.ndarray]]:
        """[(name, (4, 4) TCP pose)] in execution order."""
        names = ("pre_grasp", "grasp", "lift", "pre_place", "place", "retreat")
        return [(n, getattr(self, n)) for n in names]

    @property
    def object_pose_at_place(self) -> np.ndarray:
        """(4, 4) the object's (yawed) bottom-centre frame once placed, base frame."""
        return make_transform(rot_z(_box_yaw(self.pick_box) + self.place_yaw_offset_rad), self.place_xyz)


def _box_yaw(box: OrientedBox) -> float:
    """Heading of the box's x axis about the vertical (gravity-aligned boxes: their yaw)."""
    x = box.rotation[:, 0]
    if np.hypot(x[0], x[1]) < 1e-6:  # x points up: use the y axis, turned back by 90 degrees
        y = box.rotation[:, 1]
        return float(np.arctan2(y[1], y[0]) - np.pi / 2.0)
    return float(np.arctan2(x[1], x[0]))


def _horizontal_extents(box: OrientedBox, yaw: float) -> np.ndarray:
    """(2,) the box's footprint extents along its yawed x and y axes (tilted boxes: their shadow)."""
    R = rot_z(yaw).T @ box.rotation
    return np.abs(R[:2, :]) @ box.size


def _wrap(angle: float) -> float:
    return float((angle + np.pi) % (2.0 * np.pi) - np.pi)


def tcp_pose(xyz: np.ndarray, yaw: float) -> np.ndarray:
    """(4, 4) a top-down TCP pose at xyz whose finger axis (TCP y) points along yaw - 90 degrees."""
    return make_transform(rot_z(yaw) @ _R_DOWN, np.asarray(xyz, dtype=float))


def _check_workspace(poses: dict[str, np.ndarray], config: PickPlaceConfig) -> None:
    lo, hi = np.asarray(config.workspace_min_xyz_m), np.asarray(config.workspace_max_xyz_m)
    for name, T in poses.items():
        p = T[:3, 3]
        reach = float(np.hypot(p[0], p[1]))
        if reach < config.min_reach_m:
            raise UnsafeGoalError(
                f"{name} pose at ({p[0]:.3f}, {p[1]:.3f}, {p[2]:.3f}) m is {reach:.2f} m from the base, "
                f"nearer than the {config.min_reach_m:.2f} m the arm can reach top-down"
            )
        if reach > config.max_reach_m:
            raise UnsafeGoalError(
                f"{name} pose at ({p[0]:.3f}, {p[1]:.3f}, {p[2]:.3f}) m is {reach:.2f} m from the base, "
                f"beyond the arm's reach of {config.max_reach_m:.2f} m"
            )
        if np.any(p < lo - 1e-9) or np.any(p > hi + 1e-9):
            raise UnsafeGoalError(
                f"{name} pose at ({p[0]:.3f}, {p[1]:.3f}, {p[2]:.3f}) m is outside the workspace "
                f"[{lo[0]:.2f}..{hi[0]:.2f}] x [{lo[1]:.2f}..{hi[1]:.2f}] x [{lo[2]:.2f}..{hi[2]:.2f}] m"
            )


def _validated_place(place_xyz: np.ndarray, yaw_offset: float) -> np.ndarray:
    try:
        place = np.asarray(place_xyz, dtype=float).reshape(3)
    except (TypeError, ValueError):
        raise PlanningError(f"place_xyz must be 3 numbers, got {place_xyz!r}") from None
    if not (np.all(np.isfinite(place)) and np.isfinite(yaw_offset)):
        raise PlanningError("place_xyz and place_yaw_offset_rad must be finite")
    return place


def _wrist_deviation(
    tcp_yaw: float, grasp_xy: np.ndarray, place_xy: np.ndarray, offset: float, neutral: float
) -> float:
    """How far (rad) the wrist turns from its mid-range yaw, worst of pick and place: the smaller, the
    farther joint 7 stays from its limits. Yaws are measured from the radial direction (base -> TCP)."""
    dev_pick = abs(_wrap(tcp_yaw - np.arctan2(grasp_xy[1], grasp_xy[0]) - neutral))
    dev_place = abs(_wrap(tcp_yaw + offset - np.arctan2(place_xy[1], place_xy[0]) - neutral))
    return max(dev_pick, dev_place)


def hand_footprints(T: np.ndarray, opening_m: float, g: GripperGeometry) -> list[tuple[np.ndarray, float]]:
    """[((4, 2) footprint, lowest height)] of the hand body and the two open fingers at TCP pose T (4, 4).

    Footprints are world x, y rectangles, counter-clockwise; heights in metres (world z).
    """
    x_axis, y_axis, z_tcp = T[:2, 0], T[:2, 1], float(T[2, 3])

    def rect(cy: float, hx: float, hy: float) -> np.ndarray:
        c = T[:2, 3] + cy * y_axis
        corners = [
            c - hx * x_axis - hy * y_axis,
            c + hx * x_axis - hy * y_axis,
            c + hx * x_axis + hy * y_axis,
            c - hx * x_axis + hy * y_axis,
        ]
        return convex_hull_2d(np.array(corners))

    finger_c = opening_m / 2.0 + g.finger_thickness_m / 2.0
    finger_hy = g.finger_thickness_m / 2.0
    return [
        (rect(0.0, g.hand_half_size_m[0], g.hand_half_size_m[1]), z_tcp + g.hand_bottom_above_tcp_m),
        (rect(finger_c, g.finger_half_width_m, finger_hy), z_tcp - g.fingertip_below_tcp_m),
        (rect(-finger_c, g.finger_half_width_m, finger_hy), z_tcp - g.fingertip_below_tcp_m),
    ]


def hand_collisions(T: np.ndarray, obstacles: Sequence[OrientedBox], config: PickPlaceConfig) -> list[int]:
    """Indices of the obstacles that the open hand at TCP pose T (4, 4) would touch (with the margin)."""
    hit = []
    margin = config.collision_margin_m
    for polygon, bottom in hand_footprints(T, config.gripper_open_m, config.gripper):
        grown = _grow(polygon, margin)
        for i, box in enumerate(obstacles):
            if i not in hit and box.z_max > bottom - margin and convex_polygons_overlap(grown, box.footprint()):
                hit.append(i)
    return sorted(hit)


def _grow(polygon: np.ndarray, margin: float) -> np.ndarray:
    """A convex polygon pushed out from its centroid by about `margin` (enough for a rectangle)."""
    c = polygon.mean(axis=0)
    d = polygon - c
    return c + d + margin * np.sqrt(2.0) * d / np.linalg.norm(d, axis=1, keepdims=True)


def _grasp_axes(box: OrientedBox, config: PickPlaceConfig) -> list[tuple[float, float]]:
    """[(closing yaw, width across the fingers)] the gripper can close along, narrowest first."""
    yaw = _box_yaw(box)
    extents = _horizontal_extents(box, yaw)
    limit = min(config.max_object_width_m, config.gripper_open_m - 2.0 * config.finger_clearance_m)
    axes = sorted((float(extents[k]), yaw + k * np.pi / 2.0) for k in (0, 1))
    usable = [(closing, width) for width, closing in axes if width <= limit]
    if not usable:
        raise PlanningError(
            f"the object is {axes[0][0] * 100:.1f} cm wide at its narrowest; "
            f"the gripper takes at most {limit * 100:.1f} cm"
        )
    return usable


def _carried(
    grasp: np.ndarray, box: OrientedBox, place: np.ndarray, offset: float, config: PickPlaceConfig
) -> np.ndarray:
    """(4, 4) TCP pose at the place: the grasp re-applied to the object's bottom-centre frame there."""
    yaw = _box_yaw(box)
    pick_frame = make_transform(rot_z(yaw), (box.center[0], box.center[1], box.z_min))
    place_frame = make_transform(rot_z(yaw + offset), place + (0.0, 0.0, config.place_clearance_m))
    return place_frame @ invert_transform(pick_frame) @ grasp


@dataclass(frozen=True)
class _Candidate:
    cost: tuple[int, int, float]  # (obstacles hit, 0 for the narrowest axis else 1, wrist deviation)
    grasp: np.ndarray
    place: np.ndarray
    width: float
    hits: list[int]


def _candidates(
    box: OrientedBox, place: np.ndarray, offset: float, obstacles: Sequence[OrientedBox], config: PickPlaceConfig
) -> list[_Candidate]:
    """Every usable grasp (closing axis x hand flip), scored: collision-free, narrow, wrist-neutral first."""
    z = max(box.z_max - config.grasp_depth_m, box.z_min + config.min_grasp_height_m)
    z = min(z, box.z_max)
    axes = _grasp_axes(box, config)
    out = []
    for rank, (closing, width) in enumerate(axes):
        narrow = rank == 0 or width <= axes[0][1] + 0.005  # a near-square box: both axes are as good
        for flip in (0.0, np.pi):
            # TCP y = Rz(yaw) @ (0, -1, 0) points along yaw - 90 degrees: the fingers close along `closing`.
            tcp_yaw = _wrap(closing + np.pi / 2.0 + flip)
            grasp = tcp_pose((box.center[0], box.center[1], z), tcp_yaw)
            place_pose = _carried(grasp, box, place, offset, config)
            hits = sorted(
                set(hand_collisions(grasp, obstacles, config)) | set(hand_collisions(place_pose, obstacles, config))
            )
            wrist = _wrist_deviation(tcp_yaw, box.center[:2], place[:2], offset, config.wrist_neutral_yaw_rad)
            out.append(_Candidate((len(hits), 0 if narrow else 1, wrist), grasp, place_pose, width, hits))
    return sorted(out, key=lambda c: c.cost)


def plan_pick_place(
    obj_box: OrientedBox,
    place_xyz: np.ndarray,
    config: PickPlaceConfig | None = None,
    place_yaw_offset_rad: float = 0.0,
    object_id: str = "",
    obstacles: Sequence[OrientedBox] = (),
) -> PickPlacePlan:
    """Plan a top-down pick of the object in `obj_box` and its placement with its bottom at `place_xyz`.

    obj_box: the object's box, base frame (gravity-aligned in practice). place_xyz: (3,) base frame,
    metres; z is the top of the support it goes on. obstacles: boxes of the other objects (not the
    support); the grasp is turned so the open hand clears them at pick and place. Raises PlanningError
    when the object is too wide to grasp or every grasp would hit an obstacle, UnsafeGoalError when a
    pose leaves the workspace.
    """
    config = config or PickPlaceConfig()
    place = _validated_place(place_xyz, place_yaw_offset_rad)
    obstacles = list(obstacles)
    best = _candidates(obj_box, place, place_yaw_offset_rad, obstacles, config)[0]
    if best.hits:
        where = ", ".join(f"({obstacles[i].center[0]:.2f}, {obstacles[i].center[1]:.2f})" for i in best.hits)
        raise PlanningError(f"every grasp would hit a neighbouring object with the hand (obstacles at {where} m)")
    up = np.array([0.0, 0.0, 1.0])
    poses = {
        "pre_grasp": _raised(best.grasp, config.approach_height_m * up),
        "grasp": best.grasp,
        "lift": _raised(best.grasp, config.lift_height_m * up),
        "pre_place": _raised(best.place, config.lift_height_m * up),
        "place": best.place,
        "retreat": _raised(best.place, config.approach_height_m * up),
    }
    _check_workspace(poses, config)
    return PickPlacePlan(
        object_id=object_id,
        pick_box=obj_box,
        place_xyz=place,
        place_yaw_offset_rad=float(place_yaw_offset_rad),
        object_width_m=best.width,
        gripper_open_m=config.gripper_open_m,
        gripper_grasp_m=min(config.grasp_close_m, best.width),
        **poses,
    )


PERCEIVED_HEIGHT_SLACK_M = 0.01


def in_reach(points: np.ndarray, config: PickPlaceConfig) -> np.ndarray:
    """(N,) bool: can an object's bottom centre go to each of the (N, 3) base-frame points?

    The same reach and workspace limits `plan_pick_place` applies to the place poses, so a
    placement chosen among these points does not fail planning for being out of reach.
    """
    p = np.asarray(points, dtype=float).reshape(-1, 3)
    lo, hi = np.asarray(config.workspace_min_xyz_m), np.asarray(config.workspace_max_xyz_m)
    top = p[:, 2] + config.lift_height_m + config.approach_height_m  # highest TCP above the spot
    radius = np.hypot(p[:, 0], p[:, 1])
    ok = (radius >= config.min_reach_m) & (radius <= config.max_reach_m)
    ok &= np.all((p[:, :2] >= lo[:2]) & (p[:, :2] <= hi[:2]), axis=1)
    # The spot itself may sit a few mm below the workspace floor (a perceived table top); the hand,
    # above it, is what the floor protects, and plan_pick_place checks its poses.
    return ok & (p[:, 2] >= lo[2] - PERCEIVED_HEIGHT_SLACK_M) & (top <= hi[2])


def scene_obstacles(scene: Scene, target: str, support_tolerance_m: float = 0.01) -> list[OrientedBox]:
    """Boxes of the scene's objects other than `target` that the hand could hit: supports excluded
    (objects whose top is within support_tolerance_m of the target's bottom, e.g. the table)."""
    obj = scene.get(target)
    floor = obj.box.z_min + support_tolerance_m
    return [o.box for o in scene.objects if o.name != obj.name and o.box.z_max > floor]


def _raised(T: np.ndarray, offset: np.ndarray) -> np.ndarray:
    out = T.copy()
    out[:3, 3] += offset
    return out
