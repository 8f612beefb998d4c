"""Every RoboSpatial question a scene supports, answered: the generator's rules, our semantics.

- pairs: ordered pairs of objects whose category appears once in the scene;
- configuration, per frame and axis (left/right, in front/behind, above/below): one Yes for
  the relation that holds and one No for its opposite; nothing when neither holds;
- compatibility: one question per frame and direction ('on top' in the world frame); the object
  to place is never a support (the table others stand on is not a movable target) unless
  `movable_supports` (the reference generator asks about every pair);
- context: per unique object, frame and direction, the visible free points; dropped when
  fewer than `MIN_CONTEXT_POINTS`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from itertools import permutations

from robospatial_ros.core.language.questions import Query
from robospatial_ros.core.language.templates import template_question
from robospatial_ros.core.reasoning.reasoner import Answer, GeometricReasoner
from robospatial_ros.core.scene import SceneObject
from robospatial_ros.core.spatial.configuration import configuration
from robospatial_ros.core.spatial.types import (
    COMPATIBILITY_RELATIONS,
    CONTEXT_RELATIONS,
    Frame,
    QueryType,
    Relation,
)
from robospatial_ros.core.spatial.view import SceneView

MIN_CONTEXT_POINTS = 3
FRAMES = (Frame.EGO, Frame.WORLD, Frame.OBJECT)
AXES = ((Relation.LEFT, Relation.RIGHT), (Relation.IN_FRONT, Relation.BEHIND), (Relation.ABOVE, Relation.BELOW))


@dataclass(frozen=True)
class QAItem:
    question: str  # the generator's template wording
    answer: Answer

    @property
    def text(self) -> str:
        return self.answer.text


def unique_objects(view: SceneView) -> list[SceneObject]:
    """Objects whose category appears exactly once (the generator's default pairing mode)."""
    counts = Counter(o.category for o in view.scene.objects)
    return [o for o in view.scene.objects if counts[o.category] == 1]


def _query(kind: QueryType, frame: Frame, rel: Relation, b: SceneObject, a: SceneObject | None) -> Query:
    text = template_question(kind, frame, rel, b.name, None if a is None else a.name)
    return Query(kind, frame, rel, b.name, None if a is None else a.name, text)


def _configuration(
    view: SceneView, reasoner: GeometricReasoner, a: SceneObject, b: SceneObject, frames: tuple[Frame, ...]
) -> Iterator[QAItem]:
    for frame in frames:
        holds = configuration(view, a, b, frame)
        for first, second in AXES:
            true_rel = first if first in holds else second if second in holds else None
            if true_rel is None:
                continue
            for rel in (true_rel, true_rel.opposite):  # one Yes, then its opposite's No
                q = _query(QueryType.CONFIGURATION, frame, rel, b, a)
                yield QAItem(q.text, reasoner.answer(view, q))


def _compatibility(
    view: SceneView, reasoner: GeometricReasoner, a: SceneObject, b: SceneObject, frames: tuple[Frame, ...]
) -> Iterator[QAItem]:
    for frame in frames:
        for rel in COMPATIBILITY_RELATIONS[frame]:
            q = _query(QueryType.COMPATIBILITY, frame, rel, b, a)
            yield QAItem(q.text, reasoner.answer(view, q))


def _context(
    view: SceneView, reasoner: GeometricReasoner, b: SceneObject, frames: tuple[Frame, ...]
) -> Iterator[QAItem]:
    for frame in frames:
        for rel in CONTEXT_RELATIONS:
            q = _query(QueryType.CONTEXT, frame, rel, b, None)
            answer = reasoner.answer(view, q)
            if len(answer.points_2d) >= MIN_CONTEXT_POINTS:
                yield QAItem(q.text, answer)


def supports(view: SceneView) -> frozenset[str]:
    """Names of the objects something in the scene stands on (`SceneView.support_of`)."""
    found = (view.support_of(o) for o in view.scene.objects)
    return frozenset(o.name for o in found if o is not None)


def scene_questions(
    view: SceneView,
    reasoner: GeometricReasoner | None = None,
    types: Collection[QueryType] | None = None,
    frames: Collection[Frame] | None = None,
    references: Collection[str] | None = None,
    movable_supports: bool = False,
) -> list[QAItem]:
    """All configuration, compatibility and context questions of a scene, answered.

    `types` / `frames`: only these (default all); the others are never computed. `references`: only
    questions about these reference objects (B), in the same order (a scene's questions split by
    reference for parallel work). `movable_supports`: also ask whether a support fits somewhere.
    """
    reasoner = reasoner or GeometricReasoner(view.config)
    wanted = set(QueryType) if types is None else {QueryType(t) for t in types}
    chosen = set(FRAMES) if frames is None else {Frame(f) for f in frames}
    objects = unique_objects(view)
    asked = None if references is None else set(references)
    fixed = frozenset() if movable_supports else supports(view)
    items: list[QAItem] = []
    config_frames = tuple(f for f in FRAMES if f in chosen)
    # Compatibility and context keep their own frame order (object, ego, world), as before.
    other_frames = tuple(f for f in (Frame.OBJECT, Frame.EGO, Frame.WORLD) if f in chosen)
    for a, b in permutations(objects, 2):
        if asked is not None and b.name not in asked:
            continue
        if QueryType.CONFIGURATION in wanted:
            items += _configuration(view, reasoner, a, b, config_frames)
        if QueryType.COMPATIBILITY in wanted and a.name not in fixed:
            items += _compatibility(view, reasoner, a, b, other_frames)
    if QueryType.CONTEXT in wanted:
        for b in objects:
            if asked is None or b.name in asked:
                items += _context(view, reasoner, b, other_frames)
    return items
