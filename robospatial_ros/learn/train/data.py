"""Training data: Qwen-format JSONL manifests -> mixed records -> datasets the trl trainers take.

A manifest line (what `robospatial datagen` writes, OUT/qwen-00000.jsonl, and what mix manifests hold):

    {"id": str, "images": ["images/x.png", ...],            # relative to the manifest's directory
     "messages": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]},
                  {"role": "assistant", "content": [{"type": "text", "text": answer}]}],
     "kind": "robospatial" | "sat" | "ssrl", "task": str, "frame": str, "choices": [str], "metadata": {...}}

A data source is such a file, a directory whose qwen-*.jsonl (else *.jsonl) files are read in
name order, or the `hf/` dataset `robospatial datagen` writes (its images are read from the files
beside it, or else written once from its image table into hf/image_files/). Every problem names the
file and line. Images are decoded lazily by the dataset (the `Image` feature), so only paths are held
in memory.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robospatial_ros.core.jsonl import read_jsonl
from robospatial_ros.learn.datagen.mixing import choose_indices, split_total
from robospatial_ros.learn.train.config import TrainConfig, TrainDataError

ROLES = ("system", "user", "assistant")


@dataclass
class Record:
    """One training conversation; the last message is the assistant's answer."""

    images: list[str]  # absolute image paths, in the order the image parts appear
    messages: list[dict[str, Any]]  # Qwen chat messages, content as typed parts
    kind: str = ""
    task: str = ""
    choices: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # "file:line", for error messages

    @property
    def answer(self) -> str:
        return message_text(self.messages[-1])

    @property
    def prompt(self) -> list[dict[str, Any]]:
        return self.messages[:-1]


def message_text(message: dict[str, Any]) -> str:
    """The text of one chat message (string content, or the concatenated text parts)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    return "".join(str(part.get("text") or "") for part in content if part.get("type") == "text")


def is_hf_dataset(path: Path) -> bool:
    """A directory `datasets.Dataset.save_to_disk` wrote (robospatial datagen's hf/)."""
    return path.is_dir() and (path / "state.json").is_file() and (path / "dataset_info.json").is_file()


def check_source(source: str | Path) -> None:
    """TrainDataError unless `source` is a JSONL file, a directory of them or an hf/ dataset."""
    if not is_hf_dataset(Path(source).expanduser()):
        source_files(source)


def source_files(source: str | Path) -> list[Path]:
    """The JSONL files of one data source (a file, or a directory of qwen-*.jsonl / *.jsonl)."""
    path = Path(source).expanduser()
    if path.is_dir():
        files = sorted(path.glob("qwen-*.jsonl")) or sorted(path.glob("*.jsonl"))
        if not files:
            raise TrainDataError(f"data directory {path} holds no qwen-*.jsonl or *.jsonl manifest")
        return files
    if not path.is_file():
        raise TrainDataError(f"data source not found: {path}")
    return [path]


def _check_messages(messages: Any, n_images: int, where: str) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or len(messages) < 2:
        raise TrainDataError(f"{where}: 'messages' must be a list of at least a user and an assistant turn")
    image_parts = 0
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or msg.get("role") not in ROLES:
            raise TrainDataError(f"{where}: messages[{i}] needs a role among {', '.join(ROLES)}")
        content = msg.get("content")
        if isinstance(content, list):
            if not all(isinstance(p, dict) and p.get("type") in ("image", "text") for p in content):
                raise TrainDataError(f"{where}: messages[{i}] content parts must be {{'type': 'image' | 'text'}}")
            image_parts += sum(p["type"] == "image" for p in content)
        elif not isinstance(content, str):
            raise TrainDataError(f"{where}: messages[{i}] content must be text or a list of parts")
    if messages[-1]["role"] != "assistant" or not message_text(messages[-1]).strip():
        raise TrainDataError(f"{where}: the last message must be the assistant's non-empty answer")
    if image_parts != n_images:
        raise TrainDataError(f"{where}: {n_images} images but {image_parts} image parts in the messages")
    return messages


def _record(entry: Any, base: Path, where: str) -> Record:
    if not isinstance(entry, dict):
        raise TrainDataError(f"{where}: must be a JSON object, got {type(entry).__name__}")
    images = entry.get("images", [])
    if not isinstance(images, list) or not all(isinstance(i, str) and i for i in images):
        raise TrainDataError(f"{where}: 'images' must be a list of image paths")
    paths = [str(p if p.is_absolute() else base / p) for p in map(Path, images)]
    for p in paths:
        if not Path(p).is_file():
            raise TrainDataError(f"{where}: image not found: {p}")
    messages = _check_messages(entry.get("messages"), len(paths), where)
    metadata = entry.get("metadata") or {}
    choices = entry.get("choices") or []
    if not isinstance(metadata, dict) or not isinstance(choices, list):
        raise TrainDataError(f"{where}: 'metadata' must be an object and 'choices' a list")
    return Record(
        paths,
        messages,
        str(entry.get("kind") or ""),
        str(entry.get("task") or ""),
        [str(c) for c in choices],
        metadata,
        where,
    )


def read_manifest(path: str | Path) -> list[Record]:
    """Every record of one JSONL file (blank lines skipped); TrainDataError names the line."""
    path = Path(path)
    return [_record(entry, path.parent, where) for where, entry in read_jsonl(path, TrainDataError, "data file")]


def read_source(source: str | Path) -> list[Record]:
    path = Path(source).expanduser()
    if is_hf_dataset(path):
        records = read_hf_dataset(path)
    else:
        records = [r for f in source_files(source) for r in read_manifest(f)]
    if not records:
        raise TrainDataError(f"data source {source} holds no samples")
    return records


def read_hf_dataset(path: Path) -> list[Record]:
    """The records of a datagen hf/ dataset: rows of question, answer and image keys (paths relative to
    the datagen output, hf/'s parent). A key with no file there is written once from hf/images/."""
    try:
        import datasets
    except ImportError:
        raise TrainDataError("an hf/ data source needs the datasets package: pip install datasets") from None
    rows = datasets.load_from_disk(str(path))
    images = _HFImages(path)
    records = []
    for i, row in enumerate(rows):
        where = f"{path} row {i}"
        content = [{"type": "image"} for _ in row["images"]] + [{"type": "text", "text": row["question"]}]
        entry = {
            "images": [str(images.file(key, where)) for key in row["images"]],
            "messages": [
                {"role": "user", "content": content},
                {"role": "assistant", "content": [{"type": "text", "text": row["answer"]}]},
            ],
            "kind": row.get("kind"),
            "task": row.get("task"),
            "choices": row.get("choices") or [],
            "metadata": json.loads(row.get("metadata") or "{}"),
        }
        records.append(_record(entry, path, where))
    return records


class _HFImages:
    """Image files of an hf/ dataset's keys: the datagen output's own, else extracted from the table."""

    def __init__(self, path: Path):
        self.path = path
        self._rows: dict[str, int] | None = None
        self._table: Any = None

    def file(self, key: str, where: str) -> Path:
        beside = self.path.parent / key
        if beside.is_file():
            return beside
        target = self.path / "image_files" / key
        if not target.is_file():
            self._extract(key, target, where)
        return target

    def _extract(self, key: str, target: Path, where: str) -> None:
        import datasets

        if self._table is None:
            table_dir = self.path / "images"
            if not table_dir.is_dir():
                raise TrainDataError(f"{where}: image {key} is neither beside {self.path} nor in an image table")
            self._table = datasets.load_from_disk(str(table_dir)).cast_column("image", datasets.Image(decode=False))
            self._rows = {k: i for i, k in enumerate(self._table["path"])}
        row = self._rows.get(key) if self._rows is not None else None
        if row is None:
            raise TrainDataError(f"{where}: image {key} is not in {self.path / 'images'}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self._table[row]["image"]["bytes"])


def mix_sources(sources: Sequence[list[Record]], ratios: Sequence[float], seed: int) -> list[Record]:
    """Combine sources: without ratios every record once; with ratios, the total (all records) split by
    them as datagen's mixer splits (`split_total`), drawn without replacement while a source has enough,
    repeated after that. The result is shuffled with `seed`."""
    rng = random.Random(seed)
    if not ratios:
        mixed = [r for s in sources for r in s]
    else:
        total = sum(len(s) for s in sources)
        counts = split_total(total, [r / sum(ratios) for r in ratios])
        mixed = []
        for i, (records, count) in enumerate(zip(sources, counts)):
            mixed += [records[j] for j in choose_indices(rng, len(records), count, True, f"data[{i}]")]
    rng.shuffle(mixed)
    return mixed


def load_records(config: TrainConfig) -> list[Record]:
    """The training records of `config.data` mixed by `config.data_ratios`; TrainDataError when empty."""
    if not config.data:
        raise TrainDataError("no training data: set data to one or more JSONL manifests or datagen directories")
    sources = [read_source(s) for s in config.data]
    return mix_sources(sources, config.data_ratios, config.seed)


def _with_system(prompt: list[dict[str, Any]], system_prompt: str) -> list[dict[str, Any]]:
    if not system_prompt or (prompt and prompt[0]["role"] == "system"):
        return prompt
    return [{"role": "system", "content": [{"type": "text", "text": system_prompt}]}, *prompt]


def _with_suffix(prompt: list[dict[str, Any]], suffix: str) -> list[dict[str, Any]]:
    """The prompt with `suffix` appended to the last user turn's last text part."""
    if not suffix:
        return prompt
    out = json.loads(json.dumps(prompt))  # deep copy of plain JSON data
    for msg in reversed(out):
        if msg["role"] != "user":
            continue
        if isinstance(msg["content"], str):
            msg["content"] += suffix
            return out
        for part in reversed(msg["content"]):
            if part["type"] == "text":
                part["text"] = (part.get("text") or "") + suffix
                return out
        msg["content"].append({"type": "text", "text": suffix.strip()})
        return out
    return out


def normalized_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Content as typed parts with both keys, so Arrow sees one schema for every row."""
    out = []
    for msg in messages:
        content = msg["content"]
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
        out.append({"role": msg["role"], "content": [{"type": p["type"], "text": p.get("text")} for p in parts]})
    return out


def to_dataset(rows: list[dict[str, Any]]) -> Any:
    """A datasets.Dataset of `rows` whose "images" column (lists of paths) decodes to PIL images on access."""
    try:
        from datasets import Dataset, Image, List
    except ImportError:
        raise TrainDataError("training needs the datasets package: pip install datasets") from None
    return Dataset.from_list(rows).cast_column("images", List(Image()))


def sft_dataset(records: list[Record], system_prompt: str = "") -> Any:
    """Prompt-completion rows {images, prompt, completion}: trl's collator masks the prompt, so the loss
    covers the assistant answer tokens (and its end-of-turn) only."""
    rows = [
        {
            "images": r.images,
            "prompt": normalized_messages(_with_system(r.prompt, system_prompt)),
            "completion": normalized_messages(r.messages[-1:]),
        }
        for r in records
    ]
    return to_dataset(rows)


def grpo_dataset(records: list[Record], system_prompt: str = "", prompt_suffix: str = "") -> Any:
    """Rows {images, prompt, answer, kind, task, choices, metadata}: the columns reach the reward
    functions as keyword lists (metadata as a JSON string, since its shape varies between samples)."""
    rows = [
        {
            "images": r.images,
            "prompt": normalized_messages(_with_suffix(_with_system(r.prompt, system_prompt), prompt_suffix)),
            "answer": r.answer,
            "kind": r.kind,
            "task": r.task,
            "choices": list(r.choices),
            "metadata": json.dumps(r.metadata, sort_keys=True),
        }
        for r in records
    ]
    return to_dataset(rows)
