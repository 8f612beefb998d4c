"""The perception node as a real process over DDS, fed synthetic RGB-D frames (tests/synthetic.py).

Three node processes share the camera topics: `perception` (detections: masks), `perception_clusters`
(no detections: clustering; objects remapped) and `perception_fresh` (its camera_info remapped to a
topic nothing publishes on until the test does). Every frame gets a unique stamp, so each answer is
matched to the frame it came from.
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import contextlib
import functools
import itertools

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from ros_helpers import Probe, fresh_domain_id, node_process
from sensor_msgs.msg import CameraInfo, Image
from synthetic import TABLE, default_camera, random_tabletop, render

from robospatial_ros.core.geometry import quaternion_from_matrix
from robospatial_ros.msg import DetectedObjectArray, InstanceMasks, NodeStatus
from robospatial_ros.ros.common import (
    CAMERA_INFO_TOPIC,
    COLOR_TOPIC,
    DEPTH_TOPIC,
    LATCHED,
    OBJECTS_TOPIC,
    RELIABLE,
    SENSOR,
    STATUS_TOPIC,
)
from robospatial_ros.ros.conversions import camera_info_msg, image_msg, masks_to_msg, pose_to_matrix, scene_from_msg
from robospatial_ros.ros.perception_node import MASKS_TOPIC, StampSync

DOMAIN = fresh_domain_id()
CLUSTERS_TOPIC, FRESH_INFO_TOPIC, FRESH_TOPIC = "/clusters/objects", "/fresh/camera_info", "/fresh/objects"
CENTRE_TOL_M, SIZE_TOL_M = 0.01, 0.015
_stamps = itertools.count(1000)


@functools.cache
def rendering():
    return render(random_tabletop(np.random.default_rng(1)), noise_at_1m_m=0.002, seed=1)


# DESIGN.md section 5: with Fast DDS's default transports, multi-megabyte frames stall ~3 s (a
# lost fragment waits for the next heartbeat) on a good share of frames. A 32 MB shared-memory
# segment delivers them at once. Used unless the environment already names a profile.
LARGE_DATA_PROFILE = """<?xml version="1.0" encoding="UTF-8" ?>
<profiles xmlns="http://www.eprosima.com">
  <transport_descriptors>
    <transport_descriptor><transport_id>shm_32mb</transport_id><type>SHM</type>
      <segment_size>33554432</segment_size></transport_descriptor>
    <transport_descriptor><transport_id>udp_localhost</transport_id><type>UDPv4</type>
      <interfaceWhiteList><address>127.0.0.1</address></interfaceWhiteList></transport_descriptor>
  </transport_descriptors>
  <participant profile_name="robospatial_large_data" is_default_profile="true">
    <rtps><userTransports><transport_id>shm_32mb</transport_id><transport_id>udp_localhost</transport_id>
      </userTransports><useBuiltinTransports>false</useBuiltinTransports></rtps>
  </participant>
</profiles>
"""


@pytest.fixture(scope="module")
def large_data_dds(tmp_path_factory):
    key = "FASTDDS_DEFAULT_PROFILES_FILE"
    if os.environ.get(key):
        yield
        return
    path = tmp_path_factory.mktemp("dds") / "large_data.xml"
    path.write_text(LARGE_DATA_PROFILE)
    os.environ[key] = str(path)
    yield
    del os.environ[key]


@pytest.fixture(scope="module")
def graph(tmp_path_factory, large_data_dds):
    cam = default_camera()
    params = tmp_path_factory.mktemp("perception") / "params.yaml"
    position = [float(v) for v in cam.camera_to_world[:3, 3]]
    xyzw = [float(v) for v in quaternion_from_matrix(cam.camera_to_world[:3, :3])]
    params.write_text(f"/**:\n  ros__parameters:\n    camera_position_m: {position}\n"
                      f"    camera_orientation_xyzw: {xyzw}\n")  # fmt: skip
    common = ["--params-file", str(params)]
    nodes = {
        "perception": [*common, "-p", "detections:=masks"],
        "perception_clusters": [*common, "-r", "__node:=perception_clusters", "-r", f"{OBJECTS_TOPIC}:={CLUSTERS_TOPIC}"],
        "perception_fresh": [*common, "-r", "__node:=perception_fresh", "-r", f"{OBJECTS_TOPIC}:={FRESH_TOPIC}",
                             "-r", f"{CAMERA_INFO_TOPIC}:={FRESH_INFO_TOPIC}"],
    }  # fmt: skip
    with contextlib.ExitStack() as stack:
        procs = {name: stack.enter_context(node_process("perception_node", DOMAIN, args)) for name, args in nodes.items()}
        probe = Probe(DOMAIN)
        stack.callback(probe.close)
        for topic in (OBJECTS_TOPIC, CLUSTERS_TOPIC, FRESH_TOPIC):
            probe.subscribe(DetectedObjectArray, topic, LATCHED)
        probe.subscribe(NodeStatus, STATUS_TOPIC, RELIABLE)
        for topic, msg_type, count in ((COLOR_TOPIC, Image, 3), (DEPTH_TOPIC, Image, 3), (MASKS_TOPIC, InstanceMasks, 1),
                                       (CAMERA_INFO_TOPIC, CameraInfo, 2), (FRESH_INFO_TOPIC, CameraInfo, 1)):  # fmt: skip
            probe.publisher(msg_type, topic, SENSOR)
            assert probe.wait_for_subscribers(topic, count, 30), f"no subscriber on {topic}"
        for topic in (OBJECTS_TOPIC, CLUSTERS_TOPIC, FRESH_TOPIC):
            assert probe.wait_for_publishers(topic, 1, 30), f"no publisher on {topic}"
        probe.procs = procs
        yield probe


def stamp() -> Time:
    return Time(sec=next(_stamps), nanosec=0)


def frame_msgs(r, encoding="16UC1", t=None):
    """{topic: message} of one frame, all with stamp t (a fresh one by default)."""
    t = t or stamp()
    cam = r.scene.camera
    return {
        CAMERA_INFO_TOPIC: camera_info_msg(cam.K, cam.width, cam.height, "camera_color_optical_frame", t),
        MASKS_TOPIC: masks_to_msg(r.masks().masks, "camera_color_optical_frame", t),
        DEPTH_TOPIC: image_msg(r.frame(encoding).depth, encoding, "camera_color_optical_frame", t),
        COLOR_TOPIC: image_msg(r.color, "rgb8", "camera_color_optical_frame", t),
    }


def send(probe, msgs):
    for topic, msg in msgs.items():  # camera_info first: the node keeps the latest
        probe.publisher(type(msg), topic, SENSOR).publish(msg)
        if topic in (CAMERA_INFO_TOPIC, FRESH_INFO_TOPIC):
            probe.spin_until(lambda: False, 0.05)
    return msgs[COLOR_TOPIC].header.stamp


def objects_for(probe, topic, t, timeout_s=15.0):
    found = lambda: next((m for m in probe.received[topic] if m.header.stamp == t), None)  # noqa: E731
    assert probe.spin_until(lambda: found() is not None, timeout_s), f"no objects on {topic} for stamp {t.sec}"
    return found()


def statuses(probe, node, level, since=0):
    return [s for s in probe.received[STATUS_TOPIC][since:] if s.node == node and s.level == level]


def check_boxes(msg, r, by_name):
    assert msg.header.frame_id == "panda_link0"
    scene = scene_from_msg(msg)
    assert np.allclose(pose_to_matrix(msg.camera_pose), r.scene.camera.camera_to_world, atol=1e-6)
    assert TABLE in [o.name for o in scene.objects] and abs(msg.support_height_m) < 0.005
    objects = [o for o in scene.objects if o.name != TABLE]
    checked = 0
    for block in r.scene.blocks:
        if block.name not in r.unoccluded():
            continue
        truth = block.box()
        obj = scene.get(block.name) if by_name else min(objects, key=lambda o: np.linalg.norm(o.box.center - truth.center))
        centre = np.linalg.norm(obj.box.center - truth.center)
        size = np.abs(np.sort(obj.box.size[:2]) - np.sort(truth.size[:2])).max()
        assert centre <= CENTRE_TOL_M, f"{block.name}: centre off by {centre * 1000:.1f} mm"
        assert size <= SIZE_TOL_M and abs(obj.box.size[2] - truth.size[2]) <= SIZE_TOL_M, block.name
        checked += 1
    assert checked >= 2
    return scene


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_objects_match_ground_truth_via_masks_and_clustering(graph, encoding):
    r = rendering()
    t = send(graph, frame_msgs(r, encoding))
    scene = check_boxes(objects_for(graph, OBJECTS_TOPIC, t), r, by_name=True)
    assert sorted(o.name for o in scene.objects) == sorted([TABLE, *(b.name for b in r.scene.blocks)])
    clusters = check_boxes(objects_for(graph, CLUSTERS_TOPIC, t), r, by_name=False)
    assert all(o.name == TABLE or o.name.startswith("object_") for o in clusters.objects)


def _bad_cases(r):
    good = frame_msgs(r)

    def variant(**changes):
        msgs = frame_msgs(r)
        for topic, fn in changes.items():
            msgs[topic] = fn(msgs[topic])
        return msgs

    def stamped(msg, like):
        msg.header = like.header
        return msg

    h, w = r.depth_m.shape
    cam = r.scene.camera
    return {
        "nan depth": (variant(**{DEPTH_TOPIC: lambda m: stamped(image_msg(np.full((h, w), np.nan, np.float32), "32FC1"),
                                                                  m)}), "no measurements"),
        "zero depth": (variant(**{DEPTH_TOPIC: lambda m: stamped(image_msg(np.zeros((h, w), np.uint16), "16UC1"), m)}),
                       "no measurements"),
        "yuv422 colour": (variant(**{COLOR_TOPIC: lambda m: stamped(image_msg(np.zeros((h, w, 2), np.uint8), "yuv422"),
                                                                    m)}), "yuv422"),
        "size mismatch": (variant(**{DEPTH_TOPIC: lambda m: stamped(image_msg(np.ones((h // 2, w // 2), np.uint16) * 900,
                                                                              "16UC1"), m)}), "aligned"),
        "masks of the wrong size": (variant(**{MASKS_TOPIC: lambda m: stamped(masks_to_msg(
            {"mug": np.ones((h // 2, w // 2), bool)}), m)}), "masks"),
        "camera_info K all zeros": (variant(**{CAMERA_INFO_TOPIC: lambda m: stamped(camera_info_msg(
            np.zeros((3, 3)), w, h), m)}), "intrinsics"),
        "camera_info for another size": (variant(**{CAMERA_INFO_TOPIC: lambda m: stamped(camera_info_msg(
            cam.K, 2 * w, 2 * h), m)}), "camera_info"),
    }, good  # fmt: skip


@pytest.mark.parametrize("case", ["nan depth", "zero depth", "yuv422 colour", "size mismatch", "masks of the wrong size",
                                  "camera_info K all zeros", "camera_info for another size"])  # fmt: skip
def test_bad_input_is_reported_and_the_node_keeps_serving(graph, case):
    r = rendering()
    cases, _ = _bad_cases(r)
    msgs, expected = cases[case]
    since = len(graph.received[STATUS_TOPIC])
    send(graph, msgs)
    new_error = lambda: [s for s in statuses(graph, "perception", NodeStatus.ERROR, since)]  # noqa: E731
    assert graph.spin_until(lambda: bool(new_error()), 10), f"no status error for {case}"
    error = new_error()[0]
    assert error.event == "perception" and expected in error.message, error.message
    t = send(graph, frame_msgs(r))  # the next good frame still yields objects
    assert len(scene_from_msg(objects_for(graph, OBJECTS_TOPIC, t)).objects) == len(r.scene.blocks) + 1
    assert all(p.poll() is None for p in graph.procs.values())


def test_no_camera_info_warns_then_zero_k_errors_then_recovers(graph):
    r = rendering()
    msgs = frame_msgs(r)
    del msgs[CAMERA_INFO_TOPIC]  # the fresh node's camera_info topic gets none
    send(graph, msgs)
    warned = lambda: [s for s in statuses(graph, "perception_fresh", NodeStatus.WARN) if "no camera_info" in s.message]  # noqa: E731
    assert graph.spin_until(lambda: bool(warned()), 10)
    assert FRESH_INFO_TOPIC in warned()[0].message and warned()[0].event == "perception"
    since = len(graph.received[STATUS_TOPIC])
    msgs = frame_msgs(r)
    h, w = r.depth_m.shape
    msgs = {FRESH_INFO_TOPIC: camera_info_msg(np.zeros((3, 3)), w, h), **msgs}
    send(graph, msgs)
    assert graph.spin_until(lambda: bool(statuses(graph, "perception_fresh", NodeStatus.ERROR, since)), 10)
    good = frame_msgs(r)
    t = send(graph, {FRESH_INFO_TOPIC: good[CAMERA_INFO_TOPIC], **good})
    check_boxes(objects_for(graph, FRESH_TOPIC, t), r, by_name=False)
    assert graph.procs["perception_fresh"].poll() is None


def test_ok_status_is_sparing(graph):
    r = rendering()
    since = len(graph.received[STATUS_TOPIC])
    for _ in range(3):
        objects_for(graph, OBJECTS_TOPIC, send(graph, frame_msgs(r)))
    graph.spin_until(lambda: False, 0.3)
    assert not statuses(graph, "perception", NodeStatus.OK, since)  # only the first and every 100th frame
    assert statuses(graph, "perception", NodeStatus.OK)  # ... the first one was reported


def test_stamp_sync_matches_within_tolerance_and_keeps_the_newest():
    sync = StampSync(["color", "depth"], tolerance_s=0.01)
    assert sync.add("color", 1.0, "c1") is None
    assert sync.add("color", 2.0, "c2") is None
    assert sync.add("depth", 1.5, "d15") is None  # matches neither colour
    assert sync.add("depth", 2.005, "d2") == ("c2", "d2")  # the newest pair; c1 is dropped with it
    assert sync.add("depth", 1.0, "d1") is None  # older than what was matched: time went back, queues cleared
    assert sync.add("color", 1.0, "c1") == ("c1", "d1")
