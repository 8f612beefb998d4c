"""The official RoboSpatial-Home scoring rules, as small pure functions, plus the Where2Place metric.

Reimplemented from the rules of the benchmark's evaluation script (RoboSpatial-Eval), so our
numbers are comparable with published ones, quirks included:

- binary items (ground truth "yes"/"no", any case): right iff the stripped, lower-cased model text
  *starts with* the ground truth. "Yes." and "no, because ..." count; "The answer is yes" does not.
  The raw model text is scored: a `<think>...</think>` preamble makes the answer wrong.
- context items (ground truth a polygon literal "[(x, y), ...]" in normalized image coordinates):
  right iff the *first* point found in the model text lies inside the polygon by the even-odd ray
  test below. The point is taken literally: an answer on a 0-1000 grid lands outside any
  normalized polygon. A polygon that does not parse, is not a list or has fewer than 3 vertices
  makes every answer wrong (and unparsable).

Where2Place / RoboPoint score differently: the fraction of all predicted points whose pixel lies
in a free-space mask (`where2place_fraction`).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from robospatial_ros.core.errors import RoboSpatialError


class ScoringError(RoboSpatialError, ValueError):
    """A scoring function was called with inputs it does not define (not a model-answer problem)."""


# The official first-point patterns: unsigned decimals only ("-0.2", ".5" and "1e-3" do not match).
_OFFICIAL_NUMBER = r"(\d+\.?\d*)"
_OFFICIAL_TUPLE = re.compile(rf"\(\s*{_OFFICIAL_NUMBER}\s*,\s*{_OFFICIAL_NUMBER}\s*\)")
_OFFICIAL_LIST = re.compile(rf"\[\s*{_OFFICIAL_NUMBER}\s*,\s*{_OFFICIAL_NUMBER}\s*\]")
_FIRST_BRACKETS = re.compile(r"\[(.*?)\]", re.S)

Point = tuple[float, float]


@dataclass(frozen=True)
class ItemScore:
    """One scored answer, as the official scorer reports it."""

    correct: bool
    binary: bool  # the ground truth is yes/no
    parsed: str | Point | None  # binary: the stripped lower-cased text; context: the first point or None
    parsable: bool  # binary: non-empty text; context: a first point was found


def point_in_polygon(x: float, y: float, polygon: Sequence[Sequence[float]]) -> bool:
    """The official even-odd ray test: cast a ray from (x, y) towards +x and count edge crossings.

    An edge (i, j) counts when `(yi > y) != (yj > y)` and `x < x-intercept`. Consequences, kept
    on purpose because the benchmark scores with them:
    - Each edge covers the half-open span of heights [min(yi, yj), max(yi, yj)): a point level
      with a vertex crosses only one of the two edges meeting there.
    - Horizontal edges never count (and never divide by zero). A point on a horizontal edge is
      inside iff the polygon's interior lies on the larger-y side of that edge (for a rectangle: on
      the top edge y = y_min it is inside, on the bottom edge y = y_max outside; image y grows down).
    - On a non-horizontal edge, x equals the intercept, so that edge is not crossed: a point on a
      left-facing boundary (e.g. a rectangle's left edge x = x_min) is inside, a point on a
      right-facing one (x = x_max) is outside. Vertical edges follow the same rule exactly, since
      their intercept is xi with no rounding; on slanted edges float rounding of the intercept
      decides.
    So an axis-aligned rectangle [x0, x1] x [y0, y1] contains exactly [x0, x1) x [y0, y1).
    Fewer than 3 vertices contain nothing. Vertices must be (x, y) number pairs.
    """
    inside = False
    n = len(polygon)
    j = n - 1
    for i in range(n):
        xi, yi = polygon[i]
        xj, yj = polygon[j]
        if ((yi > y) != (yj > y)) and (x < (xj - xi) * (y - yi) / (yj - yi) + xi):
            inside = not inside
        j = i
    return inside


def parse_polygon_official(text: str) -> list[Any] | None:
    """The ground-truth polygon as the official scorer reads it: a Python list literal of >= 3 items.

    None when it does not parse, is not a list or has fewer than 3 items. The items are not
    checked here (see `_valid_vertices`).
    """
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    if not isinstance(value, list) or len(value) < 3:
        return None
    return value


def _valid_vertices(polygon: list[Any]) -> bool:
    """Every vertex is a pair of real numbers (what the official test can compare without raising)."""
    for vertex in polygon:
        if not isinstance(vertex, (list, tuple)) or len(vertex) != 2:
            return False
        if not all(isinstance(v, (int, float)) for v in vertex):
            return False
    return True


def _pair(match: re.Match[str]) -> Point:
    return float(match.group(1)), float(match.group(2))


def _first_point_in_literal(list_text: str) -> Point | None:
    """The official fallback: read the first [...] block as a literal and take its first point."""
    content = re.sub(r",(\S)", r", \1", list_text).strip()
    if content.endswith(","):
        content = content[:-1]
    try:
        value = ast.literal_eval("[" + content + "]")
    except (SyntaxError, ValueError):
        match = _OFFICIAL_TUPLE.search(content)
        return _pair(match) if match else None
    except Exception:  # the official scorer treats any failure (MemoryError, TypeError, ...) as no point
        return None
    if not isinstance(value, list) or not value:
        return None
    if len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        point = tuple(value)
    elif isinstance(value[0], tuple):
        point = value[0]
    elif isinstance(value[0], list) and len(value[0]) == 2:
        point = tuple(value[0])
    else:
        return None
    if len(point) != 2:
        return None
    try:
        return float(point[0]), float(point[1])
    except (TypeError, ValueError, OverflowError):
        return None


def first_point_official(text: str) -> Point | None:
    """The first point of a model answer by the official cascade; None when none is found.

    1. the first "(x, y)" of unsigned decimals; 2. else the first "[x, y]"; 3. else the first
    "[...]" block read as a Python literal: "[x, y]" itself, or its first element when that is a
    tuple or a 2-element list. Negative numbers are found only by step 3, e.g. "[(-0.2, 0.5)]".
    """
    if not isinstance(text, str):
        return None
    for pattern in (_OFFICIAL_TUPLE, _OFFICIAL_LIST):
        match = pattern.search(text)
        if match:
            return _pair(match)
    block = _FIRST_BRACKETS.search(text)
    return _first_point_in_literal(block.group(1)) if block else None


def is_binary_truth(gt_answer: str) -> bool:
    return gt_answer.strip().lower() in ("yes", "no")


def score_binary(gt: str, generated: str) -> bool:
    """Official binary rule: the stripped, lower-cased answer starts with the ground truth's yes/no."""
    truth = gt.strip().lower()
    if truth not in ("yes", "no"):
        raise ScoringError(f"a binary ground truth must be yes or no, got {gt!r}")
    return generated.strip().lower().startswith(truth)


def _score_context_item(gt_polygon_text: str, generated: str) -> ItemScore:
    polygon = parse_polygon_official(gt_polygon_text)
    if polygon is None:
        return ItemScore(False, False, None, False)
    point = first_point_official(generated)
    if point is None:
        return ItemScore(False, False, None, False)
    if not _valid_vertices(polygon):  # the official scorer swallows the error: wrong, yet parsable
        return ItemScore(False, False, point, True)
    return ItemScore(point_in_polygon(point[0], point[1], polygon), False, point, True)


def score_context(gt_polygon_text: str, generated: str) -> bool:
    """Official context rule: the answer's first point lies inside the ground-truth polygon."""
    return _score_context_item(gt_polygon_text, generated).correct


def score_item(gt_answer: str, generated: str) -> ItemScore:
    """Score one answer: binary when the ground truth is yes/no, otherwise context (polygon)."""
    if not isinstance(generated, str):
        raise ScoringError(f"a model answer must be text, got {type(generated).__name__}")
    if is_binary_truth(gt_answer):
        text = generated.strip().lower()
        return ItemScore(score_binary(gt_answer, generated), True, text, len(text) > 0)
    return _score_context_item(gt_answer, generated)


def where2place_fraction(points_norm: np.ndarray, mask: np.ndarray) -> float:
    """Fraction of predicted points whose pixel lies in the mask (Where2Place / RoboPoint metric).

    points_norm: (N, 2) normalized image x, y. mask: (H, W) bool, True = valid free space. A point
    maps to pixel (floor(x * W), floor(y * H)); points outside the image (x or y < 0 or >= 1) or not
    finite count as misses. No points score 0.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.size == 0:
        raise ScoringError(f"the mask must be a non-empty (H, W) array, got shape {mask.shape}")
    points = np.asarray(points_norm, dtype=np.float64)
    if points.size == 0:
        return 0.0
    if points.ndim != 2 or points.shape[1] != 2:
        raise ScoringError(f"points must be an (N, 2) array, got shape {points.shape}")
    height, width = mask.shape
    in_image = (points >= 0.0).all(axis=1) & (points < 1.0).all(axis=1)  # NaN compares False: a miss
    inside = points[in_image]  # (M, 2) in [0, 1), so the pixel indices below are in range
    cols = np.minimum(np.floor(inside[:, 0] * width).astype(np.int64), width - 1)
    rows = np.minimum(np.floor(inside[:, 1] * height).astype(np.int64), height - 1)
    hits = mask[rows, cols].astype(bool)
    return float(hits.sum()) / len(points)


def accuracy_pct(correct: int, total: int) -> float:
    """100 * correct / total, 0 for no items (as the official report)."""
    return 100.0 * correct / total if total > 0 else 0.0
