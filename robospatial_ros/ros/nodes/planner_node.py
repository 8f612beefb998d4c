"""The planner node: placement answers -> top-down pick-and-place plans (core.planning).

Subscribes /robospatial/answer (SpatialAnswer) and /robospatial/objects (the latest scene, for the
target's box and its neighbours); for every successful answer with a placement it plans the pick
and place, checks the workspace (UnsafeGoalError) and the arm's reach by IK, and publishes a
PickPlacePlan on /robospatial/plan (`plan_only` true by default: a dry run on a real robot) with
a status event "plan" (OK or ERROR, `id` = the answer's query_id). `executor: moveit` also carries
out plans that are not plan_only with MoveIt 2 (moveit_adapter); `none` leaves execution to
whoever subscribes to the plans (the simulation bridge).

Planning is the main job's plannability test (core.reasoning.job.plan_at), the one the reasoner
node chose the placement with, so a placement the reasoner published is accepted here.
Parameters: PlannerNodeConfig (NODE_CONFIG).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from rclpy.node import Node

from robospatial_ros.core.configio import validate_fields
from robospatial_ros.core.errors import ConfigError, RoboSpatialError
from robospatial_ros.core.planning.pick_place import PickPlaceConfig, PickPlacePlan, PlanningError
from robospatial_ros.core.planning.reachability import load_arm_model
from robospatial_ros.core.reasoning.job import JobConfig, plan_at
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

EXECUTORS = ("none", "moveit")


@dataclass(frozen=True)
class PlannerNodeConfig:
    """The planner node's parameters (config/planner.yaml); nested configs are dotted: planning.max_reach_m."""

    base_frame: str = "panda_link0"  # plans, objects and placements are in this frame
    plan_only: bool = True  # published plans are dry runs: nobody executes them
    executor: str = "none"  # none | moveit
    check_reachability: bool = True  # IK on the Panda model before publishing (the reasoner's job.*: keep equal)
    check_path: bool = True  # ... along the straight moves too, not only at the waypoints
    # Top-down pick and place; keep the reach equal to the reasoner's, so it only proposes what is planned here.
    planning: PickPlaceConfig = field(default_factory=PickPlaceConfig)
    moveit: MoveItConfig = field(default_factory=MoveItConfig)

    def __post_init__(self) -> None:
        validate_fields(self, "planner")
        if self.executor not in EXECUTORS:
            raise ConfigError(f"unknown executor {self.executor!r}; use one of {', '.join(EXECUTORS)}")
        if not self.base_frame.strip():
            raise ConfigError("base_frame must name a frame")

    @property
    def job(self) -> JobConfig:
        """The main job's plannability test, as configured here (one placement: no retries)."""
        return JobConfig(max_plan_tries=1, check_reachability=self.check_reachability, check_path=self.check_path)


NODE_CONFIG = PlannerNodeConfig


class PlannerNode(Node):
    def __init__(self, **kwargs: Any):
        super().__init__("planner", **kwargs)
        self.status = StatusReporter(self)
        declare_config(self, PlannerNodeConfig())
        try:
            self._configure()
        except RoboSpatialError as exc:
            self.get_logger().error(f"cannot start: {exc}")
            raise
        self._scene: Scene | None = None
        self._objects_msg: DetectedObjectArray | None = None  # the latest, not converted yet (see _current_scene)
        self._pending: SpatialAnswer | None = None  # a placement that came before any objects
        self._scene_frame = ""
        self._plans = self.create_publisher(PlanMsg, PLAN_TOPIC, RELIABLE)
        self._objects_sub = self.create_subscription(DetectedObjectArray, OBJECTS_TOPIC, self._on_objects, LATCHED)
        self.create_subscription(SpatialAnswer, ANSWER_TOPIC, self._on_answer, RELIABLE)
        cfg = self.config
        mode = "dry run (plan_only)" if cfg.plan_only else f"executor {cfg.executor}"
        self.status.ok("ready", f"planning placements in {cfg.base_frame}, {mode}")

    def _configure(self) -> None:
        self.config = read_config(self, PlannerNodeConfig)
        if self.config.check_reachability:
            load_arm_model()  # mujoco + the Panda model, once (or a one-line error)
        self.moveit = None
        if self.config.executor == "moveit":
            self.moveit = MoveItExecutor(self.config.moveit)

    def _on_objects(self, msg: DetectedObjectArray) -> None:
        """Only kept: the Scene is built when a placement needs it (`_current_scene`), never per message."""
        self._objects_msg = msg
        if self._pending is not None and self._current_scene() is not None:
            pending, self._pending = self._pending, None
            self._on_answer(pending)

    def _current_scene(self) -> Scene | None:
        """The scene of the latest objects message, converted once when one arrived since the last;
        a bad message is reported and the previous scene kept."""
        msg, self._objects_msg = self._objects_msg, None
        if msg is None:
            return self._scene
        try:
            self._scene = scene_from_msg(msg)
            self._scene_frame = msg.header.frame_id or self.config.base_frame
        except RoboSpatialError as exc:
            self.status.warn("objects", f"ignored an objects message: {exc}")
        except Exception as exc:  # never die from a message
            self.status.error("objects", f"ignored an objects message: {type(exc).__name__}: {exc}")
        return self._scene

    def _on_answer(self, msg: SpatialAnswer) -> None:
        if not (msg.success and msg.has_placement):
            return
        qid = msg.query_id
        scene = self._current_scene()
        if scene is None:
            # The reasoner chose it on objects this node has not received yet (discovery under load):
            # plan it when they arrive (the latest such placement only).
            self._pending = msg
            self.status.warn("plan", f"waiting for objects on {self._objects_sub.topic_name} to plan {qid}", qid)
            return
        try:
            plan = self._plan(msg, scene)
        except RoboSpatialError as exc:
            self.status.error("plan", f"cannot move the {msg.target or '?'}: {exc}", qid)
            return
        except Exception as exc:  # never die from a message
            self.status.error("plan", f"internal error planning for {qid}: {type(exc).__name__}: {exc}", qid)
            return
        out = plan_to_msg(plan, qid, self.config.plan_only)
        out.header.frame_id = self.config.base_frame
        out.header.stamp = self.get_clock().now().to_msg()
        self._plans.publish(out)
        p, g = plan.place_xyz, plan.grasp[:3, 3]
        self.status.ok(
            "plan",
            f"pick the {plan.object_id} at ({g[0]:.3f}, {g[1]:.3f}, {g[2]:.3f}), place at "
            f"({p[0]:.3f}, {p[1]:.3f}, {p[2]:.3f}) m{' (dry run)' if self.config.plan_only else ''}",
            qid,
        )
        if self.moveit is not None and not self.config.plan_only:
            self._execute(plan, qid)

    def _plan(self, msg: SpatialAnswer, scene: Scene) -> PickPlacePlan:
        cfg = self.config
        frame = msg.header.frame_id or self._scene_frame
        for what, got in (("the placement is", frame), ("the objects are", self._scene_frame)):
            if got != cfg.base_frame:
                raise PlanningError(f"{what} in frame {got!r}; plans are made in {cfg.base_frame!r} (no tf lookup)")
        T = pose_to_matrix(msg.placement)  # (4, 4) base frame, metres; the turn is about z only
        yaw = math.atan2(float(T[1, 0]), float(T[0, 0]))
        return plan_at(scene, msg.target, T[:3, 3], yaw, cfg.planning, cfg.job)

    def _execute(self, plan: PickPlacePlan, qid: str) -> None:
        try:
            ok, reason = self.moveit.run(plan, self.config.base_frame)  # type: ignore[union-attr]
        except Exception as exc:  # MoveIt errors are reported, never fatal
            ok, reason = False, f"MoveIt failed: {type(exc).__name__}: {exc}"
        (self.status.ok if ok else self.status.error)("execution", reason, qid)


def main(args: list[str] | None = None) -> int:
    return run_node(PlannerNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
