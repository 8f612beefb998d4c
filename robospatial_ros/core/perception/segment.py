"""Unlabelled objects from the organized depth image: connected components with edge cuts.

A real depth camera's objects touch in the image (one occludes another), touch in space (a can
in a bowl, a drill against a box) and carry mixed pixels along their silhouettes; 3-D DBSCAN
merges all of that into one blob (a 9-object table gave 4 "objects"). Here every pixel keeps
its place in the image, at a working resolution of at most `max_width_px` columns (640x480 ->
320x240 by taking every 2nd pixel, 1280x720 -> 320x180: boxes need thousands of points, not a
million):

  1. height of every pixel above the support's surface (the plane plus the surface's measured
     bias, a far table bends with stereo range error): a multiply-add on separable rays;
  2. foreground = height above max(min_height_m, height_noise_m * depth^2) (the noise measured
     on the support in this frame) and below max_height_m, inside the workspace;
  3. cut both sides of every depth jump larger than jump_m * depth^2 (occlusion boundaries,
     mixed and flying pixels: they never inflate a box);
  4. 4-connected components (OpenCV); each is then split along concave creases (a valley in the
     depth where two objects meet; shallower ones count at colour edges), keeping a split only
     where the pieces differ in top height or colour (not a toy brick's studs);
  5. candidates that are flat (top below min_top_m), narrower than min_size_m or not over the
     support region are dropped; pieces of one open container (a bowl's near wall and far inner
     wall, a mug's inside past its rim) join; a piece inside a bigger one's footprint and no
     higher joins it.

Measured on this project's 2-core machine: ~10 ms of a ~20 ms 640x480 frame (bench realdata).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from robospatial_ros.core.geometry import convex_hull_2d, distance_to_convex_polygon, points_in_convex_polygon
from robospatial_ros.core.perception.frame import RGBDFrame
from robospatial_ros.core.perception.plane import SupportPlane

_ON_SUPPORT_SHARE = 0.5  # a candidate needs this share of its points over the support region
_CHECK_POINTS = 256  # ... tested on at most this many of its points
_MERGE_INSIDE_SHARE = 0.8  # a candidate with this share of its points in another's footprint ...
_MERGE_RISE_M = 0.01  # ... and a top at most this above it is part of it
_COLOUR_CREASE_SHARE = 0.4  # a crease this shallow (share of crease_m) still cuts at a colour edge
_COLOUR_EDGE = 40  # a colour edge: some channel changes by more than this across 3x3 pixels (0-255)
_THROUGH_SHARE = 0.8  # a segment with this share of its pixels inside another's image outline ...
_RING_GAP_PX = 2  # two rim pieces are a ring when, gaps up to this closed (working pixels), ...
_RING_HOLE_SHARE = 0.1  # ... they enclose a hole of this share of their pixels


@dataclass(frozen=True)
class SegmentParams:
    """Segmentation knobs (from PerceptionConfig); lengths in metres, sizes in pixels."""

    min_depth_m: float
    max_depth_m: float
    min_height_m: float  # pixels nearer the support than this are support (at 1 m and nearer)
    height_noise_m: float  # ... or this times depth^2 (metres at 1 m; 0 = a fixed threshold)
    max_height_m: float
    jump_m: float  # depth jump at 1 m that cuts two neighbouring pixels apart (scaled by depth^2)
    min_jump_m: float  # the cut threshold never goes below this
    crease_m: float  # a concave crease deeper than this (depth sag over +-crease_arm_m) cuts; 0 = off
    crease_arm_m: float
    min_points: int  # full-resolution pixels a candidate needs
    min_top_m: float  # a candidate whose top is lower than this above the support is noise
    min_size_m: float  # ... and one whose x/y extent is narrower (a cheap first test; boxes test again)
    split_height_m: float  # pieces split by a crease stay apart if their tops differ by more than this ...
    split_colour: float  # ... or their colours by more than this (chromaticity L1 / half brightness, 0-1)
    max_width_px: int  # wider images are decimated
    support_margin_m: float  # "over the support": within this of the support region's hull
    workspace_min: tuple[float, float, float] | None = None  # world frame, metres
    workspace_max: tuple[float, float, float] | None = None


@dataclass
class Segment:
    """One object candidate: (N, 3) float32 world points (metres) and its mean image column (pixels)."""

    points: np.ndarray
    column: float
    top_m: float  # robust top height above the support plane
    label: int = 0  # its label in the working label image
    bbox: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0))  # (row, col) [min, max) there
    pixels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (N,) flat working-pixel indices


def segment_objects(
    frame: RGBDFrame,
    rays: np.ndarray,
    plane: SupportPlane,
    support_xy: np.ndarray,
    params: SegmentParams,
    bias: np.ndarray | None = None,
) -> list[Segment]:
    """Object candidates above the support, left to right in the image.

    `rays` (H*W, 3) float32 optical rays of the frame; `support_xy` (K, 2) world x/y of the
    support region's points (its convex hull bounds "on the support"); `bias` an optional
    low-resolution image (any size, float32 metres) of the support surface's offset from the plane.
    """
    return segment_image(frame, rays, plane, support_xy, params, bias)[0]


def working_step(width_px: int, params: SegmentParams) -> int:
    """The decimation of the working image: every step-th pixel of every step-th row (ceil(W / max_width))."""
    return max(1, -(-width_px // params.max_width_px))


def segment_image(
    frame: RGBDFrame,
    rays: np.ndarray,
    plane: SupportPlane,
    support_xy: np.ndarray,
    params: SegmentParams,
    bias: np.ndarray | None = None,
) -> tuple[list[Segment], np.ndarray]:
    """`segment_objects` and its (h, w) int32 label image at the working resolution (for drawing):
    each segment's pixels carry its `label` (merged pieces keep their own)."""
    step = working_step(frame.width, params)
    image = _WorkingImage.of(frame, rays, step, plane, params, bias)
    fg = _foreground(image, params)
    fg &= ~_jump_edges(image.depth, params, step)
    labels = _components(fg, image, params)
    min_pixels = max(3, params.min_points // (step * step))
    areas = np.bincount(labels.reshape(-1))
    keep = np.flatnonzero(areas >= min_pixels)
    keep = keep[keep > 0]
    if len(keep) == 0:
        return [], labels
    segments = _gather(labels, keep, image)
    hull = convex_hull_2d(support_xy) if len(support_xy) >= 3 else np.zeros((0, 2))
    segments = [s for s in segments if s.top_m >= params.min_top_m and _aabb_side(s.points) >= params.min_size_m]
    segments = [s for s in segments if _on_support(s.points, hull, params)]
    segments = _merge_seen_through(segments, image)
    segments = _merge_contained(segments)
    return sorted(segments, key=lambda s: s.column), labels


def _components(fg: np.ndarray, image: _WorkingImage, params: SegmentParams) -> np.ndarray:
    """(h, w) int32 labels (0 = none): 4-connected components of `fg`, split at concave creases
    where the pieces on either side differ (in top height or colour): two objects meeting, not
    the grooves of one (a toy brick's studs, a drill's grip)."""
    _, coarse = cv2.connectedComponents(fg.view(np.uint8), connectivity=4)
    crease = _crease_edges(image, params)
    if not (crease & fg).any():
        return coarse
    n_fine, fine = cv2.connectedComponents((fg & ~crease).view(np.uint8), connectivity=4)
    flat_fine = fine.reshape(-1)
    owner = np.zeros(n_fine, dtype=np.int64)  # each fine piece's coarse component
    owner[flat_fine] = coarse.reshape(-1)
    area = np.bincount(flat_fine, minlength=n_fine)
    min_pixels = max(3, params.min_points // (image.step * image.step))
    pieces = np.flatnonzero(area >= min_pixels)
    pieces = pieces[pieces > 0]
    per_owner = np.bincount(owner[pieces], minlength=int(coarse.max()) + 1)
    split = np.flatnonzero(per_owner >= 2)  # coarse components with two or more real pieces
    if len(split) == 0:
        return coarse
    pieces = pieces[np.isin(owner[pieces], split)]
    groups = _similar_groups(pieces, owner, fine, image, params)
    out = coarse.copy()
    out[np.isin(coarse, split)] = 0  # those components are replaced by their piece groups ...
    relabel = np.zeros(n_fine, dtype=np.int32)
    relabel[pieces] = groups + int(coarse.max()) + 1
    moved = relabel[flat_fine].reshape(fine.shape)
    out[moved > 0] = moved[moved > 0]  # ... crease pixels (and crumbs) between them are dropped
    return out


def _similar_groups(
    pieces: np.ndarray, owner: np.ndarray, fine: np.ndarray, image: _WorkingImage, params: SegmentParams
) -> np.ndarray:
    """(len(pieces),) group id per piece: pieces of one component join unless they differ in top or colour."""
    top = _label_tops(fine, pieces, image.height)
    index = np.flatnonzero(fine.reshape(-1))  # only labelled pixels: the rest is most of the image
    flat = fine.reshape(-1)[index]
    colour = image.color.reshape(-1, 3)[index]  # (M, 3) uint8
    n = int(fine.max()) + 1
    count = np.maximum(np.bincount(flat, minlength=n), 1).astype(np.float64)
    mean = np.stack([np.bincount(flat, colour[:, c], minlength=n) for c in range(3)], axis=1) / count[:, None]
    parent = {int(p): int(p) for p in pieces}
    for a_i, a in enumerate(pieces):
        for b in pieces[a_i + 1 :]:
            if owner[a] != owner[b] or _root(parent, int(a)) == _root(parent, int(b)):
                continue
            same_top = abs(top[int(a)] - top[int(b)]) <= params.split_height_m
            if same_top and _colour_distance(mean[a], mean[b]) <= params.split_colour:
                parent[_root(parent, int(b))] = _root(parent, int(a))
    return np.array([_root(parent, int(p)) for p in pieces], dtype=np.int32)


def _colour_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Difference of two mean RGB colours (0-255): chromaticity (shading-free) and brightness, 0..~1."""
    ca, cb = a / max(float(a.sum()), 1.0), b / max(float(b.sum()), 1.0)
    chroma = float(np.abs(ca - cb).sum())
    bright = abs(float(a.mean()) - float(b.mean())) / 255.0
    return max(chroma, 0.25 * bright)


@dataclass
class _WorkingImage:
    """The frame at the segmentation's resolution: every step-th pixel of every step-th row.

    depth (h, w) float32 metres, NaN = none; height (h, w) float32 metres above the support;
    ray_u (w,) / ray_v (h,) the optical rays' x / z and y / z per column / row; pose (4, 4).
    """

    depth: np.ndarray
    height: np.ndarray
    color: np.ndarray  # (h, w, 3) uint8 RGB
    ray_u: np.ndarray
    ray_v: np.ndarray
    pose: np.ndarray
    step: int
    fx: float

    @classmethod
    def of(
        cls,
        frame: RGBDFrame,
        rays: np.ndarray,
        step: int,
        plane: SupportPlane,
        params: SegmentParams,
        bias: np.ndarray | None = None,
    ) -> _WorkingImage:
        d = frame.depth[::step, ::step].astype(np.float32) * np.float32(frame.depth_scale_m)
        with np.errstate(invalid="ignore"):
            d[~((d >= params.min_depth_m) & (d <= params.max_depth_m))] = np.nan
        W, T = frame.width, frame.camera_to_world
        ray_u, ray_v = rays[:W, 0][::step], rays[::W, 1][::step]
        # height = n . (R p_opt + t) + offset = depth * (n_opt . ray) + (n . t + offset): separable in u, v.
        n = plane.normal @ T[:3, :3]  # (3,) the normal in the optical frame
        scale = ray_u[None, :] * np.float32(n[0]) + (ray_v * np.float32(n[1]) + np.float32(n[2]))[:, None]
        height = d * scale + np.float32(plane.normal @ T[:3, 3] + plane.offset_m)
        if bias is not None:  # heights above the support's real surface, not its plane
            height -= cv2.resize(bias, (d.shape[1], d.shape[0]), interpolation=cv2.INTER_LINEAR)
        color = frame.color[::step, ::step]
        return cls(d, height, color, ray_u, ray_v, T, step, float(frame.K[0, 0]))

    def world(self, flat: np.ndarray) -> np.ndarray:
        """(N, 3) float32 world points (metres) of the working pixels at row-major indices `flat`."""
        w = self.depth.shape[1]
        r, c = flat // w, flat % w
        d = self.depth.reshape(-1)[flat]
        optical = np.stack([self.ray_u[c] * d, self.ray_v[r] * d, d], axis=1)  # (N, 3) float32, metres
        R, t = self.pose[:3, :3].astype(np.float32), self.pose[:3, 3].astype(np.float32)
        return optical @ R.T + t


def _foreground(image: _WorkingImage, params: SegmentParams) -> np.ndarray:
    """(h, w) bool: pixels in the object height band (noise-scaled threshold) and the workspace."""
    depth, h = image.depth, image.height
    threshold = np.float32(params.min_height_m)
    if params.height_noise_m > 0:
        threshold = np.maximum(threshold, np.float32(params.height_noise_m) * depth * depth)
    with np.errstate(invalid="ignore"):
        fg = (h > threshold) & (h < np.float32(params.max_height_m))
    if params.workspace_min is not None and params.workspace_max is not None:
        flat = np.flatnonzero(fg)
        points = image.world(flat)
        inside = np.ones(len(flat), dtype=bool)
        for axis in range(3):
            inside &= (points[:, axis] >= params.workspace_min[axis]) & (points[:, axis] <= params.workspace_max[axis])
        fg.reshape(-1)[flat[~inside]] = False
    return fg


def _jump_edges(depth: np.ndarray, params: SegmentParams, step: int) -> np.ndarray:
    """(h, w) bool: pixels on either side of a depth jump larger than jump_m * depth^2 (x step)."""
    tau = np.maximum(np.float32(params.jump_m * step) * depth * depth, np.float32(params.min_jump_m * step))
    edge = np.zeros(depth.shape, dtype=bool)
    with np.errstate(invalid="ignore"):  # NaN neighbours (holes) never cut: they are not foreground anyway
        jx = np.abs(depth[:, 1:] - depth[:, :-1]) > np.minimum(tau[:, 1:], tau[:, :-1])
        jy = np.abs(depth[1:, :] - depth[:-1, :]) > np.minimum(tau[1:, :], tau[:-1, :])
    edge[:, 1:] |= jx
    edge[:, :-1] |= jx
    edge[1:, :] |= jy
    edge[:-1, :] |= jy
    return edge


def _crease_edges(image: _WorkingImage, params: SegmentParams) -> np.ndarray:
    """(h, w) bool: pixels in a concave crease (a valley seen from the camera) where two objects meet.

    Inverse depth is affine in (u, v) on any plane, so its second difference over +-k pixels is
    zero on flat faces and on convex edges it is positive; in a valley (a can standing in a bowl,
    a drill against a box) the middle pixel lies farther than the chord: the second difference of
    inverse depth times depth^2 is the depth sag, cut when above `crease_m`, or above
    _COLOUR_CREASE_SHARE of it where the colour changes too (two objects rarely share both).
    k spans about `crease_arm_m` on the surface at the scene's median depth.
    """
    if params.crease_m <= 0:
        return np.zeros(image.depth.shape, dtype=bool)
    d = image.depth
    median = float(np.nanmedian(d)) if np.isfinite(d).any() else 1.0
    k = int(np.clip(round(params.crease_arm_m * image.fx / (median * image.step)), 2, 12))
    inv = _smoothed(1.0 / d, max(1, k // 2))  # (h, w) float32 1/metres, NaN where no depth
    sag = np.zeros(d.shape, dtype=np.float32)  # (h, w) metres: the deepest valley along rows or columns
    sq = d * d
    with np.errstate(invalid="ignore"):
        rows = (inv[:, : -2 * k] + inv[:, 2 * k :] - 2.0 * inv[:, k:-k]) * sq[:, k:-k]
        sag[:, k:-k] = np.fmax(sag[:, k:-k], rows)
        cols = (inv[: -2 * k] + inv[2 * k :] - 2.0 * inv[k:-k]) * sq[k:-k]
        sag[k:-k] = np.fmax(sag[k:-k], cols)
    edge = sag > np.float32(params.crease_m)
    weak = sag > np.float32(params.crease_m * _COLOUR_CREASE_SHARE)
    if weak.any():
        edge |= weak & _colour_edges(image.color, max(1, k // 2))
    return edge


def _colour_edges(color: np.ndarray, radius: int) -> np.ndarray:
    """(h, w) bool: within `radius` pixels of a strong colour change (any channel's 3x3 gradient)."""
    kernel = np.ones((3, 3), np.uint8)
    g = cv2.morphologyEx(color, cv2.MORPH_GRADIENT, kernel)  # (h, w, 3) uint8
    gradient = np.maximum(np.maximum(g[..., 0], g[..., 1]), g[..., 2])  # numpy's axis reductions are slow
    edges = (gradient > _COLOUR_EDGE).view(np.uint8)
    return cv2.dilate(edges, np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)) > 0


def _merge_seen_through(segments: list[Segment], image: _WorkingImage) -> list[Segment]:
    """Pieces of one open container (a bowl, a mug, a box without a lid), cut apart at its rim's
    depth jump, join: pieces of about the same top (the rim) and

      - one seen through the other's outline, farther than it (a mug's far inner wall past its rim), or
      - together ringing a hole in the image (the near outer wall and the far inner wall of a bowl
        around its visible bottom).

    An object standing in another (a can in a bowl) rises above it; two objects side by side
    ring no hole; both stay apart.
    """
    if len(segments) < 2:
        return segments
    w = image.depth.shape[1]
    depth = image.depth.reshape(-1)
    order = sorted(segments, key=lambda s: -len(s.pixels))  # bigger ones first: the outlines
    median = {s.label: float(np.median(depth[s.pixels])) for s in segments}
    parent = {s.label: s.label for s in segments}
    for rank, small in enumerate(order):
        for big in order[:rank]:
            if parent[big.label] != big.label or small.top_m > big.top_m + _MERGE_RISE_M:
                continue
            if not _boxes_overlap(small.bbox, big.bbox, margin=_RING_GAP_PX):
                continue
            through = (
                median[small.label] > median[big.label] and _share_in_outline(small.pixels, big, w) >= _THROUGH_SHARE
            )
            ring = abs(small.top_m - big.top_m) <= _MERGE_RISE_M and _ring_a_hole(small, big, w)
            if through or ring:
                parent[small.label] = big.label
                break
    groups: dict[int, list[Segment]] = {}
    for s in segments:
        groups.setdefault(_root(parent, s.label), []).append(s)
    by_label = {s.label: s for s in segments}
    return [_joined(by_label[k], members) for k, members in groups.items()]


def _ring_a_hole(a: Segment, b: Segment, width: int) -> bool:
    """Whether two segments' pixels, gaps of a few pixels closed, enclose a hole (_RING_HOLE_SHARE of them)."""
    g = _RING_GAP_PX
    r0, r1 = min(a.bbox[0][0], b.bbox[0][0]) - g - 1, max(a.bbox[0][1], b.bbox[0][1]) + g + 1
    c0, c1 = min(a.bbox[1][0], b.bbox[1][0]) - g - 1, max(a.bbox[1][1], b.bbox[1][1]) + g + 1
    mask = np.zeros((r1 - r0, c1 - c0), np.uint8)
    for s in (a, b):
        mask[s.pixels // width - r0, s.pixels % width - c0] = 1
    mask = cv2.dilate(mask, np.ones((2 * g + 1, 2 * g + 1), np.uint8))
    flood = mask.copy()
    cv2.floodFill(flood, None, (0, 0), 2)  # the outside: the crop has a free border by construction
    hole = np.count_nonzero(flood == 0)
    return hole >= _RING_HOLE_SHARE * (len(a.pixels) + len(b.pixels))


def _share_in_outline(pixels: np.ndarray, outline: Segment, width: int) -> float:
    """Share of the working pixels `pixels` (flat indices) inside `outline`'s convex hull in the image."""
    (r0, r1), (c0, c1) = outline.bbox
    rows, cols = outline.pixels // width, outline.pixels % width
    hull = cv2.convexHull(np.stack([cols - c0, rows - r0], axis=1).astype(np.int32))
    mask = np.zeros((r1 - r0, c1 - c0), np.uint8)
    cv2.fillConvexPoly(mask, hull, 1)
    pr, pc = pixels // width - r0, pixels % width - c0
    inside = (pr >= 0) & (pr < r1 - r0) & (pc >= 0) & (pc < c1 - c0)
    hits = np.count_nonzero(mask[pr[inside], pc[inside]])
    return hits / max(1, len(pixels))


def _boxes_overlap(
    a: tuple[tuple[int, int], tuple[int, int]], b: tuple[tuple[int, int], tuple[int, int]], margin: int = 0
) -> bool:
    """Whether two (row, col) [min, max) pixel boxes overlap, or come within `margin` pixels."""
    (ar0, ar1), (ac0, ac1) = a
    (br0, br1), (bc0, bc1) = b
    return ar0 < br1 + margin and br0 < ar1 + margin and ac0 < bc1 + margin and bc0 < ac1 + margin


def _joined(main: Segment, members: list[Segment]) -> Segment:
    """One segment of several: all points, the main one's column and label, the highest top."""
    if len(members) == 1:
        return main
    points = np.concatenate([m.points for m in members])
    pixels = np.concatenate([m.pixels for m in members])
    rows = (min(m.bbox[0][0] for m in members), max(m.bbox[0][1] for m in members))
    cols = (min(m.bbox[1][0] for m in members), max(m.bbox[1][1] for m in members))
    return Segment(points, main.column, max(m.top_m for m in members), main.label, (rows, cols), pixels)


def _root(parent: dict[int, int], k: int) -> int:
    while parent[k] != k:
        k = parent[k]
    return k


def _label_tops(labels: np.ndarray, keep: np.ndarray, height: np.ndarray) -> dict[int, float]:
    """{label: 99th-percentile height above the support (metres)} of the kept labels."""
    flat, h = labels.reshape(-1), height.reshape(-1)
    index = np.flatnonzero(np.isin(flat, keep))
    order = index[np.argsort(flat[index], kind="stable")]
    bounds = np.searchsorted(flat[order], keep)
    ends = np.r_[bounds[1:], len(order)]
    out = {}
    for k, lo, hi in zip(keep, bounds, ends):
        values = h[order[lo:hi]]
        q = int(0.99 * (len(values) - 1))
        out[int(k)] = float(np.partition(values, q)[q])
    return out


def _smoothed(image: np.ndarray, radius: int) -> np.ndarray:
    """(h, w) float32 box mean over (2 radius + 1)^2 of the valid (non-NaN) pixels; NaN stays NaN.

    Stereo noise (a few mm) would swamp the crease test's second differences otherwise.
    """
    valid = np.isfinite(image)
    filled = np.where(valid, image, np.float32(0.0))
    size = (2 * radius + 1, 2 * radius + 1)
    total = cv2.blur(filled, size, borderType=cv2.BORDER_CONSTANT)
    weight = cv2.blur(valid.astype(np.float32), size, borderType=cv2.BORDER_CONSTANT)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = total / weight
    out[~valid] = np.nan
    return out


def _gather(labels: np.ndarray, keep: np.ndarray, image: _WorkingImage) -> list[Segment]:
    """One Segment per kept label: its pixels' world points, grouped by one argsort (no per-label scans)."""
    flat = labels.reshape(-1)
    lookup = np.zeros(int(labels.max()) + 1, dtype=bool)
    lookup[keep] = True
    index = np.flatnonzero(lookup[flat])
    order = index[np.argsort(flat[index], kind="stable")]
    bounds = np.searchsorted(flat[order], keep)
    ends = np.r_[bounds[1:], len(order)]
    points_all = image.world(order)  # (M, 3) float32, world frame, metres
    height = image.height.reshape(-1)[order]
    width = image.depth.shape[1]
    out = []
    for lo, hi in zip(bounds, ends):
        h = height[lo:hi]
        k = int(0.99 * (len(h) - 1))
        top = float(np.partition(h, k)[k])
        pixels = order[lo:hi]
        rows, cols = pixels // width, pixels % width
        bbox = ((int(rows.min()), int(rows.max()) + 1), (int(cols.min()), int(cols.max()) + 1))
        column = float(cols.mean()) * image.step
        out.append(Segment(points_all[lo:hi], column, top, int(keep[len(out)]), bbox, pixels))
    return out


def _on_support(points: np.ndarray, hull: np.ndarray, params: SegmentParams) -> bool:
    """Whether most of a candidate's points lie over the support region (within the margin of its hull)."""
    if len(hull) < 3:
        return True
    sample = points[:: max(1, len(points) // _CHECK_POINTS), :2]
    inside = distance_to_convex_polygon(sample, hull) <= params.support_margin_m
    return float(np.count_nonzero(inside)) >= _ON_SUPPORT_SHARE * len(sample)


def _merge_contained(segments: list[Segment]) -> list[Segment]:
    """Join each candidate that lies within a bigger one's footprint hull and does not rise above it.

    Such a piece is part of the bigger object cut off by its own geometry (a mug's inside seen
    past its rim, a bowl's near rim); an object standing IN another rises above it (a can in a bowl).
    """
    order = sorted(range(len(segments)), key=lambda i: -len(segments[i].points))
    boxes = [_xy_bounds(s.points) for s in segments]
    owner: dict[int, int] = {}
    members: dict[int, list[int]] = {i: [i] for i in order}
    hulls: dict[int, np.ndarray] = {}
    for rank, i in enumerate(order):
        s = segments[i]
        for j in order[:rank]:
            if j in owner or s.top_m > segments[j].top_m + _MERGE_RISE_M or not _bounds_overlap(boxes[i], boxes[j]):
                continue
            if j not in hulls:
                big = segments[j].points
                hulls[j] = convex_hull_2d(big[:: max(1, len(big) // 2000), :2])
            sample = s.points[:: max(1, len(s.points) // _CHECK_POINTS), :2]
            if np.count_nonzero(points_in_convex_polygon(sample, hulls[j])) >= _MERGE_INSIDE_SHARE * len(sample):
                owner[i] = j
                members[j] += members.pop(i)
                break
    return [_joined(segments[i], [segments[k] for k in parts]) for i, parts in members.items()]


def _aabb_side(points: np.ndarray) -> float:
    """The shorter side of the x/y bounding box of (N, 3) points, metres: never less than the
    minimum-area rectangle's, so a segment narrower than a limit here is narrower there too."""
    x0, y0, x1, y1 = _xy_bounds(points)
    return min(x1 - x0, y1 - y0)


def _xy_bounds(points: np.ndarray) -> tuple[float, float, float, float]:
    """(x_min, y_min, x_max, y_max) of (N, 3) points, metres."""
    x, y = points[:, 0], points[:, 1]
    return float(x.min()), float(y.min()), float(x.max()), float(y.max())


def _bounds_overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]
