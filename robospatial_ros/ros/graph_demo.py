"""`robospatial demo` through the node graph: the command travels over real DDS topics.

sim bridge (camera topics) -> perception (objects) -> reasoner (answer + placement) -> planner
(plan) -> sim bridge (execution) -> perception again -> reasoner (the check question).

The reasoner chooses the placement and the planner plans it with the main job of
`core.reasoning.job` (the same retry policy and plannability test as the direct demo), so the
same seed and command give the same outcome on both paths. `GraphSession` keeps one graph
running and lays the table out again for each episode (`/robospatial/sim/reset`).

`detections`: masks (default) lets the simulator's instance masks name the objects; none leaves the
perception node clustering (object_0, ... with colours), inside the workcell URDF's table workspace
as on a robot, so commands refer to objects by colour, size or position.

The demo's graph runs in a ROS domain of its own (unless told one): a graph already running in the
user's domain (`robospatial bringup`, `ros2 launch`) would otherwise answer its command too.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from rclpy.context import Context
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Int32, String

from robospatial_ros.core.configio import to_mapping
from robospatial_ros.core.errors import ConfigError, RoboSpatialError
from robospatial_ros.core.language.commands import PlacementCommand, parse_command
from robospatial_ros.core.language.questions import split_frame_phrase
from robospatial_ros.core.reasoning.job import JobConfig
from robospatial_ros.core.reasoning.reasoner import GeometricReasoner
from robospatial_ros.core.reasoning.viz import annotate, save_png, side_by_side
from robospatial_ros.core.scene import Scene
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.core.spatial.types import Frame, QueryType, Relation
from robospatial_ros.core.spatial.view import SceneView
from robospatial_ros.msg import DetectedObjectArray, NodeStatus, PickPlacePlan, SpatialAnswer, SpatialQuery
from robospatial_ros.ros import common
from robospatial_ros.ros import conversions as conv
from robospatial_ros.ros.bringup import start_graph, stop_graph
from robospatial_ros.ros.graph import LaunchArgs, package_files, workspace_overrides
from robospatial_ros.sim.demo import DEMO_DETECTIONS, true_query

MAX_DOMAIN_ID = 101  # 0..101 are valid on every platform (higher ones meet Linux's ephemeral ports)
FRAME_PHRASES = {"ego": " from the camera's perspective", "world": " from the robot's perspective"}


class DemoFailed(Exception):
    """Ends the demo early with '<stage>: <reason>'."""


class DemoClient(Node):
    """Listens to everything the demo needs and sends the command and the check question."""

    def __init__(self, **kwargs: Any):
        super().__init__("robospatial_demo", **kwargs)
        self.images: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()  # stamp -> (H, W, 3) RGB
        self.objects: list[DetectedObjectArray] = []
        self.truth: list[DetectedObjectArray] = []
        self.answers: list[SpatialAnswer] = []
        self.plans: list[PickPlacePlan] = []
        self.statuses: list[NodeStatus] = []
        self.create_subscription(Image, common.COLOR_TOPIC, self._on_image, common.SENSOR)
        self.create_subscription(DetectedObjectArray, common.OBJECTS_TOPIC, self.objects.append, common.LATCHED)
        self.create_subscription(DetectedObjectArray, common.GROUND_TRUTH_TOPIC, self.truth.append, common.LATCHED)
        self.create_subscription(SpatialAnswer, common.ANSWER_TOPIC, self.answers.append, common.RELIABLE)
        self.create_subscription(PickPlacePlan, common.PLAN_TOPIC, self.plans.append, common.RELIABLE)
        self.create_subscription(NodeStatus, common.STATUS_TOPIC, self.statuses.append, common.RELIABLE)
        self.command_pub = self.create_publisher(String, common.COMMAND_TOPIC, common.RELIABLE)
        self.query_pub = self.create_publisher(SpatialQuery, common.QUERY_TOPIC, common.RELIABLE)
        self.reset_pub = self.create_publisher(Int32, common.RESET_TOPIC, common.RELIABLE)

    def _on_image(self, msg: Image) -> None:
        self.images[(msg.header.stamp.sec, msg.header.stamp.nanosec)] = conv.color_from_msg(msg)
        while len(self.images) > 30:
            self.images.popitem(last=False)

    def image_at(self, msg: DetectedObjectArray) -> np.ndarray | None:
        return self.images.get((msg.header.stamp.sec, msg.header.stamp.nanosec))

    def objects_after(self, stamp_s: float, count: int = 1) -> DetectedObjectArray | None:
        """The first objects message stamped after `stamp_s`, once `count` of them have arrived."""
        newer = [o for o in self.objects if _stamp_s(o) > stamp_s]
        return newer[0] if len(newer) >= count else None


def _wait(what: str, found: Callable[[], Any], timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = found()
        if value is not None:
            return value
        time.sleep(0.01)
    raise DemoFailed(f"{what}: nothing within {timeout_s:.0f} s")


def _stamp_s(msg: Any) -> float:
    return conv.stamp_seconds(msg.header.stamp)


@dataclass
class GraphEpisode:
    """One command through the graph: the report (what `robospatial demo` writes) and what the picture needs."""

    report: dict[str, Any]
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return bool(self.report["success"])

    @property
    def failure(self) -> str:
        return str(self.report["failure"])


def _domain_is_quiet(domain_id: int, wait_s: float) -> bool:
    """No other ROS participant shows up on `domain_id` (this machine's discovery) within `wait_s`."""
    context = Context()
    rclpy.init(context=context, domain_id=domain_id)
    try:
        node = rclpy.create_node("robospatial_demo_domain_check", context=context)
        time.sleep(wait_s)
        quiet = len(node.get_node_names()) <= 1
        node.destroy_node()
        return quiet
    finally:
        rclpy.shutdown(context=context)


def private_domain_id(wait_s: float = 0.3, tries: int = 8) -> int:
    """A ROS domain for a graph of its own: not ROS_DOMAIN_ID (where the user's graph runs), not 0 (the
    default), and one where no other node shows up within `wait_s`."""
    taken = os.environ.get("ROS_DOMAIN_ID", "0").strip() or "0"
    candidates = [d for d in range(1, MAX_DOMAIN_ID + 1) if str(d) != taken]
    random.Random(time.time_ns() ^ os.getpid()).shuffle(candidates)
    return next((d for d in candidates[:tries] if _domain_is_quiet(d, wait_s)), candidates[0])


class GraphSession:
    """The sim graph (sim bridge, perception, reasoner, planner) running in this process, executing
    plans; `episode` lays the table out with a seed and runs one command through it. `domain_id`
    None: a private domain (private_domain_id). `detections`: masks or none (see the module doc)."""

    def __init__(
        self,
        spatial: SpatialConfig,
        job: JobConfig | None = None,
        timeout_s: float = 30.0,
        domain_id: int | None = None,
        detections: str = "masks",
    ):
        if detections not in DEMO_DETECTIONS:
            raise ConfigError(f"detections must be one of {', '.join(DEMO_DETECTIONS)}, got {detections!r}")
        self.spatial, self.timeout_s = spatial, timeout_s
        self.domain_id = private_domain_id() if domain_id is None else domain_id
        job = job or JobConfig()
        overrides = {
            "perception": _perception_overrides(detections),
            "planner": {"plan_only": False, "check_reachability": job.check_reachability, "check_path": job.check_path},
            "reasoner": {
                **{f"spatial.{k}": v for k, v in to_mapping(spatial).items()},
                **{f"job.{k}": v for k, v in to_mapping(job).items()},
            },
        }
        self.context, self.runner = start_graph(
            LaunchArgs(sim=True, plan_only=False), extra_overrides=overrides, domain_id=self.domain_id
        )
        self.client = DemoClient(context=self.context)
        self.runner.add(self.client)
        self.commands = 0

    def close(self) -> None:
        self.runner.remove(self.client)
        self.client.destroy_node()
        stop_graph(self.context, self.runner)

    def __enter__(self) -> GraphSession:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def episode(self, command: str, seed: int, frame: Frame | None = None) -> GraphEpisode:
        """`command` on the layout of `seed` (as `TabletopSim` lays it out), through the graph."""
        self.commands += 1
        report = {"success": False, "failure": "", "command": command, "seed": seed, "via": "ros2 graph"}
        ep = GraphEpisode({**report, "ros_domain_id": self.domain_id})
        try:
            _Steps(self, ep, f"cmd-{self.commands}").run(command, seed, frame)
            ep.report["success"] = True
        except DemoFailed as exc:
            ep.report["failure"] = str(exc)
        return ep


def _perception_overrides(detections: str) -> dict[str, Any]:
    """With no detections, the perception node clusters inside the URDF table's workspace (as the direct
    demo does), so the robot's base never becomes an object; with masks the sim's derived layer holds."""
    if detections == "masks":
        return {}
    return {"detections": "none", **workspace_overrides(package_files().urdf)}


def run_graph_demo(
    command: str,
    seed: int,
    spatial: SpatialConfig,
    out_dir: Path,
    frame: Frame | None = None,
    timeout_s: float = 30.0,
    domain_id: int | None = None,
    detections: str = "masks",
) -> dict:
    """One command through the graph; prints a summary, writes demo.png and report.json, returns the report."""
    with GraphSession(spatial, timeout_s=timeout_s, domain_id=domain_id, detections=detections) as session:
        ep = session.episode(command, seed, frame)
    out_dir.mkdir(parents=True, exist_ok=True)
    picture = _picture(ep.record, ep.report)
    if picture is not None:
        save_png(out_dir / "demo.png", picture)
    else:  # not an older run's
        (out_dir / "demo.png").unlink(missing_ok=True)
    (out_dir / "report.json").write_text(json.dumps(ep.report, indent=2))
    _print(ep.report, out_dir)
    return ep.report


class _Steps:
    """The stages of one graph episode, each waiting on what the graph publishes."""

    def __init__(self, session: GraphSession, ep: GraphEpisode, command_id: str):
        self.client, self.spatial, self.timeout_s = session.client, session.spatial, session.timeout_s
        self.report, self.record, self.id = ep.report, ep.record, command_id
        self.timings = self.report.setdefault("timings_ms", {})
        self.t0 = time.perf_counter()

    def lap(self, name: str) -> None:
        self.timings[name] = round((time.perf_counter() - self.t0) * 1e3 - sum(self.timings.values()), 1)

    def run(self, command: str, seed: int, frame: Frame | None) -> None:
        before = self._reset(seed)
        self.record["before"] = (self.client.image_at(before), conv.scene_from_msg(before))
        text = _with_frame(command, frame, self.record["before"][1].names)
        self.report["command"] = text
        self.lap("first_objects")
        self.client.command_pub.publish(String(data=text))
        answer = self._answer()
        self._wait_plan()
        self.lap("plan")
        done = self._wait("execution", lambda: _event(self.client, "execution", self.id), self.timeout_s + 30)
        self.lap("execute")
        if done.level != NodeStatus.OK:
            raise DemoFailed(f"execute: {done.message}")
        after = self._wait("perception after", lambda: self.client.objects_after(_stamp_s(done)))
        self.record["after"] = (self.client.image_at(after), conv.scene_from_msg(after))
        self.lap("objects_after")
        self._check(answer)
        self.lap("check")

    def _wait(self, what: str, found: Callable[[], Any], timeout_s: float | None = None) -> Any:
        return _wait(what, found, timeout_s or self.timeout_s)

    def _reset(self, seed: int) -> DetectedObjectArray:
        """Lay the table out with `seed` and return the first objects perceived after it. Waits for a
        second one, so the reasoner and the planner (which hear the same topic) have one too."""
        client = self.client
        self._wait("sim bridge", lambda: client.reset_pub.get_subscription_count() or None)
        prefix, start = f"tabletop seed {int(seed)}:", len(client.statuses)

        def reset_done() -> NodeStatus | None:
            fresh = client.statuses[start:]
            return next((s for s in fresh if s.event == "reset" and s.message.startswith(prefix)), None)

        client.reset_pub.publish(Int32(data=int(seed)))
        status = self._wait("reset", reset_done)
        self._wait("perception", lambda: client.objects_after(_stamp_s(status), count=2))
        return client.objects_after(_stamp_s(status))  # type: ignore[return-value]

    def _answer(self) -> SpatialAnswer:
        answer = self._wait("reasoner", lambda: next((a for a in self.client.answers if a.query_id == self.id), None))
        self.lap("answer")
        if not answer.success:
            raise DemoFailed(f"reason: {answer.error}")
        place = conv.pose_to_matrix(answer.placement)[:3, 3]
        self.record["placement"] = place
        self.record["candidates"] = conv.points_3d_from_msg(answer)  # (N, 3) base frame
        self.record["roles"] = {answer.target: (200, 110, 20), answer.reference: (40, 120, 220)}
        self.report["parsed"] = {
            "object": answer.target,
            "reference": answer.reference,
            "relation": answer.relation,
            "frame": answer.frame,
        }
        self.report["placement"] = {"xyz_m": np.round(place, 4).tolist()}
        return answer

    def _wait_plan(self) -> None:
        def plan_or_error() -> Any:
            plan = next((p for p in self.client.plans if p.command_id == self.id), None)
            return plan or _event(self.client, "plan", self.id, NodeStatus.ERROR)

        result = self._wait("planner", plan_or_error)
        if isinstance(result, NodeStatus):
            raise DemoFailed(f"plan: {result.message}")

    def _check(self, answer: SpatialAnswer) -> None:
        """Ask the reasoner, over the query topic, whether the command's relation holds now."""
        try:
            cmd = PlacementCommand(answer.target, answer.reference, Relation(answer.relation), Frame(answer.frame))
        except ValueError as exc:
            raise DemoFailed(f"check: the answer does not describe a placement ({exc})") from None
        question, qid = cmd.check_query(), f"check-{self.id}"
        self.client.query_pub.publish(
            SpatialQuery(
                query_id=qid, question=question.text, type=QueryType.CONFIGURATION.value, frame=question.frame.value
            )
        )
        reply = self._wait("check", lambda: next((a for a in self.client.answers if a.query_id == qid), None))
        truth = _ground_truth_answer(self.client, question, self.spatial, self.record["after"][1])
        self.report["check"] = {
            "question": question.text,
            "answer": reply.answer if reply.success else reply.error,
            "ground_truth_answer": truth,
        }
        if not (reply.success and reply.yes):
            raise DemoFailed(f"check: after execution the answer to {question.text!r} is {reply.answer or reply.error}")


def _with_frame(text: str, frame: Frame | None, names: list[str]) -> str:
    """`text` with its frame phrase replaced by one naming `frame` (as `--frame` does on the direct path)."""
    if frame is None:
        return text
    body = split_frame_phrase(" ".join(text.split()))[0]
    try:
        cmd = parse_command(body, names)
    except RoboSpatialError:
        return text  # the reasoner will say what is wrong with it
    if cmd.relation is Relation.ON_TOP:
        return text
    phrase = FRAME_PHRASES.get(frame.value, f" from the {cmd.reference}'s perspective")
    return body + phrase


def _event(client: DemoClient, event: str, event_id: str, level: int | None = None) -> NodeStatus | None:
    for s in client.statuses:
        if s.event == event and s.id == event_id and (level is None or s.level == level):
            return s
    return None


def _ground_truth_answer(client: DemoClient, question: Any, spatial: SpatialConfig, perceived: Scene) -> str:
    """The check on the simulator's exact boxes, fronts unknown as for perceived objects; the perceived
    names (object_3 without masks) become the simulator's by position."""
    if not client.truth:
        return "unknown"
    truth = conv.scene_from_msg(client.truth[-1]).with_unknown_facings()
    question = true_query(question, perceived, truth)
    return GeometricReasoner(spatial).answer(SceneView(truth, spatial), question).text


def _picture(record: dict, report: dict) -> np.ndarray | None:
    """Before and after, annotated; None when no camera image of them arrived (nothing to draw)."""
    panels = []
    for when in ("before", "after"):
        if when not in record or record[when][0] is None:
            continue
        image, scene = record[when]
        bgr = np.ascontiguousarray(image[:, :, ::-1])
        chosen = points = None
        if when == "before" and "placement" in record:
            chosen = scene.camera.project(record["placement"][None])[0][0]
            points = scene.camera.project(record["candidates"])[0] if len(record["candidates"]) else None
        panels.append(annotate(SceneView(scene), bgr, record.get("roles", {}), points, chosen))
    if not panels:
        return None
    verdict = "SUCCESS" if report["success"] else f"FAILED ({report['failure']})"
    return side_by_side(*panels, title=f"{report['command']!r} (seed {report['seed']}, ROS 2 graph): {verdict}")


def _print(report: dict, out_dir: Path) -> None:
    domain = report.get("ros_domain_id")
    print(f"command:   {report['command']!r} (seed {report['seed']}), through the ROS 2 node graph (domain {domain})")
    if "parsed" in report:
        p = report["parsed"]
        print(f"parsed:    {p['object']} {p['relation']} {p['reference']} ({p['frame']} frame)")
    if "placement" in report:
        print(f"placement: {report['placement']['xyz_m']} m")
    if "check" in report:
        c = report["check"]
        print(f"check:     {c['question']!r} -> {c['answer']} (ground truth: {c['ground_truth_answer']})")
    print("timings:   " + ", ".join(f"{k} {v:.0f}" for k, v in report.get("timings_ms", {}).items()) + " ms")
    print(f"result:    {'SUCCESS' if report['success'] else 'FAILED: ' + report['failure']}")
    picture = out_dir / "demo.png"
    print(f"wrote {picture} and {out_dir / 'report.json'}" if picture.is_file() else f"wrote {out_dir / 'report.json'}")
