"""parse_question: the generator templates verbatim, benchmark wording, plain phrasings, errors."""

from __future__ import annotations

import pytest

from robospatial_ros.core.errors import (
    AmbiguousObjectError,
    QuestionError,
    RoboSpatialError,
    UnknownObjectError,
)
from robospatial_ros.core.language.questions import Query, parse_question
from robospatial_ros.core.language.templates import template_question
from robospatial_ros.core.spatial.types import (
    COMPATIBILITY_RELATIONS,
    CONFIGURATION_RELATIONS,
    CONTEXT_RELATIONS,
    Frame,
    QueryType,
    Relation,
)

KNOWN = ["mug", "bowl"]

# The reference generator's frame phrases, written out (not taken from types.py, so a typo there shows up here).
CONFIG_FRAMES = [
    ("from the camera's perspective", Frame.EGO),
    ("from the world's perspective", Frame.WORLD),
    ("from the second object's perspective", Frame.OBJECT),
]
CONTEXT_FRAMES = [
    ("from the camera's perspective", Frame.EGO),
    ("from the world's perspective", Frame.WORLD),
    ("from the object's perspective", Frame.OBJECT),
]
CONFIG_RELS = [
    ("left", Relation.LEFT),
    ("right", Relation.RIGHT),
    ("in front", Relation.IN_FRONT),
    ("behind", Relation.BEHIND),
    ("above", Relation.ABOVE),
    ("below", Relation.BELOW),
]
COMPAT_RELS = [
    ("left", Relation.LEFT),
    ("right", Relation.RIGHT),
    ("in front", Relation.IN_FRONT),
    ("behind", Relation.BEHIND),
]
CONTEXT_RELS = COMPAT_RELS

CONTEXT_TAIL = (
    "Your final answer should be formatted as a list of tuples, i.e. [(x1, y1), ...], where each tuple contains "
    "the x and y coordinates of a point satisfying the conditions above. The coordinates should be between 0 and 1, "
    "indicating the normalized pixel locations of the points."
)


def configuration_prompt(a: str, rel: str, b: str, frame_phrase: str) -> str:
    return f"<image>Is the {a} {rel} of the {b} {frame_phrase}? Final answer should be yes or no."


def compatibility_prompt(a: str, rel: str, b: str, frame_phrase: str) -> str:
    return f"<image>Can the {a} fit {rel} the {b} {frame_phrase}? Final answer should be yes or no."


def context_prompt(rel: str, b: str, frame_phrase: str) -> str:
    b = b.rstrip(".")  # the generator strips trailing periods from the name in context prompts
    return (
        f"<image>In the image, there is the {b}. Pinpoint several points within the vacant space situated "
        f"{rel} of the {b} {frame_phrase}. {CONTEXT_TAIL}"
    )


def expect(q: Query, kind: QueryType, frame: Frame, rel: Relation, target: str | None, reference: str) -> None:
    assert (q.type, q.frame, q.relation, q.target, q.reference) == (kind, frame, rel, target, reference)


# --- generator templates, verbatim -------------------------------------------------------------------------------


@pytest.mark.parametrize("phrase,frame", CONFIG_FRAMES)
@pytest.mark.parametrize("rel_text,rel", CONFIG_RELS)
def test_configuration_template(rel_text, rel, phrase, frame):
    text = configuration_prompt("mug", rel_text, "bowl", phrase)
    q = parse_question(text, KNOWN)
    expect(q, QueryType.CONFIGURATION, frame, rel, "mug", "bowl")
    assert q.frame_given is True
    assert q.text == text


def test_configuration_template_keeps_the_generators_grammar():
    # The generator really writes "behind of", "above of", "below of".
    for rel_text, rel in [("behind", Relation.BEHIND), ("above", Relation.ABOVE), ("below", Relation.BELOW)]:
        text = (
            f"<image>Is the mug {rel_text} of the bowl from the world's perspective? Final answer should be yes or no."
        )
        assert f"{rel_text} of the bowl" in configuration_prompt("mug", rel_text, "bowl", "")
        assert parse_question(text, KNOWN).relation is rel


@pytest.mark.parametrize("phrase,frame", CONFIG_FRAMES)
@pytest.mark.parametrize("rel_text,rel", COMPAT_RELS)
def test_compatibility_template(rel_text, rel, phrase, frame):
    text = compatibility_prompt("mug", rel_text, "bowl", phrase)
    assert f"fit {rel_text} the bowl" in text  # "fit left the", "fit in front the": no "of"
    q = parse_question(text, KNOWN)
    expect(q, QueryType.COMPATIBILITY, frame, rel, "mug", "bowl")
    assert q.frame_given is True


def test_compatibility_on_top_template_is_world_frame():
    q = parse_question(compatibility_prompt("mug", "on top", "bowl", "from the world's perspective"), KNOWN)
    expect(q, QueryType.COMPATIBILITY, Frame.WORLD, Relation.ON_TOP, "mug", "bowl")


@pytest.mark.parametrize("phrase", ["from the camera's perspective", "from the second object's perspective"])
def test_compatibility_on_top_outside_world_frame_is_rejected(phrase):
    with pytest.raises(QuestionError, match="world"):
        parse_question(compatibility_prompt("mug", "on top", "bowl", phrase), KNOWN)


def test_on_top_with_forced_non_world_frame_is_rejected():
    with pytest.raises(QuestionError):
        parse_question("can the mug fit on top of the bowl", KNOWN, frame="ego")


def test_on_top_without_frame_means_world():
    q = parse_question("can the mug fit on top of the bowl?", KNOWN)
    expect(q, QueryType.COMPATIBILITY, Frame.WORLD, Relation.ON_TOP, "mug", "bowl")


@pytest.mark.parametrize("phrase,frame", CONTEXT_FRAMES)
@pytest.mark.parametrize("rel_text,rel", CONTEXT_RELS)
def test_context_template(rel_text, rel, phrase, frame):
    q = parse_question(context_prompt(rel_text, "bowl", phrase), KNOWN)
    expect(q, QueryType.CONTEXT, frame, rel, None, "bowl")
    assert q.frame_given is True


def test_context_template_accepts_the_second_object_phrase_too():
    q = parse_question(context_prompt("left", "bowl", "from the second object's perspective"), KNOWN)
    assert (q.type, q.frame) == (QueryType.CONTEXT, Frame.OBJECT)


def test_context_template_reference_comes_from_the_relation_not_the_first_sentence():
    # The first sentence names a different object than the one the relation is about: the relation wins.
    text = (
        "<image>In the image, there is the mug. Pinpoint several points within the vacant space situated "
        f"left of the bowl from the camera's perspective. {CONTEXT_TAIL}"
    )
    assert parse_question(text, KNOWN).reference == "bowl"


def test_template_without_image_tag_and_in_other_case():
    q = parse_question(
        "IS THE MUG BEHIND OF THE BOWL FROM THE WORLD'S PERSPECTIVE? FINAL ANSWER SHOULD BE YES OR NO.", KNOWN
    )
    expect(q, QueryType.CONFIGURATION, Frame.WORLD, Relation.BEHIND, "mug", "bowl")


# --- object names ----------------------------------------------------------------------------------------------

NAMES = ["Brown potato.", "Red apple.", "left shoe", "back pack", "front door", "car front", "coffee table"]


@pytest.mark.parametrize("phrase,frame", CONFIG_FRAMES)
def test_names_with_trailing_punctuation_in_templates(phrase, frame):
    q = parse_question(configuration_prompt("Brown potato.", "left", "Red apple.", phrase), NAMES)
    expect(q, QueryType.CONFIGURATION, frame, Relation.LEFT, "Brown potato.", "Red apple.")
    q = parse_question(compatibility_prompt("Brown potato.", "behind", "Red apple.", phrase), NAMES)
    expect(q, QueryType.COMPATIBILITY, frame, Relation.BEHIND, "Brown potato.", "Red apple.")


def test_context_template_with_punctuated_name():
    # The context prompt says "there is the Red apple. Pinpoint ... right of the Red apple from ...":
    # the scene's "Red apple." must still be found.
    text = context_prompt("right", "Red apple.", "from the object's perspective")
    assert "there is the Red apple. Pinpoint" in text and "of the Red apple from" in text
    q = parse_question(text, NAMES)
    expect(q, QueryType.CONTEXT, Frame.OBJECT, Relation.RIGHT, None, "Red apple.")


def test_context_prompt_with_the_name_verbatim_also_parses():
    text = (
        "<image>In the image, there is the Red apple.. Pinpoint several points within the vacant space situated "
        f"behind of the Red apple. from the world's perspective. {CONTEXT_TAIL}"
    )
    expect(parse_question(text, NAMES), QueryType.CONTEXT, Frame.WORLD, Relation.BEHIND, None, "Red apple.")


def test_punctuated_name_matched_without_its_punctuation_and_case():
    q = parse_question("is the brown potato left of the red apple?", NAMES)
    assert (q.target, q.reference) == ("Brown potato.", "Red apple.")


@pytest.mark.parametrize(
    "text,target,rel,reference",
    [
        ("Is the left shoe left of the back pack?", "left shoe", Relation.LEFT, "back pack"),
        ("Is the back pack behind the left shoe?", "back pack", Relation.BEHIND, "left shoe"),
        ("Is the back pack in front of the front door?", "back pack", Relation.IN_FRONT, "front door"),
        ("is the left shoe to the right of the front door", "left shoe", Relation.RIGHT, "front door"),
        # A relation word at the END of the first name: needs the split right after it.
        ("is the car front left of the back pack", "car front", Relation.LEFT, "back pack"),
        ("is the car front behind the left shoe", "car front", Relation.BEHIND, "left shoe"),
        ("is the back pack left of the car front", "back pack", Relation.LEFT, "car front"),
        ("is the Brown potato. below the coffee table", "Brown potato.", Relation.BELOW, "coffee table"),
    ],
)
def test_names_containing_relation_words(text, target, rel, reference):
    expect(parse_question(text, NAMES), QueryType.CONFIGURATION, Frame.EGO, rel, target, reference)


@pytest.mark.parametrize("phrase,frame", CONFIG_FRAMES)
@pytest.mark.parametrize("rel_text,rel", COMPAT_RELS)
def test_compatibility_template_with_relation_words_in_names(rel_text, rel, phrase, frame):
    q = parse_question(compatibility_prompt("back pack", rel_text, "left shoe", phrase), NAMES)
    expect(q, QueryType.COMPATIBILITY, frame, rel, "back pack", "left shoe")
    q = parse_question(compatibility_prompt("car front", rel_text, "front door", phrase), NAMES)
    expect(q, QueryType.COMPATIBILITY, frame, rel, "car front", "front door")


@pytest.mark.parametrize("rel_text,rel", CONTEXT_RELS)
def test_context_template_with_relation_words_in_name(rel_text, rel):
    q = parse_question(context_prompt(rel_text, "left shoe", "from the world's perspective"), NAMES)
    expect(q, QueryType.CONTEXT, Frame.WORLD, rel, None, "left shoe")


def test_multi_word_names():
    known = ["red coffee mug", "large salad bowl"]
    q = parse_question("Is the red coffee mug to the left of the large salad bowl?", known)
    assert (q.target, q.reference) == ("red coffee mug", "large salad bowl")


def test_names_differing_in_case_match_verbatim():
    known = ["Mug", "mug", "bowl"]
    assert parse_question("is the Mug left of the bowl", known).target == "Mug"
    assert parse_question("is the mug left of the bowl", known).target == "mug"
    # Neither spelling verbatim: both match case-insensitively, so the name is ambiguous.
    with pytest.raises(AmbiguousObjectError):
        parse_question("is the MUG left of the bowl", known)


def test_name_matched_case_insensitively_when_unique():
    q = parse_question("is the MUG left of the Bowl", ["Mug", "Bowl"])
    assert (q.target, q.reference) == ("Mug", "Bowl")


def test_category_name_matches_single_instance():
    assert parse_question("is the mug left of the bowl", ["mug_0", "bowl"]).target == "mug_0"


def test_specific_name_among_similar_ones():
    q = parse_question("is the red mug left of the blue mug", ["red mug", "blue mug", "bowl"])
    assert (q.target, q.reference) == ("red mug", "blue mug")


# --- RoboSpatial-Home wording ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,kind,frame,rel,target",
    [
        (
            "Is the mug to the left of the bowl? Answer yes or no.",
            QueryType.CONFIGURATION,
            Frame.EGO,
            Relation.LEFT,
            "mug",
        ),
        (
            "<image>Is the mug in front of the bowl from the camera's perspective? Answer yes or no.",
            QueryType.CONFIGURATION,
            Frame.EGO,
            Relation.IN_FRONT,
            "mug",
        ),
        (
            "Is the mug behind the bowl from the world's perspective? Answer yes or no.",
            QueryType.CONFIGURATION,
            Frame.WORLD,
            Relation.BEHIND,
            "mug",
        ),
        (
            "Can the mug fit to the right of the bowl? Answer yes or no.",
            QueryType.COMPATIBILITY,
            Frame.EGO,
            Relation.RIGHT,
            "mug",
        ),
        (
            "Can the mug fit in front of the bowl from the bowl's perspective? Answer yes or no.",
            QueryType.COMPATIBILITY,
            Frame.OBJECT,
            Relation.IN_FRONT,
            "mug",
        ),
    ],
)
def test_benchmark_wording(text, kind, frame, rel, target):
    expect(parse_question(text, KNOWN), kind, frame, rel, target, "bowl")


def test_benchmark_wording_is_not_mistaken_for_a_name():
    # "Answer yes or no." must be stripped, not glued onto the reference name.
    q = parse_question("Is the mug below the bowl? Answer yes or no.", KNOWN)
    assert q.reference == "bowl"


# --- plain phrasings -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,kind,frame,rel,target,frame_given",
    [
        ("is the mug to the left of the bowl?", QueryType.CONFIGURATION, Frame.EGO, Relation.LEFT, "mug", False),
        ("is the mug behind the bowl", QueryType.CONFIGURATION, Frame.EGO, Relation.BEHIND, "mug", False),
        ("is the mug left of the bowl", QueryType.CONFIGURATION, Frame.EGO, Relation.LEFT, "mug", False),
        ("is the mug on the right side of the bowl", QueryType.CONFIGURATION, Frame.EGO, Relation.RIGHT, "mug", False),
        ("is the mug on top of the bowl?", QueryType.CONFIGURATION, Frame.EGO, Relation.ABOVE, "mug", False),
        ("is the mug under the bowl", QueryType.CONFIGURATION, Frame.EGO, Relation.BELOW, "mug", False),
        ("can the mug fit to the right of the bowl?", QueryType.COMPATIBILITY, Frame.EGO, Relation.RIGHT, "mug", False),
        ("can the mug fit behind the bowl", QueryType.COMPATIBILITY, Frame.EGO, Relation.BEHIND, "mug", False),
        ("free space in front of the bowl", QueryType.CONTEXT, Frame.EGO, Relation.IN_FRONT, None, False),
        (
            "points to the left of the bowl from the robot's perspective",
            QueryType.CONTEXT,
            Frame.WORLD,
            Relation.LEFT,
            None,
            True,
        ),
        (
            "is the mug left of the bowl in the camera frame",
            QueryType.CONFIGURATION,
            Frame.EGO,
            Relation.LEFT,
            "mug",
            True,
        ),
        (
            "is the mug left of the bowl from the bowl's perspective",
            QueryType.CONFIGURATION,
            Frame.OBJECT,
            Relation.LEFT,
            "mug",
            True,
        ),
        (
            "is the mug to the left of the bowl, from the robot's point of view?",
            QueryType.CONFIGURATION,
            Frame.WORLD,
            Relation.LEFT,
            "mug",
            True,
        ),
        (
            "is the mug in front of the bowl in the world frame",
            QueryType.CONFIGURATION,
            Frame.WORLD,
            Relation.IN_FRONT,
            "mug",
            True,
        ),
    ],
)
def test_plain_phrasings(text, kind, frame, rel, target, frame_given):
    q = parse_question(text, KNOWN)
    expect(q, kind, frame, rel, target, "bowl")
    assert q.frame_given is frame_given


def test_no_frame_phrase_defaults_to_ego_and_says_so():
    q = parse_question("is the mug right of the bowl", KNOWN)
    assert q.frame is Frame.EGO
    assert q.frame_given is False
    # A given ego frame is marked as given: the answer need not mention an assumption.
    assert parse_question("is the mug right of the bowl from the camera's perspective", KNOWN).frame_given is True


def test_forced_type_and_frame_override_the_text():
    q = parse_question("is the mug left of the bowl", KNOWN, query_type=QueryType.CONTEXT, frame="world")
    expect(q, QueryType.CONTEXT, Frame.WORLD, Relation.LEFT, None, "bowl")
    assert q.frame_given is True
    q = parse_question("is the mug left of the bowl from the camera's perspective", KNOWN, frame=Frame.OBJECT)
    assert q.frame is Frame.OBJECT


def test_query_is_frozen():
    q = parse_question("is the mug left of the bowl", KNOWN)
    with pytest.raises(AttributeError):
        q.relation = Relation.RIGHT  # type: ignore[misc]


# --- errors ----------------------------------------------------------------------------------------------------


def test_unknown_object_lists_known_names():
    with pytest.raises(UnknownObjectError) as info:
        parse_question("is the spoon left of the bowl?", ["mug", "bowl", "Brown potato."])
    message = str(info.value)
    assert "spoon" in message
    for name in ("mug", "bowl", "Brown potato."):
        assert repr(name) in message
    assert "\n" not in message


def test_unknown_reference_object():
    with pytest.raises(UnknownObjectError, match="plate"):
        parse_question("is the mug left of the plate", KNOWN)


def test_unknown_object_in_template():
    with pytest.raises(UnknownObjectError, match="spoon"):
        parse_question(context_prompt("left", "spoon", "from the camera's perspective"), KNOWN)


def test_ambiguous_object():
    with pytest.raises(AmbiguousObjectError) as info:
        parse_question("is the mug left of the bowl?", ["red mug", "blue mug", "bowl"])
    assert "red mug" in str(info.value) and "blue mug" in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        "hello",
        "what colour is the mug?",
        "is the mug red?",
        "is the mug beside the bowl?",
        "how far is the mug from the bowl",
        "<image>",
    ],
)
def test_unsupported_questions(text):
    with pytest.raises(QuestionError):
        parse_question(text, KNOWN)


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_question(text):
    with pytest.raises(QuestionError, match="empty"):
        parse_question(text, KNOWN)


def test_unsupported_relations_per_type():
    with pytest.raises(QuestionError):
        parse_question("can the mug fit above the bowl", KNOWN)
    with pytest.raises(QuestionError):
        parse_question("points below the bowl", KNOWN)
    with pytest.raises(QuestionError):
        parse_question("can the mug go left of the bowl", KNOWN, query_type="compatibility")


def test_unknown_frame_phrase():
    with pytest.raises(QuestionError, match="frame"):
        parse_question("is the mug left of the bowl from the cat's perspective", KNOWN)


def test_invalid_forced_type_or_frame_is_a_question_error():
    with pytest.raises(QuestionError, match="sideways"):
        parse_question("is the mug left of the bowl", KNOWN, frame="sideways")
    with pytest.raises(QuestionError, match="bogus"):
        parse_question("is the mug left of the bowl", KNOWN, query_type="bogus")


@pytest.mark.parametrize("exc", [QuestionError, UnknownObjectError, AmbiguousObjectError], ids=lambda e: e.__name__)
def test_errors_share_the_base_class(exc):
    assert issubclass(exc, RoboSpatialError)


@pytest.mark.parametrize(
    "text,known",
    [
        ("is the spoon left of the bowl", KNOWN),
        ("is the mug left of the bowl", ["red mug", "blue mug", "bowl"]),
        ("gibberish", KNOWN),
        ("", KNOWN),
        ("can the mug fit on top of the bowl from the camera's perspective", KNOWN),
    ],
)
def test_every_failure_is_a_robospatial_error(text, known):
    with pytest.raises(RoboSpatialError):
        parse_question(text, known)


# --- the project's own template writer round-trips through the parser --------------------------------------------


def _all_template_queries():
    for frame in Frame:
        for rel in CONFIGURATION_RELATIONS:
            yield QueryType.CONFIGURATION, frame, rel
        for rel in COMPATIBILITY_RELATIONS[frame]:
            yield QueryType.COMPATIBILITY, frame, rel
        for rel in CONTEXT_RELATIONS:
            yield QueryType.CONTEXT, frame, rel


@pytest.mark.parametrize("kind,frame,rel", list(_all_template_queries()), ids=str)
def test_template_writer_matches_the_generator_and_round_trips(kind, frame, rel):
    target = None if kind is QueryType.CONTEXT else "Brown potato."
    text = template_question(kind, frame, rel, "back pack", target)
    phrases = CONTEXT_FRAMES if kind is QueryType.CONTEXT else CONFIG_FRAMES
    phrase = next(p for p, f in phrases if f is frame)
    if kind is QueryType.CONFIGURATION:
        assert text == configuration_prompt("Brown potato.", rel.value, "back pack", phrase)
    elif kind is QueryType.COMPATIBILITY:
        assert text == compatibility_prompt("Brown potato.", rel.value, "back pack", phrase)
    else:
        assert text == context_prompt(rel.value, "back pack", phrase)
    expect(parse_question(text, NAMES), kind, frame, rel, target, "back pack")


def test_is_there_room_asks_compatibility():
    q = parse_question("Is there room for the mug left of the bowl?", ["mug", "bowl"])
    assert (q.type, q.relation, q.target, q.reference) == (QueryType.COMPATIBILITY, Relation.LEFT, "mug", "bowl")
    q = parse_question("Is there enough space for the mug on the plate?", ["mug", "plate"])
    assert (q.type, q.relation, q.frame) == (QueryType.COMPATIBILITY, Relation.ON_TOP, Frame.WORLD)


def test_a_reference_named_like_a_frame_word_means_its_own_frame():
    q = parse_question("is the mug left of the table from the table's perspective?", ["mug", "table"])
    assert q.frame is Frame.OBJECT
    q = parse_question("is the mug left of the bowl from the table's perspective?", ["mug", "bowl", "table"])
    assert q.frame is Frame.WORLD


def test_robospatial_home_context_wording_parses():
    """The benchmark's context items say 'Your answer should be formatted ...' (not 'final answer'), and some
    'there is a ...'; the instruction must not be taken for part of the object's name."""
    names = ["bowl", "mug"]
    text = (
        "In the image, there is a bowl. Pinpoint several points within the vacant space situated to the left of "
        "the bowl. Your answer should be formatted as a list of tuples, i.e. [(x1, y1), (x2, y2)], where each tuple "
        "contains the x and y coordinates of a point satisfying the conditions above."
    )
    q = parse_question(text, names)
    assert (q.type.value, q.relation.value, q.reference) == ("context", "left", "bowl")
