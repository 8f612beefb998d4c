"""The reasoner node with each model backend, selected by parameter, as real processes over DDS.

The node answers from camera frames it receives (a ray-cast synthetic tabletop). The models:
a scripted tiny Qwen2.5-VL checkpoint for `hf`, a real local chat-completions HTTP server for
`openai`, `hybrid` and `verify`.
"""

from __future__ import annotations

import json
from contextlib import ExitStack

import numpy as np
import pytest
import synthetic
from chat_server import ChatServer, user_text
from ros_helpers import Probe, fresh_domain_id, node_process
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import String
from vlm_helpers import save_scripted_qwen

from robospatial_ros.core.language.questions import parse_question
from robospatial_ros.core.reasoning.reasoner import GeometricReasoner
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.core.spatial.view import SceneView
from robospatial_ros.msg import DetectedObjectArray, SpatialAnswer, SpatialQuery
from robospatial_ros.ros.common import (
    ANSWER_TOPIC,
    CAMERA_INFO_TOPIC,
    COLOR_TOPIC,
    COMMAND_TOPIC,
    DEPTH_TOPIC,
    LATCHED,
    OBJECTS_TOPIC,
    QUERY_TOPIC,
    RELIABLE,
    SENSOR,
)
from robospatial_ros.ros.conversions import (
    camera_info_msg,
    image_msg,
    points_2d_from_msg,
    points_3d_from_msg,
    scene_to_msg,
)

SPATIAL = SpatialConfig(grid_resolution_m=0.01, context_threshold_m=0.3)
SPATIAL_ARGS = [
    "-p",
    "spatial.grid_resolution_m:=0.01",
    "-p",
    "spatial.context_threshold_m:=0.3",
    "-p",
    "check_reach:=false",
]
LEFT_OF_BLUE = "points in the free space left of the blue block"


@pytest.fixture(scope="module")
def rendering() -> synthetic.Rendering:
    blocks = (
        synthetic.Block("red block", 0.35, 0.15, (0.08, 0.08, 0.1)),
        synthetic.Block("blue block", 0.40, -0.15, (0.1, 0.06, 0.06)),
    )
    return synthetic.render(synthetic.Tabletop(blocks, synthetic.default_camera()))


def core_points(rendering: synthetic.Rendering, question: str) -> np.ndarray:
    scene = rendering.scene.ground_truth()
    view = SceneView(scene, SPATIAL).prepare()
    return GeometricReasoner(SPATIAL).answer(view, parse_question(question, scene.names)).points_3d


class Camera:
    """Publishes the rendering's objects and frames, and asks the node questions."""

    def __init__(self, domain: int, rendering: synthetic.Rendering):
        self.probe = Probe(domain)
        self.rendering = rendering
        self.probe.subscribe(SpatialAnswer, ANSWER_TOPIC, RELIABLE)
        self.objects = self.probe.publisher(DetectedObjectArray, OBJECTS_TOPIC, LATCHED)
        self.color = self.probe.publisher(Image, COLOR_TOPIC, SENSOR)
        self.depth = self.probe.publisher(Image, DEPTH_TOPIC, SENSOR)
        self.info = self.probe.publisher(CameraInfo, CAMERA_INFO_TOPIC, SENSOR)
        self.queries = self.probe.publisher(SpatialQuery, QUERY_TOPIC, RELIABLE)
        self.commands = self.probe.publisher(String, COMMAND_TOPIC, RELIABLE)
        self.asked = 0

    def publish_scene(self) -> None:
        r, cam = self.rendering, self.rendering.scene.camera
        self.objects.publish(scene_to_msg(r.scene.ground_truth(), "panda_link0"))
        self.color.publish(image_msg(r.color, "rgb8", "camera"))
        self.depth.publish(image_msg(np.round(r.depth_m * 1000).astype(np.uint16), "16UC1", "camera"))
        self.info.publish(camera_info_msg(cam.K, cam.width, cam.height, "camera"))

    def answer(self, qid: str) -> SpatialAnswer | None:
        return next((a for a in self.probe.received[ANSWER_TOPIC] if a.query_id == qid), None)

    def ask(self, question: str, timeout_s: float = 60.0) -> SpatialAnswer:
        """Re-publish the scene until the node has it all, then return its answer to `question`."""
        assert self.probe.wait_for_subscribers(QUERY_TOPIC, timeout_s=timeout_s), "the reasoner never subscribed"
        assert self.probe.wait_for_subscribers(COLOR_TOPIC, timeout_s=timeout_s), "no camera subscription"
        for _ in range(int(timeout_s / 2)):
            self.publish_scene()
            self.probe.spin_until(lambda: False, 0.3)
            self.asked += 1
            qid = f"q{self.asked}"
            self.queries.publish(SpatialQuery(query_id=qid, question=question))
            self.probe.spin_until(lambda q=qid: bool(self.answer(q)), 10.0)
            got = self.answer(qid)
            if got and "no image has arrived" not in got.error and "no objects" not in got.error:
                return got
        raise AssertionError(f"no usable answer to {question!r}")


@pytest.fixture(scope="module")
def scripted_points_model(tmp_path_factory: pytest.TempPathFactory):
    return save_scripted_qwen(tmp_path_factory.mktemp("scripted"), "(538, 702)")


def test_hf_backend_in_the_node(rendering, scripted_points_model):
    domain = fresh_domain_id()
    args = [
        "-p",
        "backend:=hf",
        "-p",
        f"vlm.hf.model_path:={scripted_points_model}",
        "-p",
        "vlm.point_convention:=qwen1000",
        *SPATIAL_ARGS,
    ]
    with node_process("reasoner_node", domain, args) as proc:
        cam = Camera(domain, rendering)
        answer = cam.ask(LEFT_OF_BLUE)
        assert answer.success, answer.error
        np.testing.assert_allclose(points_2d_from_msg(answer)[0], [0.538, 0.702], atol=1e-6)
        assert points_3d_from_msg(answer)[0, 2] == pytest.approx(0.0, abs=1e-6)  # on the table top
        bad = cam.ask("is the red block left of the blue block?")  # the scripted model never says yes/no
        assert not bad.success and "does not start with yes or no" in bad.error
        assert proc.poll() is None
        cam.probe.close()


def test_openai_backend_in_the_node(rendering):
    domain = fresh_domain_id()
    with ChatServer(reply=lambda req: "Yes, it is." if "left of" in user_text(req) else "No") as server:
        args = [
            "-p",
            "backend:=openai",
            "-p",
            f"vlm.openai.base_url:={server.url}",
            "-p",
            "vlm.openai.model:=served-model",
            *SPATIAL_ARGS,
        ]
        with node_process("reasoner_node", domain, args) as proc:
            cam = Camera(domain, rendering)
            answer = cam.ask("is the red block left of the blue block?")
            assert answer.success and answer.answer == "Yes", answer.error
            assert server.requests[-1].body["model"] == "served-model"
            content = server.requests[-1].body["messages"][-1]["content"]
            assert content[0]["image_url"]["url"].startswith("data:image/png;base64,")
            assert proc.poll() is None
            cam.probe.close()


def test_hybrid_backend_in_the_node(rendering):
    names, boxes = rendering.boxes_2d()
    grounding = json.dumps([{"bbox_2d": [int(v) for v in b], "label": n} for n, b in zip(names, boxes)])
    domain = fresh_domain_id()
    with ChatServer(reply=grounding) as server:
        args = [
            "-p",
            "backend:=hybrid",
            "-p",
            "vlm.client:=openai",
            "-p",
            f"vlm.openai.base_url:={server.url}",
            "-p",
            "vlm.openai.model:=m",
            *SPATIAL_ARGS,
        ]
        with node_process("reasoner_node", domain, args) as proc:
            cam = Camera(domain, rendering)
            answer = cam.ask("is the red block left of the blue block?")
            assert answer.success and answer.answer == "Yes", answer.error
            assert any("grounded by the model" in a for a in answer.assumptions)
            assert "bbox_2d" in user_text(server.requests[-1].body)
            assert proc.poll() is None
            cam.probe.close()


def test_verify_backend_in_the_node(rendering):
    good = core_points(rendering, LEFT_OF_BLUE)[:2]
    on_red = np.array([[0.35, 0.15, 0.0]])  # the red block's footprint: occupied
    cam_model = rendering.scene.camera
    xy = cam_model.normalize(cam_model.project(np.vstack([on_red, good]))[0])
    reply = "[" + ", ".join(f"({x:.4f}, {y:.4f})" for x, y in xy) + "]"
    domain = fresh_domain_id()
    with ChatServer(reply=reply) as server, ExitStack() as stack:
        args = [
            "-p",
            "backend:=verify",
            "-p",
            "vlm.client:=openai",
            "-p",
            f"vlm.openai.base_url:={server.url}",
            "-p",
            "vlm.openai.model:=m",
            *SPATIAL_ARGS,
        ]
        proc = stack.enter_context(node_process("reasoner_node", domain, args))
        cam = Camera(domain, rendering)
        answer = cam.ask(LEFT_OF_BLUE)
        assert answer.success, answer.error
        np.testing.assert_allclose(points_3d_from_msg(answer), good, atol=3e-3)
        assert any("rejected 1 on occupied space" in a for a in answer.assumptions)
        assert proc.poll() is None
        cam.probe.close()
