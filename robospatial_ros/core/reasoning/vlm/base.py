"""What every text-producing backend shares: one visual question in, one text answer out.

The evaluation harness and the data tools only need `TextAnswerer`; the reasoner node needs
more (3D answers and placements) and uses `robospatial_ros.core.reasoning.backends`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from robospatial_ros.core.errors import RoboSpatialError
from robospatial_ros.core.scene import Scene


class VLMError(RoboSpatialError):
    """A model could not be loaded or queried (missing weights, endpoint down, bad reply)."""


@dataclass
class VisualQuestion:
    """One image and one question about it."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    question: str
    depth_m: np.ndarray | None = None  # (H, W) float32 metres, 0 or NaN where unknown
    scene: Scene | None = None  # the 3D scene when known (generated data, perception); world frame, metres
    metadata: dict[str, Any] = field(default_factory=dict)


class TextAnswerer(Protocol):
    """Anything that answers visual questions with text (a VLM, a server, the geometric core)."""

    name: str

    def answer_texts(self, questions: Sequence[VisualQuestion]) -> list[str]:
        """One raw text answer per question, in order; VLMError when the model cannot be asked."""
        ...
