"""Which object a reference means when several share a category: an error that lists them, and the
forms that say which ("the left bowl", "bowl_2", "the bowl nearest the robot")."""

import pytest

from robospatial_ros.core.errors import AmbiguousObjectError, UnknownObjectError
from robospatial_ros.core.language.commands import parse_command
from robospatial_ros.core.language.questions import parse_question
from robospatial_ros.core.scene import Scene, resolve_name

import scenes


def two_bowls() -> Scene:
    # tilted_camera looks along +x: image left is world +y. bowl_1 is left in the image and farther
    # from the base (at the origin); bowl_2 is right and nearer.
    return scenes.scene(
        scenes.cube("bowl_1", 0.6, 0.3),
        scenes.cube("bowl_2", 0.3, -0.3),
        scenes.cube("mug", 0.5, 0.0),
    )


def test_a_category_with_two_objects_is_an_error_listing_them_and_how_to_say_which():
    s = two_bowls()
    with pytest.raises(AmbiguousObjectError) as err:
        parse_command("put the mug to the left of the bowl", s.names)
    text = str(err.value)
    assert "'bowl_1' (leftmost in the image, farthest from the robot)" in text
    assert "'bowl_2' (rightmost in the image, nearest the robot)" in text
    assert "the left bowl" in text and "'bowl_2'" in text


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("the left bowl", "bowl_1"),
        ("the leftmost bowl", "bowl_1"),
        ("the right bowl", "bowl_2"),
        ("the bowl on the right", "bowl_2"),
        ("the nearest bowl", "bowl_2"),
        ("the bowl nearest the robot", "bowl_2"),
        ("the farthest bowl", "bowl_1"),
        ("bowl_2", "bowl_2"),
    ],
)
def test_position_words_and_ids_pick_one(reference, expected):
    s = two_bowls()
    cmd = parse_command(f"put the mug to the left of {reference}", s.names)
    assert (cmd.target, cmd.reference) == ("mug", expected)


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("the bowl farthest from the robot", "bowl_1"),  # as the ambiguity error suggests saying it
        ("the bowl closest to the arm", "bowl_2"),
        ("the closest bowl", "bowl_2"),
        ("the furthest bowl", "bowl_1"),
        ("the rightmost bowl", "bowl_2"),
        ("the leftmost", "bowl_1"),  # a position word alone: of every object but the support
    ],
)
def test_every_position_word_reads_the_same_before_or_after_the_noun(reference, expected):
    assert resolve_name(reference, two_bowls().names) == expected


def test_the_ways_an_ambiguity_error_suggests_to_tell_objects_apart_all_resolve():
    s = two_bowls()
    with pytest.raises(AmbiguousObjectError) as err:
        resolve_name("the bowl", s.names)
    text = str(err.value)
    for phrase, expected in (("farthest from the robot", "bowl_1"), ("nearest the robot", "bowl_2")):
        assert phrase in text
        assert resolve_name(f"the bowl {phrase}", s.names) == expected


def test_position_words_work_in_questions_and_as_the_target():
    s = two_bowls()
    q = parse_question("is the right bowl behind the mug?", s.names)
    assert (q.target, q.reference) == ("bowl_2", "mug")


def test_a_position_word_on_a_unique_object_is_harmless_and_an_unknown_one_still_fails():
    s = two_bowls()
    assert resolve_name("the left mug", s.names) == "mug"
    with pytest.raises(UnknownObjectError):
        resolve_name("the left plate", s.names)


def test_without_the_scene_a_position_word_cannot_choose():
    with pytest.raises(AmbiguousObjectError):
        resolve_name("the left bowl", ["bowl_1", "bowl_2"])


def test_a_repeated_detector_label_numbers_every_object_so_the_bare_label_is_ambiguous():
    from robospatial_ros.core.perception.objects import unique_names

    names = unique_names(["bowl", "bowl", "mug"], {"table"})
    assert names == ["bowl_1", "bowl_2", "mug"]
    with pytest.raises(AmbiguousObjectError):
        resolve_name("bowl", ["table", *names])
    assert resolve_name("bowl_2", ["table", *names]) == "bowl_2"
