"""The main job on the simulated tabletop: a command in, the object moved, the relation checked.

render -> perceive -> then `core.reasoning.job.MainJob` (the one implementation the ROS graph uses
too): parse the command -> context query and placements -> the first plannable placement and its
plan -> execute in MuJoCo (the simulator is the job's executor) -> render and perceive again ->
ask whether the relation now holds.

`detections`: masks (default) names the objects from the simulator's instance masks; none ignores
them, so perception alone names the objects (clustering: object_0, ... with their colours and sizes),
as on a camera without a detector. Clustering needs the workspace (`with_urdf_workspace`), or the
robot's base would become an object.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from robospatial_ros.core.errors import ConfigError, RoboSpatialError
from robospatial_ros.core.language.commands import PlacementCommand
from robospatial_ros.core.language.questions import Query
from robospatial_ros.core.perception.pipeline import Perception, PerceptionConfig, PerceptionResult
from robospatial_ros.core.planning.pick_place import PickPlaceConfig, PickPlacePlan
from robospatial_ros.core.reasoning.job import ExecutionOutcome, JobConfig, JobFailed, JobRecord, JobSettings, MainJob
from robospatial_ros.core.reasoning.placement import Placement
from robospatial_ros.core.reasoning.reasoner import Answer, GeometricReasoner
from robospatial_ros.core.reasoning.viz import annotate, save_png, side_by_side
from robospatial_ros.core.scene import Scene
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.core.spatial.types import Frame
from robospatial_ros.core.spatial.view import SceneView
from robospatial_ros.sim.executor import ExecutionFailed, resolve_object
from robospatial_ros.sim.tabletop import SimFrame, TabletopConfig, TabletopSim

DEMO_DETECTIONS = ("masks", "none")  # the simulator's instance masks name the objects, or nothing does


@dataclass(frozen=True)
class DemoConfig:
    """Everything one episode needs; each part has its own validated config."""

    spatial: SpatialConfig = field(default_factory=SpatialConfig)
    perception: PerceptionConfig = field(default_factory=PerceptionConfig)
    planning: PickPlaceConfig = field(default_factory=PickPlaceConfig)
    job: JobConfig = field(default_factory=JobConfig)
    sim: TabletopConfig = field(default_factory=TabletopConfig)
    detections: str = "masks"  # masks: the simulator's instance masks; none: clustering names the objects

    def __post_init__(self) -> None:
        if self.detections not in DEMO_DETECTIONS:
            raise ConfigError(f"detections must be one of {', '.join(DEMO_DETECTIONS)}, got {self.detections!r}")

    def with_urdf_workspace(self, urdf: Path) -> DemoConfig:
        """The perception workspace from the workcell URDF's table, as the ROS graph derives it (the robot's
        base and stand stay out of the clustering). Keeps a workspace already set."""
        if self.perception.workspace is not None:
            return self
        from robospatial_ros.core.urdf import workspace_from_urdf

        lo, hi = workspace_from_urdf(urdf)  # (x, y, z) min and max, robot base frame, metres
        return replace(self, perception=replace(self.perception, workspace_min_xyz_m=lo, workspace_max_xyz_m=hi))

    @property
    def job_settings(self) -> JobSettings:
        return JobSettings(self.spatial, self.planning, self.job)


@dataclass
class Episode:
    """What happened in one episode: filled stage by stage, `failure` names the stage that failed."""

    command: str
    seed: int
    success: bool = False
    failure: str = ""  # "" on success, else "<stage>: <reason>"
    job: JobRecord = field(default_factory=JobRecord)
    check_ground_truth: bool | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    frames: dict[str, SimFrame] = field(default_factory=dict)
    perceived: dict[str, PerceptionResult] = field(default_factory=dict)
    moved_m: float = 0.0

    @property
    def parsed(self) -> PlacementCommand | None:
        return self.job.command

    @property
    def context(self) -> Answer | None:
        return self.job.context

    @property
    def placement(self) -> Placement | None:
        return self.job.placement

    @property
    def check(self) -> Answer | None:
        return self.job.check

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings_ms[name] = round((time.perf_counter() - start) * 1e3, 1)


def run_episode(command: str, seed: int, config: DemoConfig, frame: Frame | None = None) -> Episode:
    """One command on a freshly laid out tabletop. Never raises for a failed stage: see `failure`."""
    ep = Episode(command, seed)
    try:
        _run(ep, config, frame)
        ep.success = True
    except JobFailed as exc:
        ep.failure = str(exc)
    if ep.job.check is not None and "after" in ep.frames:
        _ground_truth(ep, config.spatial)
    return ep


class _MeasuredSim:
    """The simulator as the job's executor; also measures how far the target really moved (metres)."""

    def __init__(self, sim: TabletopSim, ep: Episode):
        self.sim, self.ep = sim, ep

    def execute(self, plan: PickPlacePlan) -> ExecutionOutcome:
        # A perceived name (object_3 with detections none) is not the sim's: the object the executor
        # resolves (nearest the planned box) is the one measured.
        try:
            name = resolve_object(self.sim, plan)
        except ExecutionFailed:
            return self.sim.execute(plan)  # the executor reports why nothing could be picked
        start_xyz = np.asarray(self.sim.object_pose(name)[0])  # (3,) world, metres
        result = self.sim.execute(plan)
        self.ep.moved_m = float(np.linalg.norm(np.asarray(self.sim.object_pose(name)[0]) - start_xyz))
        return result


def _run(ep: Episode, config: DemoConfig, frame: Frame | None) -> None:
    with ep.stage("sim_setup"):
        sim = TabletopSim(replace(config.sim, seed=ep.seed))
    perception = Perception(config.perception)
    use_masks = config.detections == "masks"
    before = _observe(ep, "before", sim, perception, use_masks)
    job = MainJob(config.job_settings, _MeasuredSim(sim, ep), ep.stage)
    after = functools.partial(_observe, ep, "after", sim, perception, use_masks)  # the scene after execution
    job.run(ep.command, SceneView(before, config.spatial), after, ep.job, frame)


def _observe(ep: Episode, when: str, sim: TabletopSim, perception: Perception, use_masks: bool) -> Scene:
    with ep.stage(f"render_{when}"):
        ep.frames[when] = sim.render()
    with ep.stage(f"perceive_{when}"):
        masks = ep.frames[when].masks if use_masks else None
        try:
            ep.perceived[when] = perception.perceive(ep.frames[when].frame, masks)
        except RoboSpatialError as exc:
            raise JobFailed(f"perceive_{when}", exc) from None
    return ep.perceived[when].scene


def _ground_truth(ep: Episode, spatial: SpatialConfig) -> None:
    """The check question on the simulator's exact boxes. Perceived objects have no known front
    (the object frame faces the camera), so the true objects get the same assumption."""
    truth = ep.frames["after"].scene.with_unknown_facings()
    query = ep.job.check.query  # type: ignore[union-attr]
    perceived = ep.perceived.get("after")
    if perceived is not None:  # perceived names (object_3) -> the simulator's, by position
        query = true_query(query, perceived.scene, truth)
    ep.check_ground_truth = bool(GeometricReasoner(spatial).answer(SceneView(truth, spatial), query).yes)


def true_name(name: str, perceived: Scene, truth: Scene) -> str:
    """The simulator's name of the perceived object `name`: the true object whose footprint centre is
    nearest (the perceived name itself when the simulator knows it, as with masks)."""
    if name in truth.names:
        return name
    try:
        centre = np.asarray(perceived.get(name).box.center)[:2]  # (2,) x, y world frame, metres
    except RoboSpatialError:
        return name
    return min(truth.objects, key=lambda o: float(np.linalg.norm(np.asarray(o.box.center)[:2] - centre))).name


def true_query(query: Query, perceived: Scene, truth: Scene) -> Query:
    """`query` with its target and reference named as the simulator names them (see `true_name`)."""
    target = None if query.target is None else true_name(query.target, perceived, truth)
    return replace(query, reference=true_name(query.reference, perceived, truth), target=target)


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
            "placements_tried": ep.job.tried,
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
