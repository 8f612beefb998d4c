"""robospatial bench sim: random tabletop episodes end to end; success rate and failure causes.

Each episode: a seeded random layout, a random command (a pickable object, another object,
a relation and a frame), then the full pipeline of `robospatial demo --direct`. With `--graph`
the same episodes (same seeds, same commands) also run through the ROS 2 node graph in this
process, over real DDS (`robospatial demo`), and both success rates are printed side by side with
every episode on which the two paths disagree: both run the one main job (core.reasoning.job).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field

from robospatial_ros.core.configio import load_config
from robospatial_ros.core.resources import DEFAULT_TABLETOP_CONFIG
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.sim.demo import DemoConfig, run_episode
from robospatial_ros.sim.tabletop import PICKABLE, TabletopSim

PHRASES = ("to the left of", "to the right of", "in front of", "behind")
FRAMES = ("", " from the robot's perspective", " from the {ref}'s perspective")


def random_command(rng: random.Random, names: list[str]) -> str:
    """A command over the layout's objects: move a pickable one next to another one."""
    movable = [n for n in names if n in PICKABLE]
    target = rng.choice(movable)
    reference = rng.choice([n for n in names if n != target])
    frame = rng.choice(FRAMES).format(ref=reference)
    return f"put the {target} {rng.choice(PHRASES)} the {reference}{frame}"


def episodes(config: DemoConfig, first_seed: int, count: int) -> list[tuple[int, str]]:
    """(seed, command) of every episode: the layout of the seed, a command drawn from one seeded stream."""
    rng = random.Random(first_seed)
    out = []
    for seed in range(first_seed, first_seed + count):
        out.append((seed, random_command(rng, TabletopSim.layout_names(config.sim, seed))))
    return out


@dataclass
class PathResult:
    """One path's outcomes: seed -> (success, failure), and what the table prints."""

    name: str
    outcomes: dict[int, tuple[bool, str]] = field(default_factory=dict)
    durations_s: list[float] = field(default_factory=list)
    truth_agrees: int = 0
    total_s: float = 0.0

    @property
    def successes(self) -> int:
        return sum(ok for ok, _ in self.outcomes.values())

    def rate(self, seeds: set[int]) -> float:
        """Success rate over the episodes of `seeds`."""
        return sum(self.outcomes[s][0] for s in seeds) / max(len(seeds), 1)

    def causes(self) -> Counter[str]:
        return Counter(failure.split(":")[0] for ok, failure in self.outcomes.values() if not ok)


def run_direct(config: DemoConfig, todo: list[tuple[int, str]]) -> PathResult:
    result, start = PathResult("direct"), time.perf_counter()
    for seed, command in todo:
        t0 = time.perf_counter()
        ep = run_episode(command, seed, config)
        result.durations_s.append(time.perf_counter() - t0)
        result.outcomes[seed] = (ep.success, ep.failure)
        result.truth_agrees += ep.success and bool(ep.check_ground_truth)
        if not ep.success:
            print(f"  direct seed {seed}: {command!r}: {ep.failure}", flush=True)
    result.total_s = time.perf_counter() - start
    return result


def run_graph(config: DemoConfig, todo: list[tuple[int, str]]) -> PathResult:
    """The same episodes through one running node graph (the sim bridge lays each seed out again)."""
    from robospatial_ros.ros.graph_demo import GraphSession

    result, start = PathResult("ROS graph"), time.perf_counter()
    with GraphSession(config.spatial, config.job) as session:
        for seed, command in todo:
            t0 = time.perf_counter()
            ep = session.episode(command, seed)
            result.durations_s.append(time.perf_counter() - t0)
            result.outcomes[seed] = (ep.success, ep.failure)
            result.truth_agrees += ep.success and ep.report.get("check", {}).get("ground_truth_answer") == "Yes"
            if not ep.success:
                print(f"  graph  seed {seed}: {command!r}: {ep.failure}", flush=True)
    result.total_s = time.perf_counter() - start
    return result


def print_table(results: list[PathResult], count: int) -> None:
    def row(label: str, values: list[str]) -> None:
        print(f"{label:<28}" + "".join(f"{v:<22}" for v in values))

    print()
    row("", [r.name for r in results])
    row("episodes", [str(count)] * len(results))
    row("success rate", [f"{r.successes / count:.0%} ({r.successes}/{count})" for r in results])
    # Random commands may ask for a side of the reference with no free spot within the arm's reach
    # (the direct path's placement stage finds none): the same layout and command on every path.
    feasible = {seed for seed, (_, failure) in results[0].outcomes.items() if not failure.startswith("placement:")}
    row("... where a spot exists", [f"{r.rate(feasible):.0%} ({len(feasible)} commands)" for r in results])
    row("... ground truth agrees", [f"{r.truth_agrees}/{r.successes}" for r in results])
    row("total time", [f"{r.total_s:.0f} s" for r in results])
    row("median episode", [f"{statistics.median(r.durations_s):.2f} s" for r in results])
    for cause in sorted(set().union(*(r.causes() for r in results))):
        row(f"failed at {cause}", [str(r.causes()[cause]) for r in results])
    print("targets: success >= 95 %; direct and graph equal within one episode; direct < 300 s for 50")


def print_disagreements(direct: PathResult, graph: PathResult, todo: list[tuple[int, str]]) -> int:
    differ = [(s, c) for s, c in todo if direct.outcomes[s][0] != graph.outcomes[s][0]]
    print(f"\nepisodes where the paths disagree: {len(differ)}")
    for seed, command in differ:
        print(f"  seed {seed}: {command!r}")
        for r in (direct, graph):
            ok, failure = r.outcomes[seed]
            print(f"    {r.name:<10} {'success' if ok else failure}")
    return len(differ)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="robospatial bench sim", description=__doc__)
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1000, help="first layout seed")
    parser.add_argument("--graph", action="store_true", help="also run every episode through the ROS 2 node graph")
    args = parser.parse_args(argv)
    os.environ.setdefault("MUJOCO_GL", "egl")
    config = DemoConfig(spatial=load_config(SpatialConfig, DEFAULT_TABLETOP_CONFIG))
    todo = episodes(config, args.seed, args.episodes)
    results = [run_direct(config, todo)]
    if args.graph:
        results.append(run_graph(config, todo))
    print_table(results, args.episodes)
    if args.graph:
        print_disagreements(results[0], results[1], todo)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
