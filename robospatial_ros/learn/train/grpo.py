"""GRPO with verifiable rewards (trl's GRPOTrainer) on Qwen-format JSONL data.

Each prompt is the sample's question (plus `grpo.prompt_suffix`, by default asking for
`<think>...</think><answer>...</answer>`); the model samples `grpo.num_generations` completions
per prompt, the configured rewards (`rewards.py`) score them against the sample's answer or
scene, and the group-normalised advantages drive the policy update. With LoRA the reference
policy for the KL term (`grpo.beta`) is the base model under the disabled adapter: no second copy.
"""

from __future__ import annotations

from typing import Any

from robospatial_ros.learn.train.config import TrainConfig
from robospatial_ros.learn.train.data import grpo_dataset, load_records
from robospatial_ros.learn.train.rewards import reward_functions
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


def spatial_config_for(config: TrainConfig) -> Any:
    """The SpatialConfig the point-in-region reward checks with (None: the core's defaults); a
    ConfigError when its file is missing or invalid."""
    value = config.grpo.spatial_config
    if not value or value == "reference":
        return None
    from robospatial_ros.core.configio import load_config
    from robospatial_ros.core.resources import DEFAULT_TABLETOP_CONFIG
    from robospatial_ros.core.spatial.config import SpatialConfig

    return load_config(SpatialConfig, DEFAULT_TABLETOP_CONFIG if value == "tabletop" else value)


def grpo_arguments(config: TrainConfig, bf16: bool, reward_weights: list[float]) -> Any:
    trl = require_trl()
    g = config.grpo
    values = {
        **common_arguments(config, bf16),
        "num_generations": g.num_generations,
        "max_completion_length": g.max_completion_length,
        "beta": g.beta,
        "temperature": g.temperature,
        "top_p": g.top_p,
        "num_iterations": g.num_iterations,
        "reward_weights": reward_weights,
        "log_completions": g.log_completions,
    }
    return trainer_arguments(trl.GRPOConfig, values)


def build_grpo_trainer(config: TrainConfig, extra_callbacks: list[Any] | None = None) -> tuple[Any, Any, list[Any]]:
    trl = require_trl()
    records = load_records(config)
    check_eval_data(config)
    spatial = spatial_config_for(config)
    funcs, weights = reward_functions(config.grpo, spatial)
    loaded = load(config)
    dataset = grpo_dataset(records, config.system_prompt, config.grpo.prompt_suffix)
    extras = TrainerExtras(list(extra_callbacks or []), grpo=True, trainer_kwargs={"reward_funcs": funcs})
    arguments = grpo_arguments(config, loaded.bf16, weights)
    trainer, callbacks = make_trainer(trl.GRPOTrainer, config, loaded, arguments, dataset, extras)
    return trainer, loaded, callbacks


def run_grpo(config: TrainConfig, extra_callbacks: list[Any] | None = None) -> TrainResult:
    """Train with GRPO, save the adapter (or full model) and resolved config, return the result."""
    trainer, loaded, callbacks = build_grpo_trainer(config, extra_callbacks)
    return run_trainer(trainer, config, loaded, callbacks)
