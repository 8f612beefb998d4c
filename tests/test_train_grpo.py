"""GRPO with every reward, and a two-stage curriculum, on a tiny random-init Qwen2.5-VL on CPU."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from robospatial_ros.core.reasoning.vlm.qwen import save_random_qwen_vl
from robospatial_ros.core.scene import scene_to_dict
from robospatial_ros.learn.train.config import RESOLVED_CONFIG, load_train_config
from robospatial_ros.learn.train.curriculum import DELIVERABLE, DONE_MARKER, run_curriculum_file
from robospatial_ros.learn.train.grpo import run_grpo
from robospatial_ros.learn.train.rewards import REWARDS
from robospatial_ros.learn.train.toydata import write_blocks_dataset

import scenes

SIDE = 56  # px


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_random_qwen_vl(tmp_path_factory.mktemp("tiny-qwen"), "tiny", seed=0, max_pixels=SIDE * SIDE)


def line(image: str, question: str, answer: str, kind: str, task: str, **extra: object) -> str:
    return json.dumps(
        {
            "id": task,
            "images": [image],
            "kind": kind,
            "task": task,
            "frame": "ego",
            "messages": [
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]},
                {"role": "assistant", "content": [{"type": "text", "text": answer}]},
            ],
            "choices": extra.get("choices", []),
            "metadata": extra.get("metadata", {}),
        }
    )


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three samples, one per reward family: yes/no (blocks), context points (scene), multiple choice (SAT)."""
    out = write_blocks_dataset(tmp_path_factory.mktemp("mixed"), 1, seed=2, size_px=SIDE)
    yes_no = (out / "qwen-00000.jsonl").read_text().strip()
    s = scenes.scene(scenes.cube("mug", 0.3, 0.2), scenes.cube("bowl", 0.3, -0.1))
    query = {"type": "context", "frame": "ego", "relation": "left", "reference": "bowl", "object": None}
    context = line(
        "images/blocks_00000.png",
        "Pinpoint several points left of the bowl.",
        "[(0.47, 0.55)]",
        "robospatial",
        "context",
        metadata={"scene": scene_to_dict(s), "query": query, "spatial_config": {"grid_resolution_m": 0.01}},
    )
    choice = line(
        "images/blocks_00000.png",
        'Which way did the camera turn? Answer with one of: "left", "right".',
        "left",
        "sat",
        "ego_movement",
        choices=["left", "right"],
    )
    (out / "mixed.jsonl").write_text("\n".join([yes_no, context, choice]) + "\n")
    return out / "mixed.jsonl"


def settings(base_dir: Path, data: Path, out: Path, **more: object) -> dict:
    return {
        "model_path": str(base_dir),
        "data": [str(data)],
        "output_dir": str(out),
        "max_steps": 1,
        "save_steps": 0,
        "gradient_checkpointing": False,
        "max_pixels": SIDE * SIDE,
        "min_pixels": SIDE * SIDE,
        "logging_steps": 1,
        "progress": False,
        "grpo.max_completion_length": 4,
        "grpo.num_generations": 2,
        **more,
    }


def test_a_grpo_step_runs_with_every_reward(base_dir, mixed, tmp_path):
    names = tuple(REWARDS)  # accuracy, yes_no, point_in_region, choice, format
    config = load_train_config(
        None,
        settings(
            base_dir,
            mixed,
            tmp_path / "grpo",
            per_device_batch_size=6,
            **{"grpo.rewards": list(names), "grpo.reward_weights": [1.0] * 5, "grpo.beta": 0.04},
        ),
    )
    result = run_grpo(config)
    assert result.global_step == 1
    logged = next(e for e in result.log_history if "reward" in e)
    for name in names:  # each reward applied to at least its own sample: a number, not None
        mean = logged[f"rewards/{name}_reward/mean"]
        assert mean is not None and 0.0 <= mean <= 1.0, name
    assert (result.output_dir / "adapter_model.safetensors").is_file()
    assert not (result.output_dir / "model.safetensors").exists()
    assert load_train_config(result.output_dir / RESOLVED_CONFIG).grpo.rewards == names


def test_a_curriculum_chains_merged_stages_and_delivers_the_last_adapter(base_dir, mixed, tmp_path, monkeypatch):
    blocks = mixed.parent
    (tmp_path / "stages").mkdir()
    common = {k: v for k, v in settings(base_dir, blocks, tmp_path / "ignored").items() if "." not in k}
    stage1 = {**common, "data": [str(blocks)]}
    stage2 = {
        **common,
        "data": [str(mixed)],
        "model_path": "",
        "per_device_batch_size": 2,
        "grpo": {"num_generations": 2, "max_completion_length": 4, "rewards": ["accuracy"], "reward_weights": [1.0]},
    }
    (tmp_path / "stages" / "sft.yaml").write_text(yaml.safe_dump(stage1))
    (tmp_path / "stages" / "grpo.yaml").write_text(yaml.safe_dump(stage2))
    curriculum = {
        "output_dir": str(tmp_path / "ladder"),
        "stages": [
            {"name": "understanding", "kind": "sft", "config": "stages/sft.yaml", "overrides": {"learning_rate": 0.01}},
            {"name": "reasoning", "kind": "grpo", "config": "stages/grpo.yaml"},
        ],
    }
    (tmp_path / "curriculum.yaml").write_text(yaml.safe_dump(curriculum))

    outcomes = run_curriculum_file(tmp_path / "curriculum.yaml", {"per_device_batch_size": 2})
    first, last = (tmp_path / "ladder" / "01-understanding"), (tmp_path / "ladder" / "02-reasoning")
    merged = first / "merged"
    assert [o.output_dir for o in outcomes] == [first, last]
    assert (merged / "model.safetensors").is_file() and (merged / "tokenizer.json").is_file()  # full, by necessity
    assert load_train_config(first / RESOLVED_CONFIG).learning_rate == 0.01  # the stage's inline override
    assert load_train_config(last / RESOLVED_CONFIG).model_path == str(merged)  # stage 2 starts from the merge
    assert (last / "adapter_model.safetensors").is_file() and not (last / "merged").exists()
    deliverable = json.loads((tmp_path / "ladder" / DELIVERABLE).read_text())
    assert deliverable == {"model_path": str(merged), "adapter_path": str(last)}

    from transformers import AutoModelForImageTextToText

    before = AutoModelForImageTextToText.from_pretrained(base_dir, dtype=torch.float32).state_dict()
    after = AutoModelForImageTextToText.from_pretrained(merged, dtype=torch.float32).state_dict()
    q = "model.language_model.layers.0.self_attn.q_proj.weight"  # LoRA-adapted in stage 1: folded in
    vision = "model.visual.blocks.0.attn.qkv.weight"  # not adapted: untouched
    assert not torch.equal(before[q], after[q]) and torch.equal(before[vision], after[vision])
    assert np.isfinite(after[q].numpy()).all()

    import robospatial_ros.learn.train.curriculum as curriculum_module

    def no_training(kind, config):
        raise AssertionError(f"stage {config.output_dir} trained again on resume")

    monkeypatch.setattr(curriculum_module, "_run_stage", no_training)
    again = run_curriculum_file(tmp_path / "curriculum.yaml", {"resume": True})  # both stages done: skipped
    assert [o.global_step for o in again] == [o.global_step for o in outcomes]
    assert json.loads((first / DONE_MARKER).read_text())["merged"] == str(merged)
