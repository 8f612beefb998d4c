"""Writing generated samples: JSONL shards for training, a Hugging Face dataset, the eval layout.

    out_dir/images/NNNNNNN-k.png       image k of sample NNNNNNN (identical images are written once
                                       and shared: a scene's hundreds of questions share its image;
                                       NNNNNNN-k-depth.png beside it, 16-bit millimetres, when it has depth)
    out_dir/qwen-00000.jsonl ...       Qwen / TRL conversational VLM format, `shard_size` lines each
    out_dir/llava-00000.jsonl ...      LLaVA format
    out_dir/hf/                        datasets.Dataset.save_to_disk: one row per sample whose "images"
                                       are keys (paths as in the JSONL) into hf/images/, a dataset of each
                                       distinct image once (`load_hf_dataset` joins them lazily)
    out_dir/annotations.json           RoboSpatial-Home eval layout (+ images/NNNNNNN-mask.png for
                                       items with a region mask, scenes/<scene>.json for items with a scene)
    out_dir/manifest.json              counts per kind / task / frame, formats, shards, caller's info

Deterministic: the same samples give byte-identical JSONL, annotations and manifest.
Memory stays bounded: samples are streamed; the HF dataset is built from the JSONL shards
one shard at a time by a generator. A run that fails leaves no output behind.
Parallel runs (`shards.py`) write each shard with an id and path prefix, then merge.
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
HF_DIR = "hf"
HF_IMAGES = "images"  # the image table inside hf/
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
    "shards",  # parallel runs' shards (shards.py)
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


@dataclass(frozen=True)
class Prefixes:
    """How a shard's records name things (`shards.py`): ids start with `ids`, file paths with `paths`
    (relative to the run's directory, e.g. "shards/00003/"), while files go under the shard's own directory."""

    ids: str = ""
    paths: str = ""


def write_samples(
    samples: Iterable[Sample],
    out_dir: str | Path,
    shard_size: int = 1000,
    formats: Iterable[str] = FORMATS,
    progress: bool = True,
    info: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    prefixes: Prefixes = Prefixes(),
) -> WriteSummary:
    """Write `samples` to `out_dir` in `formats` (see the module docstring for the layout).

    `info` (JSON-serializable: seed, config, generator) goes into the manifest as is.
    An out_dir that already holds generated output is refused unless `overwrite`, which
    removes that output first (nothing else in the directory is touched). When writing fails
    (a bad sample, a full disk, an interrupted generator), what this call wrote is removed again.
    """
    formats = check_formats(formats)
    check_shard_size(shard_size)
    out_dir = Path(out_dir)
    prepare_output(out_dir, overwrite)
    try:
        with _Writers(out_dir, shard_size, formats, prefixes) as writers:
            for sample in progress_bar(samples, "writing", "sample", progress):
                writers.add(sample)
        summary = writers.summary()
        if "hf" in formats:
            summary.shards["hf"] = [HF_DIR]
            write_hf(out_dir, writers.qwen_files, writers.qwen_shard_dir, progress)
        write_manifest(out_dir, summary, dict(info or {}))
    except BaseException:
        remove_output(out_dir)
        raise
    return summary


def check_shard_size(shard_size: Any) -> int:
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise WriterError(f"shard_size must be a positive integer, got {shard_size!r}")
    return shard_size


def existing_output(out_dir: Path) -> list[Path]:
    """What earlier runs generated in `out_dir` (the paths `write_samples` creates)."""
    if not out_dir.is_dir():
        return []
    return [p for pattern in _OUTPUT_GLOBS for p in sorted(out_dir.glob(pattern))]


def remove_output(out_dir: Path) -> None:
    """Remove everything generated in `out_dir` (nothing else in the directory is touched)."""
    for path in existing_output(out_dir):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def prepare_output(out_dir: Path, overwrite: bool) -> None:
    """Refuse (or with `overwrite` clear) generated output already in `out_dir`; create images/."""
    if out_dir.exists() and not out_dir.is_dir():
        raise WriterError(f"output path exists and is not a directory: {out_dir}")
    existing = existing_output(out_dir)
    if existing and not overwrite:
        raise WriterError(
            f"{out_dir} already holds generated data ({existing[0].name}, ...); use overwrite / --overwrite"
        )
    remove_output(out_dir)
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


class JsonlShards:
    """JSONL files `<prefix>-NNNNN.jsonl` of `size` lines each; `write` takes one line without its newline.
    The writer and the shard merge (shards.py) both split their output this way."""

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

    def __init__(self, out_dir: Path, shard_size: int, formats: tuple[str, ...], prefixes: Prefixes = Prefixes()):
        self.out_dir = out_dir
        self.formats = formats
        self.prefixes = prefixes
        self.count = 0
        self.counts: dict[str, Counter[str]] = {"kind": Counter(), "task": Counter(), "frame": Counter()}
        self._digests: dict[str, str] = {}  # image content digest -> relative path
        self._depths: dict[str, str] = {}  # image path -> its depth image's path
        self._recent: OrderedDict[int, tuple[np.ndarray, str]] = OrderedDict()  # id(array) -> (array, path)
        self._scenes: dict[str, str] = {}  # scene JSON digest -> relative path
        self._last_scene: tuple[Any, str] | None = None  # (scene mapping, path): a scene's items come in a row
        # qwen shards feed the HF dataset, so they are written whenever either is asked for.
        self.qwen_shard_dir = out_dir
        if "hf" in formats and "qwen" not in formats:
            self.qwen_shard_dir = Path(tempfile.mkdtemp(prefix=".qwen-", dir=out_dir))
        want_qwen = "qwen" in formats or "hf" in formats
        self._qwen = JsonlShards(self.qwen_shard_dir, "qwen", shard_size) if want_qwen else None
        self._llava = JsonlShards(out_dir, "llava", shard_size) if "llava" in formats else None
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
        local_id = f"{self.count:07d}"  # names this sample's files in out_dir
        sample_id = self.prefixes.ids + local_id
        paths = [self._image(local_id, k, img) for k, img in enumerate(sample.images)]
        if self._qwen is not None:
            self._qwen.write(_dumps(qwen_record(sample_id, sample, paths)))
        if self._llava is not None:
            self._llava.write(_dumps(llava_record(sample_id, sample, paths)))
        if self._eval is not None:
            record = self._eval_record(local_id, sample_id, sample, paths)
            self._eval.write(("\n" if self.count == 0 else ",\n") + _dumps(record))
        self.count += 1
        for key, value in (("kind", sample.kind), ("task", sample.task), ("frame", sample.frame)):
            self.counts[key][value] += 1

    def _image(self, sample_id: str, k: int, image: np.ndarray) -> str:
        """Path of `image` (H, W, 3) uint8 RGB as records name it, written now unless the same pixels
        already were."""
        recent = self._recent.get(id(image))
        if recent is not None and recent[0] is image:  # the very same array as a recent sample (the cheap case)
            return recent[1]
        digest = hashlib.sha1(np.ascontiguousarray(image).data, usedforsecurity=False)
        digest.update(str(image.shape).encode())
        key = digest.hexdigest()
        path = self._digests.get(key)
        if path is None:
            local = f"{IMAGES_DIR}/{sample_id}-{k}.png"
            _write_png(self.out_dir / local, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            path = self._digests[key] = self.prefixes.paths + local
        self._recent[id(image)] = (image, path)  # holding the array keeps its id unique
        while len(self._recent) > 8:
            self._recent.popitem(last=False)
        return path

    def _depth(self, image_path: str, depth: np.ndarray | None) -> str | None:
        """Path of the depth image of `image_path` ((H, W) float32 metres written as 16-bit millimetres,
        0 = unknown), written with its image's first sample; None without depth."""
        if depth is None:
            return None
        path = self._depths.get(image_path)
        if path is None:
            local = image_path.removeprefix(self.prefixes.paths).removesuffix(".png") + "-depth.png"
            mm = np.nan_to_num(np.asarray(depth, np.float64) * 1000.0, nan=0.0, posinf=0.0, neginf=0.0)
            _write_png(self.out_dir / local, np.clip(np.rint(mm), 0, 65535).astype(np.uint16))
            path = self._depths[image_path] = self.prefixes.paths + local
        return path

    def _eval_record(self, local_id: str, sample_id: str, sample: Sample, paths: list[str]) -> dict[str, Any]:
        meta = sample.metadata
        mask_path = None
        if isinstance(meta.get("region_mask"), Mapping):
            from robospatial_ros.learn.datagen.robospatial import rle_to_mask

            local = f"{IMAGES_DIR}/{local_id}-mask.png"
            _write_png(self.out_dir / local, rle_to_mask(meta["region_mask"]).astype(np.uint8) * 255)
            mask_path = self.prefixes.paths + local
        camera, scene = meta.get("camera"), meta.get("scene")
        record: dict[str, Any] = {
            "id": sample_id,
            "category": sample.task,
            "question": sample.question,
            "answer": eval_answer(sample),
            "img": paths[0],
            "depth_image": self._depth(paths[0], sample.depth),
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
            self._scenes[key] = self.prefixes.paths + path
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
    """The samples' columns: images (keys into the image table: the image paths of the JSONL records),
    question, answer, kind, task, frame, choices, metadata (a JSON string), id."""
    import datasets

    return datasets.Features(
        {
            "id": datasets.Value("string"),
            "images": datasets.Sequence(datasets.Value("string")),
            "question": datasets.Value("string"),
            "answer": datasets.Value("string"),
            "kind": datasets.Value("string"),
            "task": datasets.Value("string"),
            "frame": datasets.Value("string"),
            "choices": datasets.Sequence(datasets.Value("string")),
            "metadata": datasets.Value("string"),
        }
    )


def hf_image_features() -> Any:
    """The image table's columns: path (the key samples name) and image (the PNG bytes, decoded on access)."""
    import datasets

    return datasets.Features({"path": datasets.Value("string"), "image": datasets.Image()})


def _hf_rows(shards: list[str], shard_dir: str, canonical: dict[str, str]) -> Iterator[dict[str, Any]]:
    """Sample rows from the qwen JSONL shards, one shard at a time; images by key only (the key of the
    first file with the same bytes: parallel shards each wrote a scene's image)."""
    for name in shards:
        with open(Path(shard_dir) / name, encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                messages = record["messages"]
                question = next(c["text"] for c in messages[0]["content"] if c["type"] == "text")
                answer = messages[1]["content"][0]["text"]
                yield {
                    "id": record["id"],
                    "images": [canonical.get(p, p) for p in record["images"]],
                    "question": question,
                    "answer": answer,
                    "kind": record["kind"],
                    "task": record["task"],
                    "frame": record["frame"],
                    "choices": record["choices"],
                    "metadata": json.dumps(record["metadata"], ensure_ascii=False),
                }


def _image_keys(shards: list[str], shard_dir: Path, image_dir: Path) -> dict[str, str]:
    """Every image the qwen shards name -> the first one (in order of use) with the same bytes."""
    canonical: dict[str, str] = {}
    by_digest: dict[str, str] = {}
    for name in shards:
        with open(shard_dir / name, encoding="utf-8") as handle:
            for line in handle:
                for key in json.loads(line)["images"]:
                    if key not in canonical:
                        data = (image_dir / key).read_bytes()
                        digest = hashlib.sha1(data, usedforsecurity=False).hexdigest()
                        canonical[key] = by_digest.setdefault(digest, key)
    return canonical


def _hf_image_rows(keys: tuple[str, ...], image_dir: str) -> Iterator[dict[str, Any]]:
    """One row per image key with its PNG bytes. (`keys` is a tuple: datasets splits list arguments
    into separate generator runs.)"""
    for key in keys:
        yield {"path": key, "image": {"bytes": (Path(image_dir) / key).read_bytes(), "path": Path(key).name}}


def write_hf(out_dir: Path, qwen_shards: list[str], shard_dir: Path, progress: bool) -> None:
    """Build the samples and their image table from the qwen shards by generators (written to disk as
    they go) and save them: out_dir/hf/ and out_dir/hf/images/."""
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
        canonical = _image_keys(shards, shard_dir, out_dir)
        keys = tuple(dict.fromkeys(canonical.values()))
        kwargs = {"shards": shards, "shard_dir": str(shard_dir), "canonical": canonical}
        samples = _from_generator(datasets, _hf_rows, hf_features(), kwargs, cache, bool(shards))
        images = _from_generator(
            datasets, _hf_image_rows, hf_image_features(), {"keys": keys, "image_dir": str(out_dir)}, cache, bool(keys)
        )
        samples.save_to_disk(str(out_dir / HF_DIR))
        images.save_to_disk(str(out_dir / HF_DIR / HF_IMAGES))
        del samples, images
    finally:
        if was_enabled:
            datasets.enable_progress_bars()
        shutil.rmtree(cache, ignore_errors=True)
        if shard_dir != out_dir:
            shutil.rmtree(shard_dir, ignore_errors=True)


def _from_generator(
    datasets: Any, rows: Any, features: Any, kwargs: dict[str, Any], cache: Path, any_rows: bool
) -> Any:
    if not any_rows:
        return datasets.Dataset.from_dict({k: [] for k in features}, features=features)
    # The fingerprint (saved in state.json) from what is read, not from the temporary cache path: the same
    # data gives the same files.
    what = json.dumps(
        {k: v for k, v in kwargs.items() if k not in ("shard_dir", "image_dir", "canonical")}, sort_keys=True
    )
    fingerprint = hashlib.sha1(f"{rows.__name__}:{what}".encode(), usedforsecurity=False).hexdigest()[:16]
    return datasets.Dataset.from_generator(
        rows, features=features, gen_kwargs=kwargs, cache_dir=str(cache), keep_in_memory=False, fingerprint=fingerprint
    )


def load_hf_dataset(path: str | Path) -> Any:
    """The samples of a written hf/ directory whose "images" decode to PIL images on access, looked up
    in its image table (hf/images/); `datasets.load_from_disk(path)` alone gives the image keys."""
    import datasets

    path = Path(path)
    samples = datasets.load_from_disk(str(path))
    table = datasets.load_from_disk(str(path / HF_IMAGES))
    row_of = {key: i for i, key in enumerate(table["path"])}

    def decode(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        if "images" in batch:
            batch["images"] = [[table[row_of[key]]["image"] for key in keys] for keys in batch["images"]]
        return batch

    samples.set_transform(decode)
    return samples


# --- manifest ------------------------------------------------------------------------------------


def write_manifest(out_dir: Path, summary: WriteSummary, info: dict[str, Any]) -> None:
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
