"""The whole graph: `robospatial bringup` as a process, and the demo driven only through topics."""

import os
import signal
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np
from ros_helpers import Probe, fresh_domain_id, ros_env
from std_msgs.msg import String

from robospatial_ros.core.configio import load_config
from robospatial_ros.core.resources import DEFAULT_TABLETOP_CONFIG
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.core.spatial.types import Frame
from robospatial_ros.msg import DetectedObjectArray, NodeStatus, PickPlacePlan, SpatialAnswer
from robospatial_ros.ros import common
from robospatial_ros.ros.graph_demo import GraphSession, run_graph_demo
from robospatial_ros.sim.tabletop import TabletopConfig, TabletopSim


def test_demo_through_the_graph(tmp_path):
    spatial = load_config(SpatialConfig, DEFAULT_TABLETOP_CONFIG)
    report = run_graph_demo("put the can to the right of the bowl", 0, spatial, tmp_path, domain_id=fresh_domain_id())
    assert report["success"], report["failure"]
    assert report["via"] == "ros2 graph"
    assert report["check"]["answer"] == "Yes" and report["check"]["ground_truth_answer"] == "Yes"
    for stage in ("first_objects", "answer", "plan", "execute", "objects_after", "check"):
        assert stage in report["timings_ms"]
    assert (tmp_path / "demo.png").stat().st_size > 10_000


def test_one_graph_runs_episode_after_episode():
    """A session lays the table out again for every episode (sim reset with the seed): each episode sees
    its own seed's layout, the one the direct demo builds, and commands are numbered on."""
    spatial = load_config(SpatialConfig, DEFAULT_TABLETOP_CONFIG)
    with GraphSession(spatial, domain_id=fresh_domain_id()) as session:
        first = session.episode("put the mug to the left of the bowl", 0)
        second = session.episode("put the can in front of the bowl from the robot's perspective", 5)
        again = session.episode("put the can to the right of the bowl", 0, Frame.WORLD)
    for ep in (first, second, again):
        assert ep.success, ep.failure
    for ep, seed in ((first, 0), (second, 5), (again, 0)):
        truth = TabletopSim(TabletopConfig(seed=seed)).scene()
        perceived = ep.record["before"][1]
        for name in ("mug", "bowl", "can"):
            assert np.linalg.norm(perceived.get(name).box.center[:2] - truth.get(name).box.center[:2]) < 0.01
    assert again.report["command"] == "put the can to the right of the bowl from the robot's perspective"
    assert again.report["parsed"]["frame"] == "world"


def test_bringup_serves_the_sim_graph_until_interrupted():
    domain = fresh_domain_id()
    exe = Path(sys.executable).parent / "robospatial"
    proc = subprocess.Popen(
        [str(exe), "bringup", "--sim", "--execute"],
        env=ros_env(domain),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    probe = Probe(domain)
    try:
        probe.subscribe(DetectedObjectArray, common.OBJECTS_TOPIC, common.LATCHED)
        probe.subscribe(SpatialAnswer, common.ANSWER_TOPIC, common.RELIABLE)
        probe.subscribe(PickPlacePlan, common.PLAN_TOPIC, common.RELIABLE)
        probe.subscribe(NodeStatus, common.STATUS_TOPIC, common.RELIABLE)
        assert probe.spin_until(lambda: probe.received[common.OBJECTS_TOPIC], 40), "no objects from the graph"
        assert probe.wait_for_subscribers(common.COMMAND_TOPIC)
        probe.publish(String, common.COMMAND_TOPIC, String(data="put the block left of the bowl"), common.RELIABLE)
        assert probe.spin_until(lambda: probe.received[common.ANSWER_TOPIC], 20)
        answer = probe.received[common.ANSWER_TOPIC][0]
        assert answer.success and answer.has_placement, answer.error
        assert probe.spin_until(lambda: probe.received[common.PLAN_TOPIC], 20)
        assert not probe.received[common.PLAN_TOPIC][0].plan_only  # --execute

        def executed():
            return any(s.event == "execution" for s in probe.received[common.STATUS_TOPIC])

        assert probe.spin_until(executed, 30)
        assert proc.poll() is None
    finally:
        probe.close()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out[-2000:]
    assert "running sim_bridge, perception, reasoner, planner" in out
