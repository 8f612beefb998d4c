"""Top-down pick-and-place planning: poses, gripper widths, refusals (no simulator needed)."""

import numpy as np
import pytest

from robospatial_ros.core.camera import CameraModel
from robospatial_ros.core.errors import ConfigError, RoboSpatialError
from robospatial_ros.core.geometry import OrientedBox, invert_transform, rot_z
from robospatial_ros.core.planning import (
    PickPlaceConfig,
    PickPlacePlan,
    PlanningError,
    UnsafeGoalError,
    plan_pick_place,
)
from robospatial_ros.core.planning.pick_place import hand_collisions, scene_obstacles
from robospatial_ros.core.scene import Scene, SceneObject

CFG = PickPlaceConfig()


def tea_box(x=0.5, y=0.1, yaw=0.3, size=(0.09, 0.055, 0.07)) -> OrientedBox:
    """A box standing on the table (z = 0), 5.5 cm across its y axis."""
    return OrientedBox((x, y, size[2] / 2), size, rot_z(yaw))


def test_grasp_closes_across_the_narrow_axis_top_down():
    box = tea_box()
    plan = plan_pick_place(box, np.array([0.6, -0.2, 0.0]), CFG)
    R = plan.grasp[:3, :3]
    assert np.allclose(R.T @ R, np.eye(3), atol=1e-9) and np.isclose(np.linalg.det(R), 1.0)
    assert np.allclose(R[:, 2], [0, 0, -1])  # approach straight down
    assert abs(R[:, 1] @ box.rotation[:, 1]) == pytest.approx(1.0)  # fingers travel along the 5.5 cm axis
    assert plan.object_width_m == pytest.approx(0.055)
    assert np.allclose(plan.grasp[:2, 3], box.center[:2])


def test_heights_of_every_waypoint():
    box = tea_box()
    place = np.array([0.6, -0.2, 0.0])
    plan = plan_pick_place(box, place, CFG)
    z_grasp = box.z_max - CFG.grasp_depth_m
    assert plan.grasp[2, 3] == pytest.approx(z_grasp)
    assert plan.pre_grasp[2, 3] == pytest.approx(z_grasp + CFG.approach_height_m)
    assert plan.lift[2, 3] == pytest.approx(z_grasp + CFG.lift_height_m)
    # The object is carried rigidly: same grasp height above its bottom, released just above the support.
    z_place = place[2] + CFG.place_clearance_m + (z_grasp - box.z_min)
    assert plan.place[2, 3] == pytest.approx(z_place)
    assert plan.pre_place[2, 3] == pytest.approx(z_place + CFG.lift_height_m)
    assert plan.retreat[2, 3] == pytest.approx(z_place + CFG.approach_height_m)
    assert np.allclose(plan.place[:2, 3], place[:2]) and np.allclose(plan.retreat[:2, 3], place[:2])
    assert [n for n, _ in plan.waypoints()] == ["pre_grasp", "grasp", "lift", "pre_place", "place", "retreat"]


def test_short_objects_are_grasped_above_the_support():
    flat = OrientedBox((0.5, 0.0, 0.012), (0.18, 0.04, 0.024), np.eye(3))  # a lying banana
    plan = plan_pick_place(flat, np.array([0.5, 0.2, 0.0]), CFG)
    assert plan.grasp[2, 3] == pytest.approx(flat.z_min + CFG.min_grasp_height_m)


@pytest.mark.parametrize("offset", [0.0, 0.7, -2.0])
def test_place_pose_carries_the_object_to_the_target(offset):
    box = tea_box(yaw=-0.4)
    place = np.array([0.45, -0.25, 0.02])  # on a 2 cm high support
    plan = plan_pick_place(box, place, CFG, place_yaw_offset_rad=offset)
    # Object bottom-centre frame at pick, moved with the hand from grasp to place.
    pick_frame = np.eye(4)
    pick_frame[:3, :3] = rot_z(-0.4)
    pick_frame[:3, 3] = (*box.center[:2], box.z_min)
    moved = plan.place @ invert_transform(plan.grasp) @ pick_frame
    assert np.allclose(moved[:3, 3], place + (0, 0, CFG.place_clearance_m), atol=1e-9)
    assert np.allclose(moved[:3, :3], rot_z(-0.4 + offset), atol=1e-9)
    assert np.allclose(moved[:3, :3], plan.object_pose_at_place[:3, :3], atol=1e-9)
    assert np.allclose(plan.object_pose_at_place[:3, 3], place)


def test_wrist_stays_near_its_neutral_yaw():
    for yaw in np.linspace(-np.pi, np.pi, 13):
        for y in (-0.3, 0.0, 0.3):
            # Place on the same ray from the base: one wrist yaw suits both ends.
            plan = plan_pick_place(tea_box(0.5, y, yaw), np.array([0.65, 0.65 * y / 0.5, 0.0]), CFG)
            x_axis = plan.grasp[:3, 0]
            azimuth = np.arctan2(y, 0.5)
            neutral = CFG.wrist_neutral_yaw_rad  # joint 7 mid-range
            deviation = np.angle(np.exp(1j * (np.arctan2(x_axis[1], x_axis[0]) - azimuth - neutral)))
            assert abs(deviation) <= np.pi / 2 + 1e-9


def test_gripper_widths():
    plan = plan_pick_place(tea_box(), np.array([0.6, 0.0, 0.0]), CFG)
    assert plan.gripper_open_m == CFG.gripper_open_m
    assert 0.0 <= plan.gripper_grasp_m < plan.object_width_m < plan.gripper_open_m


def test_too_wide_objects_are_refused():
    plate = OrientedBox((0.5, 0.0, 0.0075), (0.2, 0.2, 0.015), np.eye(3))
    with pytest.raises(PlanningError, match="wide"):
        plan_pick_place(plate, np.array([0.6, 0.0, 0.0]), CFG)
    narrow_cfg = PickPlaceConfig(max_object_width_m=0.05)
    with pytest.raises(PlanningError):
        plan_pick_place(tea_box(), np.array([0.6, 0.0, 0.0]), narrow_cfg)


@pytest.mark.parametrize(
    "place",
    [(1.2, 0.0, 0.0), (0.5, 0.9, 0.0), (0.5, 0.0, -0.3), (0.78, 0.3, 0.0)],  # beyond x, y, below z, out of reach
)
def test_goals_outside_the_workspace_are_unsafe(place):
    with pytest.raises(UnsafeGoalError) as info:
        plan_pick_place(tea_box(), np.array(place), CFG)
    assert isinstance(info.value, RoboSpatialError) and "\n" not in str(info.value)


def test_objects_outside_the_workspace_are_unsafe():
    with pytest.raises(UnsafeGoalError, match="grasp"):
        plan_pick_place(tea_box(x=0.05), np.array([0.5, 0.0, 0.0]), CFG)


@pytest.mark.parametrize("place", [(np.nan, 0, 0), (0.5, 0.0), "here"])
def test_malformed_goals_are_planning_errors(place):
    with pytest.raises(PlanningError):
        plan_pick_place(tea_box(), place, CFG)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"approach_height_m": 0.0},
        {"gripper_open_m": -0.08},
        {"grasp_depth_m": float("nan")},
        {"workspace_min_xyz_m": (0.9, -0.5, 0.0)},
        {"workspace_max_xyz_m": (1.0, 0.5)},
    ],
)
def test_config_is_validated(kwargs):
    with pytest.raises(ConfigError):
        PickPlaceConfig(**kwargs)


def test_grasp_turns_away_from_a_tall_neighbour():
    block = OrientedBox((0.5, 0.0, 0.0225), (0.045, 0.045, 0.045), np.eye(3))
    can_beside = OrientedBox((0.5, 0.11, 0.061), (0.066, 0.066, 0.122), np.eye(3))  # along +y
    plan = plan_pick_place(block, np.array([0.5, -0.25, 0.0]), CFG, obstacles=[can_beside])
    assert abs(plan.grasp[1, 1]) < 1e-6  # the 20 cm wide hand lies along x, not toward the can
    assert hand_collisions(plan.grasp, [can_beside], CFG) == []
    # Fingers along y would have hit it.
    turned = plan.grasp.copy()
    turned[:3, :3] = rot_z(np.pi / 2) @ turned[:3, :3]
    assert hand_collisions(turned, [can_beside], CFG) == [0]


def test_boxed_in_objects_are_refused():
    block = OrientedBox((0.5, 0.0, 0.0225), (0.045, 0.045, 0.045), np.eye(3))
    cans = [
        OrientedBox((0.5 + dx, dy, 0.061), (0.066, 0.066, 0.122), np.eye(3))
        for dx, dy in [(0.11, 0), (-0.11, 0), (0, 0.11), (0, -0.11)]
    ]
    with pytest.raises(PlanningError, match="hit"):
        plan_pick_place(block, np.array([0.5, -0.3, 0.0]), CFG, obstacles=cans)


def test_low_neighbours_do_not_block_a_tall_object():
    can = OrientedBox((0.5, 0.0, 0.061), (0.066, 0.066, 0.122), np.eye(3))
    plate = OrientedBox((0.5, 0.15, 0.0075), (0.2, 0.2, 0.015), np.eye(3))  # under the hand, far below it
    plan = plan_pick_place(can, np.array([0.45, -0.25, 0.0]), CFG, obstacles=[plate])
    assert isinstance(plan, PickPlacePlan)


def test_scene_obstacles_skip_the_target_and_its_support():
    table = SceneObject("table", OrientedBox((0.4, 0, -0.375), (1.3, 1.2, 0.75), np.eye(3)))
    mug = SceneObject("mug", OrientedBox((0.5, 0.0, 0.045), (0.08, 0.066, 0.09), np.eye(3)))
    can = SceneObject("can", OrientedBox((0.6, 0.2, 0.061), (0.066, 0.066, 0.122), np.eye(3)))
    camera = CameraModel.look_at(np.array([1.2, 0.2, 0.7]), np.array([0.5, 0.0, 0.0]))
    scene = Scene((table, mug, can), camera)
    obstacles = scene_obstacles(scene, "mug")
    assert len(obstacles) == 1 and np.allclose(obstacles[0].center, can.box.center)
