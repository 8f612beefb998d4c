"""Grounding items: boxes from instance masks, written in the convention the hybrid backend reads."""

from __future__ import annotations

import json

import numpy as np
import pytest

from robospatial_ros.core.errors import ConfigError
from robospatial_ros.core.language.parsing import PointConvention, parse_boxes
from robospatial_ros.core.language.prompts import grounding_prompt
from robospatial_ros.learn.datagen.grounding import GroundingConfig, box_answer, grounding_sim_samples, mask_boxes


def masks() -> dict[str, np.ndarray]:
    out = {name: np.zeros((100, 200), bool) for name in ("mug", "bowl", "speck", "gone")}
    out["mug"][10:30, 120:160] = True  # u 120..159, v 10..29 -> edges [120, 10, 160, 30]
    out["bowl"][50:90, 20:70] = True  # -> [20, 50, 70, 90]
    out["speck"][5:7, 5:7] = True  # 2 px: below min_box_px
    return out


def test_mask_boxes_are_tight_sorted_left_to_right_and_drop_specks():
    boxes = mask_boxes(masks(), min_box_px=4)
    assert [n for n, _ in boxes] == ["bowl", "mug"]
    np.testing.assert_array_equal(boxes[0][1], [20, 50, 70, 90])
    np.testing.assert_array_equal(boxes[1][1], [120, 10, 160, 30])


@pytest.mark.parametrize(
    ("convention", "bowl"),
    [("qwen1000", [100, 500, 350, 900]), ("pixels", [20, 50, 70, 90]), ("normalized", [0.1, 0.5, 0.35, 0.9])],
)
def test_answers_in_each_convention_parse_back_to_the_same_boxes(convention, bowl):
    boxes = mask_boxes(masks(), min_box_px=4)
    text = box_answer(boxes, 200, 100, convention)
    assert json.loads(text)[0] == {"bbox_2d": bowl, "label": "bowl"}
    parsed = parse_boxes(text, PointConvention(convention), (200, 100))  # what the hybrid backend does
    assert [b.label for b in parsed] == ["bowl", "mug"]
    np.testing.assert_allclose(parsed[0].xyxy, [0.1, 0.5, 0.35, 0.9], atol=1e-9)
    np.testing.assert_allclose(parsed[1].xyxy, [0.6, 0.1, 0.8, 0.3], atol=1e-9)


def test_sim_items_match_a_fresh_render_of_the_same_layout():
    from robospatial_ros.learn.datagen.episodes import episode_seed
    from robospatial_ros.sim.tabletop import TabletopConfig, TabletopSim

    cfg = GroundingConfig(image_width_px=160, image_height_px=120, progress=False, min_objects=3, max_objects=3)
    (sample,) = list(grounding_sim_samples(cfg, 1, seed=5))
    assert sample.question == grounding_prompt() and sample.kind == "grounding"
    ep = sample.metadata["source"]["sim_seed"]
    assert ep == episode_seed(5, 0)
    shot = TabletopSim(
        TabletopConfig(seed=ep, objects=cfg.sim_objects, num_objects=3, image_width_px=160, image_height_px=120)
    ).render()
    expected = dict(mask_boxes(dict(shot.masks.masks), cfg.min_box_px))
    assert set(sample.metadata["boxes_px"]) == set(expected) and len(expected) >= 2
    for entry in json.loads(sample.answer):
        box = np.asarray(entry["bbox_2d"]) / 1000.0 * [160, 120, 160, 120]
        np.testing.assert_allclose(box, expected[entry["label"]], atol=0.5 * 160 / 1000 + 1e-9)
    np.testing.assert_array_equal(sample.images[0], shot.frame.color)
    assert [s.answer for s in grounding_sim_samples(cfg, 1, seed=5)] == [sample.answer]  # deterministic


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="convention"):
        GroundingConfig(convention="percent")
    with pytest.raises(ConfigError, match="min_objects"):
        GroundingConfig(min_objects=5, max_objects=2)
    with pytest.raises(ConfigError, match="episodes"):
        list(grounding_sim_samples(GroundingConfig(progress=False), -1, 0))
    with pytest.raises(ConfigError, match="sim_objects"):  # caught here, not by the simulator later
        GroundingConfig(sim_objects=("mug", "spaceship"))
    with pytest.raises(ConfigError, match="max_objects <= 2"):
        GroundingConfig(sim_objects=("mug", "bowl"), min_objects=1, max_objects=3)
    with pytest.raises(ConfigError, match="seed"):
        grounding_sim_samples(GroundingConfig(progress=False), 1, -2)  # raised at the call
