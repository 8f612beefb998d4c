"""A tiny synthetic left/right dataset (two coloured blocks on a plain background) for smoke tests,
benchmarks and the learning check.

Each image holds two filled squares of different colours at random, horizontally separated
positions; the question asks whether one is left (or right) of the other from the camera's
perspective, so the answer follows from the image alone. Written in both layouts the toolkit
reads: Qwen-format JSONL for training (`qwen-00000.jsonl`) and the RoboSpatial-Home eval layout
(`annotations.json`) for the harness.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

COLOURS = {"red": (220, 40, 40), "blue": (40, 70, 220), "green": (40, 170, 60), "yellow": (230, 200, 40)}
BACKGROUND = (128, 128, 128)
QUESTION = "Is the {a} block {rel} of the {b} block from the camera's perspective? Answer yes or no."


def blocks_image(size_px: int, xa: int, xb: int, ya: int, yb: int, a: str, b: str, block_px: int) -> np.ndarray:
    """(size, size, 3) uint8 RGB: block a's left edge at xa, b's at xb (pixels)."""
    img = np.empty((size_px, size_px, 3), np.uint8)
    img[:] = BACKGROUND
    img[ya : ya + block_px, xa : xa + block_px] = COLOURS[a]
    img[yb : yb + block_px, xb : xb + block_px] = COLOURS[b]
    return img


def blocks_sample(
    rng: np.random.Generator, size_px: int, colours: Sequence[str], relations: Sequence[str], shuffle_names: bool
) -> dict:
    """One random item: image, question, answer ('Yes'/'No', balanced by construction). Without
    `shuffle_names` the question always names colours[0] first and colours[1] second."""
    block = max(4, size_px // 5)
    a, b = rng.choice(list(colours), size=2, replace=False) if shuffle_names else colours[:2]
    # Two non-overlapping horizontal slots: left edge positions with at least one block of gap between.
    left = int(rng.integers(0, size_px // 2 - block))
    right = int(rng.integers(size_px // 2, size_px - block))
    a_left = bool(rng.integers(0, 2))
    xa, xb = (left, right) if a_left else (right, left)
    ya, yb = (int(v) for v in rng.integers(0, size_px - block, size=2))
    rel = str(rng.choice(list(relations)))
    truth = a_left if rel == "left" else not a_left
    image = blocks_image(size_px, xa, xb, ya, yb, str(a), str(b), block)
    return {"image": image, "question": QUESTION.format(a=a, rel=rel, b=b), "answer": "Yes" if truth else "No"}


def _qwen_line(index: int, img: str, question: str, answer: str) -> dict[str, Any]:
    return {
        "id": f"blocks-{index:05d}",
        "images": [img],
        "messages": [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]},
            {"role": "assistant", "content": [{"type": "text", "text": answer}]},
        ],
        "kind": "robospatial",
        "task": "configuration",
        "frame": "ego",
        "choices": [],
        "metadata": {"generator": "toy-blocks"},
    }


def write_blocks_dataset(
    out_dir: str | Path,
    count: int,
    seed: int = 0,
    size_px: int = 112,
    colours: Sequence[str] = ("red", "blue"),
    relations: Sequence[str] = ("left", "right"),
    shuffle_names: bool = True,
) -> Path:
    """Write `count` items as OUT/images/*.png + OUT/qwen-00000.jsonl + OUT/annotations.json; returns OUT."""
    import cv2

    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lines, records = [], []
    for i in range(count):
        item = blocks_sample(rng, size_px, colours, relations, shuffle_names)
        img = f"images/blocks_{i:05d}.png"
        cv2.imwrite(str(out / img), cv2.cvtColor(item["image"], cv2.COLOR_RGB2BGR))
        lines.append(json.dumps(_qwen_line(i, img, item["question"], item["answer"])))
        records.append(
            {
                "category": "configuration",
                "question": item["question"],
                "answer": item["answer"],
                "img": img,
                "depth_image": None,
                "mask": None,
                "frame": "ego",
            }
        )
    (out / "qwen-00000.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "annotations.json").write_text(json.dumps(records, indent=1) + "\n", encoding="utf-8")
    return out
