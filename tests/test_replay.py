"""`robospatial replay BAG`: a ROS 2 bag of the simulator's camera topics, recorded here over DDS, played into a
running graph (perception, reasoner, planner) from .mcap and .db3, perceived and commanded on."""

import os
import re
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import pytest
from ros_helpers import Probe, fresh_domain_id, record_sim_bags, ros_env
from std_msgs.msg import String

from robospatial_ros.core.errors import ConfigError
from robospatial_ros.msg import DetectedObjectArray, SpatialAnswer
from robospatial_ros.ros import common
from robospatial_ros.ros.bringup import start_graph, stop_graph
from robospatial_ros.ros.graph import LaunchArgs, sim_perception_overrides, write_params_file
from robospatial_ros.ros.replay import BagPlayer, ReplayConfig, ReplayError

EXE = Path(sys.executable).parent / "robospatial"
FRAMES = 10
SUMMARY = re.compile(
    r"replayed (\d+) messages of (\d+) topics .* in ([\d.]+) s: (\d+) frames on (\S+) \(([\d.]+) frames/s\)"
)


@pytest.fixture(scope="module")
def bags(tmp_path_factory, large_data_dds):
    return record_sim_bags(tmp_path_factory.mktemp("bags"), FRAMES, fresh_domain_id())


def perception_params(path: Path) -> Path:
    """What the graph needs to perceive the simulator's recording: its camera pose and its masks."""
    return write_params_file(path, {"perception": sim_perception_overrides()})


def replay(domain: int, bag: Path, *args: str, probe: Probe | None = None) -> subprocess.CompletedProcess:
    """`robospatial replay BAG ARGS` in `domain`; `probe` keeps spinning (collecting) meanwhile."""
    cmd = [str(c) for c in (EXE, "replay", bag, *args)]
    proc = subprocess.Popen(cmd, env=ros_env(domain), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if probe is not None:
        probe.spin_until(lambda: proc.poll() is not None, 120)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


@pytest.fixture(scope="module")
def graph(tmp_path_factory, large_data_dds):
    """The robot graph (no simulator) in this process, listening to the recorded camera topics."""
    domain = fresh_domain_id()
    params = perception_params(tmp_path_factory.mktemp("params") / "perception.yaml")
    context, runner = start_graph(LaunchArgs(), [params], domain_id=domain)
    probe = Probe(domain)
    probe.subscribe(DetectedObjectArray, common.OBJECTS_TOPIC, common.RELIABLE)  # every one, not the latest
    probe.subscribe(SpatialAnswer, common.ANSWER_TOPIC, common.RELIABLE)
    yield domain, probe
    probe.close()
    stop_graph(context, runner)


@pytest.mark.parametrize("storage", ["mcap", "db3"])
def test_a_recorded_bag_is_perceived_and_commanded_on(bags, graph, storage):
    domain, probe = graph
    before = len(probe.received[common.OBJECTS_TOPIC])
    out = replay(domain, bags[storage], "--rate", "0", probe=probe)
    assert out.returncode == 0, out.stderr[-3000:]
    stats = SUMMARY.search(out.stdout)
    assert stats, out.stdout
    messages, topics, _, frames, frame_topic, fps = stats.groups()
    assert (int(messages), int(topics), int(frames)) == (4 * FRAMES, 4, FRAMES) and frame_topic == common.COLOR_TOPIC
    print(f"\n{storage}: replayed {frames} frames at {float(fps):.1f} frames/s")
    # Perception saw the recording: objects stamped with the recorded frames' stamps, named by the masks.
    assert probe.spin_until(lambda: len(probe.received[common.OBJECTS_TOPIC]) > before, 20)
    objects = probe.received[common.OBJECTS_TOPIC][-1]
    assert {"mug", "bowl", "can"} <= {o.id for o in objects.objects}
    answers = len(probe.received[common.ANSWER_TOPIC])
    probe.publish(String, common.COMMAND_TOPIC, String(data="put the can to the right of the bowl"), common.RELIABLE)
    assert probe.spin_until(lambda: len(probe.received[common.ANSWER_TOPIC]) > answers, 20)
    answer = probe.received[common.ANSWER_TOPIC][-1]
    assert answer.success and answer.has_placement, answer.error


def test_recorded_rate_and_topic_choice(bags, graph):
    """--rate 1 takes the recording's time (0.9 s for 10 frames at 10 Hz) and perception keeps up with it;
    --rate 0 does not wait; --topic plays only the topics named."""
    domain, probe = graph
    before = len(probe.received[common.OBJECTS_TOPIC])
    out = replay(domain, bags["mcap"], "--rate", "1", probe=probe)
    assert out.returncode == 0, out.stderr
    messages, _, seconds, frames, _, _ = SUMMARY.search(out.stdout).groups()
    assert (int(messages), int(frames)) == (4 * FRAMES, FRAMES) and 0.7 < float(seconds) < 2.0, out.stdout
    probe.spin_until(lambda: False, 1.0)
    perceived = len(probe.received[common.OBJECTS_TOPIC]) - before
    print(f"\nat the recorded rate: {perceived} of {FRAMES} frames perceived in {float(seconds):.2f} s")
    assert perceived >= FRAMES - 2
    out = replay(fresh_domain_id(), bags["mcap"], "--rate", "0", "--wait", "0", "--topic", common.COLOR_TOPIC)
    assert out.returncode == 0, out.stderr
    messages, topics, seconds, frames, _, _ = SUMMARY.search(out.stdout).groups()
    assert (int(messages), int(topics), int(frames)) == (FRAMES, 1, FRAMES) and float(seconds) < 0.5


def test_bad_bags_exit_2_with_one_line(bags, tmp_path):
    (tmp_path / "notabag.mcap").write_bytes(b"nonsense")
    cases = [
        (tmp_path / "missing.mcap", "bag not found"),
        (tmp_path / "notabag.mcap", "cannot read the bag"),
        (bags["db3"], "not in the bag"),
    ]
    for bag, needle in cases:
        extra = ["--topic", "/no/such/topic"] if bag == bags["db3"] else []
        out = replay(fresh_domain_id(), bag, "--wait", "0", *extra)
        assert out.returncode == 2, out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("robospatial replay: error: ") and needle in lines[0], lines


def test_replay_config_is_validated_and_topics_checked(bags):
    with pytest.raises(ConfigError, match="rate"):
        ReplayConfig(rate=-1)
    with pytest.raises(ReplayError, match="/nope"):
        BagPlayer(bags["mcap"], ReplayConfig(topics=("/nope",)))
