"""Perception: one RGB-D frame (+ optional detections) -> a Scene the spatial core can answer on.

Stages (each timed in `PerceptionResult.timings_ms`):
  validate  intrinsics and pose checks (cached while the camera does not change)
  cloud     back-project a pixel-strided grid to world points (never the full 307k-point cloud)
  plane     support plane: RANSAC over near-horizontal hypotheses + least-squares refits; a higher
            plane with a good share of the largest one's points wins (the table, not the floor)
  support   the support object: min-area rectangle of the plane's largest connected inlier region
  objects   segments -> gravity-aligned boxes extruded down to the support, from
            (a) named instance masks, (b) labelled 2D boxes (largest DBSCAN cluster inside),
            (c) no detections: DBSCAN over the points above the support (object_0, object_1, ...)
The world frame is the frame's `camera_to_world` target (the robot base), z up.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from robospatial_ros.core.configio import check_field_types
from robospatial_ros.core.errors import ConfigError
from robospatial_ros.core.geometry import OrientedBox
from robospatial_ros.core.perception.cloud import (
    PixelRays,
    backproject,
    check_depth,
    check_intrinsics,
    depth_at,
    flying_at,
    strided_index,
    to_world,
    usable_depth,
)
from robospatial_ros.core.perception.detections import PixelRegion, box_region, checked_boxes, mask_region
from robospatial_ros.core.perception.errors import DetectionError, NoSupportPlaneError
from robospatial_ros.core.perception.frame import BoxDetections, FrameError, MaskDetections, RGBDFrame
from robospatial_ros.core.perception.objects import (
    ObjectEstimate,
    estimate_object,
    largest_cluster,
    support_box,
    support_heights,
    to_box,
    unique_names,
    voxel_clusters,
)
from robospatial_ros.core.perception.plane import PlaneSearch, SupportPlane, fit_support_plane, largest_region
from robospatial_ros.core.scene import Scene, SceneObject

_BAND_ROWS = 48  # image rows per block when scanning the whole frame for points above the support


@dataclass(frozen=True)
class PerceptionConfig:
    """Knobs of the perception pipeline; lengths in metres. Defaults suit a D435 at 0.5-2 m."""

    min_depth_m: float = 0.2  # nearer readings are dropped (D435 minimum range ~0.2 m at 640x480)
    max_depth_m: float = 3.0  # farther readings are dropped (D435 error grows ~quadratically)
    cloud_stride_px: int = 4  # pixel stride of the grid used for the plane fit and the returned cloud
    plane_distance_threshold_m: float = 0.01  # RANSAC / refit inlier distance
    plane_ransac_iterations: int = 200
    plane_sample_points: int = 3000  # RANSAC scores hypotheses on this many grid points
    max_plane_tilt_deg: float = 20.0  # the support's normal is within this of world z
    min_plane_points: int = 200  # the support needs at least this many grid inliers
    min_support_extent_m: float = 0.1  # ... and a footprint at least this long on both sides
    support_min_share: float = 0.3  # a higher plane with this share of a lower one's inliers is the support
    support_name: str = "table"
    support_thickness_m: float = 0.05  # the support slab's height below its top surface
    min_object_height_m: float = 0.01  # points nearer the plane than this belong to the support
    max_object_height_m: float = 0.6  # points higher above the plane are not on it (arms, people)
    min_object_points: int = 30  # full-resolution points an object needs
    min_object_size_m: float = 0.01  # unlabelled clusters narrower than this on the support are noise
    # Drop mixed edge pixels: off both neighbours by more than this at 1 m (scaled by depth^2, >= 5 mm).
    flying_pixel_jump_m: float = 0.01
    mask_largest_cluster: bool = False  # keep only a mask's largest DBSCAN cluster (masks bleeding onto others)
    mask_erode_px: int = 0  # shrink masks by this many pixels (1-2 for segmenter masks with ragged edges)
    voxel_size_m: float = 0.01  # clustering voxel
    cluster_eps_m: float = 0.02  # DBSCAN neighbourhood (between voxel centres)
    cluster_min_voxels: int = 3  # DBSCAN core-point neighbours
    top_percentile: float = 99.0  # object top = this height percentile (the bottom mirror for stacking)
    outlier_trim_percent: float = 1.0  # footprint extents ignore this share of points on each side
    stack_tolerance_m: float = 0.02  # an object stands on another whose top is this close below its points
    return_cloud: bool = True  # return the strided cloud (points, colors) in the result
    random_seed: int = 0  # RANSAC sampling; fixed so the same frame gives the same scene

    def __post_init__(self) -> None:
        try:
            check_field_types(self)
        except ValueError as exc:
            raise ConfigError(f"perception config: {exc}") from None
        positive = (
            "min_depth_m",
            "max_depth_m",
            "cloud_stride_px",
            "plane_distance_threshold_m",
            "plane_ransac_iterations",
            "plane_sample_points",
            "min_plane_points",
            "min_support_extent_m",
            "support_thickness_m",
            "max_object_height_m",
            "min_object_points",
            "min_object_size_m",
            "voxel_size_m",
            "cluster_eps_m",
            "cluster_min_voxels",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(f"perception config: {name} must be > 0, got {getattr(self, name)!r}")
        for name in ("min_object_height_m", "mask_erode_px", "stack_tolerance_m", "flying_pixel_jump_m"):
            if getattr(self, name) < 0:
                raise ConfigError(f"perception config: {name} must be >= 0, got {getattr(self, name)!r}")
        self._check_ranges()

    def _check_ranges(self) -> None:
        if self.min_depth_m >= self.max_depth_m:
            raise ConfigError(
                f"perception config: min_depth_m ({self.min_depth_m}) must be < max_depth_m ({self.max_depth_m})"
            )
        if self.min_object_height_m >= self.max_object_height_m:
            raise ConfigError("perception config: min_object_height_m must be < max_object_height_m")
        if not 0 < self.max_plane_tilt_deg < 90:
            raise ConfigError(
                f"perception config: max_plane_tilt_deg must be in (0, 90), got {self.max_plane_tilt_deg}"
            )
        if not 50 <= self.top_percentile <= 100:
            raise ConfigError(f"perception config: top_percentile must be in [50, 100], got {self.top_percentile}")
        if not 0 < self.support_min_share <= 1:
            raise ConfigError(f"perception config: support_min_share must be in (0, 1], got {self.support_min_share}")
        if not 0 <= self.outlier_trim_percent < 25:
            raise ConfigError(
                f"perception config: outlier_trim_percent must be in [0, 25), got {self.outlier_trim_percent}"
            )
        if not self.support_name.strip():
            raise ConfigError("perception config: support_name must be a non-empty name")


@dataclass
class PerceptionResult:
    """What one frame yields. `scene` holds the support (named config.support_name) and the objects."""

    scene: Scene
    support_height_m: float  # world z of the support plane under the support's footprint centre
    plane: SupportPlane  # (unit normal (3,), offset_m): n . p + offset_m = 0, world frame, n_z > 0
    timings_ms: dict[str, float]  # per stage (validate, cloud, plane, support, objects, scene) and total
    points: np.ndarray | None = None  # (N, 3) float32, world frame, metres: the strided cloud
    colors: np.ndarray | None = None  # (N, 3) uint8 RGB of `points`
    warnings: list[str] = field(default_factory=list)  # skipped detections and other non-fatal problems


class _Stopwatch:
    """Splits elapsed wall time into named stages, in milliseconds."""

    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.ms: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.ms[name] = (now - self.last) * 1e3
        self.last = now

    def total(self) -> dict[str, float]:
        self.ms["total"] = (time.perf_counter() - self.start) * 1e3
        return self.ms


@dataclass
class _Support:
    """The fitted plane, the support object's box, and what the objects stage needs from the frame."""

    plane: SupportPlane
    box: OrientedBox  # the support slab, world frame
    points: np.ndarray  # (N, 3) float32 strided cloud, world frame, metres
    colors: np.ndarray  # (N, 3) uint8


class Perception:
    """`Perception(config).perceive(frame, detections)` -> PerceptionResult. Never imports ROS."""

    def __init__(self, config: PerceptionConfig | None = None):
        self.config = config or PerceptionConfig()
        self._rays = PixelRays()
        self._checked: tuple | None = None
        cfg = self.config
        self._plane_search = PlaneSearch(
            cfg.plane_distance_threshold_m,
            cfg.plane_ransac_iterations,
            cfg.plane_sample_points,
            cfg.max_plane_tilt_deg,
            cfg.min_plane_points,
            cfg.support_min_share,
        )

    def perceive(self, frame: RGBDFrame, detections: MaskDetections | BoxDetections | None = None) -> PerceptionResult:
        """Raises NoValidDepthError, NoSupportPlaneError, DetectionError (all FrameError) on bad input."""
        cfg, clock = self.config, _Stopwatch()
        if not isinstance(frame, RGBDFrame):
            raise FrameError(f"perceive() needs an RGBDFrame, got {type(frame).__name__}")
        self._check_camera(frame)
        rays = self._rays.get(frame.camera().K, frame.width, frame.height)
        clock.lap("validate")
        grid = strided_index(frame.width, frame.height, cfg.cloud_stride_px)
        points, ok = backproject(frame, rays, grid, cfg.min_depth_m, cfg.max_depth_m)
        if len(points) < 3:  # diagnose only on failure: a full-image scan costs ~0.5 ms per frame
            check_depth(frame, cfg.min_depth_m, cfg.max_depth_m)
        clock.lap("cloud")
        rng = np.random.default_rng(cfg.random_seed)
        plane, inliers = fit_support_plane(points, self._plane_search, rng)
        clock.lap("plane")
        support = self._support(frame, grid, ok, points, inliers, plane)
        clock.lap("support")
        warnings: list[str] = []
        objects = self._objects(frame, rays, support, detections, warnings)
        clock.lap("objects")
        scene = Scene((SceneObject(cfg.support_name, support.box), *objects), frame.camera())
        clock.lap("scene")
        colors = support.colors if cfg.return_cloud else None
        return PerceptionResult(
            scene,
            float(support.box.z_max),
            plane,
            clock.total(),
            points if cfg.return_cloud else None,
            colors,
            warnings,
        )

    def _check_camera(self, frame: RGBDFrame) -> None:
        """check_intrinsics, skipped while K and the pose stay what was last checked (a fixed camera)."""
        key = (np.asarray(frame.K).tobytes(), np.asarray(frame.camera_to_world).tobytes(), frame.width, frame.height)
        if key != self._checked:
            check_intrinsics(frame)
            self._checked = key

    # --- support -------------------------------------------------------------------
    def _support(
        self,
        frame: RGBDFrame,
        grid: np.ndarray,
        ok: np.ndarray,
        points: np.ndarray,
        inliers: np.ndarray,
        plane: SupportPlane,
    ) -> _Support:
        """The support slab from the largest connected region of plane inliers on the pixel grid."""
        stride = self.config.cloud_stride_px
        rows, cols = len(range(stride // 2, frame.height, stride)), len(range(stride // 2, frame.width, stride))
        position = np.flatnonzero(ok)  # grid cell of each valid point
        inlier_grid = np.zeros(rows * cols, dtype=bool)
        inlier_grid[position[inliers]] = True
        region = largest_region(inlier_grid.reshape(rows, cols)).reshape(-1)[position]  # (N,) per point
        box = support_box(np.compress(region, points[:, :2], axis=0), plane, self.config.support_thickness_m)
        if min(box.size[:2]) < self.config.min_support_extent_m:  # a strip: planes slicing through the scene
            raise NoSupportPlaneError(
                f"no support plane: the best near-horizontal plane spans only {box.size[0]:.2f} x {box.size[1]:.2f} m "
                f"(min_support_extent_m={self.config.min_support_extent_m:g}); is camera_to_world right "
                f"(world z must point up)?"
            )
        colors = frame.color.reshape(-1, 3)[grid[ok]] if self.config.return_cloud else np.zeros((0, 3), np.uint8)
        return _Support(plane, box, points, colors)

    # --- objects -------------------------------------------------------------------
    def _objects(
        self,
        frame: RGBDFrame,
        rays: np.ndarray,
        support: _Support,
        detections: MaskDetections | BoxDetections | None,
        warnings: list[str],
    ) -> list[SceneObject]:
        if detections is None:
            named = self._from_clusters(frame, rays, support, warnings)
        elif isinstance(detections, MaskDetections):
            named = self._from_masks(frame, rays, support.plane, detections, warnings)
        elif isinstance(detections, BoxDetections):
            named = self._from_boxes(frame, rays, support.plane, detections, warnings)
        else:
            raise DetectionError(
                f"detections must be MaskDetections, BoxDetections or None, got {type(detections).__name__}"
            )
        return self._boxes(named, support.plane)

    def _boxes(self, named: list[tuple[str, ObjectEstimate, float]], plane: SupportPlane) -> list[SceneObject]:
        """Estimates -> SceneObjects (facing unknown), each extruded down to what it stands on."""
        estimates = [est for _, est, _ in named]
        bases = support_heights(estimates, plane, self.config.stack_tolerance_m)
        return [
            SceneObject(name, to_box(est, plane, base), None, score=score)
            for (name, est, score), base in zip(named, bases)
        ]

    def _region_points(
        self, frame: RGBDFrame, rays: np.ndarray, plane: SupportPlane, region: PixelRegion
    ) -> tuple[np.ndarray, int]:
        """((N, 3) float32 world points of the region lying in the object height band, pixels with usable depth)."""
        cfg = self.config
        d = usable_depth(frame, region.rows, region.cols, cfg.min_depth_m, cfg.max_depth_m, cfg.flying_pixel_jump_m)
        keep = ~np.isnan(d)
        if region.mask is not None:
            keep &= region.mask
        rr, cc = np.nonzero(keep)
        index = (rr + region.rows[0]) * frame.width + (cc + region.cols[0])
        points = to_world(frame, rays, index, d[rr, cc])
        h = plane.height(points)
        band = (h > cfg.min_object_height_m) & (h < cfg.max_object_height_m)
        return np.compress(band, points, axis=0), len(index)

    def _estimate(self, points: np.ndarray, plane: SupportPlane) -> ObjectEstimate:
        cfg = self.config
        return estimate_object(points, plane.height(points), cfg.top_percentile, cfg.outlier_trim_percent)

    def _from_masks(
        self, frame: RGBDFrame, rays: np.ndarray, plane: SupportPlane, det: MaskDetections, warnings: list[str]
    ) -> list[tuple[str, ObjectEstimate, float]]:
        """(a) One object per named mask: its (eroded) pixels' points above the support."""
        cfg, out = self.config, []
        names = [n for n in det.masks if str(n) != cfg.support_name]  # the support comes from the plane
        for name, unique in zip(names, unique_names([str(n) for n in names], {cfg.support_name})):
            region, problem = mask_region(det.masks[name], frame.width, frame.height, cfg.mask_erode_px)
            points, usable = self._region_points(frame, rays, plane, region) if region else (None, 0)
            if region is not None and cfg.mask_largest_cluster and len(points) >= cfg.min_object_points:
                labels = voxel_clusters(points, cfg.voxel_size_m, cfg.cluster_eps_m, cfg.cluster_min_voxels)
                points = np.compress(largest_cluster(labels), points, axis=0)
            if region is not None and len(points) < cfg.min_object_points:
                problem = _few_points(len(points), usable, region, cfg)
            if problem:
                warnings.append(f"mask {name!r} skipped: {problem}")
                continue
            out.append((unique, self._estimate(points, plane), float(det.scores.get(name, 1.0))))
        _all_failed(out, len(names), warnings)
        return out

    def _from_boxes(
        self, frame: RGBDFrame, rays: np.ndarray, plane: SupportPlane, det: BoxDetections, warnings: list[str]
    ) -> list[tuple[str, ObjectEstimate, float]]:
        """(b) One object per labelled 2D box: the largest cluster of its points above the support."""
        cfg, out = self.config, []
        boxes, scores = checked_boxes(det)
        keep = [i for i, label in enumerate(det.labels) if str(label) != cfg.support_name]
        names = unique_names([str(det.labels[i]) for i in keep], {cfg.support_name})
        for i, name in zip(keep, names):
            region, problem = box_region(boxes[i], frame.width, frame.height)
            points, usable = self._region_points(frame, rays, plane, region) if region else (None, 0)
            if region is not None and len(points) >= cfg.min_object_points:
                labels = voxel_clusters(points, cfg.voxel_size_m, cfg.cluster_eps_m, cfg.cluster_min_voxels)
                points = np.compress(largest_cluster(labels), points, axis=0)
            if region is not None and len(points) < cfg.min_object_points:
                problem = _few_points(len(points), usable, region, cfg)
            if problem:
                warnings.append(f"box {i} ({det.labels[i]!r}) skipped: {problem}")
                continue
            out.append((name, self._estimate(points, plane), float(scores[i])))
        _all_failed(out, len(keep), warnings)
        return out

    def _from_clusters(
        self, frame: RGBDFrame, rays: np.ndarray, support: _Support, warnings: list[str]
    ) -> list[tuple[str, ObjectEstimate, float]]:
        """(c) No detections: DBSCAN clusters of the points above the support's footprint."""
        cfg, plane = self.config, support.plane
        points = to_world(frame, rays, *self._band_pixels(frame, rays, plane))
        points = np.compress(_inside_footprint(points, support.box), points, axis=0)
        labels = voxel_clusters(points, cfg.voxel_size_m, cfg.cluster_eps_m, cfg.cluster_min_voxels)
        counts = np.bincount(labels[labels >= 0]) if len(labels) else np.zeros(0, int)
        clusters = [np.compress(labels == k, points, axis=0) for k in np.flatnonzero(counts >= cfg.min_object_points)]
        clusters.sort(key=lambda p: _image_column(p, frame))  # object_0 is leftmost in the image
        estimates = [self._estimate(p, plane) for p in clusters]
        # A strip of a face seen at a grazing angle, cut off by the flying-pixel test, is no object.
        estimates = [e for e in estimates if e.footprint.size.min() >= cfg.min_object_size_m]
        if not estimates:
            warnings.append("no objects found above the support")
        return [(f"object_{k}", est, 1.0) for k, est in enumerate(estimates)]

    def _band_pixels(self, frame: RGBDFrame, rays: np.ndarray, plane: SupportPlane) -> tuple[np.ndarray, np.ndarray]:
        """(row-major indices, float32 depths in metres) of usable pixels in the object height band.

        height = d * (ray . R^T n) + (n . t + offset): a multiply-add per pixel, no cloud. Done in
        blocks of rows so that no temporary is a fresh multi-megabyte array (page faults dominate).
        """
        cfg, T, W = self.config, frame.camera_to_world, frame.width
        n = T[:3, :3].T @ plane.normal  # (3,) plane normal, optical frame
        base = np.float32(plane.normal @ T[:3, 3] + plane.offset_m)
        # ray . n = n_x x(u) + n_y y(v) + n_z: separable, so an outer sum of two 1D arrays, no matmul.
        ray_u = (rays[:W, 0] * np.float32(n[0]) + np.float32(n[2]))[None, :]  # (1, W)
        ray_v = rays[::W, 1] * np.float32(n[1])  # (H,)
        index, depth = [], []
        for r0 in range(0, frame.height, _BAND_ROWS):
            r1 = min(r0 + _BAND_ROWS, frame.height)
            d = depth_at(frame, slice(r0 * W, r1 * W), cfg.min_depth_m, cfg.max_depth_m)
            h = d * (ray_u + ray_v[r0:r1, None]).reshape(-1) + base
            with np.errstate(invalid="ignore"):
                sel = np.flatnonzero((h > cfg.min_object_height_m) & (h < cfg.max_object_height_m))
            index.append(sel + r0 * W)
            depth.append(d[sel])
        index, depth = np.concatenate(index), np.concatenate(depth)
        # Flying pixels are tested on the band's pixels only: a few percent of the image.
        keep = ~flying_at(frame, index, depth, cfg.min_depth_m, cfg.max_depth_m, cfg.flying_pixel_jump_m)
        return index[keep], depth[keep]


def _few_points(above: int, usable: int, region: PixelRegion, cfg: PerceptionConfig) -> str:
    """Why a detection yielded too few points: no usable depth at all, or too little above the support."""
    if usable == 0:
        return f"no valid depth in its {region.pixel_count} pixels"
    return (
        f"{above} points above the support (of {usable} with depth), fewer than "
        f"min_object_points={cfg.min_object_points}"
    )


def _all_failed(found: list, attempted: int, warnings: list[str]) -> None:
    if attempted and not found:
        raise DetectionError(f"no detection gave an object: {'; '.join(warnings)}")
    if not attempted:
        warnings.append("no detections given")


def _image_column(points: np.ndarray, frame: RGBDFrame) -> float:
    mean = [[float(points[:, i].mean()) for i in range(3)]]  # per column: axis-0 means are slow
    uv, _ = frame.camera().project(np.array(mean))
    return float(uv[0, 0])


def _inside_footprint(points: np.ndarray, box: OrientedBox) -> np.ndarray:
    """(N,) bool: (N, 3) world points whose x/y fall inside a gravity-aligned box's footprint rectangle."""
    c, s = (np.float32(v) for v in box.rotation[:2, 0])  # box x axis in the world plane
    dx, dy = points[:, 0] - np.float32(box.center[0]), points[:, 1] - np.float32(box.center[1])
    half_x, half_y = (np.float32(v) for v in box.size[:2] / 2)
    return (np.abs(dx * c + dy * s) <= half_x) & (np.abs(dy * c - dx * s) <= half_y)
