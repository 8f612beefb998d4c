"""Per-object measurements every relation needs, computed once per scene.

`SceneView` wraps a Scene and a SpatialConfig and caches, per object, what the
camera sees of it (silhouette, pixel extents, depth range), its heights, its
extents along the robot base axes and its own front/left axes; per support, the
obstacle footprints stamped on the occupancy grid; and, per query, each module's
results. Answering all RoboSpatial questions for a scene reuses them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeVar

import numpy as np

from robospatial_ros.core.camera import MIN_DEPTH_M
from robospatial_ros.core.errors import SceneError
from robospatial_ros.core.geometry import (
    clip_polygon_to_rect,
    convex_hull_2d,
    distance_to_convex_polygon,
    invert_transform,
    polygon_area_centroid,
    transform_points,
)
from robospatial_ros.core.scene import Scene, SceneObject
from robospatial_ros.core.spatial.config import SpatialConfig, category_matches
from robospatial_ros.core.spatial.grid import ObstacleLayers, OccupancyGrid, empty_grid, stamp_obstacles

UP = np.array([0.0, 0.0, 1.0])
Store = TypeVar("Store")  # a module's dataclass of per-query (or per-scene) results (see SceneView.results)
Preparer = Callable[["SceneView", SceneObject], None]
# Per-scene work of the modules above this one (context's projected grid cells around an object,
# compatibility's footprint stencils): each registers a function that `prepare` runs per object, so
# this module needs none of their types and imports none of them.
_PREPARERS: list[Preparer] = []


def register_preparer(fn: Preparer) -> Preparer:
    """Have `SceneView.prepare` run `fn(view, obj)` for every object (a module's per-scene work)."""
    if fn not in _PREPARERS:
        _PREPARERS.append(fn)
    return fn


@dataclass(frozen=True)
class PlanarView:
    """An object as a viewer sees it: horizontal extent (x grows to the viewer's right),
    its 2D box and centroid in the viewer's plane, and its near/far range in depth."""

    x_min: float
    x_max: float
    box: tuple[float, float, float, float]  # (x_min, y_min, x_max, y_max)
    centroid: np.ndarray  # (2,)
    near: float
    far: float

    def box_contains(self, point: np.ndarray) -> bool:
        return bool(self.box[0] <= point[0] <= self.box[2] and self.box[1] <= point[1] <= self.box[3])


@dataclass
class ObjectView:
    """What one object looks like from the camera, the base and itself."""

    obj: SceneObject
    scene: Scene
    # 3D box overlap with other objects, keyed by the pair's names (filled by configuration).
    overlaps: dict[frozenset[str], bool] = field(default_factory=dict)

    @cached_property
    def corners(self) -> np.ndarray:
        """(8, 3) box corners, world frame, metres."""
        return self.obj.box.corners()

    @cached_property
    def z_min(self) -> float:
        return float(self.corners[:, 2].min())

    @cached_property
    def z_max(self) -> float:
        return float(self.corners[:, 2].max())

    @cached_property
    def z_avg(self) -> float:
        return float(self.corners[:, 2].mean())

    @cached_property
    def footprint_rect(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(centre (2,), axes (2, 2) rows, half sizes (2,)) when the footprint is the box's
        own rectangle (box z axis vertical: every gravity-aligned box); else None."""
        R = self.obj.box.rotation
        if abs(abs(R[2, 2]) - 1.0) > 1e-9:
            return None
        axes = R[:2, :2].T  # rows: box x and y axes in the world plane
        return self.obj.box.center[:2], axes, self.obj.box.size[:2] / 2.0

    def distance_to_footprint(self, points: np.ndarray) -> np.ndarray:
        """(N,) distance from (N, 2) world x/y points to the footprint, 0 inside; metres."""
        rect = self.footprint_rect
        if rect is None:
            return distance_to_convex_polygon(points, self.footprint)
        center, axes, half = rect
        local = np.abs((points - center) @ axes.T) - half  # (N, 2)
        return np.hypot(np.maximum(local[:, 0], 0.0), np.maximum(local[:, 1], 0.0))

    @cached_property
    def footprint(self) -> np.ndarray:
        """(K, 2) top-down convex hull, world x/y, counter-clockwise."""
        return convex_hull_2d(self.corners[:, :2])

    # --- camera (ego) ---------------------------------------------------------
    @cached_property
    def _projection(self) -> tuple[np.ndarray, np.ndarray]:
        return self.scene.camera.project(self.corners)

    @cached_property
    def depth_range(self) -> tuple[float, float] | None:
        """(min, max) optical depth of the corners in front of the camera; None if invisible."""
        if self.silhouette is None:
            return None
        depth = self._projection[1]
        front = depth[depth > MIN_DEPTH_M]
        return float(front.min()), float(front.max())

    @cached_property
    def silhouette(self) -> np.ndarray | None:
        """(K, 2) pixel polygon of the box clipped to the image; None if it misses the image.

        The union of a box's projected faces is the hull of its projected corners; corners
        behind the camera are left out (the reference generator drops such faces).
        """
        uv, depth = self._projection
        front = depth > MIN_DEPTH_M
        if front.sum() < 3:
            return None
        cam = self.scene.camera
        hull = convex_hull_2d(uv[front])
        lo, hi = hull.min(axis=0), hull.max(axis=0)
        if lo[0] >= 0 and lo[1] >= 0 and hi[0] <= cam.width - 1 and hi[1] <= cam.height - 1:
            clipped = hull  # the common case: wholly inside the image
        else:
            clipped = clip_polygon_to_rect(hull, 0.0, 0.0, cam.width - 1.0, cam.height - 1.0)
        if len(clipped) < 3 or polygon_area_centroid(clipped)[0] <= 0.0:
            return None
        return clipped

    @cached_property
    def ego(self) -> PlanarView | None:
        """Image column extent, pixel box and centroid, optical depth range; None if unseen."""
        sil = self.silhouette
        if sil is None or self.depth_range is None:
            return None
        box = (float(sil[:, 0].min()), float(sil[:, 1].min()), float(sil[:, 0].max()), float(sil[:, 1].max()))
        centroid = polygon_area_centroid(sil)[1]
        return PlanarView(box[0], box[2], box, centroid, *self.depth_range)

    # --- robot base ------------------------------------------------------------
    @cached_property
    def base(self) -> PlanarView:
        """The object as a viewer at the robot base looking along +x sees it (REP-103).

        x: lateral offset to the viewer's right (= -y_base), so left is smaller x as in
        the image; depth: distance ahead (= x_base), so in front is smaller depth.
        """
        pts = transform_points(invert_transform(self.scene.base_to_world), self.corners)
        lateral, ahead = -pts[:, 1], pts[:, 0]
        box = (float(lateral.min()), float(ahead.min()), float(lateral.max()), float(ahead.max()))
        return PlanarView(box[0], box[2], box, np.array([lateral.mean(), ahead.mean()]), box[1], box[3])

    # --- the object's own frame ------------------------------------------------
    @cached_property
    def facing_assumed(self) -> bool:
        return self.obj.facing is None or np.linalg.norm(np.cross(self.obj.facing, UP)) < 1e-6

    @cached_property
    def forward(self) -> np.ndarray:
        """(3,) unit horizontal 'front' direction, world frame.

        The object's facing when known; else from the object toward the camera.
        """
        facing = self.obj.facing
        if facing is not None and not self.facing_assumed:
            f = facing.copy()
        else:
            f = self.scene.camera.position - self.obj.box.center
        f[2] = 0.0
        norm = np.linalg.norm(f)
        return f / norm if norm > 1e-9 else np.array([1.0, 0.0, 0.0])

    @cached_property
    def right(self) -> np.ndarray:
        """(3,) unit 'right' = forward x up, world frame."""
        return np.cross(self.forward, UP)

    @cached_property
    def half_forward_m(self) -> float:
        """The box's half extent along `forward`, metres."""
        return float(np.abs((self.corners - self.obj.box.center) @ self.forward).max())

    @cached_property
    def half_right_m(self) -> float:
        """The box's half extent along `right`, metres."""
        return float(np.abs((self.corners - self.obj.box.center) @ self.right).max())


class SceneView:
    """A scene seen under one SpatialConfig, with per-scene measurements and per-query results.

    Per scene (shared with the views `for_new_query` makes): each object's `ObjectView`, its support
    and the obstacle stamps per support. Per query: each module above keeps its results in its own
    typed store (`results`), so this class needs none of their types and imports none of them.
    """

    def __init__(self, scene: Scene, config: SpatialConfig | None = None):
        self.scene = scene
        self.config = config or SpatialConfig()
        if len(scene.objects) > self.config.max_objects:
            # Per-scene work grows with the objects squared (supports, stamps): refuse before any of it.
            raise SceneError(
                f"the scene has {len(scene.objects)} objects, more than max_objects={self.config.max_objects}"
            )
        self._views: dict[str, ObjectView] = {}  # by object name
        self._supports: dict[str, SceneObject | None] = {}  # by object name
        self._layers: dict[str | None, ObstacleLayers] = {}  # by the support's name (None: no support)
        self._results: dict[type, object] = {}  # a module's store type -> this view's store of it
        self._shared: dict[type, object] = {}  # a module's per-scene store type -> the scene's store of it

    def view(self, obj: SceneObject) -> ObjectView:
        if obj.name not in self._views:
            self._views[obj.name] = ObjectView(obj, self.scene)
        return self._views[obj.name]

    def support_of(self, obj: SceneObject) -> SceneObject | None:
        if obj.name not in self._supports:
            self._supports[obj.name] = self.scene.support_of(obj, self.config.support_tolerance_m)
        return self._supports[obj.name]

    def has_front(self, obj: SceneObject) -> bool:
        """Whether object-frame context and compatibility may use `obj`'s front: always under
        `object_facing: all`; under `listed` only when its category is a `facing_categories` entry."""
        cfg = self.config
        return cfg.object_facing == "all" or category_matches(obj.category, cfg.facing_categories, cfg.category_match)

    def obstacle_layers(self, support: SceneObject | None) -> ObstacleLayers:
        """Every obstacle's footprint stamped over `support`'s area (see `_build_layers`), once per scene."""
        key = None if support is None else support.name
        layers = self._layers.get(key)
        if layers is None:
            layers = self._layers[key] = _build_layers(self, support)
        return layers

    def results(self, kind: type[Store]) -> Store:
        """This view's `kind` store (a module's dataclass of per-query results), made empty on first use."""
        return _store(self._results, kind)

    def scene_results(self, kind: type[Store]) -> Store:
        """The scene's `kind` store: a module's per-scene measurements (geometry of the scene and the
        config alone, never which objects a query leaves out), shared with every `for_new_query` view."""
        return _store(self._shared, kind)

    def prepare(self) -> SceneView:
        """Compute what every query of this scene shares (per-object measurements, supports,
        obstacle layers, the registered modules' per-scene work), e.g. once per perception update
        in a node. Returns self."""
        for obj in self.scene.objects:
            v = self.view(obj)
            _ = v.footprint, v.ego, v.base
            self.obstacle_layers(self.support_of(obj))
        for obj in self.scene.objects:
            for fn in _PREPARERS:
                fn(self, obj)
        return self

    def for_new_query(self) -> SceneView:
        """A view sharing this one's per-scene work but none of its per-query results
        (benchmarks time queries this way)."""
        other = SceneView(self.scene, self.config)
        other._views, other._supports, other._layers = self._views, self._supports, self._layers
        other._shared = self._shared
        return other


def _store(stores: dict[type, object], kind: type[Store]) -> Store:
    """`stores[kind]`, made empty on first use."""
    store = stores.get(kind)
    if not isinstance(store, kind):
        store = stores[kind] = kind()
    return store


def _grid_area(view: SceneView, support: SceneObject | None) -> tuple[np.ndarray, np.ndarray]:
    """(min xy, max xy) of the grid: the support's footprint, else all objects' footprints."""
    if support is not None:
        fp = view.view(support).footprint
        return fp.min(axis=0), fp.max(axis=0)
    pts = np.concatenate([view.view(o).footprint for o in view.scene.objects])
    return pts.min(axis=0), pts.max(axis=0)


def _build_layers(view: SceneView, support: SceneObject | None) -> ObstacleLayers:
    """The grid over `support`'s top (or the objects' extent) with every obstacle stamped.

    Deliberate differences from the reference generator (docs/architecture.md): the support bounds the
    grid instead of filling it, and anything no higher than its top (the floor under a table)
    is not an obstacle on it.
    """
    cfg = view.config
    grid = empty_grid(*_grid_area(view, support), cfg.grid_resolution_m, cfg.max_grid_cells, cfg.grid_alignment)
    top = -np.inf
    if support is not None:
        top = view.view(support).z_max
        rows, cols, mask = grid.polygon_cells(view.view(support).footprint)
        grid.inside[:] = False
        grid.inside[rows, cols] = mask
    footprints = {}  # obstacle name -> (K, 2) world x/y, metres
    for obj in view.scene.objects:
        if obj is support:
            continue
        v = view.view(obj)
        if v.z_max <= top + 1e-3:
            continue  # under or level with the support's top (the floor under a table)
        footprints[obj.name] = v.footprint
    return stamp_obstacles(grid, footprints, _observed_layer(view, grid, support))


def _observed_layer(view: SceneView, grid: OccupancyGrid, support: SceneObject | None) -> np.ndarray | None:
    """(ny, nx) bool: grid cells the camera did not see as bare support, when the scene carries an
    observation of this support (its top within support_tolerance_m of the observed surface);
    else None. An observation of the table says nothing about the top of a tray standing on it."""
    observed = view.scene.obstacles
    if observed is None or support is None:
        return None
    if abs(view.view(support).z_max - observed.support_height_m) > view.config.support_tolerance_m:
        return None
    centres = grid.centers().reshape(-1, 2)  # (ny * nx, 2) world x/y, metres
    return ~observed.free_at(centres).reshape(grid.shape)
