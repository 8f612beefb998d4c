"""The main job, written once: a placement command -> placement candidates -> the first plannable one
-> its pick-and-place plan -> executed (by an injected executor) -> the relation checked.

Both ways of running it use this module, so they cannot disagree:
- the direct demo (`sim.demo`) runs `MainJob.run` with the simulator as the executor;
- the ROS graph splits it across nodes: the reasoner node chooses the spot with `plan_placement`
  (the same retry policy) and publishes it, the planner node plans that spot with `plan_at` (the
  same plannability test, so it accepts what the reasoner chose), the sim bridge or MoveIt executes,
  and the check is the same configuration question (`PlacementCommand.check_query`).

The plannability test (`plan_at`) is `plan_pick_place` (the hand clears the neighbours, every pose is
in the workspace) plus, when `check_reachability`, inverse kinematics on the arm's model
(`core.planning.reachability`, which loads mujoco on first use: importing this module does not).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from robospatial_ros.core.configio import validate_fields
from robospatial_ros.core.errors import ConfigError, RoboSpatialError
from robospatial_ros.core.language.commands import PlacementCommand, parse_command
from robospatial_ros.core.language.questions import Query
from robospatial_ros.core.planning.pick_place import (
    PickPlaceConfig,
    PickPlacePlan,
    PlanningError,
    UnsafeGoalError,
    in_reach,
    plan_pick_place,
    scene_obstacles,
)
from robospatial_ros.core.reasoning.placement import Placement, PlacementError, placements
from robospatial_ros.core.reasoning.reasoner import Answer, GeometricReasoner
from robospatial_ros.core.scene import Scene
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.core.spatial.types import Frame, QueryType, Relation
from robospatial_ros.core.spatial.view import SceneView

if TYPE_CHECKING:
    from robospatial_ros.core.perception.frame import RGBDFrame
    from robospatial_ros.core.reasoning.backends import ReasonerBackend

Allowed = Callable[[np.ndarray], np.ndarray]  # (N, 3) base-frame points, metres -> (N,) bool


@dataclass(frozen=True)
class JobConfig:
    """How the job turns a command into a plan. Both paths (direct and ROS graph) use the same values."""

    max_plan_tries: int = 25  # placements tried, best first, until one can be planned
    check_reachability: bool = True  # a plan must pass IK on the arm's model (mujoco), not only the workspace
    # ... at every via-point of the straight moves, not only the six poses (about 3x the IK cost: 10 ms vs 3 ms
    # for one tabletop plan on a 2-core CPU)
    check_path: bool = True

    def __post_init__(self) -> None:
        validate_fields(self, "job")
        if self.max_plan_tries < 1:
            raise ConfigError(f"max_plan_tries must be at least 1, got {self.max_plan_tries}")


# --- errors -------------------------------------------------------------------------------------------


class NoPlannablePlacementError(PlanningError):
    """Placements existed, but none of those tried (at most `max_plan_tries`) could be planned."""

    def __init__(self, tried: int, limit: int, last_reason: str, last_placement: Placement | None):
        self.tried, self.limit, self.last_reason, self.last_placement = tried, limit, last_reason, last_placement
        if tried == 1:
            message = f"the placement tried could not be planned: {last_reason}"
        else:
            cap = f" (the limit, job.max_plan_tries = {limit})" if tried >= limit else ""
            message = f"{tried} placements tried{cap}, none could be planned; the last: {last_reason}"
        super().__init__(message)


class JobFailed(RoboSpatialError):
    """A stage of the job failed: `stage` names it (parse, placement, plan, execute, check, ...)."""

    def __init__(self, stage: str, reason: object):
        self.stage, self.reason = stage, str(reason)
        super().__init__(f"{stage}: {reason}")


# --- command -> plannable placement -------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedPlacement:
    placement: Placement  # the chosen spot (world = base frame, metres)
    plan: PickPlacePlan  # its plan, which passed the plannability test
    tried: int  # placements tried to find it (1: the best one was plannable)


def plan_at(
    scene: Scene,
    target: str,
    place_xyz: np.ndarray,
    yaw_offset_rad: float,
    planning: PickPlaceConfig,
    job: JobConfig,
) -> PickPlacePlan:
    """The plannability test, the same on every path: a plan for putting `target` (bottom centre) at the
    (3,) base-frame point `place_xyz`, turned by `yaw_offset_rad`, that keeps the open hand off the scene's
    other objects, stays in the workspace and, with `job.check_reachability`, passes the arm's IK.

    Raises PlanningError (UnsafeGoalError for an unreachable pose) saying why not.
    """
    obj = scene.get(target)
    obstacles = scene_obstacles(scene, obj.name)
    plan = plan_pick_place(obj.box, place_xyz, planning, yaw_offset_rad, obj.name, obstacles)
    if job.check_reachability:
        from robospatial_ros.core.planning.reachability import check_reachable  # mujoco, on first use

        ok, reason = check_reachable(plan, job.check_path)
        if not ok:
            raise UnsafeGoalError(reason)
    return plan


def plan_placement(
    view: SceneView,
    command: PlacementCommand,
    planning: PickPlaceConfig,
    job: JobConfig,
    candidates: Iterable[Placement],
) -> PlannedPlacement:
    """The retry policy, in one place: the first of `candidates` (best first) that passes `plan_at`,
    trying at most `job.max_plan_tries` of them.

    Raises PlacementError when there is no candidate at all (as `placements` does), and
    NoPlannablePlacementError, naming why the last try failed, when none of those tried can be planned.
    """
    tried, last_reason, last = 0, "", None
    for placement in itertools.islice(candidates, job.max_plan_tries):
        tried += 1
        try:
            plan = plan_at(view.scene, command.target, placement.xyz, placement.yaw_offset_rad, planning, job)
        except PlanningError as exc:  # this spot or grasp cannot be planned: try the next spot
            last_reason, last = str(exc), placement
            continue
        return PlannedPlacement(placement, plan, tried)
    if tried == 0:
        raise PlacementError(f"no placement to plan for the {command.target}")
    raise NoPlannablePlacementError(tried, job.max_plan_tries, last_reason, last)


def reach_filter(planning: PickPlaceConfig) -> Allowed:
    """Spots the arm can put an object on (`in_reach`), as `placements(allowed=...)` takes them."""
    return functools.partial(in_reach, config=planning)


def backend_candidates(
    backend: ReasonerBackend | None,
    view: SceneView,
    command: PlacementCommand,
    allowed: Allowed | None,
    frame: RGBDFrame | None = None,
) -> Iterator[Placement]:
    """Placement candidates, best first, lazily (a PlacementError comes on the first `next`).

    The geometric core (no backend, or the geometric one) yields every spot it finds; a model-based
    backend proposes one spot (its `place`), so the job has only that one to try.
    """
    if backend is None or backend.name == "geometric":
        yield from placements(view, command, allowed=allowed)
    else:
        yield backend.place(view, command, allowed, frame)


# --- execution and the check --------------------------------------------------------------------------


class ExecutionOutcome(Protocol):
    success: bool
    reason: str


class Executor(Protocol):
    """Carries out a plan (the simulator, MoveIt); failures come back as results, not exceptions."""

    def execute(self, plan: PickPlacePlan) -> ExecutionOutcome: ...


@dataclass
class JobRecord:
    """What happened, filled stage by stage (kept when a stage fails)."""

    command: PlacementCommand | None = None
    context: Answer | None = None  # the context question's answer (free space), for display
    placement: Placement | None = None  # the chosen spot, or the last one tried when none could be planned
    plan: PickPlacePlan | None = None
    tried: int = 0
    execution: ExecutionOutcome | None = None
    check: Answer | None = None


StageTimer = Callable[[str], contextlib.AbstractContextManager[Any]]


def _untimed(_: str) -> contextlib.AbstractContextManager[Any]:
    return contextlib.nullcontext()


@dataclass(frozen=True)
class JobSettings:
    """Everything the job needs besides its inputs: one validated config per part."""

    spatial: SpatialConfig = field(default_factory=SpatialConfig)
    planning: PickPlaceConfig = field(default_factory=PickPlaceConfig)
    job: JobConfig = field(default_factory=JobConfig)


class MainJob:
    """command text -> placement -> plan -> execution -> check on one scene, stage by stage.

    `stage(name)` wraps each stage (e.g. a timer); a failed stage raises JobFailed and leaves what
    was done so far in the record.
    """

    def __init__(self, settings: JobSettings, executor: Executor, stage: StageTimer = _untimed):
        self.settings, self.executor, self.stage = settings, executor, stage
        self.reasoner = GeometricReasoner(settings.spatial)

    def run(
        self,
        text: str,
        view: SceneView,
        observe_after: Callable[[], Scene],
        record: JobRecord,
        frame: Frame | None = None,
    ) -> JobRecord:
        """The whole job on `view` (the scene before, base frame); `observe_after` perceives the scene
        after execution (raising JobFailed itself when it cannot)."""
        with self.stage("parse"):
            record.command = self.parse(text, view.scene.names, frame)
        with self.stage("reason"):
            candidates = self.reason(view, record)
        with self.stage("plan"):
            self.plan(view, record, candidates)
        with self.stage("execute"):
            self.execute(record)
        scene_after = observe_after()
        with self.stage("check"):
            self.check(SceneView(scene_after, self.settings.spatial), record)
        return record

    def parse(self, text: str, names: list[str], frame: Frame | None = None) -> PlacementCommand:
        """The command; `frame` overrides the one it names (not for 'on top', which has no frame)."""
        try:
            cmd = parse_command(text, names)
        except RoboSpatialError as exc:
            raise JobFailed("parse", exc) from None
        if frame is not None and cmd.relation is not Relation.ON_TOP:
            cmd = replace(cmd, frame=frame, frame_given=True)
        return cmd

    def reason(self, view: SceneView, record: JobRecord) -> Iterator[Placement]:
        """The context answer (for display) and the placement candidates within the arm's reach."""
        cmd = record.command
        assert cmd is not None
        if cmd.relation is not Relation.ON_TOP:
            query = Query(QueryType.CONTEXT, cmd.frame, cmd.relation, cmd.reference)
            record.context = self.reasoner.answer(view, query)
        return backend_candidates(None, view, cmd, reach_filter(self.settings.planning))

    def plan(self, view: SceneView, record: JobRecord, candidates: Iterable[Placement]) -> PickPlacePlan:
        s, cmd = self.settings, record.command
        assert cmd is not None
        try:
            planned = plan_placement(view, cmd, s.planning, s.job, candidates)
        except PlacementError as exc:  # no spot at all
            raise JobFailed("placement", exc) from None
        except NoPlannablePlacementError as exc:
            record.placement, record.tried = exc.last_placement, exc.tried
            raise JobFailed("plan", exc) from None
        record.placement, record.plan, record.tried = planned.placement, planned.plan, planned.tried
        return planned.plan

    def execute(self, record: JobRecord) -> ExecutionOutcome:
        assert record.plan is not None
        record.execution = outcome = self.executor.execute(record.plan)
        if not outcome.success:
            raise JobFailed("execute", outcome.reason)
        return outcome

    def check(self, view_after: SceneView, record: JobRecord) -> Answer:
        """Does the command's relation hold now? Asked as a configuration question on the scene after."""
        cmd = record.command
        assert cmd is not None
        query = cmd.check_query()
        try:
            record.check = self.reasoner.answer(view_after, query)
        except RoboSpatialError as exc:  # e.g. the object fell off and is no longer seen
            raise JobFailed("check", exc) from None
        if not record.check.yes:
            raise JobFailed("check", f"after execution the answer to {query.text!r} is No")
        return record.check
