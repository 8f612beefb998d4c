"""Loading the model and processor for training, the LoRA layout, saving adapters and merged weights.

The processor is the one the `hf` backend uses at deployment (`hf.load_processor`: same image
resizing, same chat template, and a save that writes what the backend reads back), so what the
model learns is what it sees later.

Devices are never chosen here: the Trainer (and `accelerate launch` / `torchrun`) places the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robospatial_ros.core.errors import one_line
from robospatial_ros.core.reasoning.vlm.hf import HFConfig
from robospatial_ros.core.reasoning.vlm.hf import load_processor as hf_load_processor
from robospatial_ros.core.reasoning.vlm.qwen import _require_transformers
from robospatial_ros.learn.train.config import TrainConfig, TrainError

# Linear layers of the vision side, by model family (peft matches these regexes against module names).
_VISION_MERGER = r"visual\.merger\.mlp\.\d+|multi_modal_projector\.linear_\d+"
_VISION_TOWER = (
    r"visual\.blocks\.\d+\.(?:attn\.(?:qkv|proj)|mlp\.(?:gate_proj|up_proj|down_proj))"
    r"|vision_tower\..*\.(?:q_proj|k_proj|v_proj|out_proj|fc1|fc2)"
)


def check_model_dir(path: str) -> Path:
    """The model directory as a Path; TrainError when unset or not a directory (nothing is downloaded)."""
    if not path:
        raise TrainError("model_path is not set: point it at a local model directory (models are never downloaded)")
    p = Path(path).expanduser()
    if not p.is_dir():
        raise TrainError(f"model_path {str(p)!r} is not a directory (models are never downloaded)")
    if not (p / "config.json").is_file():
        raise TrainError(f"model_path {str(p)!r} holds no config.json: not a transformers model directory")
    return p


def use_bf16(config: TrainConfig) -> bool:
    """bf16 'auto' means a CUDA device that supports it; 'true' on a machine without one is an error."""
    import torch

    supported = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if config.bf16 == "true" and not supported:
        raise TrainError("bf16 is true but no CUDA device with bfloat16 support is visible; set bf16: auto")
    return config.bf16 == "true" or (config.bf16 == "auto" and supported)


def model_type_of(path: Path, trust_remote_code: bool = False) -> str:
    transformers = _require_transformers()
    try:
        return transformers.AutoConfig.from_pretrained(
            path, local_files_only=True, trust_remote_code=trust_remote_code
        ).model_type
    except (OSError, ValueError) as exc:
        raise TrainError(f"cannot read the model config in {str(path)!r}: {one_line(exc)}") from None


def load_processor(path: Path, config: TrainConfig, template: str) -> Any:
    """The model's processor, as the hf backend loads it (so it saves what the backend reads back)."""
    hf = HFConfig(
        model_path=str(path),
        min_pixels=config.min_pixels,
        max_pixels=config.max_pixels,
        trust_remote_code=config.trust_remote_code,
    )
    try:
        return hf_load_processor(_require_transformers(), path, hf, template)
    except (OSError, ValueError) as exc:
        raise TrainError(f"cannot load the processor in {str(path)!r}: {one_line(exc)}") from None


def load_model(path: Path, config: TrainConfig, bf16: bool) -> Any:
    """The full model on the CPU in float32 (or bfloat16), ready for the Trainer to place."""
    transformers = _require_transformers()
    import torch

    dtype = torch.bfloat16 if bf16 else torch.float32
    try:
        return transformers.AutoModelForImageTextToText.from_pretrained(
            path, dtype=dtype, local_files_only=True, trust_remote_code=config.trust_remote_code
        )
    except (OSError, ValueError) as exc:
        raise TrainError(f"cannot load the model in {str(path)!r}: {one_line(exc)}") from None


def lora_target_regex(config: TrainConfig) -> str | list[str]:
    """peft target_modules: a full-match regex over module names, or 'all-linear'."""
    lora = config.lora
    if tuple(lora.target_modules) == ("all-linear",):
        return "all-linear"
    names = "|".join(sorted({n.strip() for n in lora.target_modules}))
    parts = [rf"(?:.*language_model\..*\.(?:{names}))"]
    if lora.vision_merger:
        parts.append(rf"(?:.*(?:{_VISION_MERGER}))")
    if lora.vision_tower:
        parts.append(rf"(?:.*(?:{_VISION_TOWER}))")
    return "|".join(parts)


def peft_config(config: TrainConfig) -> Any:
    """The peft LoraConfig for `config.lora` (None for full fine-tuning)."""
    if config.finetune == "full":
        return None
    try:
        from peft import LoraConfig
    except ImportError:
        raise TrainError("LoRA training needs peft: pip install peft") from None
    lora = config.lora
    return LoraConfig(
        r=lora.rank,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora_target_regex(config),
        task_type="CAUSAL_LM",
        bias="none",
        modules_to_save=list(lora.modules_to_save) or None,
    )


def unwrapped(trainer: Any) -> Any:
    """The trained model without distributed wrappers (a PeftModel for LoRA runs)."""
    return trainer.accelerator.unwrap_model(trainer.model)


def merge_and_save(model: Any, processor: Any, out_dir: str | Path) -> Path:
    """Fold the LoRA adapter into the base weights and save a full model (+ processor) to `out_dir`.

    The curriculum needs this between stages: the next stage trains a fresh adapter on top of these
    weights. The result is a full checkpoint by necessity (its size is the base model's).
    """
    out = Path(out_dir)
    merged = model.merge_and_unload() if hasattr(model, "merge_and_unload") else model
    merged.save_pretrained(out)
    processor.save_pretrained(out)
    return out
