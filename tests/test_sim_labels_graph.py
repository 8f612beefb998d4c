"""`robospatial bringup --camera gazebo|isaac` with the simulator's label topic gives named objects.

The graph runs as bringup runs it (start_graph: the params layers, the remaps); a stand-in for the
simulator publishes our MuJoCo renderer's frame on that simulator's topics: colour, depth (32FC1,
metres), camera_info and the segmentation label image in its encoding (Gazebo's rgb8 labels map on
/segmentation/labels_map, Isaac's 32SC1 ids on /semantic_segmentation), with the id -> name map as
the labels_file launch argument. The perception node must name the objects as the simulator does.
"""

import os
import time

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np
import pytest
import yaml
from ros_helpers import fresh_domain_id
from sensor_msgs.msg import CameraInfo, Image

from robospatial_ros.msg import DetectedObjectArray
from robospatial_ros.ros import common
from robospatial_ros.ros.bringup import start_graph, stop_graph
from robospatial_ros.ros.conversions import camera_info_msg, image_msg, scene_from_msg
from robospatial_ros.ros.graph import (
    CAMERA_REMAPS,
    LABEL_SOURCES,
    LaunchArgs,
    sim_perception_overrides,
    write_params_file,
)
from robospatial_ros.sim.tabletop import TabletopConfig, TabletopSim, segmentation_labels

COLOR, DEPTH, INFO = (
    "/camera/camera/color/image_raw",
    "/camera/camera/aligned_depth_to_color/image_raw",
    "/camera/camera/color/camera_info",
)
LABEL_IMAGE_ENCODING = {"gazebo": "rgb8", "isaac": "32SC1"}
SIMULATOR_ENCODING = {"gazebo": "gazebo_semantic", "isaac": "isaac"}  # segmentation_labels' names for them


class _Simulator:
    """Publishes one rendered frame on a simulator's topics, every call with a fresh common stamp."""

    def __init__(self, node, camera: str, shot, labels: np.ndarray):
        topics = CAMERA_REMAPS[camera]
        self.node, self.shot, self.labels = node, shot, labels
        self.label_encoding = LABEL_IMAGE_ENCODING[camera]
        self.pubs = {
            "color": node.create_publisher(Image, topics[COLOR], common.SENSOR),
            "depth": node.create_publisher(Image, topics[DEPTH], common.SENSOR),
            "info": node.create_publisher(CameraInfo, topics[INFO], common.SENSOR),
            "labels": node.create_publisher(Image, LABEL_SOURCES[camera].topic, common.SENSOR),
        }

    def publish(self) -> None:
        stamp, frame, cam = self.node.get_clock().now().to_msg(), self.shot.frame, self.shot.scene.camera
        optical = "camera_color_optical_frame"
        self.pubs["color"].publish(image_msg(frame.color, "rgb8", optical, stamp))  # (H, W, 3) uint8
        self.pubs["depth"].publish(image_msg(frame.depth.astype(np.float32), "32FC1", optical, stamp))  # metres
        self.pubs["info"].publish(camera_info_msg(cam.K, cam.width, cam.height, optical, stamp))
        self.pubs["labels"].publish(image_msg(self.labels, self.label_encoding, optical, stamp))


@pytest.mark.parametrize("camera", ["gazebo", "isaac"])
def test_bringup_with_a_simulators_label_topic_names_the_objects(tmp_path, camera):
    shot = TabletopSim(TabletopConfig(seed=0)).render()
    labels, id_names = segmentation_labels(shot, SIMULATOR_ENCODING[camera])
    names_file = tmp_path / "labels.yaml"
    names_file.write_text(yaml.safe_dump({int(k): v for k, v in id_names.items()}))
    # The user's calibration: the simulated camera's pose (a Gazebo/Isaac user sets theirs, or use_tf).
    pose = {k: v for k, v in sim_perception_overrides().items() if k.startswith("camera_")}
    params = write_params_file(tmp_path / "pose.yaml", {"perception": pose})
    args = LaunchArgs(camera=camera, labels_file=str(names_file))
    context, runner = start_graph(args, [params], domain_id=fresh_domain_id())
    try:
        import rclpy

        node = rclpy.create_node("fake_simulator", context=context)
        received: list[DetectedObjectArray] = []
        node.create_subscription(DetectedObjectArray, common.OBJECTS_TOPIC, received.append, common.LATCHED)
        runner.add(node)
        sim = _Simulator(node, camera, shot, labels)
        deadline = time.monotonic() + 40
        while not received and time.monotonic() < deadline:
            sim.publish()
            time.sleep(0.2)
        assert received, f"no objects from the {camera} label topic"
        perceived = scene_from_msg(received[-1])
        runner.remove(node)
        node.destroy_node()
    finally:
        stop_graph(context, runner)
    assert set(shot.names) <= set(perceived.names), perceived.names
    for name in shot.names:  # each named object where the simulator has it
        offset = np.asarray(perceived.get(name).box.center[:2]) - np.asarray(shot.scene.get(name).box.center[:2])
        assert np.linalg.norm(offset) < 0.02, (name, offset)
