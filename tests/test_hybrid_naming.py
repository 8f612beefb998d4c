"""The hybrid backend's grounding names objects the way perception does (issue 13, item 6): the model's
labelled boxes become objects with colours and size classes, references by colour resolve on the grounded
scene, and the perception node's stable ids and user names survive grounding.

The model is scripted (test_vlm_backends.ScriptedModel: the boxes a VLM would return as `bbox_2d` JSON);
perception, clustering and the tracker are the real ones on a ray-cast tabletop.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import synthetic
from chat_server import ChatServer
from test_vlm_backends import SPATIAL, ScriptedModel

from robospatial_ros.core.errors import AmbiguousObjectError, ConfigError
from robospatial_ros.core.language.commands import parse_command
from robospatial_ros.core.perception.pipeline import Perception
from robospatial_ros.core.perception.tracking import ObjectTracker
from robospatial_ros.core.reasoning.backends import HybridBackend, IdMatch, VLMBackendConfig, carry_ids, make_backend
from robospatial_ros.core.reasoning.vlm.openai_client import OpenAIConfig
from robospatial_ros.core.scene import Scene, SceneObject, resolve_name
from robospatial_ros.core.spatial.view import SceneView

# synthetic.COLORS paints block k: 0 red, 1 green, 2 blue. Both mugs get the model's label "mug".
RED_MUG = synthetic.Block("mug", 0.35, 0.18, (0.08, 0.08, 0.1))
GREEN_MUG = synthetic.Block("mug", 0.42, -0.04, (0.1, 0.06, 0.06))
BLUE_BOWL = synthetic.Block("bowl", 0.30, -0.24, (0.12, 0.12, 0.05))


@pytest.fixture(scope="module")
def rendering() -> synthetic.Rendering:
    return synthetic.render(synthetic.Tabletop((RED_MUG, GREEN_MUG, BLUE_BOWL), synthetic.default_camera()))


def vlm_reply(rendering: synthetic.Rendering) -> str:
    """What an open-vocabulary VLM would say: a label and a pixel box per object, no colours."""
    names, boxes = rendering.boxes_2d()
    return json.dumps([{"bbox_2d": [int(v) for v in b], "label": n} for n, b in zip(names, boxes)])


@pytest.fixture(scope="module")
def backend(rendering) -> HybridBackend:
    return HybridBackend(ScriptedModel(vlm_reply(rendering)), VLMBackendConfig(box_convention="pixels"), SPATIAL)


def y_of(obj: SceneObject) -> float:
    return float(obj.box.center[1])


def test_grounded_objects_carry_colours_and_size_classes(backend, rendering):
    scene = backend.ground(rendering.frame())
    mugs = sorted((o for o in scene.objects if o.category == "mug"), key=y_of, reverse=True)
    assert [o.name for o in scene.objects if o.name != "table"] == ["mug_1", "mug_2", "bowl"]
    assert [m.colour for m in mugs] == ["red", "green"]  # left (y = +0.18) is the red one
    assert scene.get("bowl").colour == "blue"
    assert all(o.size_class in ("small", "medium", "large") for o in scene.objects if o.name != "table")
    red = resolve_name("the red mug", scene.names)
    assert scene.get(red).colour == "red" and y_of(scene.get(red)) == pytest.approx(RED_MUG.y, abs=0.03)
    assert scene.get(resolve_name("the green one", scene.names)).colour == "green"
    with pytest.raises(AmbiguousObjectError, match="red"):  # the listing tells the mugs apart by colour
        resolve_name("the mug", scene.names)


def test_a_command_by_colour_moves_the_intended_object(backend, rendering):
    frame = rendering.frame()
    names = backend.ground(frame).names
    command = parse_command("put the green mug to the left of the red mug", names)
    table_only = Scene((SceneObject("table", rendering.scene.table_box()),), rendering.scene.camera)
    spot = backend.place(SceneView(table_only, SPATIAL), command, None, frame)
    # The green mug is the one moved: its (0.1, 0.06) footprint, not the red mug's (0.08, 0.08).
    assert sorted(np.round(spot.box.size[:2], 2)) == pytest.approx(sorted(GREEN_MUG.size[:2]), abs=0.02)
    assert spot.xyz[1] > RED_MUG.y + 0.04  # left of the red mug: +y for this camera


def test_over_http_a_served_vlm_grounds_a_command_by_colour(rendering):
    """The robot-user path: a VLM served OpenAI-style (vLLM), `backend:=hybrid`, `vlm.client:=openai`."""
    view, _ = tracked_view(rendering)
    red_id = next(n for n in view.scene.names if view.scene.get(n).colour == "red")
    with ChatServer(reply=vlm_reply(rendering)) as server:
        vlm = VLMBackendConfig(client="openai", openai=OpenAIConfig(base_url=server.url, model="served"))
        hybrid = make_backend("hybrid", SPATIAL, vlm)
        grounded = hybrid.grounded_view(view, rendering.frame()).scene
        command = parse_command("put the dish to the left of the red mug", grounded.names)
        spot = hybrid.place(view, command, None, rendering.frame())
    assert (command.target, command.reference) == (resolve_name("the dish", grounded.names), red_id)
    assert spot.xyz[1] > RED_MUG.y + 0.04  # left of the red mug: +y for this camera
    assert len(server.requests) == 2  # one grounding request per grounded view


def tracked_view(rendering: synthetic.Rendering) -> tuple[SceneView, ObjectTracker]:
    """What the reasoner node holds off a real camera: clustered objects, the tracker's ids, an operator's name."""
    tracker = ObjectTracker(support_name="table")
    tracker.update(Perception().perceive(rendering.frame()).scene)  # ids are handed out on the first update
    scene = tracker.update(Perception().perceive(rendering.frame()).scene)
    tracker.name("the blue object", "dish")
    scene = tracker.update(Perception().perceive(rendering.frame()).scene)
    return SceneView(scene, SPATIAL).prepare(), tracker


def test_grounding_keeps_the_trackers_ids_and_user_names(backend, rendering):
    view, tracker = tracked_view(rendering)
    tracked = {view.scene.get(n).colour: n for n in view.scene.names if n != "table"}
    assert set(tracked) == {"red", "green", "blue"} and all(n.startswith("object_") for n in tracked.values())
    grounded = backend.grounded_view(view, rendering.frame()).scene
    by_colour = {o.colour: o for o in grounded.objects if o.name != "table"}
    assert {c: o.name for c, o in by_colour.items()} == tracked  # the same ids, the same objects
    names = grounded.names
    assert resolve_name("the red mug", names) == tracked["red"]  # the model's label is the category
    assert resolve_name(tracked["green"].replace("_", " "), names) == tracked["green"]  # "object 1"
    assert resolve_name("the dish", names) == tracked["blue"]  # the operator's name, remembered by id
    assert by_colour["blue"].user_name == "dish"
    command = parse_command(f"put {tracked['green'].replace('_', ' ')} behind the dish", names)
    assert (command.target, command.reference) == (tracked["green"], tracked["blue"])


def test_far_objects_keep_the_models_names_and_ids_never_collide(backend, rendering):
    grounded = backend.ground(rendering.frame())
    far = SceneObject("object_0", grounded.get("bowl").box)  # a tracked object where the model saw the bowl ...
    moved = SceneObject("object_1", synthetic.Block("x", 0.9, 0.9, (0.05, 0.05, 0.05)).box())  # ... one far off
    tracked = grounded.with_objects((grounded.get("table"), far, moved))
    relabelled = grounded.with_objects(
        tuple(SceneObject("object_0", o.box, colour=o.colour) if o.name == "mug_1" else o for o in grounded.objects)
    )
    out = carry_ids(relabelled, tracked, IdMatch(0.08))
    names = [o.name for o in out.objects]
    assert len(set(names)) == len(names)  # the model's "object_0" gave way to the tracked id
    assert out.get("object_0").category == "bowl" and "object_1" not in names and "mug_2" in names
    with pytest.raises(ConfigError):
        VLMBackendConfig(id_match_distance_m=-1.0)
