"""The main job (core.reasoning.job): its retry policy and plannability test, and the same outcome on both
paths that run it (the direct demo and the ROS 2 node graph, real DDS in this process)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np
import pytest
from ros_helpers import fresh_domain_id

from robospatial_ros.core.configio import load_config
from robospatial_ros.core.errors import ConfigError
from robospatial_ros.core.geometry import OrientedBox
from robospatial_ros.core.language.commands import PlacementCommand
from robospatial_ros.core.planning.pick_place import PickPlaceConfig, PlanningError, UnsafeGoalError
from robospatial_ros.core.reasoning.job import (
    JobConfig,
    JobFailed,
    JobRecord,
    JobSettings,
    MainJob,
    NoPlannablePlacementError,
    plan_at,
    plan_placement,
)
from robospatial_ros.core.reasoning.placement import Placement, PlacementError, placed_box
from robospatial_ros.core.resources import DEFAULT_TABLETOP_CONFIG
from robospatial_ros.core.scene import Scene, SceneObject, load_scene
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.core.spatial.types import Frame, Relation
from robospatial_ros.core.spatial.view import SceneView

from scenes import cube, scene

ROOT = Path(__file__).resolve().parents[1]
PLANNING = PickPlaceConfig()
NO_IK = JobConfig(check_reachability=False)
HIT = "every grasp would hit a neighbouring object"


def _block_scene() -> Scene:
    """A block narrow along x (the fingers close along x) and a tall crate; the table top is z = 0."""
    block = SceneObject("block", OrientedBox.axis_aligned([0.45, 0.25, 0.04], [0.04, 0.10, 0.08]))
    crate = cube("crate", 0.55, -0.10, size=0.10, height=0.15)
    return scene(block, crate)


VIEW = SceneView(_block_scene())
COMMAND = PlacementCommand("block", "crate", Relation.RIGHT, Frame.WORLD)


def _spot(x: float, y: float, target: str = "block", view: SceneView = VIEW) -> Placement:
    box = placed_box(view.scene.get(target).box, np.array([x, y]), 0.0, 0.0)
    return Placement(np.array([x, y, 0.0]), 0.0, box, np.array([[x, y, 0.0]]))


# The block's +x face 1.5 cm from the crate's -x face: the open fingers (closing along x) hit the crate.
NEXT_TO_CRATE = (0.465, -0.10)
FREE = (0.45, -0.35)
OUT_OF_REACH = (0.95, 0.0)


def test_a_spot_whose_grasp_would_hit_a_neighbour_is_skipped():
    with pytest.raises(PlanningError, match=HIT):
        plan_at(VIEW.scene, "block", np.array([*NEXT_TO_CRATE, 0.0]), 0.0, PLANNING, NO_IK)
    chosen = plan_placement(VIEW, COMMAND, PLANNING, NO_IK, [_spot(*NEXT_TO_CRATE), _spot(*FREE)])
    assert chosen.tried == 2
    np.testing.assert_allclose(chosen.placement.xyz, [*FREE, 0.0])
    np.testing.assert_allclose(chosen.plan.place_xyz, [*FREE, 0.0])
    assert chosen.plan.object_id == "block"


def test_the_best_plannable_spot_is_taken_first():
    chosen = plan_placement(VIEW, COMMAND, PLANNING, NO_IK, [_spot(*FREE), _spot(*NEXT_TO_CRATE)])
    assert chosen.tried == 1 and np.allclose(chosen.placement.xyz[:2], FREE)


def test_the_limit_is_honoured():
    three, four = (
        JobConfig(max_plan_tries=3, check_reachability=False),
        JobConfig(max_plan_tries=4, check_reachability=False),
    )
    drawn = []

    def endless_bad_spots():
        for k in itertools.count():
            drawn.append(k)
            yield _spot(*NEXT_TO_CRATE)

    with pytest.raises(NoPlannablePlacementError) as err:
        plan_placement(
            VIEW, COMMAND, PLANNING, JobConfig(max_plan_tries=3, check_reachability=False), endless_bad_spots()
        )
    assert err.value.tried == 3 and len(drawn) == 3
    assert "3 placements tried" in str(err.value) and "max_plan_tries = 3" in str(err.value)
    # A good spot after the limit is never reached.
    spots = [_spot(*NEXT_TO_CRATE)] * 3 + [_spot(*FREE)]
    with pytest.raises(NoPlannablePlacementError):
        plan_placement(VIEW, COMMAND, PLANNING, three, spots)
    assert plan_placement(VIEW, COMMAND, PLANNING, four, spots).tried == 4


def test_the_error_names_why_the_last_try_failed():
    with pytest.raises(NoPlannablePlacementError) as err:
        plan_placement(VIEW, COMMAND, PLANNING, NO_IK, [_spot(*NEXT_TO_CRATE), _spot(*OUT_OF_REACH)])
    assert "beyond the arm's reach" in str(err.value) and HIT not in str(err.value)
    assert np.allclose(err.value.last_placement.xyz[:2], OUT_OF_REACH)
    with pytest.raises(NoPlannablePlacementError, match=HIT):
        plan_placement(VIEW, COMMAND, PLANNING, NO_IK, [_spot(*OUT_OF_REACH), _spot(*NEXT_TO_CRATE)])
    with pytest.raises(PlacementError, match="no placement to plan for"):
        plan_placement(VIEW, COMMAND, PLANNING, NO_IK, [])


def test_reachability_by_ik_is_part_of_the_test():
    """A spot inside the workspace that the Panda cannot reach (IK on its MuJoCo model) is skipped."""
    view = SceneView(load_scene(ROOT / "robospatial_ros" / "data" / "tabletop_scene.json"))
    cmd = PlacementCommand("bottle", "bowl", Relation.LEFT, Frame.WORLD)
    spots = [_spot(0.775, -0.005, "bottle", view), _spot(0.40, 0.0, "bottle", view)]
    assert plan_placement(view, cmd, PLANNING, NO_IK, spots).tried == 1
    with pytest.raises(UnsafeGoalError, match=r"not reachable by the arm \(IK\)"):
        plan_at(view.scene, "bottle", spots[0].xyz, 0.0, PLANNING, JobConfig())
    assert plan_placement(view, cmd, PLANNING, JobConfig(), spots).tried == 2


def test_job_config_is_validated():
    for bad in ({"max_plan_tries": 0}, {"max_plan_tries": 2.5}, {"check_path": "yes"}):
        with pytest.raises(ConfigError):
            JobConfig(**bad)


def test_importing_the_job_does_not_import_mujoco():
    code = "import sys, robospatial_ros.core.reasoning.job; assert 'mujoco' not in sys.modules, 'mujoco imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


class _Refusing:
    """An executor that refuses every plan (a real one reports failures the same way: a result)."""

    def __init__(self):
        self.plans = []

    def execute(self, plan):
        self.plans.append(plan)
        return type("Outcome", (), {"success": False, "reason": "gripper jammed"})()


def test_the_executor_is_injected_and_its_failure_names_the_stage():
    executor, record = _Refusing(), JobRecord()
    job = MainJob(JobSettings(job=NO_IK), executor)
    with pytest.raises(JobFailed, match="^execute: gripper jammed$") as err:
        job.run("put the block to the right of the crate from the robot's perspective", VIEW, _never, record)
    assert err.value.stage == "execute"
    assert record.plan is not None and executor.plans == [record.plan] and record.check is None


def _never() -> Scene:
    raise AssertionError("nothing is observed after a failed execution")


# --- both paths, the same outcome -----------------------------------------------------------------------

SEEDS = (1000, 1002, 1003)


@pytest.fixture(scope="module")
def episodes_both_ways():
    from robospatial_ros.bench.sim import episodes
    from robospatial_ros.ros.graph_demo import GraphSession
    from robospatial_ros.sim.demo import DemoConfig, run_episode

    config = DemoConfig(spatial=load_config(SpatialConfig, DEFAULT_TABLETOP_CONFIG))
    todo = [e for e in episodes(config, SEEDS[0], SEEDS[-1] - SEEDS[0] + 1) if e[0] in SEEDS]
    direct = {seed: run_episode(command, seed, config) for seed, command in todo}
    with GraphSession(config.spatial, config.job, domain_id=fresh_domain_id()) as session:
        graph = {seed: session.episode(command, seed) for seed, command in todo}
    return todo, direct, graph


@pytest.mark.parametrize("seed", SEEDS)
def test_same_seed_and_command_same_outcome_on_both_paths(episodes_both_ways, seed):
    todo, direct, graph = episodes_both_ways
    d, g = direct[seed], graph[seed]
    assert d.success == g.success, (dict(todo)[seed], d.failure, g.failure)
    if d.placement is not None and "placement" in g.report:  # the same spot chosen
        np.testing.assert_allclose(g.report["placement"]["xyz_m"], d.placement.xyz, atol=2e-3)
