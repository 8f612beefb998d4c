"""The MuJoCo tabletop: a Panda on a table, named objects, a simulated RealSense D435.

Frames: the world frame IS the robot base frame (REP-103: x forward, y left, z up, metres);
the Panda's base sits at the origin and the table top is the plane z = 0. Images use the
OpenCV optical convention (x right, y down, z forward) like a real camera driver.

    sim = TabletopSim(TabletopConfig(seed=3))
    shot = sim.render()            # SimFrame: RGB-D frame, instance masks, ground-truth Scene
    result = sim.execute(plan)     # a PickPlacePlan, executed with a friction grasp
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from robospatial_ros.core.camera import CameraModel
from robospatial_ros.core.errors import ConfigError, RoboSpatialError, UnknownObjectError
from robospatial_ros.core.geometry import (
    OrientedBox,
    convex_polygons_overlap,
    footprint_rectangle,
    quaternion_from_matrix,
    rot_z,
)
from robospatial_ros.core.perception.frame import MaskDetections, RGBDFrame
from robospatial_ros.core.planning import panda
from robospatial_ros.core.scene import Scene, SceneObject
from robospatial_ros.sim.executor import ExecutionResult, ExecutorConfig, execute_plan
from robospatial_ros.sim.objects import (
    CATALOG,
    DEFAULT_OBJECTS,
    OBJECT_FRICTION,
    ObjectModel,
    object_model,
    primitive_half_extents,
    primitive_outline_xy,
)

if TYPE_CHECKING:
    import mujoco

    from robospatial_ros.core.planning.pick_place import PickPlacePlan

CAMERA_NAME = "d435"
PICKABLE = frozenset(name for name in CATALOG if object_model(name).pickable)  # fit a top-down Panda grasp
TABLE_NAME = "table"
_DROP_M = 0.002  # objects start this far above the table, then settle under gravity
_TABLE_RGBA = (0.62, 0.48, 0.34, 1.0)


class SimError(RoboSpatialError, RuntimeError):
    """The simulation cannot do what was asked (no room for the objects, unknown object)."""


@dataclass(frozen=True)
class TabletopConfig:
    """Scene, layout, camera and physics settings. Lengths in metres, angles in degrees."""

    seed: int = 0
    objects: tuple[str, ...] = DEFAULT_OBJECTS  # catalog names (objects.CATALOG)
    num_objects: int | None = None  # a seeded random subset of `objects` of this size; None = all
    # (name, x, y, yaw in rad) of objects that must stand at a given pose; the others are drawn around them.
    fixed_poses: tuple[tuple[str, float, float, float], ...] = ()
    # Object centres are drawn in this rectangle (reachable by the Panda and seen whole by the camera).
    region_min_xy_m: tuple[float, float] = (0.35, -0.35)
    region_max_xy_m: tuple[float, float] = (0.75, 0.35)
    max_reach_m: float = 0.76  # ... and within this distance of the base, so every grasp is reachable
    min_gap_m: float = 0.06  # free space between objects' footprints: room for the open hand
    # Table top (z = 0): x from table_min_x_m (under the robot) to table_max_x_m, y symmetric.
    table_min_x_m: float = -0.30
    table_max_x_m: float = 1.00
    table_width_m: float = 1.20
    table_height_m: float = 0.75
    # The D435 stands in front of the table and looks back at the robot over the objects.
    camera_eye_m: tuple[float, float, float] = (1.15, 0.25, 0.70)
    camera_target_m: tuple[float, float, float] = (0.60, 0.0, 0.0)
    image_width_px: int = 640
    image_height_px: int = 480
    fov_x_deg: float = 69.4  # D435 colour camera, horizontal
    max_depth_m: float = 10.0  # depth beyond this reads 0 ("no measurement", as the driver)
    timestep_s: float = 0.002
    settle_s: float = 0.4  # physics time the objects get to come to rest after placement
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)

    def __post_init__(self) -> None:
        # Tuples throughout: configs are hashable (the model cache is keyed on them).
        for name in ("objects", "region_min_xy_m", "region_max_xy_m", "camera_eye_m", "camera_target_m"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "fixed_poses", tuple((str(p[0]), *map(float, p[1:])) for p in self.fixed_poses))
        unknown = [n for n in self.objects if n not in CATALOG]
        if unknown:
            raise ConfigError(f"unknown sim objects {unknown}; known: {', '.join(CATALOG)}")
        if len(set(self.objects)) != len(self.objects) or not self.objects:
            raise ConfigError("objects must be a non-empty list of distinct names")
        if self.num_objects is not None and not 1 <= self.num_objects <= len(self.objects):
            raise ConfigError(f"num_objects must be in 1..{len(self.objects)}, got {self.num_objects}")
        lo, hi = np.asarray(self.region_min_xy_m, float), np.asarray(self.region_max_xy_m, float)
        if lo.shape != (2,) or hi.shape != (2,) or np.any(hi <= lo):
            raise ConfigError("region_min_xy_m must be below region_max_xy_m in x and y")
        positive = ("image_width_px", "image_height_px", "timestep_s", "table_width_m", "table_height_m")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if not 10.0 <= self.fov_x_deg <= 150.0:
            raise ConfigError(f"fov_x_deg must be in [10, 150], got {self.fov_x_deg}")
        bad = [p for p in self.fixed_poses if len(p) != 4 or p[0] not in self.objects]
        if bad:
            raise ConfigError(f"fixed_poses must be (name, x, y, yaw) of configured objects, got {bad}")
        if self.min_gap_m < 0 or self.settle_s < 0:
            raise ConfigError("min_gap_m and settle_s must be non-negative")

    def camera(self) -> CameraModel:
        """The D435 model (K, 640x480, optical camera-to-world) the sim renders with."""
        return CameraModel.look_at(
            np.asarray(self.camera_eye_m),
            np.asarray(self.camera_target_m),
            self.image_width_px,
            self.image_height_px,
            self.fov_x_deg,
        )


@dataclass(frozen=True)
class SimFrame:
    """One rendered view: the RGB-D frame, instance masks of the objects, and ground truth."""

    frame: RGBDFrame  # colour (H, W, 3) uint8 RGB, depth (H, W) float32 metres, optical pose
    masks: MaskDetections  # object name -> (H, W) bool, objects only (not the table or robot)
    scene: Scene  # ground truth: table + objects as gravity-aligned boxes, the same camera
    segmentation: np.ndarray  # (H, W) int32 index into `names` (object masks), -1 elsewhere
    names: tuple[str, ...]


# Label images as other simulators' segmentation cameras write them (core.perception.labels).
SIM_LABEL_ENCODINGS = ("isaac", "gazebo_semantic", "gazebo_panoptic")


def segmentation_labels(shot: SimFrame, simulator: str) -> tuple[np.ndarray, dict[int, str]]:
    """Our segmentation in another simulator's encoding: (label image, id -> name map).

    isaac: (H, W) int32 instance ids (32SC1), 0 BACKGROUND, 1 UNLABELLED, objects from 2 (a map like
    Isaac's labels JSON); gazebo_semantic: (H, W, 3) uint8, one label per object in every channel,
    0 background; gazebo_panoptic: (H, W, 3) uint8, the category's label in the third channel and the
    instance count within it in the first two (all mugs share a label, each has its own count).
    """
    index = shot.segmentation  # (H, W) int32 index into shot.names, -1 off the objects
    on = index >= 0
    if simulator == "isaac":
        ids = np.where(on, index + 2, 0).astype(np.int32)
        return ids, {0: "BACKGROUND", 1: "UNLABELLED", **{k + 2: n for k, n in enumerate(shot.names)}}
    if simulator == "gazebo_semantic":
        label = np.where(on, index + 1, 0).astype(np.uint8)
        return np.repeat(label[:, :, None], 3, axis=2), {k + 1: n for k, n in enumerate(shot.names)}
    if simulator == "gazebo_panoptic":
        categories = sorted({_category(n) for n in shot.names})
        label_of = np.array([categories.index(_category(n)) + 1 for n in shot.names])
        count_of = np.array(
            [[_category(m) for m in shot.names[: k + 1]].count(_category(n)) for k, n in enumerate(shot.names)]
        )
        safe = np.where(on, index, 0)
        image = np.zeros((*index.shape, 3), np.uint8)
        image[..., 2] = np.where(on, label_of[safe], 0)
        image[..., 0] = np.where(on, count_of[safe] // 256, 0)
        image[..., 1] = np.where(on, count_of[safe] % 256, 0)
        return image, {k + 1: c for k, c in enumerate(categories)}
    raise ConfigError(f"simulator must be one of {', '.join(SIM_LABEL_ENCODINGS)}, got {simulator!r}")


def _category(name: str) -> str:
    """'mug_2' -> 'mug' (what a semantic label names)."""
    base, _, tail = name.rpartition("_")
    return base if base and tail.isdigit() else name


# --- model ---------------------------------------------------------------------------------------


def _world_quat(R: np.ndarray) -> np.ndarray:
    """MuJoCo (w, x, y, z) quaternion of a (3, 3) rotation."""
    x, y, z, w = quaternion_from_matrix(R)
    return np.array([w, x, y, z])


def _add_environment(spec: mujoco.MjSpec, cfg: TabletopConfig) -> None:
    """Floor, back wall, table (top at z = 0), light; physics and rendering options."""
    mujoco = panda.import_mujoco()
    spec.option.timestep = cfg.timestep_s
    # Implicit velocity terms: the stiff, damped position servos are unstable with explicit Euler.
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC  # elliptic cones + impratio: grasps do not creep
    spec.option.impratio = 10.0
    spec.visual.global_.offwidth = max(640, cfg.image_width_px)
    spec.visual.global_.offheight = max(480, cfg.image_height_px)
    spec.visual.map.znear = 0.01  # in units of the model extent: a few cm, fine depth resolution
    spec.visual.headlight.ambient = (0.35, 0.35, 0.35)
    spec.visual.headlight.diffuse = (0.45, 0.45, 0.45)
    world = spec.worldbody
    world.add_light(
        name="key", pos=(0.8, 0.6, 2.0), dir=(-0.3, -0.3, -1.0), diffuse=(0.55, 0.55, 0.55), castshadow=False
    )
    floor_z = -cfg.table_height_m
    world.add_geom(
        name="floor",
        type=mujoco.mjtGeom.mjGEOM_PLANE,
        size=(6.0, 6.0, 0.1),
        pos=(0, 0, floor_z),
        rgba=(0.45, 0.45, 0.47, 1.0),
        group=0,
    )
    # A wall behind the robot: the camera looks back toward it, so every pixel has a depth reading.
    world.add_geom(
        name="wall",
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=(0.02, 6.0, 2.0),
        pos=(-1.0, 0.0, floor_z + 2.0),
        rgba=(0.80, 0.82, 0.85, 1.0),
        group=0,
        contype=0,
        conaffinity=0,
    )
    half = np.array([(cfg.table_max_x_m - cfg.table_min_x_m) / 2.0, cfg.table_width_m / 2.0, cfg.table_height_m / 2])
    centre = (cfg.table_min_x_m + half[0], 0.0, -half[2])
    world.add_geom(
        name=TABLE_NAME,
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=half,
        pos=centre,
        rgba=_TABLE_RGBA,
        friction=(0.6, 0.005, 0.0001),
        group=0,
    )


def _add_camera(spec: mujoco.MjSpec, cam: CameraModel) -> None:
    """The D435 as a MuJoCo camera: MuJoCo cameras look along their -z with y up, so flip y and z."""
    R_optical = cam.camera_to_world[:3, :3]  # columns: optical x (right), y (down), z (forward) in world
    R_mujoco = R_optical @ np.diag([1.0, -1.0, -1.0])
    fovy = 2.0 * np.degrees(np.arctan((cam.height / 2.0) / cam.K[1, 1]))  # MuJoCo takes the vertical FOV
    spec.worldbody.add_camera(name=CAMERA_NAME, pos=cam.position, quat=_world_quat(R_mujoco), fovy=fovy)


_KIND = {"box": "mjGEOM_BOX", "cylinder": "mjGEOM_CYLINDER", "capsule": "mjGEOM_CAPSULE", "sphere": "mjGEOM_SPHERE"}


def _add_object(spec: mujoco.MjSpec, obj: ObjectModel) -> None:
    """One free body named after the object; geoms `<name>/<part>` share the object's density."""
    mujoco = panda.import_mujoco()
    body = spec.worldbody.add_body(name=obj.name, pos=(0.0, 0.0, obj.half_extents[2]))
    body.add_freejoint(name=f"{obj.name}/free")
    density = obj.density_kg_m3
    for part in obj.parts:
        body.add_geom(
            name=f"{obj.name}/{part.name}",
            type=getattr(mujoco.mjtGeom, _KIND[part.kind]),
            size=_size3(part.size),
            pos=part.pos,
            quat=_world_quat(np.asarray(part.rotation)),
            rgba=part.rgba or obj.rgba,
            density=density,
            friction=OBJECT_FRICTION,
            group=1,
            solref=(0.005, 1.0),
        )


def _size3(size: tuple[float, ...]) -> tuple[float, float, float]:
    s = tuple(size) + (0.0,) * (3 - len(size))
    return (float(s[0]), float(s[1]), float(s[2]))


@lru_cache(maxsize=8)
def _compiled_model(names: tuple[str, ...], cfg: TabletopConfig) -> Any:
    """The MjModel for an object set (layouts only change qpos, so models are shared and cached)."""
    spec = panda.build_panda_spec()
    spec.modelname = "robospatial_tabletop"
    _add_environment(spec, cfg)
    _add_camera(spec, cfg.camera())
    for name in names:
        _add_object(spec, object_model(name))
    return spec.compile()


# (id(model), height, width) -> (model, mujoco.Renderer). Creating a renderer (an EGL context) costs
# ~0.8 s on CPU, more than a whole episode's rendering, so sims of the same model share one.
_RENDERERS: dict[tuple[int, int, int, int | None], tuple[Any, Any, threading.Thread]] = {}
_MAX_RENDERERS = 4  # per thread
_ORPHANED: list[Any] = []  # renderers of finished threads: never closed from another thread (see below)


def shared_renderer(model: Any, height: int, width: int) -> Any:
    """A mujoco.Renderer for `model`, created once per thread and reused (sequential use only).

    Per thread: an EGL context is current in the thread that made it, so a renderer made in a
    node's executor thread fails in any other, and closing it from another thread makes its
    context current there and breaks every later render in that thread. So a thread only ever
    closes its own renderers; those of a finished thread (whose ident a new thread may reuse) are
    set aside, not closed.
    """
    me = threading.current_thread()
    key = (id(model), height, width, me.ident)
    entry = _RENDERERS.get(key)
    if entry is not None and entry[2] is not me:  # the ident of a finished thread, reused
        _ORPHANED.append(_RENDERERS.pop(key))
        entry = None
    if entry is None:
        mine = [k for k, v in _RENDERERS.items() if v[2] is me]
        while len(mine) >= _MAX_RENDERERS:
            _, old, _ = _RENDERERS.pop(mine.pop(0))
            try:
                old.close()
            except Exception:
                pass
        try:
            renderer = panda.import_mujoco().Renderer(model, height, width)
        except Exception as exc:  # no OpenGL context: EGL/OSMesa missing or MUJOCO_GL unset on a headless box
            raise SimError(f"cannot render with MuJoCo ({exc}); headless machines need MUJOCO_GL=egl") from None
        entry = _RENDERERS[key] = (model, renderer, me)
    return entry[1]


def close_renderers() -> None:
    """Free this thread's shared renderers' GL contexts (they are re-created on the next render);
    other threads' renderers are set aside, since closing them here would break this thread's."""
    me = threading.current_thread()
    for key in list(_RENDERERS):
        _, renderer, owner = _RENDERERS.pop(key)
        if owner is not me:
            _ORPHANED.append((None, renderer, owner))
            continue
        try:
            renderer.close()
        except Exception:
            pass


_MODEL_FIELDS = (
    "table_min_x_m",
    "table_max_x_m",
    "table_width_m",
    "table_height_m",
    "camera_eye_m",
    "camera_target_m",
    "image_width_px",
    "image_height_px",
    "fov_x_deg",
    "timestep_s",
)


def _model_key(cfg: TabletopConfig) -> TabletopConfig:
    """A config holding only the fields that shape the model (not the layout), for the model cache."""
    return TabletopConfig(**{name: getattr(cfg, name) for name in _MODEL_FIELDS})


# --- layout --------------------------------------------------------------------------------------


def choose_objects(cfg: TabletopConfig, rng: np.random.Generator) -> tuple[str, ...]:
    """The configured objects, or a seeded subset of `num_objects` of them (always keeping the ones
    with fixed poses), in the configured order."""
    if cfg.num_objects is None:
        return cfg.objects
    fixed = {p[0] for p in cfg.fixed_poses}
    free = [n for n in cfg.objects if n not in fixed]
    drawn = rng.choice(len(free), size=max(0, cfg.num_objects - len(fixed)), replace=False)
    keep = fixed | {free[i] for i in drawn.tolist()}
    return tuple(n for n in cfg.objects if n in keep)


def _footprint(obj: ObjectModel, xy: np.ndarray, yaw: float, pad_m: float) -> np.ndarray:
    """(4, 2) the object's footprint rectangle grown by pad_m, world x, y, counter-clockwise."""
    hx, hy = obj.half_extents[:2] + pad_m
    corners = np.array([[-hx, -hy], [hx, -hy], [hx, hy], [-hx, hy]])
    return corners @ rot_z(yaw)[:2, :2].T + xy


def _draw_pose(obj: ObjectModel, cfg: TabletopConfig, placed: list[np.ndarray], rng: np.random.Generator) -> Any:
    """(x, y, yaw) clear of the placed footprints, or None after 200 tries."""
    lo, hi = np.asarray(cfg.region_min_xy_m), np.asarray(cfg.region_max_xy_m)
    for _ in range(200):
        xy, yaw = rng.uniform(lo, hi), float(rng.uniform(-np.pi, np.pi))
        if np.hypot(*xy) > cfg.max_reach_m:
            continue
        fp = _footprint(obj, xy, yaw, cfg.min_gap_m / 2.0)
        if not any(convex_polygons_overlap(fp, other) for other in placed):
            placed.append(fp)
            return (*xy, yaw)
    return None


def sample_layout(names: tuple[str, ...], cfg: TabletopConfig, rng: np.random.Generator) -> np.ndarray:
    """(N, 3) [x, y, yaw] per object: fixed poses kept, the others drawn in the region (within reach),
    footprints at least min_gap_m apart. Largest first, restarting from scratch when one does not fit."""
    models = [object_model(n) for n in names]
    fixed = {p[0]: np.array(p[1:], dtype=float) for p in cfg.fixed_poses}
    order = sorted((i for i, n in enumerate(names) if n not in fixed), key=lambda i: -models[i].radius_m)
    for _attempt in range(50):
        poses = np.zeros((len(models), 3))
        placed = []
        for i, n in enumerate(names):
            if n in fixed:
                poses[i] = fixed[n]
                placed.append(_footprint(models[i], fixed[n][:2], fixed[n][2], cfg.min_gap_m / 2.0))
        for i in order:
            pose = _draw_pose(models[i], cfg, placed, rng)
            if pose is None:
                break
            poses[i] = pose
        else:
            return poses
    gap_cm = cfg.min_gap_m * 100
    raise SimError(f"cannot lay out {len(models)} objects {gap_cm:.0f} cm apart in the region; use fewer objects")


# --- ground truth --------------------------------------------------------------------------------

_MJ_KIND = {2: "sphere", 3: "capsule", 5: "cylinder", 6: "box"}  # mjtGeom values of the primitives


def body_box(model: Any, data: Any, body_id: int) -> tuple[OrientedBox, np.ndarray]:
    """(gravity-aligned box, (3,) facing) of a body, by the box convention perception uses.

    The footprint is `geometry.footprint_rectangle` of points on the geoms' outlines (the
    minimum-area rectangle, axis-aligned for round things), the height the geoms' exact
    vertical extent. Facing is the body's x axis made horizontal (its y axis if x points up).
    """
    R_body = data.xmat[body_id].reshape(3, 3)
    axis = R_body[:, 0] if np.hypot(*R_body[:2, 0]) > 0.2 else R_body[:, 1]
    facing = np.array([axis[0], axis[1], 0.0]) / np.hypot(axis[0], axis[1])
    z_lo, z_hi, outline = np.inf, -np.inf, []
    start, count = model.body_geomadr[body_id], model.body_geomnum[body_id]
    for g in range(start, start + count):
        kind, R, pos = _MJ_KIND[int(model.geom_type[g])], data.geom_xmat[g].reshape(3, 3), data.geom_xpos[g]
        half = primitive_half_extents(kind, model.geom_size[g], R)
        z_lo, z_hi = min(z_lo, pos[2] - half[2]), max(z_hi, pos[2] + half[2])
        outline.append(primitive_outline_xy(kind, model.geom_size[g], R, pos))
    center, size, yaw = footprint_rectangle(np.concatenate(outline))
    box = OrientedBox([center[0], center[1], (z_lo + z_hi) / 2], [size[0], size[1], z_hi - z_lo], rot_z(yaw))
    return box, facing


def table_object(cfg: TabletopConfig) -> SceneObject:
    length = cfg.table_max_x_m - cfg.table_min_x_m
    centre = ((cfg.table_min_x_m + cfg.table_max_x_m) / 2.0, 0.0, -cfg.table_height_m / 2.0)
    box = OrientedBox(centre, (length, cfg.table_width_m, cfg.table_height_m), np.eye(3))
    return SceneObject(TABLE_NAME, box, np.array([1.0, 0.0, 0.0]))


# --- the simulator -------------------------------------------------------------------------------


class TabletopSim:
    """A seeded tabletop episode: physics, rendering, ground truth and pick-and-place execution."""

    def __init__(self, config: TabletopConfig | None = None):
        self.mujoco = panda.import_mujoco()
        self.reset(config=config or TabletopConfig())

    # lifecycle ------------------------------------------------------------------------------------

    def reset(self, seed: int | None = None, config: TabletopConfig | None = None) -> None:
        """A new layout (seed given) or the same one again; objects settled, arm at home."""
        cfg = config or self.config
        self.config = cfg if seed is None else replace(cfg, seed=int(seed))
        rng = np.random.default_rng(self.config.seed)
        names = choose_objects(self.config, rng)
        model = _compiled_model(names, _model_key(self.config))
        self.model, self.names = model, names
        self.data = self.mujoco.MjData(model)
        self.handles = panda.PandaHandles.from_model(model)
        self._body_ids = np.array([model.body(n).id for n in names])
        # geom id -> index into names, -1 for the table, floor and robot; shape (ngeom,)
        self._geom_object = np.full(model.ngeom, -1, dtype=np.int32)
        for k, b in enumerate(self._body_ids):
            self._geom_object[model.body_geomadr[b] : model.body_geomadr[b] + model.body_geomnum[b]] = k
        self.camera = self.config.camera()
        self._place_objects(sample_layout(names, self.config, rng))
        self.handles.hold(self.data, panda.HOME_Q, panda.FINGER_MAX_M)
        self.step(int(round(self.config.settle_s / model.opt.timestep)))

    @staticmethod
    def layout_names(config: TabletopConfig, seed: int | None = None) -> list[str]:
        """The objects a layout of `config` (with `seed`, default config.seed) holds, without building it."""
        return list(choose_objects(config, np.random.default_rng(config.seed if seed is None else int(seed))))

    def _place_objects(self, poses: np.ndarray) -> None:
        """Set the free joints from (N, 3) [x, y, yaw] poses, just above the table."""
        m, d = self.model, self.data
        for k, (x, y, yaw) in enumerate(poses):
            adr = m.jnt_qposadr[m.body_jntadr[self._body_ids[k]]]
            z = object_model(self.names[k]).half_extents[2] + _DROP_M
            d.qpos[adr : adr + 7] = (x, y, z, np.cos(yaw / 2.0), 0.0, 0.0, np.sin(yaw / 2.0))
        self.mujoco.mj_forward(m, d)

    def step(self, n: int = 1) -> None:
        """Advance the physics n steps with the current actuator targets."""
        if n > 0:
            self.mujoco.mj_step(self.model, self.data, nstep=int(n))

    # state ----------------------------------------------------------------------------------------

    @property
    def time_s(self) -> float:
        return float(self.data.time)

    def _body(self, name: str) -> int:
        if name not in self.names:
            raise UnknownObjectError(name, list(self.names))
        return int(self._body_ids[self.names.index(name)])

    def object_pose(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """((3,) position of the object's centre, (4,) quaternion x, y, z, w), world frame, metres."""
        b = self._body(name)
        w, x, y, z = self.data.xquat[b]
        return self.data.xpos[b].copy(), np.array([x, y, z, w])

    def object_box(self, name: str) -> OrientedBox:
        """The object's ground-truth gravity-aligned box now (world frame)."""
        return body_box(self.model, self.data, self._body(name))[0]

    def scene(self) -> Scene:
        """Ground truth: the table and every object as gravity-aligned boxes, with the camera."""
        objects = [table_object(self.config)]
        for name, b in zip(self.names, self._body_ids):
            box, facing = body_box(self.model, self.data, int(b))
            objects.append(SceneObject(name, box, facing))
        return Scene(tuple(objects), self.camera)

    def arm_q(self) -> np.ndarray:
        """(7,) the arm's joint angles, rad."""
        return self.data.qpos[self.handles.arm_qpos].copy()

    def joint_positions(self) -> np.ndarray:
        """(nq,) every joint's position now: metres, radians and quaternion parts (the whole visible state)."""
        return self.data.qpos.copy()

    def moved_since(self, positions: np.ndarray | None, tolerance: float) -> bool:
        """Whether any joint moved more than `tolerance` (metres, or radians and quaternion parts) from
        `positions` (a `joint_positions()`; None, another layout or tolerance 0: always)."""
        if positions is None or tolerance <= 0 or positions.shape != self.data.qpos.shape:
            return True
        return bool(np.abs(self.data.qpos - positions).max() > tolerance)

    # rendering ------------------------------------------------------------------------------------

    def render(self) -> SimFrame:
        """Colour, depth (metres, optical z) and instance segmentation from the D435, plus ground truth."""
        r = shared_renderer(self.model, self.config.image_height_px, self.config.image_width_px)
        r.update_scene(self.data, camera=CAMERA_NAME)
        color = r.render()  # (H, W, 3) uint8 RGB, a fresh array
        r.enable_depth_rendering()
        depth = r.render().astype(np.float32)  # (H, W) metres along the optical axis
        r.disable_depth_rendering()
        r.enable_segmentation_rendering()
        seg = r.render()  # (H, W, 2) int32: [object id, object type]
        r.disable_segmentation_rendering()
        depth[~np.isfinite(depth) | (depth >= self.config.max_depth_m)] = 0.0
        index = self._segment(seg)
        masks = {name: index == k for k, name in enumerate(self.names)}
        frame = RGBDFrame(color, depth, self.camera.K, self.camera.camera_to_world, 1.0, self.time_s)
        return SimFrame(frame, MaskDetections(masks), self.scene(), index, self.names)

    def _segment(self, seg: np.ndarray) -> np.ndarray:
        """(H, W, 2) MuJoCo segmentation -> (H, W) int32 object index, -1 off the objects."""
        ids, types = seg[..., 0], seg[..., 1]
        is_geom = (types == int(self.mujoco.mjtObj.mjOBJ_GEOM)) & (ids >= 0)
        return np.where(is_geom, self._geom_object[np.where(is_geom, ids, 0)], -1).astype(np.int32)

    # execution ------------------------------------------------------------------------------------

    def execute(self, plan: PickPlacePlan) -> ExecutionResult:
        """Run a pick-and-place plan on the simulated Panda; failures come back as results, not errors."""
        return execute_plan(self, plan, self.config.executor)
