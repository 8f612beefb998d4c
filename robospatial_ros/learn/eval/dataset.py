"""Evaluation datasets on disk: the RoboSpatial-Home layout, which our generator also writes.

    DIR/annotations.json   a JSON list of records:
        {"category": str, "question": str, "answer": str, "img": "images/x.png",
         "depth_image": "images/x_depth.png" | null, "mask": "images/x_mask.png" | null,
         # optional, written by our generator:
         "id": str, "frame": str, "scene": "scenes/x.json" | null, "camera": {...} | null, "kind": str}

Paths are relative to DIR. Depth PNGs are 16-bit millimetres; masks are white where valid.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robospatial_ros.core.errors import RoboSpatialError
from robospatial_ros.core.images import read_rgb
from robospatial_ros.core.reasoning.vlm.base import VisualQuestion

ANNOTATIONS = "annotations.json"
_KNOWN_KEYS = {"category", "question", "answer", "img", "depth_image", "mask", "scene", "frame"}


class EvalDataError(RoboSpatialError, ValueError):
    """An evaluation dataset or predictions file is missing or malformed."""


class UnsupportedDepthError(EvalDataError):
    """A depth image that is readable but not in millimetres or metres (8-bit, colour)."""

    def __init__(self, path: Path, reason: str):
        self.path, self.reason = path, reason
        super().__init__(f"depth image {path} has {reason}")


@dataclass
class EvalItem:
    """One benchmark question with its ground truth and the files it refers to (absolute paths)."""

    index: int  # position in annotations.json
    category: str
    question: str
    answer: str  # "yes" / "no" or a polygon literal "[(x, y), ...]" (normalized image coordinates)
    img_path: Path
    depth_path: Path | None = None
    mask_path: Path | None = None
    scene_path: Path | None = None
    frame: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # the record's other keys (id, camera, kind, ...)
    img: str = ""  # the "img" value as written (relative): with the question, the key predictions match on


def _category(record: Any) -> str:
    return str(record.get("category") or "unknown") if isinstance(record, dict) else "unknown"


def _read_annotations(data_dir: Path) -> list[Any]:
    if not data_dir.exists():
        raise EvalDataError(f"dataset directory not found: {data_dir}")
    if not data_dir.is_dir():
        raise EvalDataError(f"dataset path is not a directory: {data_dir}")
    path = data_dir / ANNOTATIONS
    if not path.is_file():
        raise EvalDataError(f"no {ANNOTATIONS} in {data_dir} (expected the RoboSpatial-Home layout)")
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EvalDataError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(records, list):
        raise EvalDataError(f"{path} must hold a JSON list of records, got {type(records).__name__}")
    return records


def _optional_path(data_dir: Path, record: dict[str, Any], key: str, where: str, must_exist: bool) -> Path | None:
    value = record.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise EvalDataError(f"{where}: {key!r} must be a relative path string, got {value!r}")
    path = data_dir / value
    if must_exist and not path.is_file():
        raise EvalDataError(f"{where}: {key} file not found: {path}")
    return path


def _required_text(record: dict[str, Any], key: str, where: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value.strip():
        raise EvalDataError(f"{where}: needs a non-empty string {key!r}")
    return value


def _item(data_dir: Path, index: int, record: Any, require_images: bool) -> EvalItem:
    where = f"{ANNOTATIONS} record {index}"
    if not isinstance(record, dict):
        raise EvalDataError(f"{where} must be a JSON object, got {type(record).__name__}")
    question = _required_text(record, "question", where)
    answer = _required_text(record, "answer", where)
    img = _required_text(record, "img", where)
    img_path = data_dir / img
    if require_images and not img_path.is_file():
        raise EvalDataError(f"{where}: image not found: {img_path}")
    return EvalItem(
        index=index,
        category=_category(record),
        question=question,
        answer=answer,
        img_path=img_path,
        depth_path=_optional_path(data_dir, record, "depth_image", where, require_images),
        mask_path=_optional_path(data_dir, record, "mask", where, True),
        scene_path=_optional_path(data_dir, record, "scene", where, True),
        frame=str(record.get("frame") or ""),
        extra={k: v for k, v in record.items() if k not in _KNOWN_KEYS},
        img=img,
    )


def dataset_records(data_dir: str | Path) -> list[dict[str, Any]]:
    """Every record of DIR/annotations.json that is a JSON object, unvalidated (e.g. to match predictions)."""
    return [r for r in _read_annotations(Path(data_dir)) if isinstance(r, dict)]


def load_eval_items(
    data_dir: str | Path,
    limit: int | None = None,
    categories: Sequence[str] | None = None,
    require_images: bool = True,
) -> list[EvalItem]:
    """The items of DIR/annotations.json, filtered by category, then the first `limit`.

    Only the selected records are validated (and their files checked): a clear EvalDataError names
    the record and what is wrong. `require_images=False` skips the image/depth existence checks
    (scoring pre-generated answers needs no pixels; masks and scenes are still checked).
    """
    data_dir = Path(data_dir)
    records = _read_annotations(data_dir)
    if limit is not None and limit < 1:
        raise EvalDataError(f"limit must be at least 1, got {limit}")
    selected: list[tuple[int, Any]] = list(enumerate(records))
    if categories:
        present = sorted({_category(r) for r in records})
        missing = [c for c in categories if c not in present]
        if missing:
            listed = ", ".join(missing)
            raise EvalDataError(f"no items of category {listed} in {data_dir}; present: {', '.join(present)}")
        wanted = set(categories)
        selected = [(i, r) for i, r in selected if _category(r) in wanted]
    if limit is not None:
        selected = selected[:limit]
    return [_item(data_dir, i, r, require_images) for i, r in selected]


def read_depth_m(path: Path) -> np.ndarray:
    """(H, W) float32 metres from a 16-bit PNG in millimetres (0 = unknown); float images are metres."""
    import cv2

    depth = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if depth is None:
        raise EvalDataError(f"cannot read depth image {path}")
    if depth.ndim != 2:
        raise UnsupportedDepthError(path, f"{depth.shape[2]} channels (expected one)")
    if depth.dtype == np.uint16:
        return depth.astype(np.float32) / 1000.0
    if depth.dtype in (np.float32, np.float64):
        return depth.astype(np.float32)
    raise UnsupportedDepthError(path, f"{depth.dtype} pixels (expected 16-bit millimetres or float metres)")


def read_mask(path: Path) -> np.ndarray:
    """(H, W) bool, True where the mask image is bright (white = valid; JPEG noise tolerated)."""
    import cv2

    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise EvalDataError(f"cannot read mask image {path}")
    return mask > 127


def load_visual_question(item: EvalItem) -> VisualQuestion:
    """The image (and depth and 3D scene when the item has them) and question of one item.

    Depth is auxiliary (most backends ignore it): a depth image in a format other than 16-bit
    millimetres or float metres leaves `depth_m` None, with the reason in metadata["depth_error"]
    and one warning, rather than stopping a benchmark run whose depth files are, e.g., 8-bit previews.
    """
    from robospatial_ros.core.scene import load_scene

    metadata: dict[str, Any] = {"index": item.index, "category": item.category, "img": item.img, "frame": item.frame}
    depth = None
    if item.depth_path is not None:
        try:
            depth = read_depth_m(item.depth_path)
        except UnsupportedDepthError as exc:
            metadata["depth_error"] = str(exc)
            warnings.warn(f"depth images not used: {exc.reason}", stacklevel=2)  # once per distinct reason
    scene = load_scene(item.scene_path) if item.scene_path is not None else None
    return VisualQuestion(read_rgb(item.img_path, EvalDataError), item.question, depth, scene, metadata)


def write_eval_items(data_dir: str | Path, records: list[dict[str, Any]]) -> Path:
    """Write DIR/annotations.json (the records as given; files they name are the caller's job)."""
    data_dir = Path(data_dir)
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise EvalDataError(f"record {i} must be a dict, got {type(record).__name__}")
        for key in ("question", "answer", "img"):
            _required_text(record, key, f"record {i}")
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / ANNOTATIONS
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(records, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)  # readers never see half a file
    return path
