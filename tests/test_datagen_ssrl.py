"""Spatial-SSRL style items: every answer re-derived from the metadata and from the images."""

import json
import math
import re

import cv2
import numpy as np
import pytest

from robospatial_ros.core.configio import load_config
from robospatial_ros.core.errors import ConfigError, RoboSpatialError
from robospatial_ros.learn.datagen.ssrl import (
    SIM_INTRINSICS,
    SSRLConfig,
    SSRLError,
    image_folder_frames,
    sim_frames,
    sim_intrinsics,
    ssrl_samples,
)

H, W = 240, 320
INTRINSICS = (250.0, 240.0, 160.0, 120.0)
# Small images need a smaller cut-out; the rest are the defaults.
SMALL = dict(inpaint_patch_px=40, intrinsics_fallback=INTRINSICS, progress=False)


def textured_rgb(seed: int) -> np.ndarray:
    """(H, W, 3) uint8 noise in 1..255: every patch is distinct and no pixel is black."""
    return np.random.default_rng(seed).integers(1, 256, (H, W, 3), dtype=np.uint8)


def blocky_depth(seed: int) -> np.ndarray:
    """(H, W) float32 metres: a 4x5 mosaic of constant depths in 0.5..3 m, one block unknown (0)."""
    values = np.random.default_rng(seed).uniform(0.5, 3.0, (4, 5)).astype(np.float32)
    values[1, 2] = 0.0
    return np.kron(values, np.ones((H // 4, W // 5), np.float32))


def frame(seed: int, with_depth: bool = True) -> tuple:
    return textured_rgb(seed), blocky_depth(seed) if with_depth else None


def samples_of(task: str, seeds: range, **config) -> list:
    """(sample, original rgb, depth) for one item per synthetic frame."""
    cfg = SSRLConfig(tasks=[task], **{**SMALL, **config})
    out = []
    for s in seeds:
        rgb, depth = frame(s)
        items = list(ssrl_samples([(rgb, depth)], cfg, seed=s))
        assert len(items) == 1 and items[0].task == task
        out.append((items[0], rgb, depth))
    return out


def parse_ints(text: str) -> list[int]:
    assert re.fullmatch(r"\d+(, \d+)*", text), text
    return [int(t) for t in text.split(", ")]


def centred_grid(image_shape: tuple, grid: int) -> tuple[int, int, int, int]:
    """Independent re-statement of the documented centred grid crop: (x0, y0, cell w, cell h)."""
    h, w = image_shape[:2]
    ch, cw = h // grid, w // grid
    return (w - grid * cw) // 2, (h - grid * ch) // 2, cw, ch


def cells(image: np.ndarray, grid: int, cw: int, ch: int) -> list[np.ndarray]:
    return [image[r * ch : (r + 1) * ch, c * cw : (c + 1) * cw] for r in range(grid) for c in range(grid)]


def grid_of(question: str) -> int:
    g = re.search(r"a (\d)x\1 grid", question)
    assert g, question
    return int(g.group(1))


# --- checks shared by the synthetic and the simulator frames ------------------------------------


def check_reorder(sample, rgb: np.ndarray) -> None:
    grid = grid_of(sample.question)
    x0, y0, cw, ch = centred_grid(rgb.shape, grid)
    original = cells(rgb[y0 : y0 + grid * ch, x0 : x0 + grid * cw], grid, cw, ch)
    shown = cells(sample.images[0], grid, cw, ch)
    answer = parse_ints(sample.answer)
    assert sorted(answer) == list(range(grid * grid)) and answer != list(range(grid * grid))
    # From the image: original position i holds the shown patch that is pixel-identical to it.
    found = [next(k for k, s in enumerate(shown) if np.array_equal(s, o)) for o in original]
    assert found == answer
    # Undo the shuffle with the stated answer: the original grid comes back exactly.
    restored = np.vstack([np.hstack([shown[answer[r * grid + c]] for c in range(grid)]) for r in range(grid)])
    assert np.array_equal(restored, rgb[y0 : y0 + grid * ch, x0 : x0 + grid * cw])
    # From the metadata: shown k is original permutation[k], so original i sits where permutation == i.
    perm = sample.metadata["permutation"]
    assert [perm.index(i) for i in range(grid * grid)] == answer
    assert sample.metadata["grid_box"] == [x0, y0, x0 + grid * cw, y0 + grid * ch]


def check_flip(sample, rgb: np.ndarray) -> None:
    grid = grid_of(sample.question)
    x0, y0, cw, ch = centred_grid(rgb.shape, grid)
    original = cells(rgb[y0 : y0 + grid * ch, x0 : x0 + grid * cw], grid, cw, ch)
    shown = cells(sample.images[0], grid, cw, ch)
    changed = [k for k in range(grid * grid) if not np.array_equal(shown[k], original[k])]
    assert len(changed) == 1
    k = changed[0]
    horizontal = np.array_equal(shown[k], original[k][:, ::-1])
    vertical = np.array_equal(shown[k], original[k][::-1, :])
    assert horizontal != vertical  # exactly one flip explains the patch
    assert sample.answer == f"{k}, {'horizontal' if horizontal else 'vertical'}"
    assert (sample.metadata["flipped_index"], sample.metadata["direction"]) == (k, sample.answer.split(", ")[1])


def inpaint_option_images(sample) -> dict[str, np.ndarray]:
    if sample.metadata["layout"] == "separate":
        assert len(sample.images) == 5
        return dict(zip("ABCD", sample.images[1:]))
    assert len(sample.images) == 1
    boxes = sample.metadata["option_boxes"]
    assert [boxes[c][0] for c in "ABCD"] == sorted(boxes[c][0] for c in "ABCD")  # lettered left to right
    return {c: sample.images[0][b[1] : b[3], b[0] : b[2]] for c, b in boxes.items()}


def check_inpaint(sample, rgb: np.ndarray, config: SSRLConfig) -> None:
    masked = sample.images[0][: rgb.shape[0]]
    # From the image: the changed pixels form the recorded square and are black.
    ys, xs = np.nonzero((masked != rgb).any(axis=2))
    box = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
    assert box == sample.metadata["box"]
    side = config.inpaint_patch_px
    assert box[2] - box[0] == side and box[3] - box[1] == side
    assert not masked[box[1] : box[3], box[0] : box[2]].any()
    options = inpaint_option_images(sample)
    truth = rgb[box[1] : box[3], box[0] : box[2]]
    assert sample.choices == ["A", "B", "C", "D"]
    assert [c for c, img in options.items() if np.array_equal(img, truth)] == [sample.answer]
    # The distractors, rebuilt from the box and the documented ops.
    ops = sample.metadata["distractor_ops"]
    inner = round(side / config.inpaint_zoom)
    off = (side - inner) // 2
    zoom = cv2.resize(truth[off : off + inner, off : off + inner], (side, side), interpolation=cv2.INTER_LINEAR)
    big = round(side * config.inpaint_context_scale)
    pad = (big - side) // 2
    context = rgb[box[1] - pad : box[1] - pad + big, box[0] - pad : box[0] - pad + big]
    expected = {
        "true": truth,
        "rotate": np.rot90(truth, ops["rotate"]["quarter_turns_ccw"]),
        "zoom": zoom,
        "context": cv2.resize(context, (side, side), interpolation=cv2.INTER_AREA),
    }
    for letter, op in sample.metadata["option_ops"].items():
        assert np.array_equal(options[letter], expected[op]), (letter, op)


def check_markers_drawn(image: np.ndarray, rgb: np.ndarray, markers: list[dict]) -> None:
    """From the image: one changed blob per marker, centred on its recorded pixel."""
    changed = (image != rgb).any(axis=2).astype(np.uint8)
    n, _, _, centroids = cv2.connectedComponentsWithStats(changed)
    assert n - 1 == len(markers)
    for m in markers:
        assert np.min(np.hypot(*(centroids[1:] - m["pixel"]).T)) < 1.5


def check_depth_order(sample, rgb: np.ndarray, depth: np.ndarray, config: SSRLConfig) -> None:
    markers = sample.metadata["markers"]
    assert sorted(m["label"] for m in markers) == [1, 2, 3]
    z = {m["label"]: float(depth[m["pixel"][1], m["pixel"][0]]) for m in markers}  # from the depth map
    assert all(z[m["label"]] == m["depth_m"] for m in markers)
    near_to_far = sorted(z, key=z.get)
    assert sample.answer == ", ".join(map(str, near_to_far))
    gaps = np.diff([z[k] for k in near_to_far])
    assert np.all(gaps >= config.depth_margin_m)
    p = config.depth_patch_px
    for m in markers:  # the patch under each marker has valid, nearly constant depth
        u, v = m["pixel"]
        patch = depth[v - p // 2 : v - p // 2 + p, u - p // 2 : u - p // 2 + p]
        assert np.all(patch > 0) and patch.std() <= config.depth_patch_max_std_m + 1e-6
    check_markers_drawn(sample.images[0], rgb, markers)


def check_relative_position(sample, rgb: np.ndarray, depth: np.ndarray, intrinsics: tuple) -> None:
    md = sample.metadata
    fx, fy, cx, cy = intrinsics
    points = {}
    for m in md["markers"]:
        u, v = m["pixel"]
        z = float(depth[v, u])
        points[m["label"]] = np.array([(u - cx) / fx * z, (v - cy) / fy * z, z])
        assert np.allclose(points[m["label"]], m["point_camera_m"], atol=1e-9)
    d = points[md["target_label"]] - points[md["viewer_label"]]
    # Independent formula: the viewer's yaw about the camera's vertical, 0 = away from the camera,
    # 90 = camera right; forward = (sin t, cos t) and right = (cos t, -sin t) in (x, z).
    yaw = math.radians({"away_from_camera": 0, "right": 90, "toward_camera": 180, "left": -90}[md["facing"]])
    forward = d[0] * math.sin(yaw) + d[2] * math.cos(yaw)
    right = d[0] * math.cos(yaw) - d[2] * math.sin(yaw)
    assert sample.answer == f"{'front' if forward > 0 else 'back'}-{'right' if right > 0 else 'left'}"
    angle = math.degrees(math.atan2(abs(right), abs(forward)))  # 0 = straight ahead/behind, 90 = to a side
    assert md["dead_band_deg"] <= angle <= 90 - md["dead_band_deg"]
    assert f"stand at marker {md['viewer_label']}" in sample.question
    assert f"Where is marker {md['target_label']}" in sample.question
    check_markers_drawn(sample.images[0], rgb, md["markers"])


# --- the five tasks on synthetic frames ----------------------------------------------------------


def test_patch_reorder_undoes_to_the_original():
    items = samples_of("patch_reorder", range(8))
    for sample, rgb, _ in items:
        check_reorder(sample, rgb)
    assert {grid_of(s.question) for s, _, _ in items} == {2, 3}


def test_patch_flip_found_by_comparing_with_the_original():
    items = samples_of("patch_flip", range(10))
    for sample, rgb, _ in items:
        check_flip(sample, rgb)
    assert {s.answer.split(", ")[1] for s, _, _ in items} == {"horizontal", "vertical"}


@pytest.mark.parametrize("composite", [False, True])
def test_patch_inpaint_true_option_is_the_cut_region(composite):
    items = samples_of("patch_inpaint", range(12), inpaint_composite=composite)
    config = SSRLConfig(**SMALL, inpaint_composite=composite)
    for sample, rgb, _ in items:
        check_inpaint(sample, rgb, config)
    assert len({s.answer for s, _, _ in items}) >= 3  # the true patch is shuffled among the letters


def test_depth_order_rederived_from_the_depth_map():
    config = SSRLConfig(**SMALL)
    items = samples_of("depth_order", range(6))
    for sample, rgb, depth in items:
        check_depth_order(sample, rgb, depth, config)
    assert len({s.answer for s, _, _ in items}) >= 2  # marker numbers are shuffled over the bands


def test_relative_position_rederived_from_back_projection():
    items = samples_of("relative_position", range(16))
    for sample, rgb, depth in items:
        check_relative_position(sample, rgb, depth, INTRINSICS)
    assert len({s.answer for s, _, _ in items}) >= 3


def two_tile_frame() -> tuple:
    """Depth known on two 12 px tiles only: A centred at (30, 66), 1.0 m; B at (78, 66), 2.0 m."""
    depth = np.zeros((H, W), np.float32)
    depth[60:72, 24:36] = 1.0
    depth[60:72, 72:84] = 2.0
    return textured_rgb(0), depth


def test_relative_position_hand_computed():
    # fx = fy = 100, principal point on A: A = (0, 0, 1), B = ((78 - 30) * 2 / 100, 0, 2) = (0.96, 0, 2),
    # so B - A = (0.96, 0, 1.0): away from the camera B is ahead and to the right, and so on.
    expected = {
        ("A", "away_from_camera"): "front-right",
        ("A", "toward_camera"): "back-left",
        ("A", "right"): "front-left",
        ("A", "left"): "back-right",
        ("B", "away_from_camera"): "back-left",
        ("B", "toward_camera"): "front-right",
        ("B", "right"): "back-right",
        ("B", "left"): "front-left",
    }
    cfg = SSRLConfig(tasks=["relative_position"], intrinsics_fallback=(100.0, 100.0, 30.0, 66.0), progress=False)
    seen = set()
    for seed in range(24):
        (sample,) = ssrl_samples([two_tile_frame()], cfg, seed=seed)
        md = sample.metadata
        viewer = next(m for m in md["markers"] if m["label"] == md["viewer_label"])
        key = ("A" if viewer["pixel"] == [30, 66] else "B", md["facing"])
        assert sample.answer == expected[key]
        seen.add(key)
    assert len(seen) >= 6


def test_depth_order_skips_depths_closer_than_the_margin():
    depth = np.zeros((H, W), np.float32)
    for u, z in ((30, 1.0), (126, 1.1), (246, 2.0)):  # tile centres; 1.0 and 1.1 are within the 0.15 m margin
        depth[60:72, u - 6 : u + 6] = z
    cfg = SSRLConfig(tasks=["depth_order"], **SMALL)
    assert list(ssrl_samples([(textured_rgb(0), depth)], cfg, seed=0)) == []
    depth[60:72, 120:132] = 1.5
    for seed in range(4):
        (sample,) = ssrl_samples([(textured_rgb(0), depth)], cfg, seed=seed)
        by_label = {m["label"]: m["pixel"][0] for m in sample.metadata["markers"]}
        assert [by_label[int(k)] for k in sample.answer.split(", ")] == [30, 126, 246]


def test_uniform_image_gives_no_patch_items():
    flat = np.full((H, W, 3), 128, np.uint8)
    cfg = SSRLConfig(tasks=["patch_reorder", "patch_flip", "patch_inpaint"], **SMALL)
    assert list(ssrl_samples([(flat, None)], cfg, seed=0)) == []


# --- stream behaviour ----------------------------------------------------------------------------


def test_deterministic_for_a_seed():
    frames = [frame(1), frame(2)]
    config = SSRLConfig(**SMALL, max_items_per_task=2)

    def run(seed):
        return [
            (s.task, s.question, s.answer, [i.tobytes() for i in s.images]) for s in ssrl_samples(frames, config, seed)
        ]

    first = run(5)
    assert first == run(5)
    assert first != run(6)
    assert {t for t, *_ in first} == {
        "patch_reorder",
        "patch_flip",
        "patch_inpaint",
        "depth_order",
        "relative_position",
    }


def test_task_streams_are_independent_of_other_tasks():
    only = SSRLConfig(tasks=["depth_order"], **SMALL)
    both = SSRLConfig(tasks=["patch_flip", "depth_order"], **SMALL)
    a = [s.answer for s in ssrl_samples([frame(3)], only, 9)]
    b = [s.answer for s in ssrl_samples([frame(3)], both, 9) if s.task == "depth_order"]
    assert a == b and len(a) == 1


def test_frames_without_depth_skip_depth_tasks():
    frames = [frame(1, with_depth=False), frame(2), frame(3, with_depth=False)]
    items = list(ssrl_samples(frames, SSRLConfig(**SMALL), seed=0))
    by_frame = {}
    for s in items:
        by_frame.setdefault(s.metadata["frame_index"], set()).add(s.task)
    depth_tasks = {"depth_order", "relative_position"}
    assert by_frame[1] >= depth_tasks
    assert not by_frame[0] & depth_tasks and not by_frame[2] & depth_tasks
    assert by_frame[0] == {"patch_reorder", "patch_flip", "patch_inpaint"}


def test_max_items_per_task_and_json_metadata():
    items = list(ssrl_samples([frame(4)], SSRLConfig(**SMALL, max_items_per_task=3), seed=0))
    assert len(items) == 15
    for s in items:
        assert s.kind == "ssrl" and s.frame == ""
        json.dumps(s.metadata)  # plain lists, numbers and strings


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"tasks": ["patch_reorder", "jigsaw"]},
        {"tasks": []},
        {"tasks": ["patch_flip", "patch_flip"]},
        {"reorder_grid_sizes": [1]},
        {"flip_grid_sizes": []},
        {"depth_margin_m": 0.0},
        {"relpos_dead_band_deg": 45.0},
        {"intrinsics_fallback": [0.0, 500.0, 320.0, 240.0]},
        {"intrinsics_fallback": [500.0, 500.0, 320.0]},
        {"inpaint_zoom": 1.0},
        {"depth_patch_px": "twelve"},
        {"max_items_per_task": 0},
        {"min_marker_distance_px": float("nan")},
    ],
)
def test_bad_config_raises_config_error(bad):
    with pytest.raises(ConfigError):
        SSRLConfig(**bad)


def test_config_loads_from_a_mapping_with_lists(tmp_path):
    path = tmp_path / "ssrl.yaml"
    path.write_text("tasks: [patch_flip, depth_order]\ndepth_margin_m: 0.2\n")
    cfg = load_config(SSRLConfig, path, {"reorder_grid_sizes": [2]})
    assert cfg.tasks == ("patch_flip", "depth_order") and cfg.depth_margin_m == 0.2
    assert cfg.reorder_grid_sizes == (2,)
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(SSRLConfig, None, {"grid": 3})


def test_bad_frames_and_seed_raise_typed_errors():
    cfg = SSRLConfig(**SMALL)
    with pytest.raises(SSRLError, match="uint8"):
        list(ssrl_samples([(np.zeros((H, W, 3), np.float32), None)], cfg, 0))
    with pytest.raises(SSRLError, match="does not match"):
        list(ssrl_samples([(textured_rgb(0), np.ones((H, W + 1), np.float32))], cfg, 0))
    with pytest.raises(SSRLError, match="tuple"):
        list(ssrl_samples([textured_rgb(0)], cfg, 0))
    with pytest.raises(ConfigError):
        list(ssrl_samples([frame(0)], cfg, -1))


# --- image folders -------------------------------------------------------------------------------


def write_rgb(path, rgb):
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def test_image_folder_pairs_depth_files(tmp_path):
    rgbs = [textured_rgb(k)[:48, :64] for k in range(5)]
    depth_mm = np.random.default_rng(0).integers(0, 4000, (48, 64)).astype(np.uint16)
    depth_m = np.random.default_rng(1).uniform(0.3, 2.0, (48, 64)).astype(np.float32)
    (tmp_path / "depth").mkdir()
    write_rgb(tmp_path / "a.png", rgbs[0])
    assert cv2.imwrite(str(tmp_path / "a_depth.png"), depth_mm)  # 16-bit millimetres
    write_rgb(tmp_path / "b.png", rgbs[1])
    np.save(tmp_path / "b.npy", depth_m)  # float metres
    write_rgb(tmp_path / "c.png", rgbs[2])
    assert cv2.imwrite(str(tmp_path / "depth" / "c.png"), depth_mm[::-1].copy())
    write_rgb(tmp_path / "d.png", rgbs[3])  # no depth
    (tmp_path / "notes.txt").write_text("not an image")
    frames = list(image_folder_frames(tmp_path))
    assert len(frames) == 4
    for (rgb, _), expected in zip(frames, rgbs):
        assert np.array_equal(rgb, expected)
    assert frames[0][1].dtype == np.float32
    assert np.allclose(frames[0][1], depth_mm / 1000.0, atol=1e-6)
    assert np.array_equal(frames[1][1], depth_m)
    assert np.allclose(frames[2][1], depth_mm[::-1] / 1000.0, atol=1e-6)
    assert frames[3][1] is None


def test_image_folder_depth_in_a_sibling_folder(tmp_path):
    (tmp_path / "rgb").mkdir()
    (tmp_path / "depth").mkdir()
    write_rgb(tmp_path / "rgb" / "x.jpg", textured_rgb(0)[:32, :32])
    assert cv2.imwrite(str(tmp_path / "depth" / "x.png"), np.full((32, 32), 1500, np.uint16))
    ((rgb, depth),) = image_folder_frames(tmp_path / "rgb")
    assert rgb.shape == (32, 32, 3) and np.allclose(depth, 1.5)


def test_image_folder_end_to_end_with_depth_tasks(tmp_path):
    rgb, depth = frame(7)
    write_rgb(tmp_path / "f.png", rgb)
    assert cv2.imwrite(str(tmp_path / "f_depth.png"), np.round(depth * 1000).astype(np.uint16))
    ((loaded_rgb, loaded_depth),) = image_folder_frames(tmp_path)
    assert np.array_equal(loaded_rgb, rgb) and np.allclose(loaded_depth, depth, atol=0.0006)
    items = list(ssrl_samples(image_folder_frames(tmp_path), SSRLConfig(**SMALL), seed=0))
    assert {s.task for s in items} >= {"depth_order", "relative_position"}
    check_depth_order(next(s for s in items if s.task == "depth_order"), rgb, loaded_depth, SSRLConfig(**SMALL))


def test_image_folder_errors(tmp_path):
    with pytest.raises(SSRLError, match="does not exist"):
        image_folder_frames(tmp_path / "missing")
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(SSRLError, match="no .png/.jpg images"):
        image_folder_frames(tmp_path)
    with pytest.raises(SSRLError, match="not a folder"):
        image_folder_frames(tmp_path / "readme.txt")
    (tmp_path / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(SSRLError, match="cannot read image"):
        list(image_folder_frames(tmp_path))


@pytest.mark.parametrize(
    "depth_file, content, message",
    [
        ("good_depth.png", np.zeros((16, 16), np.uint8), "16-bit"),
        ("good_depth.png", np.zeros((8, 16), np.uint16), "is 16x8"),
        ("good.npy", np.zeros((16, 16, 2), np.float32), "2D array"),
    ],
)
def test_image_folder_bad_depth(tmp_path, depth_file, content, message):
    write_rgb(tmp_path / "good.png", textured_rgb(0)[:16, :16])
    if depth_file.endswith(".npy"):
        np.save(tmp_path / depth_file, content)
    else:
        assert cv2.imwrite(str(tmp_path / depth_file), content)
    with pytest.raises(SSRLError, match=message):
        list(image_folder_frames(tmp_path))
    assert issubclass(SSRLError, RoboSpatialError)


# --- simulator -----------------------------------------------------------------------------------


def test_sim_frame_end_to_end(monkeypatch):
    monkeypatch.setenv("MUJOCO_GL", "egl")
    ((rgb, depth),) = sim_frames(1, seed=3)
    assert rgb.shape == (480, 640, 3) and rgb.dtype == np.uint8
    assert depth.shape == (480, 640) and depth.dtype == np.float32 and np.mean(depth > 0) > 0.9
    assert np.allclose(sim_intrinsics(), SIM_INTRINSICS)  # the default intrinsics_fallback is the sim camera
    config = SSRLConfig(progress=False)
    items = {s.task: s for s in ssrl_samples([(rgb, depth)], config, seed=0)}
    assert set(items) == {"patch_reorder", "patch_flip", "patch_inpaint", "depth_order", "relative_position"}
    check_reorder(items["patch_reorder"], rgb)
    check_flip(items["patch_flip"], rgb)
    check_inpaint(items["patch_inpaint"], rgb, config)
    check_depth_order(items["depth_order"], rgb, depth, config)
    check_relative_position(items["relative_position"], rgb, depth, SIM_INTRINSICS)
    with pytest.raises(ConfigError):
        sim_frames(-1, seed=0)
