"""SAT-style items: every answer re-derived from the recorded simulator state with the test's own formulas
(yaw angles from atan2, hand-written pinhole projection, distances), and checked against re-rendered images."""

import json
import math
import os
import re

import numpy as np
import pytest

os.environ.setdefault("MUJOCO_GL", "egl")

from robospatial_ros.core.configio import load_config
from robospatial_ros.core.errors import ConfigError
from robospatial_ros.learn.datagen.sat import TASKS, SATConfig, render_from, sat_samples
from robospatial_ros.learn.datagen.sat_tasks import STRAIGHT_AHEAD, turn_to_face
from robospatial_ros.sim.tabletop import TabletopConfig, TabletopSim

W, H = 128, 96
SMALL = {"image_width_px": W, "image_height_px": H, "progress": False}


@pytest.fixture(scope="module")
def samples():
    return list(sat_samples(SATConfig(questions_per_task=3, **SMALL), episodes=3, seed=5))


def by_task(samples, task):
    found = [s for s in samples if s.task == task]
    assert found, f"no {task} item generated"
    return found


# --- the test's own geometry ---------------------------------------------------------------------


def heading_deg(v):
    """Compass angle of a vector's horizontal part, counter-clockwise from world x."""
    return math.degrees(math.atan2(v[1], v[0]))


def wrap_deg(a):
    return (a + 180.0) % 360.0 - 180.0


def camera_yaw_deg(T):
    return heading_deg(np.asarray(T)[:3, 2])  # the optical z axis is the viewing direction


def pixel_of(meta, point, T=None):
    """Hand-written pinhole projection of a world point: (u, v, depth)."""
    T = np.asarray(meta["camera_to_world"] if T is None else T)
    K = np.asarray(meta["intrinsic"])
    x, y, z = T[:3, :3].T @ (np.asarray(point) - T[:3, 3])
    return K[0, 0] * x / z + K[0, 2], K[1, 1] * y / z + K[1, 2], z


def horizontal(v):
    v = np.array([v[0], v[1], 0.0])
    return v / np.linalg.norm(v)


def rebuild(meta, **camera):
    s = meta["sim"]
    w, h = meta["image_size"]
    cfg = TabletopConfig(
        seed=s["seed"],
        objects=tuple(s["objects"]),
        num_objects=s["num_objects"],
        image_width_px=w,
        image_height_px=h,
        **camera,
    )
    return TabletopSim(cfg)


def set_object_poses(sim, poses):
    """Free joints from {name: [x, y, z, qx, qy, qz, qw]}."""
    m, d = sim.model, sim.data
    for name, (x, y, z, qx, qy, qz, qw) in poses.items():
        adr = m.jnt_qposadr[m.body_jntadr[m.body(name).id]]
        d.qpos[adr : adr + 7] = (x, y, z, qw, qx, qy, qz)
    sim.mujoco.mj_forward(m, d)


def mask_of(shot, name):
    return shot.segmentation == shot.names.index(name)


# --- all items -----------------------------------------------------------------------------------


def test_every_task_gives_multiple_choice_items_with_the_state_recorded(samples):
    assert {s.task for s in samples} == set(TASKS)
    positions = set()
    for s in samples:
        assert s.kind == "sat" and s.frame == ""
        assert s.answer in s.choices and len(set(s.choices)) == len(s.choices) >= 2
        listed = re.findall(r'"([^"]+)"', s.question.split("Answer with one of:")[1])
        assert listed == s.choices  # the question lists the choices in the shuffled order
        assert len(s.images) == (2 if s.task in ("ego_movement", "object_movement") else 1)
        assert all(img.shape == (H, W, 3) and img.dtype == np.uint8 for img in s.images)
        meta = json.loads(json.dumps(s.metadata))  # plain JSON
        assert np.asarray(meta["camera_to_world"]).shape == (4, 4)
        positions.add(s.choices.index(s.answer))
    assert positions == {0, 1, 2, 3}  # shuffled: the answer is not always in one place


def test_metadata_is_the_simulator_state_and_frame_one_is_its_picture(samples):
    checked = set()
    for s in samples:
        key = s.metadata["sim"]["seed"]
        if key in checked or len(s.images) != 1 or s.task == "perspective_taking":
            continue
        checked.add(key)
        sim = rebuild(s.metadata)
        assert list(sim.names) == s.metadata["sim"]["names"]
        for name, p in s.metadata["object_positions"].items():
            np.testing.assert_allclose(sim.object_pose(name)[0], p, atol=1e-9)
        np.testing.assert_allclose(sim.camera.camera_to_world, s.metadata["camera_to_world"], atol=1e-12)
        np.testing.assert_array_equal(sim.render().frame.color, s.images[0])
    assert len(checked) == 3


def test_render_from_the_sim_pose_equals_the_sim_render_and_leaves_the_camera():
    sim = TabletopSim(TabletopConfig(seed=2, image_width_px=W, image_height_px=H))
    before = sim.render().frame.color
    rgb, geoms = render_from(sim, sim.camera)
    np.testing.assert_array_equal(rgb, before)
    assert geoms.shape == (H, W) and (geoms >= 0).mean() > 0.9  # the table, objects, wall cover the view
    np.testing.assert_array_equal(sim.render().frame.color, before)


# --- dynamic tasks -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ego_items():
    cfg = SATConfig(tasks=("ego_movement",), questions_per_task=3, **SMALL)
    return list(sat_samples(cfg, episodes=3, seed=11))


def test_ego_movement_answers_follow_from_the_two_camera_poses(ego_items):
    kinds = set()
    for s in ego_items:
        T1, T2 = np.asarray(s.metadata["camera_to_world"]), np.asarray(s.metadata["camera_to_world_after"])
        points = list(s.metadata["object_positions"].values())
        kind = s.metadata["motion"]["kind"]
        kinds.add(kind)
        if "rotate" in s.question:
            assert kind == "rotation"
            np.testing.assert_allclose(T1[:3, 3], T2[:3, 3])
            turn = wrap_deg(camera_yaw_deg(T2) - camera_yaw_deg(T1))
            assert 15.0 <= abs(turn) <= 40.0
            # What was straight ahead now shows right of centre after a left turn.
            ahead = T1[:3, 3] + 2.0 * horizontal(T1[:3, 2])
            u, _, _ = pixel_of(s.metadata, ahead, T2)
            assert s.answer == ("left" if u > s.metadata["intrinsic"][0][2] else "right")
        elif "forward or backward" in s.question:
            depth_change = [pixel_of(s.metadata, p, T2)[2] - pixel_of(s.metadata, p)[2] for p in points]
            assert all(d < 0 for d in depth_change) or all(d > 0 for d in depth_change)
            assert s.answer == ("forward" if depth_change[0] < 0 else "backward")
        else:
            shift = [pixel_of(s.metadata, p, T2)[0] - pixel_of(s.metadata, p)[0] for p in points]
            # Moving right, everything in front slides left in the picture.
            assert s.answer == ("right" if all(d < 0 for d in shift) else "left")
            assert all(d > 0 for d in shift) or s.answer == "right"
    assert kinds == {"sideways", "depthwise", "rotation"}


def test_ego_movement_second_image_is_the_sim_camera_at_the_second_pose(ego_items):
    s = next(s for s in ego_items if s.metadata["motion"]["kind"] == "sideways")
    T2 = np.asarray(s.metadata["camera_to_world_after"])
    eye = T2[:3, 3]
    moved = rebuild(s.metadata, camera_eye_m=tuple(eye), camera_target_m=tuple(eye + T2[:3, 2]))
    shot = moved.render()
    assert np.abs(shot.frame.color.astype(int) - s.images[1]).mean() < 0.5
    first = rebuild(s.metadata).render()
    for name in shot.names:  # every object seen in both frames slides against the camera's motion
        a, b = mask_of(first, name), mask_of(shot, name)
        if a.sum() > 20 and b.sum() > 20:
            du = np.nonzero(b)[1].mean() - np.nonzero(a)[1].mean()
            assert (du < 0) == (s.answer == "right")


def test_object_movement_answers_follow_from_positions_and_the_images(samples):
    for s in by_task(samples, "object_movement"):
        meta = s.metadata
        T = np.asarray(meta["camera_to_world"])
        name = meta["moved_object"]
        assert f"the {name} was moved" in s.question
        p1, p2 = np.asarray(meta["position_before"]), np.asarray(meta["position_after"])
        delta = p2 - p1
        along_x = float(delta @ T[:3, 0])  # the image x axis is horizontal
        along_view = float(delta @ horizontal(T[:3, 2]))
        if s.answer in ("left", "right"):
            assert abs(along_x) >= 2 * abs(along_view)
            assert s.answer == ("right" if along_x > 0 else "left")
        else:
            assert abs(along_view) >= 2 * abs(along_x)
            grows = np.linalg.norm(p2 - T[:3, 3]) > np.linalg.norm(p1 - T[:3, 3])
            assert s.answer == ("further" if grows else "closer")
        # The same change seen in re-rendered images.
        sim = rebuild(meta)
        before = sim.render()
        np.testing.assert_array_equal(before.frame.color, s.images[0])
        set_object_poses(sim, meta["object_poses_after"])
        np.testing.assert_allclose(sim.object_pose(name)[0], p2, atol=1e-9)
        after = sim.render()
        assert np.abs(after.frame.color.astype(int) - s.images[1]).mean() < 1.0
        m1, m2 = mask_of(before, name), mask_of(after, name)
        if s.answer in ("left", "right"):
            du = np.nonzero(m2)[1].mean() - np.nonzero(m1)[1].mean()
            assert (du > 0) == (s.answer == "right")
        else:
            dz = np.median(after.frame.depth[m2]) - np.median(before.frame.depth[m1])
            assert (dz > 0) == (s.answer == "further")


# --- hypothetical tasks --------------------------------------------------------------------------


def test_action_consequence_answers_follow_from_the_moved_or_turned_camera(samples):
    for s in by_task(samples, "action_consequence"):
        meta = s.metadata
        T = np.asarray(meta["camera_to_world"])
        p = np.asarray(meta["object_positions"][meta["object"]])
        action = meta["action"]
        if action["kind"] == "move":
            cm = int(re.search(r"moves (\d+) cm", s.question).group(1))
            assert cm == round(action["distance_m"] * 100) and cm % 5 == 0
            ahead, right = horizontal(T[:3, 2]), T[:3, 0]
            step = {"forward": ahead, "backward": -ahead, "right": right, "left": -right}[action["direction"]]
            c1, c2 = T[:3, 3], T[:3, 3] + cm / 100.0 * step
            d1, d2 = np.linalg.norm(p - c1), np.linalg.norm(p - c2)
            assert abs(d2 - d1) >= 0.05
            assert s.answer == ("closer" if d2 < d1 else "further")
        else:
            deg = int(re.search(r"turns (\d+) degrees to the (left|right)", s.question).group(1))
            assert deg == action["angle_deg"] and action["direction"] in s.question
            yaw = camera_yaw_deg(T) + (deg if action["direction"] == "left" else -deg)
            before = wrap_deg(heading_deg(p - T[:3, 3]) - camera_yaw_deg(T))
            after = wrap_deg(heading_deg(p - T[:3, 3]) - yaw)
            assert abs(abs(after) - abs(before)) >= 5.0
            nearer = abs(after) < abs(before)
            assert s.answer == ("nearer the centre of the view" if nearer else "further from the centre of the view")


@pytest.mark.parametrize(
    "bearing, expected",
    [
        (0.0, (None, 0)),
        (9.9, (None, 0)),
        (10.0, (None, 0)),
        (-10.0, (None, 0)),
        (10.1, ("left", 10)),
        (-14.9, ("right", 10)),
        (15.1, ("left", 20)),
        (-34.0, ("right", 30)),
        (35.2, ("left", 40)),
        (90.0, ("left", 90)),
        (-176.0, ("right", 180)),
    ],
)
def test_turn_to_face_has_a_dead_band_and_rounds_to_ten_degrees(bearing, expected):
    assert turn_to_face(bearing, 10.0) == expected


def check_goal_item(s, dead_band):
    meta = s.metadata
    T = np.asarray(meta["camera_to_world"])
    p = np.asarray(meta["object_positions"][meta["object"]])
    bearing = wrap_deg(heading_deg(p - T[:3, 3]) - camera_yaw_deg(T))  # + = left
    assert bearing == pytest.approx(meta["bearing_deg"], abs=1e-9)
    if abs(bearing) <= dead_band:
        assert s.answer == STRAIGHT_AHEAD and "left" not in s.answer and "right" not in s.answer
        return "straight"
    n = int(re.fullmatch(r"turn (left|right) by about (\d+) degrees", s.answer).group(2))
    assert s.answer.startswith("turn left" if bearing > 0 else "turn right")
    assert n % 10 == 0 and abs(abs(bearing) - n) <= 5.0 + 1e-9  # the nearest ten
    return "turn"


def test_goal_aiming_respects_the_dead_band(samples):
    outcomes = {check_goal_item(s, 10.0) for s in by_task(samples, "goal_aiming")}
    wide = SATConfig(tasks=("goal_aiming",), questions_per_task=4, dead_band_deg=25.0, **SMALL)
    wide_items = list(sat_samples(wide, episodes=2, seed=3))
    outcomes |= {check_goal_item(s, 25.0) for s in wide_items}
    assert outcomes == {"straight", "turn"}
    assert all(s.metadata["dead_band_deg"] == 25.0 for s in wide_items)


def test_perspective_taking_answers_from_the_marker_and_the_facing(samples):
    for s in by_task(samples, "perspective_taking"):
        meta = s.metadata
        marker, facing = meta["marker"], meta["facing"]
        m = np.asarray(marker["point"])
        u, v, z = pixel_of(meta, m)
        assert z > 0 and np.allclose([u, v], marker["pixel"])
        # The marker is drawn there: a red disc around the pixel.
        r, c = int(round(v)), int(round(u))
        patch = s.images[0][max(0, r - 5) : r + 6, max(0, c - 5) : c + 6].reshape(-1, 3).astype(int)
        assert ((patch[:, 0] > 150) & (patch[:, 1] < 90) & (patch[:, 2] < 110)).sum() >= 8
        assert f"marked {marker['label']}" in s.question
        if marker["on_object"]:
            assert f"at the {marker['on_object']}" in s.question
            assert np.allclose(m[:2], meta["object_positions"][marker["on_object"]][:2])
        else:
            assert abs(m[2]) < 1e-12  # on the table top
        target = facing["target"]
        assert f"facing the {target}" in s.question
        expected_face = meta["camera_to_world"] if target == "camera" else None
        face = np.asarray(facing["point"])
        if expected_face is not None:
            np.testing.assert_allclose(face, np.asarray(expected_face)[:3, 3])
        else:
            np.testing.assert_allclose(face, meta["object_positions"][target])
        a = np.asarray(meta["object_positions"][meta["object"]])
        if s.answer in ("left", "right"):
            angle = wrap_deg(heading_deg(a - m) - heading_deg(face - m))
            assert 15.0 <= abs(angle) <= 165.0
            assert s.answer == ("left" if angle > 0 else "right")
        else:
            b = np.asarray(meta["object_positions"][meta["other_object"]])
            da, db = np.hypot(*(a - m)[:2]), np.hypot(*(b - m)[:2])
            assert abs(da - db) >= 0.05
            assert s.answer == ("closer" if da < db else "further")


# --- static tasks --------------------------------------------------------------------------------


def test_counting_matches_the_layout(samples):
    for s in by_task(samples, "counting"):
        sim_meta = s.metadata["sim"]
        cfg = TabletopConfig(
            seed=sim_meta["seed"], objects=tuple(sim_meta["objects"]), num_objects=sim_meta["num_objects"]
        )
        names = TabletopSim.layout_names(cfg)
        category = s.metadata["category"]
        if category:
            assert f"How many {category}" in s.question
            expected = sum(n == category for n in names)  # sim object names are their categories
        else:
            assert "How many objects" in s.question
            expected = len(names)
        assert s.answer == str(expected)
        assert all(c.isdigit() for c in s.choices)


def test_relative_depth_and_left_right_match_geometry_and_the_picture(samples):
    shots = {}
    for s in by_task(samples, "relative_depth") + by_task(samples, "left_right"):
        meta = s.metadata
        seed = meta["sim"]["seed"]
        shot = shots[seed] if seed in shots else shots.setdefault(seed, rebuild(meta).render())
        a, b = meta["objects"]
        pa, pb = (np.asarray(meta["object_positions"][n]) for n in (a, b))
        assert f"the {a}" in s.question and f"the {b}" in s.question
        if s.task == "relative_depth":
            c = np.asarray(meta["camera_to_world"])[:3, 3]
            da, db = np.linalg.norm(pa - c), np.linalg.norm(pb - c)
            assert abs(da - db) >= 0.05
            assert s.answer == (a if da < db else b)
        else:
            ua, ub = pixel_of(meta, pa)[0], pixel_of(meta, pb)[0]
            assert abs(ua - ub) >= 0.05 * W
            assert s.answer == ("yes" if ua < ub else "no")
            ma, mb = mask_of(shot, a), mask_of(shot, b)
            assert (np.nonzero(ma)[1].mean() < np.nonzero(mb)[1].mean()) == (s.answer == "yes")


# --- determinism and config ----------------------------------------------------------------------


def fingerprint(items):
    return [
        (
            s.task,
            s.question,
            s.answer,
            s.choices,
            json.dumps(s.metadata, sort_keys=True),
            [img.tobytes() for img in s.images],
        )
        for s in items
    ]


def test_same_seed_same_items_and_episodes_do_not_depend_on_the_count(samples):
    cfg = SATConfig(questions_per_task=3, **SMALL)
    one = list(sat_samples(cfg, episodes=1, seed=5))
    assert fingerprint(one) == fingerprint(samples[: len(one)])
    assert fingerprint(one) != fingerprint(list(sat_samples(cfg, episodes=1, seed=6)))


@pytest.mark.parametrize(
    "values",
    [
        {"tasks": ("flying",)},
        {"tasks": ()},
        {"tasks": ("counting", "counting")},
        {"camera_turn_deg": (30.0, 10.0)},
        {"camera_shift_m": (0.1,)},
        {"object_shift_m": (0.0, 0.1)},
        {"dead_band_deg": -1.0},
        {"dead_band_deg": 50.0},
        {"image_width_px": 0},
        {"questions_per_task": 0},
        {"min_objects": 1},
        {"max_objects": 99},
        {"min_objects": 5, "max_objects": 4},
        {"sim_objects": ("mug", "spaceship")},
        {"dead_band_deg": "ten"},
        {"depth_margin_m": float("nan")},
        {"progress": "yes"},
    ],
)
def test_bad_config_values_are_config_errors(values):
    with pytest.raises(ConfigError) as err:
        SATConfig(**values)
    assert "\n" not in str(err.value)


def test_config_loads_from_mappings_and_bad_calls_are_typed():
    cfg = load_config(SATConfig, None, {"camera_shift_m": [0.05, 0.1], "tasks": ["counting"]})
    assert cfg.camera_shift_m == (0.05, 0.1) and cfg.tasks == ("counting",)
    with pytest.raises(ConfigError, match="no_such_key"):
        load_config(SATConfig, None, {"no_such_key": 1})
    for episodes, seed in ((-1, 0), (1.5, 0), (1, -3), (True, 0)):
        with pytest.raises(ConfigError):
            sat_samples(SATConfig(**SMALL), episodes, seed)  # raised at the call, before iterating
    with pytest.raises(ConfigError):
        sat_samples({"tasks": ["counting"]}, 1, 0)
    assert list(sat_samples(SATConfig(**SMALL), 0, 0)) == []
