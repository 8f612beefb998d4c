"""PerceptionConfig: the knobs of the perception pipeline (also the perception node's `perception.*`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from robospatial_ros.core.configio import check_field_types
from robospatial_ros.core.errors import ConfigError
from robospatial_ros.core.obstacles import ObstacleMapConfig


@dataclass(frozen=True)
class PerceptionConfig:
    """Knobs of the perception pipeline; lengths in metres. Defaults suit a RealSense D4xx at 0.4-2 m."""

    min_depth_m: float = 0.2  # nearer readings are dropped (D435 minimum range ~0.2 m at 640x480)
    max_depth_m: float = 3.0  # farther readings are dropped (D435 error grows ~quadratically)
    cloud_stride_px: int = 4  # pixel stride of the grid used for the plane fit and the returned cloud
    plane_distance_threshold_m: float = 0.01  # RANSAC / refit inlier distance
    plane_ransac_iterations: int = 200
    plane_sample_points: int = 3000  # RANSAC scores hypotheses on this many grid points
    max_plane_tilt_deg: float = 20.0  # the support's normal is within this of world z
    min_plane_points: int = 200  # the support needs at least this many connected grid inliers
    min_support_extent_m: float = 0.1  # ... and a footprint at least this long on both sides
    min_support_area_m2: float = 0.01  # ... and this much connected surface (10 x 10 cm)
    support_min_share: float = 0.4  # a higher level with this share of the largest one's area is the support
    # World z of the support's top (the workcell's table), metres: the level nearest it is the support.
    support_height_m: float | None = None  # None: decided by the evidence (area) alone
    support_height_tolerance_m: float = 0.05  # ... a level farther than this from the hint is not it
    # The workspace: a box in the world (robot base) frame; points outside it are ignored (robot parts,
    # floor, furniture never become objects or support). None: unbounded.
    workspace_min_xyz_m: tuple[float, ...] | None = None
    workspace_max_xyz_m: tuple[float, ...] | None = None
    unposed_up_cone_deg: float = 60.0  # perceive_unposed: gravity is a plane within this of a 45-deg-down view
    support_name: str = "table"
    support_thickness_m: float = 0.05  # the support slab's height below its top surface
    min_object_height_m: float = 0.01  # points nearer the plane than this belong to the support
    # Clustering: points within this many noise sigmas of the support belong to it too; the sigma is
    # measured on the support in each frame (its height spread, growing with depth^2 as stereo noise).
    object_height_noise_sigmas: float = 3.0
    max_object_height_m: float = 0.6  # points higher above the plane are not on it (arms, people)
    min_object_points: int = 30  # full-resolution points an object needs
    min_object_size_m: float = 0.02  # unlabelled clusters narrower than this on the support are noise
    min_cluster_top_m: float = 0.012  # ... and so are those whose top is lower than this above the support
    # ... and points farther than this (optical depth): stereo noise there is centimetres, objects blur.
    cluster_max_depth_m: float = 1.5
    # Clustering cuts neighbouring pixels apart where depth jumps by more than this at 1 m (x depth^2).
    segment_jump_m: float = 0.02
    segment_min_jump_m: float = 0.008  # ... never by less than this
    # ... and where a concave crease (two objects meeting) sags deeper than this below the chord
    # of +-segment_crease_arm_m of surface around it; 0 = no crease cuts.
    segment_crease_m: float = 0.009
    segment_crease_arm_m: float = 0.015
    # Pieces cut apart by a crease are two objects only if their tops differ by more than this, or ...
    segment_split_height_m: float = 0.02
    segment_split_colour: float = 0.2  # ... their colours (chromaticity L1, or half the brightness, 0-1)
    segment_max_width_px: int = 320  # clustering works on every n-th pixel of wider images (640x480 -> 320x240)
    support_margin_m: float = 0.0  # an unlabelled object lies mostly within this of the support's hull
    # Drop mixed edge pixels: off both neighbours by more than this at 1 m (scaled by depth^2, >= 5 mm).
    flying_pixel_jump_m: float = 0.01
    mask_largest_cluster: bool = False  # keep only a mask's largest DBSCAN cluster (masks bleeding onto others)
    mask_erode_px: int = 0  # shrink masks by this many pixels (1-2 for segmenter masks with ragged edges)
    voxel_size_m: float = 0.01  # DBSCAN voxel (2D boxes' largest cluster, mask_largest_cluster)
    cluster_eps_m: float = 0.02  # DBSCAN neighbourhood (between voxel centres)
    cluster_min_voxels: int = 3  # DBSCAN core-point neighbours
    top_percentile: float = 99.0  # object top = this height percentile (the bottom mirror for stacking)
    outlier_trim_percent: float = 1.0  # footprint extents ignore this share of points on each side
    stack_tolerance_m: float = 0.02  # an object stands on another whose top is this close below its points
    return_cloud: bool = True  # return the strided cloud (points, colors) in the result
    random_seed: int = 0  # RANSAC sampling; fixed so the same frame gives the same scene
    # What the camera observed on the support (free / occupied / unknown cells), carried by the scene:
    # placements and context points use only cells seen as bare support.
    obstacle_map: ObstacleMapConfig = field(default_factory=ObstacleMapConfig)

    def __post_init__(self) -> None:
        for name in ("workspace_min_xyz_m", "workspace_max_xyz_m"):
            if isinstance(getattr(self, name), list):  # YAML / ROS parameters give lists
                object.__setattr__(self, name, tuple(getattr(self, name)))
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
            "support_height_tolerance_m",
            "max_object_height_m",
            "min_object_points",
            "min_object_size_m",
            "segment_jump_m",
            "segment_crease_arm_m",
            "cluster_max_depth_m",
            "segment_max_width_px",
            "voxel_size_m",
            "cluster_eps_m",
            "cluster_min_voxels",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(f"perception config: {name} must be > 0, got {getattr(self, name)!r}")
        non_negative = (
            "min_object_height_m",
            "object_height_noise_sigmas",
            "min_cluster_top_m",
            "segment_min_jump_m",
            "segment_crease_m",
            "segment_split_height_m",
            "segment_split_colour",
            "min_support_area_m2",
            "support_margin_m",
            "mask_erode_px",
            "stack_tolerance_m",
            "flying_pixel_jump_m",
        )
        for name in non_negative:
            if getattr(self, name) < 0:
                raise ConfigError(f"perception config: {name} must be >= 0, got {getattr(self, name)!r}")
        self._check_ranges()
        self._check_optional()

    def _check_ranges(self) -> None:
        if self.min_depth_m >= self.max_depth_m:
            raise ConfigError(
                f"perception config: min_depth_m ({self.min_depth_m}) must be < max_depth_m ({self.max_depth_m})"
            )
        if self.min_object_height_m >= self.max_object_height_m:
            raise ConfigError("perception config: min_object_height_m must be < max_object_height_m")
        for name in ("max_plane_tilt_deg", "unposed_up_cone_deg"):
            if not 0 < getattr(self, name) < 90:
                raise ConfigError(f"perception config: {name} must be in (0, 90), got {getattr(self, name)}")
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

    def _check_optional(self) -> None:
        """The workspace corners (both or neither, 3 finite numbers, min < max) and the height hint."""
        lo, hi = self.workspace_min_xyz_m, self.workspace_max_xyz_m
        if (lo is None) != (hi is None):
            raise ConfigError("perception config: set both workspace_min_xyz_m and workspace_max_xyz_m, or neither")
        if lo is not None and hi is not None:
            numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) and v == v for v in (*lo, *hi))
            if len(lo) != 3 or len(hi) != 3 or not numbers:
                raise ConfigError(
                    f"perception config: workspace corners need 3 numbers [x, y, z], got {list(lo)} and {list(hi)}"
                )
            if not all(a < b for a, b in zip(lo, hi)):
                raise ConfigError(
                    f"perception config: workspace_min_xyz_m {list(lo)} must be below workspace_max_xyz_m "
                    f"{list(hi)} on every axis"
                )
        hint = self.support_height_m
        if hint is not None and (isinstance(hint, bool) or not isinstance(hint, (int, float)) or hint != hint):
            raise ConfigError(f"perception config: support_height_m must be a number or null, got {hint!r}")

    @property
    def workspace(self) -> tuple[tuple[float, float, float], tuple[float, float, float]] | None:
        """((x, y, z) min, (x, y, z) max) of the workspace box, world frame, metres; None = unbounded."""
        if self.workspace_min_xyz_m is None or self.workspace_max_xyz_m is None:
            return None
        lo, hi = self.workspace_min_xyz_m, self.workspace_max_xyz_m
        return (float(lo[0]), float(lo[1]), float(lo[2])), (float(hi[0]), float(hi[1]), float(hi[2]))
