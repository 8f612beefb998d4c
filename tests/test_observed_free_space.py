"""With an observed obstacle map, context points, fits and placements use only cells the camera saw
as bare support: never an unnamed thing, never an unseen spot. Without one, the named boxes decide."""

from dataclasses import replace

import numpy as np

from robospatial_ros.core.language.commands import parse_command
from robospatial_ros.core.language.questions import parse_question
from robospatial_ros.core.obstacles import build_obstacle_map
from robospatial_ros.core.reasoning.placement import choose_placement
from robospatial_ros.core.reasoning.reasoner import GeometricReasoner
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.core.spatial.view import SceneView

import scenes

CONFIG = SpatialConfig(grid_resolution_m=0.01, context_threshold_m=0.25, min_distance_m=0.0)


def _table_points(step=0.005, skip=lambda xy: np.zeros(len(xy), bool)):
    xs, ys = np.meshgrid(np.arange(-0.5, 1.5, step), np.arange(-1.0, 1.0, step))
    xy = np.column_stack([xs.ravel(), ys.ravel()])
    xy = xy[~skip(xy)]
    return np.column_stack([xy, np.zeros(len(xy))])  # (N, 3) on the table top, z = 0


def _scene(points=None):
    s = scenes.scene(scenes.cube("mug", 0.3, -0.3, 0.06), scenes.cube("bowl", 0.5, 0.0, 0.12))
    if points is None:
        return s
    bounds = np.array([[-0.5, -1.0], [1.5, 1.0]])
    return replace(s, obstacles=build_obstacle_map(points, 0.0, bounds))


def _free_on_map(scene, xyz):
    return scene.obstacles.free_at(np.asarray(xyz).reshape(-1, 3)[:, :2])


def test_placement_avoids_an_object_nobody_named():
    command = "put the mug to the left of the bowl"
    plain = _scene()
    spot = choose_placement(SceneView(plain, CONFIG), parse_command(command, plain.names)).xyz
    # Something the detector missed stands exactly where the boxes alone would put the mug.
    box = np.array([[x, y, 0.05] for x in np.arange(-0.05, 0.05, 0.005) for y in np.arange(-0.05, 0.05, 0.005)])
    seen = np.vstack([_table_points(), box + [spot[0], spot[1], 0.0]])
    observed = _scene(seen)
    moved = choose_placement(SceneView(observed, CONFIG), parse_command(command, observed.names)).xyz
    assert np.linalg.norm(moved[:2] - spot[:2]) > 0.05
    assert _free_on_map(observed, moved).all()


def test_context_points_never_fall_where_the_camera_did_not_see():
    hidden = lambda xy: xy[:, 1] > 0.12  # noqa: E731 - the far left of the table was never observed
    observed = _scene(_table_points(skip=hidden))
    reasoner = GeometricReasoner(CONFIG)
    q = parse_question("points in the free space to the left of the bowl from the robot's perspective", observed.names)
    answer = reasoner.answer(SceneView(observed, CONFIG), q)
    assert len(answer.points_3d) > 0 and _free_on_map(observed, answer.points_3d).all()
    assert answer.points_3d[:, 1].max() <= 0.12
    plain = reasoner.answer(SceneView(_scene(), CONFIG), q)
    assert plain.points_3d[:, 1].max() > 0.12  # the boxes alone see room there: the map made the difference


def test_the_object_being_moved_frees_its_own_spot():
    """The mug is seen where it stands; fitting the mug somewhere must not be blocked by the mug itself."""
    mug = np.array([[x, y, 0.06] for x in np.arange(0.27, 0.33, 0.005) for y in np.arange(-0.33, -0.27, 0.005)])
    observed = _scene(np.vstack([_table_points(skip=lambda xy: np.hypot(xy[:, 0] - 0.3, xy[:, 1] + 0.3) < 0.04), mug]))
    q = parse_question("can the mug fit in front of the bowl from the robot's perspective?", observed.names)
    assert GeometricReasoner(CONFIG).answer(SceneView(observed, CONFIG), q).yes
