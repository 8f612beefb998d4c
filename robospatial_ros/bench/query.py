"""robospatial bench query: latency of the geometric reasoner on the bundled tabletop.

cold: each query on a fresh SceneView, so projecting every object and stamping the
occupancy grid are included. prepared: that per-scene work done once beforehand (as
the reasoner node does once per perception update: per-object measurements, supports,
obstacle stamps, the grid cells around each object projected into the image, each object's
footprint stencils); each query still computes its own grid, candidates, fits and points.

Targets (a verdict column): a prepared query within 2 ms (context 10 ms), every RoboSpatial
question of the 8-object scene at the reference's 0.1 m grid within 50 ms. Cold rows and the
1 cm all-questions row are for reading only.
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import time
from collections.abc import Callable

from robospatial_ros.core.configio import load_config
from robospatial_ros.core.language.questions import Query
from robospatial_ros.core.reasoning.reasoner import GeometricReasoner
from robospatial_ros.core.resources import DEFAULT_SCENE, DEFAULT_TABLETOP_CONFIG
from robospatial_ros.core.scene import Scene, load_scene
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.core.spatial.types import COMPATIBILITY_RELATIONS, CONTEXT_RELATIONS, Frame, QueryType, Relation
from robospatial_ros.core.spatial.view import SceneView
from robospatial_ros.core.tables import format_table
from robospatial_ros.learn.datagen.qa import scene_questions

ALL_QUESTIONS_TARGET_MS = 50.0  # 20x the reference generator's ~1 s per scene


def _times_ms(fn: Callable[[int], object], repeats: int) -> list[float]:
    out = []
    for i in range(repeats):
        start = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - start) * 1e3)
    return out


def _queries(scene: Scene, kind: QueryType, seed: int) -> list[Query]:
    rng = random.Random(seed)
    names = [o.name for o in scene.objects if o.name != "table"]
    frames = (Frame.EGO, Frame.WORLD, Frame.OBJECT)
    if kind is QueryType.CONTEXT:
        return [Query(kind, f, r, b) for b in names for f in frames for r in CONTEXT_RELATIONS]
    if kind is QueryType.COMPATIBILITY:
        pairs = list(itertools.permutations(names, 2))
        out = [Query(kind, f, r, b, a) for a, b in pairs for f in frames for r in COMPATIBILITY_RELATIONS[f]]
    else:
        rels = (Relation.LEFT, Relation.RIGHT, Relation.IN_FRONT, Relation.BEHIND, Relation.ABOVE, Relation.BELOW)
        out = [Query(kind, f, r, b, a) for a, b in itertools.permutations(names, 2) for f in frames for r in rels]
    rng.shuffle(out)
    return out


def _fresh_view_query(scene: Scene, cfg: SpatialConfig, queries: list[Query]) -> Callable[[int], object]:
    """Cold: nothing shared with earlier queries."""
    reasoner = GeometricReasoner(cfg)
    return lambda i: reasoner.answer(SceneView(scene, cfg), queries[i % len(queries)])


def _prepared_view_query(scene: Scene, cfg: SpatialConfig, queries: list[Query]) -> Callable[[int], object]:
    """Prepared: the per-scene work done once (as a node does per perception update), no query results reused."""
    reasoner = GeometricReasoner(cfg)
    prepared = SceneView(scene, cfg).prepare()
    return lambda i: reasoner.answer(prepared.for_new_query(), queries[i % len(queries)])


def _row(name: str, times: list[float], target_ms: float | None) -> tuple[str, ...]:
    median = statistics.median(times)
    p90 = sorted(times)[int(0.9 * (len(times) - 1))]
    if target_ms is None:
        return name, f"{median:.2f}", f"{p90:.2f}", "", ""
    verdict = "ok" if median <= target_ms else "MISS"
    return name, f"{median:.2f}", f"{p90:.2f}", f"<= {target_ms:g}", verdict


def run(repeats: int) -> list[tuple[str, ...]]:
    scene = load_scene(DEFAULT_SCENE)  # 10 objects: a table and 9 things on it
    tabletop = load_config(SpatialConfig, DEFAULT_TABLETOP_CONFIG)  # 1 cm grid
    reference = SpatialConfig()  # the reference generator's defaults: 0.1 m grid
    rows = []
    for kind, target in ((QueryType.CONFIGURATION, 2.0), (QueryType.COMPATIBILITY, 2.0), (QueryType.CONTEXT, 10.0)):
        queries = _queries(scene, kind, seed=0)
        for label, cfg in (("1 cm grid", tabletop), ("0.1 m grid", reference)):
            for mode, make in (("cold", _fresh_view_query), ("prepared", _prepared_view_query)):
                times = _times_ms(make(scene, cfg, queries), repeats)
                rows.append(
                    _row(f"{kind.value}, 10 objects, {label}, {mode}", times, target if mode == "prepared" else None)
                )
    return rows + all_questions_rows(max(5, repeats // 20))


def all_questions_rows(repeats: int) -> list[tuple[str, ...]]:
    """Every RoboSpatial question of an 8-object scene (the bundled one without table and bottle), at the
    reference 0.1 m grid and at 1 cm: what generating a scene's training data costs (also in bench datagen)."""
    scene = load_scene(DEFAULT_SCENE)
    eight = Scene(tuple(o for o in scene.objects if o.name not in ("table", "bottle")), scene.camera)
    rows = []
    for label, cfg, target in (
        ("0.1 m grid", SpatialConfig(), ALL_QUESTIONS_TARGET_MS),
        ("1 cm grid", load_config(SpatialConfig, DEFAULT_TABLETOP_CONFIG), None),
    ):
        # Every question the reference generator asks, placing the plate (the apple's support) included.
        n = len(scene_questions(SceneView(eight, cfg), movable_supports=True))
        times = _times_ms(lambda i, cfg=cfg: scene_questions(SceneView(eight, cfg), movable_supports=True), repeats)
        rows.append(_row(f"all {n} questions, 8 objects, {label}", times, target))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="robospatial bench query", description=__doc__)
    parser.add_argument("--repeats", type=int, default=200, help="timed queries per row")
    args = parser.parse_args(argv)
    print(format_table([("benchmark", "median ms", "p90 ms", "target", ""), *run(args.repeats)]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
