"""Grounding items: "locate every object" with Qwen-style `bbox_2d` JSON answers.

The first stage of a SpatialLadder curriculum teaches the model to ground object names to
boxes; the hybrid backend asks exactly this question (`vlm.prompts.grounding_prompt`) and reads
the answer with the same parser (`vlm.parsing.parse_boxes`), so a model trained on these items
is what the hybrid backend expects. Boxes are the tight boxes of the simulator's instance
masks (what is visible), written in `convention`: `qwen1000` (0-1000 integers, independent of
any resizing; give the hybrid backend `box_convention: qwen1000`), `pixels` or `normalized`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from robospatial_ros.core.configio import validate_fields
from robospatial_ros.core.errors import ConfigError
from robospatial_ros.core.language.prompts import grounding_prompt
from robospatial_ros.learn.datagen.episodes import check_count, check_sim_layout, sim_shots
from robospatial_ros.learn.datagen.records import Sample
from robospatial_ros.sim.objects import DEFAULT_OBJECTS

CONVENTIONS = ("qwen1000", "pixels", "normalized")


@dataclass(frozen=True)
class GroundingConfig:
    convention: str = "qwen1000"  # how boxes are written in the answer
    min_box_px: int = 4  # objects whose visible box is thinner than this are left out
    sim_objects: tuple[str, ...] = DEFAULT_OBJECTS
    min_objects: int = 3
    max_objects: int = 6
    image_width_px: int = 640
    image_height_px: int = 480
    progress: bool = True

    def __post_init__(self) -> None:
        validate_fields(self, "GroundingConfig")
        if self.convention not in CONVENTIONS:
            raise ConfigError(f"convention must be one of {', '.join(CONVENTIONS)}, got {self.convention!r}")
        check_sim_layout(self)
        if self.min_box_px < 1:
            raise ConfigError(f"min_box_px must be positive, got {self.min_box_px}")


def mask_boxes(masks: dict[str, np.ndarray], min_box_px: int) -> list[tuple[str, np.ndarray]]:
    """(name, (4,) [u0, v0, u1, v1] pixels) tight boxes of each visible mask, left to right."""
    out = []
    for name, mask in masks.items():
        v, u = np.nonzero(mask)
        if len(u) == 0:
            continue
        box = np.array([u.min(), v.min(), u.max() + 1, v.max() + 1], dtype=float)  # pixel edges, exclusive max
        if min(box[2] - box[0], box[3] - box[1]) >= min_box_px:
            out.append((name, box))
    return sorted(out, key=lambda item: (item[1][0], item[0]))


def box_answer(boxes: list[tuple[str, np.ndarray]], width: int, height: int, convention: str) -> str:
    """The answer text: a JSON list of {"bbox_2d": [x0, y0, x1, y1], "label": name}."""
    scale = {"qwen1000": 1000.0, "pixels": None, "normalized": 1.0}[convention]
    entries = []
    for name, box in boxes:
        if scale is None:
            coords = [int(round(c)) for c in box]
        else:
            rel = box / [width, height, width, height]
            coords = [int(round(c * scale)) for c in rel] if scale > 1 else [round(float(c), 3) for c in rel]
        entries.append({"bbox_2d": coords, "label": name})
    return json.dumps(entries)


def grounding_sample(rgb: np.ndarray, masks: dict[str, np.ndarray], config: GroundingConfig, meta: dict) -> Sample:
    """One item: the whole image, every visible object (none visible: an empty list)."""
    h, w = rgb.shape[:2]
    boxes = mask_boxes(masks, config.min_box_px)
    metadata = {
        **meta,
        "convention": config.convention,
        "image_size": [w, h],
        "boxes_px": {name: box.tolist() for name, box in boxes},
    }
    return Sample(
        "grounding",
        "grounding",
        grounding_prompt(),
        box_answer(boxes, w, h, config.convention),
        [rgb],
        metadata=metadata,
    )


def grounding_sim_samples(config: GroundingConfig, episodes: int, seed: int) -> Iterator[Sample]:
    """One grounding item per seeded tabletop layout (boxes from the renderer's instance masks).

    Arguments are checked at the call; the items are generated lazily."""
    return _sim_samples(config, check_count("episodes", episodes), check_count("seed", seed))


def _sim_samples(config: GroundingConfig, episodes: int, seed: int) -> Iterator[Sample]:
    for i, ep_seed, shot in sim_shots(config, episodes, seed, 3, "grounding sim"):
        meta = {"source": {"sim_seed": ep_seed, "episode": i, "seed": seed}}
        yield grounding_sample(shot.frame.color, dict(shot.masks.masks), config, meta)
