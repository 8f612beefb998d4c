"""`robospatial demo` through the node graph: the command travels over real DDS topics.

sim bridge (camera topics) -> perception (objects) -> reasoner (answer + placement) -> planner
(plan) -> sim bridge (execution) -> perception again -> reasoner (the check question).
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import String

from robospatial_ros.core.configio import to_mapping
from robospatial_ros.core.language.commands import PlacementCommand
from robospatial_ros.core.reasoning.reasoner import GeometricReasoner
from robospatial_ros.core.reasoning.viz import annotate, save_png, side_by_side
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.core.spatial.types import Frame, QueryType, Relation
from robospatial_ros.core.spatial.view import SceneView
from robospatial_ros.msg import DetectedObjectArray, NodeStatus, PickPlacePlan, SpatialAnswer, SpatialQuery
from robospatial_ros.ros import common
from robospatial_ros.ros import conversions as conv
from robospatial_ros.ros.bringup import start_graph, stop_graph
from robospatial_ros.ros.graph import LaunchArgs

GROUND_TRUTH_TOPIC = "/robospatial/sim/ground_truth"
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
        self.create_subscription(DetectedObjectArray, GROUND_TRUTH_TOPIC, self.truth.append, common.LATCHED)
        self.create_subscription(SpatialAnswer, common.ANSWER_TOPIC, self.answers.append, common.RELIABLE)
        self.create_subscription(PickPlacePlan, common.PLAN_TOPIC, self.plans.append, common.RELIABLE)
        self.create_subscription(NodeStatus, common.STATUS_TOPIC, self.statuses.append, common.RELIABLE)
        self.command_pub = self.create_publisher(String, common.COMMAND_TOPIC, common.RELIABLE)
        self.query_pub = self.create_publisher(SpatialQuery, common.QUERY_TOPIC, common.RELIABLE)

    def _on_image(self, msg: Image) -> None:
        self.images[(msg.header.stamp.sec, msg.header.stamp.nanosec)] = conv.color_from_msg(msg)
        while len(self.images) > 30:
            self.images.popitem(last=False)

    def image_at(self, msg: DetectedObjectArray) -> np.ndarray | None:
        return self.images.get((msg.header.stamp.sec, msg.header.stamp.nanosec))


def _wait(what: str, found: Callable[[], Any], timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = found()
        if value is not None:
            return value
        time.sleep(0.01)
    raise DemoFailed(f"{what}: nothing within {timeout_s:.0f} s")


def _stamp_s(msg: Any) -> float:
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


def run_graph_demo(
    command: str,
    seed: int,
    spatial: SpatialConfig,
    out_dir: Path,
    frame: Frame | None = None,
    timeout_s: float = 30.0,
    domain_id: int | None = None,
) -> dict:
    """One command through the graph; prints a summary, writes demo.png and report.json, returns the report."""
    text = command + (FRAME_PHRASES.get(frame.value, "") if frame is not None else "")
    overrides = {
        "sim_bridge": {"sim.seed": seed},
        "planner": {"plan_only": False},
        "reasoner": {f"spatial.{k}": v for k, v in to_mapping(spatial).items()},
    }
    context, runner = start_graph(LaunchArgs(sim=True, plan_only=False), extra_overrides=overrides, domain_id=domain_id)
    client = DemoClient(context=context)
    runner.add(client)
    report: dict[str, Any] = {"success": False, "failure": "", "command": text, "seed": seed, "via": "ros2 graph"}
    record: dict[str, Any] = {}
    try:
        _steps(client, text, spatial, report, record, timeout_s)
        report["success"] = True
    except DemoFailed as exc:
        report["failure"] = str(exc)
    finally:
        runner.remove(client)
        client.destroy_node()
        stop_graph(context, runner)
    out_dir.mkdir(parents=True, exist_ok=True)
    if "before" in record:
        save_png(out_dir / "demo.png", _picture(record, report))
    (out_dir / "report.json").write_text(json.dumps(report, indent=2))
    _print(report, out_dir)
    return report


def _steps(client: DemoClient, text: str, spatial: SpatialConfig, report: dict, record: dict, timeout_s: float) -> None:
    t0 = time.perf_counter()
    timings = report.setdefault("timings_ms", {})

    def lap(name: str) -> None:
        timings[name] = round((time.perf_counter() - t0) * 1e3 - sum(timings.values()), 1)

    before = _wait("perception", lambda: client.objects[-1] if client.objects else None, timeout_s)
    record["before"] = (client.image_at(before), conv.scene_from_msg(before))
    lap("first_objects")
    client.command_pub.publish(String(data=text))
    answer = _wait("reasoner", lambda: next((a for a in client.answers if a.query_id == "cmd-1"), None), timeout_s)
    lap("answer")
    if not answer.success:
        raise DemoFailed(f"reason: {answer.error}")
    place = conv.pose_to_matrix(answer.placement)[:3, 3]
    record["placement"] = place
    record["candidates"] = conv.points_3d_from_msg(answer)  # (N, 3) base frame
    record["roles"] = {answer.target: (200, 110, 20), answer.reference: (40, 120, 220)}
    report["parsed"] = {
        "object": answer.target,
        "reference": answer.reference,
        "relation": answer.relation,
        "frame": answer.frame,
    }
    report["placement"] = {"xyz_m": np.round(place, 4).tolist()}
    _wait_plan(client, timeout_s)
    lap("plan")
    done = _wait("execution", lambda: _event(client, "execution", "cmd-1"), timeout_s + 30)
    lap("execute")
    if done.level != NodeStatus.OK:
        raise DemoFailed(f"execute: {done.message}")
    after = _wait(
        "perception after", lambda: next((o for o in client.objects if _stamp_s(o) > _stamp_s(done)), None), timeout_s
    )
    record["after"] = (client.image_at(after), conv.scene_from_msg(after))
    lap("objects_after")
    _check(client, answer, spatial, report, timeout_s)
    lap("check")


def _wait_plan(client: DemoClient, timeout_s: float) -> None:
    def plan_or_error() -> Any:
        plan = next((p for p in client.plans if p.command_id == "cmd-1"), None)
        error = _event(client, "plan", "cmd-1", NodeStatus.ERROR)
        return plan or error

    result = _wait("planner", plan_or_error, timeout_s)
    if isinstance(result, NodeStatus):
        raise DemoFailed(f"plan: {result.message}")


def _event(client: DemoClient, event: str, event_id: str, level: int | None = None) -> NodeStatus | None:
    for s in client.statuses:
        if s.event == event and s.id == event_id and (level is None or s.level == level):
            return s
    return None


def _check(client: DemoClient, answer: SpatialAnswer, spatial: SpatialConfig, report: dict, timeout_s: float) -> None:
    """Ask the reasoner, over the query topic, whether the command's relation holds now."""
    try:
        cmd = PlacementCommand(answer.target, answer.reference, Relation(answer.relation), Frame(answer.frame))
    except ValueError as exc:
        raise DemoFailed(f"check: the answer does not describe a placement ({exc})") from None
    question = cmd.check_query()
    client.query_pub.publish(
        SpatialQuery(
            query_id="check", question=question.text, type=QueryType.CONFIGURATION.value, frame=question.frame.value
        )
    )
    reply = _wait("check", lambda: next((a for a in client.answers if a.query_id == "check"), None), timeout_s)
    truth = _ground_truth_answer(client, question, spatial)
    report["check"] = {
        "question": question.text,
        "answer": reply.answer if reply.success else reply.error,
        "ground_truth_answer": truth,
    }
    if not (reply.success and reply.yes):
        raise DemoFailed(f"check: after execution the answer to {question.text!r} is {reply.answer or reply.error}")


def _ground_truth_answer(client: DemoClient, question: Any, spatial: SpatialConfig) -> str:
    """The check on the simulator's exact boxes, fronts unknown as for perceived objects."""
    if not client.truth:
        return "unknown"
    truth = conv.scene_from_msg(client.truth[-1]).with_unknown_facings()
    return GeometricReasoner(spatial).answer(SceneView(truth, spatial), question).text


def _picture(record: dict, report: dict) -> np.ndarray:
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
    verdict = "SUCCESS" if report["success"] else f"FAILED ({report['failure']})"
    return side_by_side(*panels, title=f"{report['command']!r} (seed {report['seed']}, ROS 2 graph): {verdict}")


def _print(report: dict, out_dir: Path) -> None:
    print(f"command:   {report['command']!r} (seed {report['seed']}), through the ROS 2 node graph")
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
    print(f"wrote {out_dir / 'demo.png'} and {out_dir / 'report.json'}")
