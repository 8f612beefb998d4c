"""Can the arm carry out a plan? Inverse kinematics on the Panda model, as the simulated executor moves.

`check_reachable(plan)` solves the same damped-least-squares IK (`core.planning.ik`, default
settings) on the same MuJoCo Panda (`core.planning.panda`, base at the origin of the plan's base
frame) that the simulated executor moves, starting from the home posture: every waypoint, and by
default every Cartesian via-point of the straight TCP lines between them (the executor's motions),
so a plan that passes here does not fail for an unreachable pose in the simulator. Joint limits are
respected; collisions of the links with the scene are not checked (the plan keeps the hand clear
of neighbours, and top-down motions keep the arm above them).

mujoco is imported on first use; the compiled model is cached (about 0.25 s once per process).
"""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING

import numpy as np

from robospatial_ros.core.planning import panda
from robospatial_ros.core.planning.ik import IKConfig, IKError, PandaIK, solve_goal, straight_path

if TYPE_CHECKING:
    from robospatial_ros.core.planning.pick_place import PickPlacePlan

_LOCK = threading.Lock()  # one IK solver (one private MjData): callers take turns


@functools.lru_cache(maxsize=1)
def _solver() -> PandaIK:
    panda.import_mujoco()  # a one-line RoboSpatialError when mujoco is missing
    model = panda.build_panda_spec().compile()
    return PandaIK(model, panda.PandaHandles.from_model(model), IKConfig())


def load_arm_model() -> None:
    """Build and cache the arm model now (a node does it at startup, so the first check is fast).

    Raises RoboSpatialError (one line) when mujoco or the Panda model (the pybullet wheel) is missing.
    """
    with _LOCK:
        _solver()


def check_reachable(
    plan: PickPlacePlan, check_path: bool = True, start_q: np.ndarray | None = None
) -> tuple[bool, str]:
    """(reachable, reason): can the Panda's TCP follow the plan's poses (base frame), from `start_q`?

    check_path: also solve the via-points of the straight TCP lines between waypoints (as the
    simulated executor moves; ~35 ms), not only the six waypoints (~8 ms).
    start_q: (7,) joint angles the arm starts from (default: the home posture).
    """
    waypoints = plan.waypoints()
    with _LOCK:
        ik = _solver()
        q = np.asarray(panda.HOME_Q if start_q is None else start_q, dtype=float).reshape(7)
        try:
            previous = ik.tcp_pose(q)
            for name, pose in waypoints:
                if check_path:
                    q = straight_path(ik, name, previous, q, pose)[-1]
                else:
                    q = solve_goal(ik, name, pose, q)
                previous = pose
        except IKError as exc:
            return False, f"not reachable by the arm (IK): {exc}"
    what = "every pose and the straight moves between them" if check_path else "every pose"
    return True, f"the arm reaches {what}"
