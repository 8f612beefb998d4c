"""Simulator segmentation label images -> named instance masks.

Gazebo's and Isaac Sim's segmentation cameras publish an image of ids per pixel, not masks; with an
id -> name map (a parameter or a YAML/JSON file) they become `MaskDetections` the pipeline names
objects from. Encodings (what each simulator writes):

  ids              (H, W) integer ids: Isaac Sim's instance or semantic segmentation (32SC1; its
                   labels JSON {"0": {"class": "BACKGROUND"}, "2": {"class": "mug"}} is a valid map),
                   or any 16UC1 / 32SC1 / 8UC1 id image
  gazebo_semantic  (H, W, 3) uint8 labels map of gz-sensors' semantic segmentation camera: the label
                   id in every channel
  gazebo_panoptic  (H, W, 3) uint8 labels map of its instance (panoptic) mode: the label id in the
                   third channel, the instance count in the first two (first the high byte)

Pixels of a background id (`background_ids`, or a name such as BACKGROUND / UNLABELLED) belong to no
object; an id the map lacks is a LabelImageError (a typo in the map must not silently lose objects).
Several instances of one label become name_1, name_2, ... (by instance id).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robospatial_ros.core.errors import ConfigError
from robospatial_ros.core.perception.errors import DetectionError
from robospatial_ros.core.perception.frame import MaskDetections
from robospatial_ros.core.perception.objects import unique_names

LABEL_ENCODINGS = ("ids", "gazebo_semantic", "gazebo_panoptic")
# Names that mean "no object" in the simulators' label maps (compared case-insensitively).
BACKGROUND_NAMES = frozenset({"background", "unlabelled", "unlabeled", ""})


class LabelImageError(DetectionError):
    """A label image or its id -> name map does not fit (wrong encoding, an id the map lacks)."""


@dataclass(frozen=True)
class LabelConfig:
    """How to read segmentation label images: their encoding, the id -> name map, the background ids."""

    encoding: str = "ids"  # ids (Isaac Sim, 16UC1/32SC1), gazebo_semantic or gazebo_panoptic (rgb8 labels map)
    # The id -> name map as comma-separated "id=name" entries, e.g. "1=mug,2=bowl"; over names_file's.
    names: str = ""
    names_file: str = ""  # a YAML or JSON file {id: name} (Isaac's labels JSON {id: {"class": name}} too)
    background_ids: tuple[int, ...] = (0,)  # ids of no object (besides names such as BACKGROUND)

    def __post_init__(self) -> None:
        if self.encoding not in LABEL_ENCODINGS:
            raise ConfigError(f"label encoding must be one of {', '.join(LABEL_ENCODINGS)}, got {self.encoding!r}")
        parse_name_entries(self.names)  # a malformed entry is a ConfigError now, not at the first frame

    def id_names(self) -> dict[int, str]:
        """The id -> name map: names_file, then the `names` entries over it."""
        out = read_names_file(self.names_file) if self.names_file else {}
        out.update(parse_name_entries(self.names))
        return out


def parse_name_entries(entries: str) -> dict[int, str]:
    """'1=mug, 2=bowl' -> {1: 'mug', 2: 'bowl'}; ConfigError on a malformed entry."""
    out: dict[int, str] = {}
    for entry in (e for e in str(entries).split(",") if e.strip()):
        key, sep, name = str(entry).partition("=")
        if not sep or not key.strip().lstrip("-").isdigit() or not name.strip():
            raise ConfigError(f"a label name entry must be 'id=name', e.g. '3=mug'; got {entry!r}")
        out[int(key)] = name.strip()
    return out


def names_from_mapping(data: Any, source: str) -> dict[int, str]:
    """{id: name} or Isaac's {id: {"class": name}} (keys may be strings) -> {int id: name}."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: an id -> name map must be a mapping, got {type(data).__name__}")
    out: dict[int, str] = {}
    for key, value in data.items():
        name = value.get("class", "") if isinstance(value, dict) else value
        try:
            out[int(key)] = str(name).strip()
        except (TypeError, ValueError):
            raise ConfigError(f"{source}: label ids must be integers, got {key!r}") from None
    return out


def read_names_file(path: str | Path) -> dict[int, str]:
    """The id -> name map of a YAML or JSON file; ConfigError when missing or malformed."""
    import yaml  # JSON is YAML

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"label names file not found: {path}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"label names file {path} is not YAML/JSON: {exc}") from None
    return names_from_mapping(data, str(path))


def decode_labels(image: np.ndarray, encoding: str) -> tuple[np.ndarray, np.ndarray]:
    """A label image -> ((H, W) int64 label ids, (H, W) int64 instance ids; 0 when the encoding has none)."""
    image = np.asarray(image)
    if encoding == "ids":
        if image.ndim != 2 or not np.issubdtype(image.dtype, np.integer):
            raise LabelImageError(f"an 'ids' label image must be (H, W) integers (16UC1/32SC1), got {_shape(image)}")
        labels = image.astype(np.int64)
        return labels, np.zeros_like(labels)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise LabelImageError(f"a {encoding} labels map must be (H, W, 3) uint8 (rgb8), got {_shape(image)}")
    channels = image.astype(np.int64)
    if encoding == "gazebo_semantic":
        if not (
            np.array_equal(channels[..., 0], channels[..., 1]) and np.array_equal(channels[..., 0], channels[..., 2])
        ):
            raise LabelImageError("a gazebo_semantic labels map has the label in every channel; this one differs")
        return channels[..., 0], np.zeros_like(channels[..., 0])
    if encoding == "gazebo_panoptic":
        return channels[..., 2], channels[..., 0] * 256 + channels[..., 1]
    raise LabelImageError(f"unknown label encoding {encoding!r}; use one of {', '.join(LABEL_ENCODINGS)}")


_INSTANCES = 1 << 16  # instance ids are 16-bit (gazebo_panoptic: two channels); 0 for the other encodings


def masks_from_labels(
    image: np.ndarray, encoding: str, id_names: dict[int, str], background_ids: tuple[int, ...] = (0,)
) -> MaskDetections:
    """A label image and its id -> name map -> named instance masks (see the module doc)."""
    labels, instances = decode_labels(image, encoding)
    # One int64 key per pixel, label * 2^16 + instance (instances are < 2^16): a 1-D unique is ~50x
    # faster than a unique over (label, instance) rows, and one comparison gives a mask.
    keys = labels.reshape(-1) * _INSTANCES + instances.reshape(-1)  # (H*W,)
    present = np.unique(keys)  # (K,) sorted, so labels come in order and instances within each
    pairs = np.stack([present // _INSTANCES, present % _INSTANCES], axis=1)  # (K, 2) [label, instance]
    background = set(background_ids) | {i for i, n in id_names.items() if n.strip().lower() in BACKGROUND_NAMES}
    keep = np.array([int(label) not in background for label in pairs[:, 0]], dtype=bool)
    present, pairs = present[keep], pairs[keep]
    missing = sorted({int(label) for label in pairs[:, 0]} - set(id_names))
    if missing:
        known = ", ".join(f"{i}={n}" for i, n in sorted(id_names.items())) or "none"
        raise LabelImageError(f"label id(s) {missing} are not in the id -> name map (known: {known})")
    key_image = keys.reshape(labels.shape)  # (H, W)
    # Named per (label, instance); a class seen more than once (two instances, or two ids of one class
    # in the map) numbers every one of them, so no mask replaces another.
    names = unique_names([id_names[int(label)] for label in pairs[:, 0]], set())
    masks = {name: key_image == key for name, key in zip(names, present)}  # (H, W) bool each
    return MaskDetections(masks)


def label_map_json(id_names: dict[int, str]) -> str:
    """Isaac Sim's labels JSON for a map: {"0": {"class": "BACKGROUND"}, "2": {"class": "mug"}}."""
    return json.dumps({str(i): {"class": n} for i, n in sorted(id_names.items())})


def _shape(image: np.ndarray) -> str:
    return f"shape {image.shape} {image.dtype}"
