"""The perception node as a real process over DDS, fed synthetic RGB-D frames (tests/synthetic.py).

Four node processes share the camera topics: `perception` (detections: masks), `perception_boxes`
(labelled 2D boxes) and `perception_clusters` (no detections: clustering), their objects on separate
topics, and `perception_fresh`, whose camera_info topic gets nothing until a test publishes on it.
Every frame gets a unique stamp, so each answer is matched to the frame it came from.
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import contextlib
import dataclasses
import functools
import itertools

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from message_strategies import hostile_frame
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from ros_helpers import Probe, fresh_domain_id, node_process
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import String
from synthetic import TABLE, default_camera, random_tabletop, record_realsense, render

from robospatial_ros.core.geometry import quaternion_from_matrix
from robospatial_ros.msg import BoxDetections2D, DetectedObjectArray, InstanceMasks, NodeStatus
from robospatial_ros.ros.common import (
    CAMERA_INFO_TOPIC,
    CLOUD_TOPIC,
    COLOR_TOPIC,
    DEPTH_TOPIC,
    LATCHED,
    NAMES_TOPIC,
    OBJECTS_TOPIC,
    RELIABLE,
    SENSOR,
    STATUS_TOPIC,
)
from robospatial_ros.ros.conversions import (
    camera_info_msg,
    image_msg,
    masks_to_msg,
    points_from_cloud,
    pose_to_matrix,
    scene_from_msg,
)
from robospatial_ros.ros.nodes.perception_node import BOXES_TOPIC, LABELS_TOPIC, MASKS_TOPIC, StampSync

DOMAIN = fresh_domain_id()
CLUSTERS_TOPIC, BOXES_OBJECTS_TOPIC = "/clusters/objects", "/boxes/objects"
CLUSTERS_NAMES_TOPIC = "/clusters/names"
LABELS_OBJECTS_TOPIC = "/labels/objects"
FRESH_INFO_TOPIC, FRESH_TOPIC = "/fresh/camera_info", "/fresh/objects"
CENTRE_TOL_M, SIZE_TOL_M = 0.01, 0.015
_stamps = itertools.count(1000)


@functools.cache
def rendering():
    return render(random_tabletop(np.random.default_rng(1)), noise_at_1m_m=0.002, seed=1)


@pytest.fixture(scope="module")
def graph(tmp_path_factory, large_data_dds):
    cam = default_camera()
    params = tmp_path_factory.mktemp("perception") / "params.yaml"
    position = [float(v) for v in cam.camera_to_world[:3, 3]]
    xyzw = [float(v) for v in quaternion_from_matrix(cam.camera_to_world[:3, :3])]
    params.write_text(
        f"/**:\n  ros__parameters:\n    camera_position_m: {position}\n    camera_orientation_xyzw: {xyzw}\n"
    )
    common = ["--params-file", str(params)]
    clusters = [
        "-r",
        "__node:=perception_clusters",
        "-r",
        f"{OBJECTS_TOPIC}:={CLUSTERS_TOPIC}",
        "-r",
        f"{NAMES_TOPIC}:={CLUSTERS_NAMES_TOPIC}",
        "-p",
        "publish_cloud:=true",
        "-p",
        "cloud_max_points:=5000",
    ]
    boxes = [
        "-r",
        "__node:=perception_boxes",
        "-r",
        f"{OBJECTS_TOPIC}:={BOXES_OBJECTS_TOPIC}",
        "-p",
        "detections:=boxes",
    ]
    ids = label_ids(rendering())
    labels = ["-r", "__node:=perception_labels", "-r", f"{OBJECTS_TOPIC}:={LABELS_OBJECTS_TOPIC}"]
    labels += ["-p", "detections:=labels", "-p", "labels.names:=" + ",".join(f"{i}={n}" for n, i in ids.items())]
    fresh = ["-r", "__node:=perception_fresh", "-r", f"{OBJECTS_TOPIC}:={FRESH_TOPIC}"]
    nodes = {
        "perception": [*common, "-p", "detections:=masks"],
        "perception_clusters": [*common, *clusters],
        "perception_boxes": [*common, *boxes],
        "perception_labels": [*common, *labels],
        "perception_fresh": [*common, *fresh, "-r", f"{CAMERA_INFO_TOPIC}:={FRESH_INFO_TOPIC}"],
    }
    inputs = [
        (COLOR_TOPIC, Image, 4),
        (DEPTH_TOPIC, Image, 4),
        (MASKS_TOPIC, InstanceMasks, 1),
        (BOXES_TOPIC, BoxDetections2D, 1),
        (LABELS_TOPIC, Image, 1),
        (CAMERA_INFO_TOPIC, CameraInfo, 3),
        (FRESH_INFO_TOPIC, CameraInfo, 1),
    ]
    with contextlib.ExitStack() as stack:
        procs = {name: stack.enter_context(node_process("perception_node", DOMAIN, a)) for name, a in nodes.items()}
        probe = Probe(DOMAIN)
        stack.callback(probe.close)
        for topic in (OBJECTS_TOPIC, CLUSTERS_TOPIC, BOXES_OBJECTS_TOPIC, FRESH_TOPIC, LABELS_OBJECTS_TOPIC):
            probe.subscribe(DetectedObjectArray, topic, LATCHED)
        probe.subscribe(NodeStatus, STATUS_TOPIC, RELIABLE)
        probe.subscribe(PointCloud2, CLOUD_TOPIC, RELIABLE)
        for topic, msg_type, count in inputs:
            probe.publisher(msg_type, topic, SENSOR)
            assert probe.wait_for_subscribers(topic, count, 30), f"no subscriber on {topic}"
        for topic in (OBJECTS_TOPIC, CLUSTERS_TOPIC, BOXES_OBJECTS_TOPIC, FRESH_TOPIC, LABELS_OBJECTS_TOPIC):
            assert probe.wait_for_publishers(topic, 1, 30), f"no publisher on {topic}"
        probe.procs, probe.params_file = procs, str(params)
        _warm_up(probe)
        yield probe


def _warm_up(probe):
    """Frames until the fed nodes answer: discovery completes in both directions (a reader may not yet
    know a writer that already knows it) and clustering loads open3d (~1.3 s) before the tests time."""
    fed = (OBJECTS_TOPIC, CLUSTERS_TOPIC, BOXES_OBJECTS_TOPIC, LABELS_OBJECTS_TOPIC)
    for _ in range(20):
        send(probe, frame_msgs(rendering()))
        if probe.spin_until(lambda: all(probe.received[x] for x in fed), 3.0):
            return
    raise AssertionError("the perception nodes never answered")


def stamp() -> Time:
    return Time(sec=next(_stamps), nanosec=0)


def label_ids(r):
    """mask name -> its id in an Isaac-style instance id image (0 background, 1 unlabelled)."""
    return {name: k + 2 for k, name in enumerate(sorted(r.masks().masks))}


def label_image(r, t, ids=None, shape=None):
    """The rendering's masks as an Isaac Sim instance segmentation image (32SC1)."""
    ids = ids or label_ids(r)
    image = np.zeros(shape or r.depth_m.shape, np.int32)
    for name, mask in r.masks().masks.items():
        if shape is None:
            image[mask] = ids[name]
    return image_msg(image, "32SC1", "camera_color_optical_frame", t)


def frame_msgs(r, encoding="16UC1", t=None):
    """{topic: message} of one frame, all with stamp t (a fresh one by default)."""
    t = t or stamp()
    cam = r.scene.camera
    labels, boxes = r.boxes_2d()
    detections = BoxDetections2D(labels=labels, boxes=[float(v) for v in boxes.reshape(-1)])
    detections.header.stamp = t
    return {
        CAMERA_INFO_TOPIC: camera_info_msg(cam.K, cam.width, cam.height, "camera_color_optical_frame", t),
        MASKS_TOPIC: masks_to_msg(r.masks().masks, "camera_color_optical_frame", t),
        BOXES_TOPIC: detections,
        LABELS_TOPIC: label_image(r, t),
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
        obj = (
            scene.get(block.name)
            if by_name
            else min(objects, key=lambda o: np.linalg.norm(o.box.center - truth.center))
        )
        centre = np.linalg.norm(obj.box.center - truth.center)
        size = np.abs(np.sort(obj.box.size[:2]) - np.sort(truth.size[:2])).max()
        assert centre <= CENTRE_TOL_M, f"{block.name}: centre off by {centre * 1000:.1f} mm"
        assert size <= SIZE_TOL_M and abs(obj.box.size[2] - truth.size[2]) <= SIZE_TOL_M, block.name
        checked += 1
    assert checked >= 2
    return scene


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_objects_match_ground_truth_via_masks_boxes_and_clustering(graph, encoding):
    r = rendering()
    t = send(graph, frame_msgs(r, encoding))
    scene = check_boxes(objects_for(graph, OBJECTS_TOPIC, t), r, by_name=True)
    assert sorted(o.name for o in scene.objects) == sorted([TABLE, *(b.name for b in r.scene.blocks)])
    # The observed obstacle map travels with the objects: the table seen free, the objects occupied.
    assert scene.obstacles is not None
    for block in r.scene.blocks:
        if block.name in r.unoccluded():
            assert not scene.obstacles.free_at(block.box().center[None, :2]).any(), block.name
    assert (scene.obstacles.cells == 0).sum() > 100
    check_boxes(objects_for(graph, BOXES_OBJECTS_TOPIC, t), r, by_name=True)  # labelled 2D boxes
    clusters = check_boxes(objects_for(graph, CLUSTERS_TOPIC, t), r, by_name=False)
    assert all(o.name == TABLE or o.name.startswith("object_") for o in clusters.objects)
    # ... and the clustering node's downsampled cloud, in the base frame with the frame's stamp.
    cloud = objects_for(graph, CLOUD_TOPIC, t)
    points = points_from_cloud(cloud)
    assert cloud.header.frame_id == "panda_link0" and 1000 < len(points) <= 5000
    assert np.percentile(points[:, 2], 5) > -0.02 and np.median(np.abs(points[:, 2])) < 0.01  # mostly table top


def _nearest_block(r, obj):
    """The rendered block whose centre is nearest the perceived object's (x, y)."""
    xy = np.array([obj.box.center.position.x, obj.box.center.position.y])
    return min(r.scene.blocks, key=lambda b: np.hypot(b.x - xy[0], b.y - xy[1]))


def test_clustered_objects_carry_attributes_keep_ids_and_take_operator_names(graph):
    r = rendering()
    first = objects_for(graph, CLUSTERS_TOPIC, send(graph, frame_msgs(r)))
    objects = [o for o in first.objects if o.id != TABLE]
    assert objects and all(o.colour and o.size_class for o in objects)
    assert all(abs(o.height_m - o.box.size.z) < 1e-6 for o in objects)
    # Take away the block seen as the lowest-numbered object: clustering alone would renumber the rest,
    # the tracker keeps each remaining object's id. (The renderer colours blocks by their index, so
    # colours shift here; the naming check below compares them on the same rendering.)
    block_of = {o.id: _nearest_block(r, o).name for o in objects}
    dropped = block_of[min(block_of, key=lambda i: int(i.rsplit("_", 1)[1]))]
    fewer = render(
        dataclasses.replace(r.scene, blocks=tuple(b for b in r.scene.blocks if b.name != dropped)),
        noise_at_1m_m=0.002,
        seed=1,
    )
    second = [o for o in objects_for(graph, CLUSTERS_TOPIC, send(graph, frame_msgs(fewer))).objects if o.id != TABLE]
    assert len(second) == len(objects) - 1
    before = {block_of[o.id]: o.id for o in objects}
    after = {_nearest_block(fewer, o).name: o.id for o in second}
    assert after == {b: v for b, v in before.items() if b != dropped}  # stable ids
    target = second[0].id
    since = len(graph.received[STATUS_TOPIC])
    names = graph.publisher(String, CLUSTERS_NAMES_TOPIC, RELIABLE)
    assert graph.wait_for_subscribers(CLUSTERS_NAMES_TOPIC, 1, 15)
    names.publish(String(data="call object 999 the ghost"))  # no such object: an error, and it keeps serving
    names.publish(String(data=f"call {target} the widget"))
    ok = lambda: any("widget" in s.message for s in statuses(graph, "perception_clusters", NodeStatus.OK, since))  # noqa: E731
    assert graph.spin_until(ok, 10), "the naming was not confirmed"
    assert any("object 999" in s.message for s in statuses(graph, "perception_clusters", NodeStatus.ERROR, since))
    named = {o.id: o for o in objects_for(graph, CLUSTERS_TOPIC, send(graph, frame_msgs(r))).objects}
    assert named[target].user_name == "widget" and named[target].label == "widget"
    assert scene_from_msg(first).get(target).colour == named[target].colour


def test_a_simulators_label_image_names_the_objects_and_bad_ones_are_reported(graph):
    r = rendering()
    t = send(graph, frame_msgs(r))
    scene = check_boxes(objects_for(graph, LABELS_OBJECTS_TOPIC, t), r, by_name=True)
    assert sorted(o.name for o in scene.objects) == sorted([TABLE, *r.masks().masks])
    for case, message, expected in (
        ("size", label_image(r, None, shape=(10, 10)), "label image is 10x10"),
        ("missing id", label_image(r, None, ids={n: 90 + i for n, i in label_ids(r).items()}), "not in the id -> name"),
        ("encoding", image_msg(np.zeros(r.depth_m.shape, np.float32), "32FC1"), "unsupported label image encoding"),
    ):
        since = len(graph.received[STATUS_TOPIC])
        msgs = frame_msgs(r)
        message.header = msgs[LABELS_TOPIC].header
        msgs[LABELS_TOPIC] = message
        send(graph, msgs)
        assert graph.spin_until(functools.partial(_reported, graph, expected, since), 10), case
    t = send(graph, frame_msgs(r))  # and it keeps serving
    assert objects_for(graph, LABELS_OBJECTS_TOPIC, t).objects


def _reported(probe, expected, since):
    return any(expected in s.message for s in statuses(probe, "perception_labels", NodeStatus.ERROR, since))


def bad_frame(r, case):
    """(a frame with one bad message, what the error says)."""
    h, w = r.depth_m.shape
    if case == "colour stamp nanosec out of range":
        msgs = frame_msgs(r)
        msgs[COLOR_TOPIC].header.stamp = Time(sec=next(_stamps), nanosec=2_000_000_000)
        return msgs, "color: header.stamp: nanosec must be in [0, 1e9)"
    repeated = masks_to_msg(r.masks().masks)
    repeated.names = [repeated.names[0]] * len(repeated.names)  # every instance called the same
    nan_centre = r.scene.camera.K.copy()
    nan_centre[0, 2] = np.nan
    topic, msg, expected = {
        "nan depth": (DEPTH_TOPIC, image_msg(np.full((h, w), np.nan, np.float32), "32FC1"), "no measurements"),
        "zero depth": (DEPTH_TOPIC, image_msg(np.zeros((h, w), np.uint16), "16UC1"), "no measurements"),
        "yuv422 colour": (COLOR_TOPIC, image_msg(np.zeros((h, w, 2), np.uint8), "yuv422"), "yuv422"),
        "size mismatch": (DEPTH_TOPIC, image_msg(np.full((h // 2, w // 2), 900, np.uint16), "16UC1"), "aligned"),
        "masks of the wrong size": (MASKS_TOPIC, masks_to_msg({"mug": np.ones((h // 2, w // 2), bool)}), "masks"),
        "camera_info K all zeros": (CAMERA_INFO_TOPIC, camera_info_msg(np.zeros((3, 3)), w, h), "intrinsics"),
        "camera_info NaN principal point": (CAMERA_INFO_TOPIC, camera_info_msg(nan_centre, w, h), "camera_info.k"),
        "repeated mask names": (
            MASKS_TOPIC,
            repeated,
            f"instance mask names must be unique; repeated: {repeated.names[0]!r}",
        ),
        "camera_info for another size": (
            CAMERA_INFO_TOPIC,
            camera_info_msg(r.scene.camera.K, 2 * w, 2 * h),
            "camera_info is for 1280x960",
        ),
    }[case]
    msgs = frame_msgs(r)
    msg.header = msgs[topic].header
    msgs[topic] = msg
    return msgs, expected


BAD_CASES = [
    "nan depth",
    "zero depth",
    "yuv422 colour",
    "size mismatch",
    "masks of the wrong size",
    "camera_info K all zeros",
    "camera_info for another size",
    "camera_info NaN principal point",
    "repeated mask names",
    "colour stamp nanosec out of range",
]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_is_reported_and_the_node_keeps_serving(graph, case):
    r = rendering()
    msgs, expected = bad_frame(r, case)
    since = len(graph.received[STATUS_TOPIC])
    send(graph, msgs)
    new_error = lambda: [s for s in statuses(graph, "perception", NodeStatus.ERROR, since)]  # noqa: E731
    assert graph.spin_until(lambda: bool(new_error()), 10), f"no status error for {case}"
    error = new_error()[0]
    assert error.event == "perception" and expected in error.message, error.message
    t = send(graph, frame_msgs(r))  # the next good frame still yields objects
    assert len(scene_from_msg(objects_for(graph, OBJECTS_TOPIC, t)).objects) == len(r.scene.blocks) + 1
    assert all(p.poll() is None for p in graph.procs.values())


KIND_TOPICS = {
    "color": COLOR_TOPIC,
    "depth": DEPTH_TOPIC,
    "info": CAMERA_INFO_TOPIC,
    "masks": MASKS_TOPIC,
    "boxes": BOXES_TOPIC,
}


def kinds_of(msgs):
    """{topic: msg} -> {kind: msg} for message_strategies, and back with `topics_of`."""
    return {kind: msgs[topic] for kind, topic in KIND_TOPICS.items()}


def topics_of(kinds):
    return {KIND_TOPICS[kind]: msg for kind, msg in sorted(kinds.items(), key=lambda km: km[0] != "info")}


@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_hostile_frames_over_dds_never_take_a_node_down(graph, data):
    """Fuzzed colour, depth, camera_info, mask and box messages (message_strategies, 8 frame sets an
    example) to the masks, boxes and clustering nodes: typed errors only, and the next good frame is
    perceived by each of them."""
    r, since = rendering(), len(graph.received[STATUS_TOPIC])
    for _ in range(8):
        which = data.draw(st.sampled_from(["masks", "boxes"]))
        _, hostile = data.draw(hostile_frame(lambda: kinds_of(frame_msgs(r)), which))
        send(graph, topics_of(hostile))
    t = send(graph, frame_msgs(r))
    for topic in (OBJECTS_TOPIC, BOXES_OBJECTS_TOPIC, CLUSTERS_TOPIC):
        assert len(scene_from_msg(objects_for(graph, topic, t)).objects) == len(r.scene.blocks) + 1, topic
    reported = [f"{s.node}: {s.message}" for s in graph.received[STATUS_TOPIC][since:]]
    assert not [m for m in reported if "unexpected" in m], reported
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
    # Topics are not ordered against each other: a frame may still meet no camera_info (another
    # WARN) before the zero-K one lands, so send until the node says ERROR.
    errored = lambda: bool(statuses(graph, "perception_fresh", NodeStatus.ERROR, since))  # noqa: E731
    for _ in range(10):
        send(graph, msgs)
        if graph.spin_until(errored, 2):
            break
    assert errored()
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


def set_parameters(probe, node, **values):
    """`ros2 param set` through the node's parameter service: [SetParametersResult] in order."""
    client = AsyncParameterClient(probe.node, node)
    assert probe.spin_until(client.services_are_ready, 15), f"no parameter services on {node}"
    future = client.set_parameters([Parameter(k, value=v) for k, v in values.items()])
    assert probe.spin_until(future.done, 10), f"no answer from {node}'s set_parameters"
    return future.result().results


def test_runtime_parameters_take_effect_and_the_rest_is_read_only(graph):
    """status_every_n is applied while running; a bad value and a read-only parameter are refused."""
    r, node = rendering(), "perception_boxes"
    assert set_parameters(graph, node, status_every_n=1)[0].successful
    try:
        since = len(graph.received[STATUS_TOPIC])
        for _ in range(3):
            objects_for(graph, BOXES_OBJECTS_TOPIC, send(graph, frame_msgs(r)))
        every_frame = lambda: len(statuses(graph, node, NodeStatus.OK, since)) >= 3  # noqa: E731
        assert graph.spin_until(every_frame, 5), "status_every_n:=1 did not take effect"
        bad, read_only = set_parameters(graph, node, status_every_n=0, detections="masks")
        assert not bad.successful and "status_every_n must be >= 1" in bad.reason, bad.reason
        assert not read_only.successful and "read-only" in read_only.reason, read_only.reason
        t = send(graph, frame_msgs(r))  # still boxes, still every frame
        check_boxes(objects_for(graph, BOXES_OBJECTS_TOPIC, t), r, by_name=True)
        assert graph.spin_until(lambda: len(statuses(graph, node, NodeStatus.OK, since)) >= 4, 5)
    finally:
        assert set_parameters(graph, node, status_every_n=100)[0].successful


def test_stamp_sync_matches_within_tolerance_and_keeps_the_newest():
    sync = StampSync(["color", "depth"], tolerance_s=0.01)
    assert sync.add("color", 1.0, "c1") is None
    assert sync.add("color", 2.0, "c2") is None
    assert sync.add("depth", 1.5, "d15") is None  # matches neither colour
    assert sync.add("depth", 2.005, "d2") == ("c2", "d2")  # the newest pair; c1 is dropped with it
    assert sync.add("depth", 1.0, "d1") is None  # older than what was matched: time went back, queues cleared
    assert sync.add("color", 1.0, "c1") == ("c1", "d1")


def test_realsense_source_plays_a_recording_and_survives_a_missing_camera(graph, tmp_path):
    """source: realsense reads the camera directly; without one it reports and keeps retrying."""
    pytest.importorskip("pyrealsense2")
    r = rendering()
    recording = tmp_path / "tabletop.db3"
    record_realsense(str(recording), [r, r, r])

    def args(name, *params):
        remaps = ["-r", f"__node:={name}", "-r", f"{OBJECTS_TOPIC}:=/{name}/objects"]
        return [
            "--params-file",
            graph.params_file,
            *remaps,
            "-p",
            "source:=realsense",
            "-p",
            "realsense.retry_s:=0.5",
            *(a for p in params for a in ("-p", p)),
        ]

    playing = args("perception_rs", f"realsense.playback_path:={recording}")
    missing = args("perception_nocam", 'realsense.serial:="000000000000"')  # quoted: digits would be an int
    graph.subscribe(DetectedObjectArray, "/perception_rs/objects", LATCHED)
    with (
        node_process("perception_node", DOMAIN, playing) as rs,
        node_process("perception_node", DOMAIN, missing) as nocam,
    ):
        got = graph.received["/perception_rs/objects"]
        assert graph.spin_until(lambda: bool(got), 30), "no objects from the recording"
        check_boxes(got[-1], r, by_name=False)
        nocam_errors = lambda: statuses(graph, "perception_nocam", NodeStatus.ERROR)  # noqa: E731
        assert graph.spin_until(lambda: len(nocam_errors()) >= 1, 15), "no status error without a camera"
        assert "no realsense" in nocam_errors()[0].message.lower(), nocam_errors()[0].message
        assert rs.poll() is None and nocam.poll() is None
