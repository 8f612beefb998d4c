"""Running nodes as real processes over DDS in tests, and probing them from the test process.

Each test module gets its own ROS_DOMAIN_ID (discovery stays on localhost), so modules never
hear each other's nodes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor

_used_domains: set[int] = set()


def fresh_domain_id() -> int:
    """A domain id (1..100) unlikely to be used by another test run on this machine."""
    base = 1 + (os.getpid() * 7) % 90
    for k in range(90):
        d = 1 + (base + k) % 100
        if d not in _used_domains:
            _used_domains.add(d)
            return d
    raise RuntimeError("no free ROS domain id")


def ros_env(domain_id: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ROS_DOMAIN_ID=str(domain_id), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", MUJOCO_GL="egl", PYTHONUNBUFFERED="1"
    )
    return env


@contextmanager
def node_process(executable: str, domain_id: int, ros_args: list[str] | None = None) -> Iterator[subprocess.Popen]:
    """`python -m robospatial_ros.ros.<executable> --ros-args ...` as a child process. Its output goes to a
    file, not a pipe nobody reads (a node logging many errors would block once the pipe filled);
    `proc.read_log()` returns it."""
    cmd = [sys.executable, "-m", f"robospatial_ros.ros.nodes.{executable}", "--ros-args", *(ros_args or [])]
    with tempfile.TemporaryFile(mode="w+t") as log:
        proc = subprocess.Popen(cmd, env=ros_env(domain_id), stdout=log, stderr=subprocess.STDOUT, text=True)
        proc.read_log = lambda: (log.seek(0), log.read())[1]
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


class Probe:
    """A test-side node in its own context: publish, collect what arrives, wait for conditions."""

    def __init__(self, domain_id: int, name: str = "test_probe"):
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.received: dict[str, list[Any]] = defaultdict(list)
        self._pubs: dict[str, Any] = {}

    def subscribe(self, msg_type: type, topic: str, qos: Any) -> None:
        self.node.create_subscription(msg_type, topic, self.received[topic].append, qos)

    def publisher(self, msg_type: type, topic: str, qos: Any) -> Any:
        if topic not in self._pubs:
            self._pubs[topic] = self.node.create_publisher(msg_type, topic, qos)
        return self._pubs[topic]

    def publish(self, msg_type: type, topic: str, msg: Any, qos: Any) -> None:
        self.publisher(msg_type, topic, qos).publish(msg)

    def spin_until(self, condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if condition():
                return True
            self.executor.spin_once(timeout_sec=0.05)
        return condition()

    def wait_for_subscribers(self, topic: str, count: int = 1, timeout_s: float = 15.0) -> bool:
        return self.spin_until(lambda: self.node.count_subscribers(topic) >= count, timeout_s)

    def wait_for_publishers(self, topic: str, count: int = 1, timeout_s: float = 15.0) -> bool:
        return self.spin_until(lambda: self.node.count_publishers(topic) >= count, timeout_s)

    def get_parameters(self, node_name: str, names: list[str], timeout_s: float = 15.0) -> dict[str, Any]:
        """{name: value} of another node's parameters, over its parameter services."""
        from rclpy.parameter import parameter_value_to_python
        from rclpy.parameter_client import AsyncParameterClient

        client = AsyncParameterClient(self.node, node_name)
        assert client.wait_for_services(timeout_sec=timeout_s), f"no parameter services of {node_name}"
        future = client.get_parameters(names)
        assert self.spin_until(future.done, timeout_s), f"{node_name} did not answer get_parameters"
        return {n: parameter_value_to_python(v) for n, v in zip(names, future.result().values)}

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


VENV_BIN = Path(sys.executable).parent


def _sigint_default() -> None:
    """In the child before exec: SIGINT back to its default. A test run started in the background of a
    non-interactive shell (`make test &`) inherits SIGINT ignored, and so would every launch and node."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Process:
    """A child process in its own session, SIGINT not ignored, its output collected line by line in the
    background; `stop()` sends SIGINT (what Ctrl-C sends) and waits, then kills the group."""

    def __init__(self, cmd: list[str], env: dict[str, str], cwd: str | Path | None = None):
        self.cmd = [str(c) for c in cmd]
        self.proc = subprocess.Popen(
            self.cmd,
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            preexec_fn=_sigint_default,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, text: str, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines) or self.proc.poll() is not None:
                break
            time.sleep(0.05)
        return any(text in line for line in self.lines)

    def wait(self, timeout_s: float) -> int | None:
        try:
            code = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None
        self._reader.join(timeout=5)
        return code

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGINT (what Ctrl-C sends), then SIGKILL to the whole session if it does not end in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        code = self.wait(timeout_s)
        if code is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            code = self.proc.wait(timeout=10)
        self._reader.join(timeout=5)
        return code

    def __enter__(self) -> Process:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


# --- recording the simulator's camera topics into ROS 2 bags ---------------------------------------------------

REPO = Path(__file__).resolve().parents[1]
SIM_CAMERA_TYPES = {  # what the sim bridge publishes for perception, and the recorded types
    "/camera/camera/color/image_raw": "sensor_msgs/msg/Image",
    "/camera/camera/aligned_depth_to_color/image_raw": "sensor_msgs/msg/Image",
    "/camera/camera/color/camera_info": "sensor_msgs/msg/CameraInfo",
    "/robospatial/detections/masks": "robospatial_ros/msg/InstanceMasks",
}


def _bag_typestore() -> Any:
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    text = (REPO / "msg" / "InstanceMasks.msg").read_text()
    store.register(get_types_from_msg(text, "robospatial_ros/msg/InstanceMasks"))
    return store


def record_sim_bags(out_dir: Path, frames: int, domain_id: int, seed: int = 0) -> dict[str, Path]:
    """Run the sim bridge (tabletop `seed`) in this process and record its camera topics and masks over DDS,
    as `ros2 bag record` would, until `frames` colour frames are in; write them as an .mcap and a .db3 bag.
    Returns {"mcap": folder, "db3": folder} (each a bag folder with metadata.yaml)."""
    os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering, before MuJoCo loads
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rosbags.rosbag2 import StoragePlugin, Writer

    from robospatial_ros.ros.graph import SIM_BRIDGE, GraphRunner
    from robospatial_ros.ros.replay import message_class

    recorded: list[tuple[str, int, bytes]] = []  # (topic, receive time ns, CDR bytes)
    context = Context()
    rclpy.init(context=context, domain_id=domain_id)
    runner = GraphRunner([SIM_BRIDGE], {"sim_bridge": {"publish_period_s": 0.1, "sim.seed": seed}}, context=context)
    recorder = rclpy.create_node("bag_recorder", context=context)
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    for topic, kind in SIM_CAMERA_TYPES.items():
        callback = lambda raw, t=topic: recorded.append((t, time.time_ns(), bytes(raw)))  # noqa: E731
        recorder.create_subscription(message_class(kind), topic, callback, qos, raw=True)
    runner.add(recorder)
    runner.start()
    colour = next(iter(SIM_CAMERA_TYPES))
    deadline = time.monotonic() + 60
    while sum(t == colour for t, _, _ in recorded) < frames and time.monotonic() < deadline:
        time.sleep(0.05)
    runner.remove(recorder)
    recorder.destroy_node()
    runner.shutdown()
    rclpy.shutdown(context=context)
    assert sum(t == colour for t, _, _ in recorded) >= frames, "the sim bridge published too few frames"
    store, bags = _bag_typestore(), {}
    for name, plugin in (("mcap", StoragePlugin.MCAP), ("db3", StoragePlugin.SQLITE3)):
        bags[name] = out_dir / f"sim_{name}"
        with Writer(bags[name], version=9, storage_plugin=plugin) as writer:
            connections = {t: writer.add_connection(t, k, typestore=store) for t, k in SIM_CAMERA_TYPES.items()}
            for topic, stamp_ns, raw in recorded:
                writer.write(connections[topic], stamp_ns, raw)
    return bags
