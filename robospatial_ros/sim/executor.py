"""Executes a PickPlacePlan on the simulated Panda: IK, smooth joint trajectories, friction grasp.

- Inverse kinematics: damped least squares on the TCP site's 6-D Jacobian, joint limits clamped,
  a small null-space pull toward the home posture (keeps the elbow up), seeded from the previous
  waypoint so consecutive solutions stay on one branch.
- Motion: each segment between waypoints is cut into Cartesian via-points (straight TCP lines,
  e.g. the vertical approach to the object), solved by IK, and followed with a minimum-jerk time
  law by the joint position servos.
- Gripper: position-controlled and force-limited; the object is held by finger friction only.
- The result is judged from the physics state: the object must end within `place_tolerance_m`
  of the target, upright and resting on its support.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from robospatial_ros.core.errors import ConfigError, RoboSpatialError
from robospatial_ros.core.planning import panda

if TYPE_CHECKING:
    from robospatial_ros.core.planning.pick_place import PickPlacePlan
    from robospatial_ros.sim.tabletop import TabletopSim


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


# --- inverse kinematics ----------------------------------------------------------------------------


class PandaIK:
    """Damped-least-squares IK for the TCP site on a private MjData (the physics state is untouched)."""

    def __init__(self, model: Any, handles: panda.PandaHandles, config: ExecutorConfig):
        self.mujoco = panda.import_mujoco()
        self.model, self.h, self.cfg = model, handles, config
        self.data = self.mujoco.MjData(model)
        self._jac = np.zeros((6, model.nv))

    def tcp_pose(self, q: np.ndarray) -> np.ndarray:
        """(4, 4) TCP pose in the base frame for arm angles q (7,)."""
        self._fk(q)
        T = np.eye(4)
        T[:3, :3] = self.data.site_xmat[self.h.tcp_site].reshape(3, 3)
        T[:3, 3] = self.data.site_xpos[self.h.tcp_site]
        return T

    def _fk(self, q: np.ndarray) -> None:
        self.data.qpos[self.h.arm_qpos] = q
        self.mujoco.mj_kinematics(self.model, self.data)
        self.mujoco.mj_comPos(self.model, self.data)

    def _error(self, target: np.ndarray) -> np.ndarray:
        """(6,) [position error, rotation error as a rotation vector], world frame."""
        s = self.h.tcp_site
        R = self.data.site_xmat[s].reshape(3, 3)
        return np.concatenate([target[:3, 3] - self.data.site_xpos[s], rotation_vector(target[:3, :3] @ R.T)])

    def solve(self, target: np.ndarray, seed: np.ndarray) -> np.ndarray | None:
        """(7,) joint angles placing the TCP at target (4, 4), or None when it does not converge."""
        q = np.clip(np.asarray(seed, dtype=float).copy(), self.h.lower, self.h.upper)
        cfg = self.cfg
        lam2 = cfg.ik_damping**2
        for _ in range(cfg.ik_max_iters):
            self._fk(q)
            err = self._error(target)
            if np.linalg.norm(err[:3]) < cfg.ik_tolerance_m and np.linalg.norm(err[3:]) < cfg.ik_tolerance_rad:
                return q
            self.mujoco.mj_jacSite(self.model, self.data, self._jac[:3], self._jac[3:], self.h.tcp_site)
            J = self._jac[:, self.h.arm_dof]  # (6, 7)
            JJt = J @ J.T + lam2 * np.eye(6)
            dq = J.T @ np.linalg.solve(JJt, err)
            # Null-space pull toward home: the redundant DoF keeps a natural elbow-up posture. The
            # projector uses the exact pseudo-inverse: a damped one leaks the pull into the TCP error.
            null = np.eye(7) - np.linalg.pinv(J, rcond=1e-3) @ J
            dq += null @ (0.1 * (panda.HOME_Q - q))
            step = np.max(np.abs(dq))
            if step > 0.3:  # trust region: big steps overshoot around singular poses
                dq *= 0.3 / step
            q = np.clip(q + dq, self.h.lower, self.h.upper)
        return None


def rotation_vector(R: np.ndarray) -> np.ndarray:
    """(3,) axis * angle of a (3, 3) rotation (the matrix logarithm), angle in [0, pi]."""
    angle = float(np.arccos(np.clip((np.trace(R) - 1.0) / 2.0, -1.0, 1.0)))
    axis = np.array([R[2, 1] - R[1, 2], R[0, 2] - R[2, 0], R[1, 0] - R[0, 1]])
    norm = np.linalg.norm(axis)
    if norm > 1e-9:
        return axis / norm * angle
    if angle < 1.0:
        return np.zeros(3)
    B = (R + np.eye(3)) / 2.0  # a half turn: the axis is any non-zero column of (R + I) / 2
    k = int(np.argmax(np.diag(B)))
    return np.pi * B[:, k] / np.linalg.norm(B[:, k])


def rotation_from_vector(v: np.ndarray) -> np.ndarray:
    """(3, 3) rotation of the rotation vector v (3,) (Rodrigues)."""
    angle = float(np.linalg.norm(v))
    if angle < 1e-12:
        return np.eye(3)
    k = np.asarray(v, dtype=float) / angle
    K = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + np.sin(angle) * K + (1.0 - np.cos(angle)) * K @ K


def interpolate_pose(A: np.ndarray, B: np.ndarray, s: float, turn: np.ndarray | None = None) -> np.ndarray:
    """(4, 4) pose a fraction s of the way from A to B: straight line, rotation about a constant axis.

    turn: (3,) rotation vector from A's to B's orientation, in A's frame; default the shortest one.
    """
    T = np.eye(4)
    T[:3, 3] = (1.0 - s) * A[:3, 3] + s * B[:3, 3]
    v = rotation_vector(A[:3, :3].T @ B[:3, :3]) if turn is None else turn
    T[:3, :3] = A[:3, :3] @ rotation_from_vector(s * v)
    return T


def min_jerk(tau: np.ndarray | float) -> np.ndarray | float:
    """Minimum-jerk time law: 0 -> 1 with zero velocity and acceleration at both ends."""
    t = np.clip(tau, 0.0, 1.0)
    return t**3 * (10.0 - 15.0 * t + 6.0 * t * t)


# --- motion ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """A straight TCP motion as joint via-points (K, 7) rad, its duration (s) and finger target (m each)."""

    name: str
    path: np.ndarray
    duration_s: float
    finger_m: float


def _goal_seeds(goal: np.ndarray, q_from: np.ndarray, h: panda.PandaHandles) -> list[np.ndarray]:
    """IK seeds for a TCP goal (4, 4): the current joints, then home-like postures facing the goal
    with joint 7 set for the goal's wrist yaw, each way round that stays inside the joint limits."""
    azimuth = float(np.arctan2(goal[1, 3], goal[0, 3]))
    yaw = float(np.arctan2(goal[1, 0], goal[0, 0]))  # heading of the TCP x axis
    seeds = [q_from]
    for turns in (0, -1, 1):
        # Joint 7 turns the down-pointing hand clockwise seen from above: q7 = home q7 - (yaw - azimuth).
        q7 = panda.HOME_Q[6] - (np.angle(np.exp(1j * (yaw - azimuth))) + 2.0 * np.pi * turns)
        if h.lower[6] <= q7 <= h.upper[6]:
            seed = panda.HOME_Q.copy()
            seed[0], seed[6] = np.clip(azimuth, h.lower[0], h.upper[0]), q7
            seeds.append(seed)
    return seeds


def _solve_goal(ik: PandaIK, name: str, goal: np.ndarray, q_from: np.ndarray) -> np.ndarray:
    """(7,) joints for the segment's end pose, or ExecutionFailed."""
    for seed in _goal_seeds(goal, q_from, ik.h):
        q = ik.solve(goal, seed)
        if q is not None:
            return q
    p = goal[:3, 3]
    raise ExecutionFailed("ik", f"the {name} pose at ({p[0]:.3f}, {p[1]:.3f}, {p[2]:.3f}) m is unreachable")


def _turn_along_joints(ik: PandaIK, start: np.ndarray, q_start: np.ndarray, q_goal: np.ndarray) -> np.ndarray:
    """(3,) the rotation vector start -> goal that turns the way the joints do (the shortest rotation
    may need joint 7 to pass its limit; the joint solution then turns the long way round)."""
    short = rotation_vector(start[:3, :3].T @ ik.tcp_pose(q_goal)[:3, :3])
    angle = float(np.linalg.norm(short))
    if angle < 1e-6:
        return short
    long = short / angle * (angle - 2.0 * np.pi)
    mid = ik.tcp_pose(0.5 * (q_start + q_goal))[:3, :3]

    def miss(v: np.ndarray) -> float:
        return float(np.linalg.norm(rotation_vector((start[:3, :3] @ rotation_from_vector(0.5 * v)).T @ mid)))

    return short if miss(short) <= miss(long) else long


def _segment(
    ik: PandaIK, name: str, start: np.ndarray, q_start: np.ndarray, goal: np.ndarray, finger_m: float
) -> Segment:
    """IK along the straight line start -> goal (TCP poses (4, 4)); ExecutionFailed when unreachable."""
    cfg = ik.cfg
    q_goal = _solve_goal(ik, name, goal, q_start)
    turn = _turn_along_joints(ik, start, q_start, q_goal)
    dist = float(np.linalg.norm(goal[:3, 3] - start[:3, 3]))
    n = max(1, int(np.ceil(max(dist / cfg.via_spacing_m, float(np.linalg.norm(turn)) / 0.25))))
    path, q = [q_start], q_start
    for i in range(1, n):
        target = interpolate_pose(start, goal, i / n, turn)
        solved = ik.solve(target, q)
        if solved is None:  # retry from the straight joint-space blend of the two ends
            solved = ik.solve(target, q_start + i / n * (q_goal - q_start))
        if solved is None:
            p = target[:3, 3]
            raise ExecutionFailed(
                "ik", f"the way to the {name} pose passes an unreachable point ({p[0]:.3f}, {p[1]:.3f}, {p[2]:.3f}) m"
            )
        path.append(solved)
        q = solved
    path.append(q_goal)
    return Segment(name, np.array(path), _duration(np.array(path), dist, cfg), finger_m)


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


def plan_segments(sim: TabletopSim, plan: PickPlacePlan, ik: PandaIK) -> list[Segment]:
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
    for name, a, b, finger in legs:
        seg = _segment(ik, name, a, q, b, finger)
        segments.append(seg)
        q = seg.path[-1]
    segments.append(_joint_segment("home", q, panda.HOME_Q, open_m, ik.cfg))
    return segments


def run_segment(sim: TabletopSim, seg: Segment, cfg: ExecutorConfig) -> None:
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


def actuate_gripper(sim: TabletopSim, finger_m: float, cfg: ExecutorConfig) -> None:
    """Command each finger to finger_m (metres from the centre) and give it gripper_s to get there."""
    sim.data.ctrl[sim.handles.finger_act] = finger_m
    sim.step(int(round(cfg.gripper_s / sim.model.opt.timestep)))


# --- the pick-and-place ------------------------------------------------------------------------------


def resolve_object(sim: TabletopSim, plan: PickPlacePlan) -> str:
    """The sim object the plan picks: by id, else the object whose centre is nearest the planned box."""
    if plan.object_id in sim.names:
        return plan.object_id
    target = np.asarray(plan.pick_box.center)[:2]
    dists = [float(np.linalg.norm(sim.object_box(n).center[:2] - target)) for n in sim.names]
    k = int(np.argmin(dists))
    if dists[k] > 0.05:
        raise ExecutionFailed("resolve", f"no object within 5 cm of the planned grasp (nearest: {sim.names[k]})")
    return sim.names[k]


def _pick(sim: TabletopSim, plan: PickPlacePlan, segments: list[Segment], name: str, cfg: ExecutorConfig) -> None:
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


def _place(sim: TabletopSim, plan: PickPlacePlan, segments: list[Segment], name: str, cfg: ExecutorConfig) -> None:
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


def judge(sim: TabletopSim, plan: PickPlacePlan, name: str, cfg: ExecutorConfig) -> ExecutionResult:
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


def execute_plan(sim: TabletopSim, plan: PickPlacePlan, cfg: ExecutorConfig) -> ExecutionResult:
    """Run the plan; any failure (unreachable pose, missed grasp, slip, bad placement) is a failed result."""
    wall0, sim0, warnings0 = time.perf_counter(), sim.time_s, _instability_warnings(sim)
    name = ""
    try:
        name = resolve_object(sim, plan)
        segments = plan_segments(sim, plan, PandaIK(sim.model, sim.handles, cfg))
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


def _instability_warnings(sim: TabletopSim) -> int:
    """How often MuJoCo found a diverging state so far (it then resets the state)."""
    return int(sim.data.warning[int(panda.import_mujoco().mjtWarning.mjWARN_BADQACC)].number)


def _failed(
    sim: TabletopSim, plan: PickPlacePlan, name: str, stage: str, reason: str, cfg: ExecutorConfig
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
