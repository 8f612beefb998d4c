"""Gazebo and Isaac segmentation label images -> the same named scene as our masks.

The label images are made by our MuJoCo renderer in each simulator's encoding
(sim.tabletop.segmentation_labels); core.perception.labels decodes them with an id -> name map.
"""

import functools
import json
import os

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np
import pytest

from robospatial_ros.core.errors import ConfigError
from robospatial_ros.core.perception.labels import (
    LabelConfig,
    LabelImageError,
    label_map_json,
    masks_from_labels,
    names_from_mapping,
    read_names_file,
)
from robospatial_ros.core.perception.pipeline import Perception
from robospatial_ros.sim.tabletop import TabletopConfig, TabletopSim, segmentation_labels

ENCODING = {"isaac": "ids", "gazebo_semantic": "gazebo_semantic", "gazebo_panoptic": "gazebo_panoptic"}


@functools.cache
def _shot(seed=3):
    return TabletopSim(TabletopConfig(seed=seed)).render()


@functools.cache
def _from_masks(seed=3):
    return Perception().perceive(_shot(seed).frame, _shot(seed).masks).scene


@pytest.mark.parametrize("simulator", list(ENCODING))
def test_each_simulators_label_image_gives_the_scene_our_masks_give(simulator):
    shot = _shot()
    image, id_names = segmentation_labels(shot, simulator)
    if simulator == "isaac":
        assert image.dtype == np.int32 and image.ndim == 2  # 32SC1
        id_names = names_from_mapping(json.loads(label_map_json(id_names)), "labels json")
    else:
        assert image.dtype == np.uint8 and image.shape[2] == 3  # rgb8 labels map
    masks = masks_from_labels(image, ENCODING[simulator], id_names)
    assert sorted(masks.masks) == sorted(shot.masks.masks)
    for name, mask in masks.masks.items():
        assert np.array_equal(mask, shot.masks.masks[name]), name
    scene = Perception().perceive(shot.frame, masks).scene
    truth = _from_masks()
    assert sorted(o.name for o in scene.objects) == sorted(o.name for o in truth.objects)
    for obj in scene.objects:
        assert np.allclose(obj.box.center, truth.get(obj.name).box.center, atol=1e-6), obj.name
        assert obj.colour == truth.get(obj.name).colour


def test_panoptic_instances_of_one_label_are_numbered():
    labels = np.zeros((4, 6, 3), np.uint8)
    labels[:, :2] = (0, 1, 5)  # label 5, instance 1
    labels[:, 3:] = (0, 2, 5)  # label 5, instance 2
    masks = masks_from_labels(labels, "gazebo_panoptic", {5: "mug"})
    assert sorted(masks.masks) == ["mug_1", "mug_2"]
    assert masks.masks["mug_1"][:, :2].all() and not masks.masks["mug_1"][:, 3:].any()


def test_two_ids_of_one_class_are_both_kept_and_numbered():
    """An Isaac labels JSON may give two ids the same class: each keeps its mask (one replaced the other)."""
    image = np.zeros((10, 10), np.int32)
    image[:3], image[5:] = 2, 3
    masks = masks_from_labels(image, "ids", {2: "mug", 3: "mug"}).masks
    assert sorted(masks) == ["mug_1", "mug_2"]
    assert masks["mug_1"].sum() == 30 and masks["mug_2"].sum() == 50


def test_bad_label_images_and_maps_are_typed_errors(tmp_path):
    shot = _shot()
    image, id_names = segmentation_labels(shot, "isaac")
    missing = {k: v for k, v in id_names.items() if k != 3}
    with pytest.raises(LabelImageError, match=r"label id\(s\) \[3\] are not in the id -> name map"):
        masks_from_labels(image, "ids", missing)
    with pytest.raises(LabelImageError, match="rgb8"):
        masks_from_labels(image, "gazebo_semantic", id_names)  # an Isaac id image read as Gazebo's
    with pytest.raises(LabelImageError, match="16UC1/32SC1"):
        masks_from_labels(np.zeros((4, 4, 3), np.uint8), "ids", id_names)
    bad = np.zeros((2, 2, 3), np.uint8)
    bad[0, 0] = (1, 2, 3)
    with pytest.raises(LabelImageError, match="every channel"):
        masks_from_labels(bad, "gazebo_semantic", {1: "a"})
    with pytest.raises(ConfigError):
        LabelConfig(encoding="carla")
    with pytest.raises(ConfigError, match="id=name"):
        LabelConfig(names="mug")
    with pytest.raises(ConfigError, match="not found"):
        read_names_file(tmp_path / "none.yaml")
    path = tmp_path / "names.yaml"
    path.write_text("2: mug\n3: {class: bowl}\n")
    assert LabelConfig(names_file=str(path), names="3=dish").id_names() == {2: "mug", 3: "dish"}
