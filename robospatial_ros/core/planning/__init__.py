"""Motion planning without ROS: top-down pick-and-place plans in the robot base frame, and the arm's
inverse kinematics (`ik`, `reachability`; mujoco is imported only when an IK solver is built)."""

from robospatial_ros.core.planning.ik import IKConfig, IKError
from robospatial_ros.core.planning.pick_place import (
    GripperGeometry,
    PickPlaceConfig,
    PickPlacePlan,
    PlanningError,
    UnsafeGoalError,
    plan_pick_place,
    scene_obstacles,
)

__all__ = [
    "GripperGeometry",
    "IKConfig",
    "IKError",
    "PickPlaceConfig",
    "PickPlacePlan",
    "PlanningError",
    "UnsafeGoalError",
    "plan_pick_place",
    "scene_obstacles",
]
