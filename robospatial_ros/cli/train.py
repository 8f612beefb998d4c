"""`robospatial train`: LoRA SFT, GRPO with verifiable rewards, and progressive curricula.

    robospatial train sft --config config/train_sft.yaml [--set KEY=VALUE ...] [--output-dir DIR]
    robospatial train grpo --config config/train_grpo.yaml [--set grpo.beta=0.0 ...]
    robospatial train curriculum --config config/curriculum_example.yaml [--set max_steps=10]

Keys are TrainConfig fields (robospatial_ros.learn.train.config); nested ones are dotted
(`--set lora.rank=32`). For a curriculum, `--set` keys of the curriculum itself (output_dir,
model_path, resume, merge_last) apply to it and every other key to each stage. Multi-GPU: the
same command under `accelerate launch -m robospatial_ros.cli.main train ...` or `torchrun`.
Heavy modules are imported only when a command runs.
"""

from __future__ import annotations

import argparse
from typing import Any

TRAIN_KINDS = ("sft", "grpo", "curriculum")
_HELP = {
    "sft": "supervised LoRA fine-tuning on Qwen-format JSONL (loss on the answers only)",
    "grpo": "GRPO with verifiable rewards (yes/no, point in free region, exact choice, format)",
    "curriculum": "SpatialLadder-style stages (SFT -> SFT -> GRPO), each from the last one's merged weights",
}


def add_train_parser(sub: argparse._SubParsersAction) -> None:
    """Register `train` with the sub-commands sft, grpo and curriculum (each sets func=run_train)."""
    train = sub.add_parser(
        "train",
        help="fine-tune a local VLM (LoRA SFT, GRPO, curricula) with transformers + peft + trl",
        description="Fine-tune a local VLM checkpoint. The adapter and resolved_config.yaml land in the output "
        "directory; load them with the hf backend: --set hf.model_path=BASE --set hf.adapter_path=OUT.",
    )
    kinds = train.add_subparsers(dest="train_kind", required=True, metavar="{sft,grpo,curriculum}")
    for kind in TRAIN_KINDS:
        p = kinds.add_parser(kind, help=_HELP[kind], description=_HELP[kind])
        what = "curriculum YAML (stages)" if kind == "curriculum" else "TrainConfig YAML"
        p.add_argument("--config", metavar="FILE.yaml", required=kind == "curriculum", help=what)
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one setting")
        p.add_argument("--output-dir", metavar="DIR", help="where checkpoints and the adapter go")
        p.set_defaults(func=run_train)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    from robospatial_ros.cli.overrides import parse_overrides

    overrides = parse_overrides(args.set)
    if args.output_dir:  # a curriculum routes output_dir to itself (CURRICULUM_KEYS), a run to its config
        overrides["output_dir"] = args.output_dir
    return overrides


def _print_result(result: Any, base_model: str) -> None:
    """The run's summary, the final eval table, and how to load the result."""
    print(f"trained {result.global_step} steps; output in {result.output_dir}")
    if result.train_loss is not None:
        print(f"mean training loss: {result.train_loss:.4f}")
    if result.final_eval is not None:
        print(result.final_eval.table())
    if (result.output_dir / "adapter_config.json").is_file():
        print(f"load with: --backend hf --set hf.model_path={base_model} --set hf.adapter_path={result.output_dir}")
    else:
        print(f"load with: --backend hf --set hf.model_path={result.output_dir}")


def run_train(args: argparse.Namespace) -> int:
    """Run the parsed `train` command; 0 on success (bad input raises a RoboSpatialError)."""
    overrides = _overrides(args)
    if args.train_kind == "curriculum":
        from robospatial_ros.learn.train.curriculum import DELIVERABLE, run_curriculum_file

        outcomes = run_curriculum_file(args.config, overrides)
        for o in outcomes:
            merged = f", merged into {o.merged_dir}" if o.merged_dir else ""
            print(f"stage {o.name}: {o.global_step} steps on {o.base_model} -> {o.output_dir}{merged}")
        print(f"deliverable: {outcomes[-1].output_dir.parent / DELIVERABLE}")
        return 0
    from robospatial_ros.learn.train.config import load_train_config

    config = load_train_config(args.config, overrides)
    if args.train_kind == "sft":
        from robospatial_ros.learn.train.sft import run_sft

        result = run_sft(config)
    else:
        from robospatial_ros.learn.train.grpo import run_grpo

        result = run_grpo(config)
    _print_result(result, config.model_path)
    return 0
