"""Placement commands and choosing where to put things."""

from dataclasses import replace

import numpy as np
import pytest

from robospatial_ros.core.configio import load_config
from robospatial_ros.core.errors import AmbiguousObjectError, QuestionError, UnknownObjectError
from robospatial_ros.core.language.commands import CommandError, PlacementCommand, parse_command
from robospatial_ros.core.language.questions import Query
from robospatial_ros.core.reasoning.placement import PlacementError, choose_placement
from robospatial_ros.core.reasoning.requests import parse_request, placement_answer
from robospatial_ros.core.scene import Scene, load_scene
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.core.spatial.configuration import configuration
from robospatial_ros.core.spatial.occupancy import grid_for
from robospatial_ros.core.spatial.types import Frame, QueryType, Relation
from robospatial_ros.core.spatial.view import SceneView

NAMES = ["mug", "bowl", "red block", "plate", "table"]
SCENE = "robospatial_ros/data/tabletop_scene.json"
TABLETOP = "robospatial_ros/data/tabletop.yaml"


@pytest.mark.parametrize(
    "text, target, reference, relation, frame",
    [
        ("put the mug to the left of the bowl", "mug", "bowl", Relation.LEFT, Frame.EGO),
        ("Place the red block on the plate.", "red block", "plate", Relation.ON_TOP, Frame.WORLD),
        (
            "please move the mug behind the bowl from the robot's perspective",
            "mug",
            "bowl",
            Relation.BEHIND,
            Frame.WORLD,
        ),
        ("set the mug in front of the bowl in the camera frame", "mug", "bowl", Relation.IN_FRONT, Frame.EGO),
        ("move the mug right of the bowl from the bowl's perspective", "mug", "bowl", Relation.RIGHT, Frame.OBJECT),
        ("put mug onto plate", "mug", "plate", Relation.ON_TOP, Frame.WORLD),
        ("Put the MUG on the right hand side of the Bowl", "mug", "bowl", Relation.RIGHT, Frame.EGO),
    ],
)
def test_commands_parse(text, target, reference, relation, frame):
    cmd = parse_command(text, NAMES)
    assert (cmd.target, cmd.reference, cmd.relation, cmd.frame) == (target, reference, relation, frame)


def test_default_frame_is_reported_as_not_given():
    assert not parse_command("put the mug left of the bowl", NAMES).frame_given
    assert parse_command("put the mug left of the bowl from the camera's perspective", NAMES).frame_given
    assert not parse_command("put the mug on the plate", NAMES).frame_given


@pytest.mark.parametrize(
    "text, error",
    [
        ("", CommandError),
        ("dance for me", CommandError),
        ("put the mug somewhere nice", CommandError),
        ("put the cat left of the bowl", UnknownObjectError),
        ("put the mug left of the mug", CommandError),
        ("put the mug on the plate from the camera's perspective", CommandError),
    ],
)
def test_bad_commands_are_typed_errors(text, error):
    with pytest.raises(error):
        parse_command(text, NAMES)


def test_ambiguous_target():
    with pytest.raises(AmbiguousObjectError):
        parse_command("put the mug left of the bowl", ["red mug", "blue mug", "bowl"])


def test_check_query_is_the_configuration_question():
    q = parse_command("put the mug behind the bowl from the robot's perspective", NAMES).check_query()
    assert (q.type.value, q.frame, q.relation, q.target, q.reference) == (
        "configuration",
        Frame.WORLD,
        Relation.BEHIND,
        "mug",
        "bowl",
    )
    assert parse_command("put the mug on the plate", NAMES).check_query().relation is Relation.ABOVE


@pytest.mark.parametrize(
    "text",
    [
        "put the mug to the left of the bowl",
        "put the mug right of the bowl",
        "put the can behind the bowl from the robot's perspective",
        "put the box in front of the plate",
        "put the mug right of the can from the can's perspective",
        "put the can left of the mug from the world's perspective",
    ],
)
def test_placement_is_free_and_makes_the_relation_true(text):
    scene = load_scene(SCENE)
    view = SceneView(scene, load_config(SpatialConfig, TABLETOP))
    cmd = parse_command(text, scene.names)
    placement = choose_placement(view, cmd)
    target = scene.get(cmd.target)
    # The placed footprint covers only free cells of the grid without the target.
    grid = grid_for(view, frozenset([target.name]), view.support_of(scene.get(cmd.reference)))
    corners = placement.box.corners()[:, :2]
    centre = placement.box.center[:2]
    assert grid.is_free(centre + 0.9 * (corners - centre)).all()
    assert placement.box.z_min == pytest.approx(0.0, abs=1e-9)  # on the table top
    # And the relation holds with the target moved there.
    moved = [
        o if o.name != target.name else type(o)(o.name, placement.box, o.facing, o.category) for o in scene.objects
    ]
    after = Scene(tuple(moved), scene.camera, scene.base_to_world)
    v2 = SceneView(after, view.config)
    assert cmd.relation in configuration(v2, after.get(cmd.target), after.get(cmd.reference), cmd.frame)


def test_placement_prefers_spots_near_the_reference():
    scene = load_scene(SCENE)
    view = SceneView(scene, load_config(SpatialConfig, TABLETOP))
    cmd = parse_command("put the mug to the left of the bowl", scene.names)
    placement = choose_placement(view, cmd)
    dist = view.view(scene.get("bowl")).distance_to_footprint
    chosen = dist(placement.xyz[None, :2])[0]
    assert chosen < np.median(dist(placement.candidates_xyz[:, :2]))


def test_placement_on_top_and_failures():
    scene = load_scene(SCENE)
    view = SceneView(scene, load_config(SpatialConfig, TABLETOP))
    on_book = choose_placement(view, parse_command("put the banana on the book", scene.names))
    assert on_book.box.z_min == pytest.approx(scene.get("book").box.z_max)
    with pytest.raises(PlacementError):
        choose_placement(view, parse_command("put the bottle on the can", scene.names))  # can is no surface
    tiny = SpatialConfig(grid_resolution_m=0.01, context_threshold_m=0.01, min_distance_m=0.0)
    with pytest.raises(PlacementError):  # no room within 1 cm (+ half sizes) of the bowl for the box
        choose_placement(SceneView(scene, tiny), parse_command("put the book behind the apple", scene.names))


# --- one text request to the reasoner (core.requests) ----------------------------------------------
@pytest.mark.parametrize(
    "text, kind",
    [
        ("put the mug to the left of the bowl", "command"),
        ("Is the mug to the left of the bowl?", "question"),
        ("Can the mug fit behind the bowl?", "question"),
    ],
)
def test_a_request_is_a_command_or_a_question(text, kind):
    parsed = parse_request(text, load_scene(SCENE).names)
    assert isinstance(parsed, PlacementCommand if kind == "command" else Query)


@pytest.mark.parametrize(
    "text, error, says",
    [
        ("put the mug to the left of the toaster", UnknownObjectError, "toaster"),  # a command gone wrong
        ("please move the mug sideways", CommandError, "no placement relation"),  # starts like a command
        ("what a lovely day", QuestionError, "neither a placement command"),
    ],
)
def test_a_bad_request_names_what_went_wrong(text, error, says):
    with pytest.raises(error, match=says):
        parse_request(text, load_scene(SCENE).names)


def test_a_placement_answer_shows_the_candidates_the_camera_sees():
    scene = load_scene(SCENE)
    view = SceneView(scene, load_config(SpatialConfig, TABLETOP))
    cmd = parse_command("put the mug to the left of the bowl", scene.names)
    placement = choose_placement(view, cmd)
    behind_camera = scene.camera.camera_to_world[:3, 3] - 0.5 * scene.camera.camera_to_world[:3, 2]
    with_hidden = replace(placement, candidates_xyz=np.vstack([placement.candidates_xyz[:2], behind_camera]))
    answer = placement_answer(view, cmd, with_hidden, "put it there", ["a note"])
    assert answer.query.type is QueryType.CONTEXT and answer.query.relation is Relation.LEFT
    assert np.allclose(answer.points_3d, placement.candidates_xyz[:2])  # the hidden one dropped
    assert answer.points_2d.shape == (2, 2) and ((answer.points_2d >= 0) & (answer.points_2d <= 1)).all()
    x, y, _ = placement.xyz
    assert f"place the mug at ({x:.3f}, {y:.3f}" in answer.text and answer.assumptions == ["a note"]
