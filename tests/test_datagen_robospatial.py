"""RoboSpatial data generation: counts worked out by hand, every answer re-derived independently
(through `robospatial ask` and a fresh reasoner on the stored scene), context regions, paraphrases."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from robospatial_ros.cli.main import main as cli_main
from robospatial_ros.core.configio import load_config
from robospatial_ros.core.errors import ConfigError, SceneError
from robospatial_ros.core.language.questions import parse_question
from robospatial_ros.core.reasoning.reasoner import GeometricReasoner
from robospatial_ros.core.scene import load_scene
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.core.spatial.view import SceneView
from robospatial_ros.learn.datagen.robospatial import (
    RoboSpatialGenConfig,
    RoboSpatialGenError,
    mask_to_rle,
    rle_to_mask,
    scene_file_samples,
    sim_samples,
)

S = 0.70710678  # cos 45 degrees

# A table top (2 x 2 m, top at z = 0) with a 10 cm mug at y = +0.3 and a 10 cm bowl at y = -0.3, both at
# x = 0.5. The camera stands at (-0.5, 0, 1) and looks down 45 degrees along +x: optical x (image right)
# is world -y, so the mug is on the image's left. 160 x 120 pixels, 65 degrees wide.
HAND_SCENE = {
    "image_size": [160, 120],
    "camera_annotations": {
        "intrinsic": [[125.0, 0, 79.5, 0], [0, 125.0, 59.5, 0], [0, 0, 1, 0], [0, 0, 0, 1]],
        "extrinsic": [[0, -S, S, -0.5], [-1, 0, 0, 0], [0, -S, -S, 1.0], [0, 0, 0, 1]],
    },
    "objects": [
        {"Name": "table", "bbox_3d": [[0.5, 0.0, -0.05, 2.0, 2.0, 0.1, 0, 0, 0]]},
        {"Name": "mug", "bbox_3d": [[0.5, 0.3, 0.05, 0.1, 0.1, 0.1, 0, 0, 0]]},
        {"Name": "bowl", "bbox_3d": [[0.5, -0.3, 0.05, 0.1, 0.1, 0.1, 0, 0, 0]]},
    ],
}


def write_hand_scene(folder: Path, stem: str = "hand", image_key: str | None = None) -> Path:
    """HAND_SCENE as <stem>.json with a flat 160x120 image next to it (or named by the 'image' key)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = dict(HAND_SCENE, **({"image": image_key} if image_key else {}))
    path = folder / f"{stem}.json"
    path.write_text(json.dumps(data))
    image = np.zeros((120, 160, 3), np.uint8)
    image[:, :80] = (200, 60, 40)  # two colours, so the image is not trivially uniform
    image[:, 80:] = (40, 90, 200)
    cv2.imwrite(str(folder / (image_key or f"{stem}.png")), image)
    return path


def hand_samples(tmp_path: Path, **config) -> list:
    return list(scene_file_samples(write_hand_scene(tmp_path), None, RoboSpatialGenConfig(progress=False, **config)))


def first_point(answer: str) -> tuple[float, float]:
    x, y = re.findall(r"\(([\d.]+), ([\d.]+)\)", answer)[0]
    return float(x), float(y)


def inside(point: tuple[float, float], polygon: list[list[float]]) -> bool:
    """Even-odd crossing count of a ray to the right (the official rule), written out here independently."""
    x, y = point
    crossings = 0
    for (x1, y1), (x2, y2) in zip(polygon, polygon[1:] + polygon[:1]):
        if (y1 > y) != (y2 > y) and x < x1 + (x2 - x1) * (y - y1) / (y2 - y1):
            crossings += 1
    return crossings % 2 == 1


def test_hand_built_scene_gives_the_hand_counted_questions(tmp_path):
    """Objects table, mug, bowl: every category once, so 3 * 2 = 6 ordered pairs.

    Configuration (one Yes + one No per relation that holds, per frame and axis):
    - mug/bowl (either order): ego: left/right holds (image columns apart, mug on the left); depth ranges
      are equal (same x) -> no front/behind; same heights -> no above/below: 2 questions. world (camera
      heading = ego): 2. object (the bowl's/mug's own frame, forward +x, right -y): the offset is purely
      sideways -> left/right only: 2. So 6 per order, 12 for both.
    - mug/table, bowl/table (either order): ego/world: the table's silhouette spans the object's in
      columns and depth -> nothing; the mug stands on the table (z_min 0 = table z_max 0) -> strictly
      neither above nor below; object frame: the boxes only touch (no 3D overlap), offset sideways ->
      left/right: 2. So 2 per ordered pair, 4 pairs: 8.
    Configuration total: 12 + 8 = 20 (ego 4, world 4, object 12).
    Compatibility: 13 per ordered pair (ego 4 + object 4 + world 4 + 'on top'), the object placed never
    the table (mug and bowl stand on it: a support is no movable target) -> 4 * 13 = 52 (ego 16, object
    16, world 20); with movable_supports (the reference generator's way) all 6 pairs -> 78.
    Context: 12 per object (3 frames x 4 sides) when >= 3 visible free points: mug and bowl have free
    table all around (0.5 m threshold, 0.1 m cells) -> 24; the table itself has no free cells beyond
    its own footprint (the grid is the objects' extent = the table) -> 0. Total 24 (8 per frame).
    """
    samples = hand_samples(tmp_path)
    assert Counter(s.task for s in samples) == {"configuration": 20, "compatibility": 52, "context": 24}
    assert not any(s.metadata["query"]["object"] == "table" for s in samples if s.task == "compatibility")
    everything = hand_samples(tmp_path / "all", movable_supports=True)
    assert Counter(s.task for s in everything)["compatibility"] == 78
    by_frame = Counter((s.task, s.frame) for s in samples)
    assert by_frame == {
        ("configuration", "ego"): 4,
        ("configuration", "world"): 4,
        ("configuration", "object"): 12,
        ("compatibility", "ego"): 16,
        ("compatibility", "object"): 16,
        ("compatibility", "world"): 20,
        ("context", "ego"): 8,
        ("context", "world"): 8,
        ("context", "object"): 8,
    }
    config = [s for s in samples if s.task == "configuration"]
    assert sum(s.answer == "Yes" for s in config) == sum(s.answer == "No" for s in config) == 10
    ego = {
        (s.metadata["query"]["object"], s.metadata["query"]["relation"]): s.answer for s in config if s.frame == "ego"
    }
    assert ego == {("mug", "left"): "Yes", ("mug", "right"): "No", ("bowl", "right"): "Yes", ("bowl", "left"): "No"}
    assert all(s.kind == "robospatial" and not s.question.startswith("<image>") for s in samples)
    assert all(s.images[0].shape == (120, 160, 3) for s in samples)


def test_every_scene_file_answer_matches_robospatial_ask(tmp_path, capsys):
    samples = hand_samples(tmp_path)
    scene_json = tmp_path / "hand.json"
    for sample in samples:
        assert cli_main(["ask", "--scene", str(scene_json), sample.question, "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        q = sample.metadata["query"]
        assert out["answer"] == sample.answer, sample.question
        assert (out["type"], out["frame"], out["relation"]) == (q["type"], q["frame"], q["relation"])
        assert (out["object"], out["reference"]) == (q["object"], q["reference"])
        if sample.task == "context":
            assert np.allclose(out["points_3d"], sample.metadata["points_3d"], atol=1e-4)


@pytest.fixture(scope="module")
def sim_episode():
    os.environ.setdefault("MUJOCO_GL", "egl")
    config = RoboSpatialGenConfig(
        sim_objects=("mug", "bowl", "box", "can"),
        min_objects=3,
        max_objects=3,
        image_width_px=160,
        image_height_px=120,
        progress=False,
    )
    return config, list(sim_samples(config, 1, 7))


def test_sim_answers_are_rederived_from_the_stored_scene(sim_episode, tmp_path, capsys):
    config, samples = sim_episode
    assert {s.task for s in samples} == {"configuration", "compatibility", "context"}
    meta = samples[0].metadata
    scene_json, spatial_yaml = tmp_path / "scene.json", tmp_path / "spatial.yaml"
    scene_json.write_text(json.dumps(meta["scene"]))
    spatial_yaml.write_text(yaml.safe_dump(meta["spatial_config"]))
    assert all(s.metadata["scene"] == meta["scene"] for s in samples)  # one episode, one scene
    assert meta["spatial_config"]["grid_resolution_m"] == 0.01  # the tabletop preset for sim episodes
    # Bulk: every question re-parsed from its text and answered on the reloaded scene by a fresh reasoner.
    scene = load_scene(scene_json)
    spatial = load_config(SpatialConfig, spatial_yaml)
    view, reasoner = SceneView(scene, spatial), GeometricReasoner(spatial)
    for sample in samples:
        answer = reasoner.answer(view, parse_question(sample.question, scene.names))
        assert answer.text == sample.answer, sample.question
    # And a sample of them through the command line, each on a cold start.
    for sample in samples[:: max(1, len(samples) // 12)]:
        args = ["ask", "--scene", str(scene_json), sample.question, "--json", "--config", str(spatial_yaml)]
        assert cli_main(args) == 0
        assert json.loads(capsys.readouterr().out)["answer"] == sample.answer


def test_sim_generation_is_seeded_per_episode(sim_episode):
    config, samples = sim_episode
    again = list(sim_samples(config, 1, 7))
    assert [(s.question, s.answer) for s in again] == [(s.question, s.answer) for s in samples]
    assert np.array_equal(again[0].images[0], samples[0].images[0])
    assert samples[0].metadata["source"]["episode"] == 0
    assert len({tuple(s.metadata["query"].values()) for s in samples}) == len(samples)  # no duplicate query


def test_context_regions_hold_the_answers_and_respect_the_side(tmp_path):
    samples = [s for s in hand_samples(tmp_path) if s.task == "context"]
    scene = load_scene(tmp_path / "hand.json")
    mug = SceneView(scene).view(scene.get("mug")).ego
    for s in samples:
        polygon, mask = s.metadata["region_polygon"], rle_to_mask(s.metadata["region_mask"])
        assert mask.shape == (120, 160) and len(polygon) >= 3
        x, y = first_point(s.answer)
        assert inside((x, y), polygon), s.question
        assert mask[round(y * 120), round(x * 160)]
    ego = {(s.metadata["query"]["reference"], s.metadata["query"]["relation"]): s for s in samples if s.frame == "ego"}
    # Left of the mug in the image: no valid pixel right of the mug's leftmost column (+1 px of margin).
    left = rle_to_mask(ego["mug", "left"].metadata["region_mask"])
    assert np.flatnonzero(left.any(axis=0)).max() <= int(np.floor(mug.x_min)) + 1
    right = rle_to_mask(ego["mug", "right"].metadata["region_mask"])
    assert np.flatnonzero(right.any(axis=0)).min() >= int(np.ceil(mug.x_max)) - 1
    # Behind the mug, the camera sees the mug's own top where the free table would be: the pixel of the top
    # face's centre (0.5, 0.3, 0.1) looks at the table point (0.611, 0.333, 0), behind the mug and 6 cm
    # from it, free, yet hidden; it counts only when the reference does not occlude.
    uv, _ = scene.camera.project(np.array([[0.5, 0.3, 0.1]]))
    u, v = (int(round(c)) for c in uv[0])
    behind = rle_to_mask(ego["mug", "behind"].metadata["region_mask"])
    assert not behind[v, u] and behind[:v, u].any()  # hidden on the mug, free table further up the image
    see_through = hand_samples(tmp_path, types=["context"], frames=["ego"], spatial={"occlude_by_reference": False})
    behind = next(s for s in see_through if s.metadata["query"]["relation"] == "behind" and "mug" in s.question)
    assert rle_to_mask(behind.metadata["region_mask"])[v, u]


def test_paraphrases_parse_back_to_the_same_query_and_are_seeded(tmp_path):
    plain = hand_samples(tmp_path)
    reworded = hand_samples(tmp_path, paraphrases=True)
    names = load_scene(tmp_path / "hand.json").names
    changed = 0
    for a, b in zip(plain, reworded):
        assert a.answer == b.answer and a.metadata["query"] == b.metadata["query"]
        assert b.metadata["template_question"] == a.question
        q = parse_question(b.question, names)
        assert (q.type.value, q.frame.value, q.relation.value) == tuple(
            b.metadata["query"][k] for k in ("type", "frame", "relation")
        )
        changed += a.question != b.question
    assert changed > len(plain) // 2  # most items reworded (the template is one of the choices)
    assert [s.question for s in hand_samples(tmp_path, paraphrases=True)] == [s.question for s in reworded]
    other_seed = hand_samples(tmp_path, paraphrases=True, seed=1)
    assert [s.question for s in other_seed] != [s.question for s in reworded]


def test_filters_and_seeded_subsets(tmp_path):
    only = hand_samples(tmp_path, types=["context"], frames=["ego"])
    assert len(only) == 8 and {(s.task, s.frame) for s in only} == {("context", "ego")}
    subset = hand_samples(tmp_path, max_items_per_scene=10)
    assert len(subset) == 10
    full = [(s.question, s.answer) for s in hand_samples(tmp_path)]
    assert all((s.question, s.answer) in full for s in subset)
    assert [s.question for s in hand_samples(tmp_path, max_items_per_scene=10)] == [s.question for s in subset]


def test_image_is_found_by_key_or_stem_or_given(tmp_path):
    keyed = write_hand_scene(tmp_path / "a", image_key="pictures_rgb.png")
    (tmp_path / "a" / "pictures_rgb.png").rename(tmp_path / "a" / "view.png")
    with pytest.raises(RoboSpatialGenError, match="no image"):
        next(scene_file_samples(keyed, None, RoboSpatialGenConfig(progress=False)))
    sample = next(scene_file_samples(keyed, tmp_path / "a" / "view.png", RoboSpatialGenConfig(progress=False)))
    assert sample.images[0].shape == (120, 160, 3)
    stem = write_hand_scene(tmp_path / "b")
    assert next(scene_file_samples(stem)).images[0][0, 0].tolist() == [40, 60, 200]  # BGR file -> RGB


@pytest.mark.parametrize(
    ("where", "value", "says"),
    [
        ("extrinsic", [[0.0] * 4] * 3 + [[0, 0, 0, 1]], "extrinsic: rotation is not orthonormal"),
        ("intrinsic", [[125.0, 0, float("nan"), 0], [0, 125.0, 59.5, 0], [0, 0, 1, 0], [0, 0, 0, 1]], "NaN"),
        ("box", [0.5, 0.3, 0.05, 0.1, 0.0, 0.1, 0, 0, 0], "sizes must be in (0, 1000] m"),
    ],
)
def test_an_impossible_scene_file_gives_no_samples(tmp_path, where, value, says):
    """Datagen reads scene files through the same validation as `ask` and the nodes (issue 16): a camera
    or box that cannot be is one SceneError naming the field, before any sample."""
    path = write_hand_scene(tmp_path)
    data = json.loads(path.read_text())
    if where == "box":
        data["objects"][1]["bbox_3d"] = [value]
    else:
        data["camera_annotations"][where] = value
    path.write_text(json.dumps(data))
    with pytest.raises(SceneError) as info:
        list(scene_file_samples(path, None, RoboSpatialGenConfig(progress=False)))
    assert says in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_bad_inputs_raise_typed_errors(tmp_path):
    path = write_hand_scene(tmp_path)
    cv2.imwrite(str(tmp_path / "hand.png"), np.zeros((60, 80, 3), np.uint8))
    with pytest.raises(RoboSpatialGenError, match="80x60"):
        scene_file_samples(path)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(SceneError, match="not valid JSON"):
        scene_file_samples(tmp_path / "broken.json")
    with pytest.raises(SceneError, match="not found"):
        scene_file_samples(tmp_path / "missing.json")
    with pytest.raises(ConfigError, match="grid_resolution"):
        RoboSpatialGenConfig(spatial={"grid_resolution": 0.1})
    with pytest.raises(ConfigError, match="spatial_preset"):
        RoboSpatialGenConfig(spatial_preset="kitchen")
    with pytest.raises(ConfigError, match="types"):
        RoboSpatialGenConfig(types=("configuration", "counting"))
    with pytest.raises(ConfigError, match="episodes"):
        sim_samples(RoboSpatialGenConfig(), -1, 0)


def test_mask_run_lengths_round_trip():
    rng = np.random.default_rng(0)
    for shape, first in (((7, 9), True), ((5, 4), False), ((1, 1), True)):
        mask = rng.random(shape) < 0.4
        mask.flat[0] = first
        rle = mask_to_rle(mask)
        assert sum(rle["counts"]) == mask.size and (rle["counts"][0] == 0) == first
        assert np.array_equal(rle_to_mask(rle), mask)
    with pytest.raises(RoboSpatialGenError):
        rle_to_mask({"size": [2, 2], "counts": [1, 2]})
