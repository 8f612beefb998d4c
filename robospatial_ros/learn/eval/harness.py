"""The evaluation harness behind `robospatial eval`: ask a backend, or read its saved answers, and score.

Two ways in, one report out:
- `evaluate(answerer, config)`: batches each item's image and question through a `TextAnswerer`
  (a VLM, a server, or `GeometricAnswerer` on the items' 3D scenes) and scores the raw texts;
- `score_predictions(jsonl, config)`: scores answers generated elsewhere, matched to the ground
  truth by the exact (question, img) strings, as the official pre-generated path does.

Scoring is the official RoboSpatial-Home one (`scoring.py`); context items that carry a free-space
mask also get the Where2Place fraction of all their parsed points (normalized convention).

`evaluate_parallel` asks in several worker processes, each building its own answerer; the report is
the same as one process's (items are scored in dataset order).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from robospatial_ros.core.errors import ConfigError, RoboSpatialError
from robospatial_ros.core.jsonl import read_jsonl
from robospatial_ros.core.language.parsing import ParseError, PointConvention, extract_answer, parse_points
from robospatial_ros.core.reasoning.vlm.base import TextAnswerer, VisualQuestion, VLMError
from robospatial_ros.learn.eval.dataset import (
    EvalDataError,
    EvalItem,
    dataset_records,
    load_eval_items,
    load_visual_question,
    read_mask,
)
from robospatial_ros.learn.eval.scoring import (
    Point,
    accuracy_pct,
    is_binary_truth,
    score_item,
    where2place_fraction,
)

if TYPE_CHECKING:
    from robospatial_ros.core.spatial.config import SpatialConfig

log = logging.getLogger(__name__)


class MissingSceneError(EvalDataError):
    """The geometric backend was asked about an item without a 3D scene."""


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


@dataclass
class EvalConfig:
    """What to evaluate and where to write the report."""

    data_dir: Path  # the RoboSpatial-Home layout: DIR/annotations.json, DIR/images/...
    limit: int | None = None  # the first N items (after the category filter); None = all
    batch_size: int = 8  # questions per answer_texts call
    categories: list[str] | None = None  # keep only these categories; None = all
    output_json: Path | None = None  # write the full report here
    # Score extract_answer(text) (the last <answer>...</answer>, fences removed) instead of the raw
    # text: for reasoning models. Off = the official rule, which scores the raw text.
    extract_answers: bool = False
    workers: int = 1  # processes asking at once (`evaluate_parallel`), each with its own answerer

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        if self.limit is not None and not _positive_int(self.limit):
            raise ConfigError(f"limit must be a positive integer or None, got {self.limit!r}")
        if not _positive_int(self.batch_size):
            raise ConfigError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if not _positive_int(self.workers):
            raise ConfigError(f"workers must be a positive integer, got {self.workers!r}")
        if self.categories is not None:
            if isinstance(self.categories, str) or not all(isinstance(c, str) and c for c in self.categories):
                raise ConfigError(f"categories must be a list of non-empty names, got {self.categories!r}")
            self.categories = list(self.categories)
        if self.output_json is not None:
            self.output_json = Path(self.output_json)


@dataclass
class ItemResult:
    """One scored item."""

    index: int  # position in annotations.json
    category: str
    question: str
    expected: str
    generated: str  # the model's raw text
    parsed: str | Point | None  # what the official scorer read (see ItemScore)
    parsable: bool
    correct: bool
    img: str
    where2place: float | None = None  # fraction of points in the mask (context items with a mask)

    def to_dict(self) -> dict[str, Any]:
        """The official result keys, plus index, img and where2place."""
        return {
            "index": self.index,
            "question": self.question,
            "expected_answer": self.expected,
            "generated_answer": self.generated,
            "parsed_answer": None if self.parsed is None else str(self.parsed),
            "correct": self.correct,
            "is_parsable": self.parsable,
            "category": self.category,
            "img": self.img,
            "where2place": self.where2place,
        }


@dataclass
class CategoryStats:
    correct: int = 0
    total: int = 0

    @property
    def accuracy_pct(self) -> float:
        return accuracy_pct(self.correct, self.total)


@dataclass
class EvalReport:
    """Scores over the evaluated items; `unmatched` counts ground-truth items with no prediction,
    `unused_predictions` predictions that name no item of the dataset, `malformed_lines` prediction
    lines without a question or img (by line number)."""

    source: str  # the backend name or the predictions file
    results: list[ItemResult] = field(default_factory=list)
    unmatched: int = 0
    unused_predictions: list[tuple[str, str]] = field(default_factory=list)  # (question, img)
    malformed_lines: list[int] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """Every prediction line was well formed and named an item (the CLI exits 1 otherwise)."""
        return not self.unused_predictions and not self.malformed_lines

    @property
    def num_total(self) -> int:
        return len(self.results)

    @property
    def num_correct(self) -> int:
        return sum(r.correct for r in self.results)

    @property
    def accuracy_pct(self) -> float:
        return accuracy_pct(self.num_correct, self.num_total)

    @property
    def illformed_responses(self) -> int:
        return sum(not r.parsable for r in self.results)

    @property
    def per_category(self) -> dict[str, CategoryStats]:
        stats: dict[str, CategoryStats] = {}
        for r in sorted(self.results, key=lambda r: r.category):
            entry = stats.setdefault(r.category, CategoryStats())
            entry.total += 1
            entry.correct += int(r.correct)
        return stats

    @property
    def where2place(self) -> tuple[float | None, int]:
        """(mean fraction over context items with a mask, or None when there are none; their count)."""
        fractions = [r.where2place for r in self.results if r.where2place is not None]
        return (float(np.mean(fractions)) if fractions else None), len(fractions)

    def to_dict(self) -> dict[str, Any]:
        """The official report's keys (accuracy in percent) plus unmatched entries and Where2Place."""
        mean_fraction, w2p_items = self.where2place
        return {
            "source": self.source,
            "accuracy": self.accuracy_pct,
            "num_correct": self.num_correct,
            "num_total": self.num_total,
            "illformed_responses": self.illformed_responses,
            "unmatched_entries": self.unmatched,
            "unused_predictions": [{"question": q, "img": i} for q, i in self.unused_predictions],
            "malformed_lines": list(self.malformed_lines),
            "category_stats": {
                name: {"num_correct": s.correct, "num_total": s.total, "accuracy": s.accuracy_pct}
                for name, s in self.per_category.items()
            },
            "where2place": {"mean_fraction": mean_fraction, "num_items": w2p_items},
            "results": [r.to_dict() for r in self.results],
        }

    def table(self) -> str:
        """A plain aligned table: one row per category, then overall, then the counters."""
        rows = [(name, s.correct, s.total, s.accuracy_pct) for name, s in self.per_category.items()]
        rows.append(("overall", self.num_correct, self.num_total, self.accuracy_pct))
        width = max(len("category"), *(len(r[0]) for r in rows))
        lines = [f"{'category':<{width}}  {'correct':>7}  {'total':>5}  {'accuracy':>8}"]
        lines += [f"{name:<{width}}  {c:>7d}  {t:>5d}  {a:>7.1f}%" for name, c, t, a in rows]
        mean_fraction, w2p_items = self.where2place
        if mean_fraction is None:
            w2p = "n/a (no context item with a mask)"
        else:
            w2p = f"{mean_fraction:.3f} (mean over {w2p_items} masked context items)"
        lines.append(f"illformed responses: {self.illformed_responses}   where2place: {w2p}")
        if self.unmatched:
            lines.append(
                f"unmatched: {self.unmatched} ground-truth items had no prediction "
                "(matched on the exact 'question' and 'img' strings of annotations.json)"
            )
        if self.unused_predictions:
            question, img = self.unused_predictions[0]
            lines.append(
                f"unused: {len(self.unused_predictions)} predictions name no item of the dataset "
                f"(first: img {img!r}, question {question[:60]!r})"
            )
        if self.malformed_lines:
            shown = ", ".join(map(str, self.malformed_lines[:10])) + (", ..." if len(self.malformed_lines) > 10 else "")
            lines.append(
                f"malformed: {len(self.malformed_lines)} prediction lines lack a question or img (lines {shown})"
            )
        return "\n".join(lines)


def write_report(report: EvalReport, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    return path


def _where2place(item: EvalItem, text: str) -> float | None:
    """Fraction of the answer's points inside the item's mask; None for items without one."""
    if item.mask_path is None or is_binary_truth(item.answer):
        return None
    try:
        points = parse_points(text, PointConvention.NORMALIZED)  # (N, 2) normalized x, y
    except ParseError:  # no points, or a value outside [0, 1]: nothing counts (and no mask to read)
        return 0.0
    return where2place_fraction(points, read_mask(item.mask_path))  # mask: (H, W) bool


def score_answer(item: EvalItem, text: str, config: EvalConfig) -> ItemResult:
    """Score one model text against one item (official rules; see EvalConfig.extract_answers)."""
    scored_text = extract_answer(text) if config.extract_answers else text
    score = score_item(item.answer, scored_text)
    return ItemResult(
        index=item.index,
        category=item.category,
        question=item.question,
        expected=item.answer,
        generated=text,
        parsed=score.parsed,
        parsable=score.parsable,
        correct=score.correct,
        img=item.img,
        where2place=_where2place(item, text),
    )


def _batches(items: Sequence[EvalItem], size: int) -> Iterator[Sequence[EvalItem]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _checked_texts(texts: Any, expected: int, name: str) -> list[str]:
    if not isinstance(texts, list) or len(texts) != expected:
        got = len(texts) if isinstance(texts, list) else type(texts).__name__
        raise VLMError(f"backend {name} returned {got} answers for {expected} questions")
    for text in texts:
        if not isinstance(text, str):
            raise VLMError(f"backend {name} returned a {type(text).__name__} instead of answer text")
    return texts


def evaluate(
    answerer: TextAnswerer, config: EvalConfig, progress: bool = True, items: list[EvalItem] | None = None
) -> EvalReport:
    """Ask `answerer` every selected item in batches, score the answers, write the report if asked.

    `items`: the dataset's items when the caller has already loaded (and so checked) them."""
    from tqdm import tqdm

    if items is None:
        items = load_eval_items(config.data_dir, config.limit, config.categories)
    name = getattr(answerer, "name", type(answerer).__name__)
    report = EvalReport(source=str(name))
    with tqdm(total=len(items), desc=f"eval {name}", unit="item", disable=not progress) as bar:
        for batch in _batches(items, config.batch_size):
            questions = [load_visual_question(item) for item in batch]
            texts = _checked_texts(answerer.answer_texts(questions), len(batch), str(name))
            report.results.extend(score_answer(item, text, config) for item, text in zip(batch, texts))
            bar.update(len(batch))
    if config.output_json is not None:
        write_report(report, config.output_json)
    return report


AnswererFactory = Callable[[], TextAnswerer]  # picklable (e.g. functools.partial): builds one in each worker
_worker_answerer: TextAnswerer | None = None  # the answerer of this worker process


def _start_worker(factory: AnswererFactory) -> None:
    global _worker_answerer
    _worker_answerer = factory()


def _answer_batch(batch: list[EvalItem]) -> list[str]:
    """In a worker: one batch's texts from this process's answerer."""
    assert _worker_answerer is not None, "worker started without an answerer"
    name = str(getattr(_worker_answerer, "name", type(_worker_answerer).__name__))
    texts = _worker_answerer.answer_texts([load_visual_question(item) for item in batch])
    return _checked_texts(texts, len(batch), name)


def evaluate_parallel(
    factory: AnswererFactory, name: str, config: EvalConfig, progress: bool = True, items: list[EvalItem] | None = None
) -> EvalReport:
    """`evaluate` in `config.workers` processes, each answering with its own `factory()`; batches go out in
    dataset order and are scored in it, so the report matches one process's."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm

    if items is None:
        items = load_eval_items(config.data_dir, config.limit, config.categories)
    report = EvalReport(source=name)
    batches = list(_batches(items, config.batch_size))
    context = multiprocessing.get_context("spawn")  # clean workers: no inherited threads, models or contexts
    with (
        ProcessPoolExecutor(config.workers, mp_context=context, initializer=_start_worker, initargs=(factory,)) as pool,
        tqdm(total=len(items), desc=f"eval {name}", unit="item", disable=not progress) as bar,
    ):
        for batch, texts in zip(batches, pool.map(_answer_batch, [list(b) for b in batches])):
            report.results.extend(score_answer(item, text, config) for item, text in zip(batch, texts))
            bar.update(len(batch))
    if config.output_json is not None:
        write_report(report, config.output_json)
    return report


def _prediction_text(entry: dict[str, Any], where: str) -> str:
    """The model text: "answer" (the official key), else "response"; missing means empty."""
    value = entry.get("answer")
    if value is None:
        value = entry.get("response", "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise EvalDataError(f"{where}: the answer must be a string, got {type(value).__name__}")
    return value


@dataclass
class Predictions:
    """A predictions file: model text by (question, img), and the line numbers lacking either key."""

    texts: dict[tuple[str, str], str]
    malformed_lines: list[int]


def read_predictions(path: Path) -> Predictions:
    """{(question, img): model text} from a JSONL file (a later line wins), and the lines lacking either
    key (the official scorer skips them silently; we report them)."""
    texts: dict[tuple[str, str], str] = {}
    malformed: list[int] = []
    for where, entry in read_jsonl(path, EvalDataError, "predictions file"):
        if not isinstance(entry, dict):
            raise EvalDataError(f"{where} must be a JSON object, got {type(entry).__name__}")
        question, img = entry.get("question"), entry.get("img")
        if isinstance(question, str) and question and isinstance(img, str) and img:
            texts[(question, img)] = _prediction_text(entry, where)
        else:
            malformed.append(_line_number(where))
    return Predictions(texts, malformed)


def _line_number(where: str) -> int:
    """N of read_jsonl's "PATH line N"."""
    tail = where.rsplit(" line ", 1)[-1]
    return int(tail) if tail.isdigit() else -1


def score_predictions(predictions_jsonl: Path, config: EvalConfig) -> EvalReport:
    """Score pre-generated answers (JSONL of {"question", "img", "answer" | "response"}) against
    DIR/annotations.json; ground-truth items without a prediction are counted as unmatched, predictions
    naming no item of the dataset as unused, and lines lacking a question or img as malformed."""
    predictions = read_predictions(predictions_jsonl)
    items = load_eval_items(config.data_dir, config.limit, config.categories, require_images=False)
    report = EvalReport(source=str(predictions_jsonl), malformed_lines=predictions.malformed_lines)
    for item in items:
        text = predictions.texts.get((item.question, item.img))
        if text is None:
            report.unmatched += 1
            continue
        report.results.append(score_answer(item, text, config))
    known = {(r.get("question"), r.get("img")) for r in dataset_records(config.data_dir)}
    report.unused_predictions = [key for key in predictions.texts if key not in known]
    if config.output_json is not None:
        write_report(report, config.output_json)
    return report


class GeometricAnswerer:
    """A TextAnswerer that answers from each item's 3D scene with the geometric reasoner (no weights).

    Needs the per-item 'scene' files our generator writes; the official benchmark has none.
    A question the reasoner cannot answer (unknown object, unsupported phrasing) gets an empty
    answer, which scores wrong and counts as ill-formed.
    """

    name = "geometric"

    def __init__(self, config: SpatialConfig | None = None):
        from robospatial_ros.core.reasoning.reasoner import (
            GeometricReasoner,  # lazily: the spatial core is not needed to score
        )

        self.reasoner = GeometricReasoner(config)

    def answer_texts(self, questions: Sequence[VisualQuestion]) -> list[str]:
        texts = []
        for question in questions:
            if question.scene is None:
                raise MissingSceneError(
                    "the geometric backend needs a 3D scene per item (the 'scene' key); "
                    "this dataset has none: use --backend hf/openai"
                )
            try:
                texts.append(self.reasoner.ask(question.scene, question.question).text)
            except RoboSpatialError as exc:
                log.warning("geometric backend cannot answer item %s: %s", question.metadata.get("index"), exc)
                texts.append("")
        return texts
