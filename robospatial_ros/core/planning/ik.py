"""The Panda's inverse kinematics: how the arm reaches a TCP pose, and the straight TCP moves between poses.

- `PandaIK.solve`: damped least squares on the TCP site's 6-D Jacobian, joint limits clamped, a small
  null-space pull toward the home posture (keeps the elbow up), seeded by the caller (the previous
  waypoint, so consecutive solutions stay on one branch).
- `solve_goal`: a goal pose tried from the current joints, then from home-like postures facing the goal.
- `straight_path`: the joint via-points (at most `via_spacing_m` apart) of a straight TCP line between
  two poses, turning about one constant axis the way the joints turn.

Both the simulated executor (sim.executor) and the planner's reachability check use this model, so a
plan that passes the check does not fail for an unreachable pose in simulation. Poses are (4, 4) TCP
poses in the robot base frame (metres); joint vectors are (7,) rad. mujoco is imported on first use
(`PandaIK` needs a compiled model, see `panda.build_panda_spec`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from robospatial_ros.core.errors import ConfigError, RoboSpatialError
from robospatial_ros.core.planning import panda

VIA_TURN_RAD = 0.25  # straight moves: via-points also at most this rotation apart
_NULL_GAIN = 0.1  # null-space pull toward home, per iteration, as a share of the joint offset
_MAX_STEP_RAD = 0.3  # trust region: big steps overshoot around singular poses
_PINV_RCOND = 1e-3


class IKError(RoboSpatialError):
    """A TCP pose (or a point on the straight move to it) is out of the arm's reach."""


@dataclass(frozen=True)
class IKConfig:
    """Solver settings (the simulated executor derives them from its ik_* settings and via_spacing_m)."""

    max_iters: int = 100
    tolerance_m: float = 5e-4  # TCP position error that counts as reached
    tolerance_rad: float = 5e-3  # TCP rotation error that counts as reached
    damping: float = 0.05  # damped least squares lambda
    via_spacing_m: float = 0.04  # Cartesian via-points at most this far apart along a straight move

    def __post_init__(self) -> None:
        iters = self.max_iters
        if not _is_number(iters) or not float(iters).is_integer() or iters < 1:
            raise ConfigError(f"IK max_iters must be a positive integer, got {iters!r}")
        object.__setattr__(self, "max_iters", int(iters))  # 100.0 from a file is accepted as 100
        for name in ("tolerance_m", "tolerance_rad", "damping", "via_spacing_m"):
            value = getattr(self, name)
            if not _is_number(value) or not (np.isfinite(value) and value > 0):
                raise ConfigError(f"IK setting {name} must be a positive number, got {value!r}")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


class PandaIK:
    """Damped-least-squares IK for the TCP site on a private MjData (a simulation's physics state is untouched).

    model: a compiled MjModel holding the Panda (`panda.build_panda_spec`, alone or with a scene).
    """

    def __init__(self, model: Any, handles: panda.PandaHandles, config: IKConfig | None = None):
        self.mujoco = panda.import_mujoco()
        self.model, self.handles, self.config = model, handles, config or IKConfig()
        self.data = self.mujoco.MjData(model)
        self._jac = np.zeros((6, model.nv))  # (6, nv): position rows, then rotation rows

    def tcp_pose(self, q: np.ndarray) -> np.ndarray:
        """(4, 4) TCP pose in the base frame for arm angles q (7,) rad."""
        self._fk(q)
        T = np.eye(4)
        T[:3, :3] = self.data.site_xmat[self.handles.tcp_site].reshape(3, 3)
        T[:3, 3] = self.data.site_xpos[self.handles.tcp_site]
        return T

    def _fk(self, q: np.ndarray) -> None:
        self.data.qpos[self.handles.arm_qpos] = q
        self.mujoco.mj_kinematics(self.model, self.data)
        self.mujoco.mj_comPos(self.model, self.data)

    def _error(self, target: np.ndarray) -> np.ndarray:
        """(6,) [position error, rotation error as a rotation vector], world frame."""
        s = self.handles.tcp_site
        R = self.data.site_xmat[s].reshape(3, 3)
        return np.concatenate([target[:3, 3] - self.data.site_xpos[s], rotation_vector(target[:3, :3] @ R.T)])

    def solve(self, target: np.ndarray, seed: np.ndarray) -> np.ndarray | None:
        """(7,) joint angles placing the TCP at target (4, 4), or None when it does not converge."""
        h, cfg = self.handles, self.config
        q = np.clip(np.asarray(seed, dtype=float).copy(), h.lower, h.upper)
        lam2 = cfg.damping**2
        for _ in range(cfg.max_iters):
            self._fk(q)
            err = self._error(target)
            if np.linalg.norm(err[:3]) < cfg.tolerance_m and np.linalg.norm(err[3:]) < cfg.tolerance_rad:
                return q
            self.mujoco.mj_jacSite(self.model, self.data, self._jac[:3], self._jac[3:], h.tcp_site)
            J = self._jac[:, h.arm_dof]  # (6, 7)
            JJt = J @ J.T + lam2 * np.eye(6)
            dq = J.T @ np.linalg.solve(JJt, err)
            # Null-space pull toward home: the redundant DoF keeps a natural elbow-up posture. The
            # projector uses the exact pseudo-inverse: a damped one leaks the pull into the TCP error.
            null = np.eye(7) - np.linalg.pinv(J, rcond=_PINV_RCOND) @ J
            dq += null @ (_NULL_GAIN * (panda.HOME_Q - q))
            step = np.max(np.abs(dq))
            if step > _MAX_STEP_RAD:
                dq *= _MAX_STEP_RAD / step
            q = np.clip(q + dq, h.lower, h.upper)
        return None


# --- rotations -------------------------------------------------------------------------------------


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


# --- goals and straight moves ----------------------------------------------------------------------


def goal_seeds(goal: np.ndarray, q_from: np.ndarray, handles: panda.PandaHandles) -> list[np.ndarray]:
    """(7,) IK seeds for a TCP goal (4, 4): the current joints q_from, then home-like postures facing the
    goal with joint 7 set for the goal's wrist yaw, each way round that stays inside the joint limits."""
    h = handles
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


def solve_goal(ik: PandaIK, name: str, goal: np.ndarray, q_from: np.ndarray) -> np.ndarray:
    """(7,) joints placing the TCP at `goal` (4, 4), tried from each of `goal_seeds`; IKError naming the
    `name` pose when none converges."""
    for seed in goal_seeds(goal, q_from, ik.handles):
        q = ik.solve(goal, seed)
        if q is not None:
            return q
    p = goal[:3, 3]
    raise IKError(f"the {name} pose at ({p[0]:.3f}, {p[1]:.3f}, {p[2]:.3f}) m is unreachable")


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


def straight_path(ik: PandaIK, name: str, start: np.ndarray, q_start: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """(K, 7) rad joint via-points, q_start first, of the straight TCP line start -> goal (poses (4, 4)),
    at most via_spacing_m and VIA_TURN_RAD apart; IKError naming the `name` pose when a point is unreachable."""
    q_goal = solve_goal(ik, name, goal, q_start)
    turn = _turn_along_joints(ik, start, q_start, q_goal)
    dist = float(np.linalg.norm(goal[:3, 3] - start[:3, 3]))
    n = max(1, int(np.ceil(max(dist / ik.config.via_spacing_m, float(np.linalg.norm(turn)) / VIA_TURN_RAD))))
    path, q = [q_start], q_start
    for i in range(1, n):
        target = interpolate_pose(start, goal, i / n, turn)
        solved = ik.solve(target, q)
        if solved is None:  # retry from the straight joint-space blend of the two ends
            solved = ik.solve(target, q_start + i / n * (q_goal - q_start))
        if solved is None:
            p = target[:3, 3]
            raise IKError(
                f"the way to the {name} pose passes an unreachable point ({p[0]:.3f}, {p[1]:.3f}, {p[2]:.3f}) m"
            )
        path.append(solved)
        q = solved
    path.append(q_goal)
    return np.array(path)
