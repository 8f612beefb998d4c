"""A thin MoveIt 2 executor for pick-and-place plans (the planner node's `executor: moveit`).

MoveItPy (`moveit_py`, Debian `ros-<distro>-moveit-py`) is imported only when this executor is
constructed; where it is missing, construction fails with one line saying how to install it or to
use `executor:=none`. The MoveIt configuration of the robot (URDF, SRDF with the planning groups
and named states, kinematics, controllers) comes from the user's MoveIt launch, as for any
MoveItPy program.

The plan's poses are tool-centre-point (TCP) poses; MoveIt is asked to bring `end_effector_link`
there, shifted back by `tcp_offset_m` along the link's z axis when that link is not the TCP (the
Panda: `panda_hand_tcp` is the TCP, `panda_hand` lies 0.1034 m above it). The goal sequence
(`plan_steps`) is plain data and is tested without MoveIt.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from geometry_msgs.msg import PoseStamped
from std_msgs.msg import Header

from robospatial_ros.core.configio import check_field_types
from robospatial_ros.core.errors import RoboSpatialError
from robospatial_ros.core.geometry import make_transform
from robospatial_ros.core.planning.pick_place import PickPlacePlan
from robospatial_ros.ros.conversions import matrix_to_pose


class MoveItUnavailableError(RoboSpatialError):
    """MoveIt 2's Python API is not installed."""


@dataclass(frozen=True)
class MoveItConfig:
    """What MoveIt must know about the robot; names as in the robot's MoveIt config (SRDF)."""

    planning_group: str = "panda_arm"
    hand_group: str = "hand"
    end_effector_link: str = "panda_hand_tcp"
    # The TCP lies this far along end_effector_link's z axis (0 when the link is the TCP).
    tcp_offset_m: float = 0.0
    home_state: str = "ready"  # named states of the SRDF
    open_state: str = "open"
    closed_state: str = "close"
    node_name: str = "robospatial_moveit"  # the node MoveItPy creates

    def __post_init__(self) -> None:
        check_field_types(self)
        for name in (
            "planning_group",
            "hand_group",
            "end_effector_link",
            "home_state",
            "open_state",
            "closed_state",
            "node_name",
        ):
            if not getattr(self, name).strip():
                raise ValueError(f"{name} must not be empty")


@dataclass(frozen=True)
class Step:
    """One MoveIt goal: a pose of the end-effector link (arm) or a named state of a group."""

    name: str  # waypoint name (pre_grasp, ...) or named state
    group: str
    pose: PoseStamped | None = None  # None: `name` is a named state of `group`


def link_pose(tcp_pose: np.ndarray, tcp_offset_m: float) -> np.ndarray:
    """(4, 4) pose of the end-effector link that puts the TCP at `tcp_pose` (4, 4)."""
    return np.asarray(tcp_pose, dtype=float) @ make_transform(np.eye(3), np.array([0.0, 0.0, -tcp_offset_m]))


def plan_steps(plan: PickPlacePlan, frame_id: str, config: MoveItConfig) -> list[Step]:
    """The goals, in order: open, pre-grasp, grasp, close, lift, pre-place, place, open, retreat, home."""
    header = Header(frame_id=frame_id)

    def arm(name: str) -> Step:
        pose = matrix_to_pose(link_pose(getattr(plan, name), config.tcp_offset_m))
        return Step(name, config.planning_group, PoseStamped(header=header, pose=pose))

    hand, c = config.hand_group, config
    return [
        Step(c.open_state, hand),
        arm("pre_grasp"),
        arm("grasp"),
        Step(c.closed_state, hand),
        arm("lift"),
        arm("pre_place"),
        arm("place"),
        Step(c.open_state, hand),
        arm("retreat"),
        Step(c.home_state, c.planning_group),
    ]


def import_moveit_py() -> Any:
    """The MoveItPy class, or MoveItUnavailableError with the one-line fix."""
    try:
        from moveit.planning import MoveItPy
    except ImportError:
        distro = os.environ.get("ROS_DISTRO") or "<distro>"
        raise MoveItUnavailableError(
            f"MoveIt 2 (moveit_py) is not installed: install ros-{distro}-moveit-py or use executor:=none"
        ) from None
    return MoveItPy


class MoveItExecutor:
    """Plans (and executes) a pick-and-place plan goal by goal with MoveItPy."""

    def __init__(self, config: MoveItConfig):
        self.config = config
        moveit_py = import_moveit_py()
        self.robot = moveit_py(node_name=config.node_name)
        self.components = {g: self.robot.get_planning_component(g) for g in {config.planning_group, config.hand_group}}

    def run(self, plan: PickPlacePlan, frame_id: str) -> tuple[bool, str]:
        """Plan and execute every step from the robot's current state; (success, one line)."""
        steps = plan_steps(plan, frame_id, self.config)
        for k, step in enumerate(steps):
            component = self.components[step.group]
            component.set_start_state_to_current_state()
            if step.pose is None:
                component.set_goal_state(configuration_name=step.name)
            else:
                component.set_goal_state(pose_stamped_msg=step.pose, pose_link=self.config.end_effector_link)
            result = component.plan()
            if not result:
                return False, f"MoveIt found no motion to {step.name} (step {k + 1} of {len(steps)})"
            self.robot.execute(result.trajectory, controllers=[])
        return True, f"executed {len(steps)} MoveIt motions"
