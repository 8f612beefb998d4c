"""Model answer parsing: <answer> extraction, yes/no, points and boxes under explicit coordinate conventions."""

from __future__ import annotations

import numpy as np
import pytest

from robospatial_ros.core.errors import RoboSpatialError
from robospatial_ros.core.language.parsing import (
    GroundedBox,
    ParseError,
    PointConvention,
    extract_answer,
    parse_boxes,
    parse_points,
    parse_yes_no,
)

# --- extract_answer ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        ("  Yes.  ", "Yes."),
        ("<think>the mug is left, so yes</think><answer> No </answer>", "No"),
        ("<answer>first</answer> then <answer>second</answer>", "second"),
        ("<think>hmm</think><answer>[(0.1, 0.2)]", "[(0.1, 0.2)]"),  # truncated: unclosed last tag
        ("<think>it is (0.9, 0.9)</think>\n[(0.1, 0.2)]", "[(0.1, 0.2)]"),
        ('```json\n[{"point_2d": [1, 2]}]\n```', '[{"point_2d": [1, 2]}]'),
        ("<ANSWER>```\nyes\n```</ANSWER>", "yes"),
    ],
)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


def test_extract_answer_rejects_non_text():
    with pytest.raises(ParseError):
        extract_answer(None)  # type: ignore[arg-type]


# --- yes / no ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Yes.", True),
        ("  YES, it is", True),
        ("no, because the mug is behind", False),
        ("No", False),
        ("The answer is yes", None),  # the official rule: must *start* with yes/no
        ("Maybe", None),
        ("", None),
        ("<think>no idea... yes</think><answer>No</answer>", False),
        ("<think>no</think> yes", True),
        ("not sure", False),  # starts with "no": the official rule reads it as no
    ],
)
def test_parse_yes_no(text, expected):
    assert parse_yes_no(text) is expected


# --- points -----------------------------------------------------------------------------------------------------


def test_tuples_in_order():
    pts = parse_points("[(0.24, 0.9), (0.5, 0.125), (1, 0)]", PointConvention.NORMALIZED)
    assert pts.dtype == np.float64
    np.testing.assert_allclose(pts, [[0.24, 0.9], [0.5, 0.125], [1.0, 0.0]])


def test_nested_lists_and_single_tuple():
    np.testing.assert_allclose(parse_points("[[0.3, 0.4], [0.6,0.7]]", "normalized"), [[0.3, 0.4], [0.6, 0.7]])
    np.testing.assert_allclose(parse_points("The point is (0.5, 0.25).", "normalized"), [[0.5, 0.25]])


def test_qwen25_point_2d_json_in_pixels():
    text = '```json\n[{"point_2d": [320, 120], "label": "free"}, {"point_2d": [0, 480], "label": "b"}]\n```'
    pts = parse_points(text, PointConvention.PIXELS, image_size_wh=(640, 480))
    np.testing.assert_allclose(pts, [[320 / 640, 120 / 480], [0.0, 1.0]])


def test_points_dict_on_the_1000_grid():
    pts = parse_points('<answer>{"points": [[100, 900], [1000, 0]]}</answer>', "qwen1000")
    np.testing.assert_allclose(pts, [[0.1, 0.9], [1.0, 0.0]])


def test_scientific_and_leading_dot_numbers():
    np.testing.assert_allclose(parse_points("[(.5, 2.5e-1)]", "normalized"), [[0.5, 0.25]])


def test_triples_and_boxes_are_not_points():
    with pytest.raises(ParseError, match="no \\(x, y\\) points"):
        parse_points("[(0.1, 0.2, 0.3)] and [0.1, 0.2, 0.3, 0.4]", "normalized")


@pytest.mark.parametrize(
    "text,convention,needle",
    [
        ("[(-0.2, 0.5)]", "normalized", "-0.2"),
        ("[(0.2, 1.5)]", "normalized", "1.5"),
        ("[(500, 300)]", "normalized", "500"),  # a 0-1000 answer under the normalized convention: never rescaled
        ("[(1000.5, 3)]", "qwen1000", "1000.5"),
        ("[(10, -1)]", "qwen1000", "-1"),
    ],
)
def test_out_of_range_values_raise_naming_the_value(text, convention, needle):
    with pytest.raises(ParseError, match=f"value {needle} is outside"):
        parse_points(text, convention)


def test_pixels_need_the_image_size_and_respect_it():
    with pytest.raises(ParseError, match="image size"):
        parse_points("[(10, 10)]", PointConvention.PIXELS)
    with pytest.raises(ParseError, match="image size must be positive"):
        parse_points("[(10, 10)]", PointConvention.PIXELS, image_size_wh=(0, 480))
    with pytest.raises(ParseError, match="x value 641"):
        parse_points("[(641, 10)]", PointConvention.PIXELS, image_size_wh=(640, 480))


@pytest.mark.parametrize("text", ["", "   ", "I cannot see any free space.", "[]", "<answer></answer>"])
def test_no_points_raises(text):
    with pytest.raises(ParseError):
        parse_points(text, "normalized")


def test_unknown_convention_is_a_typed_error():
    with pytest.raises(ParseError, match="unknown point convention"):
        parse_points("[(0.1, 0.1)]", "percent")
    assert issubclass(ParseError, RoboSpatialError) and issubclass(ParseError, ValueError)


# --- boxes ------------------------------------------------------------------------------------------------------


def test_qwen25_boxes_in_pixels():
    text = (
        "Here you go:\n```json\n"
        '[{"bbox_2d": [64, 48, 320, 240], "label": "mug"}, {"bbox_2d": [0, 0, 640, 480], "label": "table"}]\n```'
    )
    boxes = parse_boxes(text, PointConvention.PIXELS, image_size_wh=(640, 480))
    assert [b.label for b in boxes] == ["mug", "table"]
    assert all(isinstance(b, GroundedBox) for b in boxes)
    np.testing.assert_allclose(boxes[0].xyxy, [0.1, 0.1, 0.5, 0.5])
    np.testing.assert_allclose(boxes[1].xyxy, [0.0, 0.0, 1.0, 1.0])


def test_single_box_dict_and_python_literal():
    (box,) = parse_boxes('{"bbox_2d": [100, 200, 300, 400], "label": "bowl"}', "qwen1000")
    np.testing.assert_allclose(box.xyxy, [0.1, 0.2, 0.3, 0.4])
    (box,) = parse_boxes("[{'bbox_2d': [100, 200, 300, 400], 'label': 'cup'}]", "qwen1000")
    assert box.label == "cup"


def test_qwen2_box_tokens():
    text = "<|object_ref_start|>the mug<|object_ref_end|><|box_start|>(100,250),(500,750)<|box_end|>"
    (box,) = parse_boxes(text, PointConvention.QWEN_1000)
    assert box.label == "the mug"
    np.testing.assert_allclose(box.xyxy, [0.1, 0.25, 0.5, 0.75])


@pytest.mark.parametrize(
    "text,match",
    [
        ('[{"bbox_2d": [300, 10, 300, 20], "label": "flat"}]', "degenerate"),
        ('[{"bbox_2d": [300, 50, 100, 60], "label": "swapped"}]', "degenerate"),
        ('[{"bbox_2d": [10, 10, 700, 20]}]', "x value 700"),
        ('[{"bbox_2d": [10, 10, 20]}]', "4 numbers"),
        ('[{"box": [10, 10, 20, 20]}]', "no 'bbox_2d'"),
        ("[]", "non-empty"),
        ("no boxes here", "no boxes"),
    ],
)
def test_bad_boxes_raise(text, match):
    with pytest.raises(ParseError, match=match):
        parse_boxes(text, PointConvention.PIXELS, image_size_wh=(640, 480))
