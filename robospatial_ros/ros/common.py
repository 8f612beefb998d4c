"""What every robospatial node shares: topic names, QoS profiles and status reporting."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions

from robospatial_ros.core.errors import RoboSpatialError
from robospatial_ros.msg import NodeStatus
from robospatial_ros.ros.conversions import status_msg

# Default topic names (docs/architecture.md, "Topics"); every one is remappable.
COLOR_TOPIC = "/camera/camera/color/image_raw"
DEPTH_TOPIC = "/camera/camera/aligned_depth_to_color/image_raw"
CAMERA_INFO_TOPIC = "/camera/camera/color/camera_info"
COMMAND_TOPIC = "/robospatial/command"
QUERY_TOPIC = "/robospatial/query"
OBJECTS_TOPIC = "/robospatial/objects"
CLOUD_TOPIC = "/robospatial/cloud"
ANSWER_TOPIC = "/robospatial/answer"
PLACEMENT_TOPIC = "/robospatial/placement"
MARKERS_TOPIC = "/robospatial/markers"
# For RViz, which cannot show a DetectedObjectArray: its boxes as markers and its observed obstacle map.
OBJECT_MARKERS_TOPIC = "/robospatial/objects/markers"
OBSTACLE_MAP_TOPIC = "/robospatial/obstacle_map"
PLAN_TOPIC = "/robospatial/plan"
STATUS_TOPIC = "/robospatial/status"
# Operator names for perceived objects (std_msgs/String naming commands, 'call object 3 the mug'):
# the perception node remembers them with the object's stable id; the reasoner forwards its commands.
NAMES_TOPIC = "/robospatial/names"
# The simulation bridge's own topics (ground truth latched, Int32 seed to lay the table out again).
GROUND_TRUTH_TOPIC = "/robospatial/sim/ground_truth"
RESET_TOPIC = "/robospatial/sim/reset"

# Commands, answers, plans and statuses must not be lost: reliable, and deep enough for a burst.
RELIABLE = QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
# Camera streams: only the latest frame matters. RELIABLE, not BEST_EFFORT: with Fast DDS's
# default transports best-effort silently drops messages over ~1 MB (measured: see the README's ROS section).
SENSOR = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
# The latest scene, also for late joiners.
LATCHED = QoSProfile(
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
    history=HistoryPolicy.KEEP_LAST,
)


class StatusReporter:
    """Publishes NodeStatus events and mirrors them to the node's log."""

    def __init__(self, node: Node):
        self._node = node
        self._pub = node.create_publisher(NodeStatus, STATUS_TOPIC, RELIABLE)

    def __call__(self, level: int, event: str, message: str, event_id: str = "") -> None:
        msg = status_msg(self._node.get_name(), level, event, message, event_id)
        msg.header.stamp = self._node.get_clock().now().to_msg()
        self._pub.publish(msg)
        # One call site per severity: rclpy refuses a log line whose severity changes between calls.
        text, log = f"[{event}] {message}", self._node.get_logger()
        if level == NodeStatus.OK:
            log.info(text)
        elif level == NodeStatus.WARN:
            log.warning(text)
        else:
            log.error(text)

    def ok(self, event: str, message: str, event_id: str = "") -> None:
        self(NodeStatus.OK, event, message, event_id)

    def warn(self, event: str, message: str, event_id: str = "") -> None:
        self(NodeStatus.WARN, event, message, event_id)

    def error(self, event: str, message: str, event_id: str = "") -> None:
        self(NodeStatus.ERROR, event, message, event_id)


def run_node(factory: Callable[[], Node], args: list[str] | None = None) -> int:
    """A node's `main`: init, construct, spin until SIGINT/SIGTERM, shut down.

    Bad parameters: exit code 2 with one line (typed errors are logged by the node itself).
    Own signal handling and a single-threaded executor spun in short steps: with rclpy's
    handlers a SIGTERM now and then left the executor waiting, and its multi-threaded
    executor cost more than it gained (perception at 640x480: 10 Hz instead of 30 Hz).
    """
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    node = None
    try:
        node = factory()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
    except ExternalShutdownException:
        pass
    except Exception as exc:
        if node is not None:
            raise  # a failure while serving is a bug: let it show
        if not isinstance(exc, RoboSpatialError):
            print(f"{getattr(factory, '__name__', 'node')}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
