"""Supervised fine-tuning (LoRA by default) of a local VLM on Qwen-format JSONL data, with trl's SFTTrainer.

Samples become prompt-completion pairs; trl's vision collator runs the model's own processor on
the images and masks the prompt, so the loss covers only the assistant answer (and its end-of-turn
token). Checkpoints, resuming and gradient accumulation are the Trainer's own.

    result = run_sft(load_train_config("config/train_sft.yaml", {"model_path": "/models/qwen2.5-vl-3b"}))
    # result.output_dir holds adapter_model.safetensors + adapter_config.json + resolved_config.yaml
"""

from __future__ import annotations

from typing import Any

from robospatial_ros.learn.train.config import TrainConfig
from robospatial_ros.learn.train.data import load_records, sft_dataset
from robospatial_ros.learn.train.session import (
    TrainerExtras,
    TrainResult,
    check_eval_data,
    common_arguments,
    load,
    make_trainer,
    require_trl,
    run_trainer,
    trainer_arguments,
)


def sft_arguments(config: TrainConfig, bf16: bool) -> Any:
    """trl SFTConfig for a run: prompt-completion loss, no packing, no truncation unless asked."""
    trl = require_trl()
    values = {
        **common_arguments(config, bf16),
        "completion_only_loss": True,
        "max_length": config.max_length or None,
        "packing": False,
    }
    return trainer_arguments(trl.SFTConfig, values)


def build_sft_trainer(config: TrainConfig, extra_callbacks: list[Any] | None = None) -> tuple[Any, Any, list[Any]]:
    """(trainer, loaded model bundle, callbacks): data and eval set checked first, then the model loaded."""
    trl = require_trl()
    records = load_records(config)
    check_eval_data(config)
    loaded = load(config)
    dataset = sft_dataset(records, config.system_prompt)
    extras = TrainerExtras(callbacks=list(extra_callbacks or []))
    arguments = sft_arguments(config, loaded.bf16)
    trainer, callbacks = make_trainer(trl.SFTTrainer, config, loaded, arguments, dataset, extras)
    return trainer, loaded, callbacks


def run_sft(config: TrainConfig, extra_callbacks: list[Any] | None = None) -> TrainResult:
    """Train, save the adapter (or full model) and resolved config to config.output_dir, return the result."""
    trainer, loaded, callbacks = build_sft_trainer(config, extra_callbacks)
    return run_trainer(trainer, config, loaded, callbacks)
