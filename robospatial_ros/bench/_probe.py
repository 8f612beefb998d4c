"""What the ROS benchmarks share (not a benchmark itself): a probe node in its own context, and percentiles."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor


class Probe:
    """A benchmark's own node, context and executor on `domain_id`: subscribe and publish through
    `node`, wait with `spin_until`, `close` when done."""

    def __init__(self, domain_id: int, name: str = "bench_probe"):
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def spin_until(self, done: Callable[[], object], timeout_s: float) -> bool:
        """Spin until `done()` holds or `timeout_s` passed; whether it holds."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not done():
            self.executor.spin_once(timeout_sec=0.005)
        return bool(done())

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of `values` by the nearest rank; NaN for none."""
    ordered = sorted(values)
    return ordered[min(int(round(q * (len(ordered) - 1))), len(ordered) - 1)] if ordered else float("nan")
