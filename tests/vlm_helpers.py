"""Tiny Qwen2.5-VL checkpoints for tests: random-init, and 'scripted' ones that always answer a given text.

A scripted model is a real Qwen2_5_VLForConditionalGeneration whose weights are set by hand:
every attention and MLP output projection is zero, so each position's final hidden state is
its own token embedding, and the (untied) LM head maps each token of a chain to the next one.
Greedy decoding after the prompt's last token ("\\n" after "assistant") then spells out the
answer and stops with <|im_end|>. This works for answers whose tokens are all distinct
(a bigram chain), e.g. "Yes", "No" or "(538, 702)".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robospatial_ros.core.reasoning.vlm.qwen import SIZES, qwen_config, qwen_image_processor, qwen_tokenizer

LOGIT_SCALE = 10.0


def save_scripted_qwen(out_dir: Path, answer: str, max_pixels: int = 320 * 240) -> Path:
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    tok = qwen_tokenizer()
    chain = [tok.convert_tokens_to_ids("Ċ")]  # "\n", the last prompt token
    chain += tok.encode(answer, add_special_tokens=False) + [tok.eos_token_id]
    if len(set(chain)) != len(chain):
        raise ValueError(f"{answer!r} repeats a token: a bigram chain cannot spell it")
    size = SIZES["tiny"]
    if len(chain) > size.hidden_size:
        raise ValueError("answer too long for the tiny model's hidden size")
    config = qwen_config(size)
    config.tie_word_embeddings = False
    config.text_config.tie_word_embeddings = False
    torch.manual_seed(0)
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    with torch.no_grad():
        for layer in model.model.language_model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        emb = model.model.language_model.embed_tokens.weight
        head = model.lm_head.weight
        head.zero_()
        for i, token in enumerate(chain):
            emb[token] = 0.0
            emb[token, i] = 1.0  # token i of the chain -> basis direction i
            if i + 1 < len(chain):
                head[chain[i + 1], i] = LOGIT_SCALE  # direction i -> the next token
    out = Path(out_dir)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    qwen_image_processor(max_pixels=max_pixels).save_pretrained(out)
    return out


def random_image(h: int = 240, w: int = 320, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)


def save_tiny_llava(out_dir: Path) -> Path:
    """A random-init LLaVA-style model (CLIP vision tower + Qwen2 language model, Qwen vocabulary + <image>)."""
    import torch
    import transformers as tf

    tok = qwen_tokenizer()
    tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
    tok.chat_template = None  # RoboPoint-style checkpoints ship none: the client's USER/ASSISTANT format applies
    vision = {
        "model_type": "clip_vision_model",
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": 56,
        "patch_size": 14,
    }
    text = {
        "model_type": "qwen2",
        "vocab_size": len(tok),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
    }
    config = tf.LlavaConfig(
        vision_config=vision, text_config=text, image_token_index=tok.convert_tokens_to_ids("<image>")
    )
    torch.manual_seed(0)
    images = tf.CLIPImageProcessorPil(size={"shortest_edge": 56}, crop_size={"height": 56, "width": 56})
    processor = tf.LlavaProcessor(
        image_processor=images,
        tokenizer=tok,
        patch_size=14,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
    )
    out = Path(out_dir)
    tf.LlavaForConditionalGeneration(config).save_pretrained(out)
    processor.save_pretrained(out)
    return out
