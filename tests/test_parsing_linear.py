"""The question and command parsers run in linear time on any input (issue 16).

100 KB of repeated relation phrases took 15-50 s: every relation phrase was tried as the A|B
boundary, each try resolving both sides (O(length) each), and the frame regex backtracked over the
whole text. The budget is asserted through operation counts (name resolutions, regex attempts and
the span the frame regex sees), never wall time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robospatial_ros.core.errors import QuestionError, RoboSpatialError
from robospatial_ros.core.language import commands, questions
from robospatial_ros.core.language.questions import MAX_SPLITS, MAX_TEXT_CHARS

NAMES = ["mug", "bowl", "table", "red cup"]
STARTS = ["is the ", "can the ", "put the ", "points in the free space ", "is there room for the ", ""]
PIECES = [
    "left of the ",
    "to the right of the ",
    "in front of ",
    "behind ",
    "on top of ",
    "on ",
    "fit ",
    "mug ",
    "bowl ",
    "from the robot's perspective ",
    "from the ",
    "robot's ",
    "perspective ",
    ", ",
    ",,, ",
    "the ",
    "x ",
    "? ",
    "in the camera frame ",
]
# Resolutions per parse: the frame phrase's candidates, then up to MAX_SPLITS splits of two names for
# each of at most 4 'fit' tries (compatibility), or the 'on' and relation splits of 'is there room'.
MAX_RESOLUTIONS = 4 * (2 * MAX_SPLITS + 1) + 4


@dataclass
class Counts:
    resolutions: int = 0
    rel_attempts: int = 0
    frame_spans: list[int] = field(default_factory=list)


class _Counting:
    """Wraps a compiled pattern, counting `match` calls (and the span each one sees)."""

    def __init__(self, pattern, on_match):
        self._pattern, self._on_match = pattern, on_match

    def match(self, string, pos=0, *args):
        self._on_match(len(string) - pos)
        return self._pattern.match(string, pos, *args)

    def __getattr__(self, name):
        return getattr(self._pattern, name)


@pytest.fixture
def counts(monkeypatch) -> Counts:
    c = Counts()
    real = questions.resolve_name

    def counted(name, known):
        c.resolutions += 1
        return real(name, known)

    monkeypatch.setattr(questions, "resolve_name", counted)
    monkeypatch.setattr(commands, "resolve_name", counted)
    monkeypatch.setattr(questions, "_REL_BETWEEN", _Counting(questions._REL_BETWEEN, lambda n: _add_attempt(c)))
    monkeypatch.setattr(questions, "_FRAME", _Counting(questions._FRAME, c.frame_spans.append))
    return c


def _add_attempt(c: Counts) -> None:
    c.rel_attempts += 1


def _adversarial(start: str, pieces: list[str], length: int) -> str:
    body = "".join(pieces)
    return start + body * (length // len(body) + 1)


def _parse_all(text: str) -> None:
    for parse in (questions.parse_question, commands.parse_command):
        try:
            parse(text, NAMES, max_chars=len(text))
        except RoboSpatialError:
            pass


# The fixture's counters are reset per example; deadline off: the budget is the counts, not wall time.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    start=st.sampled_from(STARTS),
    pieces=st.lists(st.sampled_from(PIECES), min_size=1, max_size=12),
    length=st.integers(20_000, 100_000),
)
def test_parsing_work_is_bounded_per_character(counts, start, pieces, length):
    counts.resolutions = counts.rel_attempts = 0
    counts.frame_spans.clear()
    text = _adversarial(start, pieces, length)
    _parse_all(text)
    # A bounded number of resolutions (each O(length)), whatever the length: before the fix, two per
    # relation phrase (thousands at 100 KB).
    assert counts.resolutions <= 2 * MAX_RESOLUTIONS
    # Relation regex: one anchored attempt per word start, at most once per split search.
    assert counts.rel_attempts <= 10 * (text.count(" ") + 2)
    # The frame regex sees only the tail, so its backtracking is bounded by a constant.
    assert counts.frame_spans and max(counts.frame_spans) <= questions._FRAME_WINDOW


def test_100kb_of_relation_phrases_resolves_a_bounded_number_of_names(counts):
    text = "is the " + "mug left of the " * 6_250 + "bowl"  # 100 KB
    with pytest.raises(RoboSpatialError):
        questions.parse_question(text, NAMES, max_chars=len(text))
    assert 0 < counts.resolutions <= MAX_RESOLUTIONS
    counts.resolutions = 0
    with pytest.raises(RoboSpatialError):
        commands.parse_command("put the " + "mug left of the " * 6_250 + "bowl", NAMES, max_chars=len(text) + 10)
    assert 0 < counts.resolutions <= MAX_RESOLUTIONS


def test_the_default_limit_refuses_100kb_before_any_resolution(counts):
    text = "is the " + "mug left of the " * 6_250 + "bowl"
    with pytest.raises(QuestionError, match=f"at most {MAX_TEXT_CHARS}"):
        questions.parse_question(text, NAMES)
    assert counts.resolutions == 0 and counts.rel_attempts == 0


@pytest.mark.parametrize(
    ("text", "target", "reference", "who"),
    [
        ("is the mug left of the bowl from the robot's perspective?", "mug", "bowl", "world"),
        ("is the mug left of the bowl from the bowl's perspective", "mug", "bowl", "object"),
        ("is the red cup behind the bowl in the camera frame", "red cup", "bowl", "ego"),
    ],
)
def test_frame_phrase_still_found_at_the_end_of_a_long_question(text, target, reference, who):
    """The tail window keeps the greedy rule: the last frame phrase wins, even after a long body."""
    q = questions.parse_question(text, NAMES)
    assert (q.target, q.reference, q.frame.value) == (target, reference, who)
    long_body = "is the mug " + "really " * 100 + text[len("is the mug ") :]
    body, found = questions.split_frame_phrase(long_body.rstrip("?"))
    assert found is not None and body.startswith("is the mug really") and body.endswith("the bowl")


def test_a_long_naming_command_is_refused_before_its_patterns_run():
    """Its quoted-name pattern backtracks: 32 KB of unquoted words took 5 s before the limit applied here."""
    from robospatial_ros.core.language.naming import parse_naming

    with pytest.raises(QuestionError, match=f"naming command is .* at most {MAX_TEXT_CHARS}"):
        parse_naming("call " + "a " * 16_000 + "'b")
