"""Writing generated samples: JSONL shards for training, a Hugging Face dataset, the eval layout.

    out_dir/images/NNNNNNN-k.png       image k of sample NNNNNNN (identical images are written once
                                       and shared: a scene's hundreds of questions share its image)
    out_dir/qwen-00000.jsonl ...       Qwen / TRL conversational VLM format, `shard_size` lines each
    out_dir/llava-00000.jsonl ...      LLaVA format
    out_dir/hf/                        datasets.Dataset.save_to_disk (images embedded)
    out_dir/annotations.json           RoboSpatial-Home eval layout (+ images/NNNNNNN-mask.png for
                                       items with a region mask, scenes/<scene>.json for items with a scene)
    out_dir/manifest.json              counts per kind / task / frame, formats, shards, caller's info

Deterministic: the same samples give byte-identical JSONL, annotations and manifest.
Memory stays bounded: samples are streamed; the HF dataset is built from the JSONL shards
one shard at a time by a generator.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np

from robospatial_ros.core.errors import RoboSpatialError
from robospatial_ros.learn.datagen.episodes import progress_bar
from robospatial_ros.learn.datagen.records import Sample

FORMATS = ("hf", "qwen", "llava", "eval")
IMAGES_DIR = "images"
SCENES_DIR = "scenes"
MANIFEST = "manifest.json"
ANNOTATIONS = "annotations.json"
IMAGE_TOKEN = "<image>"
BINARY_ANSWERS = ("yes", "no")
# Everything write_samples creates (what overwrite=True clears before writing).
_OUTPUT_GLOBS = (
    IMAGES_DIR,
    SCENES_DIR,
    "hf",
    "qwen-*.jsonl",
    "llava-*.jsonl",
    ANNOTATIONS,
    MANIFEST,
    ".qwen-*",
    ".hf-cache-*",
)


class WriterError(RoboSpatialError, ValueError):
    """Bad output directory, format list or shard size, or a sample the writers cannot store."""


@dataclass
class WriteSummary:
    """What write_samples wrote."""

    out_dir: Path
    count: int  # samples written
    images: int  # distinct image files
    counts: dict[str, dict[str, int]]  # "kind" / "task" / "frame" -> value -> samples
    shards: dict[str, list[str]] = field(default_factory=dict)  # format -> files, relative to out_dir
    formats: tuple[str, ...] = ()

    def describe(self) -> str:
        """A few human-readable lines."""
        lines = [f"wrote {self.count} samples ({self.images} images) to {self.out_dir}"]
        for key in ("kind", "task", "frame"):
            parts = ", ".join(f"{k or '-'}: {v}" for k, v in self.counts.get(key, {}).items())
            lines.append(f"  {key}: {parts}")
        lines.append(f"  formats: {', '.join(self.formats)}")
        return "\n".join(lines)


def check_formats(formats: Iterable[str]) -> tuple[str, ...]:
    """The formats as a tuple in canonical order; WriterError on an unknown or empty list."""
    wanted = [f.strip() for f in formats if f.strip()]
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown or not wanted:
        raise WriterError(f"formats must be some of {', '.join(FORMATS)}, got {', '.join(wanted) or 'none'}")
    return tuple(f for f in FORMATS if f in wanted)


def write_samples(
    samples: Iterable[Sample],
    out_dir: str | Path,
    shard_size: int = 1000,
    formats: Iterable[str] = FORMATS,
    progress: bool = True,
    info: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> WriteSummary:
    """Write `samples` to `out_dir` in `formats` (see the module docstring for the layout).

    `info` (JSON-serializable: seed, config, generator) goes into the manifest as is.
    An out_dir that already holds generated output is refused unless `overwrite`, which
    removes that output first (nothing else in the directory is touched).
    """
    formats = check_formats(formats)
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise WriterError(f"shard_size must be a positive integer, got {shard_size!r}")
    out_dir = Path(out_dir)
    _prepare(out_dir, overwrite)
    with _Writers(out_dir, shard_size, formats) as writers:
        for sample in progress_bar(samples, "writing", "sample", progress):
            writers.add(sample)
    summary = writers.summary()
    if "hf" in formats:
        summary.shards["hf"] = ["hf"]
        _write_hf(out_dir, writers.qwen_files, writers.qwen_shard_dir, progress)
    _write_manifest(out_dir, summary, dict(info or {}))
    return summary


def _prepare(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise WriterError(f"output path exists and is not a directory: {out_dir}")
    existing = [p for pattern in _OUTPUT_GLOBS for p in sorted(out_dir.glob(pattern))] if out_dir.is_dir() else []
    if existing and not overwrite:
        raise WriterError(
            f"{out_dir} already holds generated data ({existing[0].name}, ...); use overwrite / --overwrite"
        )
    for path in existing:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    (out_dir / IMAGES_DIR).mkdir(parents=True, exist_ok=True)


# --- records -------------------------------------------------------------------------------------


def qwen_record(sample_id: str, sample: Sample, image_paths: Sequence[str]) -> dict[str, Any]:
    """The Qwen / TRL conversational VLM record: one image entry per image, then the question."""
    content: list[dict[str, Any]] = [{"type": "image"} for _ in image_paths]
    content.append({"type": "text", "text": sample.question})
    return {
        "id": sample_id,
        "images": list(image_paths),
        "messages": [
            {"role": "user", "content": content},
            {"role": "assistant", "content": [{"type": "text", "text": sample.answer}]},
        ],
        "kind": sample.kind,
        "task": sample.task,
        "frame": sample.frame,
        "choices": list(sample.choices),
        "metadata": sample.metadata,
    }


def llava_record(sample_id: str, sample: Sample, image_paths: Sequence[str]) -> dict[str, Any]:
    """The LLaVA record: one <image> marker per image before the question."""
    image: str | list[str] = image_paths[0] if len(image_paths) == 1 else list(image_paths)
    return {
        "id": sample_id,
        "image": image,
        "conversations": [
            {"from": "human", "value": f"{IMAGE_TOKEN}\n" * len(image_paths) + sample.question},
            {"from": "gpt", "value": sample.answer},
        ],
    }


def eval_answer(sample: Sample) -> str:
    """The eval layout's ground truth: yes/no for binary items, the region polygon for context items."""
    polygon = sample.metadata.get("region_polygon")
    if polygon is not None:
        return "[" + ", ".join(f"({x}, {y})" for x, y in polygon) + "]"
    if sample.answer.strip().lower() in BINARY_ANSWERS:
        return sample.answer.strip().lower()
    return sample.answer


def _dumps(record: Any) -> str:
    try:
        return json.dumps(record, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise WriterError(f"sample {record.get('id')}: metadata is not JSON-serializable: {exc}") from None


class _Shards:
    """JSONL files `<prefix>-NNNNN.jsonl` of `size` lines each."""

    def __init__(self, out_dir: Path, prefix: str, size: int):
        self.out_dir, self.prefix, self.size = out_dir, prefix, size
        self.files: list[str] = []
        self._handle: IO[str] | None = None
        self._lines = 0

    def write(self, line: str) -> None:
        if self._handle is None or self._lines >= self.size:
            self.close()
            name = f"{self.prefix}-{len(self.files):05d}.jsonl"
            self.files.append(name)
            self._handle = open(self.out_dir / name, "w", encoding="utf-8")  # closed in close()
            self._lines = 0
        self._handle.write(line + "\n")
        self._lines += 1

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class _Writers:
    """Streams samples into every format at once; images are stored once per distinct content."""

    def __init__(self, out_dir: Path, shard_size: int, formats: tuple[str, ...]):
        self.out_dir = out_dir
        self.formats = formats
        self.count = 0
        self.counts: dict[str, Counter[str]] = {"kind": Counter(), "task": Counter(), "frame": Counter()}
        self._digests: dict[str, str] = {}  # image content digest -> relative path
        self._recent: OrderedDict[int, tuple[np.ndarray, str]] = OrderedDict()  # id(array) -> (array, path)
        self._scenes: dict[str, str] = {}  # scene JSON digest -> relative path
        self._last_scene: tuple[Any, str] | None = None  # (scene mapping, path): a scene's items come in a row
        # qwen shards feed the HF dataset, so they are written whenever either is asked for.
        self.qwen_shard_dir = out_dir
        if "hf" in formats and "qwen" not in formats:
            self.qwen_shard_dir = Path(tempfile.mkdtemp(prefix=".qwen-", dir=out_dir))
        want_qwen = "qwen" in formats or "hf" in formats
        self._qwen = _Shards(self.qwen_shard_dir, "qwen", shard_size) if want_qwen else None
        self._llava = _Shards(out_dir, "llava", shard_size) if "llava" in formats else None
        self._eval: IO[str] | None = None
        if "eval" in formats:
            self._eval = open(out_dir / ANNOTATIONS, "w", encoding="utf-8")  # closed in __exit__
            self._eval.write("[")

    def __enter__(self) -> _Writers:
        return self

    def __exit__(self, *exc: object) -> None:
        for shards in (self._qwen, self._llava):
            if shards is not None:
                shards.close()
        if self._eval is not None:
            self._eval.write("\n]\n" if self.count else "]\n")
            self._eval.close()

    def add(self, sample: Sample) -> None:
        if not isinstance(sample, Sample):
            raise WriterError(f"expected a Sample, got {type(sample).__name__}")
        sample_id = f"{self.count:07d}"
        paths = [self._image(sample_id, k, img) for k, img in enumerate(sample.images)]
        if self._qwen is not None:
            self._qwen.write(_dumps(qwen_record(sample_id, sample, paths)))
        if self._llava is not None:
            self._llava.write(_dumps(llava_record(sample_id, sample, paths)))
        if self._eval is not None:
            record = self._eval_record(sample_id, sample, paths)
            self._eval.write(("\n" if self.count == 0 else ",\n") + _dumps(record))
        self.count += 1
        for key, value in (("kind", sample.kind), ("task", sample.task), ("frame", sample.frame)):
            self.counts[key][value] += 1

    def _image(self, sample_id: str, k: int, image: np.ndarray) -> str:
        """Relative path of `image` (H, W, 3) uint8 RGB, written now unless the same pixels already were."""
        recent = self._recent.get(id(image))
        if recent is not None and recent[0] is image:  # the very same array as a recent sample (the cheap case)
            return recent[1]
        digest = hashlib.sha1(np.ascontiguousarray(image).data, usedforsecurity=False)
        digest.update(str(image.shape).encode())
        key = digest.hexdigest()
        path = self._digests.get(key)
        if path is None:
            path = f"{IMAGES_DIR}/{sample_id}-{k}.png"
            _write_png(self.out_dir / path, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            self._digests[key] = path
        self._recent[id(image)] = (image, path)  # holding the array keeps its id unique
        while len(self._recent) > 8:
            self._recent.popitem(last=False)
        return path

    def _eval_record(self, sample_id: str, sample: Sample, paths: list[str]) -> dict[str, Any]:
        meta = sample.metadata
        mask_path = None
        if isinstance(meta.get("region_mask"), Mapping):
            from robospatial_ros.learn.datagen.robospatial import rle_to_mask

            mask_path = f"{IMAGES_DIR}/{sample_id}-mask.png"
            _write_png(self.out_dir / mask_path, rle_to_mask(meta["region_mask"]).astype(np.uint8) * 255)
        camera, scene = meta.get("camera"), meta.get("scene")
        record: dict[str, Any] = {
            "id": sample_id,
            "category": sample.task,
            "question": sample.question,
            "answer": eval_answer(sample),
            "img": paths[0],
            "depth_image": None,
            "mask": mask_path,
            "frame": sample.frame,
            "scene": self._scene(scene, meta.get("scene_id")) if isinstance(scene, Mapping) else None,
            "camera": _camera(camera) if isinstance(camera, Mapping) else None,
            "kind": sample.kind,
        }
        if len(paths) > 1:
            record["images"] = paths
        if sample.choices:
            record["choices"] = list(sample.choices)
        return record

    def _scene(self, scene: Mapping[str, Any], scene_id: Any) -> str:
        """scenes/<id>.json holding `scene`, written once per distinct scene.

        The items of one scene share its mapping object and arrive together, so the last one is
        remembered by identity: serializing and hashing the scene per item cost most of the eval format."""
        if self._last_scene is not None and self._last_scene[0] is scene:
            return self._last_scene[1]
        text = json.dumps(scene, indent=1, sort_keys=True)
        key = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()
        if key not in self._scenes:
            stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in str(scene_id or "scene"))[:64]
            path = f"{SCENES_DIR}/{stem}-{key[:8]}.json"
            (self.out_dir / SCENES_DIR).mkdir(exist_ok=True)
            (self.out_dir / path).write_text(text + "\n", encoding="utf-8")
            self._scenes[key] = path
        self._last_scene = (scene, self._scenes[key])  # holding the mapping keeps its identity unique
        return self._scenes[key]

    @property
    def qwen_files(self) -> list[str]:
        return [] if self._qwen is None else list(self._qwen.files)

    def summary(self) -> WriteSummary:
        shards = {}
        if "qwen" in self.formats:
            shards["qwen"] = self.qwen_files
        if self._llava is not None:
            shards["llava"] = list(self._llava.files)
        if "eval" in self.formats:
            shards["eval"] = [ANNOTATIONS]
        counts = {k: dict(sorted(c.items())) for k, c in self.counts.items()}
        return WriteSummary(self.out_dir, self.count, len(self._digests), counts, shards, self.formats)


def _camera(camera: Mapping[str, Any]) -> dict[str, Any]:
    return {"intrinsic": camera.get("intrinsic"), "extrinsic": camera.get("extrinsic")}


def _write_png(path: Path, image: np.ndarray) -> None:
    if not cv2.imwrite(str(path), image):
        raise WriterError(f"cannot write image {path}")


# --- Hugging Face dataset ------------------------------------------------------------------------


def hf_features() -> Any:
    """The dataset's columns: images (list of Image), question, answer, kind, task, frame, choices,
    metadata (a JSON string), id."""
    import datasets

    return datasets.Features(
        {
            "id": datasets.Value("string"),
            "images": datasets.Sequence(datasets.Image()),
            "question": datasets.Value("string"),
            "answer": datasets.Value("string"),
            "kind": datasets.Value("string"),
            "task": datasets.Value("string"),
            "frame": datasets.Value("string"),
            "choices": datasets.Sequence(datasets.Value("string")),
            "metadata": datasets.Value("string"),
        }
    )


def _hf_rows(shards: list[str], shard_dir: str, image_dir: str) -> Iterator[dict[str, Any]]:
    """Rows from the qwen JSONL shards, one shard at a time; image bytes read from the written PNGs."""
    for name in shards:
        with open(Path(shard_dir) / name, encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                messages = record["messages"]
                question = next(c["text"] for c in messages[0]["content"] if c["type"] == "text")
                answer = messages[1]["content"][0]["text"]
                images = [{"bytes": (Path(image_dir) / p).read_bytes(), "path": Path(p).name} for p in record["images"]]
                yield {
                    "id": record["id"],
                    "images": images,
                    "question": question,
                    "answer": answer,
                    "kind": record["kind"],
                    "task": record["task"],
                    "frame": record["frame"],
                    "choices": record["choices"],
                    "metadata": json.dumps(record["metadata"], ensure_ascii=False),
                }


def _write_hf(out_dir: Path, qwen_shards: list[str], shard_dir: Path, progress: bool) -> None:
    """Build the dataset from the qwen shards by a generator (written to disk as it goes) and save it."""
    try:
        import datasets
    except ImportError:
        raise WriterError("the hf format needs the datasets package: pip install datasets") from None
    shards = qwen_shards or sorted(p.name for p in shard_dir.glob("qwen-*.jsonl"))
    cache = Path(tempfile.mkdtemp(prefix=".hf-cache-", dir=out_dir))  # fresh: never reuse a stale build
    was_enabled = datasets.is_progress_bar_enabled()
    try:
        if not progress:
            datasets.disable_progress_bars()
        if shards:
            dataset = datasets.Dataset.from_generator(
                _hf_rows,
                features=hf_features(),
                gen_kwargs={"shards": shards, "shard_dir": str(shard_dir), "image_dir": str(out_dir)},
                cache_dir=str(cache),
                keep_in_memory=False,
            )
        else:
            dataset = datasets.Dataset.from_dict({k: [] for k in hf_features()}, features=hf_features())
        dataset.save_to_disk(str(out_dir / "hf"))
        del dataset
    finally:
        if was_enabled:
            datasets.enable_progress_bars()
        shutil.rmtree(cache, ignore_errors=True)
        if shard_dir != out_dir:
            shutil.rmtree(shard_dir, ignore_errors=True)


# --- manifest ------------------------------------------------------------------------------------


def _write_manifest(out_dir: Path, summary: WriteSummary, info: dict[str, Any]) -> None:
    manifest = {
        "count": summary.count,
        "images": summary.images,
        "counts": summary.counts,
        "formats": list(summary.formats),
        "shards": summary.shards,
        **info,
    }
    try:
        text = json.dumps(manifest, indent=1, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise WriterError(f"manifest info is not JSON-serializable: {exc}") from None
    (out_dir / MANIFEST).write_text(text + "\n", encoding="utf-8")
