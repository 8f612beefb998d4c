"""Play the camera topics of a recorded ROS 2 bag into the running graph (`robospatial replay BAG`).

What robot users record first (`ros2 bag record` of the camera driver's topics) becomes the graph's
input: colour, aligned depth, camera_info (and detections, when recorded) go out on their recorded
topic names (remap them with `--ros-args -r FROM:=TO`), at the recorded rate or a multiple of it,
with their recorded header stamps, so perception matches colour and depth as it did live. The bag
is read with `rosbags` (no ROS install needed for it, `.db3` and `.mcap`, a bag folder or one
storage file); messages are published as the recorded CDR bytes, never decoded. With `clock` the
recording's receive times are published on /clock (for nodes on use_sim_time).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robospatial_ros.core.configio import validate_fields
from robospatial_ros.core.errors import ConfigError, RoboSpatialError

# The types played by default: what the perception node (and the reasoner's model backends) read.
CAMERA_TYPES = (
    "sensor_msgs/msg/Image",
    "sensor_msgs/msg/CameraInfo",
    "robospatial_ros/msg/InstanceMasks",
    "robospatial_ros/msg/BoxDetections2D",
)
IMAGE_TYPE = "sensor_msgs/msg/Image"
CLOCK_TOPIC = "/clock"
GRACE_S = 2.0  # see BagPlayer.wait_for_subscribers
ACK_TIMEOUT_S = 3.0  # at the end, how long the subscribers may take to acknowledge the last messages


class ReplayError(RoboSpatialError):
    """The bag cannot be read, or holds none of the topics to play."""


@dataclass(frozen=True)
class ReplayConfig:
    """How to play a bag (seconds, multiples of the recorded rate)."""

    rate: float = 1.0  # 1: as recorded; 2: twice as fast; 0: as fast as it goes
    loop: bool = False  # start over at the end (until interrupted)
    topics: tuple[str, ...] = ()  # the topics to play; empty: every topic of a CAMERA_TYPES type
    clock: bool = False  # publish the recording's times on /clock (for use_sim_time)
    wait_for_subscribers_s: float = 10.0  # before playing, wait this long at most for the graph to listen
    node_name: str = "bag_replay"

    def __post_init__(self) -> None:
        validate_fields(self, "replay")
        if not self.rate >= 0:
            raise ConfigError(f"rate must be >= 0 (0: as fast as it goes), got {self.rate!r}")
        if self.wait_for_subscribers_s < 0:
            raise ConfigError(f"wait_for_subscribers_s must be >= 0, got {self.wait_for_subscribers_s!r}")


@dataclass
class ReplayStats:
    """What one replay did; frames are messages on the colour topic (the first image topic played)."""

    messages: int = 0
    frames: int = 0
    seconds: float = 0.0
    frame_topic: str = ""
    topics: dict[str, str] = field(default_factory=dict)  # topic -> type, as played

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def summary(self, bag: Path) -> str:
        return (
            f"replayed {self.messages} messages of {len(self.topics)} topics from {bag} in {self.seconds:.2f} s: "
            f"{self.frames} frames on {self.frame_topic or '-'} ({self.frames_per_s:.1f} frames/s)"
        )


def message_class(msgtype: str) -> type:
    """'sensor_msgs/msg/Image' -> the rclpy message class; ReplayError if that package is not installed."""
    package, kind, name = (msgtype.split("/") + ["", ""])[:3]
    try:
        return getattr(importlib.import_module(f"{package}.{kind}"), name)
    except (ImportError, AttributeError, ValueError):
        raise ReplayError(f"message type {msgtype!r} is not installed here") from None


def _open(bag: Path) -> Any:
    from rosbags.rosbag2 import Reader, ReaderError

    try:
        reader = Reader(bag)
        reader.open()
    except (ReaderError, FileNotFoundError, OSError) as exc:
        raise ReplayError(f"cannot read the bag {bag}: {exc}") from None
    return reader


def _chosen(reader: Any, config: ReplayConfig) -> list[Any]:
    """The bag's connections to play: the named topics, or those of the camera types."""
    connections = list(reader.connections)
    if config.topics:
        missing = sorted(set(config.topics) - {c.topic for c in connections})
        if missing:
            listed = ", ".join(sorted({c.topic for c in connections})) or "none"
            raise ReplayError(f"topic(s) {', '.join(missing)} not in the bag; it has: {listed}")
        return [c for c in connections if c.topic in config.topics]
    chosen = [c for c in connections if c.msgtype in CAMERA_TYPES]
    if not chosen:
        listed = ", ".join(f"{c.topic} ({c.msgtype})" for c in connections) or "none"
        raise ReplayError(f"the bag has no camera topics ({', '.join(CAMERA_TYPES)}); it has: {listed}")
    return chosen


class BagPlayer:
    """Publishes a bag's chosen topics from an rclpy node (rclpy initialised by the caller)."""

    def __init__(self, bag: Path | str, config: ReplayConfig, context: Any = None):
        import rclpy

        from robospatial_ros.ros.common import SENSOR

        self.bag, self.config = Path(bag), config
        self._reader = _open(self.bag)
        try:
            self._connections = _chosen(self._reader, config)
            self.node = rclpy.create_node(config.node_name, context=context)
        except Exception:
            self._reader.close()
            raise
        self._pubs = {}
        for c in self._connections:
            if c.topic not in self._pubs:
                self._pubs[c.topic] = self.node.create_publisher(message_class(c.msgtype), c.topic, SENSOR)
        self._clock = self._clock_publisher() if config.clock else None
        images = [c.topic for c in self._connections if c.msgtype == IMAGE_TYPE]
        self.stats = ReplayStats(frame_topic=images[0] if images else "")
        self.stats.topics = {c.topic: c.msgtype for c in self._connections}

    def _clock_publisher(self) -> Any:
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from rosgraph_msgs.msg import Clock

        return self.node.create_publisher(
            Clock, CLOCK_TOPIC, QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
        )

    def wait_for_subscribers(self, stop: Any = None) -> bool:
        """Until every played topic has a subscriber (camera_info and masks matter as much as the images:
        perception drops frames without them), `wait_for_subscribers_s` at most; once the image topics have
        theirs, the others get GRACE_S more (a recorded topic nobody reads does not hold the replay up)."""
        start = time.monotonic()
        images = [t for t, kind in self.stats.topics.items() if kind == IMAGE_TYPE]
        images_at = None
        while not (stop and stop()):
            now = time.monotonic()
            if all(p.get_subscription_count() > 0 for p in self._pubs.values()):
                return True
            if images_at is None and all(self._pubs[t].get_subscription_count() > 0 for t in images):
                images_at = now
            if now - start > self.config.wait_for_subscribers_s or (images_at and now - images_at > GRACE_S):
                return False
            time.sleep(0.05)
        return False

    def play(self, stop: Any = None) -> ReplayStats:
        """Publish every chosen message at `rate` times the recorded pace (again and again with `loop`);
        `stop()` true ends it early."""
        t0 = time.monotonic()
        while self._play_once(stop) and self.config.loop:
            pass
        self.stats.seconds = time.monotonic() - t0
        return self.stats

    def _play_once(self, stop: Any) -> bool:
        """One pass over the bag; False when `stop()` ended it."""
        start_wall, start_ns = time.monotonic(), None
        for connection, stamp_ns, raw in self._reader.messages(connections=self._connections):
            if stop and stop():
                return False
            start_ns = stamp_ns if start_ns is None else start_ns
            self._pace(start_wall, (stamp_ns - start_ns) * 1e-9)
            self._publish(connection.topic, stamp_ns, bytes(raw))
        return True

    def _pace(self, start_wall: float, bag_offset_s: float) -> None:
        if self.config.rate > 0:
            delay = start_wall + bag_offset_s / self.config.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def _publish(self, topic: str, stamp_ns: int, raw: bytes) -> None:
        if self._clock is not None:
            from builtin_interfaces.msg import Time
            from rosgraph_msgs.msg import Clock

            self._clock.publish(Clock(clock=Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)))
        self._pubs[topic].publish(raw)  # the recorded CDR bytes as they are
        self.stats.messages += 1
        self.stats.frames += topic == self.stats.frame_topic

    def flush(self) -> None:
        """Wait until the subscribers have the last messages (they are lost when the process ends first)."""
        from rclpy.duration import Duration

        for pub in self._pubs.values():
            pub.wait_for_all_acked(Duration(seconds=ACK_TIMEOUT_S))

    def close(self) -> None:
        self.node.destroy_node()
        self._reader.close()


def replay(bag: Path | str, config: ReplayConfig, ros_args: Sequence[str] = (), stop: Any = None) -> ReplayStats:
    """Initialise rclpy (with `ros_args`, e.g. remaps), play the bag once (or until `stop()` with loop), shut down."""
    import rclpy
    from rclpy.context import Context
    from rclpy.signals import SignalHandlerOptions

    context = Context()
    # Ctrl-C is a KeyboardInterrupt for the caller: rclpy's handler would shut the context mid-publish.
    rclpy.init(args=["robospatial_replay", *ros_args], context=context, signal_handler_options=SignalHandlerOptions.NO)
    try:
        player = BagPlayer(bag, config, context)
        try:
            player.wait_for_subscribers(stop)
            stats = player.play(stop)
            player.flush()
            return stats
        finally:
            player.close()
    finally:
        rclpy.try_shutdown(context=context)
