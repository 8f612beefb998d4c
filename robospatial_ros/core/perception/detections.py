"""Detections -> pixel regions: which pixels of the frame belong to each mask or 2D box.

A region is a bounding rectangle plus an optional boolean mask inside it, so work
downstream (depth reads, flying-pixel tests) touches only the pixels near the object.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from robospatial_ros.core.perception.errors import DetectionError
from robospatial_ros.core.perception.frame import BoxDetections


@dataclass(frozen=True)
class PixelRegion:
    """Pixels rows[0] <= v < rows[1], cols[0] <= u < cols[1], restricted to `mask` when given."""

    rows: tuple[int, int]
    cols: tuple[int, int]
    mask: np.ndarray | None = None  # (rows[1] - rows[0], cols[1] - cols[0]) bool

    @property
    def pixel_count(self) -> int:
        if self.mask is not None:
            return int(np.count_nonzero(self.mask))
        return (self.rows[1] - self.rows[0]) * (self.cols[1] - self.cols[0])


def mask_region(mask: object, width: int, height: int, erode_px: int) -> tuple[PixelRegion | None, str]:
    """The region of an (H, W) mask (bool, or non-zero = in), eroded by `erode_px`; (None, why) if unusable."""
    m = np.asarray(mask)
    if m.shape != (height, width):
        shape = f"{m.shape[1]}x{m.shape[0]}" if m.ndim == 2 else f"shape {m.shape}"
        return None, f"mask is {shape}, the image is {width}x{height}"
    m = m if m.dtype == bool else m != 0
    rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
    if len(rows) == 0:
        return None, "mask is empty"
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    crop = m[r0:r1, c0:c1]
    if erode_px > 0:  # erode on a zero-padded crop: cheap, and edges at the crop border erode too
        p = erode_px
        padded = np.pad(crop.view(np.uint8), p)
        eroded = cv2.erode(padded, np.ones((2 * p + 1, 2 * p + 1), np.uint8))[p:-p, p:-p]
        if eroded.any():  # a mask thinner than the erosion keeps its pixels
            crop = eroded.astype(bool)
    return PixelRegion((r0, r1), (c0, c1), crop), ""


def box_region(box: np.ndarray, width: int, height: int) -> tuple[PixelRegion | None, str]:
    """Pixels whose centres lie in [u_min, u_max] x [v_min, v_max], clipped to the image; (None, why)."""
    if not np.all(np.isfinite(box)):
        return None, "box has NaN or infinite coordinates"
    if box[2] < box[0] or box[3] < box[1]:
        return None, f"box {np.round(box, 1).tolist()} has max < min"
    if np.all((box >= 0) & (box <= 1)) and max(width, height) > 2:  # a 2-pixel box is no detection anyway
        return None, (
            f"box {np.round(box, 3).tolist()} looks normalized (0-1); give pixel coordinates "
            f"(multiply by the {width}x{height} image size)"
        )
    u0, v0 = max(0, int(np.ceil(box[0]))), max(0, int(np.ceil(box[1])))
    u1, v1 = min(width, int(np.floor(box[2])) + 1), min(height, int(np.floor(box[3])) + 1)
    if u1 <= u0 or v1 <= v0:
        return None, f"box {np.round(box, 1).tolist()} lies outside the {width}x{height} image"
    return PixelRegion((v0, v1), (u0, u1)), ""


def checked_boxes(det: BoxDetections) -> tuple[np.ndarray, np.ndarray]:
    """(N, 4) float boxes and (N,) scores; DetectionError when the container itself is malformed."""
    try:
        boxes = np.asarray(det.boxes, dtype=float)
    except (TypeError, ValueError):
        raise DetectionError("box detections must be numbers: (N, 4) [u_min, v_min, u_max, v_max]") from None
    if len(det.labels) == 0 and boxes.size == 0:
        boxes = np.zeros((0, 4))
    if boxes.ndim != 2 or boxes.shape[1] != 4 or len(boxes) != len(det.labels):
        raise DetectionError(
            f"box detections: {len(det.labels)} labels need boxes of shape ({len(det.labels)}, 4), got {boxes.shape}"
        )
    scores = np.ones(len(boxes)) if det.scores is None else np.asarray(det.scores, dtype=float).reshape(-1)
    if len(scores) != len(boxes):
        raise DetectionError(f"box detections: {len(boxes)} boxes but {len(scores)} scores")
    return boxes, scores
