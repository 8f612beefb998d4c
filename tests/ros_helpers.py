"""Running nodes as real processes over DDS in tests, and probing them from the test process.

Each test module gets its own ROS_DOMAIN_ID (discovery stays on localhost), so modules never
hear each other's nodes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
    """`python -m robospatial_ros.ros.<executable> --ros-args ...` as a child process."""
    cmd = [sys.executable, "-m", f"robospatial_ros.ros.nodes.{executable}", "--ros-args", *(ros_args or [])]
    proc = subprocess.Popen(cmd, env=ros_env(domain_id), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


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

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)
