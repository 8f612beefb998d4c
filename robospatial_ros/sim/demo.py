"""The main job on the simulated tabletop: a command in, the object moved, the relation checked.

render -> perceive -> parse the command -> context query -> placement -> pick-and-place plan
-> execute in MuJoCo -> render and perceive again -> ask whether the relation now holds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from robospatial_ros.core.errors import RoboSpatialError
from robospatial_ros.core.language.commands import PlacementCommand, parse_command
from robospatial_ros.core.language.questions import Query
from robospatial_ros.core.perception.pipeline import Perception, PerceptionConfig, PerceptionResult
from robospatial_ros.core.planning.pick_place import (
    PickPlaceConfig,
    PickPlacePlan,
    in_reach,
    plan_pick_place,
    scene_obstacles,
)
from robospatial_ros.core.reasoning.placement import Placement, placements
from robospatial_ros.core.reasoning.reasoner import Answer, GeometricReasoner
from robospatial_ros.core.reasoning.viz import annotate, save_png, side_by_side
from robospatial_ros.core.scene import Scene
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.core.spatial.types import Frame, QueryType, Relation
from robospatial_ros.core.spatial.view import SceneView
from robospatial_ros.sim.tabletop import SimFrame, TabletopConfig, TabletopSim

MAX_PLAN_TRIES = 25  # placements tried, best first, until one can be planned


@dataclass
class DemoConfig:
    """Everything one episode needs; each part has its own validated config."""

    spatial: SpatialConfig = field(default_factory=SpatialConfig)
    perception: PerceptionConfig = field(default_factory=PerceptionConfig)
    planning: PickPlaceConfig = field(default_factory=PickPlaceConfig)
    sim: TabletopConfig = field(default_factory=TabletopConfig)


@dataclass
class Episode:
    """What happened in one episode: filled stage by stage, `failure` names the stage that failed."""

    command: str
    seed: int
    success: bool = False
    failure: str = ""  # "" on success, else "<stage>: <reason>"
    parsed: PlacementCommand | None = None
    context: Answer | None = None
    placement: Placement | None = None
    check: Answer | None = None
    check_ground_truth: bool | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    frames: dict[str, SimFrame] = field(default_factory=dict)
    perceived: dict[str, PerceptionResult] = field(default_factory=dict)
    moved_m: float = 0.0

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings_ms[name] = round((time.perf_counter() - start) * 1e3, 1)


class StageFailed(Exception):
    """Ends an episode early; carries '<stage>: <reason>'."""


def run_episode(command: str, seed: int, config: DemoConfig, frame: Frame | None = None) -> Episode:
    """One command on a freshly laid out tabletop. Never raises for a failed stage: see `failure`."""
    ep = Episode(command, seed)
    try:
        _run(ep, config, frame)
    except StageFailed as exc:
        ep.failure = str(exc)
    return ep


def _fail(stage: str, reason: object) -> StageFailed:
    return StageFailed(f"{stage}: {reason}")


def _run(ep: Episode, config: DemoConfig, frame: Frame | None) -> None:
    with ep.stage("sim_setup"):
        sim = TabletopSim(_seeded(config.sim, ep.seed))
    perception = Perception(config.perception)
    reasoner = GeometricReasoner(config.spatial)
    _observe(ep, "before", sim, perception)
    scene = ep.perceived["before"].scene
    with ep.stage("parse"):
        try:
            cmd = parse_command(ep.command, scene.names)
        except RoboSpatialError as exc:
            raise _fail("parse", exc) from None
        if frame is not None and cmd.relation is not Relation.ON_TOP:
            cmd = PlacementCommand(cmd.target, cmd.reference, cmd.relation, frame, cmd.text, True)
        ep.parsed = cmd
    view = SceneView(scene, config.spatial)
    with ep.stage("reason"):
        if cmd.relation is not Relation.ON_TOP:
            ep.context = reasoner.answer(view, Query(QueryType.CONTEXT, cmd.frame, cmd.relation, cmd.reference))
        spots = placements(view, cmd, allowed=lambda xyz: in_reach(xyz, config.planning))
    with ep.stage("plan"):
        plan = _first_plannable(ep, spots, scene, config.planning)
    start_xyz = np.asarray(sim.object_pose(cmd.target)[0])
    with ep.stage("execute"):
        result = sim.execute(plan)
    ep.moved_m = float(np.linalg.norm(np.asarray(sim.object_pose(cmd.target)[0]) - start_xyz))
    if not result.success:
        raise _fail("execute", result.reason)
    _observe(ep, "after", sim, perception)
    _check(ep, cmd, reasoner, config.spatial)


def _first_plannable(ep: Episode, spots: Iterator[Placement], scene: Scene, config: PickPlaceConfig) -> PickPlacePlan:
    """Plan for the best spot the hand can reach without touching a neighbour (tries MAX_PLAN_TRIES)."""
    target = ep.parsed.target  # type: ignore[union-attr]
    box, obstacles = scene.get(target).box, scene_obstacles(scene, target)
    last: Exception | None = None
    try:
        for _, placement in zip(range(MAX_PLAN_TRIES), spots):
            ep.placement = placement
            try:
                return plan_pick_place(box, placement.xyz, config, placement.yaw_offset_rad, target, obstacles)
            except RoboSpatialError as exc:
                last = exc
    except RoboSpatialError as exc:  # no spot at all
        raise _fail("placement", exc) from None
    raise _fail("plan", last or "no placement to plan for")


def _seeded(cfg: TabletopConfig, seed: int) -> TabletopConfig:
    return replace(cfg, seed=seed)


def _observe(ep: Episode, when: str, sim: TabletopSim, perception: Perception) -> None:
    with ep.stage(f"render_{when}"):
        ep.frames[when] = sim.render()
    with ep.stage(f"perceive_{when}"):
        try:
            ep.perceived[when] = perception.perceive(ep.frames[when].frame, ep.frames[when].masks)
        except RoboSpatialError as exc:
            raise _fail(f"perceive_{when}", exc) from None


def _check(ep: Episode, cmd: PlacementCommand, reasoner: GeometricReasoner, spatial: SpatialConfig) -> None:
    with ep.stage("check"):
        query = cmd.check_query()
        try:
            ep.check = reasoner.answer(SceneView(ep.perceived["after"].scene, spatial), query)
        except RoboSpatialError as exc:  # e.g. the object fell off and is no longer seen
            raise _fail("check", exc) from None
        # The same question on the simulator's exact boxes. Perceived objects have no known front
        # (the object frame faces the camera), so the true objects get the same assumption.
        truth = ep.frames["after"].scene.with_unknown_facings()
        ep.check_ground_truth = bool(reasoner.answer(SceneView(truth, spatial), query).yes)
    if not ep.check.yes:
        raise _fail("check", f"after execution the answer to {query.text!r} is No")
    ep.success = True


# --- report and picture -----------------------------------------------------------------------


def episode_report(ep: Episode) -> dict[str, Any]:
    out: dict[str, Any] = {"success": ep.success, "failure": ep.failure, "command": ep.command, "seed": ep.seed}
    if ep.parsed is not None:
        c = ep.parsed
        out["parsed"] = {
            "object": c.target,
            "reference": c.reference,
            "relation": c.relation.value,
            "frame": c.frame.value,
            "frame_given": c.frame_given,
        }
    if ep.context is not None:
        out["context_answer"] = ep.context.to_dict()
    if ep.placement is not None:
        out["placement"] = {
            "xyz_m": np.round(ep.placement.xyz, 4).tolist(),
            "yaw_offset_deg": round(float(np.degrees(ep.placement.yaw_offset_rad)), 1),
        }
    if ep.check is not None:
        out["check"] = {
            "question": ep.check.query.text,
            "answer": ep.check.text,
            "ground_truth_answer": "Yes" if ep.check_ground_truth else "No",
        }
    out["object_moved_m"] = round(ep.moved_m, 4)
    out["timings_ms"] = ep.timings_ms
    return out


def episode_picture(ep: Episode) -> np.ndarray:
    """Before (boxes, candidate points, chosen point) and after (boxes), side by side, BGR."""
    panels = []
    for when in ("before", "after"):
        if when not in ep.frames:
            continue
        frame, scene = ep.frames[when].frame, ep.perceived[when].scene if when in ep.perceived else None
        bgr = np.ascontiguousarray(frame.color[:, :, ::-1])
        if scene is None:
            panels.append(bgr)
            continue
        view = SceneView(scene)
        roles = {} if ep.parsed is None else {ep.parsed.target: (200, 110, 20), ep.parsed.reference: (40, 120, 220)}
        points = chosen = None
        if when == "before" and ep.placement is not None:
            cam = scene.camera
            points = cam.project(ep.placement.candidates_xyz)[0]
            chosen = cam.project(ep.placement.xyz[None])[0][0]
        panels.append(annotate(view, bgr, roles, points, chosen))
    verdict = "SUCCESS" if ep.success else f"FAILED ({ep.failure})"
    return side_by_side(*panels, title=f"{ep.command!r} (seed {ep.seed}): {verdict}")


def run_sim_demo(command: str, seed: int, config: DemoConfig, out_dir: Path, frame: Frame | None = None) -> dict:
    """`robospatial demo COMMAND`: one episode, printed, with a PNG and a JSON report in `out_dir`."""
    ep = run_episode(command, seed, config, frame)
    report = episode_report(ep)
    out_dir.mkdir(parents=True, exist_ok=True)
    if ep.frames:
        save_png(out_dir / "demo.png", episode_picture(ep))
    (out_dir / "report.json").write_text(json.dumps(report, indent=2))
    _print_summary(report, out_dir)
    return report


def _print_summary(report: dict, out_dir: Path) -> None:
    print(f"command:   {report['command']!r} (seed {report['seed']})")
    if "parsed" in report:
        p = report["parsed"]
        where = {"left": "left of", "right": "right of", "in front": "in front of", "on top": "on top of"}
        rel = where.get(p["relation"], p["relation"])
        print(f"parsed:    put the {p['object']} {rel} the {p['reference']} ({p['frame']} frame)")
    if "placement" in report:
        print(f"placement: {report['placement']['xyz_m']} m, turned {report['placement']['yaw_offset_deg']} deg")
    if "check" in report:
        c = report["check"]
        print(f"check:     {c['question']!r} -> {c['answer']} (ground truth: {c['ground_truth_answer']})")
    stages = ", ".join(f"{k} {v:.0f}" for k, v in report["timings_ms"].items())
    print(f"timings:   {stages} ms")
    print(f"result:    {'SUCCESS' if report['success'] else 'FAILED: ' + report['failure']}")
    print(f"wrote {out_dir / 'demo.png'} and {out_dir / 'report.json'}")
