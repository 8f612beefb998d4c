"""robospatial bench perception: one 640x480 RGB-D frame -> objects, per stage.

The frame is a render of the simulated tabletop (seeded layout, 7 objects); detections
come as the simulator's instance masks, as 2D boxes derived from them, or not at all
(unlabelled clustering, with and without the workcell URDF's table workspace, which keeps
the robot's base out). Real frames: `robospatial bench realdata`.
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")

from robospatial_ros.core.perception.frame import BoxDetections
from robospatial_ros.core.perception.pipeline import Perception, PerceptionConfig
from robospatial_ros.core.urdf import workspace_from_urdf
from robospatial_ros.sim.tabletop import TabletopConfig, TabletopSim

URDF = Path(__file__).resolve().parents[2] / "urdf" / "workcell.urdf"

STAGES = ("validate", "cloud", "plane", "support", "objects", "scene", "total")


def boxes_from_masks(masks: dict[str, np.ndarray]) -> BoxDetections:
    labels, boxes = [], []
    for name, mask in masks.items():
        v, u = np.nonzero(mask)
        labels.append(name)
        boxes.append([u.min(), v.min(), u.max() + 1, v.max() + 1])
    return BoxDetections(labels, np.array(boxes, dtype=float))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="robospatial bench perception", description=__doc__)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    shot = TabletopSim(TabletopConfig(seed=args.seed)).render()
    lo, hi = workspace_from_urdf(URDF)
    workcell = Perception(PerceptionConfig(workspace_min_xyz_m=lo, workspace_max_xyz_m=hi))
    inputs = {
        "masks": (Perception(), shot.masks),
        "2D boxes": (Perception(), boxes_from_masks(shot.masks.masks)),
        "clustering": (Perception(), None),
        "clust.+ws": (workcell, None),  # the workcell URDF's table workspace: the robot base stays out
    }
    print(f"frame {shot.frame.width}x{shot.frame.height}, {len(shot.masks.masks)} objects, median of {args.repeats} ms")
    print(f"{'detections':<12}" + "".join(f"{s:>10}" for s in STAGES) + f"{'objects':>10}  target total <= 25 ms")
    for label, (perception, detections) in inputs.items():
        perception.perceive(shot.frame, detections)  # warm-up
        runs = [perception.perceive(shot.frame, detections) for _ in range(args.repeats)]
        medians = [statistics.median(r.timings_ms.get(s, 0.0) for r in runs) for s in STAGES]
        found = len(runs[-1].scene.objects) - 1
        verdict = "ok" if medians[-1] <= 25 else "MISS"
        print(f"{label:<12}" + "".join(f"{m:>10.2f}" for m in medians) + f"{found:>10}  {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
