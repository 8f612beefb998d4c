"""Geometric input is validated at the boundary (issue 16, item 1): one module, typed errors naming the field.

The scene loader and `robospatial ask` are covered in test_cli.py and test_fuzz_cli.py; here the
validation module itself, the camera model, the ROS message conversions and the perception node's
camera pose parameters.
"""

from __future__ import annotations

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Pose

from robospatial_ros.core import validation
from robospatial_ros.core.camera import CameraModel
from robospatial_ros.core.errors import ConfigError, SceneError
from robospatial_ros.core.geometry import OrientedBox, make_transform, rot_z
from robospatial_ros.core.scene import Scene, SceneObject, scene_from_dict, scene_to_dict
from robospatial_ros.msg import InstanceMasks
from robospatial_ros.ros.conversions import (
    MessageError,
    box_from_msg,
    box_to_msg,
    camera_info_msg,
    image_msg,
    intrinsics_from_msg,
    masks_from_msg,
    matrix_to_pose,
    object_to_msg,
    pose_to_matrix,
    scene_from_msg,
    scene_to_msg,
    stamp_seconds,
)
from robospatial_ros.ros.nodes.perception_node import PerceptionNodeConfig

K = np.array([[500.0, 0.0, 320.0], [0.0, 500.0, 240.0], [0.0, 0.0, 1.0]])
POSE = make_transform(rot_z(0.3), [0.5, -0.2, 0.8])


def camera() -> CameraModel:
    return CameraModel.look_at([1.2, 0.3, 0.6], [0.4, 0.0, 0.0])


def scene() -> Scene:
    boxes = {"mug": ([0.4, 0.1, 0.05], [0.08, 0.08, 0.1]), "bowl": ([0.5, -0.1, 0.04], [0.15, 0.15, 0.07])}
    objects = tuple(SceneObject(n, OrientedBox(c, s, np.eye(3))) for n, (c, s) in boxes.items())
    return Scene(objects, camera())


# --- the validation module ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "T,needle",
    [
        (np.zeros((4, 4)), "not orthonormal"),
        (np.diag([1.0, 0.0, 1.0, 1.0]), "not orthonormal"),  # rank-deficient
        (np.diag([2.0, 2.0, 2.0, 1.0]), "not orthonormal"),  # scaled
        (np.diag([1.0, 1.0, -1.0, 1.0]), "reflection"),
        (np.diag([1e300, 1.0, 1.0, 1.0]), "not orthonormal"),  # R^T R would overflow
        (np.full((4, 4), np.nan), "NaN"),
        (make_transform(np.eye(3), [2e4, 0.0, 0.0]), "translation"),
        (np.vstack([POSE[:3], [0.0, 0.0, 1.0, 1.0]]), "bottom row"),
        (np.eye(3), "shape (4, 4)"),
        ([[1, 2], [3]], "numeric"),
        ("eye", "numeric"),
    ],
)
def test_rigid_transform_rejects_what_is_not_rigid(T, needle):
    with pytest.raises(SceneError, match="^extrinsic") as info:
        validation.rigid_transform(T, "extrinsic")
    assert needle in str(info.value)


def test_rigid_transform_accepts_a_rounded_rotation_and_the_error_type_is_the_callers():
    printed = np.round(POSE, 6)  # as annotations print it
    assert np.array_equal(validation.rigid_transform(printed, "pose"), printed)
    with pytest.raises(MessageError, match="^tf: rotation"):
        validation.rigid_transform(np.zeros((4, 4)), "tf", MessageError)


@pytest.mark.parametrize(
    "value,needle",
    [
        ([[0.0, 0, 320], [0, 500, 240], [0, 0, 1]], "focal lengths"),
        ([[500.0, 0, 320], [0, -500, 240], [0, 0, 1]], "focal lengths"),
        ([[500.0, 0, np.nan], [0, 500, 240], [0, 0, 1]], "NaN"),
        ([[500.0, 0, 320], [0, 500, np.inf], [0, 0, 1]], "NaN"),
        ([[500.0, 0, 1e9], [0, 500, 240], [0, 0, 1]], "within"),
        ([[500.0, 0], [0, 500]], "shape"),
        ([["a", 0, 0]] * 3, "numeric"),
    ],
)
def test_intrinsics_need_finite_positive_focal_lengths(value, needle):
    with pytest.raises(SceneError, match="^intrinsic") as info:
        validation.intrinsics(value, "intrinsic")
    assert needle in str(info.value)


def test_intrinsics_take_a_homogeneous_4x4():
    K4 = np.eye(4)
    K4[:3, :3] = K
    assert np.array_equal(validation.intrinsics(K4, "intrinsic"), K)


@pytest.mark.parametrize(
    "values,needle",
    [
        ([0, 0, 0, 0.1, 0.0, 0.1, 0, 0, 0], "sizes"),
        ([0, 0, 0, 0.1, -0.1, 0.1, 0, 0, 0], "sizes"),
        ([0, 0, 0, 0.1, 2e3, 0.1, 0, 0, 0], "sizes"),
        ([1e308, 0, 0, 0.1, 0.1, 0.1, 0, 0, 0], "centre"),
        ([0, np.nan, 0, 0.1, 0.1, 0.1, 0, 0, 0], "NaN"),
        ([0, 0, 0, 0.1, 0.1, 0.1, 1e9, 0, 0], "angles"),
        ([0, 0, 0, 0.1, 0.1, 0.1], "shape (9,)"),
    ],
)
def test_boxes_are_finite_positive_and_in_range(values, needle):
    with pytest.raises(SceneError, match=r"^objects\[2\]\.bbox_3d") as info:
        validation.box_9dof(values, "objects[2].bbox_3d")
    assert needle in str(info.value)


@pytest.mark.parametrize("name", [None, "", "   ", 3, ["mug"]])
def test_names_are_non_empty_strings(name):
    with pytest.raises(SceneError, match=r"objects\[0\]\.Name must be a non-empty string"):
        validation.object_name(name, "objects[0].Name")


def test_repeated_names_are_listed():
    with pytest.raises(SceneError, match="repeated: 'bowl', 'mug'"):
        validation.unique_names(["mug", "bowl", "mug", "cup", "bowl"], "object names")


@pytest.mark.parametrize("sec,nanosec", [(-1, 0), (5, 1_000_000_000), (5, -1)])
def test_stamps_are_range_checked(sec, nanosec):
    with pytest.raises(SceneError, match="^header.stamp"):
        validation.stamp_seconds(sec, nanosec, "header.stamp")
    assert validation.stamp_seconds(5, 500_000_000, "header.stamp") == 5.5


# --- the camera model and scenes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        (dict(camera_to_world=np.zeros((4, 4))), "extrinsic"),
        (dict(K=np.array([[500.0, 0, np.nan], [0, 500, 240], [0, 0, 1]])), "intrinsic"),
        (dict(width=0), "image width"),
        (dict(height=480.5), "image height"),
        (dict(width=float("nan")), "image width"),
    ],
)
def test_camera_model_rejects_impossible_cameras(kwargs, needle):
    args = dict(K=K, width=640, height=480, camera_to_world=camera().camera_to_world) | kwargs
    with pytest.raises(SceneError, match=needle):
        CameraModel(**args)


def test_scene_rejects_a_robot_base_that_is_not_rigid():
    with pytest.raises(SceneError, match="robot_base_to_world: rotation is not orthonormal"):
        Scene(scene().objects, camera(), np.zeros((4, 4)))


def test_a_valid_scene_round_trips_through_the_loader():
    again = scene_from_dict(scene_to_dict(scene()))
    assert [o.name for o in again.objects] == ["mug", "bowl"]
    assert np.allclose(again.camera.camera_to_world, camera().camera_to_world)


def test_huge_facing_is_a_direction_without_warnings():
    data = scene_to_dict(scene())
    data["objects"][0]["facing"] = [1e308, 1e308, 0.0]
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # any overflow inside the loader would raise here
        mug = scene_from_dict(data).get("mug")
    assert np.allclose(mug.facing, [np.sqrt(0.5), np.sqrt(0.5), 0.0])
    data["objects"][0]["facing"] = [0.0, 0.0, 0.0]
    with pytest.raises(SceneError, match=r"objects\[0\]\.facing must be a non-zero vector"):
        scene_from_dict(data)


# --- ROS message conversions --------------------------------------------------------------------------------


def test_camera_info_with_a_nan_principal_point_is_an_error():
    bad = K.copy()
    bad[0, 2] = np.nan
    with pytest.raises(MessageError, match="camera_info.k contains NaN"):
        intrinsics_from_msg(camera_info_msg(bad, 640, 480))
    with pytest.raises(MessageError, match="unset"):
        intrinsics_from_msg(camera_info_msg(np.zeros((3, 3)), 640, 480))
    assert np.array_equal(intrinsics_from_msg(camera_info_msg(K, 640, 480)), K)


def test_poses_are_validated_and_name_their_field():
    assert np.allclose(pose_to_matrix(matrix_to_pose(POSE)), POSE)
    pose = matrix_to_pose(POSE)
    pose.position.x = float("inf")
    with pytest.raises(MessageError, match="^camera_pose contains NaN or infinite"):
        pose_to_matrix(pose, "camera_pose")
    pose = matrix_to_pose(POSE)
    pose.position.y = 1e6
    with pytest.raises(MessageError, match="^camera_pose translation"):
        pose_to_matrix(pose, "camera_pose")
    zero = Pose()
    zero.orientation.w = 0.0
    with pytest.raises(MessageError, match="^grasp orientation must be a non-zero quaternion"):
        pose_to_matrix(zero, "grasp")
    pose = matrix_to_pose(POSE)
    pose.orientation.x = pose.orientation.y = 1e300  # huge but finite: normalised without overflow
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert np.isfinite(pose_to_matrix(pose)).all()


@pytest.mark.parametrize(
    "attr,value,needle",
    [
        ("size.x", 0.0, "sizes"),
        ("size.y", -0.2, "sizes"),
        ("size.z", float("nan"), "size contains NaN"),
        ("center.position.x", 1e308, "centre"),
        ("center.orientation.w", float("nan"), "orientation contains NaN"),
    ],
)
def test_boxes_from_messages_are_validated(attr, value, needle):
    msg = box_to_msg(OrientedBox([0.4, 0.1, 0.05], [0.08, 0.08, 0.1], np.eye(3)))
    *path, last = attr.split(".")
    target = msg
    for part in path:
        target = getattr(target, part)
    setattr(target, last, value)
    with pytest.raises(MessageError, match="^pick_box") as info:
        box_from_msg(msg, "pick_box")
    assert needle in str(info.value)


def test_objects_messages_with_bad_ids_or_boxes_name_the_object():
    msg = scene_to_msg(scene(), "world")
    assert [o.name for o in scene_from_msg(msg).objects] == ["mug", "bowl"]
    msg.objects[1].id = "mug"
    with pytest.raises(MessageError, match="object ids must be unique; repeated: 'mug'"):
        scene_from_msg(msg)
    msg.objects[1].id = " "
    with pytest.raises(MessageError, match=r"objects\[1\]\.id must be a non-empty string"):
        scene_from_msg(msg)
    msg = scene_to_msg(scene(), "world")
    msg.objects[0] = object_to_msg(scene().objects[0])
    msg.objects[0].box.size.x = 0.0
    with pytest.raises(MessageError, match=r"objects\[0\]\.box: sizes"):
        scene_from_msg(msg)
    msg = scene_to_msg(scene(), "world")
    msg.camera_pose.position.z = float("nan")
    with pytest.raises(MessageError, match="camera_pose contains NaN"):
        scene_from_msg(msg)


def test_repeated_instance_mask_names_are_an_error_naming_them():
    labels = np.zeros((4, 6), np.uint16)
    labels[0, :2], labels[1, :2], labels[2, :2] = 1, 2, 3
    msg = InstanceMasks(labels=image_msg(labels, "16UC1"), names=["mug", "bowl", "mug"])
    with pytest.raises(MessageError, match="instance mask names must be unique; repeated: 'mug'"):
        masks_from_msg(msg)
    msg.names = ["mug", "bowl", "cup"]
    masks = masks_from_msg(msg).masks
    assert sorted(masks) == ["bowl", "cup", "mug"] and masks["cup"].sum() == 2


def test_message_stamps_are_range_checked():
    assert stamp_seconds(Time(sec=3, nanosec=250_000_000)) == 3.25
    with pytest.raises(MessageError, match="^header.stamp: nanosec"):
        stamp_seconds(Time(sec=3, nanosec=1_500_000_000))


# --- the perception node's camera pose parameters -----------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        (dict(camera_position_m=(float("nan"), 0.0, 1.0)), "camera_position_m"),
        (dict(camera_position_m=(2e4, 0.0, 1.0)), "translation"),
        (dict(camera_position_m=(0.0, 1.0)), "camera_position_m"),
        (dict(camera_orientation_xyzw=(0.0, 0.0, 0.0, 0.0)), "non-zero quaternion"),
        (dict(camera_orientation_xyzw=(0.0, 0.0, float("inf"), 1.0)), "camera_orientation_xyzw"),
        (dict(camera_orientation_xyzw=(0.0, 0.0, 1.0)), "camera_orientation_xyzw"),
    ],
)
def test_perception_camera_pose_parameters_are_validated(kwargs, needle):
    with pytest.raises(ConfigError, match=needle):
        PerceptionNodeConfig(**kwargs)


def test_perception_camera_pose_parameters_accept_an_unnormalised_quaternion():
    T = PerceptionNodeConfig(camera_orientation_xyzw=(0.0, 0.0, 2.0, 2.0)).camera_to_world()
    assert np.allclose(T[:3, :3], rot_z(np.pi / 2))
