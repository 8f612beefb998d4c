"""Resource guards (issue 16): inputs that would allocate without bound or overflow are refused up front
with a typed error, before any array is built."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from robospatial_ros.core.errors import ConfigError, QuestionError, SceneError
from robospatial_ros.core.geometry import convex_hull_2d
from robospatial_ros.core.language.commands import parse_command
from robospatial_ros.core.language.questions import MAX_TEXT_CHARS, parse_question
from robospatial_ros.core.reasoning.reasoner import GeometricReasoner
from robospatial_ros.core.spatial import grid as grid_module
from robospatial_ros.core.spatial.config import SpatialConfig
from tests.scenes import cube, scene

NAMES = ["mug", "bowl", "table"]


def _two_cubes(mug_x: float = 0.3):
    return scene(cube("mug", mug_x, 0.1), cube("bowl", 0.3, -0.1))


def test_tiny_grid_resolution_is_a_config_error_before_allocation(monkeypatch):
    allocated = []
    real_ones = grid_module.np.ones
    monkeypatch.setattr(grid_module.np, "ones", lambda *a, **k: allocated.append(a) or real_ones(*a, **k))
    reasoner = GeometricReasoner(SpatialConfig(grid_resolution_m=1e-6, min_distance_m=0.0, context_threshold_m=1e-6))
    with pytest.raises(ConfigError, match="max_grid_cells"):
        reasoner.ask(_two_cubes(), "can the mug fit left of the bowl?")
    assert allocated == []  # refused before the (ny, nx) arrays


@pytest.mark.parametrize("field", ["min_distance_m", "context_threshold_m"])
def test_huge_distance_is_a_config_error(field):
    with pytest.raises(ConfigError, match=field):
        SpatialConfig(**{field: 1e9})


def test_budgets_must_be_positive():
    with pytest.raises(ConfigError, match="max_grid_cells"):
        SpatialConfig(max_grid_cells=0)
    with pytest.raises(ConfigError, match="max_objects"):
        SpatialConfig(max_objects=0)


QUESTIONS = ["points in the free space left of the bowl", "can the mug fit left of the bowl?"]


@pytest.mark.parametrize("question", QUESTIONS)
def test_box_at_1e308_over_no_support_is_a_typed_error_not_overflow(question):
    far = scene(cube("mug", 1e308, 0.1), cube("bowl", 0.3, -0.1), with_table=False)
    with pytest.raises(ConfigError, match="max_grid_cells"):  # the grid spans the objects: 1e308 m wide
        GeometricReasoner().ask(far, question)


@pytest.mark.parametrize("question", QUESTIONS)
def test_box_at_1e308_beside_a_table_is_off_its_grid_not_overflow(question):
    """On the table's grid the far box stamps no cell (its window is clipped as floats); placing it needs its
    footprint, which float64 cannot resolve there: a typed error. Both were OverflowError."""
    reasoner = GeometricReasoner()
    if "fit" in question:
        with pytest.raises(SceneError, match="mug's box is out of range"):
            reasoner.ask(_two_cubes(mug_x=1e308), question)
    else:
        assert reasoner.ask(_two_cubes(mug_x=1e308), question).points_2d.shape[1] == 2


def test_huge_object_footprint_is_a_config_error():
    small = scene(cube("mug", 0.3, 0.1, size=0.05), cube("bowl", 0.3, -0.1), with_table=False)
    giant = scene(cube("mug", 0.3, 0.1, size=500.0), cube("bowl", 0.3, -0.1))
    reasoner = GeometricReasoner(SpatialConfig(max_grid_cells=1_000_000))
    assert reasoner.ask(small, "can the mug fit left of the bowl?").yes is not None
    with pytest.raises(ConfigError, match="max_grid_cells"):
        reasoner.ask(giant, "can the mug fit left of the bowl?")


def test_scene_over_the_object_budget_is_refused():
    objects = [cube(f"box{i}", 0.1 * (i % 10), 0.1 * (i // 10), size=0.05) for i in range(30)]
    reasoner = GeometricReasoner(SpatialConfig(max_objects=20))
    with pytest.raises(SceneError, match="max_objects=20"):
        reasoner.ask(scene(*objects), "is the box1 left of the box2?")
    roomy = GeometricReasoner(SpatialConfig(max_objects=40))
    assert roomy.ask(scene(*objects), "is box1 left of box2?").yes is not None


def test_long_question_and_command_are_refused_before_parsing():
    padding = "very " * (MAX_TEXT_CHARS // 5)
    with pytest.raises(QuestionError, match=str(MAX_TEXT_CHARS)):
        parse_question(f"is the {padding}mug left of the bowl?", NAMES)
    with pytest.raises(QuestionError, match=str(MAX_TEXT_CHARS)):
        parse_command(f"put the {padding}mug left of the bowl", NAMES)
    # at the limit itself a question still parses
    text = "is the mug left of the bowl?"
    assert parse_question(text + " " * (MAX_TEXT_CHARS - len(text)), NAMES).target == "mug"


@pytest.mark.parametrize("scale", [1.0, 1e300, 1e-300])
def test_convex_hull_of_any_magnitude_is_exact_and_silent(scale):
    """OpenCV's hull takes float32: coordinates past its range overflowed the cast (a numpy warning on
    stderr) before they were scaled by a power of two."""
    square = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.5, 0.5], [0.25, 0.75]]) * scale
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hull = convex_hull_2d(square)
    assert len(hull) == 4 and {tuple(p) for p in hull} == {tuple(p) for p in square[:4]}
