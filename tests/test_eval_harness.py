"""The evaluation harness: dataset loading, batching through a TextAnswerer, pre-generated predictions,
the geometric backend on scene files, the report, and the `eval` command."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest

from robospatial_ros.cli.eval import add_eval_parser
from robospatial_ros.core.errors import ConfigError, RoboSpatialError
from robospatial_ros.core.reasoning.vlm.base import VisualQuestion, VLMError
from robospatial_ros.core.scene import scene_to_dict
from robospatial_ros.learn.eval.dataset import (
    EvalDataError,
    load_eval_items,
    load_visual_question,
    write_eval_items,
)
from robospatial_ros.learn.eval.harness import (
    EvalConfig,
    GeometricAnswerer,
    MissingSceneError,
    evaluate,
    score_predictions,
)

from scenes import cube, scene

IMAGE_W, IMAGE_H = 40, 20
CONTEXT_TAIL = (
    " Your final answer should be formatted as a list of tuples, i.e. [(x1, y1), ...], where each tuple contains "
    "the x and y coordinates of a point satisfying the conditions above. The coordinates should be between 0 and 1, "
    "indicating the normalized pixel locations of the points."
)
Q_LEFT = "Is the mug left of the bowl from the camera's perspective? Answer yes or no."
Q_RIGHT = "Is the mug right of the bowl from the camera's perspective? Answer yes or no."
Q_FIT = "Can the mug fit in front of the bowl from the camera's perspective? Answer yes or no."
Q_CONTEXT = (
    "In the image, there is the bowl. Pinpoint several points within the vacant space situated left of the bowl "
    "from the camera's perspective." + CONTEXT_TAIL
)

# The mug (y = +0.3) is left of the bowl (y = -0.2) for the tilted camera, which looks along +x from x = -0.6.
SCENE = scene(cube("mug", 0.4, 0.3), cube("bowl", 0.4, -0.2))


def bowl_image_x() -> float:
    """Normalized image x of the bowl's centre: free space left of the bowl lies left of it."""
    uv, _ = SCENE.camera.project(SCENE.get("bowl").box.center[None, :])
    return float(uv[0, 0] / SCENE.camera.width)


def polygon(x0: float, x1: float) -> str:
    return f"[({x0:.4f}, 0.0), ({x1:.4f}, 0.0), ({x1:.4f}, 1.0), ({x0:.4f}, 1.0)]"


def write_png(path: Path, image: np.ndarray) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return path.name


def make_dataset(root: Path, with_scenes: bool = True) -> Path:
    """Five items: configuration yes/no, compatibility yes, context left-polygon (right answer) and
    right-polygon (wrong answer for anything left of the bowl). Both context items carry a mask whose
    left half (x < 0.5) is valid."""
    data = root / "data"
    bgr = np.zeros((IMAGE_H, IMAGE_W, 3), np.uint8)
    bgr[..., 2] = 255  # red in RGB
    write_png(data / "images" / "rgb.png", bgr)
    write_png(data / "images" / "depth.png", np.full((IMAGE_H, IMAGE_W), 1500, np.uint16))  # 1.5 m
    mask = np.zeros((IMAGE_H, IMAGE_W), np.uint8)
    mask[:, : IMAGE_W // 2] = 255
    write_png(data / "images" / "mask.png", mask)
    (data / "scenes").mkdir(parents=True, exist_ok=True)
    (data / "scenes" / "s0.json").write_text(json.dumps(scene_to_dict(SCENE)), encoding="utf-8")
    bx = bowl_image_x()
    common = {"img": "images/rgb.png", "depth_image": "images/depth.png", "mask": None, "frame": "ego"}
    if with_scenes:
        common["scene"] = "scenes/s0.json"
    records = [
        {**common, "category": "configuration", "question": Q_LEFT, "answer": "yes", "id": "c0"},
        {**common, "category": "configuration", "question": Q_RIGHT, "answer": "no", "id": "c1"},
        {**common, "category": "compatibility", "question": Q_FIT, "answer": "Yes", "id": "f0"},
        {**common, "category": "context", "question": Q_CONTEXT, "answer": polygon(0.0, bx), "mask": "images/mask.png"},
        {
            **common,
            "category": "context",
            "question": Q_CONTEXT + " ",  # a distinct question string (predictions match on it)
            "answer": polygon(bx, 1.0),
            "mask": "images/mask.png",
        },
    ]
    write_eval_items(data, records)
    return data


# Per question: "Yes." right, "The answer is no" wrong (must start with no), "" wrong and ill-formed,
# first point 0.25 inside the left polygon (0.25 in the mask, 0.75 not: Where2Place 1/2), no point at all.
FIXED_TEXTS = {
    Q_LEFT: "Yes.",
    Q_RIGHT: "The answer is no",
    Q_FIT: "",
    Q_CONTEXT: "[(0.25, 0.5), (0.75, 0.5)]",
    Q_CONTEXT + " ": "I cannot tell",
}


class FixedTextAnswerer:
    """A fake backend returning fixed texts per question; records what it was asked."""

    name = "fixed-texts"

    def __init__(self, texts: dict[str, str]):
        self.texts = texts
        self.batches: list[list[VisualQuestion]] = []

    def answer_texts(self, questions: Sequence[VisualQuestion]) -> list[str]:
        self.batches.append(list(questions))
        return [self.texts[q.question] for q in questions]


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return make_dataset(tmp_path)


# --- dataset ----------------------------------------------------------------------------------------------------


def test_load_items_and_visual_question(data_dir):
    items = load_eval_items(data_dir)
    assert [i.category for i in items] == ["configuration", "configuration", "compatibility", "context", "context"]
    first = items[0]
    assert first.index == 0 and first.img == "images/rgb.png" and first.img_path == data_dir / "images" / "rgb.png"
    assert first.frame == "ego" and first.extra == {"id": "c0"} and first.mask_path is None
    assert items[3].mask_path == data_dir / "images" / "mask.png" and items[3].extra == {}
    vq = load_visual_question(first)
    assert vq.image.shape == (IMAGE_H, IMAGE_W, 3) and vq.image.dtype == np.uint8
    assert vq.image[0, 0].tolist() == [255, 0, 0]  # RGB, not OpenCV's BGR
    assert vq.depth_m.dtype == np.float32 and vq.depth_m[3, 4] == pytest.approx(1.5)
    assert vq.scene is not None and set(vq.scene.names) == {"table", "mug", "bowl"}
    assert vq.question == Q_LEFT and vq.metadata["category"] == "configuration"


def test_unsupported_depth_format_is_skipped_with_a_reason(data_dir):
    write_png(data_dir / "images" / "depth.png", np.full((IMAGE_H, IMAGE_W, 3), 90, np.uint8))  # an 8-bit preview
    item = load_eval_items(data_dir, limit=1)[0]
    with pytest.warns(UserWarning, match="depth images not used: 3 channels"):
        vq = load_visual_question(item)
    assert vq.depth_m is None and "depth.png has 3 channels" in vq.metadata["depth_error"]
    assert vq.image.shape == (IMAGE_H, IMAGE_W, 3)


def test_limit_and_category_filter(data_dir):
    assert [i.index for i in load_eval_items(data_dir, limit=2)] == [0, 1]
    assert [i.index for i in load_eval_items(data_dir, limit=1, categories=["context"])] == [3]
    assert [i.index for i in load_eval_items(data_dir, categories=["compatibility", "context"])] == [2, 3, 4]
    with pytest.raises(EvalDataError, match="no items of category nothing.*present: compatibility"):
        load_eval_items(data_dir, categories=["nothing"])
    with pytest.raises(EvalDataError, match="limit"):
        load_eval_items(data_dir, limit=0)


def _write_annotations(path: Path, content: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "annotations.json").write_text(content, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "content,match",
    [
        ("{not json", "not valid JSON"),
        ('{"question": "q"}', "must hold a JSON list"),
        ('["q"]', "record 0 must be a JSON object"),
        ('[{"answer": "yes", "img": "a.png"}]', "record 0: needs a non-empty string 'question'"),
        ('[{"question": "q", "img": "a.png"}]', "needs a non-empty string 'answer'"),
        ('[{"question": "q", "answer": "yes"}]', "needs a non-empty string 'img'"),
        ('[{"question": "q", "answer": "yes", "img": "missing.png"}]', "image not found"),
    ],
)
def test_bad_annotations_raise_typed_errors(tmp_path, content, match):
    with pytest.raises(EvalDataError, match=match):
        load_eval_items(_write_annotations(tmp_path / "d", content))


def test_missing_directory_and_file(tmp_path):
    with pytest.raises(EvalDataError, match="dataset directory not found"):
        load_eval_items(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvalDataError, match="no annotations.json"):
        load_eval_items(tmp_path / "empty")
    assert issubclass(EvalDataError, RoboSpatialError)


def test_write_eval_items_round_trip_and_validation(tmp_path):
    records = [{"category": "context", "question": "q?", "answer": "[(0, 0), (1, 0), (1, 1)]", "img": "x.png"}]
    path = write_eval_items(tmp_path / "out", records)
    assert path == tmp_path / "out" / "annotations.json"
    assert json.loads(path.read_text()) == records
    with pytest.raises(EvalDataError, match="'answer'"):
        write_eval_items(tmp_path / "bad", [{"question": "q", "img": "x.png"}])


# --- harness ----------------------------------------------------------------------------------------------------


def test_evaluate_counts_with_a_fake_backend(data_dir, tmp_path):
    answerer = FixedTextAnswerer(FIXED_TEXTS)
    out = tmp_path / "reports" / "r.json"
    report = evaluate(answerer, EvalConfig(data_dir, batch_size=2, output_json=out), progress=False)
    assert [len(b) for b in answerer.batches] == [2, 2, 1]
    assert (report.num_correct, report.num_total) == (2, 5)
    assert report.accuracy_pct == pytest.approx(40.0)
    stats = {k: (s.correct, s.total) for k, s in report.per_category.items()}
    assert stats == {"compatibility": (0, 1), "configuration": (1, 2), "context": (1, 2)}
    assert report.illformed_responses == 2  # the empty answer and the context answer without a point
    assert report.where2place == (pytest.approx(0.25), 2)  # (1/2 + 0) / 2
    by_index = {r.index: r for r in report.results}
    assert by_index[3].parsed == (0.25, 0.5) and by_index[3].correct
    assert by_index[1].generated == "The answer is no" and not by_index[1].correct

    saved = json.loads(out.read_text())
    assert saved["accuracy"] == pytest.approx(40.0) and saved["num_total"] == 5
    assert saved["category_stats"]["configuration"] == {"num_correct": 1, "num_total": 2, "accuracy": 50.0}
    assert saved["where2place"] == {"mean_fraction": 0.25, "num_items": 2}
    assert saved["results"][3]["parsed_answer"] == "(0.25, 0.5)" and saved["results"][3]["img"] == "images/rgb.png"

    lines = report.table().splitlines()
    assert lines[0].split() == ["category", "correct", "total", "accuracy"]
    assert lines[1].split() == ["compatibility", "0", "1", "0.0%"]
    assert lines[4].split() == ["overall", "2", "5", "40.0%"]
    assert len({len(line) for line in lines[:5]}) == 1  # aligned columns


def test_evaluate_limit_and_category(data_dir):
    answerer = FixedTextAnswerer(FIXED_TEXTS)
    report = evaluate(answerer, EvalConfig(data_dir, limit=3, categories=["configuration", "context"]), progress=False)
    assert [r.index for r in report.results] == [0, 1, 3]
    assert report.num_correct == 2


def test_extract_answers_option_scores_the_answer_tag(data_dir):
    texts = dict(FIXED_TEXTS, **{Q_RIGHT: "<think>the mug is left</think><answer>No</answer>"})
    official = evaluate(FixedTextAnswerer(texts), EvalConfig(data_dir, limit=2), progress=False)
    extracted = evaluate(FixedTextAnswerer(texts), EvalConfig(data_dir, limit=2, extract_answers=True), progress=False)
    assert (official.num_correct, extracted.num_correct) == (1, 2)


def test_backend_returning_the_wrong_count_is_a_vlm_error(data_dir):
    class ShortAnswerer(FixedTextAnswerer):
        def answer_texts(self, questions):
            return ["Yes"]

    with pytest.raises(VLMError, match="returned 1 answers for 2 questions"):
        evaluate(ShortAnswerer({}), EvalConfig(data_dir, batch_size=2), progress=False)


@pytest.mark.parametrize(
    "kwargs", [{"limit": 0}, {"limit": True}, {"batch_size": 0}, {"batch_size": 2.5}, {"categories": "context"}]
)
def test_eval_config_validation(kwargs):
    with pytest.raises(ConfigError):
        EvalConfig(Path("x"), **kwargs)


def test_geometric_answerer_on_scene_files(data_dir):
    report = evaluate(GeometricAnswerer(), EvalConfig(data_dir), progress=False)
    texts = [r.generated for r in report.results]
    assert texts[:3] == ["Yes", "No", "Yes"]
    assert texts[3] == texts[4] and texts[3].startswith("[(")
    # all right except the context item whose polygon lies right of the bowl
    assert [r.correct for r in report.results] == [True, True, True, True, False]
    assert report.illformed_responses == 0


def test_geometric_answerer_needs_scenes(tmp_path):
    data = make_dataset(tmp_path, with_scenes=False)
    with pytest.raises(MissingSceneError, match="needs a 3D scene per item"):
        evaluate(GeometricAnswerer(), EvalConfig(data), progress=False)


# --- pre-generated predictions ----------------------------------------------------------------------------------


def write_jsonl(path: Path, entries: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(e) for e in entries) + "\n\n", encoding="utf-8")
    return path


def test_score_predictions_matches_on_question_and_img(data_dir, tmp_path):
    img = "images/rgb.png"
    preds = write_jsonl(
        tmp_path / "preds.jsonl",
        [
            {"question": Q_LEFT, "img": img, "answer": "No"},  # overridden by the later line below
            {"question": Q_RIGHT, "img": img, "answer": "no."},
            {"question": Q_FIT, "img": img, "response": "yes, it fits"},  # the "response" key
            {"question": Q_CONTEXT, "img": "images/other.png", "answer": "[(0.25, 0.5)]"},  # other image: no match
            {"question": Q_CONTEXT + " ", "img": img, "answer": "[(0.75, 0.5), (0.25, 0.5)]"},
            {"question": Q_LEFT, "answer": "Yes"},  # no img: ignored
            {"question": Q_LEFT, "img": img, "answer": "Yes"},
        ],
    )
    report = score_predictions(preds, EvalConfig(data_dir))
    assert report.unmatched == 1  # item 3
    assert [r.index for r in report.results] == [0, 1, 2, 4]
    assert [r.correct for r in report.results] == [True, True, True, True]
    assert report.where2place == (pytest.approx(0.5), 1)
    assert report.source == str(preds)
    assert "unmatched: 1" in report.table()
    # Reported, not dropped silently: the line without an img, and the predictions naming no item.
    assert report.malformed_lines == [6] and not report.clean
    assert report.unused_predictions == [(Q_CONTEXT, "images/other.png")]
    assert "malformed: 1 prediction lines lack a question or img (lines 6)" in report.table()
    assert "unused: 1 predictions name no item" in report.table()
    data = report.to_dict()
    assert data["malformed_lines"] == [6] and len(data["unused_predictions"]) == 1


def test_score_predictions_limit_and_errors(data_dir, tmp_path):
    preds = write_jsonl(tmp_path / "p.jsonl", [{"question": Q_LEFT, "img": "images/rgb.png", "answer": "yes"}])
    report = score_predictions(preds, EvalConfig(data_dir, limit=2))
    assert (report.num_total, report.unmatched, report.num_correct) == (1, 1, 1)
    with pytest.raises(EvalDataError, match="predictions file not found"):
        score_predictions(tmp_path / "none.jsonl", EvalConfig(data_dir))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "img": "i", "answer": "yes"}\n{oops\n', encoding="utf-8")
    with pytest.raises(EvalDataError, match="line 2 is not valid JSON"):
        score_predictions(bad, EvalConfig(data_dir))
    wrong_type = write_jsonl(tmp_path / "t.jsonl", [{"question": "q", "img": "i", "answer": ["yes"]}])
    with pytest.raises(EvalDataError, match="must be a string"):
        score_predictions(wrong_type, EvalConfig(data_dir))
    with pytest.raises(EvalDataError, match="is a directory"):
        score_predictions(tmp_path, EvalConfig(data_dir))
    latin1 = tmp_path / "latin1.jsonl"
    latin1.write_bytes('{"question": "caf\u00e9"}\n'.encode("latin-1"))
    with pytest.raises(EvalDataError, match="not UTF-8"):
        score_predictions(latin1, EvalConfig(data_dir))


# --- the eval command -------------------------------------------------------------------------------------------


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="robospatial")
    add_eval_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["eval", *argv])
    return args.func(args)


def test_cli_geometric_prints_table_and_writes_json(data_dir, tmp_path, capsys):
    out = tmp_path / "report.json"
    assert run_cli("--data", str(data_dir), "--no-progress", "--output", str(out), "--batch-size", "3") == 0
    stdout = capsys.readouterr().out
    overall = next(line for line in stdout.splitlines() if line.startswith("overall"))
    assert overall.split() == ["overall", "4", "5", "80.0%"]
    saved = json.loads(out.read_text())
    assert (saved["num_correct"], saved["num_total"], saved["source"]) == (4, 5, "geometric")


def test_cli_workers_give_the_same_report(data_dir, tmp_path, capsys):
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    assert run_cli("--data", str(data_dir), "--no-progress", "--output", str(one), "--batch-size", "2") == 0
    args = ("--data", str(data_dir), "--no-progress", "--output", str(two), "--batch-size", "2", "--workers", "2")
    assert run_cli(*args) == 0
    assert json.loads(one.read_text()) == json.loads(two.read_text())
    with pytest.raises(ConfigError, match="workers"):
        run_cli("--data", str(data_dir), "--workers", "0")


def test_cli_predictions_exit_1_on_unused_or_malformed_lines(data_dir, tmp_path, capsys):
    preds = write_jsonl(
        tmp_path / "p.jsonl",
        [{"question": Q_LEFT, "img": "images/rgb.png", "answer": "yes"}, {"question": Q_LEFT, "answer": "yes"}],
    )
    assert run_cli("--data", str(data_dir), "--predictions", str(preds)) == 1
    assert "malformed: 1" in capsys.readouterr().out


def test_cli_geometric_passes_spatial_config(data_dir, tmp_path, capsys):
    with pytest.raises(ConfigError, match="no_such_key"):
        run_cli("--data", str(data_dir), "--no-progress", "--set", "no_such_key=1")


def test_cli_predictions_with_limit_and_category(data_dir, tmp_path, capsys):
    preds = write_jsonl(
        tmp_path / "p.jsonl",
        [{"question": q, "img": "images/rgb.png", "answer": t} for q, t in FIXED_TEXTS.items()],
    )
    out = tmp_path / "r.json"
    assert run_cli("--data", str(data_dir), "--predictions", str(preds), "--limit", "2", "--output", str(out)) == 0
    assert json.loads(out.read_text())["num_total"] == 2
    assert run_cli("--data", str(data_dir), "--predictions", str(preds), "--category", "context") == 0
    overall = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("overall"))
    assert overall.split() == ["overall", "1", "2", "50.0%"]


def test_cli_errors(data_dir, tmp_path, capsys):
    with pytest.raises(EvalDataError, match="dataset directory not found"):
        run_cli("--data", str(tmp_path / "missing"))
    with pytest.raises(RoboSpatialError, match="unknown backend 'no-such-backend'"):
        run_cli("--data", str(data_dir), "--backend", "no-such-backend", "--no-progress")
    with pytest.raises(ConfigError, match="do not apply to --predictions"):
        run_cli("--data", str(data_dir), "--predictions", "p.jsonl", "--set", "a=1")
    with pytest.raises(SystemExit) as exc:  # argparse: --backend and --predictions exclude each other
        run_cli("--data", str(data_dir), "--backend", "geometric", "--predictions", "p.jsonl")
    assert exc.value.code == 2
