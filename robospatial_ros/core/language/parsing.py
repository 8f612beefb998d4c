"""Parsing model answers: yes/no, points and grounded boxes, with explicit coordinate conventions.

Models disagree on coordinates: RoboSpatial and RoboPoint answers are normalized to [0, 1],
Qwen2-VL (and RoboPoint-style Qwen fine-tunes) emit integers on a 0-1000 grid, Qwen2.5-VL emits
absolute pixels of the image it was shown (after its processor's resize). A value such as
(500, 300) is valid in two of the three, so the caller always says which convention a model
uses (`PointConvention`); nothing here guesses from the magnitudes.

Every parser returns normalized image coordinates (x right, y down, both in [0, 1]) and raises
`ParseError` (one line, naming the offending value) rather than silently dropping points.

The official RoboSpatial-Home scorer has its own, different and much looser, rules; those live
in `robospatial_ros.learn.eval.scoring` and must be used for benchmark numbers.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from robospatial_ros.core.errors import RoboSpatialError


class ParseError(RoboSpatialError, ValueError):
    """A model answer does not hold what was asked for (no points, a value out of range, ...)."""


class PointConvention(str, Enum):
    """How a model writes image coordinates."""

    NORMALIZED = "normalized"  # floats in [0, 1]
    QWEN_1000 = "qwen1000"  # numbers in [0, 1000] (Qwen2-VL grounding, RoboPoint-style Qwen fine-tunes)
    PIXELS = "pixels"  # absolute pixels of the image the model saw; needs its (W, H)


_ANSWER_TAG = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.I | re.S)
_THINK_END = re.compile(r"</think>", re.I)
_FENCE = re.compile(r"```[A-Za-z0-9_-]*")
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
# A coordinate pair in matching brackets: "(x, y)" or "[x, y]"; triples and boxes do not match.
_PAIR = re.compile(rf"\(\s*({_NUMBER})\s*,\s*({_NUMBER})\s*\)|\[\s*({_NUMBER})\s*,\s*({_NUMBER})\s*\]")
# Qwen2-VL's native grounding tokens: <|object_ref_start|>mug<|object_ref_end|><|box_start|>(x0,y0),(x1,y1)<|box_end|>
_QWEN_BOX = re.compile(
    rf"(?:<\|object_ref_start\|>(?P<label>.*?)<\|object_ref_end\|>\s*)?<\|box_start\|>\s*"
    rf"\(\s*(?P<x0>{_NUMBER})\s*,\s*(?P<y0>{_NUMBER})\s*\)\s*,\s*\(\s*(?P<x1>{_NUMBER})\s*,\s*(?P<y1>{_NUMBER})\s*\)"
    rf"\s*<\|box_end\|>",
    re.S,
)


def extract_answer(text: str) -> str:
    """The final answer inside a model's output.

    The content of the last `<answer>...</answer>` (an unclosed last `<answer>` runs to the end, as
    a truncated generation leaves it); else what follows the last `</think>`; else the whole text.
    Markdown code fences (```json ... ```) are removed; the result is stripped.
    """
    if not isinstance(text, str):
        raise ParseError(f"a model answer must be text, got {type(text).__name__}")
    tagged = _ANSWER_TAG.findall(text)
    if tagged:
        body = tagged[-1]
    else:
        parts = _THINK_END.split(text)
        body = parts[-1]
    return _FENCE.sub("", body).strip()


def parse_yes_no(text: str) -> bool | None:
    """The official binary rule on the extracted answer: starts with "yes" -> True, "no" -> False.

    Anything else is None (scored wrong officially), e.g. "The answer is yes". Like the official
    rule, "not sure" and "none" start with "no" and read as False.
    """
    answer = extract_answer(text).lower()
    if answer.startswith("yes"):
        return True
    if answer.startswith("no"):
        return False
    return None


def _check_image_size(convention: PointConvention, image_size_wh: Sequence[float] | None) -> tuple[float, float]:
    """The divisors that take the convention's numbers to [0, 1]: (x scale, y scale)."""
    if convention is PointConvention.NORMALIZED:
        return 1.0, 1.0
    if convention is PointConvention.QWEN_1000:
        return 1000.0, 1000.0
    if image_size_wh is None:
        raise ParseError("pixel coordinates need the image size (W, H) the model saw")
    try:
        w, h = (float(v) for v in image_size_wh)
    except (TypeError, ValueError):
        raise ParseError(f"image size must be two numbers (W, H), got {image_size_wh!r}") from None
    if not (np.isfinite(w) and np.isfinite(h) and w > 0 and h > 0):
        raise ParseError(f"image size must be positive, got {image_size_wh!r}")
    return w, h


def _convention(convention: PointConvention | str) -> PointConvention:
    try:
        return PointConvention(convention)
    except ValueError:
        valid = ", ".join(c.value for c in PointConvention)
        raise ParseError(f"unknown point convention {convention!r}; use one of {valid}") from None


def _normalize(values: np.ndarray, scale_xy: tuple[float, float], convention: PointConvention) -> np.ndarray:
    """(N, 2k) raw coordinates (x, y interleaved) -> the same in [0, 1]; ParseError names a bad value."""
    scale = np.tile(np.asarray(scale_xy, dtype=float), values.shape[1] // 2)  # (2k,)
    bad = ~np.isfinite(values) | (values < 0.0) | (values > scale)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        axis = "x" if col % 2 == 0 else "y"
        limit = f"[0, {scale[col]:g}]"
        raise ParseError(f"{axis} value {values[row, col]:g} is outside {limit} for the {convention.value} convention")
    return values / scale


def parse_points(
    text: str, convention: PointConvention | str, image_size_wh: Sequence[float] | None = None
) -> np.ndarray:
    """All (x, y) pairs in a model answer, in the order given, as (N, 2) float64 normalized x, y.

    Accepts "[(0.24, 0.9), ...]", "[[x, y], ...]", a single "(x, y)", Qwen2.5-VL pointing JSON
    `[{"point_2d": [x, y], "label": "..."}]` and `{"points": [...]}`, inside `<answer>` tags or
    code fences or not. `image_size_wh` is (W, H) of the image the model saw (PIXELS only).
    Raises ParseError when there is no pair or a value is negative or beyond the convention's range.
    """
    conv = _convention(convention)
    scale_xy = _check_image_size(conv, image_size_wh)
    body = extract_answer(text)
    pairs = []
    for match in _PAIR.finditer(body):
        x, y = (match.group(1), match.group(2)) if match.group(1) is not None else (match.group(3), match.group(4))
        pairs.append((float(x), float(y)))
    if not pairs:
        shown = body if len(body) <= 60 else body[:57] + "..."
        raise ParseError(f"no (x, y) points found in the answer {shown!r}")
    return _normalize(np.asarray(pairs, dtype=np.float64), scale_xy, conv)


@dataclass
class GroundedBox:
    """One labelled 2D box from a grounding answer."""

    label: str
    xyxy: np.ndarray  # (4,) float64 normalized image x0, y0, x1, y1 (x0 < x1, y0 < y1)


def _first_json_value(body: str) -> Any:
    """The first JSON (or Python literal) list/object in `body`; None when there is none."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"[\[{]", body):
        start = match.start()
        try:
            return decoder.raw_decode(body, start)[0]
        except json.JSONDecodeError:
            pass
        closing = "]" if body[start] == "[" else "}"
        end = body.rfind(closing)
        if end > start:  # single-quoted dicts: a Python literal
            try:
                return ast.literal_eval(body[start : end + 1])
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                pass
    return None


def _box_entries(body: str) -> list[tuple[str, list[Any]]]:
    """(label, [x0, y0, x1, y1]) for each box in JSON or in Qwen2-VL's box tokens."""
    value = _first_json_value(body)
    if value is None:
        corners = ("x0", "y0", "x1", "y1")
        found = [(m.group("label") or "", [m.group(k) for k in corners]) for m in _QWEN_BOX.finditer(body)]
        if not found:
            shown = body if len(body) <= 60 else body[:57] + "..."
            raise ParseError(f"no boxes found in the answer {shown!r}")
        return found
    items = [value] if isinstance(value, dict) else value
    if not isinstance(items, list) or not items:
        raise ParseError("a box answer must be a non-empty JSON list of {'bbox_2d': [...], 'label': ...} objects")
    entries = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "bbox_2d" not in item:
            raise ParseError(f"box {i} has no 'bbox_2d': {item!r}")
        entries.append((str(item.get("label", "")), item["bbox_2d"]))
    return entries


def _box_values(index: int, raw: Any) -> np.ndarray:
    if not isinstance(raw, (list, tuple)) or len(raw) != 4:
        raise ParseError(f"box {index}: bbox_2d must hold 4 numbers [x0, y0, x1, y1], got {raw!r}")
    try:
        values = np.array([float(v) for v in raw], dtype=np.float64)
    except (TypeError, ValueError):
        raise ParseError(f"box {index}: bbox_2d must hold 4 numbers, got {raw!r}") from None
    return values


def parse_boxes(
    text: str, convention: PointConvention | str, image_size_wh: Sequence[float] | None = None
) -> list[GroundedBox]:
    """Labelled boxes from a grounding answer, coordinates normalized to [0, 1].

    Accepts Qwen-style JSON `[{"bbox_2d": [x0, y0, x1, y1], "label": "mug"}, ...]` (fenced or not,
    or a single object) and Qwen2-VL's `<|box_start|>(x0,y0),(x1,y1)<|box_end|>` tokens. Qwen2.5-VL
    writes absolute pixels of the image it saw (PIXELS with that image's (W, H)), Qwen2-VL a 0-1000
    grid (QWEN_1000). ParseError on a missing box, an out-of-range value or a degenerate box.
    """
    conv = _convention(convention)
    scale_xy = _check_image_size(conv, image_size_wh)
    entries = _box_entries(extract_answer(text))
    raw = np.stack([_box_values(i, values) for i, (_, values) in enumerate(entries)])  # (N, 4) convention units
    normalized = _normalize(raw, scale_xy, conv)
    boxes = []
    for i, ((label, _), xyxy) in enumerate(zip(entries, normalized)):
        if xyxy[2] <= xyxy[0] or xyxy[3] <= xyxy[1]:
            name = label or "unlabelled"
            raise ParseError(f"box {i} ({name}) is degenerate: {raw[i].tolist()} needs x0 < x1 and y0 < y1")
        boxes.append(GroundedBox(label.strip(), xyxy))
    return boxes
