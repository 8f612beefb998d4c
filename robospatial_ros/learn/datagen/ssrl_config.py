"""The SSRL generator's settings: which tasks (all of them, and those needing depth) and how to build them.

Shared by the task builders (ssrl_tasks) and the generator (ssrl), which imports both: imports go
ssrl -> ssrl_tasks -> ssrl_config. See ssrl.py for the tasks.
"""

from __future__ import annotations

from dataclasses import dataclass

from robospatial_ros.core.configio import check_choices, validate_fields
from robospatial_ros.core.errors import ConfigError

ALL_TASKS = ("patch_reorder", "patch_flip", "patch_inpaint", "depth_order", "relative_position")
DEPTH_TASKS = frozenset({"depth_order", "relative_position"})
# fx, fy, cx, cy (pixels) of the default MuJoCo tabletop camera, TabletopConfig().camera() (640x480,
# 69.4 deg horizontal field of view); a test keeps the two in step.
SIM_INTRINSICS = (462.1386898729645, 462.1386898729645, 319.5, 239.5)


@dataclass(frozen=True)
class SSRLConfig:
    """Which SSRL tasks to build and how. Pixels in px, depths and distances in metres."""

    tasks: tuple[str, ...] = ALL_TASKS  # any of ALL_TASKS; a list is accepted
    reorder_grid_sizes: tuple[int, ...] = (2, 3)  # each item draws one grid size (g x g patches)
    flip_grid_sizes: tuple[int, ...] = (2, 3)
    inpaint_patch_px: int = 96  # side of the blacked-out square and of every candidate patch
    inpaint_zoom: float = 1.6  # zoom distractor: the central 1/zoom of the region, scaled up
    inpaint_context_scale: float = 2.0  # context distractor: the region enlarged this much, scaled down
    inpaint_composite: bool = False  # options drawn under the image (one image) instead of 4 extra images
    # Patches, flips and options must differ by this mean absolute grey level (0..255) to count as
    # distinguishable; items on too uniform regions are skipped.
    min_patch_difference: float = 3.0
    depth_patch_px: int = 12  # side of the square patches whose depth a marker stands for
    depth_patch_max_std_m: float = 0.02  # "low depth variance": max std of depth over such a patch
    depth_margin_m: float = 0.15  # depth_order: near, middle and far differ by at least this
    marker_radius_px: int = 12
    min_marker_distance_px: float = 40.0  # between marker centres
    relpos_dead_band_deg: float = 15.0  # skip pairs within this angle of front, back, left or right
    relpos_min_distance_m: float = 0.05  # skip pairs closer than this in the horizontal plane
    max_items_per_task: int = 1  # per frame
    max_attempts: int = 20  # random draws per item before a frame is given up for a task
    # (fx, fy, cx, cy) px of every frame with depth (frames carry no intrinsics), at the frames' resolution;
    # the default is sim_frames' camera (SIM_INTRINSICS, 640x480).
    intrinsics_fallback: tuple[float, float, float, float] = SIM_INTRINSICS
    progress: bool = True  # tqdm bar over the frames

    def __post_init__(self) -> None:
        validate_fields(self)
        for name in ("inpaint_patch_px", "depth_patch_px", "marker_radius_px", "max_items_per_task", "max_attempts"):
            object.__setattr__(self, name, int(getattr(self, name)))  # 12.0 from a file is accepted as 12
        for name in ("reorder_grid_sizes", "flip_grid_sizes"):
            object.__setattr__(self, name, tuple(int(g) for g in getattr(self, name)))
        self._check_tasks_and_grids()
        self._check_ranges()

    def _check_tasks_and_grids(self) -> None:
        check_choices("tasks", self.tasks, ALL_TASKS)
        for name in ("reorder_grid_sizes", "flip_grid_sizes"):
            sizes = getattr(self, name)
            if not sizes or any(not 2 <= g <= 8 for g in sizes):
                raise ConfigError(f"{name} must list grid sizes in 2..8, got {list(sizes)}")
        if len(self.intrinsics_fallback) != 4 or min(self.intrinsics_fallback[:2]) <= 0:
            raise ConfigError(
                f"intrinsics_fallback must be (fx, fy, cx, cy) with fx, fy > 0, got {self.intrinsics_fallback}"
            )

    def _check_ranges(self) -> None:
        at_least = {
            "inpaint_patch_px": 8,
            "depth_patch_px": 3,
            "marker_radius_px": 4,
            "max_items_per_task": 1,
            "max_attempts": 1,
            "min_patch_difference": 0.0,
            "min_marker_distance_px": 0.0,
            "relpos_min_distance_m": 0.0,
            "depth_patch_max_std_m": 0.0,
        }
        for name, low in at_least.items():
            if getattr(self, name) < low:
                raise ConfigError(f"{name} must be >= {low}, got {getattr(self, name)}")
        if not 1.0 < self.inpaint_zoom <= 8.0 or not 1.0 < self.inpaint_context_scale <= 8.0:
            raise ConfigError("inpaint_zoom and inpaint_context_scale must be in (1, 8]")
        if not self.depth_margin_m > 0:
            raise ConfigError(f"depth_margin_m must be > 0, got {self.depth_margin_m}")
        if not 0.0 <= self.relpos_dead_band_deg < 45.0:
            raise ConfigError(f"relpos_dead_band_deg must be in [0, 45), got {self.relpos_dead_band_deg}")
