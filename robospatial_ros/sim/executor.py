"""Executes a PickPlacePlan on the simulated Panda: smooth joint trajectories, friction grasp, judged by physics.

- Inverse kinematics: `core.planning.ik` (the same arm model the planner's reachability check uses);
  every motion is solved up front, so an unreachable pose fails before the arm moves.
- Motion: each segment between waypoints is cut into Cartesian via-points (straight TCP lines,
  e.g. the vertical approach to the object), solved by IK, and followed with a minimum-jerk time
  law by the joint position servos.
- Gripper: position-controlled and force-limited; the object is held by finger friction only.
- The result is judged from the physics state: the object must end within `place_tolerance_m`
  of the target, upright and resting on its support.

The executor drives any simulation with the `ArmSim` interface (sim.tabletop.TabletopSim has it, and
calls `execute_plan` from its `execute`), so imports go one way: tabletop -> executor.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from robospatial_ros.core.errors import ConfigError, RoboSpatialError
from robospatial_ros.core.planning import panda
from robospatial_ros.core.planning.ik import IKConfig, IKError, PandaIK, straight_path

if TYPE_CHECKING:
    from robospatial_ros.core.geometry import OrientedBox
    from robospatial_ros.core.planning.pick_place import PickPlacePlan


class ArmSim(Protocol):
    """What the executor needs from a simulation: the MuJoCo model and state, the Panda's handles, stepping,
    and the objects' poses (world = robot base frame, metres)."""

    model: Any  # mujoco.MjModel
    data: Any  # mujoco.MjData
    handles: panda.PandaHandles
    names: tuple[str, ...]  # the objects' names

    @property
    def time_s(self) -> float: ...

    def step(self, n: int = 1) -> None: ...

    def arm_q(self) -> np.ndarray: ...

    def object_box(self, name: str) -> OrientedBox: ...

    def object_pose(self, name: str) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class ExecutorConfig:
    """Motion and success settings. Units in the names."""

    max_joint_speed_rad_s: float = 1.5  # peak joint speed of a min-jerk segment
    max_tcp_speed_m_s: float = 0.5  # peak TCP speed of a min-jerk segment
    min_segment_s: float = 0.25
    via_spacing_m: float = 0.04  # Cartesian via-points at most this far apart along a segment
    control_dt_s: float = 0.01  # servo targets are updated at 100 Hz
    settle_s: float = 0.08  # pause after each segment, the servos catch up
    gripper_s: float = 0.35  # time given to close or open the fingers
    # The arm IK (core.planning.ik.IKConfig, see ik_config(); via_spacing_m goes there too).
    ik_max_iters: int = 100
    ik_tolerance_m: float = 5e-4
    ik_tolerance_rad: float = 5e-3
    ik_damping: float = 0.05
    min_grip_width_m: float = 0.004  # fingers closer than this: they closed on nothing
    place_tolerance_m: float = 0.02  # object centre within this of the target (xy)
    upright_tolerance_deg: float = 20.0
    return_home: bool = True  # after the retreat (and after a failure mid-way), go back to the home pose

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if isinstance(value, bool):
                continue
            if not (np.isfinite(value) and value > 0):
                raise ConfigError(f"executor setting {name} must be positive, got {value}")

    def ik_config(self) -> IKConfig:
        """The arm IK settings: the ik_* fields and via_spacing_m (names kept: YAML files and ROS params use them)."""
        return IKConfig(
            max_iters=self.ik_max_iters,
            tolerance_m=self.ik_tolerance_m,
            tolerance_rad=self.ik_tolerance_rad,
            damping=self.ik_damping,
            via_spacing_m=self.via_spacing_m,
        )


@dataclass
class ExecutionResult:
    """What happened. `final_xyz`: the object's box bottom centre (x, y, z_min) after execution, comparable
    with the plan's place_xyz (base frame, metres)."""

    success: bool
    reason: str
    final_xyz: np.ndarray = field(default_factory=lambda: np.full(3, np.nan))
    object_id: str = ""
    error_xy_m: float = float("nan")
    sim_time_s: float = 0.0
    wall_time_s: float = 0.0
    stage: str = ""  # the stage that failed, "" on success


class ExecutionFailed(RoboSpatialError, RuntimeError):
    """Raised inside the executor to stop at the failing stage; turned into a failed result."""

    def __init__(self, stage: str, reason: str):
        super().__init__(reason)
        self.stage = stage


# --- motion ----------------------------------------------------------------------------------------


def min_jerk(tau: np.ndarray | float) -> np.ndarray | float:
    """Minimum-jerk time law: 0 -> 1 with zero velocity and acceleration at both ends."""
    t = np.clip(tau, 0.0, 1.0)
    return t**3 * (10.0 - 15.0 * t + 6.0 * t * t)


@dataclass(frozen=True)
class Segment:
    """A straight TCP motion as joint via-points (K, 7) rad, its duration (s) and finger target (m each)."""

    name: str
    path: np.ndarray
    duration_s: float
    finger_m: float


def _segment(
    ik: PandaIK, leg: tuple[str, np.ndarray, np.ndarray, float], q_start: np.ndarray, cfg: ExecutorConfig
) -> Segment:
    """One straight TCP leg (name, start (4, 4), goal (4, 4), finger_m) from joints q_start (7,) rad, timed;
    ExecutionFailed at stage "ik" when a point on it is unreachable."""
    name, start, goal, finger_m = leg
    try:
        path = straight_path(ik, name, start, q_start, goal)  # (K, 7) rad
    except IKError as exc:
        raise ExecutionFailed("ik", str(exc)) from None
    dist = float(np.linalg.norm(goal[:3, 3] - start[:3, 3]))
    return Segment(name, path, _duration(path, dist, cfg), finger_m)


def _duration(path: np.ndarray, dist_m: float, cfg: ExecutorConfig) -> float:
    """Min-jerk duration keeping the peak joint and TCP speeds (1.875 x the mean) under their limits."""
    peak = 1.875  # a min-jerk profile's peak speed over its mean
    joint_travel = float(np.abs(np.diff(path, axis=0)).sum(axis=0).max())
    by_joints = peak * joint_travel / cfg.max_joint_speed_rad_s
    return max(cfg.min_segment_s, by_joints, peak * dist_m / cfg.max_tcp_speed_m_s)


def _joint_segment(name: str, q0: np.ndarray, q1: np.ndarray, finger_m: float, cfg: ExecutorConfig) -> Segment:
    """A joint-space move (e.g. back home), no Cartesian constraint."""
    path = np.stack([q0, q1])
    return Segment(name, path, _duration(path, 0.0, cfg), finger_m)


def plan_segments(sim: ArmSim, plan: PickPlacePlan, ik: PandaIK, cfg: ExecutorConfig) -> list[Segment]:
    """Every motion of the plan solved up front, so an unreachable pose fails before the arm moves."""
    q_home = sim.arm_q()
    start = ik.tcp_pose(q_home)
    open_m, grip_m = plan.gripper_open_m / 2.0, plan.gripper_grasp_m / 2.0
    legs = [
        ("approach", start, plan.pre_grasp, open_m),
        ("descend", plan.pre_grasp, plan.grasp, open_m),
        ("lift", plan.grasp, plan.lift, grip_m),
        ("transfer", plan.lift, plan.pre_place, grip_m),
        ("lower", plan.pre_place, plan.place, grip_m),
        ("retreat", plan.place, plan.retreat, open_m),
    ]
    segments, q = [], q_home
    for leg in legs:
        seg = _segment(ik, leg, q, cfg)
        segments.append(seg)
        q = seg.path[-1]
    segments.append(_joint_segment("home", q, panda.HOME_Q, open_m, cfg))
    return segments


def run_segment(sim: ArmSim, seg: Segment, cfg: ExecutorConfig) -> None:
    """Follow the via-points with a min-jerk time law, servo targets at control_dt_s, then settle."""
    h, d = sim.handles, sim.data
    substeps = max(1, int(round(cfg.control_dt_s / sim.model.opt.timestep)))
    ticks = max(1, int(np.ceil(seg.duration_s / cfg.control_dt_s)))
    u = min_jerk(np.arange(1, ticks + 1) / ticks) * (len(seg.path) - 1)  # (ticks,) position along the path
    piece = np.minimum(u.astype(int), len(seg.path) - 2)
    frac = (u - piece)[:, None]
    targets = (1.0 - frac) * seg.path[piece] + frac * seg.path[piece + 1]  # (ticks, 7) rad
    d.ctrl[h.finger_act] = seg.finger_m
    for q in targets:
        d.ctrl[h.arm_act] = q
        sim.step(substeps)
    sim.step(int(round(cfg.settle_s / sim.model.opt.timestep)))


def actuate_gripper(sim: ArmSim, finger_m: float, cfg: ExecutorConfig) -> None:
    """Command each finger to finger_m (metres from the centre) and give it gripper_s to get there."""
    sim.data.ctrl[sim.handles.finger_act] = finger_m
    sim.step(int(round(cfg.gripper_s / sim.model.opt.timestep)))


# --- the pick-and-place ------------------------------------------------------------------------------


def resolve_object(sim: ArmSim, plan: PickPlacePlan) -> str:
    """The sim object the plan picks: by id, else the object whose centre is nearest the planned box."""
    if plan.object_id in sim.names:
        return plan.object_id
    target = np.asarray(plan.pick_box.center)[:2]
    dists = [float(np.linalg.norm(sim.object_box(n).center[:2] - target)) for n in sim.names]
    k = int(np.argmin(dists))
    if dists[k] > 0.05:
        raise ExecutionFailed("resolve", f"no object within 5 cm of the planned grasp (nearest: {sim.names[k]})")
    return sim.names[k]


def _pick(sim: ArmSim, plan: PickPlacePlan, segments: list[Segment], name: str, cfg: ExecutorConfig) -> None:
    """Approach, descend, close, lift; ExecutionFailed when the fingers miss or the object slips."""
    z0 = sim.object_box(name).z_min
    run_segment(sim, segments[0], cfg)
    run_segment(sim, segments[1], cfg)
    actuate_gripper(sim, plan.gripper_grasp_m / 2.0, cfg)
    width = sim.handles.finger_width_m(sim.data)
    if width < cfg.min_grip_width_m:
        raise ExecutionFailed("grasp", f"the fingers closed on nothing (width {width * 1000:.1f} mm)")
    run_segment(sim, segments[2], cfg)
    lifted = sim.object_box(name).z_min - z0
    if lifted < 0.5 * (plan.lift[2, 3] - plan.grasp[2, 3]):
        raise ExecutionFailed("lift", f"the {name} was not lifted ({lifted * 100:.1f} cm): it slipped from the grasp")


def _place(sim: ArmSim, plan: PickPlacePlan, segments: list[Segment], name: str, cfg: ExecutorConfig) -> None:
    """Transfer, lower, release, retreat (and go home)."""
    run_segment(sim, segments[3], cfg)
    height = sim.object_box(name).z_min - plan.place_xyz[2]
    if height < 0.5 * (plan.pre_place[2, 3] - plan.place[2, 3]):
        raise ExecutionFailed("transfer", f"the {name} was dropped on the way ({height * 100:.1f} cm above the goal)")
    run_segment(sim, segments[4], cfg)
    actuate_gripper(sim, plan.gripper_open_m / 2.0, cfg)
    run_segment(sim, segments[5], cfg)
    if cfg.return_home:
        run_segment(sim, segments[6], cfg)


def judge(sim: ArmSim, plan: PickPlacePlan, name: str, cfg: ExecutorConfig) -> ExecutionResult:
    """Success from the physics state: near the target (xy), upright, resting on the support."""
    box = sim.object_box(name)
    final = np.array([box.center[0], box.center[1], box.z_min])
    err = float(np.linalg.norm(final[:2] - plan.place_xyz[:2]))
    _, q = sim.object_pose(name)
    x, y, _z, _w = q
    up_cos = 1.0 - 2.0 * (x * x + y * y)  # the body z axis' world z component
    result = ExecutionResult(False, "", final, name, err)
    if up_cos < np.cos(np.radians(cfg.upright_tolerance_deg)):
        result.reason = f"the {name} is not upright ({np.degrees(np.arccos(np.clip(up_cos, -1, 1))):.0f} deg tilt)"
    elif abs(final[2] - plan.place_xyz[2]) > 0.02:
        result.reason = f"the {name} rests at z = {final[2]:.3f} m, not on the support at {plan.place_xyz[2]:.3f} m"
    elif err > cfg.place_tolerance_m:
        result.reason = (
            f"the {name} ended {err * 100:.1f} cm from the target (tolerance {cfg.place_tolerance_m * 100:.0f} cm)"
        )
    else:
        result.success, result.reason = True, f"placed the {name} {err * 100:.1f} cm from the target"
    result.stage = "" if result.success else "place"
    return result


def execute_plan(sim: ArmSim, plan: PickPlacePlan, cfg: ExecutorConfig) -> ExecutionResult:
    """Run the plan; any failure (unreachable pose, missed grasp, slip, bad placement) is a failed result."""
    wall0, sim0, warnings0 = time.perf_counter(), sim.time_s, _instability_warnings(sim)
    name = ""
    try:
        name = resolve_object(sim, plan)
        segments = plan_segments(sim, plan, PandaIK(sim.model, sim.handles, cfg.ik_config()), cfg)
        _pick(sim, plan, segments, name, cfg)
        _place(sim, plan, segments, name, cfg)
        if _instability_warnings(sim) > warnings0 or not np.all(np.isfinite(sim.data.qpos)):
            raise ExecutionFailed("physics", "the simulation became unstable during execution")
        result = judge(sim, plan, name, cfg)
    except ExecutionFailed as exc:
        result = _failed(sim, plan, name, exc.stage, str(exc), cfg)
    except (ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:  # numerical trouble, never a crash
        result = _failed(sim, plan, name, "numerics", f"execution aborted: {exc}", cfg)
    result.sim_time_s = sim.time_s - sim0
    result.wall_time_s = time.perf_counter() - wall0
    return result


def _instability_warnings(sim: ArmSim) -> int:
    """How often MuJoCo found a diverging state so far (it then resets the state)."""
    return int(sim.data.warning[int(panda.import_mujoco().mjtWarning.mjWARN_BADQACC)].number)


def _failed(
    sim: ArmSim, plan: PickPlacePlan, name: str, stage: str, reason: str, cfg: ExecutorConfig
) -> ExecutionResult:
    """A failed result; the arm opens its hand and goes home if it had moved."""
    if cfg.return_home and stage not in ("resolve", "ik") and np.all(np.isfinite(sim.data.qpos)):
        actuate_gripper(sim, plan.gripper_open_m / 2.0, cfg)
        run_segment(sim, _joint_segment("home", sim.arm_q(), panda.HOME_Q, plan.gripper_open_m / 2.0, cfg), cfg)
    result = ExecutionResult(False, reason, object_id=name, stage=stage)
    if name:
        box = sim.object_box(name)
        result.final_xyz = np.array([box.center[0], box.center[1], box.z_min])
        result.error_xy_m = float(np.linalg.norm(result.final_xyz[:2] - plan.place_xyz[:2]))
    return result
