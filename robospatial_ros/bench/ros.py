"""robospatial bench ros: the node graph over real DDS.

- command -> plan latency: reasoner and planner in one process (as `robospatial bringup`), the
  bundled tabletop published as perceived objects, commands sent one at a time;
- camera -> objects rate: the perception node in its own process, fed 640x480 colour + depth +
  masks as fast as it takes them;
- a full 640x480 point cloud (~5 MB) over the reliable QoS the nodes use: it must arrive.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

import numpy as np
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import String

from robospatial_ros.bench._probe import Probe, percentile
from robospatial_ros.core.configio import load_config, to_mapping
from robospatial_ros.core.resources import DEFAULT_SCENE, DEFAULT_TABLETOP_CONFIG
from robospatial_ros.core.scene import load_scene
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.msg import DetectedObjectArray, InstanceMasks, PickPlacePlan
from robospatial_ros.ros import common
from robospatial_ros.ros import conversions as conv
from robospatial_ros.ros.bringup import start_graph, stop_graph
from robospatial_ros.ros.graph import URDF_PATH, LaunchArgs, camera_pose_overrides
from robospatial_ros.sim.tabletop import TabletopConfig, TabletopSim

# Commands the planner can carry out on the bundled tabletop (the 8 cm mug is too wide to grasp).
COMMANDS = (
    "put the can behind the bowl from the robot's perspective",
    "put the apple to the right of the bowl from the robot's perspective",
    "put the bottle behind the mug from the robot's perspective",
    "put the can to the left of the mug from the robot's perspective",
)


def command_to_plan(n: int, domain_id: int) -> list[float]:
    """Milliseconds from publishing a command to receiving its plan, n commands."""
    spatial = load_config(SpatialConfig, DEFAULT_TABLETOP_CONFIG)
    overrides = {"reasoner": {f"spatial.{k}": v for k, v in to_mapping(spatial).items()}}
    context, runner = start_graph(LaunchArgs(), extra_overrides=overrides, domain_id=domain_id)
    probe = Probe(domain_id)
    plans: list[PickPlacePlan] = []
    probe.node.create_subscription(PickPlacePlan, common.PLAN_TOPIC, plans.append, common.RELIABLE)
    objects = probe.node.create_publisher(DetectedObjectArray, common.OBJECTS_TOPIC, common.LATCHED)
    commands = probe.node.create_publisher(String, common.COMMAND_TOPIC, common.RELIABLE)
    objects.publish(conv.scene_to_msg(load_scene(DEFAULT_SCENE), "panda_link0"))
    probe.spin_until(lambda: probe.node.count_subscribers(common.COMMAND_TOPIC) > 0, 15)
    times = []
    try:
        for i in range(n + 3):  # the first few warm up caches and DDS matching
            start = time.perf_counter()
            commands.publish(String(data=COMMANDS[i % len(COMMANDS)]))
            if probe.spin_until(lambda i=i: any(p.command_id == f"cmd-{i + 1}" for p in plans), 10) and i >= 3:
                times.append((time.perf_counter() - start) * 1e3)
    finally:
        probe.close()
        stop_graph(context, runner)
    return times


def camera_to_objects(seconds: float, domain_id: int) -> tuple[float, int]:
    """Objects messages per second from a perception process fed frames as fast as it takes them."""
    shot = TabletopSim(TabletopConfig(seed=0)).render()
    pose = camera_pose_overrides(URDF_PATH)
    args = [
        "-p",
        "detections:=masks",
        "-p",
        f"camera_position_m:={pose['camera_position_m']}",
        "-p",
        f"camera_orientation_xyzw:={pose['camera_orientation_xyzw']}",
    ]
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id))
    proc = subprocess.Popen(
        [sys.executable, "-m", "robospatial_ros.ros.nodes.perception_node", "--ros-args", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    probe = Probe(domain_id)
    got: list[float] = []
    probe.node.create_subscription(
        DetectedObjectArray, common.OBJECTS_TOPIC, lambda m: got.append(time.perf_counter()), common.LATCHED
    )
    pubs = {
        t: probe.node.create_publisher(m, t, common.SENSOR)
        for t, m in (
            (common.COLOR_TOPIC, Image),
            (common.DEPTH_TOPIC, Image),
            (common.CAMERA_INFO_TOPIC, CameraInfo),
            ("/robospatial/detections/masks", InstanceMasks),
        )
    }
    frame = shot.frame
    try:
        probe.spin_until(lambda: probe.node.count_subscribers(common.DEPTH_TOPIC) > 0, 20)
        end, k = time.perf_counter() + seconds + 2.0, 0
        while time.perf_counter() < end:
            stamp = probe.node.get_clock().now().to_msg()
            pubs[common.COLOR_TOPIC].publish(conv.image_msg(frame.color, "rgb8", "camera_optical_frame", stamp))
            pubs[common.DEPTH_TOPIC].publish(conv.image_msg(frame.depth, "32FC1", "camera_optical_frame", stamp))
            pubs[common.CAMERA_INFO_TOPIC].publish(
                conv.camera_info_msg(frame.K, frame.width, frame.height, "camera_optical_frame", stamp)
            )
            pubs["/robospatial/detections/masks"].publish(
                conv.masks_to_msg(shot.masks.masks, "camera_optical_frame", stamp)
            )
            k += 1
            probe.spin_until(lambda: False, 0.02)
    finally:
        probe.close()
        proc.terminate()
        proc.wait(timeout=10)
    window = [t for t in got if t >= got[0] + 2.0] if got else []  # skip start-up
    rate = (len(window) - 1) / (window[-1] - window[0]) if len(window) > 2 else 0.0
    return rate, k


def large_cloud(domain_id: int) -> tuple[bool, float]:
    """A 640x480 RGB cloud (about 4.9 MB) over the RELIABLE QoS: delivered? and latency (ms)."""
    probe = Probe(domain_id)
    got: list[float] = []
    probe.node.create_subscription(
        PointCloud2, "/bench/cloud", lambda m: got.append(time.perf_counter()), common.RELIABLE
    )
    pub = probe.node.create_publisher(PointCloud2, "/bench/cloud", common.RELIABLE)
    pts = np.random.default_rng(0).random((640 * 480, 3), dtype=np.float32)
    msg = conv.cloud_msg(pts, np.zeros((len(pts), 3), np.uint8), "panda_link0")
    try:
        probe.spin_until(lambda: probe.node.count_subscribers("/bench/cloud") > 0, 10)
        start = time.perf_counter()
        pub.publish(msg)
        ok = probe.spin_until(lambda: bool(got), 10)
    finally:
        probe.close()
    return ok, ((got[0] - start) * 1e3 if got else float("nan"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="robospatial bench ros", description=__doc__)
    parser.add_argument("--commands", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--domain-id", type=int, default=77)
    args = parser.parse_args(argv)
    latency = command_to_plan(args.commands, args.domain_id)
    rate, sent = camera_to_objects(args.seconds, args.domain_id + 1)
    ok, cloud_ms = large_cloud(args.domain_id + 2)
    print(f"{'benchmark':<44}{'value':>12}  target")
    print(f"{'command -> plan latency, median':<44}{statistics.median(latency):>9.1f} ms  <= 150 ms")
    print(f"{'command -> plan latency, p90':<44}{percentile(latency, 0.9):>9.1f} ms")
    print(f"{'commands answered with a plan':<44}{len(latency):>9d}/{args.commands}")
    print(f"{'camera -> objects at 640x480':<44}{rate:>9.1f} Hz  >= 15 Hz  ({sent} frames sent)")
    print(f"{'640x480 RGB cloud (4.9 MB), reliable QoS':<44}{'delivered' if ok else 'LOST':>12}  {cloud_ms:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
