"""Sim bridge node: the MuJoCo tabletop (core.sim.tabletop) as a camera driver and a robot.

Every `publish_period_s` it publishes, with one stamp, the simulated D435's colour (rgb8), depth
(32FC1, metres) and camera_info on the default camera topics, the instance masks on
/robospatial/detections/masks and the ground-truth scene on /robospatial/sim/ground_truth
(latched). It renders again only when something moved (more than `still_tolerance`); a still
table is the last frame again with a new stamp, so the camera keeps its rate (30 Hz on a CPU)
while a render takes ~70 ms. It executes PickPlacePlan messages (unless plan_only) and reports each on
/robospatial/status (event "execution", id = the plan's command_id); std_msgs/Int32 on
/robospatial/sim/reset lays the table out again with that seed. The physics runs in real time
between renders; with `publish_clock` it publishes the sim time on /clock and stamps with it.

One thread owns the simulator and does all of it in turn (so nothing renders mid-execution);
ROS callbacks only queue plans and resets for it. Bad plans and render failures are reported
on /robospatial/status and the bridge keeps serving.

Parameters: the fields of SimBridgeNodeConfig (`sim.*`: TabletopConfig, `sim.executor.*`: its
ExecutorConfig), read-only but for RUNTIME_SETTABLE, which `ros2 param set` applies at once.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from builtin_interfaces.msg import Time
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Int32

from robospatial_ros.core.configio import validate_fields
from robospatial_ros.core.errors import ConfigError, RoboSpatialError
from robospatial_ros.msg import DetectedObjectArray, InstanceMasks, NodeStatus, PickPlacePlan
from robospatial_ros.ros.common import (
    CAMERA_INFO_TOPIC,
    COLOR_TOPIC,
    DEPTH_TOPIC,
    GROUND_TRUTH_TOPIC,
    LATCHED,
    PLAN_TOPIC,
    RELIABLE,
    RESET_TOPIC,
    SENSOR,
    StatusReporter,
    run_node,
)
from robospatial_ros.ros.conversions import (
    MessageError,
    camera_info_msg,
    image_msg,
    masks_to_msg,
    plan_from_msg,
    scene_to_msg,
)
from robospatial_ros.ros.nodes.perception_node import MASKS_TOPIC
from robospatial_ros.ros.params import declare_config, on_config_change, read_config
from robospatial_ros.sim.tabletop import TabletopConfig, TabletopSim

CLOCK_TOPIC = "/clock"
_MAX_CATCH_UP_S = 0.5  # the physics never steps more than this at once (after a stall)
_ERROR_REPEAT_S = 5.0


@dataclass(frozen=True)
class SimBridgeNodeConfig:
    """The sim bridge's parameters (names as here, the simulator's dotted: sim.seed, sim.executor.settle_s)."""

    base_frame: str = "panda_link0"  # the sim's world frame = the robot base (ground truth, plans)
    camera_frame: str = "camera_optical_frame"  # frame_id of the images and camera_info
    publish_period_s: float = 0.2  # publish a frame this often (a render takes ~70 ms on CPU)
    # Render again once any joint moved more than this since the last render (metres; radians and
    # quaternion parts for rotations): 1e-4 is under a tenth of a pixel at the table. 0: every frame.
    still_tolerance: float = 1e-4
    publish_clock: bool = False  # publish the sim time on /clock and stamp with it (always, with use_sim_time)
    clock_period_s: float = 0.02  # /clock period (with publish_clock)
    # The tabletop: layout, camera, physics (metres, degrees). fixed_poses (nested lists) cannot be
    # a ROS parameter: leave it empty here.
    sim: TabletopConfig = field(default_factory=TabletopConfig)

    def __post_init__(self) -> None:
        validate_fields(self)
        for name in ("publish_period_s", "clock_period_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be a positive number, got {getattr(self, name)!r}")
        if not self.still_tolerance >= 0:
            raise ConfigError(f"still_tolerance must be >= 0, got {self.still_tolerance!r}")


NODE_CONFIG = SimBridgeNodeConfig
# Read by the sim thread at every frame: `ros2 param set` applies it at once.
RUNTIME_SETTABLE = ("publish_period_s", "still_tolerance")


@dataclass(frozen=True)
class _Rendered:
    positions: np.ndarray  # (nq,) the joint positions it was rendered at
    msgs: dict[str, Any]  # publisher key -> message


class SimBridgeNode(Node):
    def __init__(self, **kwargs: Any):
        super().__init__("sim_bridge", **kwargs)
        declare_config(self, SimBridgeNodeConfig(), writable=RUNTIME_SETTABLE)
        self.status = StatusReporter(self)
        try:
            self.settings = read_config(self, SimBridgeNodeConfig)
            self.sim = TabletopSim(self.settings.sim)
        except RoboSpatialError as exc:  # a bad parameter, or a layout that cannot be made
            self.get_logger().fatal(f"cannot start the simulator: {exc}")
            raise
        # On sim time, the simulator is the clock: nothing else would publish one.
        self.publish_clock = self.settings.publish_clock or bool(self.get_parameter("use_sim_time").value)
        self._last_advance, self._owed_s = time.monotonic(), 0.0
        self._last_error, self._last_error_t = "", 0.0
        self._frame: _Rendered | None = None  # the last render's messages, published again while nothing moves
        self._pubs = {
            "color": self.create_publisher(Image, COLOR_TOPIC, SENSOR),
            "depth": self.create_publisher(Image, DEPTH_TOPIC, SENSOR),
            "info": self.create_publisher(CameraInfo, CAMERA_INFO_TOPIC, SENSOR),
            "masks": self.create_publisher(InstanceMasks, MASKS_TOPIC, SENSOR),
            "truth": self.create_publisher(DetectedObjectArray, GROUND_TRUTH_TOPIC, LATCHED),
        }
        if self.publish_clock:
            clock_qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
            self._pubs["clock"] = self.create_publisher(Clock, CLOCK_TOPIC, clock_qos)
        # Plans and resets queue up for the sim thread, in arrival order (one callback group: in order).
        inputs = MutuallyExclusiveCallbackGroup()
        self.create_subscription(PickPlacePlan, PLAN_TOPIC, self._on_plan, RELIABLE, callback_group=inputs)
        self.create_subscription(Int32, RESET_TOPIC, self._on_reset, RELIABLE, callback_group=inputs)
        # One thread owns the simulator: MuJoCo's EGL context is bound to the thread that made it
        # current, and execution, rendering and physics steps must never interleave.
        self._jobs: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sim_bridge", daemon=True)
        self._thread.start()
        on_config_change(self, SimBridgeNodeConfig, self._apply_settings)
        self._report(
            NodeStatus.OK,
            "sim",
            f"tabletop seed {self.sim.config.seed}: {', '.join(self.sim.names)}; "
            f"publishing every {self.settings.publish_period_s:g} s",
        )

    def _apply_settings(self, settings: SimBridgeNodeConfig) -> None:
        """A validated `ros2 param set` of RUNTIME_SETTABLE: the sim thread reads it at its next frame."""
        self.settings = settings
        self.get_logger().info(f"publishing every {settings.publish_period_s:g} s")

    # --- subscriptions: hand over to the sim thread ---------------------------------------------------
    def _on_plan(self, msg: PickPlacePlan) -> None:
        if msg.plan_only:
            self.get_logger().info(f"plan {msg.command_id!r} for {msg.object_id!r} is plan_only: not executed")
            return
        self._jobs.put(("execution", msg.command_id, lambda: self._execute(msg)))

    def _on_reset(self, msg: Int32) -> None:
        self._jobs.put(("reset", "", lambda: self._reset(int(msg.data))))

    # --- the sim thread -------------------------------------------------------------------------------
    def _run(self) -> None:
        now = time.monotonic()
        next_frame, next_clock = now, now
        while not self._stop.is_set() and self.context.ok():
            wait = min(next_frame, next_clock if self.publish_clock else next_frame) - time.monotonic()
            try:
                event, event_id, job = self._jobs.get(timeout=max(0.0, wait))
            except queue.Empty:
                event, event_id, job = "sim", "", None
            if self._stop.is_set() or not self.context.ok():
                break
            if job is not None:  # an execution or a reset; it publishes its outcome itself
                self._guarded(event, job, event_id=event_id)
                continue
            now, cfg = time.monotonic(), self.settings
            steps = [self._advance]
            if self.publish_clock and now >= next_clock:
                next_clock = max(next_clock + cfg.clock_period_s, now)
                steps.append(self._publish_clock)
            if now >= next_frame:
                next_frame = max(next_frame + cfg.publish_period_s, now)
                steps.append(self._publish_frame)
            self._guarded("sim", *steps)

    def _advance(self) -> None:
        """Step the physics by the wall time since the last call: the sim runs in real time."""
        now = time.monotonic()
        self._owed_s += min(now - self._last_advance, _MAX_CATCH_UP_S)
        self._last_advance = now
        steps = int(self._owed_s / self.sim.config.timestep_s)
        self._owed_s -= steps * self.sim.config.timestep_s
        self.sim.step(steps)

    def _restart_clock(self) -> None:
        """After an execution or reset the physics already ran: do not step for that wall time too."""
        self._last_advance, self._owed_s = time.monotonic(), 0.0

    def _stamp(self) -> Time:
        if not self.publish_clock:
            return self.get_clock().now().to_msg()
        ns = int(round(self.sim.time_s * 1e9))
        return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)

    def _publish_clock(self) -> None:
        if self.publish_clock:
            self._pubs["clock"].publish(Clock(clock=self._stamp()))

    def _publish_frame(self) -> None:
        """One frame set with a fresh stamp: rendered again if anything moved, else the last one."""
        stamp, frame = self._stamp(), self._frame
        if frame is None or self.sim.moved_since(frame.positions, self.settings.still_tolerance):
            frame = self._frame = _Rendered(self.sim.joint_positions(), self._frame_msgs(self.sim.render()))
        frame.msgs["masks"].labels.header.stamp = stamp  # the label image carries the stamp too
        for key, msg in frame.msgs.items():
            msg.header.stamp = stamp
            self._pubs[key].publish(msg)

    def _frame_msgs(self, shot: Any) -> dict[str, Any]:
        """The messages of one render, keyed by publisher, unstamped."""
        frame, cam = shot.frame, shot.scene.camera
        camera_frame, base_frame = self.settings.camera_frame, self.settings.base_frame
        return {
            "color": image_msg(frame.color, "rgb8", camera_frame),
            "depth": image_msg(frame.depth, "32FC1", camera_frame),
            "info": camera_info_msg(cam.K, cam.width, cam.height, camera_frame),
            "masks": masks_to_msg(shot.masks.masks, camera_frame),
            "truth": scene_to_msg(shot.scene, base_frame, 0.0),  # table top: z = 0
        }

    def _execute(self, msg: PickPlacePlan) -> None:
        frame, base_frame = msg.header.frame_id, self.settings.base_frame
        if frame and frame != base_frame:
            raise MessageError(f"plan is in frame {frame!r}; the simulator executes plans in {base_frame!r}")
        plan = plan_from_msg(msg)
        self._advance()
        result = self.sim.execute(plan)
        self._restart_clock()
        self._guarded("sim", self._publish_clock, self._publish_frame)  # the outcome, at once
        if result.success:
            x, y = result.final_xyz[:2]
            where = f"({x:.3f}, {y:.3f}) in {result.wall_time_s:.1f} s"
            self._report(NodeStatus.OK, "execution", f"placed {result.object_id} at {where}", msg.command_id)
        else:
            stage = f" ({result.stage})" if result.stage else ""
            self._report(NodeStatus.ERROR, "execution", f"execution failed{stage}: {result.reason}", msg.command_id)

    def _reset(self, seed: int) -> None:
        self.sim.reset(seed=seed)
        self._frame = None  # a new layout: never the old one's pictures
        self._restart_clock()
        self._publish_frame()
        self._report(NodeStatus.OK, "reset", f"tabletop seed {seed}: {', '.join(self.sim.names)}")

    # --- reporting ------------------------------------------------------------------------------------
    def _guarded(self, event: str, *jobs: Any, event_id: str = "") -> None:
        """Run the jobs; a failure becomes a status error (the same one at most every few seconds)."""
        try:
            for job in jobs:
                job()
        except Exception as exc:  # RoboSpatialError: bad input; anything else: a bug, but keep serving
            if not self.context.ok():
                return
            if not isinstance(exc, RoboSpatialError):
                self.get_logger().error(traceback.format_exc())
            message = str(exc) if isinstance(exc, RoboSpatialError) else f"unexpected {type(exc).__name__}: {exc}"
            now = time.monotonic()
            if event_id or message != self._last_error or now - self._last_error_t > _ERROR_REPEAT_S:
                self._report(NodeStatus.ERROR, event, message, event_id)
                self._last_error, self._last_error_t = message, now

    def _report(self, level: int, event: str, message: str, event_id: str = "") -> None:
        try:
            self.status(level, event, message, event_id)
        except Exception as exc:  # reporting must never take the node down
            self.get_logger().warning(f"status report failed ({exc}): [{event}] {message}")

    def destroy_node(self) -> None:
        stop = getattr(self, "_stop", None)
        if stop is not None:
            stop.set()
            self._jobs.put(("", "", None))
            self._thread.join(timeout=10.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(SimBridgeNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
