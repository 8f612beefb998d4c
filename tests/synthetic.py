"""A tiny analytic RGB-D renderer for perception tests.

Ray-casts gravity-aligned boxes standing on a table (top at z = 0) into a depth
image (optical z, metres) and instance masks, through a CameraModel. Beneath the
table is a floor (a second, lower horizontal plane); behind it an optional wall
(a large vertical plane). World: x forward, y left, z up (REP-103).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from robospatial_ros.core.camera import CameraModel
from robospatial_ros.core.geometry import OrientedBox, rot_z
from robospatial_ros.core.perception.frame import MaskDetections, RGBDFrame
from robospatial_ros.core.scene import Scene, SceneObject

TABLE = "table"
FLOOR_Z = -0.75


@dataclass(frozen=True)
class Block:
    """A box standing on z0 (its bottom face): centre (x, y), full size (sx, sy, sz), yaw about z."""

    name: str
    x: float
    y: float
    size: tuple[float, float, float]
    yaw: float = 0.0
    z0: float = 0.0

    def box(self) -> OrientedBox:
        sx, sy, sz = self.size
        return OrientedBox([self.x, self.y, self.z0 + sz / 2], [sx, sy, sz], rot_z(self.yaw))


@dataclass(frozen=True)
class Tabletop:
    """Blocks on a table whose top (z = 0) spans `table_size` around `table_center`."""

    blocks: tuple[Block, ...]
    camera: CameraModel
    table_center: tuple[float, float] = (0.35, 0.0)
    table_size: tuple[float, float] = (1.0, 1.4)
    table_thickness: float = 0.04
    wall_x: float | None = None  # a wall x = wall_x facing the camera, if any

    def table_box(self) -> OrientedBox:
        (cx, cy), (sx, sy) = self.table_center, self.table_size
        return OrientedBox([cx, cy, -self.table_thickness / 2], [sx, sy, self.table_thickness], np.eye(3))

    def ground_truth(self) -> Scene:
        """The scene perception should recover: the table and every block, facing unknown."""
        objects = [SceneObject(TABLE, self.table_box())]
        objects += [SceneObject(b.name, b.box()) for b in self.blocks]
        return Scene(tuple(objects), self.camera)


@dataclass
class Rendering:
    depth_m: np.ndarray  # (H, W) float32 optical depth, metres; 0 where nothing was hit
    labels: np.ndarray  # (H, W) int16: -1 nothing/floor/wall, 0 table, k + 1 block k
    color: np.ndarray  # (H, W, 3) uint8 RGB
    scene: Tabletop
    visible_alone: dict[str, int] = field(default_factory=dict)  # pixels each block covers with no others

    def frame(self, encoding: str = "16UC1") -> RGBDFrame:
        """The rendering as the camera driver would publish it (16UC1 mm or 32FC1 m)."""
        cam = self.scene.camera
        if encoding == "16UC1":
            depth = np.round(self.depth_m * 1000.0).astype(np.uint16)
            return RGBDFrame(self.color, depth, cam.K, cam.camera_to_world, depth_scale_m=0.001)
        return RGBDFrame(self.color, self.depth_m.astype(np.float32), cam.K, cam.camera_to_world, depth_scale_m=1.0)

    def masks(self) -> MaskDetections:
        return MaskDetections({b.name: self.labels == k + 1 for k, b in enumerate(self.scene.blocks)})

    def boxes_2d(self) -> tuple[list[str], np.ndarray]:
        """Labels and (N, 4) [u_min, v_min, u_max, v_max] tight boxes of the visible pixels."""
        names, boxes = [], []
        for k, b in enumerate(self.scene.blocks):
            v, u = np.nonzero(self.labels == k + 1)
            if len(u):
                names.append(b.name)
                boxes.append([u.min(), v.min(), u.max(), v.max()])
        return names, np.asarray(boxes, dtype=float).reshape(-1, 4)

    def unoccluded(self, margin_px: int = 2) -> list[str]:
        """Blocks seen whole: nothing in front of them and their silhouette inside the image."""
        out = []
        cam = self.scene.camera
        for k, b in enumerate(self.scene.blocks):
            uv, _ = cam.project(b.box().corners())
            inside = np.all((uv >= margin_px) & (uv <= [cam.width - 1 - margin_px, cam.height - 1 - margin_px]))
            if inside and np.count_nonzero(self.labels == k + 1) == self.visible_alone.get(b.name, -1):
                out.append(b.name)
        return out


def _rays(camera: CameraModel) -> tuple[np.ndarray, list[np.ndarray]]:
    """Camera centre (3,) and the 3 world-direction columns, each (H*W,), scaled so that t = optical depth."""
    u, v = np.meshgrid(np.arange(camera.width, dtype=float), np.arange(camera.height, dtype=float))
    K, R = camera.K, camera.camera_to_world[:3, :3]
    x, y = ((u - K[0, 2]) / K[0, 0]).ravel(), ((v - K[1, 2]) / K[1, 1]).ravel()
    return camera.position, [R[i, 0] * x + R[i, 1] * y + R[i, 2] for i in range(3)]


def _hit_box(origin: np.ndarray, dirs: list[np.ndarray], box: OrientedBox, camera: CameraModel) -> np.ndarray:
    """(H*W,) entry distance t of each pixel's ray into the box (slab test in the box frame), inf on a miss.

    Only rays inside the box's projected bounding rectangle are tested (it is in front of the camera).
    """
    t = np.full(len(dirs[0]), np.inf)
    uv, _ = camera.project(box.corners())
    u0, v0 = np.maximum(np.floor(uv.min(axis=0)).astype(int) - 1, 0)
    u1, v1 = np.minimum(np.ceil(uv.max(axis=0)).astype(int) + 2, [camera.width, camera.height])
    if u1 <= u0 or v1 <= v0:
        return t
    index = (np.arange(v0, v1)[:, None] * camera.width + np.arange(u0, u1)[None, :]).ravel()
    R = box.rotation
    o = R.T @ (origin - box.center)  # (3,) ray origin, box frame
    d_world = [d[index] for d in dirs]
    near, far = np.full(len(index), -np.inf), np.full(len(index), np.inf)
    for axis in range(3):
        d = R[0, axis] * d_world[0] + R[1, axis] * d_world[1] + R[2, axis] * d_world[2]  # box-frame component
        half = box.size[axis] / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            t1, t2 = (-half - o[axis]) / d, (half - o[axis]) / d
        parallel_inside = (d == 0) & (abs(o[axis]) <= half)
        near = np.maximum(near, np.where(parallel_inside, -np.inf, np.fmin(t1, t2)))
        far = np.minimum(far, np.where(parallel_inside, np.inf, np.fmax(t1, t2)))
    hit = (far >= near) & (near > 0)
    t[index[hit]] = near[hit]
    return t


def _hit_plane(origin: np.ndarray, dirs: list[np.ndarray], axis: int, value: float) -> np.ndarray:
    """(N,) distance t to the plane x[axis] = value along each ray, inf when behind or parallel."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (value - origin[axis]) / dirs[axis]
    return np.where(np.isfinite(t) & (t > 0), t, np.inf)


COLORS = np.array(
    [
        [200, 40, 40],
        [40, 160, 60],
        [40, 80, 200],
        [220, 180, 30],
        [150, 60, 170],
        [30, 170, 170],
        [240, 120, 20],
        [120, 120, 120],
    ],
    dtype=np.uint8,
)


def render(scene: Tabletop, noise_at_1m_m: float = 0.0, seed: int = 0, flying_pixels: bool = False) -> Rendering:
    """Ray-cast the tabletop; depth noise is Gaussian with std noise_at_1m_m * depth^2 (as stereo);
    `flying_pixels` mixes the far pixel of every depth step (see add_flying_pixels)."""
    cam = scene.camera
    origin, dirs = _rays(cam)
    n = len(dirs[0])
    t = np.full(n, np.inf)
    labels = np.full(n, -1, dtype=np.int16)
    surfaces = [(_hit_plane(origin, dirs, 2, FLOOR_Z), -1), (_hit_box(origin, dirs, scene.table_box(), cam), 0)]
    if scene.wall_x is not None:
        surfaces.append((_hit_plane(origin, dirs, 0, scene.wall_x), -1))
    block_hits = [_hit_box(origin, dirs, b.box(), cam) for b in scene.blocks]
    surfaces += [(h, k + 1) for k, h in enumerate(block_hits)]
    for hit, label in surfaces:
        closer = hit < t
        t[closer], labels[closer] = hit[closer], label
    rng = np.random.default_rng(seed)
    if noise_at_1m_m > 0:
        t = t + rng.normal(0.0, 1.0, n) * noise_at_1m_m * t**2
    depth = np.where(np.isfinite(t), t, 0.0).astype(np.float32).reshape(cam.height, cam.width)
    if flying_pixels:
        depth = add_flying_pixels(depth, rng)
    color = np.full((n, 3), 90, dtype=np.uint8)
    color[labels == 0] = (150, 110, 70)
    for k in range(len(scene.blocks)):
        color[labels == k + 1] = COLORS[k % len(COLORS)]
    alone = {b.name: int(np.count_nonzero(np.isfinite(h))) for b, h in zip(scene.blocks, block_hits)}
    return Rendering(
        depth, labels.reshape(cam.height, cam.width), color.reshape(cam.height, cam.width, 3), scene, alone
    )


def add_flying_pixels(depth: np.ndarray, rng: np.random.Generator, jump_m: float = 0.03) -> np.ndarray:
    """Mixed pixels, as depth sensors produce at edges: across every step of more than `jump_m`
    between neighbours, the farther pixel takes a depth 20-80% of the way to the nearer one."""
    out = depth.copy()
    for axis in (0, 1):
        nxt = np.roll(depth, -1, axis=axis)  # the next pixel along the axis
        step = nxt - depth
        edge = (np.abs(step) > jump_m) & (depth > 0) & (nxt > 0)
        edge[(slice(None), -1) if axis else (-1, slice(None))] = False  # no wrap-around
        mix = rng.uniform(0.2, 0.8, depth.shape).astype(np.float32)
        far_is_next = edge & (step > 0)
        v, u = np.nonzero(far_is_next)
        target = (v + 1, u) if axis == 0 else (v, u + 1)
        out[target] = depth[v, u] + (1 - mix[v, u]) * step[v, u]
        far_is_this = edge & (step < 0)
        out[far_is_this] = nxt[far_is_this] - (1 - mix[far_is_this]) * step[far_is_this]
    return out


def default_camera(eye: tuple = (-0.45, 0.0, 0.6), target: tuple = (0.35, 0.0, 0.0)) -> CameraModel:
    """A D435-like 640x480 camera looking down at the table from the robot's side, ~1 m away."""
    return CameraModel.look_at(np.array(eye), np.array(target))


def random_tabletop(
    rng: np.random.Generator,
    count: int | None = None,
    camera: CameraModel | None = None,
    wall_x: float | None = None,
    gap_m: float = 0.05,
    stacked: int = 0,
) -> Tabletop:
    """3-6 non-overlapping random blocks inside the camera's view of the table, plus `stacked`
    small blocks each standing on top of one of them."""
    camera = camera or default_camera()
    count = int(rng.integers(3, 7)) if count is None else count
    blocks: list[Block] = []
    names = ["mug", "bowl", "can", "box", "book", "cup", "plate", "jar"]
    for _ in range(500):
        if len(blocks) == count:
            break
        size = (float(rng.uniform(0.04, 0.16)), float(rng.uniform(0.04, 0.16)), float(rng.uniform(0.03, 0.2)))
        b = Block(
            names[len(blocks)],
            float(rng.uniform(0.05, 0.65)),
            float(rng.uniform(-0.35, 0.35)),
            size,
            float(rng.uniform(-np.pi, np.pi)),
        )
        radius = np.hypot(size[0], size[1]) / 2
        clear = all(np.hypot(b.x - o.x, b.y - o.y) > radius + np.hypot(*o.size[:2]) / 2 + gap_m for o in blocks)
        if clear and _in_view(b, camera):
            blocks.append(b)
    for k, base in enumerate(sorted(blocks, key=lambda b: -min(b.size[:2]))[:stacked]):
        side = 0.6 * min(base.size[:2])
        top = Block(
            f"lid_{k}",
            base.x,
            base.y,
            (side, side * 0.8, float(rng.uniform(0.02, 0.06))),
            base.yaw + float(rng.uniform(-0.3, 0.3)),
            z0=base.size[2],
        )
        if _in_view(top, camera):
            blocks.append(top)
    return Tabletop(tuple(blocks), camera, wall_x=wall_x)


def _in_view(block: Block, camera: CameraModel, margin_px: int = 5) -> bool:
    uv, _ = camera.project(block.box().corners())
    return bool(np.all((uv >= margin_px) & (uv <= [camera.width - 1 - margin_px, camera.height - 1 - margin_px])))


def record_realsense(path: str, renderings: list[Rendering]) -> None:
    """Write renderings to a librealsense recording (.db3 in 2.59) through a software device.

    Depth (z16, mm) and colour (rgb8) share the rendering camera's intrinsics and an identity
    extrinsic, so `rs.align` to colour is (nearly) the identity; depth units are 1 mm.
    """
    import time

    import pyrealsense2 as rs

    cam = renderings[0].scene.camera
    device = rs.software_device()
    depth_sensor, color_sensor = device.add_sensor("Depth"), device.add_sensor("Color")
    intr = rs.intrinsics()
    intr.width, intr.height, intr.model, intr.coeffs = cam.width, cam.height, rs.distortion.none, [0.0] * 5
    intr.fx, intr.fy, intr.ppx, intr.ppy = cam.K[0, 0], cam.K[1, 1], cam.K[0, 2], cam.K[1, 2]
    profiles = []
    for uid, (sensor, stream, fmt, bpp) in enumerate(
        [(depth_sensor, rs.stream.depth, rs.format.z16, 2), (color_sensor, rs.stream.color, rs.format.rgb8, 3)]
    ):
        vs = rs.video_stream()
        vs.type, vs.index, vs.uid, vs.width, vs.height = stream, 0, uid, cam.width, cam.height
        vs.fps, vs.bpp, vs.fmt, vs.intrinsics = 30, bpp, fmt, intr
        profiles.append(sensor.add_video_stream(vs))
    depth_sensor.add_read_only_option(rs.option.depth_units, 0.001)
    identity = rs.extrinsics()
    identity.rotation, identity.translation = [1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0], [0.0, 0.0, 0.0]
    profiles[0].register_extrinsics_to(profiles[1], identity)
    device.create_matcher(rs.matchers.default)
    recorder = rs.recorder(path, device)
    queue = rs.frame_queue(10)
    for sensor, profile in zip((depth_sensor, color_sensor), profiles):
        sensor.open(profile)
        sensor.start(queue)
    for i, r in enumerate(renderings):
        depth = np.round(r.depth_m * 1000.0).astype(np.uint16)
        for sensor, profile, data, bpp in (
            (depth_sensor, profiles[0], depth, 2),
            (color_sensor, profiles[1], r.color, 3),
        ):
            f = rs.software_video_frame()
            f.pixels, f.bpp, f.stride = np.ascontiguousarray(data).tobytes(), bpp, cam.width * bpp
            f.timestamp, f.domain, f.frame_number = i * 1000.0 / 30, rs.timestamp_domain.hardware_clock, i
            f.profile = profile.as_video_stream_profile()
            sensor.on_video_frame(f)
        time.sleep(0.2)  # let the recorder write the frameset (0.05 s lost frames on a loaded CI machine)
    for sensor in (depth_sensor, color_sensor):
        sensor.stop()
        sensor.close()
    del recorder  # closes the file
