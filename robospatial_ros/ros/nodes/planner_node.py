"""The planner node: placement answers -> top-down pick-and-place plans (core.planning).

Subscribes /robospatial/answer (SpatialAnswer) and /robospatial/objects (the latest scene, for the
target's box and its neighbours); for every successful answer with a placement it plans the pick
and place, checks the workspace (UnsafeGoalError) and the arm's reach by IK, and publishes a
PickPlacePlan on /robospatial/plan (`plan_only` true by default: a dry run on a real robot) with
a status event "plan" (OK or ERROR, `id` = the answer's query_id). `executor: moveit` also carries
out plans that are not plan_only with MoveIt 2 (moveit_adapter); `none` leaves execution to
whoever subscribes to the plans (the simulation bridge).
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

from rclpy.node import Node

from robospatial_ros.core.errors import ConfigError, RoboSpatialError
from robospatial_ros.core.planning.pick_place import (
    PickPlaceConfig,
    PickPlacePlan,
    PlanningError,
    UnsafeGoalError,
    plan_pick_place,
    scene_obstacles,
)
from robospatial_ros.core.planning.reachability import check_reachable, load_arm_model
from robospatial_ros.core.scene import Scene
from robospatial_ros.msg import DetectedObjectArray, SpatialAnswer
from robospatial_ros.msg import PickPlacePlan as PlanMsg
from robospatial_ros.ros.common import (
    ANSWER_TOPIC,
    LATCHED,
    OBJECTS_TOPIC,
    PLAN_TOPIC,
    RELIABLE,
    StatusReporter,
    run_node,
)
from robospatial_ros.ros.conversions import plan_to_msg, pose_to_matrix, scene_from_msg
from robospatial_ros.ros.moveit_adapter import MoveItConfig, MoveItExecutor
from robospatial_ros.ros.params import declare_config, read_config

C = TypeVar("C")
EXECUTORS = ("none", "moveit")


class PlannerNode(Node):
    def __init__(self, **kwargs: Any):
        super().__init__("planner", **kwargs)
        self.status = StatusReporter(self)
        self.declare_parameter("base_frame", "panda_link0")  # plans, objects and placements are in this frame
        self.declare_parameter("plan_only", True)  # published plans are dry runs: nobody executes them
        self.declare_parameter("executor", "none")  # none | moveit
        self.declare_parameter("check_reachability", True)  # IK on the Panda model before publishing
        self.declare_parameter("check_path", True)  # ... along the straight moves too, not only the waypoints
        declare_config(self, PickPlaceConfig(), "planning.")
        declare_config(self, MoveItConfig(), "moveit.")
        try:
            self._configure()
        except RoboSpatialError as exc:
            self.get_logger().error(f"cannot start: {exc}")
            raise
        self._scene: Scene | None = None
        self._scene_frame = ""
        self._plans = self.create_publisher(PlanMsg, PLAN_TOPIC, RELIABLE)
        self._objects_sub = self.create_subscription(DetectedObjectArray, OBJECTS_TOPIC, self._on_objects, LATCHED)
        self.create_subscription(SpatialAnswer, ANSWER_TOPIC, self._on_answer, RELIABLE)
        mode = "dry run (plan_only)" if self.plan_only else f"executor {self.executor_name}"
        self.status.ok("ready", f"planning placements in {self.base_frame}, {mode}")

    def _configure(self) -> None:
        self.base_frame = str(self.get_parameter("base_frame").value)
        self.plan_only = bool(self.get_parameter("plan_only").value)
        self.executor_name = str(self.get_parameter("executor").value)
        self.check_reachability = bool(self.get_parameter("check_reachability").value)
        self.check_path = bool(self.get_parameter("check_path").value)
        if self.executor_name not in EXECUTORS:
            raise ConfigError(f"unknown executor {self.executor_name!r}; use one of {', '.join(EXECUTORS)}")
        self.config = read_config(self, PickPlaceConfig, "planning.")
        if self.check_reachability:
            load_arm_model()  # mujoco + the Panda model, once (or a one-line error)
        self.moveit = None
        if self.executor_name == "moveit":
            self.moveit = MoveItExecutor(read_config(self, MoveItConfig, "moveit."))

    def _on_objects(self, msg: DetectedObjectArray) -> None:
        try:
            self._scene = scene_from_msg(msg)
            self._scene_frame = msg.header.frame_id or self.base_frame
        except RoboSpatialError as exc:
            self.status.warn("objects", f"ignored an objects message: {exc}")
        except Exception as exc:  # never die from a message
            self.status.error("objects", f"ignored an objects message: {type(exc).__name__}: {exc}")

    def _on_answer(self, msg: SpatialAnswer) -> None:
        if not (msg.success and msg.has_placement):
            return
        qid = msg.query_id
        try:
            plan = self._plan(msg)
        except RoboSpatialError as exc:
            self.status.error("plan", f"cannot move the {msg.target or '?'}: {exc}", qid)
            return
        except Exception as exc:  # never die from a message
            self.status.error("plan", f"internal error planning for {qid}: {type(exc).__name__}: {exc}", qid)
            return
        out = plan_to_msg(plan, qid, self.plan_only)
        out.header.frame_id = self.base_frame
        out.header.stamp = self.get_clock().now().to_msg()
        self._plans.publish(out)
        p, g = plan.place_xyz, plan.grasp[:3, 3]
        self.status.ok(
            "plan",
            f"pick the {plan.object_id} at ({g[0]:.3f}, {g[1]:.3f}, {g[2]:.3f}), place at "
            f"({p[0]:.3f}, {p[1]:.3f}, {p[2]:.3f}) m{' (dry run)' if self.plan_only else ''}",
            qid,
        )
        if self.moveit is not None and not self.plan_only:
            self._execute(plan, qid)

    def _plan(self, msg: SpatialAnswer) -> PickPlacePlan:
        scene = self._scene
        if scene is None:
            raise PlanningError(f"no objects received yet on {self._objects_sub.topic_name}")
        frame = msg.header.frame_id or self._scene_frame
        for what, got in (("the placement is", frame), ("the objects are", self._scene_frame)):
            if got != self.base_frame:
                raise PlanningError(f"{what} in frame {got!r}; plans are made in {self.base_frame!r} (no tf lookup)")
        target = scene.get(msg.target)  # UnknownObjectError when the scene no longer has it
        T = pose_to_matrix(msg.placement)
        yaw = math.atan2(float(T[1, 0]), float(T[0, 0]))
        plan = plan_pick_place(target.box, T[:3, 3], self.config, yaw, target.name, scene_obstacles(scene, target.name))
        if self.check_reachability:
            ok, reason = check_reachable(plan, self.check_path)
            if not ok:
                raise UnsafeGoalError(reason)
        return plan

    def _execute(self, plan: PickPlacePlan, qid: str) -> None:
        try:
            ok, reason = self.moveit.run(plan, self.base_frame)  # type: ignore[union-attr]
        except Exception as exc:  # MoveIt errors are reported, never fatal
            ok, reason = False, f"MoveIt failed: {type(exc).__name__}: {exc}"
        (self.status.ok if ok else self.status.error)("execution", reason, qid)


def main(args: list[str] | None = None) -> int:
    return run_node(PlannerNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
