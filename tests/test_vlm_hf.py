"""The hf backend end to end on tiny Qwen2.5-VL checkpoints built offline with the real Qwen vocabulary."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest
from vlm_helpers import random_image, save_scripted_qwen

from robospatial_ros.core.errors import ConfigError
from robospatial_ros.core.language.questions import parse_question
from robospatial_ros.core.perception.frame import RGBDFrame
from robospatial_ros.core.reasoning.backends import VLMBackendConfig, VLMParseFailure, make_backend
from robospatial_ros.core.reasoning.placement import PlacementError
from robospatial_ros.core.reasoning.vlm.base import VisualQuestion, VLMError
from robospatial_ros.core.reasoning.vlm.hf import HFConfig, HFVLMClient, peft_quietly
from robospatial_ros.core.reasoning.vlm.qwen import IMAGE_PAD_ID, SIZES, qwen_tokenizer, save_random_qwen_vl
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.core.spatial.view import SceneView

import scenes

pytest.importorskip("transformers", reason="the VLM extra is part of make setup")


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory):
    return save_random_qwen_vl(tmp_path_factory.mktemp("tiny-qwen"), "tiny", seed=0, max_pixels=320 * 240)


@pytest.fixture(scope="module")
def points_dir(tmp_path_factory: pytest.TempPathFactory):
    return save_scripted_qwen(tmp_path_factory.mktemp("scripted-points"), "(538, 702)")


@pytest.fixture(scope="module")
def yes_dir(tmp_path_factory: pytest.TempPathFactory):
    return save_scripted_qwen(tmp_path_factory.mktemp("scripted-yes"), "Yes")


def tabletop() -> SceneView:
    s = scenes.scene(scenes.cube("mug", 0.3, 0.2), scenes.cube("bowl", 0.3, -0.1), scenes.cube("box", 0.5, 0.0))
    return SceneView(s, SpatialConfig(grid_resolution_m=0.01, context_threshold_m=0.3)).prepare()


def frame_for(view: SceneView) -> RGBDFrame:
    cam = view.scene.camera
    depth = np.zeros((cam.height, cam.width), np.float32)  # the lifting must not need it
    return RGBDFrame(random_image(cam.height, cam.width), depth, cam.K, cam.camera_to_world, 1.0)


# --- the vocabulary and the model -------------------------------------------------------------------


def test_tokenizer_has_the_real_qwen_vocabulary_and_special_ids():
    tok = qwen_tokenizer()
    assert tok.convert_tokens_to_ids("<|endoftext|>") == 151643
    assert tok.convert_tokens_to_ids("<|im_start|>") == 151644
    assert tok.convert_tokens_to_ids("<|image_pad|>") == IMAGE_PAD_ID == 151655
    ids = tok.encode("Is the mug left of the bowl?", add_special_tokens=False)
    assert tok.decode(ids) == "Is the mug left of the bowl?"
    assert len(ids) == 8  # whole-word BPE tokens, not characters
    assert tok.encode("538", add_special_tokens=False) == [tok.convert_tokens_to_ids(d) for d in "538"]  # digits split


def test_a_saved_random_model_records_its_shape(tiny_dir):
    recorded = json.loads((tiny_dir / "robospatial_random_init.json").read_text())
    assert recorded == json.loads(json.dumps(asdict(SIZES["tiny"])))


def test_random_tiny_model_answers_a_batch_of_differently_sized_images(tiny_dir):
    client = HFVLMClient(HFConfig(model_path=str(tiny_dir), max_new_tokens=5, batch_size=2))
    prompt = client.prompt_text("Is the mug left of the bowl?")
    assert prompt.count("<|image_pad|>") == 1 and prompt.endswith("<|im_start|>assistant\n")
    questions = [VisualQuestion(random_image(240, 320, s), f"question {s}") for s in range(2)]
    questions.append(VisualQuestion(random_image(120, 200, 2), "question 2"))
    answers = client.answer_texts(questions)
    assert len(answers) == 3 and all(isinstance(a, str) for a in answers)
    assert len(client.timings.new_tokens) == 3 and max(client.timings.new_tokens) <= 5
    assert client.timings.generate_s > 0 and client.timings.prompt_s > 0


def test_missing_or_wrong_model_paths_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="model_path"):
        HFVLMClient(HFConfig())
    with pytest.raises(VLMError, match="not a directory"):
        HFVLMClient(HFConfig(model_path=str(tmp_path / "nowhere")))
    with pytest.raises(VLMError, match="cannot read the model config"):
        HFVLMClient(HFConfig(model_path=str(tmp_path)))
    with pytest.raises(ConfigError, match="dtype"):
        HFConfig(model_path="x", dtype="float8")
    with pytest.raises(ConfigError, match="min_pixels"):
        HFConfig(model_path="x", min_pixels=10_000, max_pixels=100)


def test_lora_adapter_saved_then_loaded_changes_the_model(tiny_dir, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model

    base = HFVLMClient(HFConfig(model_path=str(tiny_dir)))
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    with peft_quietly():
        tuned = get_peft_model(HFVLMClient(HFConfig(model_path=str(tiny_dir))).model, lora).eval()
    tuned.save_pretrained(tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    loaded = HFVLMClient(HFConfig(model_path=str(tiny_dir), adapter_path=str(tmp_path / "adapter")))

    ids = torch.tensor([qwen_tokenizer().encode("Is the mug left of the bowl?")])
    with torch.no_grad():
        want = tuned(input_ids=ids).logits
        got = loaded.model(input_ids=ids).logits
        plain = base.model(input_ids=ids).logits
    assert torch.allclose(got, want, atol=1e-5)
    assert not torch.allclose(got, plain, atol=1e-3)
    with pytest.raises(VLMError, match="adapter_config.json"):
        HFVLMClient(HFConfig(model_path=str(tiny_dir), adapter_path=str(tmp_path)))


# --- the hf backend: parse, lift, place -------------------------------------------------------------


def test_scripted_model_points_are_read_and_lifted_to_the_support_plane(points_dir):
    view = tabletop()
    frame = frame_for(view)
    backend = make_backend(
        "hf",
        view.config,
        VLMBackendConfig(point_convention="qwen1000", hf=HFConfig(model_path=str(points_dir), max_new_tokens=16)),
    )
    query = parse_question("point to free space left of the bowl", view.scene.names)
    answer = backend.answer(view, query, frame)
    np.testing.assert_allclose(answer.points_2d, [[0.538, 0.702]])
    assert answer.text == "[(0.538, 0.702)]"
    # On the bowl's base plane (z = 0), and seen at the model's pixel.
    assert answer.points_3d[0, 2] == pytest.approx(0.0, abs=1e-9)
    uv, _ = view.scene.camera.project(answer.points_3d)
    np.testing.assert_allclose(uv[0], [0.538 * frame.width, 0.702 * frame.height], atol=1e-6)

    from robospatial_ros.core.language.commands import parse_command

    cmd = parse_command("put the mug to the left of the bowl", view.scene.names)
    spot = backend.place(view, cmd, None, frame)
    np.testing.assert_allclose(spot.xyz, answer.points_3d[0])
    with pytest.raises(PlacementError, match="within reach"):
        backend.place(view, cmd, lambda pts: np.zeros(len(pts), bool), frame)


def test_scripted_yes_and_unreadable_replies(yes_dir, tiny_dir):
    view = tabletop()
    frame = frame_for(view)
    query = parse_question("is the mug left of the bowl?", view.scene.names)
    yes = make_backend("hf", view.config, VLMBackendConfig(hf=HFConfig(model_path=str(yes_dir))))
    answer = yes.answer(view, query, frame)
    assert answer.yes is True and answer.text == "Yes"
    assert any("model reply: Yes" in n for n in answer.assumptions)
    with pytest.raises(Exception, match="no image"):
        yes.answer(view, query, None)
    # A random model rambles: the backend says so with a typed error instead of guessing.
    junk = make_backend("hf", view.config, VLMBackendConfig(hf=HFConfig(model_path=str(tiny_dir), max_new_tokens=4)))
    with pytest.raises(VLMParseFailure, match="does not start with yes or no"):
        junk.answer(view, query, frame)


def test_llava_style_model_gets_the_user_assistant_template(tmp_path):
    from vlm_helpers import save_tiny_llava

    client = HFVLMClient(HFConfig(model_path=str(save_tiny_llava(tmp_path)), max_new_tokens=3, batch_size=2))
    assert client.template == "llava"
    assert (
        client.prompt_text("Is the mug left of the bowl?") == "USER: <image>\nIs the mug left of the bowl? ASSISTANT:"
    )
    answers = client.generate([random_image(120, 160, 1), random_image(90, 90, 2)], ["is it?", "where?"])
    assert len(answers) == 2 and len(client.timings.new_tokens) == 2
    assert client.seen_image_size(160, 120) == (160, 120)  # pixel answers refer to the camera image
