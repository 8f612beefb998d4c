"""Placement commands: "put the mug to the left of the bowl" -> what to move, where, in which frame.

Verbs: put, place, move, set, stack, drop, bring (optionally "please", "can you").
Relations: left of, right of, in front of, behind, on / on top of / onto. Frames as in
questions ("from the robot's perspective", "in the camera frame"); none given means ego.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from robospatial_ros.core.errors import QuestionError, RoboSpatialError
from robospatial_ros.core.language.questions import (
    MAX_SPLITS,
    MAX_TEXT_CHARS,
    Query,
    check_length,
    frame_from_phrase,
    split_frame_phrase,
)
from robospatial_ros.core.language.templates import template_question
from robospatial_ros.core.scene import resolve_name
from robospatial_ros.core.spatial.types import Frame, QueryType, Relation


class CommandError(QuestionError):
    """A command could not be understood."""


@dataclass(frozen=True)
class PlacementCommand:
    target: str  # the object to move (scene name)
    reference: str  # the object it goes next to / onto (scene name)
    relation: Relation  # LEFT, RIGHT, IN_FRONT, BEHIND or ON_TOP
    frame: Frame
    text: str = ""
    frame_given: bool = True

    def check_query(self) -> Query:
        """The configuration question that must be answered Yes once the command is done."""
        relation = Relation.ABOVE if self.relation is Relation.ON_TOP else self.relation
        text = template_question(QueryType.CONFIGURATION, self.frame, relation, self.reference, self.target)
        return Query(QueryType.CONFIGURATION, self.frame, relation, self.reference, self.target, text)


_VERBS = r"^(?:(?:please|can you|could you|would you|robot,?)\s+)*(?:put|place|move|set|stack|drop|bring|position)"
_VERB = re.compile(_VERBS + r"\s+(?:the\s+)?", re.I)
# Text that starts like a command: a failure to parse it is reported as a command gone wrong.
COMMAND_START = re.compile(_VERBS + r"\b", re.I)
_WHERE = re.compile(
    r"\s+(?:(?:to|on|at)\s+the\s+)?(?P<rel>left|right|in\s+front|behind|on\s+top|onto|on|upon)"
    r"(?:\s+(?:hand\s+)?side)?(?:\s+of)?\s+(?:the\s+)?",
    re.I,
)
_RELATIONS = {
    "left": Relation.LEFT,
    "right": Relation.RIGHT,
    "in front": Relation.IN_FRONT,
    "behind": Relation.BEHIND,
    "on top": Relation.ON_TOP,
    "onto": Relation.ON_TOP,
    "on": Relation.ON_TOP,
    "upon": Relation.ON_TOP,
}


def parse_command(text: str, known: list[str], max_chars: int = MAX_TEXT_CHARS) -> PlacementCommand:
    """Parse a placement command against the scene's object names; CommandError / UnknownObjectError.

    Linear in the text's length (MAX_SPLITS); longer than `max_chars` is refused up front."""
    if not isinstance(text, str) or not text.strip():
        raise CommandError("empty command")
    check_length(text, "command", max_chars)
    body = re.sub(r"\s+", " ", text).strip().rstrip(".!?").strip()
    body, who = split_frame_phrase(body)
    verb = _VERB.match(body)
    if verb is None:
        raise CommandError(
            f"not a placement command: {text.strip()!r}; try 'put the mug to the left of the bowl' "
            "(put/place/move X left of / right of / in front of / behind / on Y)"
        )
    rest = body[verb.end() :]
    target, reference, relation = _split(rest, known)
    frame = frame_from_phrase(who, [reference], known)
    given = frame is not None
    if relation is Relation.ON_TOP:
        if frame not in (None, Frame.WORLD):
            raise CommandError("'on top of' is defined in the world frame only")
        frame = Frame.WORLD
    if target == reference:
        raise CommandError(f"cannot place the {target} relative to itself")
    return PlacementCommand(target, reference, relation, frame or Frame.EGO, text, frame_given=given)


def _split(rest: str, known: list[str]) -> tuple[str, str, Relation]:
    errors: list[RoboSpatialError] = []
    # Each try resolves both sides (O(length)): a bounded number of tries keeps parsing linear.
    for m in itertools.islice(_WHERE.finditer(rest), MAX_SPLITS):
        try:
            target = resolve_name(rest[: m.start()], known)
            reference = resolve_name(rest[m.end() :], known)
            return target, reference, _RELATIONS[re.sub(r"\s+", " ", m.group("rel").lower())]
        except RoboSpatialError as exc:
            errors.append(exc)
    if errors:
        raise errors[0]
    raise CommandError(f"no placement relation in {rest!r}; say left of, right of, in front of, behind or on")
