"""Fuzzing `robospatial ask` (issue 16, item 5): scene JSON, questions and commands drawn by hypothesis.

The contract: exit 0 with an answer, or exit 2 with exactly one stderr line "robospatial ask: error: ...";
never a traceback (any exception escaping `main` fails the test), never a warning on stderr (warnings
are errors here), never an answer from an invalid scene. A short profile runs by default; set
ROBOSPATIAL_FUZZ=deep for a deep one.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from message_strategies import question

import robospatial_ros
from robospatial_ros.cli.main import main

SCENE = json.loads(
    (Path(robospatial_ros.__file__).resolve().parent / "data" / "tabletop_scene.json").read_text(encoding="utf-8")
)
DEEP = os.environ.get("ROBOSPATIAL_FUZZ", "") == "deep"
FUZZ = settings(
    max_examples=400 if DEEP else 30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=not DEEP,  # the short profile is the same every run; the deep one explores
)
NAMES = ["mug", "bowl", "table", "plate", "red cup", "Brown potato.", "object_3"]

# --- what `ask` says ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


def run_ask(scene: Any, question: str, workdir: Path, raw: str | None = None) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `robospatial ask --scene FILE QUESTION`, in process; warnings raise."""
    path = workdir / "scene.json"
    path.write_text(raw if raw is not None else json.dumps(scene), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        warnings.simplefilter("error")  # a numpy RuntimeWarning would print to a user's stderr
        rc = main(["ask", "--scene", str(path), "--", question])
    return rc, out.getvalue(), err.getvalue()


def assert_contract(rc: int, out: str, err: str) -> None:
    """Exit 0 with an answer, or exit 2 with one line on stderr and nothing on stdout."""
    assert rc in (0, 2), (rc, err)
    if rc == 2:
        assert out == "" and len(err.splitlines()) == 1 and err.startswith("robospatial ask: error: "), err
    else:
        assert out.strip(), "an exit 0 without an answer"
        assert all(line.startswith("note: ") for line in err.splitlines()), err


def assert_rejected(rc: int, out: str, err: str) -> None:
    assert rc == 2, f"an answer from an invalid scene: {out!r}"
    assert_contract(rc, out, err)


# --- scenes -------------------------------------------------------------------------------------------------

finite = st.floats(min_value=-5.0, max_value=5.0, allow_nan=False)
size = st.floats(min_value=0.01, max_value=1.0)


@st.composite
def valid_object(draw: st.DrawFn, name: str) -> dict:
    centre = [draw(finite), draw(finite), draw(st.floats(0.0, 1.0))]
    angles = [draw(st.floats(-3.2, 3.2)), 0.0, 0.0]
    return {"Name": name, "bbox_3d": [[*centre, draw(size), draw(size), draw(size), *angles]]}


@st.composite
def valid_scene(draw: st.DrawFn) -> dict:
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=5, unique=True))
    scene = copy.deepcopy(SCENE)
    scene["objects"] = [draw(valid_object(n)) for n in names]
    return scene


# Any JSON value: what a hostile or broken file may hold where a number, matrix or name belongs.
junk = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=20,
)
bad_number = st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308, -1e300, 1e5])
# Where a scene holds geometry, and values there that can never be valid.
INVALID: dict[str, Callable[[st.DrawFn], Callable[[dict], None]]] = {}


def invalid(name: str):
    def register(fn):
        INVALID[name] = fn
        return fn

    return register


@invalid("extrinsic entry")
def _bad_extrinsic(draw: st.DrawFn) -> Callable[[dict], None]:
    i, j, v = draw(st.integers(0, 2)), draw(st.integers(0, 2)), draw(bad_number | st.just(3.0))
    return lambda s: s["camera_annotations"]["extrinsic"][i].__setitem__(j, v)  # no rotation entry exceeds 1


@invalid("extrinsic zero")
def _zero_extrinsic(draw: st.DrawFn) -> Callable[[dict], None]:
    keep_last_row = draw(st.booleans())
    zero = [[0.0] * 4] * 3 + ([[0.0, 0.0, 0.0, 1.0]] if keep_last_row else [[0.0] * 4])
    return lambda s: s["camera_annotations"].__setitem__("extrinsic", zero)


@invalid("intrinsic entry")
def _bad_intrinsic(draw: st.DrawFn) -> Callable[[dict], None]:
    i, j = draw(st.sampled_from([(0, 0), (1, 1), (0, 2), (1, 2)]))
    v = draw(st.sampled_from([float("nan"), float("inf"), 0.0, -400.0] if i == j else [float("nan"), float("inf")]))
    return lambda s: s["camera_annotations"]["intrinsic"][i].__setitem__(j, v)


@invalid("box value")
def _bad_box(draw: st.DrawFn) -> Callable[[dict], None]:
    k = draw(st.integers(0, 8))
    centre_or_angle = st.sampled_from([float("nan"), float("inf"), 1e308, 2e4])
    bad = draw(st.sampled_from([0.0, -0.1, 2e3, float("nan")]) if 3 <= k <= 5 else centre_or_angle)
    return lambda s: s["objects"][0]["bbox_3d"][0].__setitem__(k, bad)


@invalid("box shape")
def _bad_box_shape(draw: st.DrawFn) -> Callable[[dict], None]:
    value = draw(st.none() | st.text(max_size=5) | st.floats() | st.dictionaries(st.text(max_size=3), junk, max_size=2))
    two = draw(st.booleans())
    return lambda s: s["objects"][0].__setitem__("bbox_3d", [s["objects"][0]["bbox_3d"][0]] * 2 if two else value)


@invalid("name")
def _bad_name(draw: st.DrawFn) -> Callable[[dict], None]:
    value = draw(st.none() | st.integers() | st.just("") | st.just("  ") | st.lists(st.text(max_size=3), max_size=2))
    return lambda s: s["objects"][0].__setitem__("Name", value)


@invalid("duplicate name")
def _duplicate_name(draw: st.DrawFn) -> Callable[[dict], None]:
    return lambda s: s["objects"].append(copy.deepcopy(s["objects"][0]))


@invalid("robot base")
def _bad_base(draw: st.DrawFn) -> Callable[[dict], None]:
    value = draw(st.sampled_from([[[0.0] * 4] * 4, [[2.0, 0, 0, 0], [0, 2.0, 0, 0], [0, 0, 2.0, 0], [0, 0, 0, 1.0]]]))
    return lambda s: s.__setitem__("robot_base_to_world", value)


@st.composite
def invalid_scene(draw: st.DrawFn) -> tuple[str, dict]:
    kind = draw(st.sampled_from(sorted(INVALID)))
    scene = draw(valid_scene())
    INVALID[kind](draw)(scene)
    return kind, scene


@st.composite
def junk_scene(draw: st.DrawFn) -> dict:
    """A valid scene with one field (anywhere, at any depth of the annotation shape) replaced by junk."""
    scene = draw(valid_scene())
    target = draw(
        st.sampled_from(["image_size", "camera_annotations", "intrinsic", "extrinsic", "objects", "object", "Name"])
    )
    value = draw(junk)
    if target in ("intrinsic", "extrinsic"):
        scene["camera_annotations"][target] = value
    elif target in ("object", "Name"):
        if target == "object":
            scene["objects"][0] = value
        else:
            scene["objects"][0]["Name"] = value
    else:
        scene[target] = value
    return scene


# --- questions and commands ---------------------------------------------------------------------------------

good_question = st.sampled_from(
    [
        "is the mug right of the bowl?",
        "points in the free space in front of the bowl",
        "can the mug fit on top of the table?",
        "is the bowl in front of the mug from the mug's perspective?",
    ]
)


# --- the properties -----------------------------------------------------------------------------------------


@FUZZ
@given(case=invalid_scene(), q=good_question)
def test_an_invalid_scene_is_never_answered(workdir, case, q):
    kind, scene = case
    assert_rejected(*run_ask(scene, q, workdir))


@FUZZ
@given(scene=junk_scene(), q=good_question)
def test_junk_in_any_field_is_answered_or_one_line_error(workdir, scene, q):
    assert_contract(*run_ask(scene, q, workdir))


@FUZZ
@given(scene=valid_scene(), q=question)
def test_any_question_or_command_is_answered_or_one_line_error(workdir, scene, q):
    assert_contract(*run_ask(scene, q, workdir))


@FUZZ
@given(raw=st.text(max_size=200) | st.binary(max_size=100).map(lambda b: b.decode("latin-1")))
def test_any_file_text_is_one_line_error_or_an_answer(workdir, raw):
    assert_contract(*run_ask(None, "is the mug right of the bowl?", workdir, raw=raw))


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_json_is_one_line_error(workdir, depth):
    assert_rejected(*run_ask(None, "is the mug right of the bowl?", workdir, raw="[" * depth + "]" * depth))
