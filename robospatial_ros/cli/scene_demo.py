"""`robospatial demo` on a scene file: answer a set of questions, draw them, write a report."""

from __future__ import annotations

import json
import time
from pathlib import Path

from robospatial_ros.core.language.questions import parse_question
from robospatial_ros.core.reasoning.reasoner import Answer, GeometricReasoner
from robospatial_ros.core.reasoning.viz import camera_image, save_png, side_by_side, topdown_image
from robospatial_ros.core.scene import load_scene
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.core.spatial.context import frame_exclude
from robospatial_ros.core.spatial.occupancy import grid_for
from robospatial_ros.core.spatial.view import SceneView

# One question of each kind and frame, in the phrasings users and datasets use.
DEMO_QUESTIONS = (
    "Is the mug to the left of the bowl?",
    "Is the mug to the left of the bowl from the robot's perspective?",
    "Is the apple above the plate?",
    "Is the can in front of the bowl from the bowl's perspective?",
    "Is the bottle behind of the box from the world's perspective? Final answer should be yes or no.",
    "Can the mug fit behind the bowl?",
    "Can the banana fit on top of the book? Answer yes or no.",
    "Can the box fit right the can from the camera's perspective? Final answer should be yes or no.",
    "In the image, there is the can. Pinpoint several points within the vacant space situated left of the can "
    "from the object's perspective. Your final answer should be formatted as a list of tuples, i.e. [(x1, y1), ...], "
    "where each tuple contains the x and y coordinates of a point satisfying the conditions above. The coordinates "
    "should be between 0 and 1, indicating the normalized pixel locations of the points.",
)
# The answer drawn in the pictures: where could the mug go, right of the bowl as the robot sees it.
PICTURED_QUESTION = "Points in the free space to the right of the bowl from the robot's perspective"


def _short(answer: Answer, width: int = 60) -> str:
    text = answer.text if len(answer.text) <= width else answer.text[: width - 5] + " ...]"
    return f"{text}  ({len(answer.points_2d)} points)" if answer.points_2d.size else text


def run_scene_demo(scene_path: str | Path, config: SpatialConfig, out_dir: Path) -> dict:
    """Answer DEMO_QUESTIONS and PICTURED_QUESTION; write topdown.png (plan and camera view) and report.json."""
    scene = load_scene(scene_path)
    reasoner = GeometricReasoner(config)
    view = SceneView(scene, config)
    rows, results = [], []
    for question in (*DEMO_QUESTIONS, PICTURED_QUESTION):
        start = time.perf_counter()
        answer = reasoner.answer(view, parse_question(question, scene.names))
        elapsed_ms = (time.perf_counter() - start) * 1e3
        q = answer.query
        rows.append((q.type.value, q.frame.value, q.relation.value, q.target or "-", q.reference, _short(answer)))
        results.append({"question": question, **answer.to_dict(), "time_ms": round(elapsed_ms, 2)})

    print(f"Scene: {scene_path} ({len(scene.objects)} objects)")
    header = ("type", "frame", "relation", "object", "reference", "answer")
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    for r in (header, tuple("-" * w for w in widths), *rows):
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)))

    pictured = answer  # the last question asked is PICTURED_QUESTION
    ref = scene.get(pictured.query.reference)
    grid = grid_for(view, frame_exclude(ref), view.support_of(ref))
    top = topdown_image(view, pictured, grid)
    cam = camera_image(view, pictured)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_png(out_dir / "topdown.png", side_by_side(top, cam, title=PICTURED_QUESTION))
    report = {"success": True, "scene": str(scene_path), "answers": results}
    (out_dir / "report.json").write_text(json.dumps(report, indent=2))
    print(f"\nWrote {out_dir / 'topdown.png'} (plan view and camera view) and {out_dir / 'report.json'}")
    return report
