"""One generated item, whatever generator made it; the writers turn these into datasets and JSONL."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Sample:
    """A question about one or more images with a verifiable answer.

    `metadata` holds what is needed to re-derive the answer independently (JSON-serializable:
    plain lists, numbers and strings), e.g. the scene dict, the simulator state or the
    transformation applied to the image.
    """

    kind: str  # generator: "robospatial" | "sat" | "ssrl"
    task: str  # e.g. "configuration", "context", "ego_movement", "patch_reorder"
    question: str  # the prompt text, without the "<image>" marker
    answer: str  # the exact expected answer text
    images: list[np.ndarray]  # each (H, W, 3) uint8 RGB
    frame: str = ""  # "ego" | "world" | "object" for RoboSpatial items, else ""
    choices: list[str] = field(default_factory=list)  # multiple-choice options, shuffled; answer is one of them
    metadata: dict[str, Any] = field(default_factory=dict)
    # (H, W) float32 metres of images[0] (0 or NaN = unknown), when the source has depth: the eval layout
    # stores it (`depth_image`) for backends that read depth (verify, hybrid).
    depth: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not self.images:
            raise ValueError("a sample needs at least one image")
        for img in self.images:
            if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
                raise ValueError(f"images must be (H, W, 3) uint8 RGB, got {img.shape} {img.dtype}")
        if self.depth is not None and (self.depth.ndim != 2 or self.depth.shape != self.images[0].shape[:2]):
            raise ValueError(f"depth must be (H, W) like images[0] {self.images[0].shape[:2]}, got {self.depth.shape}")
        if self.choices and self.answer not in self.choices:
            raise ValueError(f"answer {self.answer!r} is not among the choices {self.choices}")
