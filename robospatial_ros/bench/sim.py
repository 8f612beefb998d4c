"""robospatial bench sim: random tabletop episodes end to end; success rate and failure causes.

Each episode: a seeded random layout, a random command (a pickable object, another object,
a relation and a frame), then the full pipeline of `robospatial demo`.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections import Counter

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="robospatial bench sim", description=__doc__)
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1000, help="first layout seed")
    args = parser.parse_args(argv)
    config = DemoConfig(spatial=load_config(SpatialConfig, DEFAULT_TABLETOP_CONFIG))
    rng = random.Random(args.seed)
    causes: Counter[str] = Counter()
    durations, successes, truth_agrees = [], 0, 0
    start = time.perf_counter()
    for k in range(args.episodes):
        seed = args.seed + k
        names = TabletopSim.layout_names(config.sim, seed)
        command = random_command(rng, names)
        t0 = time.perf_counter()
        ep = run_episode(command, seed, config)
        durations.append(time.perf_counter() - t0)
        successes += ep.success
        truth_agrees += ep.success and bool(ep.check_ground_truth)
        if not ep.success:
            causes[ep.failure.split(":")[0]] += 1
            print(f"  seed {seed}: {command!r}: {ep.failure}")
    total = time.perf_counter() - start
    print()
    print(f"{'episodes':<28}{args.episodes}")
    print(f"{'success rate':<28}{successes / args.episodes:.0%}  (target >= 90%)")
    print(f"{'... ground truth agrees':<28}{truth_agrees}/{successes} (the check asked on the simulator's boxes)")
    print(f"{'total time':<28}{total:.0f} s  (target < 300 s for 50)")
    print(f"{'median episode':<28}{statistics.median(durations):.2f} s")
    for cause, n in causes.most_common():
        print(f"{'failed at ' + cause:<28}{n}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
