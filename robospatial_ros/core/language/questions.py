"""Parse RoboSpatial questions into structured queries.

Accepted, case-insensitively:
- the reference generator's templates verbatim, odd grammar included
  ("Is the A behind of the B from the world's perspective? Final answer should be yes or no.",
  "Can the A fit right the B ...", "In the image, there is the B. Pinpoint several points
  within the vacant space situated left of the B from the object's perspective. Your final ...");
- RoboSpatial-Home wording ("... Answer yes or no.");
- plain phrasings: "is the mug to the left of the bowl?", "can the mug fit behind the bowl",
  "free space in front of the bowl", with "from the robot's perspective", "in the camera frame",
  "from the bowl's perspective" and the like. No frame phrase means ego (the camera).

Object names are matched against the scene's names (verbatim, then case/punctuation
insensitive), which is also how a name containing a relation word is split correctly.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

from robospatial_ros.core.errors import QuestionError, RoboSpatialError
from robospatial_ros.core.scene import resolve_name
from robospatial_ros.core.spatial.types import Frame, QueryType, Relation

E = TypeVar("E", bound=Enum)

# Resource guards (issue 16): a question or command longer than this is refused before any parsing.
MAX_TEXT_CHARS = 2000
# The most relation phrases tried as the A|B boundary of one text. Each try resolves both sides, O(length)
# each, so the cap keeps parsing linear in the text's length; real names hold a relation word or two.
MAX_SPLITS = 16
# A frame phrase ('from the <who>'s perspective', its <who> at most 200 characters in _FRAME) lies within
# the last _FRAME_WINDOW characters of a text: only those are matched against _FRAME.
_FRAME_WINDOW = 300


@dataclass(frozen=True)
class Query:
    """One structured question. `target` is A (None for context), `reference` is B."""

    type: QueryType
    frame: Frame
    relation: Relation
    reference: str
    target: str | None = None
    text: str = ""
    frame_given: bool = True


_INSTRUCTIONS = [
    # The generator's "Your final answer should be ..." and RoboSpatial-Home's "Your answer should be ...".
    re.compile(r"\s*(?:your\s+)?(?:final\s+)?answer should be\b.*$", re.I | re.S),
    re.compile(
        r"\s*(?:please\s+)?(?:answer|respond|reply)\s+(?:with\s+)?[\"']?yes[\"']?\s+or\s+[\"']?no[\"']?.*$", re.I | re.S
    ),
]
# Greedy body: the last "from/in ..." phrase at the end is the frame (matched from a position: no `^`).
_FRAME = re.compile(
    r"(?P<body>.*)[\s,]+(?:from|in|relative to|with respect to|in terms of)\s+(?:the\s+)?(?P<who>[^,?]{1,200}?)"
    r"(?:'s|’s|s')?\s+(?:perspective|point of view|viewpoint|view|frame(?: of reference)?|coordinate frame)"
    r"\s*[.?!]*\s*$",
    re.I | re.S,
)
_FRAME_WORDS = {
    Frame.EGO: {"camera", "viewer", "image", "my", "your", "ego", "egocentric", "ego-centric", "observer"},
    Frame.WORLD: {"world", "robot", "robot base", "base", "table", "global", "allocentric", "world-centric"},
    Frame.OBJECT: {"object", "second object", "reference object", "other object", "object-centric"},
}
_SIDE = r"(?P<rel>left|right|in\s+front|front|behind|back|above|below|under(?:neath)?|beneath|on\s+top|over)"
# A relation phrase between two names: "left of", "to the left of", "behind", "behind of", ...
_REL_BETWEEN = re.compile(
    r"\s+(?:(?:located|positioned|placed|situated|standing|lying)\s+)?(?:(?:to|on|at|in)\s+the\s+)?"
    + _SIDE
    + r"(?:\s+(?:hand\s+)?side)?(?:\s+of)?\s+(?:the\s+)?",
    re.I,
)
_REL_WORDS = {
    "left": Relation.LEFT,
    "right": Relation.RIGHT,
    "in front": Relation.IN_FRONT,
    "front": Relation.IN_FRONT,
    "behind": Relation.BEHIND,
    "back": Relation.BEHIND,
    "above": Relation.ABOVE,
    "over": Relation.ABOVE,
    "on top": Relation.ABOVE,
    "below": Relation.BELOW,
    "under": Relation.BELOW,
    "underneath": Relation.BELOW,
    "beneath": Relation.BELOW,
}
_CONTEXT_TEMPLATE = re.compile(
    r"^in the image, there is (?:the|a|an) .+?\.\s+"
    r"pinpoint several points within the vacant space situated\s+(?P<rest>.+)$",
    re.I | re.S,
)
_CONTEXT_CUE = re.compile(
    r"\b(?:points?|spots?|places?|locations?|positions?|pixels?|vacant|free|empty|open|where)\b", re.I
)
_CONFIG_START = re.compile(r"^(?:is|are|was)\s+(?:the\s+)?", re.I)
_COMPAT_START = re.compile(r"^(?:can|could|would|will|does|do)\s+(?:the\s+)?", re.I)
# "Is there room for the mug left of the bowl?" asks compatibility without the word "fit".
_ROOM_START = re.compile(r"^is there (?:enough\s+)?(?:room|space) for\s+(?:the\s+)?", re.I)


def _clean(text: str) -> str:
    t = re.sub(r"<image>", " ", text, flags=re.I)
    t = re.sub(r"\s+", " ", t).strip()
    for pattern in _INSTRUCTIONS:
        t = pattern.sub("", t)
    return t.strip().rstrip("?").strip()


def check_length(text: str, what: str = "question", max_chars: int = MAX_TEXT_CHARS) -> None:
    """QuestionError when `text` is longer than `max_chars`: refused before any parsing work."""
    if len(text) > max_chars:
        raise QuestionError(f"the {what} is {len(text)} characters long; at most {max_chars} are accepted")


def split_frame_phrase(body: str) -> tuple[str, str | None]:
    """('is the mug left of the bowl', 'robot') from '... from the robot's perspective'.

    Only the text's tail is matched: the greedy body of _FRAME backtracks from the end, and each
    try scans a `who`, so matching the whole text would cost its length squared.
    """
    cut = max(len(body) - _FRAME_WINDOW, 0)
    match = _FRAME.match(body, cut)
    if match is None:
        return body.strip(), None
    return (body[:cut] + match.group("body")).strip(), match.group("who").strip().lower()


def frame_from_phrase(who: str | None, reference_candidates: list[str], known: list[str]) -> Frame | None:
    """The frame a 'from the <who>'s perspective' phrase names; None when there was none."""
    if who is None:
        return None
    who = re.sub(r"^(?:the|a|an)\s+", "", who)
    # "from the bowl's perspective": the reference object's own frame; checked first, so a
    # reference called "table" or "robot" still means its own frame.
    if reference_candidates:
        try:  # resolved once, whatever the number of candidates
            if resolve_name(who, known) in reference_candidates:
                return Frame.OBJECT
        except RoboSpatialError:
            pass
    for frame, words in _FRAME_WORDS.items():
        if who in words:
            return frame
    raise QuestionError(f"unknown frame phrase 'from the {who}'s perspective'; use camera, world or object")


def _relation(word: str) -> Relation:
    return _REL_WORDS[re.sub(r"\s+", " ", word.lower())]


def _names(a_text: str | None, b_text: str, known: list[str]) -> tuple[str | None, str]:
    b = resolve_name(b_text, known)
    a = resolve_name(a_text, known) if a_text is not None else None
    return a, b


def _relation_phrases(text: str) -> Iterator[re.Match[str]]:
    """Every relation phrase in `text`, leftmost first, overlapping ones included (lazily: callers
    stop after MAX_SPLITS).

    `finditer` would skip a phrase whose leading space the previous match consumed, so
    "is the car front left of the bowl" (object "car front") could never split at "left".
    """
    starts = (i for i, ch in enumerate(text) if ch.isspace() and (i == 0 or not text[i - 1].isspace()))
    return (m for m in (_REL_BETWEEN.match(text, i) for i in starts) if m is not None)


def _try_splits(rest: str, known: list[str], with_target: bool) -> tuple[str | None, str, Relation]:
    """Try every relation phrase in `rest` as the A|B boundary; first split naming known objects wins."""
    errors: list[RoboSpatialError] = []
    text = " " + rest
    for m in itertools.islice(_relation_phrases(text), MAX_SPLITS):
        a_text = text[: m.start()].strip() if with_target else None
        b_text = text[m.end() :].strip()
        if (with_target and not a_text) or not b_text:
            continue
        try:
            a, b = _names(a_text, b_text, known)
            return a, b, _relation(m.group("rel"))
        except RoboSpatialError as exc:
            errors.append(exc)
    if errors:
        raise errors[0]
    raise QuestionError(f"no spatial relation (left, right, in front, behind, above, below) found in: {rest!r}")


def _parse_compatibility(rest: str, known: list[str]) -> tuple[str | None, str, Relation]:
    errors: list[RoboSpatialError] = []
    # A name rarely holds "fit": a few tries, each trying up to MAX_SPLITS relation phrases.
    for m in itertools.islice(re.finditer(r"\s+fit\s+(?:it\s+)?", rest, re.I), 4):
        a_text, after = rest[: m.start()].strip(), rest[m.end() :]
        on = re.match(r"^(?:on\s+top(?:\s+of)?|onto|on|upon)\s+(?:the\s+)?(?P<b>.+)$", after, re.I)
        try:
            if on:
                a, b = _names(a_text, on.group("b"), known)
                return a, b, Relation.ON_TOP
            return _try_splits_after(a_text, after, known)
        except RoboSpatialError as exc:
            errors.append(exc)
    if errors:
        raise errors[0]
    raise QuestionError("a compatibility question needs 'fit': 'can the A fit left of the B?'")


def _parse_room(rest: str, known: list[str]) -> tuple[str | None, str, Relation]:
    """'mug on the plate' / 'mug left of the bowl' (after 'is there room for the')."""
    ons = re.finditer(r"\s+(?:on\s+top\s+of|onto|on)\s+(?:the\s+)?", rest, re.I)
    for m in itertools.islice(ons, MAX_SPLITS):
        try:
            a, b = _names(rest[: m.start()], rest[m.end() :], known)
            return a, b, Relation.ON_TOP
        except RoboSpatialError:
            continue
    a, b, rel = _try_splits(rest, known, with_target=True)
    if rel in (Relation.ABOVE, Relation.BELOW):
        raise QuestionError("compatibility asks left, right, in front, behind or on top")
    return a, b, rel


def _try_splits_after(a_text: str, after: str, known: list[str]) -> tuple[str | None, str, Relation]:
    a, b, rel = _try_splits("x " + after, known, with_target=False)
    a = resolve_name(a_text, known)
    if rel in (Relation.ABOVE, Relation.BELOW):
        raise QuestionError("compatibility asks left, right, in front, behind or on top")
    return a, b, rel


def parse_question(
    text: str,
    known: list[str],
    query_type: QueryType | str | None = None,
    frame: Frame | str | None = None,
    max_chars: int = MAX_TEXT_CHARS,
) -> Query:
    """Parse `text` against the scene's object names. Raises a RoboSpatialError subclass.

    Linear in the text's length (MAX_SPLITS); longer than `max_chars` is refused up front."""
    if not isinstance(text, str) or not text.strip():
        raise QuestionError("empty question")
    check_length(text, "question", max_chars)
    forced_kind = _member(QueryType, query_type, "query type")
    forced_frame = _member(Frame, frame, "frame")
    body, who = split_frame_phrase(_clean(text))
    kind = forced_kind or _guess_type(body)
    if kind is QueryType.CONTEXT:
        template = _CONTEXT_TEMPLATE.match(body)
        rest = template.group("rest") if template else body
        a, b, rel = _try_splits("x " + rest if template else rest, known, with_target=False)
        if rel not in (Relation.LEFT, Relation.RIGHT, Relation.IN_FRONT, Relation.BEHIND):
            raise QuestionError("context asks for free space left, right, in front of or behind an object")
    elif kind is QueryType.COMPATIBILITY and _ROOM_START.match(body):
        a, b, rel = _parse_room(_ROOM_START.sub("", body, count=1), known)
    elif kind is QueryType.COMPATIBILITY:
        a, b, rel = _parse_compatibility(_COMPAT_START.sub("", body, count=1), known)
    else:
        a, b, rel = _try_splits(_CONFIG_START.sub("", body, count=1), known, with_target=True)
    parsed_frame = forced_frame or frame_from_phrase(who, [b], known)
    if rel is Relation.ON_TOP and parsed_frame not in (None, Frame.WORLD):
        raise QuestionError("'fit on top' is defined in the world frame only")
    if rel is Relation.ON_TOP:
        parsed_frame = Frame.WORLD
    return Query(kind, parsed_frame or Frame.EGO, rel, b, a, text, frame_given=parsed_frame is not None)


def _member(enum: type[E], value: E | str | None, what: str) -> E | None:
    """`value` as a member of `enum` (None when not given); QuestionError when it names none."""
    if not value:
        return None
    try:
        return enum(value)
    except ValueError:
        raise QuestionError(f"unknown {what} {value!r}; use one of {', '.join(m.value for m in enum)}") from None


def _guess_type(body: str) -> QueryType:
    if _CONTEXT_TEMPLATE.match(body):
        return QueryType.CONTEXT
    if (_COMPAT_START.match(body) and re.search(r"\bfit\b", body, re.I)) or _ROOM_START.match(body):
        return QueryType.COMPATIBILITY
    if _CONFIG_START.match(body):
        return QueryType.CONFIGURATION
    if _CONTEXT_CUE.search(body):
        return QueryType.CONTEXT
    raise QuestionError(
        "unsupported question; ask e.g. 'is the mug left of the bowl?', 'can the mug fit behind the bowl?' "
        "or 'points in the free space in front of the bowl'"
    )
