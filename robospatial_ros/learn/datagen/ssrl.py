"""Spatial-SSRL style self-supervised spatial items from plain RGB or RGB-D frames.

Five tasks whose answers come from a transformation we apply ourselves, so every answer is exact
and verifiable (after Spatial-SSRL, arXiv 2510.27606; our own implementation):

- patch_reorder: shuffled grid patches -> the original order ("2, 0, 3, 1");
- patch_flip: one grid patch mirrored -> its number and direction ("4, horizontal");
- patch_inpaint: a blacked-out square and four candidate patches -> the letter of the true one;
- depth_order (depth): three numbered markers in distinct depth bands -> nearest to farthest ("2, 3, 1");
- relative_position (depth + intrinsics): a viewer at marker i facing left / right / toward / away
  from the camera -> where marker j is ("front-left", "front-right", "back-left", "back-right").

Frames are (rgb (H, W, 3) uint8, depth (H, W) float32 metres with 0/NaN = unknown, or None); they
come from `image_folder_frames` (a folder of images with optional depth) or `sim_frames` (the
MuJoCo tabletop). Task builders live in `ssrl_tasks`, the settings in `ssrl_config`.

    for sample in ssrl_samples(sim_frames(10, seed=0), SSRLConfig(), seed=0): ...
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

from robospatial_ros.core.errors import RoboSpatialError
from robospatial_ros.core.images import read_rgb
from robospatial_ros.learn.datagen.episodes import check_count, progress_bar
from robospatial_ros.learn.datagen.records import Sample
from robospatial_ros.learn.datagen.ssrl_config import ALL_TASKS, DEPTH_TASKS, SIM_INTRINSICS, SSRLConfig
from robospatial_ros.learn.datagen.ssrl_tasks import BUILDERS, FrameContext

# The settings live in ssrl_config (the task builders read them); importable from here too.
__all__ = [
    "ALL_TASKS",
    "DEPTH_SUFFIX",
    "DEPTH_TASKS",
    "IMAGE_SUFFIXES",
    "SIM_INTRINSICS",
    "SSRLConfig",
    "SSRLError",
    "depth_path_for",
    "image_folder_frames",
    "sim_frames",
    "sim_intrinsics",
    "ssrl_samples",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
DEPTH_SUFFIX = "_depth"  # <stem>_depth.png is the depth map of <stem>.png / .jpg, not an image
Frame = tuple[np.ndarray, "np.ndarray | None"]


class SSRLError(RoboSpatialError, ValueError):
    """Frames or an image folder are unusable (missing, empty, unreadable, mismatched shapes)."""


# --- items ---------------------------------------------------------------------------------------


def _checked_frame(frame: object, index: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate one (rgb, depth) frame; depth becomes (H, W) float32 metres with NaN = unknown."""
    if not isinstance(frame, tuple) or len(frame) != 2:
        raise SSRLError(f"frame {index}: expected a tuple (rgb, depth or None), got {type(frame).__name__}")
    rgb, depth = frame
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise SSRLError(f"frame {index}: rgb must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    if depth is None:
        return rgb, None
    depth = np.array(depth, dtype=np.float32)  # a copy: unknown pixels are rewritten below
    if depth.shape != rgb.shape[:2]:
        raise SSRLError(f"frame {index}: depth shape {depth.shape} does not match the image {rgb.shape[:2]}")
    depth[~np.isfinite(depth) | (depth <= 0)] = np.nan
    return rgb, depth


def ssrl_samples(
    frames: Iterable[tuple[np.ndarray, np.ndarray | None]], config: SSRLConfig, seed: int
) -> Iterator[Sample]:
    """SSRL items, frame by frame in task order; depth tasks only for frames with depth.

    Deterministic for a seed: each (frame, task) pair draws from its own Generator seeded with
    (seed, frame index, task index), so enabling another task does not change the others' items.
    """
    seed = check_count("seed", seed)
    for index, frame in enumerate(progress_bar(frames, "ssrl frames", "frame", config.progress)):
        rgb, depth = _checked_frame(frame, index)
        ctx = FrameContext(rgb, depth, config.intrinsics_fallback, index)
        for task in config.tasks:
            if task in DEPTH_TASKS and depth is None:
                continue
            rng = np.random.default_rng([int(seed), index, ALL_TASKS.index(task)])
            for _ in range(config.max_items_per_task):
                sample = BUILDERS[task](ctx, config, rng)
                if sample is None:
                    break  # this frame cannot carry (more) items of this task
                yield sample


# --- frame sources -------------------------------------------------------------------------------


def read_depth(path: Path, shape: tuple[int, int], error: type[RoboSpatialError] = SSRLError) -> np.ndarray:
    """(H, W) float32 metres from a 16-bit millimetre PNG or a float-metre .npy file; `error` when unreadable."""
    if path.suffix == ".npy":
        try:
            depth = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise error(f"cannot read depth {path}: {exc}") from None
        if depth.ndim != 2 or not np.issubdtype(depth.dtype, np.number):
            raise error(f"depth {path} must be a 2D array of metres, got {depth.shape} {depth.dtype}")
        depth = depth.astype(np.float32)
    else:
        raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if raw is None:
            raise error(f"cannot read depth image {path}")
        if raw.ndim != 2 or raw.dtype != np.uint16:
            raise error(f"depth image {path} must be 16-bit single-channel millimetres, got {raw.shape} {raw.dtype}")
        depth = raw.astype(np.float32) * np.float32(0.001)
    if depth.shape != shape:
        raise error(f"depth {path} is {depth.shape[1]}x{depth.shape[0]}, its image {shape[1]}x{shape[0]}")
    return depth


def depth_path_for(image: Path) -> Path | None:
    """The depth file paired with an image, first found of: <stem>_depth.png, <stem>.npy, then
    <stem>.png / <stem>.npy in depth/ inside the folder, then in a depth/ folder beside it."""
    folder, stem = image.parent, image.stem
    candidates = [folder / f"{stem}{DEPTH_SUFFIX}.png", folder / f"{stem}.npy"]
    for depth_dir in (folder / "depth", folder.parent / "depth"):
        if depth_dir.resolve() != folder.resolve():
            candidates += [depth_dir / f"{stem}.png", depth_dir / f"{stem}.npy"]
    return next((p for p in candidates if p.is_file()), None)


def image_folder_frames(folder: Path) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """(rgb, depth or None) for each .png/.jpg/.jpeg in `folder` (not recursive), in sorted name order.

    Depth pairing: see `depth_path_for`; PNG depth is 16-bit millimetres (0 = unknown), .npy is
    float metres. Files named <stem>_depth.png are depth maps, never images. A missing or empty
    folder raises SSRLError here; an unreadable file raises SSRLError when its frame is reached.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SSRLError(f"image folder {folder} does not exist" if not folder.exists() else f"{folder} is not a folder")
    images = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.stem.endswith(DEPTH_SUFFIX)
    )
    if not images:
        raise SSRLError(f"no .png/.jpg images in {folder}")
    return _folder_frames(images)


def _folder_frames(images: list[Path]) -> Iterator[Frame]:
    for path in images:
        rgb = read_rgb(path, SSRLError)
        depth_path = depth_path_for(path)
        yield rgb, None if depth_path is None else read_depth(depth_path, rgb.shape[:2])


def sim_intrinsics() -> tuple[float, float, float, float]:
    """(fx, fy, cx, cy) of the camera `sim_frames` renders with (the default TabletopConfig's)."""
    from robospatial_ros.sim.tabletop import TabletopConfig

    K = TabletopConfig().camera().K
    return float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2])


def sim_frames(n: int, seed: int, *, progress: bool = False) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """n RGB-D frames of seeded MuJoCo tabletop layouts (default TabletopConfig, 640x480).

    Frame k is the layout seeded with SeedSequence([seed, k]). Depth is float32 metres along the
    optical axis, 0 where nothing was hit. Their intrinsics are `sim_intrinsics()`, which equal
    SSRLConfig's default `intrinsics_fallback`.
    """
    return _sim_frames(check_count("n", n), check_count("seed", seed), progress)


def _sim_frames(n: int, seed: int, progress: bool) -> Iterator[Frame]:
    if n == 0:
        return
    os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering; must precede the mujoco import
    from robospatial_ros.sim.tabletop import TabletopConfig, TabletopSim

    layout_seeds = [int(np.random.SeedSequence([seed, k]).generate_state(1)[0]) for k in range(n)]
    sim = TabletopSim(TabletopConfig(seed=layout_seeds[0]))  # built on the first layout: no extra reset
    for k in progress_bar(range(n), "sim frames", "frame", progress):
        if k > 0:
            sim.reset(seed=layout_seeds[k])
        shot = sim.render()
        yield shot.frame.color, shot.frame.depth
