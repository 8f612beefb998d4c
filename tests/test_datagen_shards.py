"""Parallel generation: the same output for any number of workers (local processes, a local Ray
cluster), a failed run resumed from its finished shards, hf/ storing each image once."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_datagen_robospatial import write_hand_scene

from robospatial_ros.cli.main import main as cli_main
from robospatial_ros.learn.datagen.robospatial import RoboSpatialGenConfig, RoboSpatialJob, plan_units
from robospatial_ros.learn.datagen.shards import RunOptions, pack, run_sharded
from robospatial_ros.learn.datagen.writers import WriterError, load_hf_dataset, write_samples

# Small shards, so the two hand scenes make several: each scene (3 objects) is split into 3 parts by
# reference object, and no two parts share a shard.
CONFIG = RoboSpatialGenConfig(progress=False, shard_items=40, paraphrases=True)


def scenes(tmp: Path) -> tuple[str, ...]:
    """Two copies of the hand-built scene, b's image a different picture."""
    paths = tuple(str(write_hand_scene(tmp / "scenes", stem)) for stem in ("a", "b"))
    image = cv2.imread(str(tmp / "scenes" / "b.png"))
    cv2.imwrite(str(tmp / "scenes" / "b.png"), 255 - image)
    return paths


def tree(root: Path) -> dict[str, bytes]:
    """Every file under root by relative path."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def run(job: RoboSpatialJob, out: Path, **options) -> dict[str, bytes]:
    run_sharded(job, RunOptions(out, progress=False, **options), {"seed": job.seed})
    return tree(out)


def test_scenes_are_split_into_fixed_shards(tmp_path):
    job = RoboSpatialJob(CONFIG, 0, scene_paths=scenes(tmp_path))
    units = job.units()
    assert [(u.part, u.parts) for u in units] == [(0, 3), (1, 3), (2, 3)] * 2
    assert len(pack(units, CONFIG.shard_items)) == 6
    # One shard per scene when the shards are large; a seeded subset keeps a scene whole.
    assert len(pack(units, 10_000)) == 1
    whole = plan_units(replace(CONFIG, max_items_per_scene=5), [Path(p) for p in job.scene_paths], 0, 0)
    assert [u.parts for u in whole] == [1, 1]


def test_output_is_identical_for_one_and_two_workers(tmp_path):
    job = RoboSpatialJob(CONFIG, 3, scene_paths=scenes(tmp_path))
    one = run(job, tmp_path / "one")
    two = run(job, tmp_path / "two", workers=2)
    assert one == two
    assert {"manifest.json", "annotations.json", "hf/state.json"} <= set(one)
    manifest = json.loads(one["manifest.json"])
    assert manifest["work_shards"] == [f"shards/{i:05d}" for i in range(6)] and manifest["count"] == 2 * 96
    # Every record names files from OUT; the shards keep only their images, scenes and markers.
    records = json.loads(one["annotations.json"])
    assert all(r["img"].startswith("shards/") and (tmp_path / "one" / r["img"]).is_file() for r in records)
    assert not [f for f in one if f.startswith("shards/") and f.endswith((".jsonl", "annotations.json"))]
    # The same items as one process writing the scenes in order (ids and paths aside).
    plain = write_samples(job.samples(job.units()), tmp_path / "plain", formats=("qwen",), progress=False)
    assert plain.count == manifest["count"]
    lines = [json.loads(line) for name in sorted(one) if name.startswith("qwen-") for line in one[name].splitlines()]
    direct = [
        json.loads(line) for p in sorted((tmp_path / "plain").glob("qwen-*")) for line in p.read_text().splitlines()
    ]
    assert [r["messages"] for r in lines] == [r["messages"] for r in direct]


def test_hf_stores_each_image_once_and_loads_lazily(tmp_path):
    import datasets

    job = RoboSpatialJob(replace(CONFIG, shard_items=10_000), 0, scene_paths=scenes(tmp_path))
    out = tmp_path / "out"
    run_sharded(job, RunOptions(out, formats=("hf",), progress=False))
    samples = datasets.load_from_disk(str(out / "hf"))
    table = datasets.load_from_disk(str(out / "hf" / "images"))
    assert len(samples) == 2 * 96 and len(table) == 2  # one row per scene image, not per sample
    assert sorted(p.name for p in out.iterdir()) == ["hf", "manifest.json", "shards"]  # images in the shards
    row = load_hf_dataset(out / "hf")[0]
    assert row["images"][0].size == (160, 120)


def test_a_failed_run_resumes_from_its_finished_shards(tmp_path):
    paths = scenes(tmp_path)
    out = tmp_path / "out"
    # The second scene's image is missing: its shards fail after the first scene's are written.
    image = Path(paths[1]).with_suffix(".png")
    image.rename(image.with_suffix(".bak"))
    job = RoboSpatialJob(CONFIG, 0, scene_paths=paths)
    with pytest.raises(Exception, match="no image"):
        run_sharded(job, RunOptions(out, progress=False))
    finished = sorted(p.parent.name for p in (out / "shards").glob("*/shard.json"))
    assert finished == ["00000", "00001", "00002"] and not (out / "manifest.json").exists()
    assert not (out / "annotations.json").exists() and not list(out.glob("qwen-*"))
    stamps = {p: p.stat().st_mtime_ns for p in (out / "shards").rglob("*.png")}
    image.with_suffix(".bak").rename(image)
    job = RoboSpatialJob(CONFIG, 0, scene_paths=paths)  # the same run: resumed without --overwrite
    resumed = run(job, out)
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())  # the finished shards were kept
    assert resumed == run(job, tmp_path / "clean")
    with pytest.raises(WriterError, match="overwrite"):  # a finished run is not redone silently
        run_sharded(job, RunOptions(out, progress=False))


def test_a_different_run_does_not_reuse_the_shards(tmp_path):
    paths = scenes(tmp_path)
    out = tmp_path / "out"
    Path(paths[1]).with_suffix(".png").unlink()
    with pytest.raises(Exception, match="no image"):
        run_sharded(RoboSpatialJob(CONFIG, 0, scene_paths=paths), RunOptions(out, progress=False))
    with pytest.raises(WriterError, match="different run"):
        run_sharded(RoboSpatialJob(CONFIG, 1, scene_paths=paths[:1]), RunOptions(out, progress=False))


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    @dataclass
    class Boom(Exception):
        pass

    def broken():
        yield from RoboSpatialJob(CONFIG, 0, scene_paths=scenes(tmp_path)).samples(
            RoboSpatialJob(CONFIG, 0, scene_paths=scenes(tmp_path)).units()[:1]
        )
        raise Boom()

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(Boom):
        write_samples(broken(), tmp_path / "out", progress=False)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["notes.txt"]


def test_ray_tasks_write_the_same_output(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    job = RoboSpatialJob(CONFIG, 3, scene_paths=scenes(tmp_path))
    expected = run(job, tmp_path / "local")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # a throwaway local cluster, no token files
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert run(job, tmp_path / "ray", executor="ray") == expected
    finally:
        ray.shutdown()


def test_cli_workers_flag(tmp_path, capsys):
    paths = scenes(tmp_path)
    args = ["datagen", "robospatial", "--scenes", *paths, "--no-progress", "--formats", "qwen,eval"]
    assert cli_main([*args, "--out", str(tmp_path / "one"), "--set", "shard_items=40"]) == 0
    assert cli_main([*args, "--out", str(tmp_path / "two"), "--set", "shard_items=40", "--workers", "2"]) == 0
    assert tree(tmp_path / "one") == tree(tmp_path / "two")
    assert cli_main([*args, "--out", str(tmp_path / "bad"), "--workers", "0"]) == 2
    assert "workers" in capsys.readouterr().err


def test_sim_episodes_in_two_workers_match_one(tmp_path, monkeypatch):
    monkeypatch.setenv("MUJOCO_GL", "egl")
    config = RoboSpatialGenConfig(progress=False, shard_items=1, min_objects=2, max_objects=2, max_items_per_scene=20)
    job = RoboSpatialJob(config, 5, episodes=2)
    assert len(pack(job.units(), config.shard_items)) == 2  # one episode per shard
    one = run(job, tmp_path / "one", formats=("qwen", "eval"))
    assert run(job, tmp_path / "two", formats=("qwen", "eval"), workers=2) == one
    records = json.loads(one["annotations.json"])
    assert len(records) == 40 and all(r["depth_image"] for r in records)  # the simulator's depth, stored
    assert {r["depth_image"] for r in records} == {f"shards/{i:05d}/images/0000000-0-depth.png" for i in (0, 1)}
    # ... which the eval harness reads back: what verify / hybrid need (depth, camera, scene).
    from robospatial_ros.learn.eval.dataset import load_eval_items, load_visual_question

    question = load_visual_question(load_eval_items(tmp_path / "one")[0])
    assert question.scene is not None and question.depth_m.shape == question.image.shape[:2]
    assert 0.2 < float(np.median(question.depth_m[question.depth_m > 0])) < 3.0  # metres


def test_a_scene_files_depth_travels_with_its_items(tmp_path):
    from robospatial_ros.learn.eval.dataset import load_eval_items, load_visual_question

    path = Path(scenes(tmp_path)[0])
    depth_mm = np.full((120, 160), 1234, np.uint16)
    depth_mm[:, :10] = 0  # unknown
    cv2.imwrite(str(path.with_name("a_depth.png")), depth_mm)
    job = RoboSpatialJob(replace(CONFIG, shard_items=10_000), 0, scene_paths=(str(path),))
    run_sharded(job, RunOptions(tmp_path / "out", formats=("eval",), progress=False))
    question = load_visual_question(load_eval_items(tmp_path / "out")[0])
    np.testing.assert_allclose(question.depth_m[:, 10:], 1.234, atol=1e-6)
    assert (question.depth_m[:, :10] == 0).all()
