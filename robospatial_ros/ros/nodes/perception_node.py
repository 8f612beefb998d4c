"""Perception node: synchronised colour + aligned depth (+ detections) -> /robospatial/objects.

A thin adapter around `core.perception.pipeline.Perception`. Colour, depth and, when the
`detections` parameter asks for them, instance masks or 2D boxes are matched by header stamp
(within `sync_tolerance_s`); only the newest complete frame is processed, older ones are dropped,
never queued. The camera's optical-frame pose in `base_frame` comes from parameters or, with
`use_tf`, from tf2 (when tf2_ros is installed). `source: realsense` reads a RealSense (or a
recording) directly instead of the camera topics. With `track_objects`, clustered objects keep
stable ids across frames (object_3 stays object_3 while it stays, and when the robot moves it) and
the names an operator gives on /robospatial/names ('call object 3 the mug', std_msgs/String) stay
with those ids (core.perception.tracking). Bad input is reported on /robospatial/status
(event "perception") and the node keeps serving.

Parameters: the fields of PerceptionNodeConfig (nested configs dotted: `perception.min_depth_m`,
`realsense.fps`), read-only but for RUNTIME_SETTABLE, which `ros2 param set` applies at once.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import time
import traceback
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from nav_msgs.msg import OccupancyGrid
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import String
from visualization_msgs.msg import MarkerArray

from robospatial_ros.core import validation
from robospatial_ros.core.configio import validate_fields
from robospatial_ros.core.errors import ConfigError, RoboSpatialError
from robospatial_ros.core.geometry import make_transform, matrix_from_quaternion
from robospatial_ros.core.language.naming import parse_naming
from robospatial_ros.core.perception.frame import RGBDFrame
from robospatial_ros.core.perception.labels import LabelConfig, masks_from_labels
from robospatial_ros.core.perception.pipeline import Perception, PerceptionConfig
from robospatial_ros.core.perception.tracking import ObjectTracker, TrackerConfig
from robospatial_ros.msg import BoxDetections2D, DetectedObjectArray, InstanceMasks, NodeStatus
from robospatial_ros.ros.common import (
    CAMERA_INFO_TOPIC,
    CLOUD_TOPIC,
    COLOR_TOPIC,
    DEPTH_TOPIC,
    LATCHED,
    NAMES_TOPIC,
    OBJECT_MARKERS_TOPIC,
    OBJECTS_TOPIC,
    OBSTACLE_MAP_TOPIC,
    RELIABLE,
    SENSOR,
    StatusReporter,
    run_node,
)
from robospatial_ros.ros.conversions import (
    MessageError,
    boxes_from_msg,
    cloud_msg,
    color_from_msg,
    depth_from_msg,
    intrinsics_from_msg,
    labels_from_msg,
    masks_from_msg,
    object_markers,
    scene_to_msg,
    stamp_seconds,
)
from robospatial_ros.ros.params import declare_config, on_config_change, read_config

if TYPE_CHECKING:
    from robospatial_ros.core.perception.realsense import RealSenseConfig

MASKS_TOPIC = "/robospatial/detections/masks"
BOXES_TOPIC = "/robospatial/detections/boxes"
# A simulator's segmentation camera: an image of ids (Isaac Sim 32SC1, Gazebo's rgb8 labels map).
LABELS_TOPIC = "/robospatial/detections/labels"
EVENT = "perception"
_INFO_WARN_PERIOD_S = 3.0  # "no camera_info" at most this often
_ERROR_REPEAT_S = 1.0  # the same error again within this is not re-reported (a bad stream at 30 Hz)

# The built-in simulator's D435 (TabletopConfig's camera): a working default; set your calibration.
_SIM_CAMERA_POSITION = (1.15, 0.25, 0.7)
_SIM_CAMERA_XYZW = (0.507436633, 0.788051212, -0.293047367, -0.188697089)
SOURCES = ("topics", "realsense")
DETECTIONS = ("none", "masks", "boxes", "labels")


@dataclass(frozen=True)
class RealSenseNodeConfig:
    """source: realsense (pyrealsense2; no device: a status error, retried every retry_s). Pixels, frames/s."""

    serial: str = ""  # camera serial; empty = the first one found (quote digits: -p 'realsense.serial:="0123"')
    playback_path: str = ""  # a .bag / .db3 recording to play instead of a live camera
    fps: int = 30  # frames per second
    width: int = 640  # pixels
    height: int = 480  # pixels
    frame_id: str = "camera_color_optical_frame"  # the camera's optical frame (for use_tf)
    retry_s: float = 3.0  # retry opening the camera this often

    def __post_init__(self) -> None:
        validate_fields(self)  # from parameters, errors read "perception parameters: realsense: ..."
        for name in ("fps", "width", "height", "retry_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)!r}")

    def source_config(self, camera_to_world: np.ndarray) -> RealSenseConfig:
        """The core RealSenseConfig; camera_to_world: (4, 4) optical frame -> base_frame, metres."""
        from robospatial_ros.core.perception.realsense import RealSenseConfig

        return RealSenseConfig(
            serial=self.serial,
            width=self.width,
            height=self.height,
            fps=self.fps,
            playback_path=self.playback_path,
            camera_to_world=camera_to_world,
        )


@dataclass(frozen=True)
class PerceptionNodeConfig:
    """The perception node's parameters (names as here, nested configs dotted: perception.min_depth_m)."""

    base_frame: str = "panda_link0"  # frame of the published objects (the robot base, z up)
    source: str = "topics"  # topics: the camera topics; realsense: read the camera directly
    # none: cluster points above the table (object_0, ...); masks: /robospatial/detections/masks
    # (InstanceMasks) names the objects; boxes: /robospatial/detections/boxes (BoxDetections2D);
    # labels: /robospatial/detections/labels, a Gazebo or Isaac segmentation image (see labels.*)
    detections: str = "none"
    sync_tolerance_s: float = 0.02  # colour, depth and detections match when their stamps differ by at most this
    sync_queue_size: int = 10  # messages kept per stream while waiting for a match (slow detectors)
    # The camera's optical frame (x right, y down, z forward) in base_frame: position [x, y, z] in metres.
    # The default is the built-in simulator's D435: set your calibration, or use_tf.
    camera_position_m: tuple[float, float, float] = _SIM_CAMERA_POSITION
    camera_orientation_xyzw: tuple[float, float, float, float] = _SIM_CAMERA_XYZW  # its orientation [x, y, z, w]
    # Look the camera pose up with tf2 (camera_info frame_id -> base_frame) instead; without
    # tf2_ros installed: one warning, then camera_position_m and camera_orientation_xyzw.
    use_tf: bool = False
    tf_timeout_s: float = 0.05  # how long a tf2 lookup may wait
    publish_cloud: bool = False  # publish the downsampled cloud on /robospatial/cloud (RELIABLE, base_frame)
    cloud_max_points: int = 20000  # at most this many cloud points (20k = 320 kB; DDS best-effort drops > ~1 MB)
    status_every_n: int = 100  # an OK status on the first frame and every n-th after it; errors always
    # Clustered objects keep their id across frames (matched by position and look); operator names stick to it.
    track_objects: bool = True
    tracking: TrackerConfig = field(default_factory=TrackerConfig)  # how objects are matched between frames
    labels: LabelConfig = field(default_factory=LabelConfig)  # detections: labels (encoding, id -> name map)
    perception: PerceptionConfig = field(default_factory=PerceptionConfig)  # the pipeline (lengths in metres)
    realsense: RealSenseNodeConfig = field(default_factory=RealSenseNodeConfig)

    def __post_init__(self) -> None:
        validate_fields(self)
        if self.source not in SOURCES:
            raise ConfigError(f"source must be one of {', '.join(SOURCES)}, got {self.source!r}")
        if self.detections not in DETECTIONS:
            raise ConfigError(f"detections must be one of {', '.join(DETECTIONS)}, got {self.detections!r}")
        at_least = (("sync_tolerance_s", 0), ("tf_timeout_s", 0), ("sync_queue_size", 1), ("cloud_max_points", 1))
        for name, minimum in (*at_least, ("status_every_n", 1)):
            if getattr(self, name) < minimum:
                raise ConfigError(f"{name} must be >= {minimum}, got {getattr(self, name)!r}")
        self.camera_to_world()  # a malformed pose is a ConfigError now, not at the first frame

    def camera_to_world(self) -> np.ndarray:
        """(4, 4) optical frame -> base_frame (metres) from camera_position_m and camera_orientation_xyzw."""
        return _pose(self.camera_position_m, self.camera_orientation_xyzw)


NODE_CONFIG = PerceptionNodeConfig
# Cheap to change while running (read per frame, or a new pipeline object): `ros2 param set` applies them.
RUNTIME_SETTABLE = ("status_every_n", "cloud_max_points", "perception.")


class StampSync:
    """Matches messages of several streams whose stamps agree within a tolerance (message_filters'
    ApproximateTime, simplified): `add()` returns the newest complete match, oldest first dropped."""

    def __init__(self, streams: Sequence[str], tolerance_s: float, queue_size: int = 10):
        self.streams, self.tolerance_s = tuple(streams), float(tolerance_s)
        self._queues: dict[str, deque] = {s: deque(maxlen=max(1, queue_size)) for s in self.streams}

    def add(self, stream: str, stamp: float, msg: Any) -> tuple | None:
        queue = self._queues[stream]
        if queue and stamp < queue[-1][0] - self.tolerance_s:  # time went back (sim reset, looped bag)
            for q in self._queues.values():
                q.clear()
        queue.append((stamp, msg))
        first, *rest = self.streams
        for t0, m0 in reversed(self._queues[first]):
            picked = [(t0, m0)]
            for s in rest:
                near = [(abs(t - t0), t, m) for t, m in self._queues[s] if abs(t - t0) <= self.tolerance_s]
                if not near:
                    break
                picked.append(min(near, key=lambda c: c[0])[1:])
            else:
                for s, (t, _) in zip(self.streams, picked):  # the match and everything older goes
                    while self._queues[s] and self._queues[s][0][0] <= t:
                        self._queues[s].popleft()
                return tuple(m for _, m in picked)
        return None


class PerceptionNode(Node):
    def __init__(self, **kwargs: Any):
        super().__init__("perception", **kwargs)
        declare_config(self, PerceptionNodeConfig(), writable=RUNTIME_SETTABLE)
        self.status = StatusReporter(self)
        try:
            self.settings = read_config(self, PerceptionNodeConfig)
        except ConfigError as exc:
            self.get_logger().fatal(f"invalid parameters: {exc}")
            raise
        self.camera_to_world = self.settings.camera_to_world()  # (4, 4) optical frame -> base_frame, metres
        self._perception = Perception(self.settings.perception)
        self._tracker = ObjectTracker(self.settings.tracking, self.settings.perception.support_name)
        try:  # the id -> name map of label images, read once (a missing file is a start-up error)
            self._label_names = self.settings.labels.id_names() if self.settings.detections == "labels" else {}
        except ConfigError as exc:
            self.get_logger().fatal(f"invalid parameters: {exc}")
            raise
        self._lock = threading.Lock()
        self._pending: tuple | None = None  # the newest matched (colour, depth, detections) not yet processed
        self._info: CameraInfo | None = None
        self._frames = self._dropped = 0
        self._busy_ms = 0.0
        self._last_error, self._last_error_t, self._last_info_warn = "", 0.0, -1e9
        self._last_warnings: list[str] = []
        self._tf_buffer = self._tf_listener = self._camera = None
        self._camera_retry_at = 0.0
        self._objects_pub = self.create_publisher(DetectedObjectArray, OBJECTS_TOPIC, LATCHED)
        # For RViz, which cannot show what is inside the objects message: boxes and the observed map.
        self._markers_pub = self.create_publisher(MarkerArray, OBJECT_MARKERS_TOPIC, LATCHED)
        self._map_pub = self.create_publisher(OccupancyGrid, OBSTACLE_MAP_TOPIC, LATCHED)
        cfg = self.settings
        self._cloud_pub = self.create_publisher(PointCloud2, CLOUD_TOPIC, RELIABLE) if cfg.publish_cloud else None
        if cfg.use_tf:
            self._start_tf()
        on_config_change(self, PerceptionNodeConfig, self._apply_settings)
        work = MutuallyExclusiveCallbackGroup()
        # In the work group: a name never changes the tracker while a frame is being perceived.
        self.create_subscription(String, NAMES_TOPIC, self._on_name, RELIABLE, callback_group=work)
        if cfg.source == "realsense":
            self.create_timer(0.5 / cfg.realsense.fps, self._read_camera, callback_group=work)
            return
        inputs = MutuallyExclusiveCallbackGroup()
        self._ready = self.create_guard_condition(self._process_pending, callback_group=work)
        streams = ["color", "depth"] + ([] if cfg.detections == "none" else ["detections"])
        self._sync = StampSync(streams, cfg.sync_tolerance_s, cfg.sync_queue_size)
        subscribe = functools.partial(self.create_subscription, qos_profile=SENSOR, callback_group=inputs)
        subscribe(Image, COLOR_TOPIC, functools.partial(self._on_input, "color"))
        subscribe(Image, DEPTH_TOPIC, functools.partial(self._on_input, "depth"))
        subscribe(CameraInfo, CAMERA_INFO_TOPIC, self._on_info)
        if cfg.detections != "none":
            inputs_by_kind = {
                "masks": (InstanceMasks, MASKS_TOPIC),
                "boxes": (BoxDetections2D, BOXES_TOPIC),
                "labels": (Image, LABELS_TOPIC),
            }
            msg_type, topic = inputs_by_kind[cfg.detections]
            subscribe(msg_type, topic, functools.partial(self._on_input, "detections"))
        self.get_logger().info(
            f"perceiving {COLOR_TOPIC} + {DEPTH_TOPIC} (detections: {cfg.detections}) "
            f"-> {OBJECTS_TOPIC} in {cfg.base_frame}"
        )

    # --- parameters ----------------------------------------------------------------------------------
    def _apply_settings(self, settings: PerceptionNodeConfig) -> None:
        """A validated `ros2 param set` of RUNTIME_SETTABLE parameters: in effect from the next frame."""
        old, self.settings = self.settings, settings
        if settings.perception != old.perception:
            self._perception = Perception(settings.perception)  # cheap: caches refill on the next frame
        changed = [f.name for f in dataclasses.fields(settings) if getattr(settings, f.name) != getattr(old, f.name)]
        self.get_logger().info(f"parameters changed: {', '.join(changed) or 'none'}")

    def _start_tf(self) -> None:
        try:
            import tf2_ros
        except ImportError:
            warning = "use_tf is true but tf2_ros is not installed: using camera_position_m and camera_orientation_xyzw"
            self._report(NodeStatus.WARN, warning)
            return
        self._tf_buffer = tf2_ros.Buffer()
        self._tf_listener = tf2_ros.TransformListener(self._tf_buffer, self)

    def _camera_pose(self, frame_id: str, stamp: Any) -> np.ndarray:
        if self._tf_buffer is None:
            return self.camera_to_world
        from rclpy.duration import Duration
        from rclpy.time import Time

        try:
            base, timeout = self.settings.base_frame, Duration(seconds=self.settings.tf_timeout_s)
            tf = self._tf_buffer.lookup_transform(base, frame_id, Time.from_msg(stamp), timeout=timeout)
        except Exception as exc:  # tf2 raises its own (non-RoboSpatial) lookup/extrapolation errors
            raise MessageError(f"no transform {frame_id!r} -> {self.settings.base_frame!r}: {exc}") from None
        t, q = tf.transform.translation, tf.transform.rotation
        where = f"transform {frame_id!r} -> {base!r}"
        return _pose([t.x, t.y, t.z], [q.x, q.y, q.z, q.w], (f"{where} translation", f"{where} rotation"), MessageError)

    # --- inputs --------------------------------------------------------------------------------------
    def _on_info(self, msg: CameraInfo) -> None:
        self._info = msg

    def _on_input(self, stream: str, msg: Any) -> None:
        try:
            stamp = stamp_seconds(msg.header.stamp)
        except MessageError as exc:  # a subscription callback must not raise: the frame is dropped, with a status
            self._fail(f"{stream}: {exc}")
            return
        match = self._sync.add(stream, stamp, msg)
        if match is None:
            return
        with self._lock:
            self._dropped += self._pending is not None
            self._pending = match
        self._ready.trigger()

    def _process_pending(self) -> None:
        with self._lock:
            job, self._pending = self._pending, None
        if job is not None:
            self._guarded(self._process, *job)

    def _guarded(self, fn: Any, *args: Any) -> None:
        """Run one unit of work; every failure becomes a status report, never an exception."""
        try:
            fn(*args)
        except RoboSpatialError as exc:
            self._fail(str(exc))
        except Exception as exc:  # last resort: the node must keep serving
            self.get_logger().error(traceback.format_exc())
            self._fail(f"unexpected {type(exc).__name__}: {exc}")

    def _fail(self, message: str) -> None:
        """Report an error: every new one, the same one again at most once per _ERROR_REPEAT_S."""
        now = time.monotonic()
        if message != self._last_error or now - self._last_error_t >= _ERROR_REPEAT_S:
            self._report(NodeStatus.ERROR, message)
            self._last_error, self._last_error_t = message, now

    def _report(self, level: int, message: str) -> None:
        try:
            self.status(level, EVENT, message)
        except Exception as exc:  # reporting must never take the node down
            self.get_logger().warning(f"status report failed ({exc}): {message}")

    def _process(self, color_msg: Image, depth_msg: Image, det_msg: Any = None) -> None:
        info = self._info
        if info is None:
            if time.monotonic() - self._last_info_warn >= _INFO_WARN_PERIOD_S:
                self._last_info_warn = time.monotonic()
                topic = self.resolve_topic_name(CAMERA_INFO_TOPIC)
                self._report(NodeStatus.WARN, f"no camera_info on {topic} yet: frames are dropped until one arrives")
            return
        K = intrinsics_from_msg(info)
        color = color_from_msg(color_msg)
        depth, scale = depth_from_msg(depth_msg)
        h, w = color.shape[:2]
        if depth.shape != (h, w):
            raise MessageError(
                f"depth is {depth.shape[1]}x{depth.shape[0]} but colour is {w}x{h}: "
                f"subscribe to depth aligned to colour"
            )
        if info.width and (info.width, info.height) != (w, h):
            raise MessageError(f"camera_info is for {info.width}x{info.height} but the images are {w}x{h}")
        pose = self._camera_pose(info.header.frame_id or color_msg.header.frame_id, color_msg.header.stamp)
        frame = RGBDFrame(color, depth, K, pose, scale, stamp_seconds(color_msg.header.stamp))
        self._perceive(frame, self._detections(det_msg, w, h), color_msg.header.stamp)

    def _detections(self, msg: Any, width: int, height: int) -> Any:
        if msg is None:
            return None
        if isinstance(msg, BoxDetections2D):
            return boxes_from_msg(msg)
        if isinstance(msg, Image):  # a segmentation label image
            if (msg.width, msg.height) != (width, height):
                raise MessageError(f"the label image is {msg.width}x{msg.height} but the images are {width}x{height}")
            labels = self.settings.labels
            return masks_from_labels(labels_from_msg(msg), labels.encoding, self._label_names, labels.background_ids)
        if (msg.labels.width, msg.labels.height) != (width, height):
            raise MessageError(
                f"instance masks are {msg.labels.width}x{msg.labels.height} but the images are {width}x{height}"
            )
        return masks_from_msg(msg)

    def _on_name(self, msg: String) -> None:
        """'call object 3 the mug': remembered with the object's stable id; a bad one is a status error."""

        def name() -> None:
            cmd = parse_naming(msg.data)
            target = self._tracker.name(cmd.reference, cmd.name)
            self._report(NodeStatus.OK, f"{target} is now called {cmd.name!r}")

        self._guarded(name)

    def _read_camera(self) -> None:
        """source: realsense; (re)opens the camera every retry_s until it works."""
        rs = self.settings.realsense
        if self._camera is None:
            if time.monotonic() < self._camera_retry_at:
                return
            self._camera_retry_at = time.monotonic() + rs.retry_s
            self._guarded(self._open_camera)
            return
        try:
            frame = self._camera.read()
        except RoboSpatialError as exc:
            self._fail(f"realsense: {exc}; reopening in {rs.retry_s:g} s")
            self._close_camera()
            return
        stamp = self.get_clock().now().to_msg()

        def perceive() -> None:
            pose = self._camera_pose(rs.frame_id, stamp)
            self._perceive(dataclasses.replace(frame, camera_to_world=pose), None, stamp)

        self._guarded(perceive)

    def _open_camera(self) -> None:
        from robospatial_ros.core.perception.realsense import RealSenseSource

        cfg = self.settings.realsense.source_config(self.camera_to_world)
        self._camera = RealSenseSource(cfg).start()
        self._report(NodeStatus.OK, f"realsense started ({cfg.playback_path or cfg.serial or 'first camera'})")

    def _close_camera(self) -> None:
        camera, self._camera = getattr(self, "_camera", None), None
        if camera is not None:
            try:
                camera.stop()
            except Exception as exc:
                self.get_logger().warning(f"realsense stop: {exc}")

    # --- output --------------------------------------------------------------------------------------
    def _perceive(self, frame: RGBDFrame, detections: Any, stamp: Any) -> None:
        t0, cfg = time.perf_counter(), self.settings  # one snapshot: a parameter set may swap it meanwhile
        result = self._perception.perceive(frame, detections)
        if cfg.track_objects:
            result.scene = self._tracker.update(result.scene)
        msg = scene_to_msg(result.scene, cfg.base_frame, result.support_height_m, stamp)
        self._objects_pub.publish(msg)
        if self._markers_pub.get_subscription_count():
            self._markers_pub.publish(object_markers(result.scene, cfg.base_frame, stamp))
        if result.scene.obstacles is not None and self._map_pub.get_subscription_count():
            self._map_pub.publish(msg.obstacle_map)
        if self._cloud_pub is not None and result.points is not None and self._cloud_pub.get_subscription_count():
            step = max(1, -(-len(result.points) // cfg.cloud_max_points))
            self._cloud_pub.publish(cloud_msg(result.points[::step], result.colors[::step], cfg.base_frame, stamp))
        self._frames += 1
        self._busy_ms += (time.perf_counter() - t0) * 1e3
        self._last_error = ""
        if result.warnings != self._last_warnings:
            self._last_warnings = list(result.warnings)
            if result.warnings:
                self._report(NodeStatus.WARN, "; ".join(result.warnings))
        if self._frames == 1 or self._frames % cfg.status_every_n == 0:
            names = ", ".join(o.name for o in result.scene.objects)
            mean_ms = self._busy_ms / self._frames
            self._report(
                NodeStatus.OK,
                f"{self._frames} frame(s), {self._dropped} dropped while busy, {mean_ms:.0f} ms each; last: {names}",
            )

    def destroy_node(self) -> None:
        self._close_camera()
        super().destroy_node()


def _pose(
    position: Sequence[float],
    orientation_xyzw: Sequence[float],
    fields: tuple[str, str] = ("camera_position_m", "camera_orientation_xyzw"),
    error: type[RoboSpatialError] = ConfigError,
) -> np.ndarray:
    """(4, 4) from [x, y, z] (metres) and a quaternion [x, y, z, w] (normalised); `error` naming the
    field when either is malformed (not finite, wrong length, zero quaternion, beyond 1e4 m)."""
    p = validation.finite_array(_listed(position), (3,), fields[0], error)
    q = validation.quaternion(_listed(orientation_xyzw), fields[1], error)
    return validation.rigid_transform(make_transform(matrix_from_quaternion(q), p), fields[0], error)


def _listed(values: Any) -> Any:
    """A sequence as a list (strings and scalars as they are, so that the shape check names them)."""
    return list(values) if isinstance(values, (list, tuple)) else values


def main(args: list[str] | None = None) -> int:
    return run_node(PerceptionNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
