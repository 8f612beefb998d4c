"""Perception on real RGB-D frames (tests/data/realdata, indexed by frames.yaml) against counts by eye.

Real sensors (RealSense D4xx, D435, SR300, L515) give what the simulator never does: noisy and
biased depth, holes and mixed pixels at silhouettes, objects touching and nested, floors, chairs
and walls around the table, and (all but one frame) no camera pose. Timing is measured by
`robospatial bench realdata`, not here.
"""

import functools
from pathlib import Path

import numpy as np
import pytest

from robospatial_ros.bench.realdata import (
    PLACEMENT_TOLERANCE_M,
    FrameReport,
    FrameSpec,
    check_placements,
    load,
    observed_height,
    perceive,
    read_index,
)
from robospatial_ros.core.geometry import distance_to_convex_polygon
from robospatial_ros.core.perception.errors import GravityMismatchError, NoSupportPlaneError
from robospatial_ros.core.perception.pipeline import Perception, PerceptionConfig

DATA = Path(__file__).parent / "data" / "realdata"
SPECS = {spec.name: spec for spec in read_index(DATA)}


@functools.cache
def perception(**overrides) -> Perception:
    return Perception(PerceptionConfig(**overrides))


@functools.cache
def loaded(name: str):
    return load(DATA, SPECS[name])


@functools.cache
def result(name: str):
    return perceive(perception(), loaded(name))


def test_the_index_names_real_files_with_counts():
    assert len(SPECS) >= 8
    for spec in SPECS.values():
        assert all((DATA / path).is_file() for path in spec.files.values()), spec.name
        assert spec.expected_objects is not None and spec.camera_height_m is not None
    sources = {name.split("/")[0] for name in SPECS}
    assert all((DATA / source / "LICENSE").is_file() for source in sources)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_object_count_is_within_one_of_the_count_by_eye(name):
    spec: FrameSpec = SPECS[name]
    found = len(result(name).scene.objects) - 1
    assert abs(found - spec.expected_objects) <= 1, f"{name}: {found} objects, {spec.expected_objects} by eye"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_the_support_is_the_table_below_the_camera(name):
    # camera_height_m was checked by eye on the support's inlier overlay; the floor, lids, box tops
    # and tote rims of these frames lie at camera heights outside it (frames.yaml notes).
    r = result(name)
    lo, hi = SPECS[name].camera_height_m
    camera = r.camera_to_world[:3, 3]
    height = float(r.plane.height(camera[None])[0])
    assert lo <= height <= hi, f"{name}: camera {height:.3f} m above the support, expected [{lo}, {hi}]"
    assert r.plane.tilt_deg() <= PerceptionConfig().max_plane_tilt_deg
    if not loaded(name).posed:  # the support defines the world: z up, origin on it below the camera
        assert np.allclose(r.plane.normal, [0, 0, 1], atol=1e-6) and abs(r.plane.offset_m) < 1e-6
        assert np.allclose(camera[:2], 0.0, atol=1e-6)
        assert abs(r.support_height_m) < 0.005


def test_touching_and_nested_objects_are_split():
    # uois-lab image_0003: a small can stands in the teal bowl (below its rim), a drill leans on the
    # bowl, two cans touch. Clustering in 3-D merged them into one 0.37 x 0.39 m blob.
    objects = result("uois-lab/image_0003").scene.objects[1:]
    assert max(float(max(o.box.size[:2])) for o in objects) < 0.25  # no blob: the bowls are 16 cm across
    bowls = [o for o in objects if 0.1 <= min(o.box.size[:2]) and max(o.box.size[:2]) <= 0.2 and o.box.size[2] > 0.05]
    nested = [
        (inner, outer)
        for outer in bowls
        for inner in objects
        if inner is not outer
        and distance_to_convex_polygon(inner.box.center[None, :2], outer.box.footprint())[0] <= 0.02
        and np.prod(inner.box.size[:2]) <= 0.5 * np.prod(outer.box.size[:2])
    ]
    assert nested, "the can in the bowl was merged with it"


def test_no_object_lies_outside_the_workspace():
    # The posed tray frame: a workspace over the tray's inside (world frame, from its camera pose).
    name = "arc-robot-vision-sr300/parallel-jaw/input-1"
    free = result(name)
    support_z = free.support_height_m
    lo, hi = (0.75, 0.05, support_z - 0.05), (1.15, 0.45, support_z + 0.3)
    boxed = perceive(perception(workspace_min_xyz_m=lo, workspace_max_xyz_m=hi), loaded(name))
    objects = boxed.scene.objects[1:]
    assert objects and len(objects) < len(free.scene.objects) - 1 + 1
    for obj in objects:
        corners = obj.box.corners()
        assert np.all(corners[:, :2] >= np.array(lo[:2]) - 0.02) and np.all(corners[:, :2] <= np.array(hi[:2]) + 0.02)
    # An unposed frame: the workspace lives in the world the support defines (x along the view).
    name = "uois-lab/image_0000"
    everything = result(name).scene.objects[1:]
    x_split = float(np.median([o.box.center[0] for o in everything]))
    near = perceive(
        perception(workspace_min_xyz_m=(0.0, -2.0, -0.1), workspace_max_xyz_m=(x_split, 2.0, 1.0)), loaded(name)
    )
    assert 0 < len(near.scene.objects) - 1 < len(everything)
    assert all(o.box.center[0] <= x_split + 0.03 for o in near.scene.objects[1:])


def test_a_wrong_camera_pose_is_a_typed_error_naming_it():
    # The identity pose on a real frame: its table is ~45 deg from that pose's z.
    frame = loaded("pf-pose-l515").frame
    with pytest.raises(NoSupportPlaneError, match="world z must point up") as info:
        perception().perceive(frame)
    assert isinstance(info.value, GravityMismatchError)
    assert "\n" not in str(info.value)


def test_boxes_are_not_inflated_by_shadows_and_mixed_pixels():
    # pf-pose-l515: one mustard bottle lying on the table (about 19 x 6 x 5 cm).
    (bottle,) = result("pf-pose-l515").scene.objects[1:]
    length, width = sorted(bottle.box.size[:2], reverse=True)
    assert 0.15 <= length <= 0.23 and 0.04 <= width <= 0.1 and 0.03 <= bottle.box.size[2] <= 0.08


@pytest.mark.parametrize("name", sorted(SPECS))
def test_no_placement_lands_on_anything_or_where_the_camera_saw_nothing(name):
    """Placement commands over each frame's objects: every chosen spot is seen as bare support in the raw
    depth (within 1.5 cm of the plane). Without the observed obstacle map, 23 of 82 such spots on the
    shared frames landed on an unnamed object or on missing depth."""
    report = FrameReport(name, SPECS[name].expected_objects)
    check_placements(result(name), loaded(name).frame, report)
    assert report.placement_problems == []
    assert report.placements_valid == report.placements


def test_the_placement_check_catches_a_spot_on_an_object():
    """The check itself: the top of a perceived object is not bare support."""
    name = "uois-lab/image_0000"
    res = result(name)
    obj = res.scene.objects[1]
    top = obj.box.center + [0.0, 0.0, obj.box.size[2] / 2]
    height = observed_height(res, loaded(name).frame, top)
    assert height is not None and height > PLACEMENT_TOLERANCE_M
