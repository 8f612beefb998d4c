"""2D->3D lifting and the backends' logic (verify, hybrid), with the model's text scripted.

`ScriptedModel` stands in for the model (it returns given text): what is tested here is what
the backends do with a reply. The models themselves run in test_vlm_hf.py (tiny Qwen) and
test_openai_client.py (a real HTTP server).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pytest
import synthetic

from robospatial_ros.core.camera import CameraModel
from robospatial_ros.core.errors import ConfigError, RoboSpatialError
from robospatial_ros.core.geometry import OrientedBox
from robospatial_ros.core.language.commands import parse_command
from robospatial_ros.core.language.parsing import PointConvention, parse_points
from robospatial_ros.core.language.prompts import grounding_prompt
from robospatial_ros.core.language.questions import parse_question
from robospatial_ros.core.perception.frame import RGBDFrame
from robospatial_ros.core.reasoning.backends import (
    HybridBackend,
    SceneTextAnswerer,
    VerifyBackend,
    VLMBackendConfig,
    check_points,
    make_backend,
)
from robospatial_ros.core.reasoning.placement import PlacementError
from robospatial_ros.core.reasoning.reasoner import GeometricReasoner
from robospatial_ros.core.reasoning.vlm.base import VisualQuestion
from robospatial_ros.core.reasoning.vlm.lifting import LiftError, Plane, lift_for_reference, lift_to_plane
from robospatial_ros.core.scene import SceneObject
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.core.spatial.view import SceneView

import scenes


class ScriptedModel:
    """Stand-in for a VLM: answers every question with `reply(question)`; records what it was asked."""

    name = "scripted"

    def __init__(self, reply):
        self.reply = reply if callable(reply) else (lambda _q: reply)
        self.asked: list[VisualQuestion] = []

    def answer_texts(self, questions: Sequence[VisualQuestion]) -> list[str]:
        self.asked += questions
        return [self.reply(q.question) for q in questions]


SPATIAL = SpatialConfig(grid_resolution_m=0.01, context_threshold_m=0.3)


def tabletop() -> SceneView:
    s = scenes.scene(scenes.cube("mug", 0.3, 0.2), scenes.cube("bowl", 0.3, -0.1), scenes.cube("box", 0.3, -0.3))
    return SceneView(s, SPATIAL).prepare()


def blank_frame(camera: CameraModel) -> RGBDFrame:
    color = np.zeros((camera.height, camera.width, 3), np.uint8)
    return RGBDFrame(color, np.zeros((camera.height, camera.width), np.float32), camera.K, camera.camera_to_world, 1.0)


def as_text(view: SceneView, points_3d: np.ndarray) -> str:
    xy = view.scene.camera.normalize(view.scene.camera.project(points_3d)[0])
    return "[" + ", ".join(f"({x:.4f}, {y:.4f})" for x, y in xy) + "]"


# --- lifting ------------------------------------------------------------------------------------------


def test_lifting_inverts_projection_onto_the_plane():
    cam = scenes.tilted_camera()
    pts = np.array([[0.2, 0.1, 0.05], [0.5, -0.3, 0.05], [0.0, 0.0, 0.05]])
    xy = cam.normalize(cam.project(pts)[0])
    lifted = lift_to_plane(xy, cam, Plane.horizontal(0.05))
    assert lifted.valid.all()
    np.testing.assert_allclose(lifted.points_3d, pts, atol=1e-9)


def test_lifting_rejects_points_outside_the_image_and_above_the_horizon():
    cam = scenes.level_camera(z=0.5)  # looks horizontally: the upper half of the image never meets the table
    lifted = lift_to_plane(np.array([[0.5, 0.9], [0.5, 0.1], [1.2, 0.9], [0.5, 0.45]]), cam, Plane.horizontal(0.0))
    assert lifted.valid.tolist() == [True, False, False, False]
    assert lifted.points_3d[0, 2] == pytest.approx(0.0)
    assert np.isnan(lifted.points_3d[1:]).all()
    view = SceneView(scenes.scene(scenes.cube("bowl", 0.5, 0.0), camera=cam), SPATIAL)
    with pytest.raises(LiftError, match="bowl stands on"):
        lift_for_reference(np.array([[0.5, 0.1]]), view, view.scene.get("bowl"))


# --- verify -------------------------------------------------------------------------------------------


def test_check_points_flags_occupied_and_wrong_side_points():
    view = tabletop()
    query = parse_question("points left of the bowl", view.scene.names)
    good = GeometricReasoner(SPATIAL).answer(view, query).points_3d[:3]
    on_mug = np.array([[0.3, 0.2, 0.0]])  # the mug's footprint centre: occupied
    right_side = np.array([[0.3, -0.2, 0.0]])  # between the bowl and the box: free, but right of the bowl
    far_left = np.array([[0.3, 0.6, 0.0]])  # free and left of the bowl, but 0.65 m from it (threshold 0.3 m)
    verdict = check_points(view, query, np.vstack([good, on_mug, right_side, far_left]))
    assert verdict.ok.tolist() == [True, True, True, False, False, False]
    assert verdict.occupied.tolist() == [False, False, False, True, False, False]
    assert verdict.wrong_side.tolist()[4:] == [True, False]
    assert verdict.too_far.tolist() == [False] * 5 + [True]


def test_eval_runs_verify_on_items_that_carry_their_scene_and_depth():
    view = tabletop()
    cam = view.scene.camera
    query = parse_question("points left of the bowl", view.scene.names)
    good = GeometricReasoner(SPATIAL).answer(view, query).points_3d[:2]
    model = ScriptedModel(as_text(view, np.vstack([[0.3, 0.2, 0.0], good])))  # the first lies on the mug
    answerer = SceneTextAnswerer(VerifyBackend(model, VLMBackendConfig(), SPATIAL), "verify", SPATIAL)
    image, depth = np.zeros((cam.height, cam.width, 3), np.uint8), np.ones((cam.height, cam.width), np.float32)
    item = VisualQuestion(image, query.text, depth, view.scene)
    (text,) = answerer.answer_texts([item])
    expected = cam.normalize(cam.project(good)[0])  # the two good points survive, the one on the mug does not
    np.testing.assert_allclose(parse_points(text, PointConvention.NORMALIZED), expected, atol=1e-3)
    with pytest.raises(RoboSpatialError, match="needs each item's depth image and 3D scene"):
        answerer.answer_texts([VisualQuestion(image, query.text)])


def test_verify_keeps_only_checked_points_and_places_on_the_first():
    view = tabletop()
    frame = blank_frame(view.scene.camera)
    query = parse_question("points left of the bowl", view.scene.names)
    good = GeometricReasoner(SPATIAL).answer(view, query).points_3d[:2]
    bad = np.array([[0.3, 0.2, 0.0], [0.3, -0.2, 0.0]])
    model = ScriptedModel(as_text(view, np.vstack([bad, good])))
    backend = VerifyBackend(model, VLMBackendConfig(), SPATIAL)
    answer = backend.answer(view, query, frame)
    np.testing.assert_allclose(answer.points_3d, good, atol=2e-4)  # the replies' 4 decimals
    assert "rejected 1 on occupied space, 1 on the wrong side" in answer.assumptions[-1]

    cmd = parse_command("put the mug left of the bowl", view.scene.names)
    spot = backend.place(view, cmd, None, frame)
    np.testing.assert_allclose(spot.xyz, good[0], atol=2e-4)


def test_verify_without_any_good_point_refuses_or_falls_back():
    view = tabletop()
    frame = blank_frame(view.scene.camera)
    model = ScriptedModel(as_text(view, np.array([[0.3, 0.2, 0.0]])))
    query = parse_question("points left of the bowl", view.scene.names)
    with pytest.raises(PlacementError, match="every model point was rejected"):
        VerifyBackend(model, VLMBackendConfig(), SPATIAL).answer(view, query, frame)
    fallback = VerifyBackend(model, VLMBackendConfig(fallback_to_geometric=True), SPATIAL)
    answer = fallback.answer(view, query, frame)
    assert len(answer.points_3d) > 0 and "geometric core instead" in answer.assumptions[-1]
    cmd = parse_command("put the box left of the bowl", view.scene.names)
    assert fallback.place(view, cmd, None, frame).xyz[1] > -0.1  # left of the bowl: larger y


def test_placement_where_the_object_would_not_fit_is_rejected():
    view = tabletop()
    frame = blank_frame(view.scene.camera)
    tight = np.array([[0.3, -0.02, 0.0]])  # free, 3 cm left of the bowl: a 10 cm box centred there hits it
    backend = VerifyBackend(ScriptedModel(as_text(view, tight)), VLMBackendConfig(), SPATIAL)
    cmd = parse_command("put the box left of the bowl", view.scene.names)
    with pytest.raises(PlacementError, match="1 where the object would not fit"):
        backend.place(view, cmd, None, frame)


def test_placement_turns_the_object_when_only_a_turn_fits():
    # A 30 cm x 4 cm ruler lying along y fits neither straight nor at 45 degrees in the 20 cm gap
    # (y from -0.05 to 0.15) between two 50 cm long trays; turned 90 degrees (the core's third
    # compatibility angle) it does.
    def flat(name: str, x: float, y: float, size_x: float, size_y: float) -> SceneObject:
        return SceneObject(name, OrientedBox.axis_aligned([x, y, 0.02], [size_x, size_y, 0.04]))

    ruler = flat("ruler", 0.8, 0.6, 0.04, 0.3)
    s = scenes.scene(flat("tray", 0.3, 0.2, 0.5, 0.1), flat("bowl", 0.3, -0.1, 0.5, 0.1), ruler)
    view = SceneView(s, SPATIAL).prepare()
    gap = np.array([[0.3, 0.05, 0.0]])
    backend = VerifyBackend(ScriptedModel(as_text(view, gap)), VLMBackendConfig(), SPATIAL)
    spot = backend.place(view, parse_command("put the ruler left of the bowl", s.names), None, blank_frame(s.camera))
    assert spot.yaw_offset_rad == pytest.approx(np.pi / 2)
    np.testing.assert_allclose(np.ptp(spot.box.footprint(), axis=0), [0.3, 0.04], atol=1e-9)  # now along x
    no_quarter_turn = SpatialConfig(grid_resolution_m=0.01, context_threshold_m=0.3, compatibility_angles_deg=(0, 45))
    backend = VerifyBackend(ScriptedModel(as_text(view, gap)), VLMBackendConfig(), no_quarter_turn)
    with pytest.raises(PlacementError, match="1 where the object would not fit"):
        backend.place(
            SceneView(s, no_quarter_turn),
            parse_command("put the ruler left of the bowl", s.names),
            None,
            blank_frame(s.camera),
        )


# --- hybrid -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rendering() -> synthetic.Rendering:
    blocks = (
        synthetic.Block("red block", 0.35, 0.15, (0.08, 0.08, 0.1)),
        synthetic.Block("blue block", 0.40, -0.15, (0.1, 0.06, 0.06)),
    )
    return synthetic.render(synthetic.Tabletop(blocks, synthetic.default_camera()))


def test_hybrid_grounds_names_then_answers_geometrically(rendering):
    names, boxes = rendering.boxes_2d()
    reply = json.dumps([{"bbox_2d": [int(v) for v in b], "label": n} for n, b in zip(names, boxes)])
    model = ScriptedModel(reply)
    backend = HybridBackend(model, VLMBackendConfig(box_convention="pixels"), SPATIAL)
    frame = rendering.frame()
    empty = SceneView(rendering.scene.ground_truth(), SPATIAL)
    query = parse_question("Is the red block to the left of the blue block?", ["red block", "blue block"])
    answer = backend.answer(empty, query, frame)
    assert answer.yes is True  # red at y = +0.15 is left of blue at y = -0.15 for a camera looking along +x
    assert model.asked[0].question == grounding_prompt()
    assert "objects grounded by the model: table, red block, blue block" in answer.assumptions[-1]
    cmd = parse_command("put the blue block to the left of the red block", ["red block", "blue block"])
    spot = backend.place(empty, cmd, None, frame)
    assert spot.xyz[1] > 0.15  # left of the red block


def test_hybrid_with_an_unparseable_grounding_reply_is_a_typed_error(rendering):
    from robospatial_ros.core.language.parsing import ParseError

    backend = HybridBackend(ScriptedModel("I see a red block."), VLMBackendConfig(), SPATIAL)
    query = parse_question("Is the red block to the left of the blue block?", ["red block", "blue block"])
    with pytest.raises(ParseError):
        backend.answer(SceneView(rendering.scene.ground_truth(), SPATIAL), query, rendering.frame())


def test_unknown_backend_and_bad_conventions_are_config_errors():
    with pytest.raises(ConfigError, match="unknown backend 'vlm'"):
        make_backend("vlm", SPATIAL)
    with pytest.raises(ConfigError, match="point_convention"):
        VLMBackendConfig(point_convention="percent")
    with pytest.raises(ConfigError, match="client"):
        VLMBackendConfig(client="llama.cpp")
    assert make_backend("geometric", SPATIAL).name == "geometric"
