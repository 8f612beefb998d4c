"""Verifiable rewards for GRPO, as trl reward functions: `f(completions, **sample_columns) -> list[float | None]`.

`completions` are what trl passes: plain strings, or (conversational prompts) lists of messages
whose assistant content is the generated text. Sample columns come from the dataset (see
`data.grpo_dataset`): `answer` (the ground-truth text), `kind`, `metadata`, and `task` / `choices`,
which our rewards do not need but a reward of your own may.
A reward that does not apply to a sample (a yes/no reward on a points question) returns None
for it; trl ignores None in the weighted sum, so several task-specific rewards can share one run.

- `yes_no_reward`: 1 when the answer starts with the right yes/no (the official binary rule), else 0.
- `point_in_region_reward`: the fraction of the predicted points that the geometric core accepts:
  each normalized image point is lifted to the reference object's support plane and checked with
  `backends.check_points` (free cell, not on the reference, on the asked side in the asked frame, and
  within the context region's `context_threshold_m` of the reference, as the generated regions are).
  Needs the sample's metadata {"scene": RoboSpatial scene dict, "query": {type, frame, relation,
  reference, object}, optional "spatial_config": SpatialConfig keys} (what `robospatial datagen` writes).
- `choice_reward`: exact match of the answer text (case, surrounding quotes/punctuation and spaces
  around commas ignored) for SAT / SSRL multiple choice and ordering answers.
- `format_reward`: 1 for exactly `<think>...</think><answer>...</answer>` (whitespace around allowed).
- `accuracy_reward`: routes each sample to the right one of the three above: context questions with a scene
  in their metadata to point-in-region, yes/no truths of RoboSpatial kinds to yes/no, the rest to choice.

Answers are read from inside `<answer>...</answer>` when present (`parsing.extract_answer`).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from robospatial_ros.core.errors import RoboSpatialError
from robospatial_ros.core.language.parsing import (
    ParseError,
    PointConvention,
    extract_answer,
    parse_points,
    parse_yes_no,
)
from robospatial_ros.learn.train.config import GRPOSettings, TrainDataError

Reward = float | None
RewardFunc = Callable[..., list[Reward]]
_FORMAT = re.compile(r"\s*<think>.*?</think>\s*<answer>.*?</answer>\s*", re.S)
_EDGE_NOISE = "\"'`.!。 \t\n"


def completion_text(completion: Any) -> str:
    """The generated text of one trl completion (a string, or a list of assistant messages)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    texts = []
    for message in completion or []:
        content = message.get("content", "") if isinstance(message, dict) else message
        if isinstance(content, list):
            content = "".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
        texts.append(str(content))
    return "".join(texts)


def _column(values: Sequence[Any] | None, n: int, default: Any = None) -> list[Any]:
    """A sample column as a list of n values (absent columns become defaults)."""
    if values is None:
        return [default] * n
    values = list(values)
    if len(values) != n:
        raise TrainDataError(f"a reward got {n} completions but {len(values)} values of a sample column")
    return values


def yes_no_reward(completions: Sequence[Any], answer: Sequence[str] | None = None, **_: Any) -> list[Reward]:
    """1.0 when the (extracted) answer starts with the ground truth's yes/no, 0.0 when not; None when the
    ground truth is not a yes/no answer."""
    out: list[Reward] = []
    for completion, truth in zip(completions, _column(answer, len(completions))):
        expected = parse_yes_no(str(truth or ""))
        if expected is None:
            out.append(None)
            continue
        out.append(1.0 if parse_yes_no(completion_text(completion)) is expected else 0.0)
    return out


def normalize_choice(text: str) -> str:
    """Case-folded, whitespace-collapsed, no surrounding quotes/periods, no spaces around commas."""
    text = " ".join(str(text).split()).strip(_EDGE_NOISE).casefold()
    return re.sub(r"\s*,\s*", ",", text)


def choice_reward(completions: Sequence[Any], answer: Sequence[str] | None = None, **_: Any) -> list[Reward]:
    """1.0 for an exact (normalized) match of the extracted answer with the ground truth, else 0.0."""
    out: list[Reward] = []
    for completion, truth in zip(completions, _column(answer, len(completions))):
        if truth is None or not str(truth).strip():
            out.append(None)
            continue
        given = normalize_choice(extract_answer(completion_text(completion)))
        out.append(1.0 if given == normalize_choice(truth) else 0.0)
    return out


def format_reward(completions: Sequence[Any], **_: Any) -> list[Reward]:
    """1.0 for `<think>...</think><answer>...</answer>` and nothing else, else 0.0."""
    return [1.0 if _FORMAT.fullmatch(completion_text(c)) else 0.0 for c in completions]


# --- point in region ------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _parse_metadata(text: str) -> dict[str, Any]:
    """One parse per distinct metadata string: a GRPO group's completions share their sample's."""
    try:
        value = json.loads(text) if text else {}
    except json.JSONDecodeError:
        raise TrainDataError(f"sample metadata is not valid JSON: {text[:60]!r}") from None
    return value if isinstance(value, dict) else {}


def _metadata(value: Any) -> dict[str, Any]:
    """The metadata column's value as a dict (the dataset holds sorted JSON text); read-only."""
    if isinstance(value, str):
        return _parse_metadata(value)
    return value if isinstance(value, dict) else {}


def is_context_sample(metadata: Any) -> bool:
    meta = _metadata(metadata)
    query = meta.get("query")
    return isinstance(query, dict) and query.get("type") == "context" and isinstance(meta.get("scene"), dict)


class RegionChecker:
    """The core's verdict on image points for one context query (scene prepared once)."""

    def __init__(self, metadata: dict[str, Any], spatial: Any = None):
        from robospatial_ros.core.configio import from_mapping
        from robospatial_ros.core.language.questions import Query
        from robospatial_ros.core.scene import scene_from_dict
        from robospatial_ros.core.spatial.config import SpatialConfig
        from robospatial_ros.core.spatial.types import Frame, QueryType, Relation
        from robospatial_ros.core.spatial.view import SceneView

        q = metadata["query"]
        try:
            self.query = Query(
                QueryType(q["type"]), Frame(q["frame"]), Relation(q["relation"]), str(q["reference"]), q.get("object")
            )
        except (KeyError, ValueError) as exc:
            raise TrainDataError(f"sample metadata query {q!r} is not a valid query: {exc}") from None
        config = spatial or SpatialConfig()
        generator = metadata.get("spatial_config")
        if isinstance(generator, dict):  # the settings the generator answered with win over `spatial`
            from robospatial_ros.core.configio import to_mapping

            config = from_mapping(SpatialConfig, {**to_mapping(config), **generator}, "metadata spatial_config")
        self.view = SceneView(scene_from_dict(metadata["scene"]), config).prepare()
        self.reference = self.view.scene.get(self.query.reference)

    def accepted(self, points_2d: np.ndarray) -> np.ndarray:
        """(N,) bool for (N, 2) normalized image points: lifted to the support plane and accepted by the core."""
        from robospatial_ros.core.reasoning.backends import check_points
        from robospatial_ros.core.reasoning.vlm.lifting import LiftError, lift_for_reference

        try:
            lifted = lift_for_reference(points_2d, self.view, self.reference)
        except LiftError:
            return np.zeros(len(points_2d), bool)
        ok = np.zeros(len(points_2d), bool)
        if lifted.valid.any():
            verdict = check_points(self.view, self.query, lifted.points_3d[lifted.valid])  # (M, 3) world, metres
            ok[lifted.valid] = verdict.ok
        return ok


@functools.lru_cache(maxsize=256)
def _checker(metadata_json: str, spatial: Any) -> RegionChecker:
    """One checker per (sample, config): the group's completions share its prepared scene."""
    return RegionChecker(_parse_metadata(metadata_json), spatial)


def point_in_region_reward(
    completions: Sequence[Any],
    metadata: Sequence[Any] | None = None,
    spatial: Any = None,
    point_convention: str = "normalized",
    **_: Any,
) -> list[Reward]:
    """Fraction of the answer's points the core accepts (0.0 for no parsable point); None for samples that
    are not context questions with a scene. `spatial` is a SpatialConfig (default: the core's)."""
    out: list[Reward] = []
    convention = PointConvention(point_convention)
    for completion, raw in zip(completions, _column(metadata, len(completions))):
        meta = _metadata(raw)
        if not is_context_sample(meta):
            out.append(None)
            continue
        try:
            points = parse_points(completion_text(completion), convention)  # (N, 2) normalized x, y
        except ParseError:
            out.append(0.0)
            continue
        try:
            key = raw if isinstance(raw, str) else json.dumps(meta, sort_keys=True)  # the dataset's text as is
            checker = _checker(key, spatial)
        except RoboSpatialError as exc:
            raise TrainDataError(f"cannot check points for a context sample: {exc}") from None
        out.append(float(checker.accepted(points).mean()))
    return out


# --- routing and combination ----------------------------------------------------------------------------


def accuracy_reward(
    completions: Sequence[Any],
    answer: Sequence[str] | None = None,
    kind: Sequence[str] | None = None,
    metadata: Sequence[Any] | None = None,
    spatial: Any = None,
    point_convention: str = "normalized",
    **_: Any,
) -> list[Reward]:
    """Per sample: point_in_region for context questions with a scene, yes_no for yes/no ground truths of
    RoboSpatial items, choice (exact match) for everything else (SAT, SSRL, other RoboSpatial answers)."""
    n = len(completions)
    answers, kinds, metas = _column(answer, n), _column(kind, n, ""), _column(metadata, n)
    out: list[Reward] = []
    for completion, truth, k, meta in zip(completions, answers, kinds, metas):
        if is_context_sample(meta):
            out += point_in_region_reward([completion], [meta], spatial, point_convention)
        elif parse_yes_no(str(truth or "")) is not None and k in ("robospatial", ""):
            out += yes_no_reward([completion], [truth])
        else:
            out += choice_reward([completion], [truth])
    return out


REWARDS: dict[str, RewardFunc] = {
    "accuracy": accuracy_reward,
    "yes_no": yes_no_reward,
    "point_in_region": point_in_region_reward,
    "choice": choice_reward,
    "format": format_reward,
}


def _bound(func: RewardFunc, **fixed: Any) -> RewardFunc:
    """`func` with keyword arguments fixed, keeping its __name__ (trl logs rewards by name)."""

    @functools.wraps(func)
    def reward(completions: Sequence[Any], **columns: Any) -> list[Reward]:
        return func(completions, **{**columns, **fixed})

    return reward


def reward_functions(settings: GRPOSettings, spatial: Any = None) -> tuple[list[RewardFunc], list[float]]:
    """The configured reward functions (spatial settings bound where they matter) and their weights."""
    funcs = []
    for name in settings.rewards:
        func = REWARDS[name]
        if name in ("accuracy", "point_in_region"):
            func = _bound(func, spatial=spatial, point_convention=settings.point_convention)
        funcs.append(func)
    return funcs, [float(w) for w in settings.reward_weights]
