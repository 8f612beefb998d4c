"""The MuJoCo tabletop: model, rendering, ground truth, layouts, and a real friction pick-and-place."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np
import pytest

pytest.importorskip("mujoco")
pytest.importorskip("pybullet_data")

from robospatial_ros.core.errors import ConfigError, RoboSpatialError, UnknownObjectError
from robospatial_ros.core.geometry import ROUND_FOOTPRINT_RATIO, matrix_from_quaternion
from robospatial_ros.core.planning import PickPlaceConfig, panda, plan_pick_place
from robospatial_ros.core.planning.pick_place import scene_obstacles
from robospatial_ros.sim import SimFrame, TabletopConfig, TabletopSim
from robospatial_ros.sim.objects import CATALOG, DEFAULT_OBJECTS, object_model
from robospatial_ros.sim.tabletop import PICKABLE


@pytest.fixture(scope="module")
def sim() -> TabletopSim:
    return TabletopSim(TabletopConfig(seed=7))


@pytest.fixture(scope="module")
def shot(sim) -> SimFrame:
    return sim.render()


def test_model_has_the_panda_objects_and_camera(sim):
    m = sim.model
    assert m.nu == 8  # 7 arm joints + the coupled fingers
    assert sim.names == DEFAULT_OBJECTS
    for name in sim.names:
        assert m.body(name).id > 0
        assert all(
            m.geom(g).name.startswith(name + "/")
            for g in range(
                m.body_geomadr[m.body(name).id], m.body_geomadr[m.body(name).id] + m.body_geomnum[m.body(name).id]
            )
        )
    assert m.camera("d435").id >= 0 and m.site("tcp").id >= 0
    # At home the hand points down 0.59 m above the base, the TCP 10 cm below the hand.
    assert np.allclose(sim.arm_q(), panda.HOME_Q, atol=0.01)
    tcp = sim.data.site_xpos[sim.handles.tcp_site]
    assert np.allclose(tcp, [0.307, 0.0, 0.487], atol=0.005)


def test_objects_rest_on_the_table_inside_the_region(sim):
    cfg = sim.config
    for name in sim.names:
        box = sim.object_box(name)
        assert abs(box.z_min) < 0.003, name  # settled on the table top (z = 0)
        assert cfg.region_min_xy_m[0] - 1e-6 <= box.center[0] <= cfg.region_max_xy_m[0] + 0.02
        assert np.hypot(*box.center[:2]) <= cfg.max_reach_m + 0.02
        _, quat = sim.object_pose(name)
        assert matrix_from_quaternion(quat)[2, 2] > 0.99  # upright


def test_render_shapes_and_camera(sim, shot):
    f = shot.frame
    assert f.color.shape == (480, 640, 3) and f.color.dtype == np.uint8
    assert f.depth.shape == (480, 640) and f.depth.dtype == np.float32 and f.depth_scale_m == 1.0
    assert np.all(np.isfinite(f.depth)) and np.mean(f.depth > 0) > 0.99  # the wall behind gives depth everywhere
    fx = 320.0 / np.tan(np.radians(69.4 / 2))
    assert np.allclose(f.K, [[fx, 0, 319.5], [0, fx, 239.5], [0, 0, 1]])
    R = f.camera_to_world[:3, :3]
    assert np.allclose(R.T @ R, np.eye(3), atol=1e-9) and np.isclose(np.linalg.det(R), 1.0)
    assert R[2, 2] < -0.5  # optical z looks down at the table
    assert np.allclose(shot.scene.camera.camera_to_world, f.camera_to_world)
    assert f.color.std() > 20  # an actual picture, not a blank frame


def test_masks_cover_every_object_and_are_disjoint(sim, shot):
    masks = shot.masks.masks
    assert set(masks) == set(sim.names)  # objects only: no table, robot, floor
    stack = np.stack([masks[n] for n in sim.names])
    assert stack.dtype == bool and stack.shape == (len(sim.names), 480, 640)
    assert np.all(stack.sum(axis=(1, 2)) > 200)
    assert stack.sum(axis=0).max() == 1


@pytest.mark.parametrize("seed", [7, 21, 33])
def test_the_arm_at_home_hides_no_object(seed):
    import mujoco

    from robospatial_ros.sim.tabletop import CAMERA_NAME, shared_renderer

    sim = TabletopSim(TabletopConfig(seed=seed))
    masks = sim.render().masks.masks
    renderer = shared_renderer(sim.model, 480, 640)
    option = mujoco.MjvOption()
    option.geomgroup[2] = 0  # the robot's geoms
    renderer.update_scene(sim.data, camera=CAMERA_NAME, scene_option=option)
    renderer.enable_segmentation_rendering()
    seg = renderer.render()
    renderer.disable_segmentation_rendering()
    without_arm = sim._segment(seg)
    for k, name in enumerate(sim.names):
        assert np.array_equal(masks[name], without_arm == k), name


def test_ground_truth_boxes(sim, shot):
    scene = shot.scene
    assert scene.names == ["table", *sim.names]
    assert scene.get("table").box.z_max == pytest.approx(0.0)
    for name in sim.names:
        box = scene.get(name).box
        pos, _ = sim.object_pose(name)
        local = box.rotation.T @ (pos - box.center)
        assert np.all(np.abs(local) <= box.size / 2 + 1e-9), name  # the body origin lies in its box
        assert np.allclose(box.rotation[:, 2], [0, 0, 1])  # gravity-aligned
        # Facing: the body's x axis, horizontal.
        x_axis = matrix_from_quaternion(sim.object_pose(name)[1])[:, 0]
        np.testing.assert_allclose(scene.get(name).facing, np.r_[x_axis[:2] / np.hypot(*x_axis[:2]), 0], atol=1e-6)
        # The box is the minimum-area footprint rectangle (perception's convention; axis-aligned when
        # that costs under ROUND_FOOTPRINT_RATIO in area): at most that much larger than the body-aligned
        # one from the catalog, the same height, and equal to it for boxes and blocks.
        catalog = 2 * object_model(name).half_extents
        assert box.size[0] * box.size[1] <= ROUND_FOOTPRINT_RATIO * catalog[0] * catalog[1] + 1e-6, name
        assert box.size[2] == pytest.approx(catalog[2], abs=0.003), name
        if name in ("box", "block", "can", "plate"):
            assert np.allclose(np.sort(box.size[:2]), np.sort(catalog[:2]), atol=0.003), name


def _back_project(frame, mask):
    """(N, 3) world points of the mask's pixels from the depth image (optical z depth)."""
    v, u = np.nonzero(mask)
    cam = frame.camera()
    origin, dirs = cam.pixel_rays(np.stack([u, v], axis=1).astype(float))
    along_z = dirs @ cam.camera_to_world[:3, 2]
    return origin + dirs * (frame.depth_m()[v, u] / along_z)[:, None]


def test_depth_agrees_with_the_ground_truth(sim, shot):
    for name in sim.names:
        mask, box = shot.masks.masks[name], shot.scene.get(name).box
        pts = _back_project(shot.frame, mask)
        assert abs(np.percentile(pts[:, 2], 99) - box.z_max) < 0.02, name  # the top is seen at its height
        local = (pts - box.center) @ box.rotation
        assert np.mean(np.all(np.abs(local) <= box.size / 2 + 0.01, axis=1)) > 0.98, name
        # The depth at the mask's centre pixel lands on the object.
        v, u = np.nonzero(mask)
        k = np.argmin((u - u.mean()) ** 2 + (v - v.mean()) ** 2)
        centre = np.zeros_like(mask)
        centre[v[k], u[k]] = True
        p = _back_project(shot.frame, centre)[0]
        assert np.all(np.abs(box.rotation.T @ (p - box.center)) <= box.size / 2 + 0.02), name


def test_seeded_layouts_are_deterministic():
    a, b = TabletopSim(TabletopConfig(seed=3)), TabletopSim(TabletopConfig(seed=3))
    c = TabletopSim(TabletopConfig(seed=4))
    pa = np.array([a.object_pose(n)[0] for n in a.names])
    assert np.array_equal(pa, np.array([b.object_pose(n)[0] for n in b.names]))
    assert not np.allclose(pa, np.array([c.object_pose(n)[0] for n in c.names]), atol=0.01)
    c.reset(seed=3)
    assert np.array_equal(pa, np.array([c.object_pose(n)[0] for n in c.names]))


def test_object_subsets_and_fixed_poses():
    cfg = TabletopConfig(seed=11, num_objects=4, fixed_poses=(("mug", 0.5, 0.2, 0.5),))
    sim = TabletopSim(cfg)
    assert len(sim.names) == 4 and "mug" in sim.names
    pos, _ = sim.object_pose("mug")
    assert np.allclose(pos[:2], [0.5, 0.2], atol=0.003)
    other = TabletopSim(TabletopConfig(seed=12, num_objects=4))
    assert len(other.names) == 4 and set(other.names) <= set(DEFAULT_OBJECTS)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"objects": ("mug", "teapot")},
        {"num_objects": 0},
        {"region_min_xy_m": (0.8, 0.0)},
        {"fixed_poses": (("cup", 0.5, 0.0, 0.0),)},
        {"fov_x_deg": 200.0},
    ],
)
def test_bad_configs_are_config_errors(kwargs):
    with pytest.raises(ConfigError):
        TabletopConfig(**kwargs)


def test_unknown_object_is_a_typed_error(sim):
    with pytest.raises(UnknownObjectError):
        sim.object_pose("teapot")
    assert set(CATALOG) >= set(DEFAULT_OBJECTS)


def test_missing_mujoco_gives_an_install_hint(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "mujoco", None)  # makes `import mujoco` raise ImportError
    with pytest.raises(RoboSpatialError, match="pip install mujoco"):
        panda.import_mujoco()


# --- pick and place: judged from the physics state ----------------------------------------------------

PICK_LAYOUT = (("can", 0.45, 0.15, 0.0), ("box", 0.62, -0.05, 0.4), ("bowl", 0.45, -0.25, 0.0))


def _pick_sim() -> TabletopSim:
    return TabletopSim(TabletopConfig(seed=0, objects=("can", "box", "bowl"), fixed_poses=PICK_LAYOUT))


@pytest.mark.parametrize(("name", "target", "yaw"), [("can", (0.62, 0.22, 0.0), 0.0), ("box", (0.40, 0.02, 0.0), 0.8)])
def test_pick_and_place_really_moves_the_object(name, target, yaw):
    sim = _pick_sim()
    scene = sim.scene()
    target = np.array(target)
    start, _ = sim.object_pose(name)
    plan = plan_pick_place(scene.get(name).box, target, PickPlaceConfig(), yaw, obstacles=scene_obstacles(scene, name))
    result = sim.execute(plan)
    assert result.success, result.reason
    assert result.object_id == name  # found from the planned box (the plan carries no id)
    pos, quat = sim.object_pose(name)
    assert np.linalg.norm(pos[:2] - start[:2]) > 0.15  # it really moved
    box = sim.object_box(name)
    assert np.linalg.norm(box.center[:2] - target[:2]) < 0.02  # ... to the target
    assert abs(box.z_min) < 0.005 and matrix_from_quaternion(quat)[2, 2] > 0.98  # upright on the table
    x_axis = matrix_from_quaternion(quat)[:, 0]  # the body's heading (box yaws fold into quarter turns)
    heading = np.arctan2(x_axis[1], x_axis[0])
    if name == "box":  # turned by the requested yaw offset (mod the box's 180-degree symmetry)
        assert abs(np.angle(np.exp(2j * (heading - 0.4 - yaw)))) < 0.1
    assert np.allclose(sim.arm_q(), panda.HOME_Q, atol=0.02)  # the arm went home
    assert np.linalg.norm(sim.object_pose("bowl")[0][:2] - np.array([0.45, -0.25])) < 0.005  # bystander untouched
    assert result.wall_time_s < 3.0


def test_unreachable_goal_fails_without_moving_anything():
    sim = _pick_sim()
    box = sim.object_box("can")
    anywhere = PickPlaceConfig(max_reach_m=5.0, workspace_min_xyz_m=(-5, -5, -1), workspace_max_xyz_m=(5, 5, 5))
    plan = plan_pick_place(box, np.array([1.4, 0.0, 0.0]), anywhere, object_id="can")
    before, _ = sim.object_pose("can")
    result = sim.execute(plan)
    assert not result.success and result.stage == "ik" and "unreachable" in result.reason
    assert np.allclose(sim.object_pose("can")[0], before, atol=1e-4)
    assert np.allclose(sim.arm_q(), panda.HOME_Q, atol=0.01)


def test_a_missed_grasp_is_reported():
    sim = _pick_sim()
    box = sim.object_box("can").translated(np.array([0.0, 0.12, 0.0]))  # nothing there: empty table
    plan = plan_pick_place(box, np.array([0.6, 0.2, 0.0]), PickPlaceConfig(), object_id="can")
    result = sim.execute(plan)
    assert not result.success and result.stage == "grasp" and "closed on nothing" in result.reason
    assert np.allclose(sim.arm_q(), panda.HOME_Q, atol=0.02)  # back home, out of the camera's way


def test_layout_names_predict_the_layout():
    cfg = TabletopConfig(num_objects=3)
    for seed in (1, 2):
        assert TabletopSim.layout_names(cfg, seed) == list(TabletopSim(TabletopConfig(seed=seed, num_objects=3)).names)
    assert {"mug", "can", "box", "banana", "block"} <= PICKABLE and not {"bowl", "plate"} & PICKABLE


def test_a_settled_table_has_not_moved_but_a_moved_object_has():
    """What the sim bridge's still-frame reuse relies on: resting objects and the arm at home jitter well
    under still_tolerance (1e-4), while a real move is seen at once."""
    sim = TabletopSim(TabletopConfig(seed=0))
    still = sim.joint_positions()
    sim.step(1000)  # 2 s of physics
    assert not sim.moved_since(still, 1e-4)
    assert sim.moved_since(still, 0.0) and sim.moved_since(None, 1e-4)
    mug = sim._body("mug")
    adr = sim.model.jnt_qposadr[sim.model.body_jntadr[mug]]
    sim.data.qpos[adr] += 0.001  # 1 mm
    assert sim.moved_since(still, 1e-4)
