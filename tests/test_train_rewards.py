"""GRPO reward functions on hand-made completions, with hand-computed expectations."""

from __future__ import annotations

import json

import numpy as np
import pytest

from robospatial_ros.core.errors import ConfigError
from robospatial_ros.core.reasoning.reasoner import GeometricReasoner
from robospatial_ros.core.scene import scene_to_dict
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.learn.train.config import GRPOSettings, TrainConfig, TrainDataError
from robospatial_ros.learn.train.grpo import grpo_arguments
from robospatial_ros.learn.train.rewards import (
    accuracy_reward,
    choice_reward,
    completion_text,
    format_reward,
    point_in_region_reward,
    reward_functions,
    yes_no_reward,
)

import scenes


def chat(text: str) -> list[dict]:
    """A completion as trl passes it for conversational prompts."""
    return [{"role": "assistant", "content": text}]


# --- a hand-built tabletop: mug at y=0.2, bowl at y=-0.1 (10 cm cubes on a table at z=0) -------------
# The tilted test camera looks along +x, so image left is world +y: "left of the bowl" is the +y side.
SCENE = scenes.scene(scenes.cube("mug", 0.3, 0.2), scenes.cube("bowl", 0.3, -0.1))
TABLETOP = {"grid_resolution_m": 0.01, "context_threshold_m": 0.3}
LEFT_OF_BOWL = {
    "scene": scene_to_dict(SCENE),
    "query": {"type": "context", "frame": "ego", "relation": "left", "reference": "bowl", "object": None},
    "spatial_config": TABLETOP,  # the generator's settings, as robospatial datagen writes them
}
# World points on the table top (z = 0), metres.
BETWEEN = (0.3, 0.05, 0.0)  # free, on the bowl's left: accepted
ON_MUG = (0.3, 0.2, 0.0)  # the mug's footprint: occupied
RIGHT_OF_BOWL = (0.3, -0.3, 0.0)  # free but on the wrong side
BEHIND_GAP = (0.2, 0.05, 0.0)  # free, on the bowl's left: accepted


def image_points(*world: tuple[float, float, float]) -> str:
    """The answer text a model would write for these world points: normalized image (x, y), 3 decimals."""
    uv, _ = SCENE.camera.project(np.array(world, dtype=float))
    xy = SCENE.camera.normalize(uv)
    return "[" + ", ".join(f"({x:.3f}, {y:.3f})" for x, y in xy) + "]"


def test_completion_text_reads_strings_and_assistant_messages():
    assert completion_text("Yes") == "Yes"
    assert completion_text(chat("No.")) == "No."
    parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    assert completion_text([{"role": "assistant", "content": parts}]) == "ab"


def test_yes_no_reward_follows_the_official_starts_with_rule():
    completions = ["Yes", chat("no, it is not"), "The answer is yes", "<think>left</think><answer>No</answer>", "Yes"]
    answers = ["Yes", "No", "Yes", "no", "[(0.1, 0.2)]"]
    # 1: starts with yes; 2: starts with no; 3: does not start with yes/no -> 0; 4: <answer> content is "No" -> 1;
    # 5: a points question is not a yes/no item -> None.
    assert yes_no_reward(completions, answer=answers) == [1.0, 1.0, 0.0, 1.0, None]


def test_choice_reward_is_an_exact_match_up_to_case_quotes_and_spacing():
    completions = ['"left"', "Left.", "<answer>2,0, 3 ,1</answer>", "right", "the left one", "B"]
    answers = ["left", "left", "2, 0, 3, 1", "left", "left", "b"]
    assert choice_reward(completions, answer=answers) == [1.0, 1.0, 1.0, 0.0, 0.0, 1.0]


def test_format_reward_needs_think_then_answer_and_nothing_else():
    completions = [
        "<think>the mug is left</think><answer>Yes</answer>",
        "  <think>\nmulti\nline\n</think>\n<answer>No</answer>\n",
        "<answer>Yes</answer>",  # no thinking
        "<think>x</think><answer>Yes</answer> trailing words",
        "Yes",
        "<answer>Yes</answer><think>late</think>",
    ]
    assert format_reward(completions) == [1.0, 1.0, 0.0, 0.0, 0.0, 0.0]


def test_point_in_region_counts_the_share_of_points_the_core_accepts():
    four = image_points(BETWEEN, ON_MUG, RIGHT_OF_BOWL, BEHIND_GAP)  # 2 of 4 acceptable
    completions = [
        four,
        chat(f"<think>free space</think><answer>{image_points(BETWEEN)}</answer>"),
        "somewhere to the left",
        image_points(ON_MUG, RIGHT_OF_BOWL),
        "[(1.5, 0.2)]",
    ]
    metadata = [json.dumps(LEFT_OF_BOWL)] * len(completions)  # as the dataset column holds it
    assert point_in_region_reward(completions, metadata=metadata) == [0.5, 1.0, 0.0, 0.0, 0.0]


def test_point_in_region_ends_where_the_context_region_does():
    far_left = (0.3, 0.4, 0.0)  # free and left of the bowl, but 0.45 m from it: beyond context_threshold_m
    text = image_points(BETWEEN, far_left)
    assert point_in_region_reward([text], metadata=[LEFT_OF_BOWL]) == [0.5]
    wide = {**LEFT_OF_BOWL, "spatial_config": {**TABLETOP, "context_threshold_m": 0.6}}
    assert point_in_region_reward([text], metadata=[wide]) == [1.0]


def test_point_in_region_uses_the_frame_and_relation_of_the_query():
    right = {**LEFT_OF_BOWL, "query": {**LEFT_OF_BOWL["query"], "relation": "right"}}
    text = image_points(BETWEEN, RIGHT_OF_BOWL, BEHIND_GAP)
    assert point_in_region_reward([text], metadata=[right]) == [pytest.approx(1 / 3)]


def test_the_cores_own_context_answer_earns_full_reward():
    question = (
        "In the image, there is the bowl. Pinpoint several points within the vacant space situated left of "
        "the bowl from the camera's perspective."
    )
    answer = GeometricReasoner(SpatialConfig(**TABLETOP)).ask(SCENE, question)
    assert len(answer.points_2d) > 5
    assert point_in_region_reward([answer.text], metadata=[LEFT_OF_BOWL]) == [1.0]


def test_point_in_region_skips_samples_without_a_context_query_and_rejects_bad_ones():
    assert point_in_region_reward(["[(0.5, 0.5)]"], metadata=["{}"]) == [None]
    bad = {**LEFT_OF_BOWL, "query": {**LEFT_OF_BOWL["query"], "reference": "teapot"}}
    with pytest.raises(TrainDataError, match="teapot"):
        point_in_region_reward(["[(0.5, 0.5)]"], metadata=[bad])


def test_accuracy_routes_each_sample_to_its_check():
    completions = ["Yes", "No", image_points(BETWEEN, ON_MUG), '"closer"', "2, 0, 1"]
    answers = ["Yes", "Yes", "[(0.4, 0.5), (0.5, 0.5), (0.5, 0.6)]", "closer", "2, 1, 0"]
    kinds = ["robospatial", "robospatial", "robospatial", "sat", "ssrl"]
    metadata = ["{}", "{}", json.dumps(LEFT_OF_BOWL), "{}", "{}"]
    assert accuracy_reward(completions, answer=answers, kind=kinds, metadata=metadata) == [1.0, 0.0, 0.5, 1.0, 0.0]


def test_the_configured_rewards_and_weights_reach_trl():
    completions = ["<think>a</think><answer>Yes</answer>", "Yes", "<think>b</think><answer>No</answer>"]
    columns = {"answer": ["Yes", "Yes", "Yes"], "kind": ["robospatial"] * 3, "metadata": ["{}"] * 3}
    ssrl = GRPOSettings(rewards=("accuracy", "format"), reward_weights=(0.9, 0.1))
    (accuracy, fmt), weights = reward_functions(ssrl)
    assert accuracy(completions, **columns) == [1.0, 1.0, 0.0] and fmt(completions, **columns) == [1.0, 0.0, 1.0]
    assert [accuracy.__name__, fmt.__name__] == ["accuracy_reward", "format_reward"]  # trl logs by name
    # trl forms the weighted sum itself: what matters is that it gets these weights.
    config = TrainConfig(grpo=ssrl, per_device_batch_size=ssrl.num_generations)
    assert grpo_arguments(config, False, weights).reward_weights == [0.9, 0.1]


def test_reward_settings_are_validated():
    with pytest.raises(ConfigError, match="one weight per reward"):
        GRPOSettings(rewards=("accuracy", "format"), reward_weights=(1.0,))
    with pytest.raises(ConfigError, match="rewards must name"):
        GRPOSettings(rewards=("bleu",), reward_weights=(1.0,))
