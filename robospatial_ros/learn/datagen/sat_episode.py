"""The SAT generator's settings and episodes: one seeded tabletop layout, its views and objects.

Shared by the task builders (sat_tasks) and the generator (sat), which imports both: imports go
sat -> sat_tasks -> sat_episode. See sat.py for the tasks and their conventions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from robospatial_ros.core.camera import CameraModel
from robospatial_ros.core.configio import check_choices, validate_fields
from robospatial_ros.core.errors import ConfigError
from robospatial_ros.core.geometry import OrientedBox
from robospatial_ros.learn.datagen.episodes import check_sim_layout
from robospatial_ros.sim.objects import DEFAULT_OBJECTS

if TYPE_CHECKING:
    from robospatial_ros.sim.tabletop import TabletopSim

TASKS = (
    "ego_movement",
    "object_movement",
    "action_consequence",
    "goal_aiming",
    "perspective_taking",
    "counting",
    "relative_depth",
    "left_right",
)
TABLE_LABEL = -1  # View.labels value on the table top
OTHER_LABEL = -2  # ... on the robot, floor, wall or nothing


@dataclass(frozen=True)
class SATConfig:
    """What to generate and the margins that keep answers unambiguous. Lengths in metres, angles in degrees."""

    tasks: tuple[str, ...] = TASKS
    questions_per_task: int = 1  # per episode; fewer when no unambiguous question exists
    camera_shift_m: tuple[float, ...] = (0.10, 0.30)  # (min, max) ego / hypothetical camera translation
    camera_turn_deg: tuple[float, ...] = (15.0, 40.0)  # (min, max) ego / hypothetical camera yaw
    object_shift_m: tuple[float, ...] = (0.08, 0.20)  # (min, max) object displacement
    dead_band_deg: float = 10.0  # goal aiming: objects within +-this of straight ahead need no turn
    image_width_px: int = 640
    image_height_px: int = 480
    sim_objects: tuple[str, ...] = DEFAULT_OBJECTS  # sim catalog names an episode draws from
    min_objects: int = 3  # objects per episode, drawn uniformly in [min, max]
    max_objects: int = len(DEFAULT_OBJECTS)
    depth_margin_m: float = 0.05  # closer/further: distances must differ by at least this
    image_margin_frac: float = 0.05  # left/right in the image: centres at least this share of the width apart
    angle_margin_deg: float = 15.0  # perspective left/right: target at least this far off the facing line
    min_visible_frac: float = 0.0005  # an object is visible when it covers this share of the image
    progress: bool = True  # tqdm bar over episodes

    def __post_init__(self) -> None:
        validate_fields(self, "SATConfig")
        self._check_choices()
        self._check_ranges()

    def _check_choices(self) -> None:
        check_choices("tasks", self.tasks, TASKS)
        check_sim_layout(self, least_objects=2)  # the questions compare pairs
        if self.questions_per_task < 1:
            raise ConfigError(f"questions_per_task must be >= 1, got {self.questions_per_task}")

    def _check_ranges(self) -> None:
        limits = {"camera_shift_m": 1.0, "camera_turn_deg": 90.0, "object_shift_m": 0.4}
        for name, most in limits.items():
            lo_hi = getattr(self, name)
            if len(lo_hi) != 2 or not 0.0 < lo_hi[0] <= lo_hi[1] <= most:
                raise ConfigError(f"{name} must be [min, max] with 0 < min <= max <= {most}, got {list(lo_hi)}")
        if not 0.0 <= self.dead_band_deg < 45.0:
            raise ConfigError(f"dead_band_deg must be in [0, 45), got {self.dead_band_deg}")
        if not 0.0 <= self.angle_margin_deg < 90.0:
            raise ConfigError(f"angle_margin_deg must be in [0, 90), got {self.angle_margin_deg}")
        for name in ("depth_margin_m", "image_margin_frac", "min_visible_frac"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}")


@dataclass(frozen=True)
class View:
    """One rendered picture with per-pixel labels."""

    camera: CameraModel
    rgb: np.ndarray  # (H, W, 3) uint8 RGB
    labels: np.ndarray  # (H, W) int32: object index into Episode.names, TABLE_LABEL, or OTHER_LABEL

    def pixel_count(self, index: int) -> int:
        return int(np.count_nonzero(self.labels == index))


@dataclass
class Episode:
    """One seeded tabletop layout and its first view; the tasks read it (and move things, then restore)."""

    sim: TabletopSim
    config: SATConfig
    rng: np.random.Generator  # question randomness (layouts use the sim's own seed)
    names: tuple[str, ...]
    view: View = field(init=False)  # frame 1, from the sim's camera
    positions: dict[str, np.ndarray] = field(init=False)  # name -> (3,) object centre, world, metres
    boxes: dict[str, OrientedBox] = field(init=False)  # name -> ground-truth box, world frame
    in_view: tuple[str, ...] = field(init=False)  # the objects visible in frame 1
    _geom_labels: np.ndarray = field(init=False, repr=False)  # (ngeom,) int32 label of each geom

    def __post_init__(self) -> None:
        self._geom_labels = _geom_labels(self.sim, self.names)
        self.view = self.render(self.sim.camera)
        self.positions = self.object_positions()
        self.boxes = {o.name: o.box for o in self.sim.scene().objects if o.name in self.names}
        self.in_view = tuple(n for n in self.names if self.visible(self.view, n, self.positions[n]))

    # state ----------------------------------------------------------------------------------------

    def object_positions(self) -> dict[str, np.ndarray]:
        return {n: self.sim.object_pose(n)[0] for n in self.names}

    def object_poses(self) -> dict[str, list[float]]:
        """name -> [x, y, z, qx, qy, qz, qw], world frame, metres (JSON-ready)."""
        poses = {n: self.sim.object_pose(n) for n in self.names}
        return {n: [*map(float, position), *map(float, quat)] for n, (position, quat) in poses.items()}

    def visible(self, view: View, name: str, position: np.ndarray) -> bool:
        """Enough of the object shows in `view` and its (3,) centre (world, metres) projects inside the image."""
        cfg = self.config
        k = self.names.index(name)
        uv, depth = view.camera.project(np.asarray(position, dtype=float)[None])
        inside = bool(depth[0] > 0 and view.camera.in_image(uv)[0])
        return inside and view.pixel_count(k) >= cfg.min_visible_frac * cfg.image_width_px * cfg.image_height_px

    def snapshot(self) -> tuple[np.ndarray, ...]:
        d = self.sim.data
        return d.qpos.copy(), d.qvel.copy(), d.act.copy(), d.ctrl.copy(), d.qacc_warmstart.copy(), np.array(d.time)

    def restore(self, state: tuple[np.ndarray, ...]) -> None:
        d = self.sim.data
        d.qpos[:], d.qvel[:], d.act[:], d.ctrl[:], d.qacc_warmstart[:] = state[:5]
        d.time = float(state[5])
        self.sim.mujoco.mj_forward(self.sim.model, d)

    def metadata(self) -> dict[str, Any]:
        """What every item records: the sim episode, the first camera and the objects' first positions."""
        cam, tcfg = self.view.camera, self.sim.config
        return {
            # TabletopConfig(seed=, objects=, num_objects=, image size) rebuilds this layout.
            "sim": {
                "seed": int(tcfg.seed),
                "objects": list(tcfg.objects),
                "num_objects": tcfg.num_objects,
                "names": list(self.names),
            },
            "image_size": [cam.width, cam.height],
            "intrinsic": cam.K.tolist(),
            "camera_to_world": cam.camera_to_world.tolist(),
            "object_positions": {n: p.tolist() for n, p in self.positions.items()},
        }

    # rendering ------------------------------------------------------------------------------------

    def render(self, camera: CameraModel) -> View:
        """RGB and labels from `camera` (same intrinsics as the sim's camera, any pose)."""
        rgb, geom_ids = render_from(self.sim, camera)
        labels = np.where(geom_ids >= 0, self._geom_labels[np.maximum(geom_ids, 0)], OTHER_LABEL).astype(np.int32)
        return View(camera, rgb, labels)


def render_from(sim: TabletopSim, camera: CameraModel) -> tuple[np.ndarray, np.ndarray]:
    """((H, W, 3) uint8 RGB, (H, W) int32 geom id or -1) seen by the sim's camera placed at `camera`'s pose.

    The fixed camera's world pose lives in mjData (cam_xpos, cam_xmat), recomputed from the model on
    every forward pass: overwriting it for one render moves the camera without touching the shared,
    cached model (and without compiling a model and an EGL context per pose).
    """
    from robospatial_ros.sim.tabletop import CAMERA_NAME, SimError, shared_renderer

    own = sim.camera
    if (camera.width, camera.height) != (own.width, own.height) or not np.allclose(camera.K, own.K):
        raise SimError("render_from: the camera must keep the sim camera's intrinsics and image size")
    mujoco, m, d = sim.mujoco, sim.model, sim.data
    cam_id = m.camera(CAMERA_NAME).id
    saved = d.cam_xpos[cam_id].copy(), d.cam_xmat[cam_id].copy()
    renderer = shared_renderer(m, own.height, own.width)
    try:
        d.cam_xpos[cam_id] = camera.position
        # MuJoCo cameras look along their -z with y up: flip the optical y and z axes.
        d.cam_xmat[cam_id] = (camera.camera_to_world[:3, :3] @ np.diag([1.0, -1.0, -1.0])).reshape(-1)
        renderer.update_scene(d, camera=CAMERA_NAME)
        rgb = renderer.render()
        renderer.enable_segmentation_rendering()
        seg = renderer.render()  # (H, W, 2) int32: [object id, object type]
        renderer.disable_segmentation_rendering()
    finally:
        d.cam_xpos[cam_id], d.cam_xmat[cam_id] = saved
    is_geom = (seg[..., 1] == int(mujoco.mjtObj.mjOBJ_GEOM)) & (seg[..., 0] >= 0)
    return rgb, np.where(is_geom, seg[..., 0], -1).astype(np.int32)


def _geom_labels(sim: TabletopSim, names: tuple[str, ...]) -> np.ndarray:
    """(ngeom,) int32: the object index of each object geom, TABLE_LABEL for the table, OTHER_LABEL else."""
    from robospatial_ros.sim.tabletop import TABLE_NAME

    m = sim.model
    labels = np.full(m.ngeom, OTHER_LABEL, dtype=np.int32)
    for k, name in enumerate(names):
        labels[m.geom_bodyid == m.body(name).id] = k
    labels[m.geom(TABLE_NAME).id] = TABLE_LABEL
    return labels
