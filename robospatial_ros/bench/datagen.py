"""robospatial bench datagen: training-data generation throughput, one process (so: per core).

Rows, QA pairs per second:
- robospatial, scene file: every question of the bundled 10-object tabletop scene (tabletop preset,
  1 cm grid) with a 640x480 image, context regions included;
- robospatial, sim: seeded MuJoCo episodes at 640x480, rendering included;
- sat / ssrl: their generators (SAT episodes render several views; SSRL runs on pre-rendered 640x480
  RGB-D frames, rendering excluded; target >= 200 items/s);
- write: the robospatial sim items written as qwen + llava + eval (hf separately).
Then parallel generation (shards.py) end to end, written as qwen + llava + eval: copies of the bundled
scene, each with its own 640x480 image, in 1 and in 2 worker processes (target: 2 workers >= 1.7x one);
the hf/ output's size and build time per 1,000 samples of one 1280x800 image (each image stored once);
and the time for all RoboSpatial questions of an 8-object scene at the reference 0.1 m grid and at 1 cm
(the rows of bench/query.py), against the 50 ms target.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from robospatial_ros.bench import query
from robospatial_ros.core.resources import DEFAULT_SCENE
from robospatial_ros.core.scene import load_scene
from robospatial_ros.core.tables import format_table
from robospatial_ros.learn.datagen.robospatial import (
    RoboSpatialGenConfig,
    RoboSpatialJob,
    scene_file_samples,
    sim_samples,
)
from robospatial_ros.learn.datagen.sat import SATConfig, sat_samples
from robospatial_ros.learn.datagen.shards import RunOptions, run_sharded
from robospatial_ros.learn.datagen.ssrl import SSRLConfig, sim_frames, ssrl_samples
from robospatial_ros.learn.datagen.writers import write_samples

SSRL_TARGET_PER_S = 200.0
WORKERS_SPEEDUP_TARGET = 1.7


def _rate(
    name: str, make: Callable[[], Iterable[Any]], repeats: int, target_per_s: float | None = None
) -> tuple[str, ...]:
    """Median QA pairs per second over `repeats` runs of generating everything `make` yields."""
    rates, count = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        count = sum(1 for _ in make())
        rates.append(count / max(time.perf_counter() - start, 1e-9))
    rate = statistics.median(rates)
    if target_per_s is None:
        return name, str(count), f"{rate:.0f}", "", ""
    return name, str(count), f"{rate:.0f}", f">= {target_per_s:g}", "ok" if rate >= target_per_s else "MISS"


def _scene_with_image(tmp: Path) -> Path:
    """The bundled scene next to a synthetic 640x480 image of its size (the scene file ships without one)."""
    scene = load_scene(DEFAULT_SCENE)
    image = np.zeros((scene.camera.height, scene.camera.width, 3), np.uint8)
    image[:] = (150, 120, 90)
    path = tmp / "tabletop_scene.json"
    shutil.copy(DEFAULT_SCENE, path)
    cv2.imwrite(str(tmp / "tabletop_scene.png"), image)
    return path


def generation_rows(tmp: Path, episodes: int, repeats: int) -> list[tuple[str, ...]]:
    tabletop = RoboSpatialGenConfig(spatial_preset="tabletop", progress=False)
    sim_cfg = RoboSpatialGenConfig(progress=False)
    scene_path = _scene_with_image(tmp)
    rows = [
        _rate(
            "robospatial, scene file (10 objects, 1 cm grid)",
            lambda: scene_file_samples(scene_path, None, tabletop),
            repeats,
        ),
        _rate(f"robospatial, sim ({episodes} episodes, incl. render)", lambda: sim_samples(sim_cfg, episodes, 0), 1),
    ]

    frames = list(sim_frames(episodes, 0))  # SSRL: rendered once, outside the timing
    sat_config, ssrl_config = SATConfig(progress=False), SSRLConfig(progress=False)
    rows.append(_rate(f"sat ({episodes} episodes, incl. render)", lambda: sat_samples(sat_config, episodes, 0), 1))
    rows.append(
        _rate(
            f"ssrl ({episodes} RGB-D frames 640x480)",
            lambda: ssrl_samples(frames, ssrl_config, 0),
            repeats,
            SSRL_TARGET_PER_S,
        )
    )
    return rows


def writer_rows(tmp: Path, episodes: int) -> list[tuple[str, ...]]:
    samples = list(sim_samples(RoboSpatialGenConfig(progress=False), episodes, 0))
    rows = []
    for label, formats in (("write qwen + llava + eval", ("qwen", "llava", "eval")), ("write hf", ("hf",))):
        out = tmp / f"write-{formats[0]}"
        start = time.perf_counter()
        write_samples(samples, out, formats=formats, progress=False, overwrite=True)
        rate = len(samples) / max(time.perf_counter() - start, 1e-9)
        rows.append((label, str(len(samples)), f"{rate:.0f}", "", ""))
    return rows


def _scene_copies(tmp: Path, copies: int, size: tuple[int, int] | None = None) -> list[Path]:
    """`copies` of the bundled scene, each next to its own synthetic image (at `size` (W, H), the scene's
    camera scaled to it, when given)."""
    data = json.loads(DEFAULT_SCENE.read_text())
    if size is not None:
        scale = size[0] / data["image_size"][0]
        data["camera_annotations"]["intrinsic"] = (
            np.asarray(data["camera_annotations"]["intrinsic"]) * np.diag([scale, scale, 1, 1])
        ).tolist()
        data["camera_annotations"]["intrinsic"][0][2] = (size[0] - 1) / 2
        data["camera_annotations"]["intrinsic"][1][2] = (size[1] - 1) / 2
        data["image_size"] = list(size)
    width, height = data["image_size"]
    rng = np.random.default_rng(0)
    tmp.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(copies):
        path = tmp / f"scene-{i:03d}.json"
        path.write_text(json.dumps(data))
        noise = rng.integers(0, 255, (height // 8, width // 8, 3), dtype=np.uint8)  # a picture that compresses like one
        cv2.imwrite(str(path.with_suffix(".png")), cv2.resize(noise, (width, height), interpolation=cv2.INTER_LINEAR))
        paths.append(path)
    return paths


def worker_rows(tmp: Path, copies: int) -> list[tuple[str, ...]]:
    """Items per second of a sharded run, end to end (planning, shards, merge), in 1 and 2 workers."""
    config = RoboSpatialGenConfig(spatial_preset="tabletop", progress=False)
    job = RoboSpatialJob(config, 0, scene_paths=tuple(str(p) for p in _scene_copies(tmp / "scenes", copies)))
    rates = []
    rows = []
    for workers in (1, 2):
        options = RunOptions(tmp / f"workers-{workers}", ("qwen", "llava", "eval"), workers=workers, progress=False)
        start = time.perf_counter()
        summary = run_sharded(job, options)
        rates.append(summary.count / max(time.perf_counter() - start, 1e-9))
        name = f"robospatial, {copies} scene files, {workers} worker{'s' if workers > 1 else ''}, written"
        if workers == 1:
            rows.append((name, str(summary.count), f"{rates[-1]:.0f}", "", ""))
        else:
            speedup = rates[-1] / rates[0]
            verdict = "ok" if speedup >= WORKERS_SPEEDUP_TARGET else "MISS"
            rows.append(
                (
                    name,
                    str(summary.count),
                    f"{rates[-1]:.0f} ({speedup:.2f}x)",
                    f">= {WORKERS_SPEEDUP_TARGET}x",
                    verdict,
                )
            )
    return rows


def hf_rows(tmp: Path) -> list[tuple[str, ...]]:
    """hf/ of one 1280x800 scene's questions: megabytes and seconds per 1,000 samples."""
    (path,) = _scene_copies(tmp / "hf-scene", 1, (1280, 800))
    samples = list(scene_file_samples(path, None, RoboSpatialGenConfig(spatial_preset="tabletop", progress=False)))
    out = tmp / "hf-out"
    start = time.perf_counter()
    write_samples(samples, out, formats=("hf",), progress=False, overwrite=True)
    seconds = time.perf_counter() - start
    size = sum(f.stat().st_size for f in (out / "hf").rglob("*") if f.is_file())
    per = 1000 / len(samples)
    image = (out / "images").iterdir().__next__().stat().st_size
    return [
        (
            "hf/, one 1280x800 image",
            str(len(samples)),
            f"{size * per / 1e6:.2f} MB",
            f"{seconds * per:.2f} s",
            f"image {image / 1e6:.2f} MB",
        ),
    ]


def _table(rows: list[tuple[str, ...]]) -> None:
    print(format_table(rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="robospatial bench datagen", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--episodes", type=int, default=3, help="sim episodes / frames per generator")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of the fast rows (median)")
    parser.add_argument("--copies", type=int, default=8, help="scene files of the 1 vs 2 workers rows")
    args = parser.parse_args(argv)
    os.environ.setdefault("MUJOCO_GL", "egl")
    with tempfile.TemporaryDirectory(prefix="bench-datagen-") as tmp:
        rows = generation_rows(Path(tmp), args.episodes, args.repeats) + writer_rows(Path(tmp), args.episodes)
        rows += worker_rows(Path(tmp), args.copies)
        hf = hf_rows(Path(tmp))
    _table([("generator", "QA pairs", "QA pairs/s", "target", ""), *rows])
    print()
    _table([("output", "samples", "per 1,000 samples", "build per 1,000", ""), *hf])
    print()
    questions = query.all_questions_rows(max(5, args.repeats))
    _table([("benchmark", "median ms", "p90 ms", "target", ""), *questions])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
