"""What an object looks like, in words: a colour name from its pixels, a size class and a height.

Colours are named in CIELAB, where hue (the angle of a*, b*) barely moves under shading while
lightness does: a pixel is chromatic when its chroma is high enough, and then takes the nearest
hue of a few prototypes; an object whose pixels are mostly grey-ish is black, grey or white by
their median lightness.
Orange or yellow that is dark is brown; light soft red, and magenta that is not dark, are pink.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from robospatial_ros.core.errors import ConfigError
from robospatial_ros.core.geometry import OrientedBox
from robospatial_ros.core.scene import PALETTE

# The palette (issue 13): every name an object's colour can take; one list with the references' words.
COLOURS = PALETTE
SIZE_CLASSES = ("small", "medium", "large")

# Hue prototypes: sRGB colours whose CIELAB hue angle stands for the family.
_HUE_PROTOTYPES_RGB = {
    "red": (200, 30, 35),
    "orange": (240, 130, 20),
    "yellow": (235, 215, 30),
    "green": (40, 160, 60),
    "blue": (30, 80, 210),
    "purple": (120, 50, 170),
}


@dataclass(frozen=True)
class AttributeConfig:
    """Thresholds of the colour and size words (CIELAB units: L in [0, 100], chroma ~[0, 130])."""

    # A pixel is grey-ish (black, grey or white) below this chroma and below this share of its lightness:
    # white under a cool light measures chroma ~15 at L ~85, a dark green mug ~13 at L ~40.
    min_chroma: float = 10.0
    min_chroma_per_lightness: float = 0.22
    min_chromatic_share: float = 0.3  # an object is coloured when this share of its pixels is
    black_max_lightness: float = 30.0  # achromatic objects: median lightness below -> black
    white_min_lightness: float = 70.0  # ... above -> white, between -> grey
    brown_max_lightness: float = 50.0  # orange/red/yellow darker than this (lit side) is brown
    pink_min_lightness: float = 65.0  # red lighter than this and softer than ...
    pink_max_chroma: float = 55.0  # ... this is pink
    pink_min_purple_lightness: float = 35.0  # purple (magenta) lighter than this is pink (a pink cup)
    max_pixels: int = 800  # an object's pixels are strided down to about this many (5k pixels: ~0.8 ms -> ~0.2 ms)
    small_max_side_m: float = 0.09  # largest box side below -> small
    large_min_side_m: float = 0.2  # ... at least -> large, between -> medium

    def __post_init__(self) -> None:
        if not 0.0 < self.min_chromatic_share <= 1.0:
            raise ConfigError(f"min_chromatic_share must be in (0, 1], got {self.min_chromatic_share}")
        if not 0.0 <= self.black_max_lightness < self.white_min_lightness <= 100.0:
            raise ConfigError("need 0 <= black_max_lightness < white_min_lightness <= 100")
        if self.max_pixels < 1:
            raise ConfigError(f"max_pixels must be >= 1, got {self.max_pixels}")
        if not 0.0 < self.small_max_side_m < self.large_min_side_m:
            raise ConfigError("need 0 < small_max_side_m < large_min_side_m")


def _lab(rgb: np.ndarray) -> np.ndarray:
    """(N, 3) uint8 sRGB -> (N, 3) float32 CIELAB (L in [0, 100], a and b signed)."""
    lab = cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.uint8).reshape(-1, 1, 3), cv2.COLOR_RGB2LAB)
    lab = lab.reshape(-1, 3).astype(np.float32)  # 8-bit OpenCV Lab: L * 255 / 100, a + 128, b + 128
    lab[:, 0] *= np.float32(100.0 / 255.0)
    lab[:, 1:] -= np.float32(128.0)
    return lab


def _hue_deg(lab: np.ndarray) -> np.ndarray:
    """(N,) hue angle in degrees [0, 360) of (N, 3) CIELAB."""
    return np.degrees(np.arctan2(lab[:, 2], lab[:, 1])) % 360.0


_PROTOTYPE_HUES = _hue_deg(_lab(np.array(list(_HUE_PROTOTYPES_RGB.values()), dtype=np.uint8)))
_PROTOTYPE_NAMES = tuple(_HUE_PROTOTYPES_RGB)


def colour_name(rgb: np.ndarray, config: AttributeConfig | None = None) -> str:
    """The palette name of an object's (N, 3) uint8 RGB pixels; "" when there are none."""
    cfg = config or AttributeConfig()
    rgb = np.asarray(rgb).reshape(-1, 3)
    if len(rgb) == 0:
        return ""
    rgb = rgb[:: max(1, len(rgb) // cfg.max_pixels)]  # (M, 3) an even sample: the vote needs no more
    lab = _lab(rgb)  # (N, 3) float32 CIELAB
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    chromatic = chroma >= np.maximum(np.float32(cfg.min_chroma), np.float32(cfg.min_chroma_per_lightness) * lab[:, 0])
    if np.count_nonzero(chromatic) < cfg.min_chromatic_share * len(lab):
        # The median, not the lit side: a dark can with a white label is dark.
        lightness = float(np.median(lab[:, 0]))
        if lightness < cfg.black_max_lightness:
            return "black"
        return "white" if lightness >= cfg.white_min_lightness else "grey"
    coloured = lab[chromatic]
    gap = np.abs(_hue_deg(coloured)[:, None] - _PROTOTYPE_HUES[None, :])  # (M, 6) degrees
    nearest = np.argmin(np.minimum(gap, 360.0 - gap), axis=1)
    family = int(np.bincount(nearest, minlength=len(_PROTOTYPE_NAMES)).argmax())
    name = _PROTOTYPE_NAMES[family]
    members = coloured[nearest == family]
    lit = float(np.percentile(members[:, 0], 75))
    soft = float(np.median(np.hypot(members[:, 1], members[:, 2])))
    if name in ("orange", "yellow") and lit < cfg.brown_max_lightness:
        return "brown"
    if name == "red" and lit >= cfg.pink_min_lightness and soft <= cfg.pink_max_chroma:
        return "pink"
    if name == "purple" and lit >= cfg.pink_min_purple_lightness:
        return "pink"
    return name


def size_class(box: OrientedBox, config: AttributeConfig | None = None) -> str:
    """small / medium / large by the box's largest side (metres)."""
    cfg = config or AttributeConfig()
    side = float(np.max(box.size))
    if side < cfg.small_max_side_m:
        return "small"
    return "large" if side >= cfg.large_min_side_m else "medium"
