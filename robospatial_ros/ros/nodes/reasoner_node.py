"""The reasoner node: commands and questions about the latest scene -> answers and placements.

Subscribes /robospatial/objects (the latest scene, prepared once per message), /robospatial/command
(std_msgs/String: a placement command such as "put the mug to the left of the bowl", or a
question) and /robospatial/query (SpatialQuery). Every command and query gets exactly one
SpatialAnswer on /robospatial/answer, in arrival order (`query_id` "cmd-<n>" for the n-th command,
the caller's id for a query): success with the answer, or success false and a one-line error.
A placement command also publishes the chosen spot as a PoseStamped on /robospatial/placement
(position: where the object's bottom centre goes; orientation: its turn about z) and RViz markers.

Answers come from a backend (`backend` parameter, core.vlm.backends): "geometric" (the spatial
core, no weights, the default), "hf" (a local transformers VLM), "openai" (an OpenAI-compatible
endpoint), "hybrid" (the VLM grounds names to boxes, perception lifts them, the core answers) or
"verify" (VLM points checked against the occupancy map). Model settings are the `vlm.*`
parameters (VLMBackendConfig). Model-based backends also subscribe to the camera (colour,
aligned depth, camera_info) and answer from the latest frame.
"""

from __future__ import annotations

import functools
from typing import Any

from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import String
from visualization_msgs.msg import MarkerArray

from robospatial_ros.core.errors import RoboSpatialError, one_line
from robospatial_ros.core.language.commands import PlacementCommand
from robospatial_ros.core.language.questions import parse_question
from robospatial_ros.core.perception.frame import RGBDFrame
from robospatial_ros.core.planning.pick_place import PickPlaceConfig, in_reach
from robospatial_ros.core.reasoning.backends import VLMBackendConfig, make_backend
from robospatial_ros.core.reasoning.requests import parse_request, placement_answer
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
    color_from_msg,
    depth_from_msg,
    error_answer_msg,
    intrinsics_from_msg,
    point_to_pose_stamped,
    query_from_msg,
    scene_from_msg,
)
from robospatial_ros.ros.params import declare_config, read_config

# --- the node ---------------------------------------------------------------------------------------


class ReasonerNode(Node):
    def __init__(self, **kwargs: Any):
        super().__init__("reasoner", **kwargs)
        self.status = StatusReporter(self)
        self.declare_parameter("backend", "geometric")  # geometric | hf | openai | hybrid | verify
        self.declare_parameter("base_frame", "panda_link0")  # the robot base; objects without a frame_id are in it
        self.declare_parameter("check_reach", True)  # placements only within the arm's reach (planning.*)
        declare_config(self, SpatialConfig(), "spatial.")
        declare_config(self, PickPlaceConfig(), "planning.")
        declare_config(self, VLMBackendConfig(), "vlm.")
        try:
            self._configure()
        except RoboSpatialError as exc:
            self.get_logger().error(f"cannot start: {exc}")
            raise
        self._view: SceneView | None = None
        self._frame = ""
        self._commands = 0
        self._answers = self.create_publisher(SpatialAnswer, ANSWER_TOPIC, RELIABLE)
        self._placements = self.create_publisher(PoseStamped, PLACEMENT_TOPIC, RELIABLE)
        self._markers = self.create_publisher(MarkerArray, MARKERS_TOPIC, RELIABLE)
        self._objects_sub = self.create_subscription(DetectedObjectArray, OBJECTS_TOPIC, self._on_objects, LATCHED)
        self.create_subscription(String, COMMAND_TOPIC, self._on_command, RELIABLE)
        self.create_subscription(SpatialQuery, QUERY_TOPIC, self._on_query, RELIABLE)
        self._camera: dict[str, Any] = {}  # latest "color", "depth" (array, scale), "K": what VLMs look at
        if self.backend.name != "geometric":
            self.create_subscription(Image, COLOR_TOPIC, functools.partial(self._on_camera, "color"), SENSOR)
            self.create_subscription(Image, DEPTH_TOPIC, functools.partial(self._on_camera, "depth"), SENSOR)
            self.create_subscription(CameraInfo, CAMERA_INFO_TOPIC, functools.partial(self._on_camera, "K"), SENSOR)
        self.status.ok("ready", f"backend {self.backend.name}, waiting for objects on {self._objects_sub.topic_name}")

    def _configure(self) -> None:
        name = str(self.get_parameter("backend").value)
        self.base_frame = str(self.get_parameter("base_frame").value)
        self.check_reach = bool(self.get_parameter("check_reach").value)
        self.spatial = read_config(self, SpatialConfig, "spatial.")
        self.planning = read_config(self, PickPlaceConfig, "planning.")
        self.backend = make_backend(name, self.spatial, read_config(self, VLMBackendConfig, "vlm."))

    # --- inputs ---

    def _on_objects(self, msg: DetectedObjectArray) -> None:
        try:
            view = SceneView(scene_from_msg(msg), self.spatial).prepare()
        except RoboSpatialError as exc:
            self.status.warn("objects", f"ignored an objects message: {exc}")
            return
        except Exception as exc:  # never die from a message
            self.status.error("objects", f"ignored an objects message: {type(exc).__name__}: {exc}")
            return
        first = self._view is None
        self._view, self._frame = view, msg.header.frame_id or self.base_frame
        if first:
            self.status.ok("objects", f"{len(view.scene.objects)} objects in frame {self._frame}")

    def _on_camera(self, key: str, msg: Image | CameraInfo) -> None:
        convert = {"color": color_from_msg, "depth": depth_from_msg, "K": intrinsics_from_msg}[key]
        try:
            self._camera[key] = convert(msg)
        except RoboSpatialError as exc:
            self.status.warn("camera", f"ignored a {key} message: {exc}")

    def _camera_frame(self, view: SceneView) -> RGBDFrame | None:
        """The latest camera frame, posed where the objects message says the camera is; None before one."""
        if not all(k in self._camera for k in ("color", "depth", "K")):
            return None
        depth, scale = self._camera["depth"]
        pose = view.scene.camera.camera_to_world
        return RGBDFrame(self._camera["color"], depth, self._camera["K"], pose, scale)

    def _on_command(self, msg: String) -> None:
        self._commands += 1
        self._serve(f"cmd-{self._commands}", msg.data, "command", None, None)

    def _on_query(self, msg: SpatialQuery) -> None:
        question, query_type, frame = query_from_msg(msg)
        self._serve(msg.query_id, question, "query", query_type, frame)

    # --- one request, one answer ---

    def _serve(self, qid: str, text: str, event: str, query_type: str | None, frame: str | None) -> None:
        stamp = self.get_clock().now().to_msg()
        markers = pose = None
        try:
            if self._view is None:
                raise RoboSpatialError(f"no objects received yet on {self._objects_sub.topic_name}")
            view = self._view
            if event == "command":
                parsed = parse_request(text, view.scene.names)
            else:
                parsed = parse_question(text, view.scene.names, query_type, frame)
            if isinstance(parsed, PlacementCommand):
                out, markers, pose = self._place(view, parsed, text, qid, stamp)
            else:
                answer = self.backend.answer(view, parsed, self._camera_frame(view))
                out = answer_to_msg(answer, qid)
                label = f"{one_line(text, 60)} -> {one_line(answer.text, 40)}"
                markers = answer_markers(answer.points_3d, None, label, self._frame, stamp)
        except RoboSpatialError as exc:
            out = error_answer_msg(text, one_line(str(exc), 400), qid)
        except Exception as exc:  # never die from a request: reply and keep serving
            out = error_answer_msg(text, f"internal error: {type(exc).__name__}: {one_line(str(exc), 300)}", qid)
        out.header.frame_id, out.header.stamp = self._frame or self.base_frame, stamp
        self._answers.publish(out)
        if pose is not None:
            self._placements.publish(pose)
        if markers is not None:
            self._markers.publish(markers)
        if out.success:
            self.status.ok(event, f"{one_line(text, 60)!r} -> {one_line(out.answer, 60)}", qid)
        else:
            self.status.warn(event, f"{one_line(text, 60)!r}: {out.error}", qid)

    def _place(
        self, view: SceneView, cmd: PlacementCommand, text: str, qid: str, stamp: Any
    ) -> tuple[SpatialAnswer, MarkerArray, PoseStamped]:
        notes = [] if cmd.frame_given else ["no frame given: placed from the camera's perspective (ego)"]
        allowed = None
        if self.check_reach and self._frame == self.base_frame:
            allowed = functools.partial(in_reach, config=self.planning)
        elif self.check_reach:
            notes.append(f"reach not checked: the objects are in {self._frame!r}, not the base {self.base_frame!r}")
        placement = self.backend.place(view, cmd, allowed, self._camera_frame(view))
        answer = placement_answer(view, cmd, placement, text, notes)
        pose = point_to_pose_stamped(placement.xyz, self._frame, stamp, placement.yaw_offset_rad)
        out = answer_to_msg(answer, qid)
        out.type, out.has_placement, out.placement = "placement", True, pose.pose
        x, y = (float(v) for v in placement.xyz[:2])
        label = f"{one_line(text, 60)} -> ({x:.2f}, {y:.2f})"
        return out, answer_markers(answer.points_3d, placement.xyz, label, self._frame, stamp), pose


def main(args: list[str] | None = None) -> int:
    return run_node(ReasonerNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
