"""`robospatial perceive` on real saved frames: the scene as JSON, a picture, answers and placements on it,
and one-line errors for bad input."""

import json
from pathlib import Path

import numpy as np
import pytest

from robospatial_ros.cli.main import main

DATA = Path(__file__).parent / "data" / "realdata" / "uois-lab"
FRAME = ["--color", str(DATA / "image_0000-color.jpg"), "--depth", str(DATA / "image_0000-depth.png")]
FRAME += ["--intrinsics", str(DATA / "intrinsics.json")]


def run(capsys, *args):
    code = main(["perceive", *FRAME, *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_lists_objects_support_pose_and_observed_map(capsys):
    code, out, _ = run(capsys, "--json")
    assert code == 0
    report = json.loads(out)
    names = [o["name"] for o in report["objects"]]
    assert names[0] == "table" and 9 <= len(names) - 1 <= 11  # 10 objects by eye
    assert report["support_height_m"] == pytest.approx(0.0, abs=1e-3)  # no pose: the support defines the world
    T = np.array(report["camera_to_world"])
    assert T.shape == (4, 4) and 0.6 < T[2, 3] < 0.8  # the camera ~0.7 m above the table
    m = report["obstacle_map"]
    assert m["free_cells"] > 0 and m["occupied_cells"] > 0 and m["unknown_cells"] > 0


def test_a_command_gives_a_placement_on_observed_bare_table(capsys, tmp_path):
    code, out, _ = run(
        capsys, "--json", "--command", "put the object_1 to the left of the object_2", "--out", str(tmp_path)
    )
    assert code == 0
    answer = json.loads(out)["answer"]
    assert len(answer["placement_3d"]) == 3 and answer["placement_3d"][2] == pytest.approx(0.0, abs=0.01)
    assert all(0.0 <= v <= 1.0 for v in answer["placement_2d"])
    assert (tmp_path / "perceived.png").stat().st_size > 10_000


def test_a_question_is_answered_in_ask_json_shape(capsys):
    code, out, _ = run(capsys, "--json", "--ask", "is the object_1 left of the object_2?")
    answer = json.loads(out)["answer"]
    assert code == 0 and answer["type"] == "configuration" and answer["answer"] in ("Yes", "No")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--intrinsics", "/nonexistent/K.json"], "does not exist"),
        (["--workspace", "1,2,3"], "six numbers"),
        (["--command", "put the unicorn left of the object_1"], "unknown object"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 2 and err.startswith("robospatial perceive: error:") and message in err
    assert len(err.strip().splitlines()) == 1
