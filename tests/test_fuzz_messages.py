"""Fuzzing the perception node's inputs (issue 16, item 5): image, camera_info, mask and box messages
drawn by hypothesis, handed to a real PerceptionNode the way its subscriptions do.

The contract: a frame set is perceived (objects published) or refused with a typed error on the status
topic; never an unexpected exception (the node's last-resort branch), never a numpy warning (warnings
are errors here), never objects from a frame set that cannot be valid. The frames are small (80x60)
so many examples run in seconds; the same strategies drive the node process over DDS in
tests/test_ros_perception.py. ROBOSPATIAL_FUZZ=deep runs a deep profile.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pytest
import rclpy
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from message_strategies import hostile_frame
from rclpy.context import Context
from rclpy.parameter import Parameter
from ros_helpers import fresh_domain_id
from synthetic import random_tabletop, render

from robospatial_ros.core.camera import CameraModel
from robospatial_ros.core.geometry import quaternion_from_matrix
from robospatial_ros.msg import BoxDetections2D
from robospatial_ros.ros.conversions import camera_info_msg, image_msg, masks_to_msg
from robospatial_ros.ros.nodes.perception_node import PerceptionNode

DEEP = os.environ.get("ROBOSPATIAL_FUZZ", "") == "deep"
FUZZ = settings(
    max_examples=400 if DEEP else 40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=not DEEP,
)
WIDTH, HEIGHT = 80, 60


# --- a valid small frame set ----------------------------------------------------------------------------------


@functools.cache
def base():
    """A rendered tabletop at 80x60: (rendering, camera)."""
    cam = CameraModel.look_at(np.array([-0.45, 0.0, 0.6]), np.array([0.35, 0.0, 0.0]), width=WIDTH, height=HEIGHT)
    return render(random_tabletop(np.random.default_rng(3), camera=cam)), cam


def valid_msgs() -> dict[str, object]:
    r, cam = base()
    names, boxes = r.boxes_2d()
    return {
        "color": image_msg(r.color, "rgb8"),
        "depth": image_msg(np.round(r.depth_m * 1000).astype(np.uint16), "16UC1"),
        "info": camera_info_msg(cam.K, WIDTH, HEIGHT),
        "masks": masks_to_msg(r.masks().masks),
        "boxes": BoxDetections2D(labels=names, boxes=[float(v) for v in boxes.ravel()], scores=[0.9] * len(names)),
    }


# --- the node under test --------------------------------------------------------------------------------------


@dataclass
class Outcome:
    errors: list[str] = field(default_factory=list)
    published: int = 0


@pytest.fixture(scope="module")
def nodes() -> Iterator[dict[str, PerceptionNode]]:
    """One PerceptionNode per kind of detections, its camera pose the rendering's."""
    context = Context()
    rclpy.init(context=context, domain_id=fresh_domain_id())
    _, cam = base()
    pose = [
        Parameter("camera_position_m", value=[float(v) for v in cam.camera_to_world[:3, 3]]),
        Parameter(
            "camera_orientation_xyzw", value=[float(v) for v in quaternion_from_matrix(cam.camera_to_world[:3, :3])]
        ),
    ]
    # 80x60 frames: a table of ~1,500 points, objects of 5-60
    small = [Parameter("perception.min_plane_points", value=50), Parameter("perception.min_object_points", value=3)]
    made = {
        kind: PerceptionNode(
            context=context,
            cli_args=["--ros-args", "-r", f"__node:=perception_{kind}"],
            parameter_overrides=[*pose, *small, Parameter("detections", value=kind)],
        )
        for kind in ("masks", "boxes", "none")
    }
    yield made
    for node in made.values():
        node.destroy_node()
    rclpy.shutdown(context=context)


def process(node: PerceptionNode, msgs: dict[str, object], detections: str) -> Outcome:
    """What the node's subscriptions do with one matched frame set: errors reported, objects published."""
    outcome = Outcome()
    node._fail = outcome.errors.append  # every failure, not only new ones
    publish = node._objects_pub.publish
    node._objects_pub.publish = lambda msg: setattr(outcome, "published", outcome.published + 1)
    node._info = msgs["info"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a numpy RuntimeWarning would reach a user's stderr
            node._guarded(node._process, msgs["color"], msgs["depth"], msgs.get(detections))
    finally:
        node._objects_pub.publish = publish
        del node._fail
    return outcome


# Parts of a frame set that can never be perceived, whatever else it holds.
def never_valid(which: str, msgs: dict[str, object]) -> bool:
    img = msgs[which]
    if which == "color":
        return img.encoding not in ("rgb8", "bgr8", "rgba8", "bgra8") or (img.width, img.height) != (WIDTH, HEIGHT)
    if which == "depth":
        return img.encoding not in ("16UC1", "mono16", "32FC1") or (img.width, img.height) != (WIDTH, HEIGHT)
    if which == "info":
        K = np.asarray(img.k, dtype=float).reshape(3, 3)
        bad_size = img.width and (img.width, img.height) != (WIDTH, HEIGHT)
        return bool(bad_size or not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0)
    if which == "masks":
        names = list(img.names)
        return any(not n.strip() for n in names) or len(set(names)) < len(names)
    return False


def test_the_valid_frame_set_is_perceived(nodes):
    for kind, node in nodes.items():
        outcome = process(node, valid_msgs(), kind)
        assert outcome.errors == [] and outcome.published == 1, (kind, outcome.errors)


@pytest.mark.parametrize("detections", ["masks", "boxes", "none"])
@FUZZ
@given(data=st.data())
def test_hostile_messages_are_perceived_or_a_typed_error(nodes, detections, data):
    which, msgs = data.draw(hostile_frame(valid_msgs, detections))
    outcome = process(nodes[detections], msgs, detections)
    event(f"{which}: {'objects' if outcome.published else 'error'}")  # the mix, with --hypothesis-show-statistics
    unexpected = [e for e in outcome.errors if e.startswith("unexpected ")]
    assert not unexpected, f"{which}: {unexpected[0]}"
    assert outcome.published + len(outcome.errors) == 1, (which, outcome)  # objects or one error, never both
    if never_valid(which, msgs):
        assert outcome.published == 0, f"objects from an invalid {which} message"
