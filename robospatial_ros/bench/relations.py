"""robospatial bench relations [DIR]: how often each configuration rule commits on real depth.

On every frame of DIR (as `bench realdata` reads it), every pair of perceived objects is asked
left/right and in front/behind in the camera's (ego) frame under each rule:

- strict: extents must separate (the RoboSpatial reference default);
- lenient: centroids / mid-depths decide (the reference's lenient mode);
- lenient + margin: mid-depths must differ by at least the margin (metres) to commit.

A pair commits when the rule says one way (not "neither"). Agreement is measured against the
perceived objects' observed point centroids (image x, camera depth) where those differ clearly
(by more than 3 cm in depth, or 20 px in x): the rule agrees when it commits the same way, or
abstains. The output is the evidence behind the tabletop defaults (README, docs/architecture.md).
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from robospatial_ros.bench import realdata
from robospatial_ros.core.errors import RoboSpatialError
from robospatial_ros.core.perception.pipeline import Perception, PerceptionResult
from robospatial_ros.core.spatial.configuration import depth, horizontal
from robospatial_ros.core.spatial.types import Relation
from robospatial_ros.core.spatial.view import PlanarView, SceneView
from robospatial_ros.core.tables import format_table

CLEAR_DEPTH_M = 0.03  # centroids this far apart in depth: "truly" one in front of the other
CLEAR_X_PX = 20.0
MARGINS_M = (0.01, 0.02, 0.03)


@dataclass
class Tally:
    pairs: int = 0
    committed: int = 0
    clear: int = 0  # pairs whose centroids differ clearly
    agree: int = 0  # ... where the rule commits the right way
    wrong: int = 0  # ... where it commits the wrong way

    def row(self, name: str) -> list[str]:
        commit = f"{self.committed / self.pairs:.0%}" if self.pairs else "-"
        right = f"{self.agree / self.clear:.0%}" if self.clear else "-"
        wrong = f"{self.wrong / self.clear:.0%}" if self.clear else "-"
        return [name, str(self.pairs), commit, right, wrong]


@dataclass
class Tallies:
    by_rule: dict[str, Tally] = field(default_factory=dict)

    def add(self, rule: str, said: Relation | None, truth: Relation | None) -> None:
        t = self.by_rule.setdefault(rule, Tally())
        t.pairs += 1
        t.committed += said is not None
        if truth is not None:
            t.clear += 1
            t.agree += said == truth
            t.wrong += said is not None and said != truth


def _depth_with_margin(a: PlanarView, b: PlanarView, margin_m: float) -> Relation | None:
    mid_a, mid_b = (a.near + a.far) / 2, (b.near + b.far) / 2
    if mid_a < mid_b - margin_m:
        return Relation.IN_FRONT
    if mid_a > mid_b + margin_m:
        return Relation.BEHIND
    return None


def _truth(a_xz: np.ndarray, b_xz: np.ndarray) -> tuple[Relation | None, Relation | None]:
    """(left/right, front/behind) of A vs B from observed centroids (image x px, depth m), None if unclear."""
    dx, dz = a_xz[0] - b_xz[0], a_xz[1] - b_xz[1]
    lr = None if abs(dx) < CLEAR_X_PX else (Relation.LEFT if dx < 0 else Relation.RIGHT)
    fb = None if abs(dz) < CLEAR_DEPTH_M else (Relation.IN_FRONT if dz < 0 else Relation.BEHIND)
    return lr, fb


def _centroid(view: SceneView, name: str, points: np.ndarray) -> np.ndarray:
    """(image x px, camera depth m) of the observed points inside the object's box (its centre if none)."""
    obj = view.scene.get(name)
    box = obj.box
    local = (points - box.center) @ box.rotation  # (N, 3) box frame
    inside = (np.abs(local) <= box.size / 2 + 0.005).all(axis=1)
    pts = points[inside] if inside.sum() >= 5 else box.center[None]
    uv, d = view.scene.camera.project(pts)
    ok = np.isfinite(uv).all(axis=1) & (d > 0)
    return np.array([float(np.median(uv[ok, 0])), float(np.median(d[ok]))]) if ok.any() else np.full(2, np.nan)


def tally_frame(result: PerceptionResult, tallies: Tallies) -> int:
    scene = result.scene
    view = SceneView(scene)
    names = [o.name for o in scene.objects[1:]]  # the support comes first
    points = np.asarray(result.points, dtype=float)  # (N, 3) world frame, metres
    centroids = {n: _centroid(view, n, points) for n in names}
    for a, b in itertools.combinations(names, 2):
        va, vb = view.view(scene.get(a)).ego, view.view(scene.get(b)).ego
        if va is None or vb is None or not np.isfinite([*centroids[a], *centroids[b]]).all():
            continue
        lr, fb = _truth(centroids[a], centroids[b])
        tallies.add("left/right strict", horizontal(va, vb, True), lr)
        tallies.add("left/right lenient", horizontal(va, vb, False), lr)
        tallies.add("front/behind strict", depth(va, vb, True), fb)
        tallies.add("front/behind lenient", depth(va, vb, False), fb)
        for m in MARGINS_M:
            tallies.add(f"front/behind lenient, {m * 100:.0f} cm margin", _depth_with_margin(va, vb, m), fb)
    return len(names)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="robospatial bench relations", description=__doc__)
    parser.add_argument("dir", nargs="?", default=None, help="frames (default: the repository's tests/data/realdata)")
    args = parser.parse_args(argv)
    root = Path(args.dir) if args.dir else realdata.REPO_DATA
    perception, tallies = Perception(), Tallies()
    frames = 0
    for spec in realdata.read_index(root):
        if spec.expected_objects is None:
            continue  # clutter frames: no count, often no separable objects
        try:
            result = realdata.perceive(perception, realdata.load(root, spec))
        except RoboSpatialError as exc:
            print(f"  {spec.name}: skipped ({exc})")
            continue
        frames += 1
        tally_frame(result, tallies)
    header = ["rule (ego frame)", "pairs", "commits", "agrees (clear pairs)", "wrong (clear pairs)"]
    print(f"{frames} frames from {root}")
    print(format_table([header, *(t.row(name) for name, t in tallies.by_rule.items())]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
