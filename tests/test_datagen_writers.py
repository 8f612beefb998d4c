"""Writers (JSONL, Hugging Face, eval layout), mixing recipes and the `datagen` command line."""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_datagen_robospatial import first_point, inside, write_hand_scene

from robospatial_ros.cli.datagen import add_datagen_parser
from robospatial_ros.core.errors import ConfigError, RoboSpatialError
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.learn.datagen.mixing import MixError, llava_to_qwen, mix_datasets, split_total
from robospatial_ros.learn.datagen.records import Sample
from robospatial_ros.learn.datagen.robospatial import RoboSpatialGenConfig, scene_file_samples
from robospatial_ros.learn.datagen.writers import WriterError, load_hf_dataset, write_samples

HAND_COUNT = 96  # questions of the hand-built scene (tests/test_datagen_robospatial.py works them out)


def synthetic_samples() -> list[Sample]:
    """Two multi-image multiple-choice items of another kind (distinct pixels each)."""
    out = []
    for k in range(2):
        a = np.full((8, 12, 3), 10 + k, np.uint8)
        b = np.arange(8 * 12 * 3, dtype=np.uint8).reshape(8, 12, 3) + k
        out.append(
            Sample(
                "ssrl",
                "patch_reorder",
                f"Which order restores image {k}? (A) 1-2 (B) 2-1",
                "B",
                [a, b],
                choices=["A", "B"],
                metadata={"permutation": [1, 0], "k": k},
            )
        )
    return out


def all_samples(folder: Path) -> list[Sample]:
    scene = write_hand_scene(folder)
    return list(scene_file_samples(scene, None, RoboSpatialGenConfig(progress=False))) + synthetic_samples()


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """The hand scene's items plus two synthetic ones, written in every format with 50-line shards."""
    tmp = tmp_path_factory.mktemp("written")
    samples = all_samples(tmp / "scene")
    summary = write_samples(samples, tmp / "out", shard_size=50, progress=False, info={"seed": 3})
    return samples, summary, tmp / "out"


def read_jsonl(paths: list[Path]) -> list[dict]:
    return [json.loads(line) for p in paths for line in p.read_text().splitlines()]


def test_jsonl_shards_hold_qwen_and_llava_records(written):
    samples, summary, out = written
    n = HAND_COUNT + 2
    assert summary.count == n and summary.counts["kind"] == {"robospatial": HAND_COUNT, "ssrl": 2}
    shards = math.ceil(n / 50)  # 124 lines, 50 a shard -> 3 files
    assert summary.shards["qwen"] == [f"qwen-{i:05d}.jsonl" for i in range(shards)]
    qwen = read_jsonl([out / f for f in summary.shards["qwen"]])
    llava = read_jsonl([out / f for f in summary.shards["llava"]])
    assert len(qwen) == len(llava) == n
    for sample, q, lv in zip(samples, qwen, llava):
        user, assistant = q["messages"]
        assert [c["type"] for c in user["content"]] == ["image"] * len(sample.images) + ["text"]
        assert user["content"][-1]["text"] == sample.question and assistant["content"][0]["text"] == sample.answer
        assert (q["kind"], q["task"], q["frame"], q["choices"]) == (
            sample.kind,
            sample.task,
            sample.frame,
            sample.choices,
        )
        assert q["metadata"] == json.loads(json.dumps(sample.metadata))
        assert lv["id"] == q["id"] and lv["conversations"][1] == {"from": "gpt", "value": sample.answer}
        assert lv["conversations"][0]["value"] == "<image>\n" * len(sample.images) + sample.question
        assert (lv["image"] if isinstance(lv["image"], list) else [lv["image"]]) == q["images"]
        assert all((out / p).is_file() for p in q["images"])
    # The scene's image is stored once for all its items; the synthetic items have 2 distinct images each.
    assert len({p for q in qwen for p in q["images"]}) == summary.images == 1 + 4
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["count"] == n and manifest["seed"] == 3 and manifest["counts"]["task"]["context"] == 24


def test_hf_dataset_loads_back_with_the_same_rows(written):
    import datasets

    samples, _, out = written
    raw = datasets.load_from_disk(str(out / "hf"))  # images as keys into hf/images/, each image stored once
    qwen = read_jsonl(sorted(out.glob("qwen-*.jsonl")))
    assert raw["images"] == [q["images"] for q in qwen]
    table = datasets.load_from_disk(str(out / "hf" / "images"))
    assert sorted(table["path"]) == sorted({p for q in qwen for p in q["images"]})  # 1 + 4 distinct images
    dataset = load_hf_dataset(out / "hf")
    assert len(dataset) == len(samples)
    for sample, row in zip(samples, dataset):
        assert (row["question"], row["answer"], row["kind"], row["task"], row["frame"]) == (
            sample.question,
            sample.answer,
            sample.kind,
            sample.task,
            sample.frame,
        )
        assert row["choices"] == sample.choices
        assert json.loads(row["metadata"]) == json.loads(json.dumps(sample.metadata))
        assert len(row["images"]) == len(sample.images)
        for image, original in zip(row["images"], sample.images):
            assert np.array_equal(np.asarray(image.convert("RGB")), original)


def test_eval_layout_scores_every_generated_item(written):
    from robospatial_ros.learn.eval.harness import EvalConfig, GeometricAnswerer, evaluate

    _, _, out = written
    records = json.loads((out / "annotations.json").read_text())
    assert len(records) == HAND_COUNT + 2
    for r in records[:HAND_COUNT]:
        assert (out / r["img"]).is_file() and (out / r["scene"]).is_file()
        if r["category"] == "context":
            assert (out / r["mask"]).is_file() and r["answer"].startswith("[(")
        else:
            assert r["answer"] in ("yes", "no") and r["mask"] is None
    assert records[-1]["choices"] == ["A", "B"] and records[-1]["scene"] is None
    categories = ["configuration", "compatibility", "context"]
    report = evaluate(GeometricAnswerer(SpatialConfig()), EvalConfig(data_dir=out, categories=categories), False)
    assert report.num_total == HAND_COUNT and report.num_correct == HAND_COUNT


def test_context_ground_truth_is_the_region_polygon(written):
    samples, _, out = written
    records = json.loads((out / "annotations.json").read_text())
    for sample, record in zip(samples, records):
        if sample.task != "context":
            continue
        polygon = [list(p) for p in ast.literal_eval(record["answer"])]  # tuples, as the benchmark writes them
        assert polygon == sample.metadata["region_polygon"]
        assert inside(first_point(sample.answer), polygon)


def test_output_is_byte_identical_for_the_same_samples(tmp_path):
    samples = all_samples(tmp_path / "scene")
    for name in ("a", "b"):
        write_samples(samples, tmp_path / name, shard_size=40, formats=("qwen", "llava", "eval"), progress=False)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert any(str(f).startswith("qwen-") for f in files) and any(str(f).startswith("images/") for f in files)
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


def test_existing_output_is_kept_unless_overwritten(tmp_path):
    samples = synthetic_samples()
    write_samples(samples, tmp_path, shard_size=1, formats=("qwen",), progress=False)
    assert sorted(p.name for p in tmp_path.glob("qwen-*")) == ["qwen-00000.jsonl", "qwen-00001.jsonl"]
    with pytest.raises(WriterError, match="overwrite"):
        write_samples(samples, tmp_path, formats=("qwen",), progress=False)
    (tmp_path / "notes.txt").write_text("mine")
    write_samples(samples, tmp_path, shard_size=10, formats=("llava",), progress=False, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "llava-00000.jsonl", "manifest.json", "notes.txt"]


def test_hf_alone_leaves_no_intermediate_shards(tmp_path):
    import datasets

    summary = write_samples(synthetic_samples(), tmp_path, formats=("hf",), progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hf", "images", "manifest.json"]
    assert summary.shards == {"hf": ["hf"]}
    assert datasets.load_from_disk(str(tmp_path / "hf"))["answer"] == ["B", "B"]


def test_bad_writer_arguments_raise_typed_errors(tmp_path):
    with pytest.raises(WriterError, match="formats"):
        write_samples([], tmp_path / "x", formats=("qwen", "parquet"))
    with pytest.raises(WriterError, match="shard_size"):
        write_samples([], tmp_path / "x", shard_size=0)
    bad = Sample("ssrl", "t", "q", "a", [np.zeros((2, 2, 3), np.uint8)], metadata={"array": np.zeros(2)})
    with pytest.raises(WriterError, match="JSON"):
        write_samples([bad], tmp_path / "y", formats=("qwen",), progress=False)


# --- mixing --------------------------------------------------------------------------------------


def llava_file(path: Path, n: int) -> Path:
    """n LLaVA records: even ones with an image (marker in the text), odd ones text-only."""
    image_dir = path.parent / "general_images"
    image_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n):
        record = {
            "id": f"g{i}",
            "conversations": [{"from": "human", "value": f"Question {i}?"}, {"from": "gpt", "value": f"Answer {i}."}],
        }
        if i % 2 == 0:
            (image_dir / f"{i}.png").write_bytes(b"png")
            record["image"] = f"general_images/{i}.png"
            record["conversations"][0]["value"] = f"<image>\nQuestion {i}?"
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def mix_sources(written, tmp_path_factory):
    _, _, out = written
    tmp = tmp_path_factory.mktemp("mix")
    return out, llava_file(tmp / "general.jsonl", 100), tmp


def write_recipe(folder: Path, sources: list[dict], **extra) -> Path:
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump({"seed": 0, "output": "mix/mix.jsonl", "sources": sources, **extra}))
    return path


def test_mix_ratios_hold_exactly_and_llava_is_converted(mix_sources):
    generated, general, tmp = mix_sources
    sources = [{"path": str(generated), "ratio": 0.6, "name": "spatial"}, {"path": str(general), "ratio": 0.4}]
    summary = mix_datasets(write_recipe(tmp, sources, total=50))
    lines = read_jsonl([tmp / "mix" / "mix.jsonl"])
    assert Counter(r["source"] for r in lines) == {"spatial": 30, str(general): 20}  # 0.6 / 0.4 of 50
    assert summary.sources["spatial"] == {"available": HAND_COUNT + 2, "selected": 30, "ratio": 0.6, "repeated": False}
    for r in lines:
        assert r["messages"][0]["role"] == "user" and r["messages"][-1]["role"] == "assistant"
        n_images = sum(c["type"] == "image" for c in r["messages"][0]["content"])
        assert n_images == len(r["images"])
        assert all((tmp / "mix" / p).is_file() for p in r["images"])  # relative to the manifest
    converted = [r for r in lines if r["source"] == str(general)]
    assert len({r["id"] for r in converted}) == 20  # drawn without replacement
    with_image = next(r for r in converted if r["images"])
    assert with_image["messages"][0]["content"][0] == {"type": "image"}
    # total: null -> the largest mix without repeats: min(98 / 0.6, 100 / 0.4) = 163; split 97.8 / 65.2
    # -> floors 97 + 65 = 162, the larger remainder (0.8) gets the last one: 98 / 65.
    auto = mix_datasets(write_recipe(tmp, sources, total=None))
    assert auto.total == 163 and [s["selected"] for s in auto.sources.values()] == [98, 65]
    first = (tmp / "mix" / "mix.jsonl").read_bytes()
    mix_datasets(write_recipe(tmp, sources, total=None))
    assert (tmp / "mix" / "mix.jsonl").read_bytes() == first  # seeded


def test_mix_errors_are_typed_and_repeats_need_consent(mix_sources):
    generated, general, tmp = mix_sources
    ok = [{"path": str(generated), "ratio": 0.5}, {"path": str(general), "ratio": 0.5}]
    with pytest.raises(MixError, match="sum to 1"):
        mix_datasets(write_recipe(tmp, [{"path": str(generated), "ratio": 0.5}, {"path": str(general), "ratio": 0.4}]))
    with pytest.raises(MixError, match="not found"):
        mix_datasets(write_recipe(tmp, [{"path": str(tmp / "nowhere.jsonl"), "ratio": 1.0}]))
    with pytest.raises(MixError, match="allow_repeat"):
        mix_datasets(write_recipe(tmp, ok, total=400))  # 200 each wanted: both sources are shorter
    with pytest.raises(MixError, match="unknown recipe key"):
        mix_datasets(write_recipe(tmp, ok, shuffle=True))
    with pytest.raises(MixError, match="recipe file not found"):
        mix_datasets(tmp / "no_recipe.yaml")
    (tmp / "bad.yaml").write_text("sources: [")
    with pytest.raises(ConfigError, match="not valid YAML"):
        mix_datasets(tmp / "bad.yaml")
    summary = mix_datasets(write_recipe(tmp, ok, total=400, allow_repeat=True))
    assert [s["selected"] for s in summary.sources.values()] == [200, 200]
    ids = Counter(r["id"] for r in read_jsonl([tmp / "mix" / "mix.jsonl"]) if r["source"] == str(general))
    assert sorted(ids.values()) == [2] * 100  # 200 of 100: every item exactly twice


def test_split_total_and_llava_markers():
    assert split_total(10, [0.6, 0.4]) == [6, 4]
    assert split_total(7, [1 / 3, 1 / 3, 1 / 3]) == [3, 2, 2]  # 2.33 each: the first remainder wins the tie
    record = llava_to_qwen(
        {
            "image": ["a.png", "b.png"],
            "conversations": [
                {"from": "human", "value": "Compare <image> with <image>."},
                {"from": "gpt", "value": "Same."},
            ],
        }
    )
    assert [c.get("type") for c in record["messages"][0]["content"]] == ["text", "image", "text", "image", "text"]
    assert record["images"] == ["a.png", "b.png"]


# --- command line --------------------------------------------------------------------------------


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="robospatial")
    add_datagen_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_cli_generates_and_mixes(tmp_path, capsys):
    scene = write_hand_scene(tmp_path / "scenes")
    out = tmp_path / "out"
    argv = [
        "datagen",
        "robospatial",
        "--scenes",
        str(scene.parent),
        "--out",
        str(out),
        "--formats",
        "qwen,eval",
        "--no-progress",
        "--set",
        "types=[configuration]",
        "--set",
        "spatial.min_distance_m=0.15",
    ]
    assert run_cli(*argv) == 0
    assert "wrote 20 samples" in capsys.readouterr().out  # the hand scene's 20 configuration items
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["task"] == {"configuration": 20} and manifest["formats"] == ["qwen", "eval"]
    assert manifest["spatial_config"]["min_distance_m"] == 0.15
    assert yaml.safe_load((out / "spatial_config.yaml").read_text())["min_distance_m"] == 0.15
    with pytest.raises(WriterError):
        run_cli(*argv)
    assert run_cli(*argv, "--overwrite", "--paraphrase", "--seed", "4") == 0
    recipe = write_recipe(tmp_path, [{"path": str(out), "ratio": 1.0}], total=5)
    assert run_cli("datagen", "mix", "--recipe", str(recipe)) == 0
    assert len(read_jsonl([tmp_path / "mix" / "mix.jsonl"])) == 5


def test_cli_bad_input_raises_robospatial_errors(tmp_path):
    scene = write_hand_scene(tmp_path)
    base = ["datagen", "robospatial", "--scenes", str(scene), "--out", str(tmp_path / "o"), "--no-progress"]
    for extra in (["--set", "no_such_key=1"], ["--formats", "qwen,csv"], ["--set", "spatial.grid=0.1"]):
        with pytest.raises(RoboSpatialError):
            run_cli(*base, *extra)
    with pytest.raises(RoboSpatialError, match="--sim-episodes must be a non-negative integer"):
        run_cli("datagen", "robospatial", "--sim-episodes", "-1", "--out", str(tmp_path / "p"))


def test_cli_wires_the_sat_and_ssrl_generators(tmp_path, capsys):
    import cv2

    os.environ.setdefault("MUJOCO_GL", "egl")
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        cv2.imwrite(str(images / f"{i}.png"), (rng.random((96, 128, 3)) * 255).astype(np.uint8))
    assert (
        run_cli(
            "datagen",
            "ssrl",
            "--images",
            str(images),
            "--out",
            str(tmp_path / "ssrl"),
            "--no-progress",
            "--formats",
            "qwen",
            "--set",
            "inpaint_patch_px=16",
            "--seed",
            "2",
        )
        == 0
    )
    manifest = json.loads((tmp_path / "ssrl" / "manifest.json").read_text())
    assert set(manifest["counts"]["kind"]) == {"ssrl"} and manifest["count"] > 0
    assert manifest["seed"] == 2 and manifest["config"]["progress"] is False
    small = ["--no-progress", "--set", "image_width_px=160", "--set", "image_height_px=120"]
    out = str(tmp_path / "sat")
    assert (
        run_cli("datagen", "sat", "--episodes", "1", "--out", out, "--no-progress", "--formats", "llava", *small) == 0
    )
    manifest = json.loads((tmp_path / "sat" / "manifest.json").read_text())
    assert set(manifest["counts"]["kind"]) == {"sat"} and manifest["source"] == {"episodes": 1}


def test_cli_set_changes_one_key_of_a_yaml_mapping(tmp_path):
    from robospatial_ros.cli.datagen import load_generator_config
    from robospatial_ros.learn.datagen.robospatial import RoboSpatialGenConfig

    path = tmp_path / "gen.yaml"
    path.write_text("spatial:\n  grid_resolution_m: 0.05\n  context_threshold_m: 0.2\n")
    config = load_generator_config(
        RoboSpatialGenConfig, str(path), ["spatial.grid_resolution_m=0.02"], {"progress": False}
    )
    assert config.spatial == {"grid_resolution_m": 0.02, "context_threshold_m": 0.2} and config.progress is False
