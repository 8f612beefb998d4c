"""The reasoner node: commands and questions about the latest scene -> answers and placements.

Subscribes /robospatial/objects (the latest scene: only kept on arrival, turned into a scene when a
request needs it, so a 30 Hz stream costs next to nothing and never delays a command), /robospatial/command
(std_msgs/String: a placement command such as "put the mug to the left of the bowl", or a
question) and /robospatial/query (SpatialQuery). Every command and query gets exactly one
SpatialAnswer on /robospatial/answer, in arrival order (`query_id` "cmd-<n>" for the n-th command,
the caller's id for a query): success with the answer, or success false and a one-line error.
Requests wait in a bounded queue (`max_pending_requests`) served by one worker thread, so frames and
requests keep being received while one is answered; one arriving at a full queue is answered at once
with success false and an error starting "busy" (ahead of the queued ones' answers).
A placement command also publishes the chosen spot as a PoseStamped on /robospatial/placement
(position: where the object's bottom centre goes; orientation: its turn about z) and RViz markers.

Answers come from a backend (`backend` parameter, core.vlm.backends): "geometric" (the spatial
core, no weights, the default), "hf" (a local transformers VLM), "openai" (an OpenAI-compatible
endpoint), "hybrid" (the VLM grounds names to boxes, perception lifts them, the core answers) or
"verify" (VLM points checked against the occupancy map). Model settings are the `vlm.*`
parameters (VLMBackendConfig). Model-based backends also subscribe to the camera (colour,
aligned depth, camera_info) and answer from the latest frame.

A placement is chosen by the main job (core.reasoning.job.plan_placement): the first candidate,
best first, that the planner node's test accepts (plan_pick_place and, with job.check_reachability,
IK on the arm), trying at most job.max_plan_tries; so the planner plans what is published here.
Parameters: ReasonerNodeConfig (NODE_CONFIG).
"""

from __future__ import annotations

import functools
import queue
import threading
from dataclasses import dataclass, field
from typing import Any

from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import String
from visualization_msgs.msg import MarkerArray

from robospatial_ros.core.configio import validate_fields
from robospatial_ros.core.errors import ConfigError, RoboSpatialError, one_line
from robospatial_ros.core.language.commands import PlacementCommand
from robospatial_ros.core.language.naming import NamingCommand
from robospatial_ros.core.language.questions import parse_question
from robospatial_ros.core.perception.frame import RGBDFrame
from robospatial_ros.core.planning.pick_place import PickPlaceConfig
from robospatial_ros.core.planning.reachability import load_arm_model
from robospatial_ros.core.reasoning.backends import BACKEND_NAMES, VLMBackendConfig, make_backend
from robospatial_ros.core.reasoning.job import JobConfig, backend_candidates, plan_placement, reach_filter
from robospatial_ros.core.reasoning.placement import Placement
from robospatial_ros.core.reasoning.requests import naming_text, parse_request, placement_answer
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.core.spatial.view import SceneView
from robospatial_ros.msg import DetectedObjectArray, SpatialAnswer, SpatialQuery
from robospatial_ros.ros.common import (
    ANSWER_TOPIC,
    CAMERA_INFO_TOPIC,
    COLOR_TOPIC,
    COMMAND_TOPIC,
    DEPTH_TOPIC,
    LATCHED,
    MARKERS_TOPIC,
    NAMES_TOPIC,
    OBJECTS_TOPIC,
    PLACEMENT_TOPIC,
    QUERY_TOPIC,
    RELIABLE,
    SENSOR,
    StatusReporter,
    run_node,
)
from robospatial_ros.ros.conversions import (
    answer_markers,
    answer_to_msg,
    clear_markers,
    color_from_msg,
    depth_from_msg,
    error_answer_msg,
    intrinsics_from_msg,
    object_text_anchor,
    point_to_pose_stamped,
    query_from_msg,
    scene_from_msg,
)
from robospatial_ros.ros.params import declare_config, read_config

# Camera message -> what a VLM backend looks at: (H, W, 3) uint8 RGB; ((H, W) depth, metres per unit); (3, 3) K.
_CAMERA_CONVERSIONS = {"color": color_from_msg, "depth": depth_from_msg, "K": intrinsics_from_msg}


@dataclass(frozen=True)
class ReasonerNodeConfig:
    """The reasoner node's parameters (config/reasoner.yaml); nested configs are dotted: spatial.grid_resolution_m."""

    backend: str = "geometric"  # who answers: geometric | hf | openai | hybrid | verify
    base_frame: str = "panda_link0"  # the robot base; objects without a frame_id are in it
    # Choose placements for the arm (objects in base_frame): within its reach (planning.*) and plannable
    # by the planner node's test, retried as the main job says (job.*). False: the backend's best spot.
    check_reach: bool = True
    spatial: SpatialConfig = field(default_factory=SpatialConfig)
    # The arm's reach and grasp geometry: keep equal to the planner's, so it accepts what is chosen here.
    planning: PickPlaceConfig = field(default_factory=PickPlaceConfig)
    vlm: VLMBackendConfig = field(default_factory=VLMBackendConfig)
    # The retry policy and plannability test of the main job (keep check_* equal to the planner's).
    job: JobConfig = field(default_factory=JobConfig)
    # Commands and queries waiting to be answered; one more is answered "busy" at once (a burst of
    # 100 fits; the command topic's reader keeps 200).
    max_pending_requests: int = 128

    def __post_init__(self) -> None:
        validate_fields(self, "reasoner")
        if self.max_pending_requests < 1:
            raise ConfigError(f"max_pending_requests must be at least 1, got {self.max_pending_requests}")
        if self.backend not in BACKEND_NAMES:
            raise ConfigError(f"unknown backend {self.backend!r}; available: {', '.join(BACKEND_NAMES)}")
        if not self.base_frame.strip():
            raise ConfigError("base_frame must name a frame")


NODE_CONFIG = ReasonerNodeConfig


@dataclass(frozen=True)
class _Request:
    """One command or query as received, numbered in arrival order."""

    qid: str
    text: str
    event: str  # "command" or "query"
    query_type: str | None = None
    frame: str | None = None


class ReasonerNode(Node):
    def __init__(self, **kwargs: Any):
        super().__init__("reasoner", **kwargs)
        self.status = StatusReporter(self)
        declare_config(self, ReasonerNodeConfig())
        try:
            self._configure()
        except RoboSpatialError as exc:
            self.get_logger().error(f"cannot start: {exc}")
            raise
        self._view: SceneView | None = None
        self._frame = ""
        self._commands = 0
        # (count, message) of the latest objects message, replaced as one reference (the worker reads it);
        # _view_count: the count the view was built from.
        self._latest_objects: tuple[int, DetectedObjectArray | None] = (0, None)
        self._view_count = 0
        self._pending: queue.Queue[_Request] = queue.Queue(maxsize=self.config.max_pending_requests)
        self._stop = threading.Event()
        self._answers = self.create_publisher(SpatialAnswer, ANSWER_TOPIC, RELIABLE)
        self._placements = self.create_publisher(PoseStamped, PLACEMENT_TOPIC, RELIABLE)
        self._markers = self.create_publisher(MarkerArray, MARKERS_TOPIC, RELIABLE)
        self._names = self.create_publisher(String, NAMES_TOPIC, RELIABLE)
        self._objects_sub = self.create_subscription(DetectedObjectArray, OBJECTS_TOPIC, self._on_objects, LATCHED)
        self.create_subscription(String, COMMAND_TOPIC, self._on_command, RELIABLE)
        self.create_subscription(SpatialQuery, QUERY_TOPIC, self._on_query, RELIABLE)
        self._camera: dict[str, Any] = {}  # latest "color", "depth" (array, scale), "K": what VLMs look at
        self._camera_msgs: dict[str, Image | CameraInfo] = {}  # received since the last request, not converted yet
        if self.backend.name != "geometric":
            self.create_subscription(Image, COLOR_TOPIC, functools.partial(self._on_camera, "color"), SENSOR)
            self.create_subscription(Image, DEPTH_TOPIC, functools.partial(self._on_camera, "depth"), SENSOR)
            self.create_subscription(CameraInfo, CAMERA_INFO_TOPIC, functools.partial(self._on_camera, "K"), SENSOR)
        self._worker = threading.Thread(target=self._work, name="reasoner-requests", daemon=True)
        self._worker.start()
        self.status.ok("ready", f"backend {self.backend.name}, waiting for objects on {self._objects_sub.topic_name}")

    def destroy_node(self) -> None:
        # Also called by rclpy's shutdown when the constructor failed (bad parameters): no worker then.
        worker = getattr(self, "_worker", None)
        if worker is not None:
            self._stop.set()
            worker.join(timeout=10.0)
        super().destroy_node()

    def _configure(self) -> None:
        self.config = read_config(self, ReasonerNodeConfig)
        self.backend = make_backend(self.config.backend, self.config.spatial, self.config.vlm)
        if self.config.check_reach and self.config.job.check_reachability:
            load_arm_model()  # mujoco + the Panda model, once (or a one-line error)

    # --- inputs ---

    def _on_objects(self, msg: DetectedObjectArray) -> None:
        """Only kept: the scene is built when a request needs it (`_current_view`), never per message."""
        self._latest_objects = (self._latest_objects[0] + 1, msg)

    def _current_view(self) -> SceneView | None:
        """The view of the latest objects message, built (lazily: a request computes only what it needs)
        when one arrived since the last; a bad message is reported once and the previous view kept."""
        count, msg = self._latest_objects
        if msg is None or count == self._view_count:
            return self._view
        self._view_count = count
        try:
            view = SceneView(scene_from_msg(msg), self.config.spatial)
        except RoboSpatialError as exc:
            self.status.warn("objects", f"ignored an objects message: {exc}")
            return self._view
        except Exception as exc:  # never die from a message
            self.status.error("objects", f"ignored an objects message: {type(exc).__name__}: {exc}")
            return self._view
        first = self._view is None
        self._view, self._frame = view, msg.header.frame_id or self.config.base_frame
        if first:
            self.status.ok("objects", f"{len(view.scene.objects)} objects in frame {self._frame}")
        return view

    def _on_camera(self, key: str, msg: Image | CameraInfo) -> None:
        """Only kept: converted when a request needs a frame (`_camera_frame`), never per message."""
        self._camera_msgs[key] = msg

    def _camera_frame(self, view: SceneView) -> RGBDFrame | None:
        """The latest camera frame, posed where the objects message says the camera is; None before one.
        Each message is converted once; a bad one is reported and the previous image kept."""
        for key in list(self._camera_msgs):
            msg = self._camera_msgs.pop(key)  # only this (worker) thread removes keys
            try:
                self._camera[key] = _CAMERA_CONVERSIONS[key](msg)
            except RoboSpatialError as exc:
                self.status.warn("camera", f"ignored a {key} message: {exc}")
        if not all(k in self._camera for k in ("color", "depth", "K")):
            return None
        depth, scale = self._camera["depth"]
        pose = view.scene.camera.camera_to_world
        return RGBDFrame(self._camera["color"], depth, self._camera["K"], pose, scale)

    def _on_command(self, msg: String) -> None:
        self._commands += 1
        self._enqueue(_Request(f"cmd-{self._commands}", msg.data, "command"))

    def _on_query(self, msg: SpatialQuery) -> None:
        question, query_type, frame = query_from_msg(msg)
        self._enqueue(_Request(msg.query_id, question, "query", query_type, frame))

    # --- the queue: received on the executor's thread, answered on the worker's ---

    def _enqueue(self, request: _Request) -> None:
        try:
            self._pending.put_nowait(request)
        except queue.Full:
            error = f"busy: {self._pending.maxsize} requests are waiting; try again shortly"
            out = error_answer_msg(request.text, error, request.qid)
            out.header.frame_id = self._frame or self.config.base_frame
            out.header.stamp = self.get_clock().now().to_msg()
            self._answers.publish(out)
            self.status.warn(request.event, f"{one_line(request.text, 60)!r}: {error}", request.qid)

    def _work(self) -> None:
        """The worker: answers queued requests in arrival order until the node is destroyed."""
        while not self._stop.is_set():
            try:
                request = self._pending.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self._serve(request)
            except Exception as exc:  # publishing failed (shutting down): the worker goes on
                self.get_logger().error(f"request {request.qid}: {type(exc).__name__}: {exc}")

    # --- one request, one answer ---

    def _serve(self, request: _Request) -> None:
        qid, text, event = request.qid, request.text, request.event
        stamp = self.get_clock().now().to_msg()
        markers = pose = None
        try:
            view = self._current_view()
            if view is None:
                raise RoboSpatialError(f"no objects received yet on {self._objects_sub.topic_name}")
            if event == "command":
                parsed = parse_request(text, view.scene.names)
            else:
                parsed = parse_question(text, view.scene.names, request.query_type, request.frame)
            if isinstance(parsed, NamingCommand):
                out = self._name(parsed, text, qid)
            elif isinstance(parsed, PlacementCommand):
                out, markers, pose = self._place(view, parsed, text, qid, stamp)
            else:
                answer = self.backend.answer(view, parsed, self._camera_frame(view))
                out = answer_to_msg(answer, qid)
                label = f"{one_line(text, 60)} -> {one_line(answer.text, 40)}"
                at = object_text_anchor(view.scene, (answer.query.target, answer.query.reference))
                markers = answer_markers(answer.points_3d, None, label, self._frame, stamp, text_xyz=at)
        except RoboSpatialError as exc:
            out = error_answer_msg(text, one_line(str(exc), 400), qid)
        except Exception as exc:  # never die from a request: reply and keep serving
            out = error_answer_msg(text, f"internal error: {type(exc).__name__}: {one_line(str(exc), 300)}", qid)
        out.header.frame_id, out.header.stamp = self._frame or self.config.base_frame, stamp
        self._answers.publish(out)
        if pose is not None:
            self._placements.publish(pose)
        # Every request replaces the previous one's markers in RViz, a failed one too (then with none).
        self._markers.publish(markers if markers is not None else clear_markers(out.header.frame_id, stamp))
        if out.success:
            self.status.ok(event, f"{one_line(text, 60)!r} -> {one_line(out.answer, 60)}", qid)
        else:
            self.status.warn(event, f"{one_line(text, 60)!r}: {out.error}", qid)

    def _name(self, cmd: NamingCommand, text: str, qid: str) -> SpatialAnswer:
        """Forward a naming command (its reference resolved to an id) to the perception node, which
        remembers the name with the id; the next objects message carries it."""
        self._names.publish(String(data=naming_text(cmd)))
        answer = f"{cmd.reference} is now called {cmd.name!r}"
        return SpatialAnswer(
            query_id=qid, question=text, success=True, type="naming", target=cmd.reference, answer=answer
        )

    def _place(
        self, view: SceneView, cmd: PlacementCommand, text: str, qid: str, stamp: Any
    ) -> tuple[SpatialAnswer, MarkerArray, PoseStamped]:
        notes = [] if cmd.frame_given else ["no frame given: placed from the camera's perspective (ego)"]
        placement = self._choose(view, cmd, notes)
        answer = placement_answer(view, cmd, placement, text, notes)
        pose = point_to_pose_stamped(placement.xyz, self._frame, stamp, placement.yaw_offset_rad)
        out = answer_to_msg(answer, qid)
        out.type, out.has_placement, out.placement = "placement", True, pose.pose
        x, y = (float(v) for v in placement.xyz[:2])
        label = f"{one_line(text, 60)} -> ({x:.2f}, {y:.2f})"
        return out, answer_markers(answer.points_3d, placement.xyz, label, self._frame, stamp), pose

    def _choose(self, view: SceneView, cmd: PlacementCommand, notes: list[str]) -> Placement:
        """The main job's choice (core.reasoning.job): the first placement the planner node can plan.
        Without check_reach, or with objects in another frame than the base (no tf lookup): the
        backend's best spot, not checked against the arm."""
        cfg = self.config
        for_arm = cfg.check_reach and self._frame == cfg.base_frame
        allowed = reach_filter(cfg.planning) if for_arm else None
        candidates = backend_candidates(self.backend, view, cmd, allowed, self._camera_frame(view))
        if not for_arm:
            if cfg.check_reach:
                notes.append(f"reach not checked: the objects are in {self._frame!r}, not the base {cfg.base_frame!r}")
            return next(candidates)
        chosen = plan_placement(view, cmd, cfg.planning, cfg.job, candidates)
        if chosen.tried > 1:
            notes.append(f"the {chosen.tried - 1} better spot(s) could not be planned: chose spot {chosen.tried}")
        return chosen.placement


def main(args: list[str] | None = None) -> int:
    return run_node(ReasonerNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
