"""The five Spatial-SSRL style tasks: each builds one verifiable Sample from one RGB(-D) frame.

A builder takes a `FrameContext`, the `SSRLConfig` and a numpy Generator and returns a Sample, or
None when the frame cannot carry a well-posed item (too small, too uniform, no depth spread).
The metadata of every Sample records the transformation, so the answer can be re-derived.

Conventions: pixels are (u, v) = (column, row) with integer pixel centres; boxes are
[x0, y0, x1, y1] with exclusive ends; grid patches are numbered 0..n-1 in reading order (left to
right, then top to bottom); 3D points are in the camera's optical frame (x right, y down,
z forward), metres.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from robospatial_ros.learn.datagen.records import Sample

if TYPE_CHECKING:
    from robospatial_ros.learn.datagen.ssrl_config import SSRLConfig

FLIP_DIRECTIONS = ("horizontal", "vertical")  # horizontal: mirrored left-right; vertical: top-bottom
FACINGS = ("left", "right", "toward_camera", "away_from_camera")
RELATIVE_POSITIONS = ("front-left", "front-right", "back-left", "back-right")
OPTION_LETTERS = ("A", "B", "C", "D")

# Facing -> unit direction (x, z) in the camera's horizontal plane (optical x right, z forward).
FACING_XZ = {"left": (-1.0, 0.0), "right": (1.0, 0.0), "toward_camera": (0.0, -1.0), "away_from_camera": (0.0, 1.0)}
_FACING_PHRASES = {
    "left": "facing left (the camera's left)",
    "right": "facing right (the camera's right)",
    "toward_camera": "facing toward the camera",
    "away_from_camera": "facing away from the camera",
}
_THUMB_PX = 16  # side of the thumbnails on which shuffled patches must differ
_OPTION_GAP_PX = 8  # composite inpainting layout: space around the options ...
_LABEL_ROW_PX = 24  # ... and the height of the row holding their letters
Builder = Callable[["FrameContext", "SSRLConfig", np.random.Generator], "Sample | None"]


@dataclass
class DepthCandidates:
    """Square patches of nearly constant valid depth: where markers may go."""

    pixels: np.ndarray  # (N, 2) int, patch centres (u, v)
    depth_m: np.ndarray  # (N,) float32, depth at the centre pixel, metres
    std_m: np.ndarray  # (N,) float32, depth standard deviation over the patch, metres


@dataclass
class FrameContext:
    """One input frame and what the tasks share about it (depth candidates are computed once)."""

    rgb: np.ndarray  # (H, W, 3) uint8 RGB
    depth: np.ndarray | None  # (H, W) float32 metres, NaN where unknown; None without depth
    intrinsics: tuple[float, float, float, float]  # fx, fy, cx, cy in pixels
    index: int  # position of the frame in the input stream
    _candidates: DepthCandidates | None = field(default=None, repr=False)

    def base_metadata(self) -> dict[str, Any]:
        return {"frame_index": self.index, "image_size": [int(self.rgb.shape[1]), int(self.rgb.shape[0])]}

    def depth_candidates(self, config: SSRLConfig) -> DepthCandidates:
        if self._candidates is None:
            assert self.depth is not None, "depth tasks run only on frames with depth"
            self._candidates = find_depth_candidates(self.depth, config)
        return self._candidates


# --- shared image helpers ------------------------------------------------------------------------


def grid_box(height: int, width: int, grid: int) -> list[int] | None:
    """The centred [x0, y0, x1, y1] region that a grid x grid split of equal patches covers."""
    ph, pw = height // grid, width // grid
    if ph < 4 or pw < 4:
        return None
    y0, x0 = (height - grid * ph) // 2, (width - grid * pw) // 2
    return [x0, y0, x0 + grid * pw, y0 + grid * ph]


def split_patches(image: np.ndarray, grid: int) -> np.ndarray:
    """(g*ph, g*pw, 3) image -> (g*g, ph, pw, 3) patches in reading order."""
    h, w = image.shape[0] // grid, image.shape[1] // grid
    return image.reshape(grid, h, grid, w, 3).transpose(0, 2, 1, 3, 4).reshape(grid * grid, h, w, 3)


def join_patches(patches: np.ndarray, grid: int) -> np.ndarray:
    """(g*g, ph, pw, 3) patches in reading order -> (g*ph, g*pw, 3) image."""
    _, h, w, c = patches.shape
    return np.ascontiguousarray(
        patches.reshape(grid, grid, h, w, c).transpose(0, 2, 1, 3, 4).reshape(grid * h, grid * w, c)
    )


def mean_abs_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two equally shaped uint8 images, in grey levels (0..255)."""
    return float(cv2.absdiff(a, b).mean())


def flip_patch(patch: np.ndarray, direction: str) -> np.ndarray:
    return np.ascontiguousarray(patch[:, ::-1] if direction == "horizontal" else patch[::-1])


def draw_marker(image: np.ndarray, pixel: tuple[int, int], label: int, radius_px: int) -> None:
    """A white disc with a black rim and a black number, centred on `pixel` (u, v), in place."""
    centre = (int(pixel[0]), int(pixel[1]))
    cv2.circle(image, centre, radius_px, (255, 255, 255), -1, cv2.LINE_AA)
    cv2.circle(image, centre, radius_px, (0, 0, 0), max(1, radius_px // 6), cv2.LINE_AA)
    scale = radius_px / 20.0
    thickness = max(1, radius_px // 8)
    (tw, th), _ = cv2.getTextSize(str(label), cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    origin = (centre[0] - tw // 2, centre[1] + th // 2)
    cv2.putText(image, str(label), origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness, cv2.LINE_AA)


def _joined(values: list[int] | np.ndarray) -> str:
    return ", ".join(str(int(v)) for v in values)


# --- 1. shuffled patch reordering ----------------------------------------------------------------


def _patches_distinct(patches: np.ndarray, min_difference: float) -> bool:
    """Every two patches differ by at least `min_difference` grey levels on small thumbnails, so
    the shuffle is recoverable from the image (a blank wall cut in two gives identical patches)."""
    thumbs = np.stack([cv2.resize(p, (_THUMB_PX, _THUMB_PX), interpolation=cv2.INTER_AREA) for p in patches])
    flat = thumbs.reshape(len(patches), -1).astype(np.float32)  # (n, THUMB*THUMB*3)
    pairwise = np.abs(flat[:, None, :] - flat[None, :, :]).mean(axis=2)  # (n, n)
    np.fill_diagonal(pairwise, np.inf)
    return bool(pairwise.min() >= min_difference)


def build_patch_reorder(ctx: FrameContext, config: SSRLConfig, rng: np.random.Generator) -> Sample | None:
    grid = int(rng.choice(config.reorder_grid_sizes))
    box = grid_box(*ctx.rgb.shape[:2], grid)
    if box is None:
        return None
    patches = split_patches(ctx.rgb[box[1] : box[3], box[0] : box[2]], grid)
    if not _patches_distinct(patches, config.min_patch_difference):
        return None
    n = grid * grid
    # Shown position k holds original patch permutation[k]; never the identity.
    permutation = rng.permutation(n)
    while np.array_equal(permutation, np.arange(n)):
        permutation = rng.permutation(n)
    order = np.argsort(permutation)  # order[i] = shown position of original patch i: the answer
    question = (
        f"The image was cut into a {grid}x{grid} grid of equal patches and the patches were shuffled. "
        f"Number the patches of the shown image 0 to {n - 1} in reading order (left to right, then top to "
        f"bottom). For each position of the original image, in the same reading order, give the number of "
        f"the shown patch that belongs there. Answer with {n} numbers separated by commas and spaces, e.g. "
        f'"{_joined(np.arange(n))}" if nothing had moved.'
    )
    metadata = ctx.base_metadata() | {
        "grid": grid,
        "grid_box": box,
        "permutation": permutation.tolist(),
        "permutation_meaning": "shown patch k is original patch permutation[k]",
        "order": order.tolist(),
    }
    image = join_patches(patches[permutation], grid)
    return Sample("ssrl", "patch_reorder", question, _joined(order), [image], metadata=metadata)


# --- 2. flipped patch recognition ----------------------------------------------------------------


def _flip_is_visible(patch: np.ndarray, direction: str, min_difference: float) -> bool:
    """The flipped patch differs from the original and from the other flip (so the direction is unique)."""
    flipped = flip_patch(patch, direction)
    other = flip_patch(patch, "vertical" if direction == "horizontal" else "horizontal")
    return (
        mean_abs_difference(flipped, patch) >= min_difference and mean_abs_difference(flipped, other) >= min_difference
    )


def build_patch_flip(ctx: FrameContext, config: SSRLConfig, rng: np.random.Generator) -> Sample | None:
    grid = int(rng.choice(config.flip_grid_sizes))
    box = grid_box(*ctx.rgb.shape[:2], grid)
    if box is None:
        return None
    patches = split_patches(ctx.rgb[box[1] : box[3], box[0] : box[2]], grid)
    n = grid * grid
    # Try every (patch, direction) in a random order; keep the first whose flip is visible.
    options = [(int(k), FLIP_DIRECTIONS[int(d)]) for k, d in zip(rng.permutation(n), rng.integers(0, 2, n))]
    options += [(k, "horizontal" if d == "vertical" else "vertical") for k, d in options]
    chosen = next((o for o in options if _flip_is_visible(patches[o[0]], o[1], config.min_patch_difference)), None)
    if chosen is None:
        return None
    index, direction = chosen
    shown = patches.copy()
    shown[index] = flip_patch(patches[index], direction)
    question = (
        f"The image is divided into a {grid}x{grid} grid of equal patches, numbered 0 to {n - 1} in reading "
        "order (left to right, then top to bottom). Exactly one patch has been flipped, either horizontally "
        "(mirrored left to right) or vertically (mirrored top to bottom). Which patch is flipped, and how? "
        'Answer as "k, horizontal" or "k, vertical", where k is the patch number.'
    )
    metadata = ctx.base_metadata() | {"grid": grid, "grid_box": box, "flipped_index": index, "direction": direction}
    answer = f"{index}, {direction}"
    return Sample("ssrl", "patch_flip", question, answer, [join_patches(shown, grid)], metadata=metadata)


# --- 3. cropped patch inpainting -----------------------------------------------------------------


def inpaint_options(rgb: np.ndarray, box: list[int], ops: dict[str, dict[str, Any]]) -> dict[str, np.ndarray]:
    """The true patch and its three distractors, each (s, s, 3) uint8, from the recorded ops."""
    x0, y0, x1, y1 = box
    side = x1 - x0
    true = rgb[y0:y1, x0:x1]
    zx0, zy0, zx1, zy1 = ops["zoom"]["source_box"]
    cx0, cy0, cx1, cy1 = ops["context"]["source_box"]
    return {
        "true": np.ascontiguousarray(true),
        "rotate": np.ascontiguousarray(np.rot90(true, ops["rotate"]["quarter_turns_ccw"])),
        "zoom": cv2.resize(rgb[zy0:zy1, zx0:zx1], (side, side), interpolation=cv2.INTER_LINEAR),
        "context": cv2.resize(rgb[cy0:cy1, cx0:cx1], (side, side), interpolation=cv2.INTER_AREA),
    }


def _inpaint_geometry(ctx: FrameContext, config: SSRLConfig, rng: np.random.Generator) -> tuple[list[int], dict]:
    """A random cut-out box and the distractor ops (the context crop must fit in the image)."""
    h, w = ctx.rgb.shape[:2]
    side = config.inpaint_patch_px
    context_side = int(round(side * config.inpaint_context_scale))
    cx0, cy0 = int(rng.integers(0, w - context_side + 1)), int(rng.integers(0, h - context_side + 1))
    pad = (context_side - side) // 2
    box = [cx0 + pad, cy0 + pad, cx0 + pad + side, cy0 + pad + side]
    inner = int(round(side / config.inpaint_zoom))
    off = (side - inner) // 2
    ops = {
        "rotate": {"quarter_turns_ccw": int(rng.integers(1, 4))},
        "zoom": {
            "factor": config.inpaint_zoom,
            "source_box": [box[0] + off, box[1] + off, box[0] + off + inner, box[1] + off + inner],
        },
        "context": {
            "factor": config.inpaint_context_scale,
            "source_box": [cx0, cy0, cx0 + context_side, cy0 + context_side],
        },
    }
    return box, ops


def _options_distinct(options: list[np.ndarray], min_difference: float) -> bool:
    return all(
        mean_abs_difference(options[i], options[j]) >= min_difference
        for i in range(len(options))
        for j in range(i + 1, len(options))
    )


def composite_inpaint(masked: np.ndarray, shown: list[np.ndarray]) -> tuple[np.ndarray, list[list[int]]]:
    """The masked image above a row of lettered options on white; returns (image, option boxes)."""
    h, w = masked.shape[:2]
    side = shown[0].shape[0]
    row_w = len(shown) * side + (len(shown) + 1) * _OPTION_GAP_PX
    canvas = np.full((h + _LABEL_ROW_PX + side + 2 * _OPTION_GAP_PX, w, 3), 255, np.uint8)
    canvas[:h] = masked
    top = h + _OPTION_GAP_PX + _LABEL_ROW_PX
    boxes = []
    for k, (letter, option) in enumerate(zip(OPTION_LETTERS, shown)):
        x0 = (w - row_w) // 2 + _OPTION_GAP_PX + k * (side + _OPTION_GAP_PX)
        canvas[top : top + side, x0 : x0 + side] = option
        boxes.append([x0, top, x0 + side, top + side])
        (tw, _), _ = cv2.getTextSize(letter, cv2.FONT_HERSHEY_SIMPLEX, 0.7, 2)
        cv2.putText(canvas, letter, (x0 + (side - tw) // 2, top - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 2)
    return canvas, boxes


def build_patch_inpaint(ctx: FrameContext, config: SSRLConfig, rng: np.random.Generator) -> Sample | None:
    h, w = ctx.rgb.shape[:2]
    side = config.inpaint_patch_px
    context_side = int(round(side * config.inpaint_context_scale))
    too_narrow = config.inpaint_composite and w < 4 * side + 5 * _OPTION_GAP_PX
    if context_side > min(h, w) or too_narrow:
        return None
    for _ in range(config.max_attempts):
        box, ops = _inpaint_geometry(ctx, config, rng)
        options = inpaint_options(ctx.rgb, box, ops)
        if _options_distinct(list(options.values()), config.min_patch_difference):
            break
    else:
        return None
    order = [str(op) for op in rng.permutation(list(options))]  # op shown under letter k
    answer = OPTION_LETTERS[order.index("true")]
    masked = ctx.rgb.copy()
    masked[box[1] : box[3], box[0] : box[2]] = 0
    shown = [options[op] for op in order]
    metadata = ctx.base_metadata() | {
        "box": box,
        "option_ops": dict(zip(OPTION_LETTERS, order)),
        "distractor_ops": ops,
        "layout": "composite" if config.inpaint_composite else "separate",
    }
    if config.inpaint_composite:
        image, boxes = composite_inpaint(masked, shown)
        images = [image]
        metadata["option_boxes"] = dict(zip(OPTION_LETTERS, boxes))
        where = "The upper part of the image has a blacked-out square region. Below it are four candidate patches"
    else:
        images = [masked, *shown]
        where = "In the first image a square region has been blacked out. The next four images are candidate patches"
    question = (
        f"{where}, labelled A, B, C and D from left to right. Which candidate is exactly the missing region? "
        "Answer with the letter only."
    )
    return Sample("ssrl", "patch_inpaint", question, answer, images, choices=list(OPTION_LETTERS), metadata=metadata)


# --- depth candidates ----------------------------------------------------------------------------


def find_depth_candidates(depth: np.ndarray, config: SSRLConfig) -> DepthCandidates:
    """Non-overlapping p x p patches whose depth is valid everywhere and nearly constant, and
    whose marker fits inside the image. depth: (H, W) float32 metres, NaN where unknown."""
    p, r = config.depth_patch_px, config.marker_radius_px
    h, w = depth.shape
    rows, cols = h // p, w // p
    # (rows, cols, p*p): one contiguous row of depths per tile (reductions over it are fast)
    tiles = depth[: rows * p, : cols * p].reshape(rows, p, cols, p).transpose(0, 2, 1, 3).reshape(rows, cols, p * p)
    std = tiles.std(axis=2)  # NaN or inf where a pixel has no depth
    valid = (tiles > 0).all(axis=2) & np.isfinite(std)
    v = np.arange(rows) * p + p // 2
    u = np.arange(cols) * p + p // 2
    inside = ((v >= r) & (v < h - r))[:, None] & ((u >= r) & (u < w - r))[None, :]
    keep = valid & (std <= config.depth_patch_max_std_m) & inside
    by, bx = np.nonzero(keep)
    pixels = np.stack([u[bx], v[by]], axis=1)
    return DepthCandidates(pixels, depth[pixels[:, 1], pixels[:, 0]], std[by, bx].astype(np.float32))


def _far_enough(pixels: np.ndarray, chosen: list[int], min_px: float) -> np.ndarray:
    """(N,) bool: candidates at least `min_px` from every chosen candidate's pixel."""
    ok = np.ones(len(pixels), bool)
    for c in chosen:
        ok &= np.hypot(*(pixels - pixels[c]).T) >= min_px
    return ok


def _marker_records(cands: DepthCandidates, chosen: list[int], labels: list[int]) -> list[dict[str, Any]]:
    return [
        {
            "label": int(lab),
            "pixel": cands.pixels[c].tolist(),
            "depth_m": float(cands.depth_m[c]),
            "patch_std_m": float(cands.std_m[c]),
        }
        for c, lab in zip(chosen, labels)
    ]


def _draw_markers(rgb: np.ndarray, markers: list[dict[str, Any]], radius_px: int) -> np.ndarray:
    image = rgb.copy()
    for m in markers:
        draw_marker(image, m["pixel"], m["label"], radius_px)
    return image


# --- 4. regional depth ordering ------------------------------------------------------------------


def _pick_depth_triple(cands: DepthCandidates, config: SSRLConfig, rng: np.random.Generator) -> list[int] | None:
    """Indices (near, middle, far) whose depths are >= depth_margin_m apart, markers apart."""
    z, m = cands.depth_m, config.depth_margin_m
    if len(z) < 3 or float(z.max() - z.min()) < 2 * m:
        return None
    for _ in range(config.max_attempts):
        chosen: list[int] = []
        allowed = z <= z.max() - 2 * m  # room left for a middle and a far patch
        for step in range(3):
            pool = np.flatnonzero(allowed & _far_enough(cands.pixels, chosen, config.min_marker_distance_px))
            if len(pool) == 0:
                break
            chosen.append(int(rng.choice(pool)))
            allowed = (z >= z[chosen[-1]] + m) & (z <= z.max() - (1 - step) * m)
        if len(chosen) == 3:
            return chosen
    return None


def build_depth_order(ctx: FrameContext, config: SSRLConfig, rng: np.random.Generator) -> Sample | None:
    cands = ctx.depth_candidates(config)
    chosen = _pick_depth_triple(cands, config, rng)
    if chosen is None:
        return None
    labels = [int(v) for v in rng.permutation([1, 2, 3])]  # labels of the near, middle, far patch
    markers = _marker_records(cands, chosen, labels)
    markers.sort(key=lambda mk: mk["label"])
    question = (
        "Three points in the image are marked with numbered circles 1, 2 and 3. Order them from nearest to "
        "farthest from the camera. Answer with the three numbers separated by commas and spaces, nearest first."
    )
    metadata = ctx.base_metadata() | {
        "markers": markers,
        "order_near_to_far": labels,
        "depth_margin_m": config.depth_margin_m,
    }
    image = _draw_markers(ctx.rgb, markers, config.marker_radius_px)
    return Sample("ssrl", "depth_order", question, _joined(labels), [image], metadata=metadata)


# --- 5. relative 3D position ---------------------------------------------------------------------


def back_project(pixel: np.ndarray, depth_m: float, intrinsics: tuple[float, float, float, float]) -> np.ndarray:
    """(u, v) pixel and optical depth -> (3,) point in the camera optical frame, metres."""
    fx, fy, cx, cy = intrinsics
    return np.array([(pixel[0] - cx) * depth_m / fx, (pixel[1] - cy) * depth_m / fy, depth_m])


def relative_direction(offset: np.ndarray, facing: str) -> tuple[float, float]:
    """(forward, right) components (metres) of a (3,) optical-frame offset for a viewer facing
    `facing` in the camera's horizontal x-z plane; right = facing x up, with up = -y (optical)."""
    fx, fz = FACING_XZ[facing]
    forward = offset[0] * fx + offset[2] * fz
    right = offset[0] * fz - offset[2] * fx
    return float(forward), float(right)


def _axis_distance_deg(bearing_deg: float) -> float:
    """Angular distance of a bearing from the nearest of front, right, back, left."""
    return abs((bearing_deg + 45.0) % 90.0 - 45.0)


def _relative_record(ctx: FrameContext, cands: DepthCandidates, pair: tuple[int, int], facing: str) -> dict:
    points = [back_project(cands.pixels[c], float(cands.depth_m[c]), ctx.intrinsics) for c in pair]
    forward, right = relative_direction(points[1] - points[0], facing)
    return {
        "points": points,
        "forward_m": forward,
        "right_m": right,
        "bearing_deg": math.degrees(math.atan2(right, forward)),
    }


def build_relative_position(ctx: FrameContext, config: SSRLConfig, rng: np.random.Generator) -> Sample | None:
    cands = ctx.depth_candidates(config)
    if len(cands.depth_m) < 2:
        return None
    for _ in range(config.max_attempts):
        viewer, target = (int(i) for i in rng.choice(len(cands.depth_m), 2, replace=False))
        facing = FACINGS[int(rng.integers(len(FACINGS)))]
        if np.hypot(*(cands.pixels[target] - cands.pixels[viewer])) < config.min_marker_distance_px:
            continue
        rel = _relative_record(ctx, cands, (viewer, target), facing)
        far_enough = math.hypot(rel["forward_m"], rel["right_m"]) >= config.relpos_min_distance_m
        if far_enough and _axis_distance_deg(rel["bearing_deg"]) >= config.relpos_dead_band_deg:
            break  # clearly in one quadrant: not within the dead band of front, back, left or right
    else:
        return None
    viewer_label, target_label = (int(v) for v in rng.permutation([1, 2]))
    answer = ("front" if rel["forward_m"] > 0 else "back") + "-" + ("right" if rel["right_m"] > 0 else "left")
    markers = _marker_records(cands, [viewer, target], [viewer_label, target_label])
    for marker, point in zip(markers, rel["points"]):
        marker["point_camera_m"] = [float(c) for c in point]
    markers.sort(key=lambda mk: mk["label"])
    question = (
        f"Two points in the image are marked with numbered circles 1 and 2. Imagine you stand at marker "
        f"{viewer_label}, {_FACING_PHRASES[facing]}. Where is marker {target_label} relative to you? Front is the "
        "direction you face, left and right are your own; ignore height differences. Answer with exactly one of: "
        + ", ".join(RELATIVE_POSITIONS)
        + "."
    )
    metadata = ctx.base_metadata() | {
        "markers": markers,
        "viewer_label": viewer_label,
        "target_label": target_label,
        "facing": facing,
        "facing_xz": list(FACING_XZ[facing]),
        "forward_m": rel["forward_m"],
        "right_m": rel["right_m"],
        "bearing_deg": rel["bearing_deg"],
        "intrinsics": list(ctx.intrinsics),
        "dead_band_deg": config.relpos_dead_band_deg,
    }
    image = _draw_markers(ctx.rgb, markers, config.marker_radius_px)
    return Sample("ssrl", "relative_position", question, answer, [image], metadata=metadata)


BUILDERS: dict[str, Builder] = {
    "patch_reorder": build_patch_reorder,
    "patch_flip": build_patch_flip,
    "patch_inpaint": build_patch_inpaint,
    "depth_order": build_depth_order,
    "relative_position": build_relative_position,
}
