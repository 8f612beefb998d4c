"""TrainConfig: one dataclass for SFT and GRPO runs (defaults < YAML < `--set`), and the curriculum file.

Nested settings (`lora`, `grpo`) take nested YAML mappings or dotted `--set` keys
(`--set lora.rank=32`, `--set grpo.reward_weights=[0.9,0.1]`). The resolved config is written
as `resolved_config.yaml` next to every checkpoint and the final adapter, so a run can always be
traced back to the exact settings that made it.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from robospatial_ros.core.configio import from_mapping, read_yaml_mapping, to_mapping, validate_fields
from robospatial_ros.core.errors import ConfigError, RoboSpatialError

RESOLVED_CONFIG = "resolved_config.yaml"
FINETUNE_MODES = ("lora", "full")
STAGE_KINDS = ("sft", "grpo")
REWARD_NAMES = ("accuracy", "yes_no", "point_in_region", "choice", "format")
POINT_CONVENTIONS = ("normalized", "qwen1000")
# The language model's attention and MLP projections (Qwen2/2.5, Llama, Mistral naming).
LM_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
# Training loggers (transformers' report_to names) and the packages each needs.
LOGGER_PACKAGES = {
    "tensorboard": ("tensorboard", "tensorboardX"),
    "wandb": ("wandb",),
    "mlflow": ("mlflow",),
    "comet_ml": ("comet_ml",),
    "clearml": ("clearml",),
    "neptune": ("neptune",),
    "dvclive": ("dvclive",),
    "trackio": ("trackio",),
}
# grpo.spatial_config names the package's own settings by these words (no path needed).
SPATIAL_PRESETS = ("tabletop", "reference")
# SpatialLadder-style reasoning format asked for in GRPO prompts (scored by `format_reward`).
DEFAULT_FORMAT_SUFFIX = (
    " Output the thinking process in <think> </think> and the final answer in <answer> </answer> tags."
)


class TrainError(RoboSpatialError):
    """A training run cannot start or continue (missing model, bad checkpoint, trainer refusal)."""


class TrainDataError(TrainError, ValueError):
    """Training data is missing, empty or malformed (names the file and line)."""


def _positive(config: Any, *names: str) -> None:
    for name in names:
        if getattr(config, name) <= 0:
            raise ConfigError(f"{name} must be positive, got {getattr(config, name)}")


def _non_negative(config: Any, *names: str) -> None:
    for name in names:
        if getattr(config, name) < 0:
            raise ConfigError(f"{name} must be >= 0, got {getattr(config, name)}")


@dataclass(frozen=True)
class LoraSettings:
    """Which linear layers get LoRA adapters, and their shape."""

    rank: int = 16
    alpha: float = 32.0
    dropout: float = 0.05
    # Leaf names of the language model's linear layers to adapt; ("all-linear",) adapts every linear
    # layer of the whole model (vision tower included) except the output head.
    target_modules: tuple[str, ...] = LM_PROJECTIONS
    vision_merger: bool = False  # also adapt the vision-to-language projector (Qwen merger / LLaVA projector)
    vision_tower: bool = False  # also adapt the vision encoder's attention and MLP layers
    # Modules trained in full and saved with the adapter (peft modules_to_save), e.g. ["language_model.norm"]:
    # lets a randomly initialised head scale its logits (tiny test models); real checkpoints rarely need it.
    modules_to_save: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        validate_fields(self)
        _positive(self, "rank", "alpha")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"lora.dropout must be in [0, 1), got {self.dropout}")
        if not self.target_modules or not all(name.strip() for name in self.target_modules):
            raise ConfigError("lora.target_modules must list at least one module name")


@dataclass(frozen=True)
class GRPOSettings:
    """Group-relative policy optimisation with verifiable rewards (only read by `train grpo`)."""

    num_generations: int = 4  # completions sampled per prompt; the global batch must be a multiple
    max_completion_length: int = 256  # tokens
    beta: float = 0.04  # KL coefficient to the reference (the frozen base under the adapter); 0 = no reference
    temperature: float = 1.0
    top_p: float = 1.0
    num_iterations: int = 1  # optimisation passes per generated batch
    # Reward functions (see robospatial_ros.learn.train.rewards) and their weights. "accuracy" routes
    # each sample to yes_no / point_in_region / choice by its kind and metadata. SpatialLadder weighs
    # accuracy:format 1:1, Spatial-SSRL 0.9:0.1.
    rewards: tuple[str, ...] = ("accuracy", "format")
    reward_weights: tuple[float, ...] = (1.0, 1.0)
    prompt_suffix: str = DEFAULT_FORMAT_SUFFIX  # appended to every question (training and in-training eval)
    point_convention: str = "normalized"  # how the model writes context points
    # SpatialConfig for the point-in-region check of samples whose metadata carries no "spatial_config"
    # (robospatial datagen writes one, and it wins): a YAML file (relative paths in a config file are
    # relative to that file), "tabletop" (the package's tabletop settings), "reference" or "" (the core defaults).
    spatial_config: str = ""
    log_completions: bool = False

    def __post_init__(self) -> None:
        validate_fields(self)
        _positive(self, "num_generations", "max_completion_length", "temperature", "num_iterations")
        _non_negative(self, "beta")
        if not 0.0 < self.top_p <= 1.0:
            raise ConfigError(f"grpo.top_p must be in (0, 1], got {self.top_p}")
        unknown = [r for r in self.rewards if r not in REWARD_NAMES]
        if unknown or not self.rewards:
            raise ConfigError(f"grpo.rewards must name some of {', '.join(REWARD_NAMES)}, got {list(self.rewards)}")
        if len(self.reward_weights) != len(self.rewards):
            raise ConfigError(
                f"grpo.reward_weights needs one weight per reward: {len(self.rewards)} rewards, "
                f"{len(self.reward_weights)} weights"
            )
        if self.point_convention not in POINT_CONVENTIONS:
            raise ConfigError(f"grpo.point_convention must be one of {', '.join(POINT_CONVENTIONS)}")


def _tristate(value: Any, name: str) -> str:
    """bool or 'auto'/'true'/'false' -> 'auto' | 'true' | 'false'."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.lower() in ("auto", "true", "false"):
        return value.lower()
    raise ConfigError(f"{name} must be auto, true or false, got {value!r}")


@dataclass(frozen=True)
class TrainConfig:
    """One fine-tuning run (SFT or GRPO) of a local VLM checkpoint."""

    model_path: str = ""  # local model directory (Qwen2.5-VL / Qwen2-VL / LLaVA-style); never downloaded
    output_dir: str = "train_out"
    # Qwen-format JSONL manifests (datagen output or mix manifests), or directories holding qwen-*.jsonl.
    data: tuple[str, ...] = ()
    # Relative share of each source in the training set (one per `data` entry); empty = every sample once.
    data_ratios: tuple[float, ...] = ()
    eval_data: str = ""  # held-out directory in the RoboSpatial-Home layout (annotations.json); "" = none
    eval_every_steps: int = 0  # run the eval harness every N optimizer steps (0 = only at the end)
    eval_limit: int = 0  # first N eval items (0 = all)
    eval_batch_size: int = 8
    eval_max_new_tokens: int = 64
    eval_at_end: bool = True
    finetune: str = "lora"  # lora: adapters only (the deliverable); full: every weight (tiny models, ablations)
    lora: LoraSettings = field(default_factory=LoraSettings)
    grpo: GRPOSettings = field(default_factory=GRPOSettings)
    learning_rate: float = 2e-4
    epochs: float = 1.0
    max_steps: int = 0  # optimizer steps; 0 = run `epochs` epochs
    per_device_batch_size: int = 1
    gradient_accumulation_steps: int = 1
    bf16: bool | str = "auto"  # auto: where the GPU supports it; never on CPU
    gradient_checkpointing: bool = True  # trades compute for memory (off for tiny models on CPU)
    seed: int = 0
    save_steps: int = 500  # checkpoint every N steps (0 = only the final save)
    save_total_limit: int = 0  # keep at most N checkpoints (0 = all)
    resume: bool | str = False  # true: from the last checkpoint in output_dir; or a checkpoint directory
    min_pixels: int = 56 * 56  # Qwen image resize bounds (pixels of the resized image)
    max_pixels: int = 640 * 480
    max_length: int = 0  # truncate SFT sequences to this many tokens (0 = never; image tokens are never cut)
    logging_steps: int = 10
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    # AdamW's second-moment decay. 0.999 (the default) remembers the huge first-step gradients of a randomly
    # initialised head for ~1000 steps and stalls small later ones; 0.95 (common for LLMs) forgets in ~20.
    adam_beta2: float = 0.999
    lr_scheduler: str = "linear"  # any transformers scheduler name (linear, cosine, constant, ...)
    system_prompt: str = ""  # a system turn for every sample; deploy with the same HFConfig.system_prompt
    report_to: tuple[str, ...] = ()  # e.g. ["tensorboard"], ["wandb"]
    dataloader_num_workers: int = 0
    trust_remote_code: bool = False
    progress: bool = True  # tqdm bars

    def __post_init__(self) -> None:
        validate_fields(self)
        object.__setattr__(self, "bf16", _tristate(self.bf16, "bf16"))
        if not isinstance(self.resume, (bool, str)):
            raise ConfigError(f"resume must be true, false or a checkpoint directory, got {self.resume!r}")
        if self.finetune not in FINETUNE_MODES:
            raise ConfigError(f"finetune must be one of {', '.join(FINETUNE_MODES)}, got {self.finetune!r}")
        if not self.output_dir:
            raise ConfigError("output_dir must be set")
        _positive(
            self,
            "learning_rate",
            "per_device_batch_size",
            "gradient_accumulation_steps",
            "eval_batch_size",
            "eval_max_new_tokens",
            "logging_steps",
            "min_pixels",
            "max_pixels",
        )
        _non_negative(
            self,
            "max_steps",
            "eval_every_steps",
            "eval_limit",
            "save_steps",
            "save_total_limit",
            "max_length",
            "warmup_ratio",
            "weight_decay",
            "max_grad_norm",
            "dataloader_num_workers",
        )
        if self.max_steps == 0 and not (math.isfinite(self.epochs) and self.epochs > 0):
            raise ConfigError(f"epochs must be positive when max_steps is 0, got {self.epochs}")
        if not 0.0 < self.adam_beta2 < 1.0:
            raise ConfigError(f"adam_beta2 must be in (0, 1), got {self.adam_beta2}")
        if self.warmup_ratio >= 1.0:
            raise ConfigError(f"warmup_ratio is a share of all steps, below 1; got {self.warmup_ratio}")
        if self.min_pixels > self.max_pixels:
            raise ConfigError(f"min_pixels {self.min_pixels} exceeds max_pixels {self.max_pixels}")
        if self.data_ratios and len(self.data_ratios) != len(self.data):
            raise ConfigError(
                f"data_ratios needs one ratio per data source: {len(self.data)} sources, {len(self.data_ratios)} ratios"
            )
        if any(r <= 0 for r in self.data_ratios):
            raise ConfigError(f"data_ratios must be positive, got {list(self.data_ratios)}")
        if self.eval_every_steps and not self.eval_data:
            raise ConfigError("eval_every_steps needs eval_data (a directory with annotations.json)")
        check_loggers(self.report_to)


def check_loggers(report_to: tuple[str, ...]) -> None:
    """ConfigError naming the package to install when a `report_to` logger's package is absent."""
    for name in report_to:
        if name in ("none", "all"):
            continue
        packages = LOGGER_PACKAGES.get(name)
        if packages is None:
            raise ConfigError(f"report_to: unknown logger {name!r}; known: {', '.join(LOGGER_PACKAGES)}")
        if not any(importlib.util.find_spec(p) is not None for p in packages):
            raise ConfigError(f"report_to: {name} needs the {packages[0]} package (pip install {packages[0]})")


def load_train_config(path: str | Path | None, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """Defaults < the YAML file at `path` < overrides (dotted keys reach nested settings).

    A relative grpo.spatial_config written in the file is relative to the file (so a shipped config
    works from any directory); one given as an override is relative to the working directory."""
    from robospatial_ros.core.configio import from_mapping

    values = read_yaml_mapping(path) if path is not None else {}
    grpo = values.get("grpo")
    if path is not None and isinstance(grpo, Mapping) and isinstance(grpo.get("spatial_config"), str):
        values["grpo"] = {**grpo, "spatial_config": _relative_to(Path(path), grpo["spatial_config"])}
    values.update(overrides or {})
    return from_mapping(TrainConfig, values, source=str(path) if path is not None else "overrides")


def _relative_to(config_file: Path, value: str) -> str:
    """`value` as a path relative to the config file's directory (presets, "" and absolute paths as they are)."""
    if not value or value in SPATIAL_PRESETS or Path(value).expanduser().is_absolute():
        return value
    return str((config_file.resolve().parent / value).resolve())


def config_yaml(config: Any) -> str:
    """The resolved config as YAML text (nested settings as mappings, tuples as lists)."""
    return yaml.safe_dump(to_mapping(config), sort_keys=False, allow_unicode=True)


def write_resolved_config(config: Any, directory: str | Path) -> Path:
    """Write `resolved_config.yaml` into `directory` (created if missing)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    path = out / RESOLVED_CONFIG
    path.write_text(config_yaml(config), encoding="utf-8")
    return path


# --- the curriculum file ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CurriculumStage:
    """One stage: an SFT or GRPO TrainConfig file, started from the previous stage's merged weights."""

    name: str
    kind: str  # sft | grpo
    config: str  # the stage's TrainConfig YAML, relative to the curriculum file
    overrides: Mapping[str, Any] = field(default_factory=dict)  # TrainConfig keys set on top of the file

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip() or "/" in self.name:
            raise ConfigError(f"a stage needs a plain name (no '/'), got {self.name!r}")
        if self.kind not in STAGE_KINDS:
            raise ConfigError(f"stage {self.name}: kind must be one of {', '.join(STAGE_KINDS)}, got {self.kind!r}")
        if not isinstance(self.config, str) or not self.config:
            raise ConfigError(f"stage {self.name}: config must name a TrainConfig YAML file")
        if not isinstance(self.overrides, Mapping):
            raise ConfigError(f"stage {self.name}: overrides must be a mapping of TrainConfig keys")


@dataclass(frozen=True)
class CurriculumConfig:
    """SpatialLadder-style progressive training: stages run in order, each from the last one's merged model."""

    output_dir: str = "curriculum_out"
    model_path: str = ""  # the first stage's base model ("" = the first stage file's model_path)
    stages: tuple[CurriculumStage, ...] = ()
    resume: bool = False  # skip finished stages; an interrupted stage continues from its last checkpoint
    merge_last: bool = False  # also merge the final stage into a full model (the adapter is the deliverable)
    base_dir: str = ""  # where stage config paths are relative to (the curriculum file's directory)

    def __post_init__(self) -> None:
        validate_fields(self)
        if not self.stages:
            raise ConfigError("a curriculum needs at least one stage")
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ConfigError(f"stage names must be unique, got {names}")
        if not self.output_dir:
            raise ConfigError("output_dir must be set")

    def stage_config_path(self, stage: CurriculumStage) -> Path:
        path = Path(stage.config).expanduser()
        return path if path.is_absolute() else Path(self.base_dir or ".") / path


CURRICULUM_KEYS = tuple(f.name for f in dataclasses.fields(CurriculumConfig) if f.name not in ("stages", "base_dir"))


def _stage(index: int, value: Any) -> CurriculumStage:
    if not isinstance(value, Mapping):
        raise ConfigError(f"stages[{index}] must be a mapping with name, kind and config")
    return from_mapping(CurriculumStage, dict(value), source=f"stages[{index}]")


def load_curriculum(path: str | Path, overrides: Mapping[str, Any] | None = None) -> CurriculumConfig:
    """Read a curriculum YAML: {output_dir, model_path, resume, merge_last, stages: [{name, kind, config,
    overrides}]}. Only curriculum keys are taken from `overrides` (see `split_curriculum_overrides`)."""
    values = read_yaml_mapping(path)
    stages = values.pop("stages", None)
    if not isinstance(stages, list):
        raise ConfigError(f"{path}: 'stages' must be a list of stages")
    values.update(overrides or {})
    values["stages"] = tuple(_stage(i, s) for i, s in enumerate(stages))
    values["base_dir"] = str(Path(path).resolve().parent)
    return from_mapping(CurriculumConfig, values, source=str(path))


def split_curriculum_overrides(overrides: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(curriculum keys, everything else): the rest is applied to every stage's TrainConfig."""
    mine = {k: v for k, v in overrides.items() if k in CURRICULUM_KEYS}
    return mine, {k: v for k, v in overrides.items() if k not in CURRICULUM_KEYS}
