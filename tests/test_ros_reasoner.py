"""The reasoner node as a real process over DDS: placements, questions, queries, bad input, bursts."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from message_strategies import question
from ros_helpers import Probe, fresh_domain_id, node_process, ros_env
from std_msgs.msg import String
from visualization_msgs.msg import Marker, MarkerArray

from robospatial_ros.core.configio import load_config
from robospatial_ros.core.errors import ConfigError
from robospatial_ros.core.language.commands import parse_command
from robospatial_ros.core.planning.pick_place import in_reach
from robospatial_ros.core.reasoning.job import PlannedPlacement, plan_placement
from robospatial_ros.core.reasoning.placement import placements
from robospatial_ros.core.scene import load_scene
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.core.spatial.view import SceneView
from robospatial_ros.msg import DetectedObjectArray, NodeStatus, SpatialAnswer, SpatialQuery
from robospatial_ros.ros.common import (
    ANSWER_TOPIC,
    COMMAND_TOPIC,
    LATCHED,
    MARKERS_TOPIC,
    NAMES_TOPIC,
    OBJECTS_TOPIC,
    PLACEMENT_TOPIC,
    QUERY_TOPIC,
    RELIABLE,
    STATUS_TOPIC,
)
from robospatial_ros.ros.conversions import scene_to_msg
from robospatial_ros.ros.nodes.reasoner_node import ReasonerNodeConfig

ROOT = Path(__file__).resolve().parents[1]
SCENE = ROOT / "robospatial_ros" / "data" / "tabletop_scene.json"
PARAMS = ["--params-file", str(ROOT / "config" / "reasoner.yaml")]
DOMAIN, LONELY_DOMAIN, BURST_DOMAIN = fresh_domain_id(), fresh_domain_id(), fresh_domain_id()
STREAM_DOMAIN = fresh_domain_id()  # a reasoner with a 3-request queue, objects streamed at 30 Hz
# The node's settings under config/reasoner.yaml: its NODE_CONFIG defaults with the tabletop's spatial
# semantics (tests/test_config_files.py checks the file says exactly that).
NODE_SETTINGS = ReasonerNodeConfig(
    spatial=load_config(SpatialConfig, ROOT / "robospatial_ros" / "data" / "tabletop.yaml")
)
PUT_CAN = "put the can to the left of the bowl"
PUT_MUG = "put the mug to the left of the bowl"  # the mug is 8 cm wide: more than the gripper takes
PUT_BOTTLE = "put the bottle in front of the bowl"


class Client:
    """A probe wired to one reasoner: objects, commands and queries out; answers, placements,
    markers and statuses in."""

    def __init__(self, domain_id: int):
        self.probe = Probe(domain_id)
        for msg_type, topic in (
            (SpatialAnswer, ANSWER_TOPIC),
            (PoseStamped, PLACEMENT_TOPIC),
            (MarkerArray, MARKERS_TOPIC),
            (NodeStatus, STATUS_TOPIC),
        ):
            self.probe.subscribe(msg_type, topic, RELIABLE)
        self.commands = self.probe.publisher(String, COMMAND_TOPIC, RELIABLE)
        self.queries = self.probe.publisher(SpatialQuery, QUERY_TOPIC, RELIABLE)
        self.objects = self.probe.publisher(DetectedObjectArray, OBJECTS_TOPIC, LATCHED)
        self.pings = 0
        self.streamed = 0

    def of(self, topic: str) -> list:
        return self.probe.received[topic]

    @property
    def answers(self) -> list[SpatialAnswer]:
        return self.of(ANSWER_TOPIC)

    def send_objects(self, without: str = "") -> None:
        scene = load_scene(SCENE)
        if without:
            scene = dataclasses.replace(scene, objects=tuple(o for o in scene.objects if o.name != without))
        self.objects.publish(scene_to_msg(scene, "panda_link0"))

    def stream_until(self, condition, timeout_s: float, without: str = "") -> bool:
        """Publish the objects at about 30 Hz (as perception does) until `condition` holds; the count
        sent is kept in `streamed`."""
        next_at = time.monotonic()

        def tick() -> bool:
            nonlocal next_at
            if time.monotonic() >= next_at:
                self.send_objects(without)
                self.streamed += 1
                next_at += 1.0 / 30.0
            return condition()

        return self.probe.spin_until(tick, timeout_s)

    def connect(self, timeout_s: float = 30.0, want_scene: bool = True) -> SpatialAnswer:
        """Wait until the reasoner hears commands and queries and answers them (pinged with queries,
        which leave the command count alone); with want_scene, until it has the objects too."""
        assert self.probe.spin_until(
            lambda: self.commands.get_subscription_count() > 0 and self.queries.get_subscription_count() > 0,
            timeout_s,
        ), "the reasoner never subscribed"
        for _ in range(int(timeout_s / 0.5)):
            self.pings += 1
            reply = self.query("is the mug left of the bowl?", f"ping-{self.pings}", timeout_s=0.5)
            if reply is not None and (reply.success or not want_scene):
                # Every ping answered (late ones included) and their markers in, before going on.
                assert self.probe.spin_until(
                    lambda: sum(a.query_id.startswith("ping-") for a in self.answers) == self.pings, 10.0
                )
                self.probe.spin_until(lambda: False, 0.3)
                return reply
        raise AssertionError("the reasoner never answered")

    def command(self, text: str, timeout_s: float = 10.0) -> SpatialAnswer:
        count = len(self.answers)
        self.commands.publish(String(data=text))
        assert self.probe.spin_until(lambda: len(self.answers) > count, timeout_s), f"no answer to {text!r}"
        return self.answers[count]

    def query(
        self, question: str, query_id: str, query_type: str = "", frame: str = "", timeout_s: float = 10.0
    ) -> SpatialAnswer | None:
        """The answer with this query_id (None on timeout)."""
        count = len(self.answers)
        self.queries.publish(SpatialQuery(query_id=query_id, question=question, type=query_type, frame=frame))
        mine = lambda: [a for a in self.answers[count:] if a.query_id == query_id]  # noqa: E731
        self.probe.spin_until(lambda: bool(mine()), timeout_s)
        return (mine() or [None])[0]


@pytest.fixture(scope="module")
def reasoners():
    """The main reasoner, one that never gets objects and one for the burst, each in its own domain."""
    with ExitStack() as stack:
        procs = {
            d: stack.enter_context(node_process("reasoner_node", d, PARAMS))
            for d in (DOMAIN, LONELY_DOMAIN, BURST_DOMAIN)
        }
        small_queue = [*PARAMS, "-p", "max_pending_requests:=3"]
        procs[STREAM_DOMAIN] = stack.enter_context(node_process("reasoner_node", STREAM_DOMAIN, small_queue))
        yield procs
        for proc in procs.values():
            assert proc.poll() is None, f"a reasoner died:\n{proc.read_log()}"


@pytest.fixture(scope="module")
def client(reasoners):
    c = Client(DOMAIN)
    c.send_objects()
    c.connect()
    yield c
    c.probe.close()


def cmd_number(answer: SpatialAnswer) -> int:
    assert answer.query_id.startswith("cmd-"), answer.query_id
    return int(answer.query_id[4:])


def test_placement_command_gives_answer_pose_and_markers(client):
    poses, marker_arrays = len(client.of(PLACEMENT_TOPIC)), len(client.of(MARKERS_TOPIC))
    answer = client.command(PUT_CAN)
    assert answer.success, answer.error
    assert (answer.type, answer.target, answer.reference, answer.relation, answer.frame) == (
        "placement",
        "can",
        "bowl",
        "left",
        "ego",
    )
    assert answer.has_placement and answer.question == PUT_CAN
    assert answer.header.frame_id == "panda_link0"
    assert any("no frame given" in a for a in answer.assumptions)
    # The same spot the main job chooses with the node's settings (tabletop config, the arm's reach,
    # the first plannable placement).
    expected = _main_job_choice(PUT_CAN).placement
    p = answer.placement.position
    np.testing.assert_allclose([p.x, p.y, p.z], expected.xyz, atol=1e-6)
    assert in_reach(np.array([[p.x, p.y, p.z]]), NODE_SETTINGS.planning)[0]
    q = answer.placement.orientation
    assert abs(q.x) < 1e-9 and abs(q.y) < 1e-9 and abs(q.z**2 + q.w**2 - 1.0) < 1e-6  # a turn about z only
    # Candidate points ride along (3D and normalized 2D, same count), best first.
    assert 0 < len(answer.points_3d) == len(answer.points_2d)
    assert all(0.0 <= pt.x <= 1.0 and 0.0 <= pt.y <= 1.0 for pt in answer.points_2d)

    assert client.probe.spin_until(
        lambda: len(client.of(PLACEMENT_TOPIC)) > poses and len(client.of(MARKERS_TOPIC)) > marker_arrays, 5.0
    )
    pose = client.of(PLACEMENT_TOPIC)[poses]
    assert pose.header.frame_id == "panda_link0" and pose.pose == answer.placement
    markers = client.of(MARKERS_TOPIC)[-1].markers
    assert markers[0].action == Marker.DELETEALL
    kinds = {m.type: m for m in markers[1:]}
    assert {Marker.SPHERE_LIST, Marker.SPHERE, Marker.TEXT_VIEW_FACING} <= set(kinds)
    chosen = kinds[Marker.SPHERE].pose.position
    assert (chosen.x, chosen.y, chosen.z) == pytest.approx((p.x, p.y, p.z))
    assert PUT_CAN in kinds[Marker.TEXT_VIEW_FACING].text


def _main_job_choice(command: str) -> PlannedPlacement:
    """What the main job chooses for `command` on the test scene with the node's settings."""
    scene = load_scene(SCENE)
    view, cmd = SceneView(scene, NODE_SETTINGS.spatial), parse_command(command, scene.names)
    candidates = placements(view, cmd, allowed=lambda xyz: in_reach(xyz, NODE_SETTINGS.planning))
    return plan_placement(view, cmd, NODE_SETTINGS.planning, NODE_SETTINGS.job, candidates)


def test_the_first_plannable_placement_is_chosen(client):
    """The bottle's best spots in front of the bowl are beyond what the arm can reach by IK: the node
    tries the next ones, as the main job does on the direct path, and publishes the first plannable."""
    answer = client.command(PUT_BOTTLE)
    assert answer.success and answer.has_placement, answer.error
    chosen = _main_job_choice(PUT_BOTTLE)
    assert chosen.tried > 1
    p = answer.placement.position
    np.testing.assert_allclose([p.x, p.y, p.z], chosen.placement.xyz, atol=1e-6)
    assert any(f"chose spot {chosen.tried}" in note for note in answer.assumptions), answer.assumptions


def test_node_parameters_come_from_one_config():
    from robospatial_ros.ros.nodes.reasoner_node import NODE_CONFIG
    from robospatial_ros.ros.params import parameter_defaults

    assert NODE_CONFIG is ReasonerNodeConfig
    names = parameter_defaults(ReasonerNodeConfig())
    assert {"backend", "base_frame", "check_reach", "spatial.grid_resolution_m", "planning.max_reach_m"} <= set(names)
    assert names["job.max_plan_tries"] == 25 and names["job.check_reachability"] is True
    with pytest.raises(ConfigError, match="unknown backend 'vlm'"):
        ReasonerNodeConfig(backend="vlm")


def test_query_gets_its_own_id(client):
    answer = client.query("is the mug to the left of the bowl from the robot's perspective?", "q-42")
    assert answer is not None and answer.success, answer
    assert (answer.query_id, answer.type, answer.frame, answer.answer, answer.yes) == (
        "q-42",
        "configuration",
        "world",
        "Yes",
        True,
    )
    forced = client.query("points in the free space behind the bowl", "q-43", "context", "world")
    assert forced is not None and forced.success and forced.query_id == "q-43"
    assert (forced.type, forced.frame) == ("context", "world") and len(forced.points_3d) > 0
    bad = client.query("is the mug left of the bowl?", "q-44", query_type="bogus")
    assert bad is not None and not bad.success and bad.query_id == "q-44" and "bogus" in bad.error


def test_question_on_the_command_topic(client):
    answer = client.command("is the mug to the left of the bowl?")
    assert answer.success and answer.type == "configuration" and answer.answer == "No"  # the camera faces the robot
    assert not answer.has_placement
    points = client.command("points in the free space in front of the bowl")
    assert points.success and points.type == "context" and points.answer.startswith("[(")
    assert cmd_number(points) == cmd_number(answer) + 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("asdf qwerty zxcv", "neither a placement command"),
        ("", "empty command"),
        ("put the cup to the left of the bowl", "unknown object 'cup'"),
        ("put the mug near the bowl", "no placement relation"),
        ("put the mug behind the box from the robot's perspective", "out of the arm's reach"),
        ("put the box on the mug", "cannot put the box on the mug"),
        (PUT_MUG, "none could be planned; the last: the object is 8.0 cm wide"),
        ("is the mug near the bowl?", "no spatial relation"),
    ],
)
def test_bad_input_is_answered_and_the_node_keeps_serving(client, reasoners, text, expected):
    bad = client.command(text)
    assert not bad.success and expected in bad.error, bad.error
    assert "\n" not in bad.error and bad.question == text and not bad.has_placement
    good = client.command(PUT_CAN)
    assert good.success and good.has_placement
    assert cmd_number(good) == cmd_number(bad) + 1
    assert reasoners[DOMAIN].poll() is None
    assert client.probe.spin_until(
        lambda: any(
            s.level == NodeStatus.WARN and s.id == bad.query_id and s.event == "command"
            for s in client.of(STATUS_TOPIC)
        ),
        5.0,
    )


def test_command_before_any_objects(reasoners):
    c = Client(LONELY_DOMAIN)
    try:
        ping = c.connect(want_scene=False)
        assert not ping.success and ping.error == "no objects received yet on /robospatial/objects"
        early = c.command(PUT_CAN)
        assert not early.success and early.query_id == "cmd-1"
        assert early.error == "no objects received yet on /robospatial/objects"
        c.send_objects()
        c.connect()
        late = c.command(PUT_CAN)
        assert late.success and late.has_placement and late.query_id == "cmd-2"
        assert reasoners[LONELY_DOMAIN].poll() is None
    finally:
        c.probe.close()


def test_burst_of_100_commands_answered_in_order(reasoners):
    c = Client(BURST_DOMAIN)
    try:
        c.send_objects()
        c.connect()
        cycle = [
            PUT_CAN,
            "is the mug behind the bowl?",
            "gibberish !!",
            "put the can in front of the bowl from the robot's perspective",
            "put the cup left of the bowl",
        ]
        texts = [cycle[k % 5] for k in range(100)]
        start = len(c.answers)
        for text in texts:
            c.commands.publish(String(data=text))
        assert c.probe.spin_until(lambda: len(c.answers) >= start + 100, 60.0), f"{len(c.answers) - start} answers"
        burst = c.answers[start:]
        assert [a.query_id for a in burst] == [f"cmd-{k}" for k in range(1, 101)]
        assert [a.question for a in burst] == texts
        assert [a.success for a in burst] == [k % 5 in (0, 1, 3) for k in range(100)], [a.error for a in burst]
        assert reasoners[BURST_DOMAIN].poll() is None
    finally:
        c.probe.close()


# What a DDS string can carry (no NUL), from the fuzzed questions, plus commands at and past the length limit.
dds_text = (question | st.text(alphabet="ab put,?", min_size=1990, max_size=2010)).map(lambda t: t.replace("\x00", ""))


@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(texts=st.lists(dds_text, min_size=10, max_size=10))
def test_fuzzed_commands_each_get_one_typed_answer_in_order(client, reasoners, texts):
    start = len(client.answers)
    for text in texts:
        client.commands.publish(String(data=text))
    assert client.probe.spin_until(lambda: len(client.answers) >= start + len(texts), 60.0)
    got = client.answers[start:]
    numbers = [cmd_number(a) for a in got]
    assert numbers == list(range(numbers[0], numbers[0] + len(texts))) and [a.question for a in got] == texts
    errors = [a.error for a in got if not a.success]
    assert all(e and "\n" not in e and not e.startswith("internal error") for e in errors), errors
    assert reasoners[DOMAIN].poll() is None


def test_bad_parameters_exit_2_with_one_line():
    cases = {
        "backend:=vlm": "unknown backend 'vlm'",
        "spatial.strictness:=sloppy": "strictness must be one of",
        "planning.approach_height_m:=-1.0": "approach_height_m must be positive",
        "job.max_plan_tries:=0": "max_plan_tries must be at least 1",
    }
    procs = {
        arg: subprocess.Popen(
            [sys.executable, "-m", "robospatial_ros.ros.nodes.reasoner_node", "--ros-args", *PARAMS, "-p", arg],
            env=ros_env(fresh_domain_id()),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for arg in cases
    }
    for arg, proc in procs.items():
        output = proc.communicate(timeout=60)[0]
        assert proc.returncode == 2, output
        assert len([line for line in output.splitlines() if cases[arg] in line]) == 1, output


def test_a_naming_command_is_forwarded_to_perception_with_the_id(client):
    client.probe.subscribe(String, NAMES_TOPIC, RELIABLE)
    assert client.probe.wait_for_publishers(NAMES_TOPIC, 1, 15)
    client.probe.spin_until(lambda: False, 0.3)  # the names reader matched before the command goes out
    answer = client.command("call the mug the coffee cup")
    assert answer.success and answer.type == "naming" and answer.target == "mug", answer.error
    assert client.probe.spin_until(lambda: bool(client.of(NAMES_TOPIC)), 5.0)
    assert client.of(NAMES_TOPIC)[-1].data == 'call mug "coffee cup"'
    bad = client.command("call the cup the mug")  # no cup: an error answer, nothing forwarded
    assert not bad.success and "unknown object" in bad.error and len(client.of(NAMES_TOPIC)) == 1


def test_commands_use_the_latest_objects_while_they_stream_and_a_full_queue_answers_busy(reasoners):
    """Objects at 30 Hz are only kept on arrival: each command is answered from the latest message (the
    scene is built when a command needs it), and a burst beyond the 3-request queue is answered "busy" at
    once instead of queueing without limit; every command still gets exactly one answer."""
    c = Client(STREAM_DOMAIN)
    try:
        c.send_objects()
        c.connect()
        count = len(c.answers)
        c.commands.publish(String(data=PUT_CAN))
        assert c.stream_until(lambda: len(c.answers) > count, 20.0), "no answer while objects stream"
        assert c.answers[count].success and c.answers[count].has_placement, c.answers[count].error
        # The stream now lacks the can: the next command sees that scene, not the one it was prepared for.
        c.stream_until(lambda: False, 0.5, without="can")
        count = len(c.answers)
        c.commands.publish(String(data=PUT_CAN))
        assert c.stream_until(lambda: len(c.answers) > count, 20.0, without="can")
        assert not c.answers[count].success and "unknown object 'can'" in c.answers[count].error
        assert c.streamed >= 10

        start, first = len(c.answers), cmd_number(c.answers[count]) + 1
        for _ in range(20):  # each needs seconds of planning (none of its spots can be planned)
            c.commands.publish(String(data=PUT_MUG))
        assert c.stream_until(lambda: len(c.answers) >= start + 20, 120.0), f"{len(c.answers) - start} answers"
        burst = c.answers[start:]
        assert sorted(cmd_number(a) for a in burst) == list(range(first, first + 20))
        busy = [a for a in burst if a.error.startswith("busy")]
        served = [a for a in burst if not a.error.startswith("busy")]
        assert busy and len(served) >= 4, [a.error for a in burst]  # one at work and three queued, at least
        assert all(not a.success and "busy: 3 requests are waiting" in a.error for a in busy)
        assert all("none could be planned" in a.error for a in served)
        assert [cmd_number(a) for a in served] == sorted(cmd_number(a) for a in served)  # in arrival order
        assert reasoners[STREAM_DOMAIN].poll() is None
    finally:
        c.probe.close()


def test_queue_size_is_validated():

    assert ReasonerNodeConfig().max_pending_requests >= 100  # a burst of 100 is queued, not refused
    with pytest.raises(ConfigError, match="max_pending_requests must be at least 1"):
        ReasonerNodeConfig(max_pending_requests=0)
