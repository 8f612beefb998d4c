"""The Panda IK model (core.planning.ik), shared by the planner's reachability check and the simulated executor."""

import numpy as np
import pytest

from robospatial_ros.core.errors import ConfigError, RoboSpatialError
from robospatial_ros.core.planning import IKConfig, IKError, panda
from robospatial_ros.core.planning.ik import (
    VIA_TURN_RAD,
    PandaIK,
    goal_seeds,
    interpolate_pose,
    rotation_from_vector,
    rotation_vector,
    solve_goal,
    straight_path,
)

pytest.importorskip("mujoco")
pytest.importorskip("pybullet_data")


@pytest.fixture(scope="module")
def ik() -> PandaIK:
    model = panda.build_panda_spec().compile()
    return PandaIK(model, panda.PandaHandles.from_model(model), IKConfig())


def top_down(x: float, y: float, z: float, yaw: float = 0.0) -> np.ndarray:
    """(4, 4) TCP pose in the base frame: hand pointing down (TCP z = world -z), x axis at `yaw`."""
    c, s = np.cos(yaw), np.sin(yaw)
    T = np.eye(4)
    T[:3, :3] = np.array([[c, s, 0.0], [s, -c, 0.0], [0.0, 0.0, -1.0]])
    T[:3, 3] = (x, y, z)
    return T


def pose_error(A: np.ndarray, B: np.ndarray) -> tuple[float, float]:
    """(position error m, rotation error rad) between two (4, 4) poses."""
    return float(np.linalg.norm(A[:3, 3] - B[:3, 3])), float(np.linalg.norm(rotation_vector(A[:3, :3].T @ B[:3, :3])))


# --- settings ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_iters": 0},
        {"max_iters": 2.5},
        {"max_iters": True},
        {"tolerance_m": 0.0},
        {"tolerance_rad": -1e-3},
        {"damping": float("nan")},
        {"via_spacing_m": float("inf")},
        {"via_spacing_m": "0.04"},
    ],
)
def test_bad_ik_settings_are_config_errors(kwargs):
    with pytest.raises(ConfigError):
        IKConfig(**kwargs)


def test_a_whole_float_iteration_count_is_accepted():
    assert IKConfig(max_iters=50.0).max_iters == 50 and isinstance(IKConfig(max_iters=50.0).max_iters, int)


def test_the_executor_config_derives_the_ik_settings():
    from robospatial_ros.sim.executor import ExecutorConfig

    cfg = ExecutorConfig(ik_max_iters=7, ik_tolerance_m=1e-3, ik_tolerance_rad=2e-3, ik_damping=0.1, via_spacing_m=0.02)
    assert cfg.ik_config() == IKConfig(
        max_iters=7, tolerance_m=1e-3, tolerance_rad=2e-3, damping=0.1, via_spacing_m=0.02
    )
    # The planner's reachability check solves with IKConfig(); the sim with ExecutorConfig(): they must agree,
    # or a plan judged reachable could fail in the simulator.
    assert ExecutorConfig().ik_config() == IKConfig()


def test_ik_error_is_a_robospatial_error():
    assert issubclass(IKError, RoboSpatialError)


# --- rotations --------------------------------------------------------------------------------------


@pytest.mark.parametrize("angle", [0.0, 1e-7, 0.3, 2.0, np.pi - 1e-4, np.pi])
def test_rotation_vector_inverts_rodrigues(angle):
    rng = np.random.default_rng(int(angle * 1000))
    for _ in range(5):
        axis = rng.normal(size=3)
        v = axis / np.linalg.norm(axis) * angle
        R = rotation_from_vector(v)
        assert np.allclose(R @ R.T, np.eye(3), atol=1e-12) and np.isclose(np.linalg.det(R), 1.0)
        back = rotation_vector(R)
        assert np.allclose(rotation_from_vector(back), R, atol=1e-6)
        assert np.isclose(np.linalg.norm(back), angle, atol=1e-6)


def test_interpolate_pose_is_a_straight_line_at_constant_axis():
    A, B = top_down(0.4, -0.2, 0.3, 0.0), top_down(0.6, 0.2, 0.1, 1.0)
    assert np.allclose(interpolate_pose(A, B, 0.0), A) and np.allclose(interpolate_pose(A, B, 1.0), B)
    mid = interpolate_pose(A, B, 0.5)
    assert np.allclose(mid[:3, 3], (A[:3, 3] + B[:3, 3]) / 2)
    assert np.allclose(rotation_vector(A[:3, :3].T @ mid[:3, :3]), [0.0, 0.0, -0.5], atol=1e-9)  # half the yaw


# --- solving ----------------------------------------------------------------------------------------


def test_forward_then_inverse_kinematics_reaches_the_pose(ik):
    cfg = ik.config
    rng = np.random.default_rng(0)
    for _ in range(5):
        q = panda.HOME_Q + rng.uniform(-0.4, 0.4, 7)
        target = ik.tcp_pose(q)
        solved = solve_goal(ik, "test", target, panda.HOME_Q)
        dp, dr = pose_error(ik.tcp_pose(solved), target)
        assert dp < cfg.tolerance_m and dr < cfg.tolerance_rad
        assert np.all(solved >= ik.handles.lower) and np.all(solved <= ik.handles.upper)


def test_goal_seeds_stay_inside_the_joint_limits(ik):
    h = ik.handles
    for yaw in np.linspace(-np.pi, np.pi, 9):
        seeds = goal_seeds(top_down(0.5, 0.3, 0.2, yaw), panda.HOME_Q, h)
        assert seeds[0] is panda.HOME_Q and len(seeds) >= 2
        assert all(np.all(s >= h.lower) and np.all(s <= h.upper) for s in seeds[1:])


def test_an_unreachable_goal_is_an_ik_error_naming_the_pose(ik):
    with pytest.raises(IKError, match=r"the place pose at \(1\.300, 0\.000, 0\.200\) m is unreachable"):
        solve_goal(ik, "place", top_down(1.3, 0.0, 0.2), panda.HOME_Q)
    with pytest.raises(IKError, match="unreachable"):
        straight_path(ik, "place", ik.tcp_pose(panda.HOME_Q), panda.HOME_Q, top_down(1.3, 0.0, 0.2))


def test_a_straight_path_follows_the_line_in_small_steps(ik):
    cfg = ik.config
    start_q = panda.HOME_Q
    start = ik.tcp_pose(start_q)
    goal = top_down(0.55, -0.25, 0.12, 0.9)
    path = straight_path(ik, "approach", start, start_q, goal)  # (K, 7) rad
    assert path.ndim == 2 and path.shape[1] == 7 and np.array_equal(path[0], start_q)
    poses = [ik.tcp_pose(q) for q in path]
    dp, dr = pose_error(poses[-1], goal)
    assert dp < cfg.tolerance_m and dr < cfg.tolerance_rad
    steps = np.linalg.norm(np.diff([p[:3, 3] for p in poses], axis=0), axis=1)
    assert steps.max() <= cfg.via_spacing_m + 1e-3
    turns = [pose_error(a, b)[1] for a, b in zip(poses, poses[1:])]
    assert max(turns) <= VIA_TURN_RAD + 1e-2
    line = goal[:3, 3] - start[:3, 3]
    for p in poses[1:-1]:  # every via-point on the straight line (within the IK tolerance)
        off = p[:3, 3] - start[:3, 3]
        assert np.linalg.norm(off - (off @ line) / (line @ line) * line) < cfg.tolerance_m


def test_the_sim_model_and_the_arm_alone_give_the_same_path(ik):
    """The reachability check builds the arm alone, the simulator the arm in its scene: same joints."""
    from robospatial_ros.sim import TabletopConfig, TabletopSim

    sim = TabletopSim(TabletopConfig(seed=0, objects=("can",)))
    in_scene = PandaIK(sim.model, sim.handles, sim.config.executor.ik_config())
    goal = top_down(0.5, 0.2, 0.15, -0.6)
    alone = straight_path(ik, "approach", ik.tcp_pose(panda.HOME_Q), panda.HOME_Q, goal)
    scene = straight_path(in_scene, "approach", in_scene.tcp_pose(panda.HOME_Q), panda.HOME_Q, goal)
    assert alone.shape == scene.shape and np.allclose(alone, scene, atol=1e-6)
