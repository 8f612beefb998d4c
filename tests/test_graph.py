"""The whole graph: `robospatial bringup` as a process, and the demo driven only through topics."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np
import rclpy
from rclpy.context import Context
from ros_helpers import Probe, Process, fresh_domain_id, ros_env
from std_msgs.msg import String

from robospatial_ros.core.configio import load_config
from robospatial_ros.core.resources import DEFAULT_TABLETOP_CONFIG
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.core.spatial.types import Frame
from robospatial_ros.msg import DetectedObjectArray, NodeStatus, PickPlacePlan, SpatialAnswer
from robospatial_ros.ros import common
from robospatial_ros.ros.graph import GraphRunner, sim_perception_overrides
from robospatial_ros.ros.graph_demo import GraphSession, run_graph_demo
from robospatial_ros.sim.tabletop import TabletopConfig, TabletopSim

REPO = Path(__file__).resolve().parents[1]
EXE = Path(sys.executable).parent / "robospatial"


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


def _user_params(tmp_path: Path) -> tuple[Path, list[float]]:
    """A params file setting what bringup used to override: the camera pose (1 mm off the simulator's),
    plan_only and the backend (which the explicit --backend overrides)."""
    position = [v + 0.001 for v in sim_perception_overrides()["camera_position_m"]]
    path = tmp_path / "params.yaml"
    path.write_text(
        f"perception:\n  ros__parameters:\n    camera_position_m: {position}\n"
        "planner:\n  ros__parameters:\n    plan_only: false\n"
        "reasoner:\n  ros__parameters:\n    backend: hybrid\n"
    )
    return path, position


def test_bringup_serves_the_sim_graph_until_interrupted_and_a_demo_beside_it_keeps_to_itself(tmp_path):
    """`robospatial bringup --sim`: the params file wins over the package's values, explicit options over the
    file; a command is placed and executed. `robospatial demo` started in the same ROS domain runs its graph
    in a private one: it succeeds, and the bringup's reasoner never hears its command."""
    domain = fresh_domain_id()
    params, position = _user_params(tmp_path)
    bringup = Process([EXE, "bringup", "--sim", "--params", params, "--backend", "geometric"], ros_env(domain))
    probe = Probe(domain)
    try:
        probe.subscribe(DetectedObjectArray, common.OBJECTS_TOPIC, common.LATCHED)
        probe.subscribe(SpatialAnswer, common.ANSWER_TOPIC, common.RELIABLE)
        probe.subscribe(PickPlacePlan, common.PLAN_TOPIC, common.RELIABLE)
        probe.subscribe(NodeStatus, common.STATUS_TOPIC, common.RELIABLE)
        assert probe.spin_until(lambda: probe.received[common.OBJECTS_TOPIC], 40), bringup.output[-3000:]
        assert probe.get_parameters("perception", ["camera_position_m"])["camera_position_m"] == position
        assert probe.get_parameters("reasoner", ["backend"])["backend"] == "geometric"
        assert probe.wait_for_subscribers(common.COMMAND_TOPIC)
        probe.publish(String, common.COMMAND_TOPIC, String(data="put the block left of the bowl"), common.RELIABLE)
        assert probe.spin_until(lambda: probe.received[common.ANSWER_TOPIC], 20)
        answer = probe.received[common.ANSWER_TOPIC][0]
        assert answer.success and answer.has_placement and answer.query_id == "cmd-1", answer.error
        assert probe.spin_until(lambda: probe.received[common.PLAN_TOPIC], 20)
        assert not probe.received[common.PLAN_TOPIC][0].plan_only  # the params file's plan_only: false

        def executed():
            return any(s.event == "execution" for s in probe.received[common.STATUS_TOPIC])

        assert probe.spin_until(executed, 30)
        demo = subprocess.run(
            [EXE, "demo", "put the can to the right of the bowl", "--out", tmp_path / "demo"],
            env=ros_env(domain),  # the bringup's domain: the demo must keep to its own
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-3000:]
        assert "result:    SUCCESS" in demo.stdout and "Traceback" not in demo.stderr, demo.stderr[-3000:]
        assert f"(domain {domain})" not in demo.stdout
        probe.spin_until(lambda: False, 1.0)
        assert [a.query_id for a in probe.received[common.ANSWER_TOPIC]] == ["cmd-1"]
        assert bringup.proc.poll() is None
    finally:
        probe.close()
        code = bringup.stop()
    assert code == 0, bringup.output[-2000:]
    assert "running sim_bridge, perception, reasoner, planner" in bringup.output
    assert f"config/ and urdf/ from {REPO} (checkout)" in bringup.output


def test_the_runner_lets_a_running_callback_end_before_destroying_its_node():
    """A callback still running at shutdown (a placement being checked, a plan) ends before its node goes: the
    runner used to destroy it after 2 s, and the callback's publish raised rclpy's InvalidHandle in the spin
    thread (the traceback a failing demo printed at exit)."""
    context = Context()
    rclpy.init(context=context, domain_id=fresh_domain_id())
    errors: list[BaseException] = []
    hook, threading.excepthook = threading.excepthook, lambda args: errors.append(args.exc_value)
    try:
        runner = GraphRunner([], context=context).start()
        node = rclpy.create_node("slow_worker", context=context)
        out = node.create_publisher(String, "/slow/out", 10)
        started, done = threading.Event(), threading.Event()

        def slow(_: String) -> None:
            started.set()
            time.sleep(4.5)  # longer than the old 2 s + 2 s of waiting
            out.publish(String(data="done"))
            done.set()

        node.create_subscription(String, "/slow/in", slow, 10)
        runner.add(node)
        trigger = node.create_publisher(String, "/slow/in", 10)
        deadline = time.monotonic() + 10
        while not started.is_set() and time.monotonic() < deadline:
            trigger.publish(String(data="go"))
            time.sleep(0.1)
        assert started.is_set()
        assert runner.remove(node)  # waited for the callback
        node.destroy_node()
        runner.shutdown()
    finally:
        threading.excepthook = hook
        rclpy.shutdown(context=context)
    assert done.is_set() and not errors, errors
