"""Mixing generated spatial data with general instruction data into one training manifest.

A recipe (YAML):

    seed: 0
    total: 10000            # items in the mix; null = as many as the sources allow without repeats
    output: mix.jsonl       # relative to the recipe file
    allow_repeat: false     # sample a source with replacement when it has too few items
    absolute_paths: false   # image paths relative to the output file (default) or absolute
    sources:
      - {path: out/robospatial, ratio: 0.6}    # a `robospatial datagen` output directory (its qwen shards)
      - {path: general.jsonl, ratio: 0.4}      # Qwen or LLaVA JSONL; LLaVA is converted
        # optional per source: image_root (where relative image paths point; default: the file's folder)

Counts per source are exact: the largest-remainder split of `total` by the ratios (the ratios
must sum to 1), so 0.6 / 0.4 of 10000 is 6000 / 4000. Items are drawn without replacement
(with `allow_repeat`, a short source is repeated whole as often as it fits and the rest drawn
without replacement), then the whole mix is shuffled. The output is Qwen-format JSONL with a
"source" key per line, plus `<output stem>.summary.json` with the counts.
"""

from __future__ import annotations

import json
import math
import os
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robospatial_ros.core.configio import read_yaml_mapping
from robospatial_ros.core.errors import RoboSpatialError

IMAGE_TOKEN = "<image>"
_RECIPE_KEYS = {"seed", "total", "output", "sources", "allow_repeat", "absolute_paths"}
_SOURCE_KEYS = {"path", "ratio", "image_root", "name"}
_LLAVA_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}


class MixError(RoboSpatialError, ValueError):
    """A mixing recipe or one of its sources is invalid (ratios, missing files, too few items)."""


@dataclass(frozen=True)
class MixSource:
    """One source: JSONL files read in order, where its relative image paths point, its share."""

    name: str
    files: tuple[Path, ...]
    image_root: Path | None  # None: each file's own folder
    ratio: float


@dataclass(frozen=True)
class Recipe:
    """A validated mixing recipe; paths absolute."""

    seed: int
    total: int | None
    output: Path
    sources: tuple[MixSource, ...]
    allow_repeat: bool = False
    absolute_paths: bool = False


@dataclass
class MixSummary:
    """What went into the mix."""

    output: Path
    total: int
    seed: int
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> available, selected, ratio, repeated

    def describe(self) -> str:
        lines = [f"wrote {self.total} items to {self.output}"]
        for name, s in self.sources.items():
            repeat = " (repeated)" if s["repeated"] else ""
            lines.append(f"  {name}: {s['selected']} of {s['available']} (ratio {s['ratio']:g}){repeat}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"output": str(self.output), "total": self.total, "seed": self.seed, "sources": self.sources}


# --- recipe --------------------------------------------------------------------------------------


def load_recipe(path: str | Path) -> Recipe:
    """Read and check a recipe YAML (MixError / ConfigError with the problem named)."""
    path = Path(path)
    if not path.is_file():
        raise MixError(f"recipe file not found: {path}")
    data = read_yaml_mapping(path)
    unknown = sorted(set(data) - _RECIPE_KEYS)
    if unknown:
        raise MixError(f"{path}: unknown recipe key(s) {', '.join(unknown)}; valid: {', '.join(sorted(_RECIPE_KEYS))}")
    base = path.resolve().parent
    seed, total = data.get("seed", 0), data.get("total")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise MixError(f"{path}: seed must be a non-negative integer, got {seed!r}")
    if total is not None and (isinstance(total, bool) or not isinstance(total, int) or total < 1):
        raise MixError(f"{path}: total must be a positive integer or null, got {total!r}")
    if not isinstance(data.get("output"), str) or not data["output"].strip():
        raise MixError(f"{path}: output must name the JSONL file to write")
    for key in ("allow_repeat", "absolute_paths"):
        if not isinstance(data.get(key, False), bool):
            raise MixError(f"{path}: {key} must be true or false, got {data[key]!r}")
    raw_sources = data.get("sources")
    if not isinstance(raw_sources, list) or not raw_sources:
        raise MixError(f"{path}: sources must be a non-empty list of {{path, ratio}}")
    sources = tuple(_source(base, i, s) for i, s in enumerate(raw_sources))
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise MixError(f"{path}: source names must be unique (give each a 'name'), got {names}")
    ratio_sum = math.fsum(s.ratio for s in sources)
    if abs(ratio_sum - 1.0) > 1e-6:
        raise MixError(f"{path}: source ratios must sum to 1, they sum to {ratio_sum:g}")
    output = base / data["output"]
    return Recipe(seed, total, output, sources, data.get("allow_repeat", False), data.get("absolute_paths", False))


def _source(base: Path, index: int, entry: Any) -> MixSource:
    where = f"sources[{index}]"
    if not isinstance(entry, Mapping) or "path" not in entry or "ratio" not in entry:
        raise MixError(f"{where} needs 'path' and 'ratio'")
    unknown = sorted(set(entry) - _SOURCE_KEYS)
    if unknown:
        raise MixError(f"{where}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(_SOURCE_KEYS))}")
    ratio = entry["ratio"]
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0.0 < ratio <= 1.0:
        raise MixError(f"{where}: ratio must be a number in (0, 1], got {ratio!r}")
    path = base / str(entry["path"])
    if path.is_dir():
        files = tuple(sorted(path.glob("qwen-*.jsonl")))
        if not files:
            raise MixError(f"{where}: {path} holds no qwen-*.jsonl shards (a `robospatial datagen` output?)")
    elif path.is_file():
        files = (path,)
    else:
        raise MixError(f"{where}: source not found: {path}")
    root = entry.get("image_root")
    image_root = None if root is None else (base / str(root)).resolve()
    return MixSource(str(entry.get("name") or entry["path"]), files, image_root, float(ratio))


# --- records -------------------------------------------------------------------------------------


def _lines(source: MixSource) -> Iterator[tuple[Path, int, str]]:
    """(file, line number, text) of every non-blank line of the source, in order."""
    for file in source.files:
        with open(file, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield file, number, line


def _count(source: MixSource) -> int:
    return sum(1 for _ in _lines(source))


def llava_to_qwen(record: Mapping[str, Any]) -> dict[str, Any]:
    """A LLaVA record ({"image", "conversations": [{"from", "value"}]}) in the Qwen conversational format.

    Each "<image>" marker becomes an image entry where it stands; images without markers go
    before the first user text.
    """
    image = record.get("image")
    images = [] if image is None else [image] if isinstance(image, str) else list(image)
    messages, placed = [], 0
    for turn in record["conversations"]:
        role = _LLAVA_ROLES.get(str(turn.get("from", "")).lower())
        if role is None:
            raise MixError(f"unknown LLaVA speaker {turn.get('from')!r}")
        content: list[dict[str, Any]] = []
        for k, part in enumerate(str(turn.get("value", "")).split(IMAGE_TOKEN)):
            if k > 0:
                content.append({"type": "image"})
                placed += 1
            if part.strip():
                content.append({"type": "text", "text": part.strip()})
        messages.append({"role": role, "content": content})
    first_user = next((m for m in messages if m["role"] == "user"), None)
    if placed < len(images) and first_user is not None:
        first_user["content"][:0] = [{"type": "image"}] * (len(images) - placed)
    out = {k: v for k, v in record.items() if k not in ("image", "conversations")}
    return {**out, "images": images, "messages": messages}


def to_qwen(record: Any) -> dict[str, Any]:
    """A Qwen-format record (as is) or a LLaVA one (converted); MixError for anything else."""
    if isinstance(record, dict) and isinstance(record.get("messages"), list):
        return {**record, "images": list(record.get("images") or [])}
    if isinstance(record, dict) and isinstance(record.get("conversations"), list):
        return llava_to_qwen(record)
    raise MixError("a record must be Qwen ('messages') or LLaVA ('conversations') format")


def _relocate(record: dict[str, Any], image_dir: Path, out_dir: Path, absolute: bool) -> dict[str, Any]:
    """Image paths resolved against `image_dir`, then absolute or relative to `out_dir`."""
    paths = []
    for p in record["images"]:
        if not isinstance(p, str):
            raise MixError(f"image paths must be strings, got {p!r}")
        if "://" in p:  # a URL stays as it is
            paths.append(p)
            continue
        full = Path(p) if os.path.isabs(p) else (image_dir / p)
        full = Path(os.path.normpath(full))
        paths.append(str(full) if absolute else os.path.relpath(full, out_dir))
    return {**record, "images": paths}


# --- mixing --------------------------------------------------------------------------------------


def split_total(total: int, ratios: list[float]) -> list[int]:
    """Largest-remainder split of `total` by `ratios` (summing to 1): counts summing exactly to total."""
    exact = [total * r for r in ratios]
    counts = [math.floor(x + 1e-9) for x in exact]
    order = sorted(range(len(ratios)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _auto_total(available: list[int], ratios: list[float]) -> int:
    """The largest total whose split fits every source without repeats."""
    total = min(math.floor(n / r + 1e-9) for n, r in zip(available, ratios))
    while total > 0 and any(c > n for c, n in zip(split_total(total, ratios), available)):
        total -= 1
    return total


def choose_indices(rng: random.Random, available: int, wanted: int, allow_repeat: bool, name: str) -> list[int]:
    """`wanted` indices into `available` items (sorted, with multiplicity when repeats are allowed)."""
    if wanted <= available:
        return sorted(rng.sample(range(available), wanted))
    if not allow_repeat:
        raise MixError(
            f"source {name!r} has {available} items but the mix needs {wanted}; "
            "lower 'total', change the ratios or set allow_repeat: true"
        )
    if available == 0:
        raise MixError(f"source {name!r} is empty")
    whole, rest = divmod(wanted, available)
    return sorted(list(range(available)) * whole + rng.sample(range(available), rest))


def _selected(source: MixSource, indices: list[int], out_dir: Path, absolute: bool) -> Iterator[dict[str, Any]]:
    """The chosen lines of a source as Qwen records with relocated image paths (streamed once)."""
    wanted = iter(indices)
    target = next(wanted, None)
    for index, (file, number, line) in enumerate(_lines(source)):
        while target == index:
            try:
                record = to_qwen(json.loads(line))
            except (json.JSONDecodeError, KeyError, TypeError, MixError) as exc:
                raise MixError(f"{file}:{number}: not a Qwen or LLaVA record: {exc}") from None
            image_dir = source.image_root or file.parent
            yield {**_relocate(record, image_dir, out_dir, absolute), "source": source.name}
            target = next(wanted, None)
        if target is None:
            return


def mix_datasets(recipe_path: str | Path) -> MixSummary:
    """Write the mix a recipe describes; see the module docstring."""
    recipe = load_recipe(recipe_path)
    ratios = [s.ratio for s in recipe.sources]
    available = [_count(s) for s in recipe.sources]
    total = recipe.total if recipe.total is not None else _auto_total(available, ratios)
    if total < 1:
        raise MixError(f"the sources are too small for these ratios (items: {available})")
    counts = split_total(total, ratios)
    rng = random.Random(recipe.seed)
    out_dir = recipe.output.parent
    records: list[dict[str, Any]] = []
    summary = MixSummary(recipe.output, total, recipe.seed)
    for source, n_available, wanted in zip(recipe.sources, available, counts):
        indices = choose_indices(rng, n_available, wanted, recipe.allow_repeat, source.name)
        records.extend(_selected(source, indices, out_dir, recipe.absolute_paths))
        summary.sources[source.name] = {
            "available": n_available,
            "selected": wanted,
            "ratio": source.ratio,
            "repeated": wanted > n_available,
        }
    rng.shuffle(records)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with open(recipe.output, "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        summary_path = recipe.output.with_name(recipe.output.stem + ".summary.json")
        summary_path.write_text(json.dumps(summary.to_dict(), indent=1) + "\n", encoding="utf-8")
    except OSError as exc:
        raise MixError(f"cannot write the mix to {recipe.output}: {exc}") from None
    return summary
