"""The sim bridge node as a real process over DDS: camera topics, masks, ground truth, /clock,
plan execution judged from later ground truth, dry runs, bad plans and resets."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np
import pytest
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from rclpy.qos import QoSProfile, ReliabilityPolicy
from ros_helpers import Probe, fresh_domain_id, node_process
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Int32

from robospatial_ros.core.planning.pick_place import PickPlaceConfig, in_reach, plan_pick_place, scene_obstacles
from robospatial_ros.msg import DetectedObjectArray, InstanceMasks, NodeStatus, PickPlacePlan
from robospatial_ros.ros.common import (
    CAMERA_INFO_TOPIC,
    COLOR_TOPIC,
    DEPTH_TOPIC,
    LATCHED,
    PLAN_TOPIC,
    RELIABLE,
    SENSOR,
    STATUS_TOPIC,
)
from robospatial_ros.ros.conversions import (
    color_from_msg,
    depth_from_msg,
    intrinsics_from_msg,
    masks_from_msg,
    plan_to_msg,
    pose_to_matrix,
    scene_from_msg,
)
from robospatial_ros.ros.graph import sim_perception_overrides
from robospatial_ros.ros.nodes.perception_node import MASKS_TOPIC
from robospatial_ros.ros.nodes.sim_bridge_node import (
    GROUND_TRUTH_TOPIC,
    RESET_TOPIC,
    SimBridgeNodeConfig,
)
from robospatial_ros.sim.tabletop import TabletopConfig

DOMAIN = fresh_domain_id()
CONFIG = TabletopConfig(seed=0)
NODE = SimBridgeNodeConfig(sim=CONFIG)  # the frames the bridge under test uses (its defaults)
CLOCK_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


@pytest.fixture(scope="module")
def sim(large_data_dds):
    args = ["-p", "publish_clock:=true", "-p", f"sim.seed:={CONFIG.seed}", "-p", "publish_period_s:=0.2"]
    with node_process("sim_bridge_node", DOMAIN, args) as proc:
        probe = Probe(DOMAIN)
        try:
            for topic, msg_type in (
                (COLOR_TOPIC, Image),
                (DEPTH_TOPIC, Image),
                (CAMERA_INFO_TOPIC, CameraInfo),
                (MASKS_TOPIC, InstanceMasks),
            ):
                probe.subscribe(msg_type, topic, SENSOR)
            probe.subscribe(DetectedObjectArray, GROUND_TRUTH_TOPIC, LATCHED)
            probe.subscribe(NodeStatus, STATUS_TOPIC, RELIABLE)
            probe.subscribe(Clock, "/clock", CLOCK_QOS)
            probe.publisher(PickPlacePlan, PLAN_TOPIC, RELIABLE)
            probe.publisher(Int32, RESET_TOPIC, RELIABLE)
            assert probe.wait_for_subscribers(PLAN_TOPIC, 1, 30) and probe.wait_for_subscribers(RESET_TOPIC, 1, 30)
            assert probe.spin_until(lambda: len(probe.received[GROUND_TRUTH_TOPIC]) >= 2, 30), "no ground truth"
            probe.proc = proc
            yield probe
        finally:
            probe.close()


def later(probe, topic, since, timeout_s=10.0):
    """The first message on `topic` received after the first `since` ones."""
    assert probe.spin_until(lambda: len(probe.received[topic]) > since, timeout_s), f"nothing new on {topic}"
    return probe.received[topic][since]


def status_for(probe, event, event_id, timeout_s=30.0):
    found = lambda: [s for s in probe.received[STATUS_TOPIC] if s.event == event and s.id == event_id]  # noqa: E731
    assert probe.spin_until(lambda: bool(found()), timeout_s), f"no {event} status for {event_id!r}"
    return found()[0]


def test_camera_topics_masks_and_ground_truth_share_one_stamp(sim):
    def common_stamps():
        sets = [
            {(m.header.stamp.sec, m.header.stamp.nanosec) for m in sim.received[t]}
            for t in (COLOR_TOPIC, DEPTH_TOPIC, CAMERA_INFO_TOPIC, MASKS_TOPIC, GROUND_TRUTH_TOPIC)
        ]
        return set.intersection(*sets)

    assert sim.spin_until(lambda: len(common_stamps()) >= 2, 10)
    stamp = max(common_stamps())
    pick = lambda topic: next(m for m in sim.received[topic] if (m.header.stamp.sec, m.header.stamp.nanosec) == stamp)  # noqa: E731
    color, depth, info, masks, truth = (
        pick(t) for t in (COLOR_TOPIC, DEPTH_TOPIC, CAMERA_INFO_TOPIC, MASKS_TOPIC, GROUND_TRUTH_TOPIC)
    )
    assert (color.encoding, depth.encoding) == ("rgb8", "32FC1")
    assert color_from_msg(color).shape == (480, 640, 3)
    d, scale = depth_from_msg(depth)
    assert scale == 1.0 and d.shape == (480, 640) and 0.3 < np.nanmedian(d[d > 0]) < 3.0
    assert {color.header.frame_id, depth.header.frame_id, info.header.frame_id} == {NODE.camera_frame}
    cam = CONFIG.camera()
    assert np.allclose(intrinsics_from_msg(info), cam.K) and (info.width, info.height) == (640, 480)
    scene = scene_from_msg(truth)
    assert truth.header.frame_id == NODE.base_frame and truth.support_height_m == 0.0
    names = [o.name for o in scene.objects]
    assert names[0] == "table" and set(names[1:]) == set(CONFIG.objects)
    detections = masks_from_msg(masks)
    assert set(detections.masks) == set(CONFIG.objects) and all(
        m.shape == (480, 640) for m in detections.masks.values()
    )
    assert sum(m.any() for m in detections.masks.values()) >= len(CONFIG.objects) - 1  # (nearly) all in view
    # The perception node's camera parameters for the sim are the sim camera's optical pose.
    overrides = sim_perception_overrides(CONFIG)
    T = pose_to_matrix(truth.camera_pose)
    assert np.allclose(T, cam.camera_to_world, atol=1e-6) and np.allclose(T[:3, 3], overrides["camera_position_m"])
    assert overrides["detections"] == "masks"
    # Sim time: /clock runs, and the stamps are sim time.
    assert sim.spin_until(lambda: len(sim.received["/clock"]) >= 5, 5)
    clock = [c.clock.sec + 1e-9 * c.clock.nanosec for c in sim.received["/clock"]]
    assert clock == sorted(clock) and clock[-1] > clock[0]
    assert abs((stamp[0] + 1e-9 * stamp[1]) - clock[-1]) < 5.0


def _target(scene, name):
    """A free, reachable spot on the table for `name`'s bottom centre, at least 15 cm from where it is."""
    obj, config = scene.get(name), PickPlaceConfig()
    others = [o for o in scene.objects if o.name not in (name, "table")]
    best, best_clearance = None, -np.inf
    for x in np.arange(0.40, 0.72, 0.02):
        for y in np.arange(-0.30, 0.31, 0.02):
            p = np.array([x, y, 0.0])
            if not in_reach(p[None], config)[0] or np.linalg.norm(p[:2] - obj.box.center[:2]) < 0.15:
                continue
            clearance = min(
                np.linalg.norm(p[:2] - o.box.center[:2]) - np.linalg.norm(o.box.size[:2]) / 2 for o in others
            )
            if clearance > best_clearance:
                best, best_clearance = p, clearance
    assert best_clearance > 0.08, "no free spot"
    return best


def test_plan_executes_and_the_object_moves_but_a_dry_run_does_not(sim):
    scene = scene_from_msg(sim.received[GROUND_TRUTH_TOPIC][-1])
    name = "can"
    start = scene.get(name).box.center
    target = _target(scene, name)
    plan = plan_pick_place(scene.get(name).box, target, PickPlaceConfig(), 0.0, name, scene_obstacles(scene, name))
    dry = plan_to_msg(plan, "dry-1", plan_only=True)
    dry.header.frame_id = NODE.base_frame
    sim.publish(PickPlacePlan, PLAN_TOPIC, dry, RELIABLE)
    since = len(sim.received[GROUND_TRUTH_TOPIC])
    sim.spin_until(lambda: len(sim.received[GROUND_TRUTH_TOPIC]) >= since + 4, 5)  # ~0.8 s of frames
    after_dry = scene_from_msg(sim.received[GROUND_TRUTH_TOPIC][-1])
    assert np.linalg.norm(after_dry.get(name).box.center - start) < 0.005  # the dry run moved nothing
    assert not [s for s in sim.received[STATUS_TOPIC] if s.id == "dry-1"]

    msg = plan_to_msg(plan, "cmd-1")
    msg.header.frame_id = NODE.base_frame
    sim.publish(PickPlacePlan, PLAN_TOPIC, msg, RELIABLE)
    status = status_for(sim, "execution", "cmd-1")
    assert status.level == NodeStatus.OK and status.message.startswith(f"placed {name} at"), status.message
    moved = scene_from_msg(later(sim, GROUND_TRUTH_TOPIC, len(sim.received[GROUND_TRUTH_TOPIC])))
    box = moved.get(name).box
    assert np.linalg.norm(box.center[:2] - target[:2]) < 0.02 and abs(box.z_min) < 0.01  # there, on the table
    assert np.linalg.norm(box.center[:2] - start[:2]) > 0.12  # it really moved
    for other in scene.objects[1:]:
        if other.name != name:
            assert np.linalg.norm(moved.get(other.name).box.center - other.box.center) < 0.01, other.name


def test_bad_plans_are_reported_and_the_bridge_keeps_serving(sim):
    scene = scene_from_msg(sim.received[GROUND_TRUTH_TOPIC][-1])
    box = scene.get("mug").box
    plan = plan_pick_place(box, np.array([0.55, 0.0, 0.0]), PickPlaceConfig(), object_id="mug")
    broken = plan_to_msg(plan, "bad-quaternion")
    broken.grasp.orientation.w = broken.grasp.orientation.x = broken.grasp.orientation.y = 0.0
    broken.grasp.orientation.z = 0.0
    elsewhere = plan_to_msg(plan, "bad-frame")
    elsewhere.header.frame_id = "map"
    for msg in (broken, elsewhere):
        sim.publish(PickPlacePlan, PLAN_TOPIC, msg, RELIABLE)
    assert "quaternion" in status_for(sim, "execution", "bad-quaternion").message
    status = status_for(sim, "execution", "bad-frame")
    assert status.level == NodeStatus.ERROR and "'map'" in status.message
    later(sim, GROUND_TRUTH_TOPIC, len(sim.received[GROUND_TRUTH_TOPIC]))  # still publishing
    assert sim.proc.poll() is None


def test_reset_lays_out_a_new_table(sim):
    before = scene_from_msg(sim.received[GROUND_TRUTH_TOPIC][-1])
    since = len(sim.received[STATUS_TOPIC])
    sim.publish(Int32, RESET_TOPIC, Int32(data=5), RELIABLE)
    reset = lambda: [s for s in sim.received[STATUS_TOPIC][since:] if s.event == "reset"]  # noqa: E731
    assert sim.spin_until(lambda: bool(reset()), 15) and reset()[0].level == NodeStatus.OK
    after = scene_from_msg(later(sim, GROUND_TRUTH_TOPIC, len(sim.received[GROUND_TRUTH_TOPIC])))
    moved = [o.name for o in before.objects[1:] if np.linalg.norm(after.get(o.name).box.center - o.box.center) > 0.02]
    assert len(moved) >= 3


def set_parameters(probe, **values):
    """`ros2 param set /sim_bridge ...` through the node's parameter service: [SetParametersResult] in order."""
    client = AsyncParameterClient(probe.node, "sim_bridge")
    assert probe.spin_until(client.services_are_ready, 15), "no parameter services on sim_bridge"
    future = client.set_parameters([Parameter(k, value=v) for k, v in values.items()])
    assert probe.spin_until(future.done, 10), "no answer from sim_bridge's set_parameters"
    return future.result().results


def frames_in(probe, seconds):
    since = len(probe.received[GROUND_TRUTH_TOPIC])
    probe.spin_until(lambda: False, seconds)
    return len(probe.received[GROUND_TRUTH_TOPIC]) - since


def test_a_still_table_streams_at_30_hz_from_its_last_render(sim):
    """A render takes ~70 ms on this CPU; while nothing moves the bridge publishes the last one again with a
    fresh stamp, so the camera keeps a 30 Hz rate (the execution test shows a move is rendered again)."""
    assert set_parameters(sim, publish_period_s=1 / 30)[0].successful
    try:
        sim.spin_until(lambda: False, 0.3)
        since = len(sim.received[COLOR_TOPIC])
        sim.spin_until(lambda: False, 2.0)
        frames = sim.received[COLOR_TOPIC][since:]
    finally:
        assert set_parameters(sim, publish_period_s=0.2)[0].successful
    assert len(frames) >= 40, f"{len(frames)} colour frames in 2 s at a 1/30 s period"
    stamps = [(m.header.stamp.sec, m.header.stamp.nanosec) for m in frames]
    assert len(set(stamps)) == len(stamps) and stamps == sorted(stamps)
    assert bytes(frames[0].data) == bytes(frames[-1].data)  # the same picture: nothing moved


def test_publish_period_is_settable_at_run_time_and_the_layout_is_read_only(sim):
    assert set_parameters(sim, publish_period_s=0.6)[0].successful
    try:
        sim.spin_until(lambda: False, 0.7)  # the frame already scheduled at the old period
        slow = frames_in(sim, 2.5)
        assert 2 <= slow <= 5, f"{slow} frames in 2.5 s at a 0.6 s period"
        bad, seed = set_parameters(sim, publish_period_s=0.0, **{"sim.seed": 3})
        assert not bad.successful and "publish_period_s must be a positive number" in bad.reason, bad.reason
        assert not seed.successful and "read-only" in seed.reason, seed.reason
        assert frames_in(sim, 1.3) <= 3  # still the 0.6 s period
    finally:
        assert set_parameters(sim, publish_period_s=0.2)[0].successful
    sim.spin_until(lambda: False, 0.7)
    assert frames_in(sim, 2.5) >= slow + 3  # back to 5 Hz
