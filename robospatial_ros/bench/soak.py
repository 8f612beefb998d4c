"""robospatial bench soak: the node graph with the simulated camera streaming, commanded for minutes.

`robospatial bringup --sim` in this process (sim bridge, perception, reasoner, planner; plans are dry
runs), the sim bridge publishing a frame every 1/30 s (rendered again only when something moved), and a
command or question every 2 s; then, with the frames still streaming, a burst of `--burst` commands sent
at once. Prints answers/commands, command -> answer latency p50/p95/max, the objects rate perception
reached, the burst's time to its last answer and whether the answers came in order, and this process's
RSS at start, after warm-up and at the end, with the slope after warm-up. Targets (issue 16): every
command answered, p95 <= 300 ms, a burst of 100 answered in order in <= 15 s, RSS growth after warm-up
< 5 %.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import dataclass, field

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

from std_msgs.msg import String

from robospatial_ros.bench._probe import Probe, percentile
from robospatial_ros.core.errors import ConfigError
from robospatial_ros.msg import DetectedObjectArray, SpatialAnswer
from robospatial_ros.ros import common
from robospatial_ros.ros.bringup import start_graph, stop_graph
from robospatial_ros.ros.graph import LaunchArgs

# On the simulated table (mug, bowl, plate, box, can, banana, block): placements and questions mixed.
COMMANDS = (
    "put the can to the left of the bowl from the robot's perspective",
    "is the mug left of the bowl?",
    "put the block in front of the plate from the robot's perspective",
    "points in the free space behind the bowl",
    "can the banana fit right of the box?",
)


@dataclass(frozen=True)
class SoakConfig:
    """One soak run: its length, the camera and command periods, the warm-up excluded from the RSS slope."""

    minutes: float = 10.0
    frame_period_s: float = 1.0 / 30.0
    command_period_s: float = 2.0
    warmup_s: float = 30.0
    answer_timeout_s: float = 30.0
    burst: int = 100  # commands sent at once after the timed run (0: none)
    domain_id: int = 79

    def __post_init__(self) -> None:
        for name in ("minutes", "frame_period_s", "command_period_s", "answer_timeout_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not 0 <= self.warmup_s < self.minutes * 60.0:
            raise ConfigError(f"warmup_s must be in [0, minutes * 60), got {self.warmup_s!r}")
        if self.burst < 0:
            raise ConfigError(f"burst must be >= 0, got {self.burst!r}")


@dataclass
class SoakResult:
    sent: int = 0
    answers: dict[str, float] = field(default_factory=dict)  # cmd id -> seconds from publish to answer
    order: list[str] = field(default_factory=list)  # cmd ids in the order their answers arrived
    burst_ids: list[str] = field(default_factory=list)  # the burst's cmd ids, in the order sent
    burst_s: float = float("nan")  # from the burst's first publish to its last answer
    succeeded: int = 0
    objects: list[float] = field(default_factory=list)  # monotonic arrival times of objects messages
    rss_mb: list[tuple[float, float]] = field(default_factory=list)  # (seconds since start, RSS MB)


def rss_mb() -> float:
    """This process's resident set size (the graph's nodes run in it), MB."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def soak(cfg: SoakConfig) -> SoakResult:
    """Run the graph for cfg.minutes, commanding it every command_period_s; the measurements."""
    overrides = {"sim_bridge": {"publish_period_s": cfg.frame_period_s}}
    graph_context, runner = start_graph(LaunchArgs(sim=True), extra_overrides=overrides, domain_id=cfg.domain_id)
    probe = Probe(cfg.domain_id, "soak_probe")
    node = probe.node
    result, sent_at = SoakResult(), {}

    def on_answer(msg: SpatialAnswer) -> None:
        if msg.query_id in sent_at and msg.query_id not in result.answers:
            result.answers[msg.query_id] = time.monotonic() - sent_at[msg.query_id]
            result.order.append(msg.query_id)
            result.succeeded += bool(msg.success)

    node.create_subscription(SpatialAnswer, common.ANSWER_TOPIC, on_answer, common.RELIABLE)
    node.create_subscription(
        DetectedObjectArray, common.OBJECTS_TOPIC, lambda m: result.objects.append(time.monotonic()), common.LATCHED
    )
    commands = node.create_publisher(String, common.COMMAND_TOPIC, common.RELIABLE)
    try:
        probe.spin_until(lambda: node.count_subscribers(common.COMMAND_TOPIC) > 0 and result.objects, 60.0)
        start = time.monotonic()
        result.rss_mb.append((0.0, rss_mb()))

        def send() -> str:
            result.sent += 1
            cmd_id = f"cmd-{result.sent}"  # the reasoner numbers commands in arrival order
            sent_at[cmd_id] = time.monotonic()
            commands.publish(String(data=COMMANDS[(result.sent - 1) % len(COMMANDS)]))
            return cmd_id

        next_command, next_rss, end = start, start + 1.0, start + cfg.minutes * 60.0
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_command:
                send()
                next_command += cfg.command_period_s
            if now >= next_rss:
                result.rss_mb.append((now - start, rss_mb()))
                next_rss += 5.0
            probe.executor.spin_once(timeout_sec=0.01)
        probe.spin_until(lambda: len(result.answers) >= result.sent, cfg.answer_timeout_s)
        result.rss_mb.append((time.monotonic() - start, rss_mb()))
        if cfg.burst:
            result.burst_ids = [send() for _ in range(cfg.burst)]
            first = sent_at[result.burst_ids[0]]
            probe.spin_until(lambda: all(i in result.answers for i in result.burst_ids), cfg.answer_timeout_s)
            if all(i in result.answers for i in result.burst_ids):
                result.burst_s = max(sent_at[i] + result.answers[i] for i in result.burst_ids) - first
    finally:
        probe.close()
        stop_graph(graph_context, runner)
    return result


def _rss_after(samples: list[tuple[float, float]], t_s: float) -> tuple[float, float]:
    """The first (seconds, MB) sample at or after t_s (the last one if none)."""
    return next((s for s in samples if s[0] >= t_s), samples[-1])


def report(cfg: SoakConfig, result: SoakResult) -> list[str]:
    """The printed table: one line per figure."""
    burst = set(result.burst_ids)
    latencies_ms = [v * 1e3 for k, v in result.answers.items() if k not in burst]
    p50 = statistics.median(latencies_ms) if latencies_ms else float("nan")
    rss0 = result.rss_mb[0][1]
    (tw, rss_w), (t1, rss1) = _rss_after(result.rss_mb, cfg.warmup_s), result.rss_mb[-1]
    span = result.objects[-1] - result.objects[0] if len(result.objects) > 1 else float("nan")
    growth = 100.0 * (rss1 - rss_w) / rss_w
    slope = (rss1 - rss_w) / ((t1 - tw) / 60.0) if t1 > tw else float("nan")
    return [
        f"{'soak':<40}{cfg.minutes:g} min, a frame every {cfg.frame_period_s * 1e3:.0f} ms asked, "
        f"a command every {cfg.command_period_s:g} s",
        f"{'answers / commands':<40}{len(result.answers)}/{result.sent} ({result.succeeded} succeeded)",
        f"{'command -> answer p50 / p95 / max':<40}{p50:.0f}"
        f" / {percentile(latencies_ms, 0.95):.0f} / {max(latencies_ms, default=float('nan')):.0f} ms  (p95 <= 300 ms)",
        f"{'objects messages (perception)':<40}{len(result.objects)}, {(len(result.objects) - 1) / span:.1f} Hz",
        _burst_line(result),
        f"{'RSS start / after warm-up / end':<40}{rss0:.0f} / {rss_w:.0f} (at {tw:.0f} s) / {rss1:.0f} MB "
        f"(at {t1:.0f} s)",
        f"{'RSS after warm-up: growth, slope':<40}{growth:+.1f} %, {slope:+.2f} MB/min  (< 5 %)",
    ]


def _burst_line(result: SoakResult) -> str:
    """The burst: how many answered, in how long, in order or not."""
    ids = result.burst_ids
    if not ids:
        return f"{'burst':<40}none"
    answered = [i for i in result.order if i in set(ids)]
    order = "in order" if answered == ids else "OUT OF ORDER" if len(answered) == len(ids) else "not all answered"
    return (
        f"{'burst: answered, to the last, order':<40}{len(answered)}/{len(ids)}, {result.burst_s:.1f} s, "
        f"{order}  (<= 15 s for 100, in order)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="robospatial bench soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--warmup-s", type=float, default=None, help="default: 10 %% of the run, at most 60 s")
    parser.add_argument("--burst", type=int, default=100, help="commands sent at once at the end (0: none)")
    parser.add_argument("--domain-id", type=int, default=79)
    args = parser.parse_args(argv)
    warmup = args.warmup_s if args.warmup_s is not None else min(60.0, 6.0 * args.minutes)
    try:
        cfg = SoakConfig(minutes=args.minutes, warmup_s=warmup, burst=args.burst, domain_id=args.domain_id)
    except ConfigError as exc:
        parser.error(str(exc))
    for line in report(cfg, soak(cfg)):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
