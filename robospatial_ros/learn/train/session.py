"""What SFT and GRPO runs share: checking inputs, loading, the common Trainer arguments, resuming, saving.

A run's output directory:

    OUTPUT/checkpoint-N/          Trainer checkpoints (adapter, optimizer, scheduler, RNG, trainer_state.json)
                                  + resolved_config.yaml
    OUTPUT/adapter_model.safetensors, adapter_config.json   the deliverable (LoRA runs; no base weights)
    OUTPUT/tokenizer*, chat_template.jinja, preprocessor_config.json   the processor, for convenience
    OUTPUT/resolved_config.yaml
    OUTPUT/eval/step-N.json       eval-harness reports (when eval_data is set)

Load it with the hf backend: HFConfig(model_path=<base model>, adapter_path=OUTPUT).
"""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robospatial_ros.core.errors import ConfigError
from robospatial_ros.core.reasoning.vlm.hf import QWEN_TYPES, peft_quietly
from robospatial_ros.learn.train import callbacks as cb
from robospatial_ros.learn.train.config import TrainConfig, TrainError, write_resolved_config
from robospatial_ros.learn.train.model import (
    check_model_dir,
    load_model,
    load_processor,
    model_type_of,
    peft_config,
    unwrapped,
    use_bf16,
)

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a finished run leaves behind (the model stays in memory for merging or inspection)."""

    output_dir: Path  # the adapter (LoRA) or the full model (finetune: full)
    global_step: int
    train_loss: float | None
    model: Any  # the trained model, unwrapped (a peft PeftModel for LoRA runs)
    processor: Any
    eval_reports: dict[int, Any] = field(default_factory=dict)  # global step -> EvalReport
    log_history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def final_eval(self) -> Any:
        return self.eval_reports[max(self.eval_reports)] if self.eval_reports else None


@dataclass
class Loaded:
    model: Any
    processor: Any
    template: str  # qwen | llava (the hf backend's prompt format, for evaluation)
    bf16: bool
    peft: Any  # peft LoraConfig or None


def require_trl() -> Any:
    try:
        import trl
    except ImportError:
        raise TrainError("training needs trl, peft and transformers: pip install 'robospatial-ros[train]'") from None
    return trl


def check_eval_data(config: TrainConfig) -> None:
    """Validate the held-out set before spending minutes on loading and training."""
    if config.eval_data:
        from robospatial_ros.learn.eval.dataset import load_eval_items

        load_eval_items(config.eval_data, config.eval_limit or None)


def load(config: TrainConfig) -> Loaded:
    path = check_model_dir(config.model_path)
    bf16 = use_bf16(config)
    template = "qwen" if model_type_of(path, config.trust_remote_code) in QWEN_TYPES else "llava"
    processor = load_processor(path, config, template)
    model = load_model(path, config, bf16)
    return Loaded(model, processor, template, bf16, peft_config(config))


def common_arguments(config: TrainConfig, bf16: bool) -> dict[str, Any]:
    """TrainingArguments shared by SFTConfig and GRPOConfig. No device is named: the Trainer (and
    accelerate / torchrun) place the model, so the same config runs on CPU, one GPU or many."""
    return {
        "output_dir": config.output_dir,
        "learning_rate": config.learning_rate,
        "num_train_epochs": config.epochs,
        "max_steps": config.max_steps or -1,
        "per_device_train_batch_size": config.per_device_batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "bf16": bf16,
        "fp16": False,
        "seed": config.seed,
        "save_strategy": "steps" if config.save_steps else "no",
        "save_steps": config.save_steps or 500,
        "save_total_limit": config.save_total_limit or None,
        "logging_steps": config.logging_steps,
        "warmup_steps": config.warmup_ratio,
        "weight_decay": config.weight_decay,
        "max_grad_norm": config.max_grad_norm,
        "adam_beta2": config.adam_beta2,
        "lr_scheduler_type": config.lr_scheduler,
        "report_to": list(config.report_to) or "none",
        "gradient_checkpointing": config.gradient_checkpointing,
        "dataloader_num_workers": config.dataloader_num_workers,
        "dataloader_pin_memory": _cuda_available(),
        "disable_tqdm": not config.progress,
    }


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def trainer_arguments(cls: type, values: dict[str, Any]) -> Any:
    """SFTConfig / GRPOConfig from `values`; their validation errors become one-line ConfigErrors."""
    import dataclasses

    names = {f.name for f in dataclasses.fields(cls)}
    if "activation_checkpointing" in names and "gradient_checkpointing" in values:  # transformers >= 5.2x name
        values = {**values, "activation_checkpointing": values["gradient_checkpointing"]}
        del values["gradient_checkpointing"]
    try:
        return cls(**values)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"invalid training settings: {' '.join(str(exc).split())}") from None


def resume_checkpoint(config: TrainConfig) -> str | None:
    """The checkpoint to resume from: resume=true takes the last one in output_dir (none there: a fresh
    start, logged), a path must be a checkpoint directory."""
    if config.resume is False:
        return None
    if isinstance(config.resume, str):
        path = Path(config.resume).expanduser()
        if not (path / "trainer_state.json").is_file():
            raise TrainError(f"resume: {str(path)!r} is not a Trainer checkpoint (no trainer_state.json)")
        return str(path)
    from transformers.trainer_utils import get_last_checkpoint

    out = Path(config.output_dir)
    last = get_last_checkpoint(str(out)) if out.is_dir() else None
    if last is None:
        log.warning("resume: no checkpoint in %s yet; starting from step 0", out)
    return last


@dataclass
class TrainerExtras:
    """What one kind of trainer adds to `make_trainer`'s common arguments."""

    callbacks: list[Any] = field(default_factory=list)  # the caller's, after ours
    grpo: bool = False  # in-training evaluation asks and scores as GRPO trained
    trainer_kwargs: dict[str, Any] = field(default_factory=dict)  # e.g. reward_funcs


def make_trainer(
    trainer_cls: Any, config: TrainConfig, loaded: Loaded, arguments: Any, dataset: Any, extra: TrainerExtras
) -> tuple[Any, list[Any]]:
    """(trainer, callbacks): a trl trainer on the loaded model (peft config, processor, our callbacks)."""
    callbacks = cb.make_callbacks(config, loaded.processor, loaded.template, grpo=extra.grpo) + extra.callbacks
    with peft_quietly():
        trainer = trainer_cls(
            model=loaded.model,
            args=arguments,
            train_dataset=dataset,
            processing_class=loaded.processor,
            peft_config=loaded.peft,
            callbacks=callbacks,
            **extra.trainer_kwargs,
        )
    return trainer, callbacks


def run_trainer(trainer: Any, config: TrainConfig, loaded: Loaded, callbacks: list[Any]) -> TrainResult:
    """Train (resuming when asked), save the deliverable and the resolved config, collect the result."""
    evaluator = cb.attach(trainer, callbacks)
    if trainer.args.process_index == 0:  # written first, so a crashed run still says how it was set up
        write_resolved_config(config, config.output_dir)
    with peft_quietly():
        output = trainer.train(resume_from_checkpoint=resume_checkpoint(config))
    trainer.save_model(config.output_dir)  # LoRA: adapter files only; processor files too
    model = unwrapped(trainer)
    return TrainResult(
        output_dir=Path(config.output_dir),
        global_step=trainer.state.global_step,
        train_loss=getattr(output, "training_loss", None),
        model=model,
        processor=loaded.processor,
        eval_reports=dict(evaluator.reports) if evaluator is not None else {},
        log_history=list(trainer.state.log_history),
    )


def release_memory() -> None:
    """Collect dropped models and return cached accelerator memory (between curriculum stages)."""
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass
