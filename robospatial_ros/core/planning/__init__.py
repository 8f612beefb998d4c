"""Motion planning without ROS: top-down pick-and-place plans in the robot base frame."""

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
    "PickPlaceConfig",
    "PickPlacePlan",
    "PlanningError",
    "UnsafeGoalError",
    "plan_pick_place",
    "scene_obstacles",
]
