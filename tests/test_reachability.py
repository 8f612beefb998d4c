"""Reachability of pick-and-place plans by IK on the Panda model (core.planning.ik: the simulator's arm and solver)."""

from dataclasses import replace

import numpy as np
import pytest

from robospatial_ros.core.geometry import OrientedBox, rot_z
from robospatial_ros.core.planning import PickPlaceConfig, plan_pick_place
from robospatial_ros.core.planning.reachability import check_reachable, load_arm_model

pytest.importorskip("mujoco")
pytest.importorskip("pybullet_data")

CFG = PickPlaceConfig()
# A config whose workspace admits poses the arm cannot reach: only IK can refuse them.
LOOSE = replace(CFG, max_reach_m=1.5, workspace_min_xyz_m=(-1.5, -1.5, 0.0), workspace_max_xyz_m=(1.5, 1.5, 1.5))


def can(x=0.55, y=0.1) -> OrientedBox:
    """A 6.6 cm can, 12 cm tall, standing on the table (z = 0)."""
    return OrientedBox((x, y, 0.06), (0.066, 0.066, 0.12), rot_z(0.0))


@pytest.fixture(scope="module", autouse=True)
def arm_model():
    load_arm_model()


@pytest.mark.parametrize(
    ("pick", "place", "yaw"),
    [
        ((0.55, 0.1), (0.45, -0.2, 0.0), 0.0),
        ((0.4, 0.3), (0.65, 0.0, 0.0), np.pi / 2),
        ((0.68, 0.02), (0.415, 0.015, 0.0), 0.0),
    ],
)
def test_plans_on_the_table_are_reachable(pick, place, yaw):
    plan = plan_pick_place(can(*pick), np.array(place), CFG, yaw, "can")
    ok, reason = check_reachable(plan)
    assert ok, reason
    assert check_reachable(plan, check_path=False)[0]


@pytest.mark.parametrize(
    ("place", "pose"),
    [((1.05, 0.0, 0.0), "pre_place"), ((0.0, -1.0, 0.0), "pre_place"), ((0.5, 0.0, 0.9), "pre_place")],
)
def test_poses_beyond_the_arm_are_unreachable(place, pose):
    plan = plan_pick_place(can(), np.array(place), LOOSE, 0.0, "can")  # inside the loose workspace
    for check_path in (True, False):
        ok, reason = check_reachable(plan, check_path=check_path)
        assert not ok
        assert reason.startswith("not reachable by the arm (IK):") and "unreachable" in reason
        assert "\n" not in reason
    assert pose in check_reachable(plan, check_path=False)[1]


def test_an_unreachable_pick_is_reported_first():
    plan = plan_pick_place(can(1.1, 0.0), np.array([0.5, 0.0, 0.0]), LOOSE, 0.0, "can")
    ok, reason = check_reachable(plan, check_path=False)
    assert not ok and "pre_grasp" in reason


def test_from_another_start_posture():
    plan = plan_pick_place(can(), np.array([0.45, -0.2, 0.0]), CFG, 0.0, "can")
    turned = np.array([0.8, -0.5, 0.0, -2.0, 0.0, 1.6, 0.785398])  # shoulder turned, elbow up
    ok, reason = check_reachable(plan, start_q=turned)
    assert ok, reason


def test_inside_the_workspace_yet_out_of_reach():
    """A tall bottle carried to the far edge: every pose passes the workspace box and radius limits,
    but lifted 18 cm above its 20 cm height there, the hand is beyond the arm."""
    bottle = OrientedBox((0.5, 0.42, 0.1), (0.07, 0.07, 0.2), rot_z(0.0))
    plan = plan_pick_place(bottle, np.array([0.775, -0.005, 0.0]), CFG, 0.0, "bottle")  # no UnsafeGoalError
    ok, reason = check_reachable(plan)
    assert not ok and "(0.775, -0.005, 0.355)" in reason, reason
