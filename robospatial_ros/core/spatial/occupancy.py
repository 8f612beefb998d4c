"""The occupancy grid a query sees: the support area with every obstacle but the ones it leaves out.

A cell is occupied when its centre lies inside the convex hull of an obstacle's
footprint. Deliberate differences from the reference generator (docs/architecture.md):
the support under the reference object bounds the grid instead of filling it,
and anything no higher than that support's top (the floor under a table) is not
an obstacle on it. The grid itself is `grid.OccupancyGrid`; the per-scene stamps
are `view.SceneView.obstacle_layers`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from robospatial_ros.core.scene import SceneObject
from robospatial_ros.core.spatial.grid import OccupancyGrid
from robospatial_ros.core.spatial.view import SceneView

__all__ = ["OccupancyGrid", "grid_for"]


@dataclass
class _Grids:
    """Per-query grids of one SceneView, by (objects left out, the support's name or None)."""

    grids: dict[tuple[frozenset[str], str | None], OccupancyGrid] = field(default_factory=dict)


def grid_for(view: SceneView, exclude: frozenset[str], support: SceneObject | None) -> OccupancyGrid:
    """Occupancy over `support`'s top (or the objects' extent) with every object but `exclude`.

    Footprints are stamped once per support and scene; leaving objects out subtracts
    their stamps, so the many grids of a scene's questions cost one array op each.
    """
    grids = view.results(_Grids).grids
    key = (exclude, None if support is None else support.name)
    grid = grids.get(key)
    if grid is None:
        grid = grids[key] = view.obstacle_layers(support).without(exclude)
    return grid
