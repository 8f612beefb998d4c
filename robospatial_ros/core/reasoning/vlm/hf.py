"""The `hf` backend's client: a local transformers VLM (Qwen2.5-VL / Qwen2-VL, LLaVA-style) answering in batches.

Weights come only from `HFConfig.model_path` (a local directory) and an optional peft LoRA
adapter directory; nothing is downloaded (`local_files_only`). Qwen models get their own chat
template (image first, then the question); LLaVA/RoboPoint-style models use the checkpoint's
template when it has one, else the plain "USER: <image>\\n... ASSISTANT:" format.

Image-only processor without torchvision: transformers' Qwen2_5_VLProcessor insists on a
video processor, and building one needs torchvision (which we never install: it pulls a CUDA
build). `_image_only_processor` is the one place that works around it: where torchvision is
importable we use AutoProcessor unchanged.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robospatial_ros.core.errors import ConfigError, one_line
from robospatial_ros.core.reasoning.vlm.base import VisualQuestion, VLMError
from robospatial_ros.core.reasoning.vlm.qwen import _require_transformers

DTYPES = ("auto", "float32", "bfloat16", "float16")
TEMPLATES = ("auto", "qwen", "llava")
QWEN_TYPES = ("qwen2_5_vl", "qwen2_vl")
LLAVA_PROMPT = "USER: <image>\n{question} ASSISTANT:"


@dataclass(frozen=True)
class HFConfig:
    model_path: str = ""  # a local model directory (config.json + weights); required
    adapter_path: str = ""  # optional peft LoRA adapter directory, applied on top of the model
    dtype: str = "auto"  # auto: bfloat16 on a GPU that supports it, else float32
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    template: str = "auto"  # auto (from the model type) | qwen | llava
    min_pixels: int = 56 * 56  # Qwen image resizing bounds (pixels of the resized image)
    max_pixels: int = 640 * 480
    max_new_tokens: int = 128
    batch_size: int = 4  # questions per generate() call
    system_prompt: str = ""  # replaces the template's default system turn when set
    trust_remote_code: bool = False

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.template not in TEMPLATES:
            raise ConfigError(f"template must be one of {', '.join(TEMPLATES)}, got {self.template!r}")
        if not (self.device in ("auto", "cpu", "cuda", "mps") or self.device.startswith("cuda:")):
            raise ConfigError(f"device must be auto, cpu, cuda, cuda:N or mps, got {self.device!r}")
        for name in ("min_pixels", "max_pixels", "max_new_tokens", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.min_pixels > self.max_pixels:
            raise ConfigError(f"min_pixels {self.min_pixels} exceeds max_pixels {self.max_pixels}")


@dataclass
class Timings:
    """Seconds spent in the last batch, per stage (for `bench vlm`)."""

    prompt_s: float = 0.0  # chat template + image preprocessing + tokenization
    generate_s: float = 0.0
    decode_s: float = 0.0
    new_tokens: list[int] = field(default_factory=list)


def _check_model_dir(path: str, what: str) -> Path:
    if not path:
        raise ConfigError(
            f"the hf backend needs {what}: set model_path to a local model directory "
            "(models are never downloaded at run time)"
        )
    p = Path(path).expanduser()
    if not p.is_dir():
        raise VLMError(f"{what} {str(p)!r} is not a directory (models are never downloaded at run time)")
    return p


def _torch_dtype(torch: Any, name: str, device: str) -> Any:
    if name != "auto":
        return getattr(torch, name)
    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def _image_only_processor(transformers: Any, path: Path, config: HFConfig) -> Any:
    """A Qwen2_5_VLProcessor without a video processor (see the module docstring)."""

    class ImageOnlyQwenProcessor(transformers.Qwen2_5_VLProcessor):
        def check_argument_for_proper_class(self, argument_name: str, argument: Any) -> Any:
            if argument_name == "video_processor" and argument is None:
                return type(None)
            return super().check_argument_for_proper_class(argument_name, argument)

        def save_pretrained(self, save_directory: str | Path, **_: Any) -> list[str]:
            """What this function loads back (tokenizer, chat template, image processor): the stock
            save would also try to write the video processor this class does without."""
            out = Path(save_directory)
            out.mkdir(parents=True, exist_ok=True)
            files = [str(p) for p in self.tokenizer.save_pretrained(out)]  # tokenizer + chat_template.jinja
            files += [str(p) for p in self.image_processor.save_pretrained(out)]  # preprocessor_config.json
            if self.chat_template and not (out / "chat_template.jinja").is_file():
                (out / "chat_template.jinja").write_text(self.chat_template, encoding="utf-8")
            return files

    tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
    images = transformers.Qwen2VLImageProcessorPil.from_pretrained(
        path, local_files_only=True, min_pixels=config.min_pixels, max_pixels=config.max_pixels
    )
    return ImageOnlyQwenProcessor(image_processor=images, tokenizer=tokenizer, chat_template=tokenizer.chat_template)


def load_processor(transformers: Any, path: Path, config: HFConfig, template: str) -> Any:
    """The model's processor: the image-only Qwen one without torchvision, else AutoProcessor."""
    from transformers.utils import is_torchvision_available

    if template == "qwen" and not is_torchvision_available():
        return _image_only_processor(transformers, path, config)
    kwargs = {"min_pixels": config.min_pixels, "max_pixels": config.max_pixels}
    return transformers.AutoProcessor.from_pretrained(
        path,
        local_files_only=True,
        trust_remote_code=config.trust_remote_code,
        **(kwargs if template == "qwen" else {}),
    )


class HFVLMClient:
    """A local VLM as a TextAnswerer: `answer_texts(questions)` / `generate(images, prompts)`."""

    name = "hf"

    def __init__(self, config: HFConfig):
        transformers = _require_transformers()
        import torch

        path = _check_model_dir(config.model_path, "model_path")
        try:
            model_type = transformers.AutoConfig.from_pretrained(path, local_files_only=True).model_type
        except (OSError, ValueError) as exc:
            raise VLMError(f"cannot read the model config in {str(path)!r}: {one_line(exc)}") from None
        auto_template = "qwen" if model_type in QWEN_TYPES else "llava"
        template = config.template if config.template != "auto" else auto_template
        device = config.device if config.device != "auto" else "cuda" if torch.cuda.is_available() else "cpu"
        dtype = _torch_dtype(torch, config.dtype, device)
        try:
            processor = load_processor(transformers, path, config, template)
            model = transformers.AutoModelForImageTextToText.from_pretrained(
                path, dtype=dtype, local_files_only=True, trust_remote_code=config.trust_remote_code
            )
        except (OSError, ValueError) as exc:
            raise VLMError(f"cannot load the model in {str(path)!r}: {one_line(exc)}") from None
        if config.adapter_path:
            model = _with_adapter(model, config.adapter_path)
        model.to(device).eval()
        processor.tokenizer.padding_side = "left"  # rows of a batch end where generation starts
        self._attach(config, model, processor, template)

    @classmethod
    def from_loaded(cls, model: Any, processor: Any, config: HFConfig, template: str) -> HFVLMClient:
        """A client around a model and processor already in memory (e.g. while training): nothing is
        read from disk, nothing is moved; the caller owns eval mode and padding side."""
        client = cls.__new__(cls)
        client._attach(config, model, processor, template)
        return client

    def _attach(self, config: HFConfig, model: Any, processor: Any, template: str) -> None:
        """All the state the answering methods use, set in one place for both constructors."""
        import torch

        self.config, self.timings, self._torch = config, Timings(), torch
        self.model, self.processor, self.template = model, processor, template
        self.device = str(next(model.parameters()).device)

    # --- prompts ---

    def prompt_text(self, question: str) -> str:
        """The full model input text for one image + question, before image-token expansion."""
        if self.template == "llava" and not getattr(self.processor, "chat_template", None):
            return LLAVA_PROMPT.format(question=question)
        messages: list[dict[str, Any]] = []
        if self.config.system_prompt:
            messages.append({"role": "system", "content": [{"type": "text", "text": self.config.system_prompt}]})
        messages.append({"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]})
        return self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def seen_image_size(self, width: int, height: int) -> tuple[int, int]:
        """(W, H) of the image the model sees after its processor resizes it.

        Qwen2.5-VL writes pixel coordinates (points, `bbox_2d`) in this resized image, not the
        camera's: the backends scale by it when the convention is `pixels`.
        """
        if self.template != "qwen":
            return width, height
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

        h, w = smart_resize(
            height, width, factor=28, min_pixels=self.config.min_pixels, max_pixels=self.config.max_pixels
        )
        return int(w), int(h)

    # --- generation ---

    def generate(self, images: Sequence[np.ndarray], prompts: Sequence[str]) -> list[str]:
        """One answer per (image (H, W, 3) uint8 RGB, question) pair, greedy, in batches of `batch_size`."""
        if len(images) != len(prompts):
            raise VLMError(f"{len(images)} images for {len(prompts)} prompts")
        self.timings = Timings()
        out: list[str] = []
        for start in range(0, len(prompts), self.config.batch_size):
            stop = start + self.config.batch_size
            out += self._generate_batch(list(images[start:stop]), list(prompts[start:stop]))
        return out

    def _generate_batch(self, images: list[np.ndarray], prompts: list[str]) -> list[str]:
        from PIL import Image

        t0 = time.perf_counter()
        for img in images:
            if not (isinstance(img, np.ndarray) and img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8):
                raise VLMError(f"images must be (H, W, 3) uint8 RGB arrays, got {getattr(img, 'shape', type(img))}")
        texts = [self.prompt_text(p) for p in prompts]
        inputs = self.processor(
            text=texts, images=[Image.fromarray(i) for i in images], return_tensors="pt", padding=True
        ).to(self.device)
        t1 = time.perf_counter()
        with self._torch.inference_mode():
            ids = self.model.generate(
                **inputs,
                max_new_tokens=self.config.max_new_tokens,
                do_sample=False,
                pad_token_id=self.processor.tokenizer.pad_token_id,
            )
        if self.device.startswith("cuda"):
            self._torch.cuda.synchronize()
        t2 = time.perf_counter()
        new = ids[:, inputs["input_ids"].shape[1] :]
        answers = [a.strip() for a in self.processor.batch_decode(new, skip_special_tokens=True)]
        t3 = time.perf_counter()
        stop = {self.processor.tokenizer.eos_token_id, self.processor.tokenizer.pad_token_id}
        self.timings.prompt_s += t1 - t0
        self.timings.generate_s += t2 - t1
        self.timings.decode_s += t3 - t2
        self.timings.new_tokens += [sum(int(t) not in stop for t in row) for row in new]
        return answers

    def answer_texts(self, questions: Sequence[VisualQuestion]) -> list[str]:
        return self.generate([q.image for q in questions], [q.question for q in questions])


@contextlib.contextmanager
def peft_quietly() -> Iterator[None]:
    """peft reads transformers' deprecated `is_gradient_checkpointing` when it wraps, loads or trains a
    model: a FutureWarning on every run's stderr about code that is neither ours nor the user's to fix.
    Only that warning is silenced, only inside this block."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*deprecated", category=FutureWarning)
        yield


def _with_adapter(model: Any, adapter_path: str) -> Any:
    path = _check_model_dir(adapter_path, "adapter_path")
    if not (path / "adapter_config.json").is_file():
        raise VLMError(f"{str(path)!r} holds no adapter_config.json: not a peft adapter directory")
    try:
        from peft import PeftModel
    except ImportError:
        raise VLMError("loading a LoRA adapter needs peft: pip install peft") from None
    try:
        with peft_quietly():
            return PeftModel.from_pretrained(model, path, local_files_only=True)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise VLMError(f"cannot load the adapter in {str(path)!r}: {one_line(exc)}") from None
