"""Files shipped inside the package (and so in the wheel): the bundled scene and the tabletop preset."""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
DEFAULT_SCENE = DATA_DIR / "tabletop_scene.json"  # a table and nine things on it (RoboSpatial annotation shape)
DEFAULT_TABLETOP_CONFIG = DATA_DIR / "tabletop.yaml"  # SpatialConfig for tabletops (1 cm grid)
