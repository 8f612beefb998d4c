"""The `robospatial ask` command: answers, --json, --config/--set, and exit code 2 with one line on bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import robospatial_ros
from robospatial_ros.cli.main import main

SCENE = Path(robospatial_ros.__file__).resolve().parent / "data" / "tabletop_scene.json"
TABLETOP_YAML = Path(robospatial_ros.__file__).resolve().parent / "data" / "tabletop.yaml"
EXE = Path(sys.executable).parent / "robospatial"
POINTS_TEXT = re.compile(r"^\[\(\d\.\d{3}, \d\.\d{3}\)(, \(\d\.\d{3}, \d\.\d{3}\))*\]$")
# On the bundled scene (camera at x = 1.35 looking back along -x) the mug (y = 0.17) is right of the bowl
# (y = -0.08) in the image, but left of it along the robot base's +y (REP-103: y left).
WORLD_LEFT = "is the mug left of the bowl from the world's perspective?"


def ask(capsys, *args: str) -> tuple[int, str, str]:
    rc = main(["ask", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def ask_scene(capsys, *args: str) -> tuple[int, str, str]:
    return ask(capsys, "--scene", str(SCENE), *args)


def write_yaml(tmp_path: Path, text: str, name: str = "core.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def assert_bad_input(rc: int, out: str, err: str, *needles: str) -> None:
    assert rc == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("robospatial ask: error: ")
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0]


# --- answers ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "question,expected",
    [
        ("is the mug right of the bowl?", "Yes"),
        ("is the mug left of the bowl?", "No"),
        ("Is the plate behind of the bowl from the camera's perspective? Final answer should be yes or no.", "Yes"),
        ("Is the box in front of the bowl from the camera's perspective? Answer yes or no.", "Yes"),
        ("is the apple above the plate from the world's perspective", "Yes"),
        ("is the plate above the apple from the world's perspective", "No"),
        ("can the apple fit on top of the book", "Yes"),
        ("can the bottle fit on top of the apple", "No"),
    ],
)
def test_yes_no_answers(capsys, question, expected):
    rc, out, _ = ask_scene(capsys, question)
    assert rc == 0
    assert out == expected + "\n"


def test_missing_frame_is_noted_on_stderr(capsys):
    rc, out, err = ask_scene(capsys, "is the mug right of the bowl")
    assert (rc, out) == (0, "Yes\n")
    assert "camera" in err and err.startswith("note: ")
    rc, out, err = ask_scene(capsys, "is the mug right of the bowl from the camera's perspective")
    assert (rc, out, err) == (0, "Yes\n", "")


def test_json_configuration(capsys):
    rc, out, _ = ask_scene(capsys, "--json", "is the mug right of the bowl from the camera's perspective?")
    assert rc == 0
    data = json.loads(out)
    assert {"type", "frame", "relation", "answer", "points_2d", "points_3d"} <= set(data)
    assert data["type"] == "configuration"
    assert data["frame"] == "ego"
    assert data["relation"] == "right"
    assert data["answer"] == "Yes"
    assert data["points_2d"] == [] and data["points_3d"] == []


def test_json_compatibility_on_top_is_world(capsys):
    rc, out, _ = ask_scene(capsys, "--json", "Can the apple fit on top the book from the world's perspective?")
    assert rc == 0
    data = json.loads(out)
    assert (data["type"], data["frame"], data["relation"], data["answer"]) == (
        "compatibility",
        "world",
        "on top",
        "Yes",
    )


def test_context_points_text(capsys):
    rc, out, _ = ask_scene(capsys, "points in the free space in front of the bowl")
    assert rc == 0
    text = out.strip()
    assert POINTS_TEXT.match(text), text
    values = [float(v) for v in re.findall(r"\d\.\d{3}", text)]
    assert values and all(0.0 <= v <= 1.0 for v in values)


def test_context_points_json(capsys, tmp_path):
    question = (
        "<image>In the image, there is the bowl. Pinpoint several points within the vacant space situated left of "
        "the bowl from the world's perspective. Your final answer should be formatted as a list of tuples, i.e. "
        "[(x1, y1), ...], where each tuple contains the x and y coordinates of a point satisfying the conditions "
        "above. The coordinates should be between 0 and 1, indicating the normalized pixel locations of the points."
    )
    rc, out, _ = ask_scene(capsys, "--json", "--config", str(TABLETOP_YAML), question)
    assert rc == 0
    data = json.loads(out)
    assert (data["type"], data["frame"], data["relation"]) == ("context", "world", "left")
    pts2d, pts3d = data["points_2d"], data["points_3d"]
    assert 1 <= len(pts2d) <= 50
    assert len(pts3d) == len(pts2d)
    assert all(len(p) == 2 and 0.0 <= p[0] <= 1.0 and 0.0 <= p[1] <= 1.0 for p in pts2d)
    assert all(round(v, 3) == v for p in pts2d for v in p)
    # The answer text is the same points, 3 decimals, best first.
    assert data["answer"] == "[" + ", ".join(f"({x:.3f}, {y:.3f})" for x, y in pts2d) + "]"
    # Lifted to the support plane (the table top, z = 0), and left of the bowl along the base's +y.
    bowl_y_max = -0.08 + 0.075
    assert all(abs(p[2]) < 1e-3 for p in pts3d)
    assert all(p[1] > bowl_y_max for p in pts3d)


def test_forced_type_and_frame_flags(capsys):
    rc, out, _ = ask_scene(capsys, "--json", "--type", "context", "--frame", "world", "is the mug left of the bowl")
    assert rc == 0
    data = json.loads(out)
    assert (data["type"], data["frame"], data["relation"]) == ("context", "world", "left")
    assert data["points_2d"]


# --- config ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("heading,expected", [("camera", "No"), ("base", "Yes")])
def test_config_world_heading_changes_world_left_right(capsys, tmp_path, heading, expected):
    cfg = write_yaml(tmp_path, f"world_heading: {heading}\n")
    rc, out, _ = ask_scene(capsys, "--config", str(cfg), WORLD_LEFT)
    assert (rc, out) == (0, expected + "\n")


def test_world_heading_does_not_change_the_ego_frame(capsys, tmp_path):
    for heading in ("camera", "base"):
        cfg = write_yaml(tmp_path, f"world_heading: {heading}\n")
        rc, out, _ = ask_scene(
            capsys, "--config", str(cfg), "is the mug left of the bowl from the camera's perspective"
        )
        assert (rc, out) == (0, "No\n")


@pytest.mark.parametrize("strictness,expected", [("strict", "No"), ("lenient", "Yes")])
def test_config_strictness(capsys, tmp_path, strictness, expected):
    # The mug's depth range overlaps the bowl's, but its mean depth is nearer the camera.
    cfg = write_yaml(tmp_path, f"strictness: {strictness}\n")
    rc, out, _ = ask_scene(
        capsys, "--config", str(cfg), "is the mug in front of the bowl from the camera's perspective"
    )
    assert (rc, out) == (0, expected + "\n")


def test_config_with_all_documented_keys(capsys, tmp_path):
    cfg = write_yaml(
        tmp_path,
        "strictness: strict\nworld_heading: base\ngrid_resolution_m: 0.01\ncontext_threshold_m: 0.2\n"
        "min_distance_m: 0.02\nbuffer_ratio: 0.5\n",
    )
    rc, out, _ = ask_scene(
        capsys, "--config", str(cfg), "can the mug fit left of the bowl from the world's perspective"
    )
    assert (rc, out) == (0, "Yes\n")
    # A 20 cm buffer ring that may hold almost nothing (2 %) always meets other objects on this table.
    text = cfg.read_text().replace("min_distance_m: 0.02", "min_distance_m: 0.2")
    cfg = write_yaml(tmp_path, text.replace("buffer_ratio: 0.5", "buffer_ratio: 0.02"))
    rc, out, _ = ask_scene(
        capsys, "--config", str(cfg), "can the mug fit left of the bowl from the world's perspective"
    )
    assert (rc, out) == (0, "No\n")


def test_config_grid_and_threshold_change_context_points(capsys, tmp_path):
    # world_heading base: the robot base looks along +x, so "in front of the bowl" is the side facing the robot
    # (smaller x), as "in front" is the side facing the camera in the ego frame. Bowl footprint: x in [0.475, 0.625].
    question = "points in front of the bowl from the world's perspective"
    keys = "world_heading: base\ngrid_resolution_m: 0.01\nmax_context_points: 1000\n"
    near = write_yaml(tmp_path, keys + "context_threshold_m: 0.1\n", "near.yaml")
    rc, out, _ = ask_scene(capsys, "--json", "--config", str(near), question)
    assert rc == 0
    near_pts = json.loads(out)["points_3d"]
    assert near_pts
    assert all(0.475 - 0.1 - 0.015 <= p[0] < 0.475 for p in near_pts)
    far = write_yaml(tmp_path, keys + "context_threshold_m: 0.3\n", "far.yaml")
    rc, out, _ = ask_scene(capsys, "--json", "--config", str(far), question)
    assert rc == 0
    far_pts = json.loads(out)["points_3d"]
    assert len(far_pts) > len(near_pts)
    assert min(p[0] for p in far_pts) < 0.475 - 0.1 - 0.015
    coarse = write_yaml(tmp_path, keys.replace("0.01", "0.05") + "context_threshold_m: 0.1\n", "coarse.yaml")
    rc, out, _ = ask_scene(capsys, "--json", "--config", str(coarse), question)
    assert rc == 0
    assert 0 < len(json.loads(out)["points_3d"]) < len(near_pts)


def test_set_overrides_the_config_file(capsys, tmp_path):
    cfg = write_yaml(tmp_path, "world_heading: camera\n")
    rc, out, _ = ask_scene(capsys, "--config", str(cfg), "--set", "world_heading=base", WORLD_LEFT)
    assert (rc, out) == (0, "Yes\n")


def test_set_without_config_file(capsys):
    rc, out, _ = ask_scene(capsys, "--set", "max_context_points=5", "--json", "points in front of the bowl")
    assert rc == 0
    assert len(json.loads(out)["points_2d"]) == 5


def test_unknown_yaml_key(capsys, tmp_path):
    cfg = write_yaml(tmp_path, "strictness: strict\nworld_headin: base\n")
    assert_bad_input(*ask_scene(capsys, "--config", str(cfg), WORLD_LEFT), "world_headin")


def test_unknown_set_key(capsys):
    assert_bad_input(*ask_scene(capsys, "--set", "colour=red", WORLD_LEFT), "colour")


@pytest.mark.parametrize(
    "yaml_text,needle",
    [
        ("strictness: sloppy\n", "strictness"),
        ("world_heading: north\n", "world_heading"),
        ("grid_resolution_m: 0\n", "grid_resolution_m"),
        ("buffer_ratio: 2.0\n", "buffer_ratio"),
        ("min_distance_m: -1\n", "min_distance_m"),
        ("grid_resolution_m: abc\n", "abc"),
        ("- strictness\n", "mapping"),
        ("strictness: [strict,\n", "YAML"),  # the YAML parser's message spans several lines
    ],
)
def test_invalid_config_values(capsys, tmp_path, yaml_text, needle):
    cfg = write_yaml(tmp_path, yaml_text)
    assert_bad_input(*ask_scene(capsys, "--config", str(cfg), WORLD_LEFT), needle)


def test_invalid_set_value(capsys):
    assert_bad_input(*ask_scene(capsys, "--set", "strictness=sloppy", WORLD_LEFT), "strictness", "sloppy")


def test_set_needs_key_value(capsys):
    assert_bad_input(*ask_scene(capsys, "--set", "strictness", WORLD_LEFT), "KEY=VALUE")


def test_missing_config_file(capsys, tmp_path):
    assert_bad_input(*ask_scene(capsys, "--config", str(tmp_path / "none.yaml"), WORLD_LEFT), "none.yaml")


# --- bad input -------------------------------------------------------------------------------------------------


def test_missing_scene_file(capsys, tmp_path):
    path = tmp_path / "missing.json"
    assert_bad_input(*ask(capsys, "--scene", str(path), WORLD_LEFT), "missing.json")


def test_scene_path_is_a_directory(capsys, tmp_path):
    assert_bad_input(*ask(capsys, "--scene", str(tmp_path), WORLD_LEFT))


def test_invalid_json_scene(capsys, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"image_size": [640, 480], ', encoding="utf-8")
    assert_bad_input(*ask(capsys, "--scene", str(path), WORLD_LEFT), "JSON")


@pytest.mark.parametrize("missing", ["image_size", "camera_annotations", "objects"])
def test_scene_missing_keys(capsys, tmp_path, missing):
    data = json.loads(SCENE.read_text(encoding="utf-8"))
    del data[missing]
    path = tmp_path / "scene.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert_bad_input(*ask(capsys, "--scene", str(path), WORLD_LEFT), missing)


def test_scene_object_without_box(capsys, tmp_path):
    data = json.loads(SCENE.read_text(encoding="utf-8"))
    del data["objects"][1]["bbox_3d"]
    path = tmp_path / "scene.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert_bad_input(*ask(capsys, "--scene", str(path), WORLD_LEFT), "bbox_3d")


def test_scene_not_an_object(capsys, tmp_path):
    path = tmp_path / "list.json"
    path.write_text("[]", encoding="utf-8")
    assert_bad_input(*ask(capsys, "--scene", str(path), WORLD_LEFT))


def write_scene(tmp_path: Path, edit) -> Path:
    """The bundled scene after `edit(data)` (which changes the parsed JSON in place), as a file."""
    data = json.loads(SCENE.read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / "scene.json"
    path.write_text(json.dumps(data), encoding="utf-8")  # NaN and Infinity as Python's json writes them
    return path


def _set_extrinsic(value):
    return lambda d: d["camera_annotations"].__setitem__("extrinsic", value)


def _set_principal_point(value):
    return lambda d: d["camera_annotations"]["intrinsic"][0].__setitem__(2, value)


def _set_box(value, index=1):
    return lambda d: d["objects"][index].__setitem__("bbox_3d", value)


MUG_BOX = [0.45, 0.17, 0.05, 0.08, 0.08, 0.1, 0.3, 0.0, -0.0]
RANK_DEFICIENT = [[1.0, 0.0, 0.0, 1.35], [0.0, 0.0, 0.0, 0.3], [0.0, 0.0, 1.0, 0.62], [0.0, 0.0, 0.0, 1.0]]
SCALED = [[2.0, 0.0, 0.0, 1.35], [0.0, 2.0, 0.0, 0.3], [0.0, 0.0, 2.0, 0.62], [0.0, 0.0, 0.0, 1.0]]

# Issue 16: each of these answered silently wrong (exit 0) or raised a traceback (exit 1).
IMPOSSIBLE_SCENES = {
    "all-zero extrinsic": (_set_extrinsic([[0.0] * 4] * 4), "extrinsic"),
    "rank-deficient extrinsic": (_set_extrinsic(RANK_DEFICIENT), "extrinsic: rotation is not orthonormal"),
    "scaled extrinsic": (_set_extrinsic(SCALED), "extrinsic: rotation is not orthonormal"),
    "NaN principal point": (_set_principal_point(float("nan")), "intrinsic contains NaN"),
    "infinite principal point": (_set_principal_point(float("inf")), "intrinsic contains NaN or infinite"),
    "all-zero robot_base_to_world": (lambda d: d.__setitem__("robot_base_to_world", [[0.0] * 4] * 4), "robot_base"),
    "ragged intrinsic": (lambda d: d["camera_annotations"].__setitem__("intrinsic", [[1.0, 2.0], [3.0]]), "intrinsic"),
    "non-numeric intrinsic": (lambda d: d["camera_annotations"].__setitem__("intrinsic", [["a"] * 3] * 3), "intrinsic"),
    "bbox_3d scalar": (_set_box(3.0), "objects[1].bbox_3d"),
    "bbox_3d string": (_set_box("0.45 0.17"), "objects[1].bbox_3d"),
    "bbox_3d null": (_set_box(None), "objects[1].bbox_3d"),
    "bbox_3d object": (_set_box({"center": [0, 0, 0]}), "objects[1].bbox_3d"),
    "bbox_3d two boxes": (_set_box([MUG_BOX, MUG_BOX]), "objects[1].bbox_3d holds 2 boxes"),
    "box coordinate 1e308": (_set_box([[1e308, *MUG_BOX[1:]]]), "objects[1].bbox_3d centre"),
    "negative box size": (_set_box([[*MUG_BOX[:3], -0.1, *MUG_BOX[4:]]]), "objects[1].bbox_3d: sizes"),
    "Name null": (lambda d: d["objects"][1].__setitem__("Name", None), "objects[1].Name must be a non-empty string"),
    "Name blank": (lambda d: d["objects"][1].__setitem__("Name", "  "), "objects[1].Name"),
    "Name a number": (lambda d: d["objects"][1].__setitem__("Name", 7), "objects[1].Name"),
    "duplicate names": (lambda d: d["objects"][2].__setitem__("Name", "mug"), "repeated: 'mug'"),
    "image size not whole": (lambda d: d.__setitem__("image_size", [640.5, 480]), "image width"),
}


@pytest.mark.parametrize("case", sorted(IMPOSSIBLE_SCENES))
@pytest.mark.parametrize("question", ["is the mug right of the bowl?", "points in the free space in front of the bowl"])
def test_impossible_scene_is_one_line_error_not_an_answer(capsys, tmp_path, case, question):
    edit, needle = IMPOSSIBLE_SCENES[case]
    assert_bad_input(*ask(capsys, "--scene", str(write_scene(tmp_path, edit)), question), needle)


def test_json_nested_100000_deep_is_one_line_error(capsys, tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    assert_bad_input(*ask(capsys, "--scene", str(path), WORLD_LEFT), "nested too deeply")


def test_huge_facing_leaves_no_numpy_warning_on_stderr(tmp_path):
    """stderr carries only our messages (issue 16: a huge facing printed three RuntimeWarning lines)."""
    question = "is the bowl in front of the mug from the mug's perspective?"
    huge = write_scene(tmp_path, lambda d: d["objects"][1].__setitem__("facing", [1e308, 1e308, 1e308]))
    env = {"PYTHONWARNINGS": "default"}  # show every warning, as a user's shell would
    ok = subprocess.run([str(EXE), "ask", "--scene", str(huge), question], **_run(env))
    assert ok.returncode == 0 and ok.stdout.strip() in ("Yes", "No") and "Warning" not in ok.stderr, ok.stderr
    infinite = tmp_path / "infinite.json"
    infinite.write_text(huge.read_text(encoding="utf-8").replace("1e+308", "1e999"), encoding="utf-8")
    bad = subprocess.run([str(EXE), "ask", "--scene", str(infinite), question], **_run(env))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "objects[1].facing" in bad.stderr, bad.stderr


def _run(env: dict[str, str]) -> dict:
    import os

    return {"capture_output": True, "text": True, "timeout": 120, "env": {**os.environ, **env}}


def test_unknown_object_lists_the_scene(capsys):
    rc, out, err = ask_scene(capsys, "is the spoon left of the bowl?")
    assert_bad_input(rc, out, err, "spoon", "'mug'", "'bowl'", "'bottle'")


@pytest.mark.parametrize(
    "question",
    [
        "what colour is the mug?",
        "is the mug red?",
        "can the mug fit on top of the bowl from the camera's perspective",
        "points above the bowl",
        "",
    ],
)
def test_unsupported_question(capsys, question):
    assert_bad_input(*ask_scene(capsys, question))


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["ask", "is the mug left of the bowl"])  # no --scene
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["ask", "--scene", str(SCENE), "--frame", "sideways", "is the mug left of the bowl"])
    assert info.value.code == 2
    capsys.readouterr()


# --- the installed command -------------------------------------------------------------------------------------


def run_exe(*args: str) -> subprocess.CompletedProcess[str]:
    assert EXE.is_file(), f"{EXE} is not installed (pip install -e .)"
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, timeout=60)


def test_installed_command_answers(tmp_path):
    proc = run_exe("ask", "--scene", str(SCENE), "--json", "--set", "world_heading=base", WORLD_LEFT)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["type"], data["frame"], data["relation"], data["answer"]) == ("configuration", "world", "left", "Yes")


def test_installed_command_bad_input_exit_code(tmp_path):
    cfg = write_yaml(tmp_path, "strictness: sloppy\n")
    proc = run_exe("ask", "--scene", str(SCENE), "--config", str(cfg), WORLD_LEFT)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "strictness" in lines[0] and "sloppy" in lines[0]


# --- many questions in one process (robospatial ask --questions, robospatial_ros/cli/ask.py) --------------------

BATCH = [
    "is the mug right of the bowl?",
    "Is the box in front of the bowl from the camera's perspective? Answer yes or no.",
    "can the apple fit on top of the book",
    "points left of the bowl from the world's perspective",
]


def ask_batch(capsys, tmp_path: Path, lines: list[str], *args: str) -> tuple[int, list[str], str]:
    from robospatial_ros.cli.ask import main as ask_main

    path = tmp_path / "questions.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rc = ask_main(["--scene", str(SCENE), "--questions", str(path), *args])
    out, err = capsys.readouterr()
    return rc, out.splitlines(), err


def test_batch_answers_match_one_question_at_a_time(capsys, tmp_path):
    singles = []
    for question in BATCH:
        rc, out, _ = ask_scene(capsys, "--json", question)
        singles.append(json.loads(out))
    lines = [json.dumps(BATCH[0]), *(json.dumps({"question": q, "id": i}) for i, q in enumerate(BATCH[1:], 1))]
    rc, out, _ = ask_batch(capsys, tmp_path, lines, "--json")
    assert rc == 0 and len(out) == len(BATCH)
    for i, (line, single) in enumerate(zip(out, singles)):
        record = json.loads(line)
        assert record["line"] == i + 1 and record["id"] == (None if i == 0 else i)
        assert {k: record[k] for k in single} == single
    rc, text, _ = ask_batch(capsys, tmp_path, lines)
    assert text == [s["answer"] for s in singles]


def test_batch_errors_stay_on_their_line(capsys, tmp_path):
    lines = [
        json.dumps(BATCH[0]),
        "not json",
        json.dumps({"question": "is the unicorn left of the bowl"}),
        "",
        json.dumps({"question": "is the mug left of the bowl", "frame": "sideways"}),
        json.dumps({"question": "is the mug left of the bowl", "frame": "world"}),
    ]
    rc, out, err = ask_batch(capsys, tmp_path, lines)
    assert rc == 1 and err == ""
    assert out[0] == "Yes" and out[5] == "No"  # the world frame follows the camera: the mug is on its right
    assert out[1].startswith("error: not JSON") and "unknown object 'unicorn'" in out[2]
    assert out[3] == "error: empty line" and out[4].startswith("error: frame must be one of")
    rc, out, _ = ask_batch(capsys, tmp_path, lines, "--json")
    errors = [json.loads(line) for line in out if "error" in json.loads(line)]
    assert [e["line"] for e in errors] == [2, 3, 4, 5]


def test_batch_bad_scene_or_file_exit_2(capsys, tmp_path):
    from robospatial_ros.cli.ask import main as ask_main

    assert ask_main(["--scene", str(tmp_path / "none.json"), "--questions", str(tmp_path / "q.jsonl")]) == 2
    assert "scene file not found" in capsys.readouterr().err
    assert ask_main(["--scene", str(SCENE), "--questions", str(tmp_path / "q.jsonl")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "cannot read questions file" in err


# --- bringup, demo and replay: the ROS side's commands ------------------------------------------------------------


def test_ros_arguments_are_split_off_as_launch_appends_them():
    from robospatial_ros.cli.main import split_ros_args

    assert split_ros_args(["replay", "b.mcap", "--ros-args", "-r", "a:=b"]) == (
        ["replay", "b.mcap"],
        ["--ros-args", "-r", "a:=b"],
    )
    assert split_ros_args(["replay", "--ros-args", "-r", "a:=b", "--", "b.mcap"]) == (
        ["replay", "b.mcap"],
        ["--ros-args", "-r", "a:=b"],
    )
    assert split_ros_args(["ask", "x"]) == (["ask", "x"], [])


@pytest.mark.parametrize(
    "args,needle",
    [
        (["bringup", "--backend", "nope"], "unknown backend 'nope'"),
        (["bringup", "--params", "/no/such.yaml"], "params file not found: /no/such.yaml"),
        (["replay", "/no/such/bag.mcap"], "bag not found: /no/such/bag.mcap"),
        (["replay", "SCENE", "--rate", "-1"], "rate must be >= 0"),
    ],
)
def test_ros_commands_bad_input_exit_2_with_one_line(args, needle):
    proc = run_exe(*[str(SCENE) if a == "SCENE" else a for a in args])
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"robospatial {args[0]}: error: ") and needle in lines[0], lines


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--camera", "gazebo", "--labels-encoding", "nonsense"], "unknown labels_encoding"),
        (["--camera", "gazebo", "--labels-file", "/nonexistent/labels.yaml"], "labels_file not found"),
    ],
)
def test_bringup_label_options_are_checked_before_anything_starts(capsys, args, message):
    assert main(["bringup", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("error", [RecursionError, MemoryError])
def test_last_resort_errors_are_one_line(capsys, monkeypatch, error):
    """Whatever runs out of stack or memory still ends as exit 2 and one stderr line, not a traceback."""

    def exhausted(args):
        raise error("deep inside")

    monkeypatch.setattr("robospatial_ros.cli.main.cmd_ask", exhausted)
    assert_bad_input(*ask_scene(capsys, WORLD_LEFT))
