"""Perception: one RGB-D frame (+ optional detections) -> a Scene the spatial core can answer on.

Stages (each timed in `PerceptionResult.timings_ms`):
  validate  intrinsics and pose checks (cached while the camera does not change)
  cloud     back-project a pixel-strided grid to world points (never the full 307k-point cloud),
            keeping those inside the workspace box
  plane     support plane: the near-horizontal level, below the camera, that the evidence backs
            (connected surface area; a table over a floor, not a lid; plane.py)
  support   the support object: min-area rectangle of the plane's largest connected inlier region
  objects   segments -> gravity-aligned boxes extruded down to the support, from
            (a) named instance masks, (b) labelled 2D boxes (largest DBSCAN cluster inside),
            (c) no detections: connected components of the depth image above the support's
                surface, cut at depth jumps and at creases between objects (segment.py;
                object_0, object_1, ... left to right)
The world frame is the frame's `camera_to_world` target (the robot base), z up. A frame
without a pose goes through `perceive_unposed`: the support plane then defines the world.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from robospatial_ros.core.geometry import OrientedBox
from robospatial_ros.core.obstacles import ObstacleMap, build_obstacle_map
from robospatial_ros.core.perception.attributes import colour_name, size_class
from robospatial_ros.core.perception.cloud import (
    PixelRays,
    check_depth,
    check_intrinsics,
    depth_at,
    strided_index,
    to_world,
    usable_depth,
)
from robospatial_ros.core.perception.config import PerceptionConfig
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
from robospatial_ros.core.perception.plane import (
    GridCloud,
    PlaneCandidate,
    PlaneSearch,
    SupportPlane,
    fit_support_plane,
)
from robospatial_ros.core.perception.segment import SegmentParams, segment_objects, working_step
from robospatial_ros.core.perception.unposed import gravity_plane, pose_from_plane
from robospatial_ros.core.scene import Scene, SceneObject

__all__ = ["Perception", "PerceptionConfig", "PerceptionResult"]

_BIAS_CELLS = 12  # the support surface's bias is smoothed over 1/12 of the grid each way
_NOISE_BANDS = 4  # the support's noise is measured in this many depth bands ...
_NOISE_BAND_POINTS = 100  # ... of at least this many points each


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
    # (4, 4) the optical-frame pose used: the frame's own, or the one perceive_unposed found.
    camera_to_world: np.ndarray = field(default_factory=lambda: np.eye(4))


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
    region_xy: np.ndarray  # (M, 2) float32 world x/y of the support's connected inlier region
    points: np.ndarray  # (N, 3) float32 strided cloud, world frame, metres
    colors: np.ndarray  # (N, 3) uint8
    grid: _Grid  # the strided cloud and its candidate: clustering measures the surface on them
    candidate: PlaneCandidate


@dataclass
class _Grid:
    """The strided cloud: the plane search's input and which grid pixels it came from."""

    cloud: GridCloud
    index: np.ndarray  # (N,) row-major pixel index of each point
    optical: np.ndarray  # (N, 3) float32, optical frame, metres (perceive_unposed re-poses it)


@dataclass
class _Found:
    """One object before its box: its name, its points' estimate, its score and its pixels' colours."""

    name: str
    estimate: ObjectEstimate
    score: float
    colours: np.ndarray  # (N, 3) uint8 RGB of the object's pixels (for its colour name)


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
            min_area_m2=cfg.min_support_area_m2,
            height_hint_m=None if cfg.support_height_m is None else float(cfg.support_height_m),
            height_tolerance_m=cfg.support_height_tolerance_m,
            min_extent_m=cfg.min_support_extent_m,
        )

    def perceive(self, frame: RGBDFrame, detections: MaskDetections | BoxDetections | None = None) -> PerceptionResult:
        """Raises NoValidDepthError, NoSupportPlaneError, DetectionError (all FrameError) on bad input."""
        clock = _Stopwatch()
        rays = self._validate(frame)
        clock.lap("validate")
        grid = self._grid(frame, rays, frame.camera_to_world, workspace=True)
        clock.lap("cloud")
        rng = np.random.default_rng(self.config.random_seed)
        candidate = fit_support_plane(grid.cloud, self._plane_search, rng)
        clock.lap("plane")
        return self._finish(frame, rays, grid, candidate, detections, clock)

    def perceive_unposed(
        self, frame: RGBDFrame, detections: MaskDetections | BoxDetections | None = None
    ) -> PerceptionResult:
        """A frame whose camera pose is unknown (its camera_to_world is ignored): the support defines the world.

        World z = the support's normal (up), the origin on the support right below the camera, x along
        the camera's heading projected on the support (`unposed.pose_from_plane`); the result's
        `camera_to_world` is that pose. The workspace box, if set, applies in this world. Raises as
        `perceive`.
        """
        clock = _Stopwatch()
        frame = dataclasses.replace(frame, camera_to_world=np.eye(4))
        rays = self._validate(frame)
        clock.lap("validate")
        grid = self._grid(frame, rays, np.eye(4), workspace=False)  # optical frame: no workspace yet
        clock.lap("cloud")
        rng = np.random.default_rng(self.config.random_seed)
        gravity = gravity_plane(grid.optical, self._plane_search, self.config.unposed_up_cone_deg, rng)
        first = pose_from_plane(gravity)  # z up along gravity; the support may be another level
        level = SupportPlane(np.array([0.0, 0.0, 1.0]), 0.0)  # the gravity plane, in the world it defines
        candidate = fit_support_plane(_reposed(grid, first).cloud, self._plane_search, rng, dominant=level)
        n, offset = candidate.plane
        # The support plane in the optical frame (n . (R p + t) + offset = 0) defines the final world.
        pose = pose_from_plane(SupportPlane(first[:3, :3].T @ n, float(offset + n @ first[:3, 3])))
        grid = _reposed(grid, pose)  # in this world the support is z = 0 by construction of `pose`
        candidate = dataclasses.replace(candidate, plane=level, camera_height_m=float(pose[2, 3]), z_m=0.0)
        clock.lap("plane")
        return self._finish(dataclasses.replace(frame, camera_to_world=pose), rays, grid, candidate, detections, clock)

    def _validate(self, frame: RGBDFrame) -> np.ndarray:
        """FrameError on a bad frame; the (H*W, 3) float32 optical rays of its intrinsics."""
        if not isinstance(frame, RGBDFrame):
            raise FrameError(f"perceive() needs an RGBDFrame, got {type(frame).__name__}")
        self._check_camera(frame)
        return self._rays.get(frame.camera().K, frame.width, frame.height)

    def _grid(self, frame: RGBDFrame, rays: np.ndarray, pose: np.ndarray, workspace: bool) -> _Grid:
        """The strided grid's points in the world of `pose`, those outside the workspace dropped."""
        cfg, stride = self.config, self.config.cloud_stride_px
        index = strided_index(frame.width, frame.height, stride)
        depth = depth_at(frame, index, cfg.min_depth_m, cfg.max_depth_m)  # (M,) float32 metres, NaN = none
        ok = ~np.isnan(depth)
        if np.count_nonzero(ok) < 3:  # diagnose only on failure: a full-image scan costs ~0.5 ms per frame
            check_depth(frame, cfg.min_depth_m, cfg.max_depth_m)
        cells, index, depth = np.flatnonzero(ok), index[ok], depth[ok]  # cells: grid cell of each point
        optical = rays[index] * depth[:, None]  # (N, 3) float32, optical frame, metres
        world = _transform(pose, optical)
        if workspace and cfg.workspace is not None:
            inside = _in_box(world, *cfg.workspace)
            world, optical, cells = world[inside], optical[inside], cells[inside]
            index, depth = index[inside], depth[inside]
        K = frame.camera().K
        area = (np.float32(stride) * depth) ** 2 / np.float32(K[0, 0] * K[1, 1])  # (N,) m^2 facing the camera
        shape = (len(range(stride // 2, frame.height, stride)), len(range(stride // 2, frame.width, stride)))
        cloud = GridCloud(world, cells, shape, area, np.asarray(pose[:3, 3], dtype=float))
        return _Grid(cloud, index, optical)

    def _check_camera(self, frame: RGBDFrame) -> None:
        """check_intrinsics, skipped while K and the pose stay what was last checked (a fixed camera)."""
        key = (np.asarray(frame.K).tobytes(), np.asarray(frame.camera_to_world).tobytes(), frame.width, frame.height)
        if key != self._checked:
            check_intrinsics(frame)
            self._checked = key

    def _finish(
        self,
        frame: RGBDFrame,
        rays: np.ndarray,
        grid: _Grid,
        candidate: PlaneCandidate,
        detections: MaskDetections | BoxDetections | None,
        clock: _Stopwatch,
    ) -> PerceptionResult:
        """Support box, objects and the scene, once the plane is known."""
        cfg = self.config
        support = self._support(frame, grid, candidate)
        clock.lap("support")
        warnings: list[str] = []
        objects = self._objects(frame, rays, support, detections, warnings)
        clock.lap("objects")
        scene = Scene(
            (SceneObject(cfg.support_name, support.box), *objects), frame.camera(), obstacles=self._observed(support)
        )
        clock.lap("scene")
        return PerceptionResult(
            scene,
            float(support.box.z_max),
            support.plane,
            clock.total(),
            support.points if cfg.return_cloud else None,
            support.colors if cfg.return_cloud else None,
            warnings,
            np.array(frame.camera_to_world, dtype=float),
        )

    # --- support -------------------------------------------------------------------
    def _support(self, frame: RGBDFrame, grid: _Grid, candidate: PlaneCandidate) -> _Support:
        """The support slab from the largest connected region of plane inliers on the pixel grid."""
        points = grid.cloud.points
        region_xy = np.compress(candidate.region, points[:, :2], axis=0)
        box = support_box(region_xy, candidate.plane, self.config.support_thickness_m)
        if min(box.size[:2]) < self.config.min_support_extent_m:  # a strip: planes slicing through the scene
            raise NoSupportPlaneError(
                f"no support plane: the best near-horizontal plane spans only {box.size[0]:.2f} x {box.size[1]:.2f} m "
                f"(min_support_extent_m={self.config.min_support_extent_m:g}); is camera_to_world right "
                f"(world z must point up)?"
            )
        colors = frame.color.reshape(-1, 3)[grid.index] if self.config.return_cloud else np.zeros((0, 3), np.uint8)
        return _Support(candidate.plane, box, region_xy, points, colors, grid, candidate)

    def _observed(self, support: _Support) -> ObstacleMap:
        """The observed map over the support's footprint from every (strided) point in the workspace.

        Heights are measured from the fitted plane, not world z, so a slightly tilted table is
        still all "bare support" where nothing stands on it."""
        points = np.asarray(support.points, dtype=float)  # (N, 3) world frame, metres
        top = float(support.box.z_max)
        rel = support.plane.height(points)  # (N,) metres above the plane
        # Far above the support (an arm reaching over, a person) is not on it; the cells under it are
        # then unknown unless the camera saw the surface there too.
        keep = rel <= self.config.max_object_height_m
        on_plane = np.column_stack([points[keep, :2], top + rel[keep]])
        footprint = support.box.footprint()  # (4, 2) world x/y
        bounds = np.array([footprint.min(axis=0), footprint.max(axis=0)])
        return build_obstacle_map(on_plane, top, bounds, self.config.obstacle_map)

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
            named = self._from_segments(frame, rays, support, warnings)
        elif isinstance(detections, MaskDetections):
            named = self._from_masks(frame, rays, support.plane, detections, warnings)
        elif isinstance(detections, BoxDetections):
            named = self._from_boxes(frame, rays, support.plane, detections, warnings)
        else:
            raise DetectionError(
                f"detections must be MaskDetections, BoxDetections or None, got {type(detections).__name__}"
            )
        return self._boxes(named, support.plane)

    def _boxes(self, found: list[_Found], plane: SupportPlane) -> list[SceneObject]:
        """Estimates -> SceneObjects (facing unknown), each extruded down to what it stands on, with
        its colour name (from its pixels) and size class (from its box)."""
        bases = support_heights([f.estimate for f in found], plane, self.config.stack_tolerance_m)
        out = []
        for f, base in zip(found, bases):
            box = to_box(f.estimate, plane, base)
            out.append(
                SceneObject(f.name, box, None, score=f.score, colour=colour_name(f.colours), size_class=size_class(box))
            )
        return out

    def _region_points(
        self, frame: RGBDFrame, rays: np.ndarray, plane: SupportPlane, region: PixelRegion
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """((N, 3) float32 world points of the region lying in the object height band and the workspace,
        (N, 3) uint8 RGB of those pixels, pixels with usable depth)."""
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
        if cfg.workspace is not None:
            band &= _in_box(points, *cfg.workspace)
        colours = frame.color.reshape(-1, 3)[index]
        return np.compress(band, points, axis=0), np.compress(band, colours, axis=0), len(index)

    def _estimate(self, points: np.ndarray, plane: SupportPlane) -> ObjectEstimate:
        cfg = self.config
        return estimate_object(points, plane.height(points), cfg.top_percentile, cfg.outlier_trim_percent)

    def _from_masks(
        self, frame: RGBDFrame, rays: np.ndarray, plane: SupportPlane, det: MaskDetections, warnings: list[str]
    ) -> list[_Found]:
        """(a) One object per named mask: its (eroded) pixels' points above the support."""
        cfg, out = self.config, []
        names = [n for n in det.masks if str(n) != cfg.support_name]  # the support comes from the plane
        for name, unique in zip(names, unique_names([str(n) for n in names], {cfg.support_name})):
            region, problem = mask_region(det.masks[name], frame.width, frame.height, cfg.mask_erode_px)
            points, colours, usable = self._region_points(frame, rays, plane, region) if region else (None, None, 0)
            if region is not None and cfg.mask_largest_cluster and len(points) >= cfg.min_object_points:
                points, colours = self._largest_cluster(points, colours)
            if region is not None and len(points) < cfg.min_object_points:
                problem = _few_points(len(points), usable, region, frame, cfg)
            if problem:
                warnings.append(f"mask {name!r} skipped: {problem}")
                continue
            out.append(_Found(unique, self._estimate(points, plane), float(det.scores.get(name, 1.0)), colours))
        _all_failed(out, len(names), warnings)
        return out

    def _from_boxes(
        self, frame: RGBDFrame, rays: np.ndarray, plane: SupportPlane, det: BoxDetections, warnings: list[str]
    ) -> list[_Found]:
        """(b) One object per labelled 2D box: the largest cluster of its points above the support."""
        cfg, out = self.config, []
        boxes, scores = checked_boxes(det)
        keep = [i for i, label in enumerate(det.labels) if str(label) != cfg.support_name]
        names = unique_names([str(det.labels[i]) for i in keep], {cfg.support_name})
        for i, name in zip(keep, names):
            region, problem = box_region(boxes[i], frame.width, frame.height)
            points, colours, usable = self._region_points(frame, rays, plane, region) if region else (None, None, 0)
            if region is not None and len(points) >= cfg.min_object_points:
                points, colours = self._largest_cluster(points, colours)
            if region is not None and len(points) < cfg.min_object_points:
                problem = _few_points(len(points), usable, region, frame, cfg)
            if problem:
                warnings.append(f"box {i} ({det.labels[i]!r}) skipped: {problem}")
                continue
            out.append(_Found(name, self._estimate(points, plane), float(scores[i]), colours))
        _all_failed(out, len(keep), warnings)
        return out

    def _largest_cluster(self, points: np.ndarray, colours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The (N, 3) points of the most populous DBSCAN cluster and their (N, 3) colours."""
        cfg = self.config
        keep = largest_cluster(voxel_clusters(points, cfg.voxel_size_m, cfg.cluster_eps_m, cfg.cluster_min_voxels))
        return np.compress(keep, points, axis=0), np.compress(keep, colours, axis=0)

    def _segment_params(self, noise_at_1m_m: float = 0.0) -> SegmentParams:
        """The segmentation's knobs; `noise_at_1m_m` the support's height noise (sigma at 1 m depth)."""
        cfg = self.config
        workspace = cfg.workspace
        return SegmentParams(
            cfg.min_depth_m,
            min(cfg.max_depth_m, cfg.cluster_max_depth_m),
            cfg.min_object_height_m,
            cfg.object_height_noise_sigmas * noise_at_1m_m,
            cfg.max_object_height_m,
            cfg.segment_jump_m,
            cfg.segment_min_jump_m,
            cfg.segment_crease_m,
            cfg.segment_crease_arm_m,
            cfg.min_object_points,
            cfg.min_cluster_top_m,
            cfg.min_object_size_m,
            cfg.segment_split_height_m,
            cfg.segment_split_colour,
            cfg.segment_max_width_px,
            cfg.support_margin_m,
            None if workspace is None else workspace[0],
            None if workspace is None else workspace[1],
        )

    def _from_segments(
        self, frame: RGBDFrame, rays: np.ndarray, support: _Support, warnings: list[str]
    ) -> list[_Found]:
        """(c) No detections: depth-image segments above the support (segment.py), left to right."""
        cfg = self.config
        bias, noise = _surface(support.grid, support.candidate, cfg.plane_distance_threshold_m)
        params = self._segment_params(noise)
        segments = segment_objects(frame, rays, support.plane, support.region_xy, params, bias)
        working = frame.color[:: (step := working_step(frame.width, params)), ::step].reshape(-1, 3)
        found = [(self._estimate(s.points, support.plane), working[s.pixels]) for s in segments]
        # A strip of a face seen at a grazing angle, cut off by the depth-jump test, is no object.
        found = [(e, c) for e, c in found if e.footprint.size.min() >= cfg.min_object_size_m]
        if not found:
            warnings.append("no objects found above the support")
        return [_Found(f"object_{k}", est, 1.0, colours) for k, (est, colours) in enumerate(found)]


def _few_points(above: int, usable: int, region: PixelRegion, frame: RGBDFrame, cfg: PerceptionConfig) -> str:
    """Why a detection yielded too few points: no depth at all, depth out of range, or too little above the support."""
    if usable == 0:
        (r0, r1), (c0, c1) = region.rows, region.cols
        raw = frame.depth[r0:r1, c0:c1].astype(np.float32) * np.float32(frame.depth_scale_m)
        if region.mask is not None:
            raw = raw[region.mask]
        measured = raw[np.isfinite(raw) & (raw > 0)]
        if len(measured):
            median = float(np.median(measured))
            far = median > cfg.max_depth_m
            limit = f"> max_depth_m {cfg.max_depth_m:g}" if far else f"< min_depth_m {cfg.min_depth_m:g}"
            return f"its depth is out of range ({median:.1f} m {limit}) in its {region.pixel_count} pixels"
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


def _surface(grid: _Grid, candidate: PlaneCandidate, threshold_m: float) -> tuple[np.ndarray | None, float]:
    """The support's real surface vs its plane: ((rows, cols) float32 bias in metres on the cloud grid,
    noise sigma at 1 m depth in metres).

    A real table is not the fitted plane: stereo depth bends with range and trays warp by
    millimetres to a centimetre. The bias is a wide box mean of the region's heights over the grid
    (normalized by coverage, so the table under objects takes its surroundings' value); the noise
    is the robust sigma (1.4826 MAD) of what is left, divided by depth^2 (stereo noise grows so),
    so one number says how far above the surface a pixel at any depth must be to be no support.
    """
    region = np.flatnonzero(candidate.region)
    if len(region) < 3:
        return None, 0.0
    rows, cols = grid.cloud.shape
    heights = candidate.plane.height(grid.cloud.points[region])  # (M,) float32 metres
    cells = grid.cloud.cells[region]
    # The inlier band (+-plane_distance_threshold_m) also holds the bottom centimetre of every object:
    # the inner half of it says where the surface is.
    core = np.abs(heights) < np.float32(threshold_m / 2)
    total, count = np.zeros(rows * cols, np.float32), np.zeros(rows * cols, np.float32)
    total[cells[core]], count[cells[core]] = heights[core], 1.0
    size = (2 * (cols // _BIAS_CELLS) + 1, 2 * (rows // _BIAS_CELLS) + 1)
    num = cv2.blur(total.reshape(rows, cols), size, borderType=cv2.BORDER_CONSTANT)
    den = cv2.blur(count.reshape(rows, cols), size, borderType=cv2.BORDER_CONSTANT)
    bias = np.where(den > 1e-3, num / np.maximum(den, np.float32(1e-3)), np.float32(0.0)).astype(np.float32)
    sample = slice(None, None, max(1, len(region) // 5000))
    left = np.abs(heights[sample] - bias.reshape(-1)[cells[sample]])
    d = grid.optical[region[sample], 2]
    return bias, _noise_coefficient(left, d)


def _noise_coefficient(residual: np.ndarray, depth: np.ndarray) -> float:
    """sigma / depth^2 (metres at 1 m) of (N,) |residuals| at (N,) depths: the worst of a few depth bands.

    Per band (quantiles of depth) the robust sigma 1.4826 * MAD over the band's median depth^2; the
    largest band wins, so a far stretch of noisier support (structured light beyond 1 m) sets it.
    """
    if len(depth) < _NOISE_BANDS * _NOISE_BAND_POINTS:
        return float(1.4826 * np.median(residual / (depth * depth))) if len(depth) else 0.0
    order = np.argsort(depth)
    worst = 0.0
    for band in np.array_split(order, _NOISE_BANDS):
        d = float(np.median(depth[band]))
        worst = max(worst, float(1.4826 * np.median(residual[band])) / (d * d))
    return worst


def _transform(T: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 3) float32 points under the rigid (4, 4) transform T."""
    return points @ T[:3, :3].T.astype(np.float32) + T[:3, 3].astype(np.float32)


def _reposed(grid: _Grid, pose: np.ndarray) -> _Grid:
    """The same grid with its optical points moved into the world of `pose` (4, 4)."""
    points = _transform(pose, grid.optical)
    cloud = dataclasses.replace(grid.cloud, points=points, camera=np.asarray(pose[:3, 3], dtype=float))
    return _Grid(cloud, grid.index, grid.optical)


def _in_box(points: np.ndarray, lo: tuple[float, float, float], hi: tuple[float, float, float]) -> np.ndarray:
    """(N,) bool: (N, 3) points inside the axis-aligned box [lo, hi] (world frame, metres)."""
    inside = np.ones(len(points), dtype=bool)
    for axis in range(3):
        column = points[:, axis]
        inside &= (column >= np.float32(lo[axis])) & (column <= np.float32(hi[axis]))
    return inside
