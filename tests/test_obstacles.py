"""The observed obstacle map: free only where the bare support was seen, occupied by anything above it."""

import numpy as np
import pytest

from robospatial_ros.core.errors import ConfigError, SceneError
from robospatial_ros.core.obstacles import FREE, OCCUPIED, UNKNOWN, ObstacleMap, ObstacleMapConfig, build_obstacle_map

BOUNDS = np.array([[0.0, 0.0], [0.5, 0.4]])


def _surface(x0, x1, y0, y1, z=0.0, step=0.004):
    xs, ys = np.meshgrid(np.arange(x0, x1, step), np.arange(y0, y1, step))
    return np.column_stack([xs.ravel(), ys.ravel(), np.full(xs.size, z)])


def test_seen_surface_is_free_points_above_occupy_and_the_unseen_is_unknown():
    table = _surface(0.0, 0.3, 0.0, 0.4)  # the camera saw only x < 0.3 of the table
    box_top = _surface(0.1, 0.15, 0.1, 0.15, z=0.05)  # something nobody named, 5 cm tall
    noise = np.array([[0.25, 0.3, 0.004]])  # 4 mm above the table: sensor noise, not an object
    m = build_obstacle_map(np.vstack([table, box_top, noise]), 0.0, BOUNDS)
    state = m.state_at(np.array([[0.05, 0.05], [0.125, 0.125], [0.4, 0.2], [0.25, 0.3], [0.9, 0.9]]))
    assert state.tolist() == [FREE, OCCUPIED, UNKNOWN, FREE, UNKNOWN]
    s = m.summary()
    assert s["free_cells"] + s["occupied_cells"] + s["unknown_cells"] == 50 * 40


def test_small_gaps_of_a_strided_cloud_are_closed_but_a_shadow_is_not():
    table = _surface(0.0, 0.5, 0.0, 0.4, step=0.012)  # coarser than the 1 cm cells: single-cell gaps
    table = table[~((table[:, 0] > 0.2) & (table[:, 0] < 0.3))]  # a 10 cm shadow band
    m = build_obstacle_map(table, 0.0, BOUNDS)
    assert m.free_at(np.array([[0.05, 0.05], [0.11, 0.31]])).all()
    assert not m.free_at(np.array([[0.25, 0.2]])).any()
    no_fill = build_obstacle_map(table, 0.0, BOUNDS, ObstacleMapConfig(fill_holes_cells=0))
    assert (no_fill.cells == UNKNOWN).sum() > (m.cells == UNKNOWN).sum()


def test_occupied_cells_grow_by_the_configured_margin():
    table = _surface(0.0, 0.5, 0.0, 0.4)
    post = np.array([[0.205, 0.205, 0.1]])  # one thin thing
    grown = build_obstacle_map(np.vstack([table, post]), 0.0, BOUNDS)
    tight = build_obstacle_map(np.vstack([table, post]), 0.0, BOUNDS, ObstacleMapConfig(grow_occupied_cells=0))
    assert (tight.cells == OCCUPIED).sum() == 1
    assert (grown.cells == OCCUPIED).sum() == 9


@pytest.mark.parametrize(
    "kwargs",
    [
        {"cells": np.zeros((0, 3))},
        {"cells": np.full((2, 2), 7)},
        {"origin_xy_m": [np.nan, 0.0]},
        {"resolution_m": 0.0},
        {"support_height_m": np.inf},
    ],
)
def test_malformed_maps_are_scene_errors(kwargs):
    args = {"cells": np.zeros((2, 2)), "origin_xy_m": [0.0, 0.0], "resolution_m": 0.01, "support_height_m": 0.0}
    with pytest.raises(SceneError):
        ObstacleMap(**{**args, **kwargs})


def test_bad_bounds_and_settings_are_scene_errors():
    with pytest.raises(SceneError, match="bounds"):
        build_obstacle_map(np.zeros((1, 3)), 0.0, np.array([[0.0, 0.0], [0.0, 1.0]]))
    with pytest.raises(ConfigError, match="fill_holes_cells"):
        ObstacleMapConfig(fill_holes_cells=-1)


def test_the_map_survives_the_objects_message_exactly():
    """Through DetectedObjectArray.obstacle_map (nav_msgs/OccupancyGrid, float32 resolution): the same cells,
    the same resolution (0.01 must not arrive as 0.0099999998, which shifts cell lookups at boundaries)."""
    from dataclasses import replace

    from robospatial_ros.ros.conversions import scene_from_msg, scene_to_msg

    import scenes

    table = np.array([[x, y, 0.0] for x in np.arange(0.0, 0.5, 0.004) for y in np.arange(0.0, 0.4, 0.004)])
    obstacles = build_obstacle_map(np.vstack([table, [[0.2, 0.2, 0.1]]]), 0.0, BOUNDS)
    scene = replace(scenes.scene(scenes.cube("mug", 0.3, 0.1)), obstacles=obstacles)
    back = scene_from_msg(scene_to_msg(scene, "panda_link0")).obstacles
    assert back is not None and back.resolution_m == 0.01
    np.testing.assert_array_equal(back.cells, obstacles.cells)
    np.testing.assert_allclose(back.origin_xy_m, obstacles.origin_xy_m)
    assert scene_from_msg(scene_to_msg(scenes.scene(), "panda_link0")).obstacles is None
