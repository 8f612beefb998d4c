"""The official RoboSpatial-Home scoring rules (edge behaviour included) and the Where2Place fraction."""

from __future__ import annotations

import numpy as np
import pytest

from robospatial_ros.learn.eval.scoring import (
    ItemScore,
    ScoringError,
    first_point_official,
    point_in_polygon,
    score_binary,
    score_context,
    score_item,
    where2place_fraction,
)

# Image coordinates: x right, y down. RECT spans [0.2, 0.6] x [0.2, 0.8].
RECT = [(0.2, 0.2), (0.6, 0.2), (0.6, 0.8), (0.2, 0.8)]
RECT_TEXT = "[(0.2, 0.2), (0.6, 0.2), (0.6, 0.8), (0.2, 0.8)]"
DIAMOND = [(0.5, 0.1), (0.9, 0.5), (0.5, 0.9), (0.1, 0.5)]

# --- point in polygon -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("polygon", [RECT, RECT[::-1]], ids=["clockwise", "counter-clockwise"])
@pytest.mark.parametrize(
    "x,y,inside",
    [
        (0.4, 0.5, True),  # interior
        (0.1, 0.5, False),  # left of it
        (0.7, 0.5, False),  # right of it
        (0.4, 0.1, False),  # above it
        (0.2, 0.5, True),  # on the left (vertical) edge: the edge is not crossed, the right one is
        (0.6, 0.5, False),  # on the right (vertical) edge: no edge lies strictly right of the point
        (0.4, 0.2, True),  # on the top (horizontal) edge: the vertical edges' spans include y = 0.2
        (0.4, 0.8, False),  # on the bottom (horizontal) edge: the spans exclude y = 0.8
        (0.2, 0.2, True),  # corners: only the top-left one is in, as [x0, x1) x [y0, y1)
        (0.6, 0.2, False),
        (0.2, 0.8, False),
        (0.6, 0.8, False),
    ],
)
def test_rectangle_contains_half_open_box(polygon, x, y, inside):
    assert point_in_polygon(x, y, polygon) is inside


@pytest.mark.parametrize(
    "x,y,inside",
    [
        (0.5, 0.5, True),
        (0.3, 0.5, True),  # level with the left and right vertices: each counted once, not twice
        (0.05, 0.5, False),  # left of the left vertex, on the same level: two crossings
        (0.95, 0.5, False),
        (0.2, 0.2, False),  # outside the slanted top-left edge
        (0.45, 0.2, True),
    ],
)
def test_diamond_with_vertices_on_the_ray(x, y, inside):
    assert point_in_polygon(x, y, DIAMOND) is inside


def test_concave_notch_is_outside():
    # A U shape: the notch [0.4, 0.6] x [0.1, 0.5) is open at the top.
    u_shape = [(0.1, 0.1), (0.4, 0.1), (0.4, 0.5), (0.6, 0.5), (0.6, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9)]
    assert point_in_polygon(0.5, 0.3, u_shape) is False
    assert point_in_polygon(0.25, 0.3, u_shape) is True
    assert point_in_polygon(0.5, 0.7, u_shape) is True


def test_degenerate_polygons_contain_nothing():
    assert point_in_polygon(0.5, 0.5, []) is False
    assert point_in_polygon(0.5, 0.5, [(0.0, 0.0), (1.0, 1.0)]) is False


# --- the official first point -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        ("[(0.24, 0.9), (0.5, 0.5)]", (0.24, 0.9)),
        ("[[0.3, 0.4], [0.6, 0.7]]", (0.3, 0.4)),
        ("(0.1,0.2)", (0.1, 0.2)),
        ("[0.5, 0.6] and later (0.1, 0.2)", (0.1, 0.2)),  # a tuple anywhere beats an earlier list
        ("[(500, 300)]", (500.0, 300.0)),  # taken literally, never rescaled
        ("[(-0.2, 0.5)]", (-0.2, 0.5)),  # negative: only the literal fallback finds it
        ("[-0.2, 0.5]", (-0.2, 0.5)),
        ("[0.5,0.6,]", (0.5, 0.6)),  # trailing comma dropped by the fallback
        ("[(.5, .25)]", (0.5, 0.25)),  # ".5" misses the regexes, the literal fallback reads it
        ("(-0.2, 0.5)", None),  # no brackets for the fallback
        ("[[-0.1, 0.2]]", None),  # the fallback's non-greedy [...] cuts the nested list
        ("[(0.1, 0.2, 0.3)]", None),  # a triple is not a point
        ("[]", None),
        ("no points, sorry", None),
        ("[this is not python]", None),
    ],
)
def test_first_point_official(text, expected):
    assert first_point_official(text) == expected


# --- binary -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "gt,generated,correct",
    [
        ("yes", "Yes.", True),
        ("Yes", "  yes", True),
        ("yes", "The answer is yes", False),
        ("no", "no, because the mug is behind the bowl", True),
        ("No", "No.", True),
        ("yes", "No", False),
        ("no", "Yes", False),
        ("no", "not sure", True),  # official quirk: starts with "no"
        ("yes", "<think>yes</think><answer>yes</answer>", False),  # the raw text is scored
        ("yes", "", False),
    ],
)
def test_score_binary(gt, generated, correct):
    assert score_binary(gt, generated) is correct
    assert score_item(gt, generated).correct is correct


def test_score_binary_needs_a_yes_no_truth():
    with pytest.raises(ScoringError):
        score_binary("maybe", "yes")


def test_score_item_binary_fields():
    assert score_item("yes", " Yes. ") == ItemScore(correct=True, binary=True, parsed="yes.", parsable=True)
    assert score_item("no", "   ") == ItemScore(correct=False, binary=True, parsed="", parsable=False)


# --- context ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "generated,correct",
    [
        ("[(0.4, 0.5), (0.9, 0.9)]", True),
        ("[(0.9, 0.9), (0.4, 0.5)]", False),  # only the first point counts
        ("[(0.2, 0.5)]", True),  # left edge
        ("[(0.6, 0.5)]", False),  # right edge
        ("[(400, 500)]", False),  # 0-1000 scale: outside the normalized polygon
        ("[(-0.4, 0.5)]", False),
        ("I don't know", False),
    ],
)
def test_score_context(generated, correct):
    assert score_context(RECT_TEXT, generated) is correct


def test_score_item_context_fields():
    assert score_item(RECT_TEXT, "[(0.4, 0.5)]") == ItemScore(True, False, (0.4, 0.5), True)
    assert score_item(RECT_TEXT, "free space: none") == ItemScore(False, False, None, False)


@pytest.mark.parametrize(
    "polygon_text",
    [
        "not a polygon",
        "[(0.1, 0.1), (0.5, 0.5)]",  # 2 vertices
        "((0.0, 0.0), (1.0, 0.0), (1.0, 1.0))",  # a tuple, not a list
        "[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0",  # truncated
    ],
)
def test_malformed_polygons_score_wrong_and_unparsable(polygon_text):
    assert score_item(polygon_text, "[(0.5, 0.2)]") == ItemScore(False, False, None, False)


def test_malformed_vertex_scores_wrong_but_parsable():
    # The official scorer finds the point, then the test raises on the bad vertex and is swallowed.
    score = score_item("[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0, 1.0)]", "[(0.9, 0.1)]")
    assert score == ItemScore(False, False, (0.9, 0.1), True)
    assert score_item("[(0.0, 0.0), ('a', 0.0), (1.0, 1.0)]", "(0.9, 0.1)").correct is False


def test_score_item_rejects_non_text():
    with pytest.raises(ScoringError):
        score_item("yes", None)  # type: ignore[arg-type]


# --- Where2Place ------------------------------------------------------------------------------------------------


def test_where2place_fraction_counts_mask_pixels():
    mask = np.zeros((2, 4), dtype=bool)
    mask[:, :2] = True  # left half valid: columns 0 and 1
    points = np.array(
        [
            [0.1, 0.5],  # column 0: hit
            [0.49, 0.9],  # column 1: hit
            [0.6, 0.5],  # column 2: miss
            [1.0, 0.5],  # outside the image
            [-0.1, 0.2],  # outside the image
            [np.nan, 0.1],  # not finite
        ]
    )
    assert where2place_fraction(points, mask) == pytest.approx(2 / 6)
    assert where2place_fraction(points[:2], mask) == 1.0


def test_where2place_no_points_is_zero_and_bad_shapes_raise():
    mask = np.ones((3, 3), dtype=bool)
    assert where2place_fraction(np.zeros((0, 2)), mask) == 0.0
    with pytest.raises(ScoringError):
        where2place_fraction(np.zeros((2, 3)), mask)
    with pytest.raises(ScoringError):
        where2place_fraction(np.zeros((1, 2)), np.ones(4, dtype=bool))
