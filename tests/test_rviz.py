"""What RViz shows: the reasoner's markers (every request replaces the last one's, a failed one too; a question's text
at the object it speaks of), the objects as boxes, and config/robospatial.rviz showing them with the cloud and image."""

from pathlib import Path

import numpy as np
import pytest
import rclpy
import yaml
from rclpy.context import Context
from ros_helpers import Probe, fresh_domain_id
from std_msgs.msg import String
from visualization_msgs.msg import Marker, MarkerArray

from robospatial_ros.core.resources import DEFAULT_SCENE
from robospatial_ros.core.scene import load_scene
from robospatial_ros.msg import DetectedObjectArray, SpatialAnswer, SpatialQuery
from robospatial_ros.ros import common
from robospatial_ros.ros.conversions import object_markers, scene_to_msg
from robospatial_ros.ros.graph import BASE_FRAME, REASONER, GraphRunner, package_files, ros_args

RVIZ = Path(__file__).resolve().parents[1] / "config" / "robospatial.rviz"


@pytest.fixture(scope="module")
def reasoner():
    """A reasoner (config/reasoner.yaml) spinning in this process, and a probe on its topics."""
    domain = fresh_domain_id()
    context = Context()
    rclpy.init(args=ros_args([package_files().params(REASONER)]), context=context, domain_id=domain)
    runner = GraphRunner([REASONER], context=context).start()
    probe = Probe(domain)
    probe.subscribe(SpatialAnswer, common.ANSWER_TOPIC, common.RELIABLE)
    probe.subscribe(MarkerArray, common.MARKERS_TOPIC, common.RELIABLE)
    probe.publish(
        DetectedObjectArray, common.OBJECTS_TOPIC, scene_to_msg(load_scene(DEFAULT_SCENE), BASE_FRAME), common.LATCHED
    )
    assert probe.wait_for_subscribers(common.COMMAND_TOPIC) and probe.wait_for_subscribers(common.QUERY_TOPIC)
    yield probe
    probe.close()
    runner.shutdown()
    rclpy.shutdown(context=context)


def _request(probe: Probe, send) -> tuple[SpatialAnswer, MarkerArray]:
    answers, markers = len(probe.received[common.ANSWER_TOPIC]), len(probe.received[common.MARKERS_TOPIC])
    send()
    assert probe.spin_until(
        lambda: (
            len(probe.received[common.ANSWER_TOPIC]) > answers and len(probe.received[common.MARKERS_TOPIC]) > markers
        ),
        20,
    )
    return probe.received[common.ANSWER_TOPIC][-1], probe.received[common.MARKERS_TOPIC][-1]


def _command(probe: Probe, text: str) -> tuple[SpatialAnswer, MarkerArray]:
    return _request(probe, lambda: probe.publish(String, common.COMMAND_TOPIC, String(data=text), common.RELIABLE))


def test_a_failed_command_clears_the_last_commands_markers(reasoner):
    ok, markers = _command(reasoner, "put the can to the left of the bowl")
    for _ in range(20):  # the first answer may come before the objects: wait for a placement
        if ok.success:
            break
        ok, markers = _command(reasoner, "put the can to the left of the bowl")
    assert ok.success and len(markers.markers) > 1
    bad, cleared = _command(reasoner, "put the spoon to the left of the bowl")
    assert not bad.success
    assert [m.action for m in cleared.markers] == [Marker.DELETEALL]
    assert cleared.markers[0].header.frame_id == BASE_FRAME


def test_a_questions_text_sits_at_the_object_it_speaks_of(reasoner):
    query = SpatialQuery(query_id="q-mug", question="is the mug left of the bowl?")
    answer, markers = _request(
        reasoner, lambda: reasoner.publish(SpatialQuery, common.QUERY_TOPIC, query, common.RELIABLE)
    )
    assert answer.success, answer.error
    (text,) = [m for m in markers.markers if m.type == Marker.TEXT_VIEW_FACING]
    mug = load_scene(DEFAULT_SCENE).get("mug").box
    at = np.array([text.pose.position.x, text.pose.position.y, text.pose.position.z])
    np.testing.assert_allclose(at[:2], mug.center[:2], atol=1e-6)  # above the mug, not at the robot base
    assert mug.center[2] + mug.size[2] / 2 < at[2] < mug.center[2] + mug.size[2] / 2 + 0.1


def test_objects_become_boxes_with_their_names():
    scene = load_scene(DEFAULT_SCENE)
    markers = object_markers(scene, BASE_FRAME).markers
    assert markers[0].action == Marker.DELETEALL
    cubes = [m for m in markers if m.type == Marker.CUBE]
    labels = {m.text for m in markers if m.type == Marker.TEXT_VIEW_FACING}
    assert len(cubes) == len(scene.objects) and labels == set(scene.names)
    mug = next(m for m in cubes if m.id == 2 * [o.name for o in scene.objects].index("mug"))
    assert mug.scale.z == pytest.approx(scene.get("mug").box.size[2])


def test_the_rviz_config_shows_markers_objects_cloud_and_camera():
    config = yaml.safe_load(RVIZ.read_text())
    manager = config["Visualization Manager"]
    assert manager["Global Options"]["Fixed Frame"] == BASE_FRAME
    shown = {d["Topic"]["Value"]: d["Class"] for d in manager["Displays"] if "Topic" in d}
    assert shown == {
        common.MARKERS_TOPIC: "rviz_default_plugins/MarkerArray",
        common.PLACEMENT_TOPIC: "rviz_default_plugins/Pose",
        common.OBJECT_MARKERS_TOPIC: "rviz_default_plugins/MarkerArray",
        common.OBSTACLE_MAP_TOPIC: "rviz_default_plugins/Map",
        common.CLOUD_TOPIC: "rviz_default_plugins/PointCloud2",
        common.COLOR_TOPIC: "rviz_default_plugins/Image",
    }
    # The latched topics need a transient-local subscription to show what came before RViz started.
    latched = {
        d["Topic"]["Value"]
        for d in manager["Displays"]
        if d.get("Topic", {}).get("Durability Policy") == "Transient Local"
    }
    assert latched == {common.OBJECT_MARKERS_TOPIC, common.OBSTACLE_MAP_TOPIC}
