"""Reading image files (the one place that turns cv2's BGR / None into RGB / a typed error)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from robospatial_ros.core.errors import RoboSpatialError


def read_rgb(path: str | Path, error: type[RoboSpatialError] = RoboSpatialError) -> np.ndarray:
    """(H, W, 3) uint8 RGB from an image file (grey and 16-bit images are converted); `error` when
    the file is missing, not an image or corrupt."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise error(f"cannot read image {path} (missing, not a PNG/JPEG, or corrupt)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
