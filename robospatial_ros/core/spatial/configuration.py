"""Spatial configuration: which of left/right/in front/behind/above/below hold for A w.r.t. B.

Rules (docs/architecture.md, "Configuration"; reference generator semantics):
- ego: left/right from image-column extents of the silhouettes, in front/behind from
  optical depth ranges; world: the same (world_heading camera) or the robot base axes
  (world_heading base), as `frames.frame_rule` decides; object: signs of the centre offset
  along B's front/right, nothing when the 3D boxes overlap. above/below always compare
  true world heights.
- strict: extents must separate; lenient: centroids decide (see each function).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from robospatial_ros.core.scene import SceneObject
from robospatial_ros.core.spatial.frames import FrameRule, frame_rule
from robospatial_ros.core.spatial.types import Frame, Relation
from robospatial_ros.core.spatial.view import ObjectView, PlanarView, SceneView

EPS = 1e-6


def horizontal(a: PlanarView, b: PlanarView, strict: bool) -> Relation | None:
    """LEFT / RIGHT / None (overlapping) for A relative to B; x grows to the viewer's right."""
    if strict:
        if a.x_max < b.x_min - EPS:
            return Relation.LEFT
        if a.x_min > b.x_max + EPS:
            return Relation.RIGHT
        return None
    # Lenient: centroids decide, unless one centroid lies inside the other's 2D box.
    if a.centroid[0] < b.centroid[0] - EPS and not a.box_contains(b.centroid):
        return Relation.LEFT
    if a.centroid[0] > b.centroid[0] + EPS and not b.box_contains(a.centroid):
        return Relation.RIGHT
    return None


def depth(a: PlanarView, b: PlanarView, strict: bool) -> Relation | None:
    """IN_FRONT (nearer the viewer) / BEHIND / None for A relative to B."""
    if strict or abs((a.near + a.far) - (b.near + b.far)) / 2 < EPS:
        if a.far < b.near - EPS:
            return Relation.IN_FRONT
        if a.near > b.far + EPS:
            return Relation.BEHIND
        return None
    # Lenient: the mid-depths decide (the reference's 'visible depth average').
    return Relation.IN_FRONT if a.near + a.far < b.near + b.far else Relation.BEHIND


def vertical(a: ObjectView, b: ObjectView, strict: bool) -> Relation | None:
    """ABOVE / BELOW / None from true world heights (never clamped at z = 0)."""
    if a.z_min > b.z_max + EPS:
        return Relation.ABOVE
    if a.z_max < b.z_min - EPS:
        return Relation.BELOW
    if not strict:
        if a.z_avg > b.z_max + EPS:
            return Relation.ABOVE
        if b.z_avg > a.z_max + EPS:
            return Relation.BELOW
    return None


def object_frame(a: ObjectView, b: ObjectView) -> set[Relation]:
    """Planar relations of A in B's own frame: signs of the centre offset, none on 3D overlap."""
    if _boxes_overlap(a, b):
        return set()
    d = a.obj.box.center - b.obj.box.center
    along, across = float(d @ b.forward), float(d @ b.right)
    out: set[Relation] = set()
    if along > EPS:
        out.add(Relation.IN_FRONT)
    elif along < -EPS:
        out.add(Relation.BEHIND)
    if across > EPS:
        out.add(Relation.RIGHT)
    elif across < -EPS:
        out.add(Relation.LEFT)
    return out


def _boxes_overlap(a: ObjectView, b: ObjectView) -> bool:
    """`geometry.oriented_boxes_overlap`, once per unordered pair (the test is symmetric)."""
    key = frozenset((a.obj.name, b.obj.name))
    cache = a.overlaps
    if key not in cache:
        cache[key] = b.overlaps[key] = _separating_axes_overlap(a, b)
    return cache[key]


def _separating_axes_overlap(a: ObjectView, b: ObjectView, tol: float = 1e-9) -> bool:
    """The 15-axis test of `geometry.oriented_boxes_overlap`, same arithmetic, the cross products
    written out (np.cross's overhead dominates for 3-vectors); touching faces do not overlap."""
    ra, rb = a.obj.box.rotation.T, b.obj.box.rotation.T  # (3, 3) box axes as rows
    ua, ub = ra[:, None, :], rb[None, :, :]
    cross = np.stack(
        [
            ua[..., 1] * ub[..., 2] - ua[..., 2] * ub[..., 1],
            ua[..., 2] * ub[..., 0] - ua[..., 0] * ub[..., 2],
            ua[..., 0] * ub[..., 1] - ua[..., 1] * ub[..., 0],
        ],
        axis=-1,
    ).reshape(9, 3)
    cross = cross[np.sqrt((cross * cross).sum(axis=1)) > 1e-9]  # parallel edge pairs give no axis
    axes = np.concatenate([ra, rb, cross])  # (M, 3)
    pa, pb = a.corners @ axes.T, b.corners @ axes.T  # (8, M)
    separated = (pa.max(axis=0) <= pb.min(axis=0) + tol) | (pb.max(axis=0) <= pa.min(axis=0) + tol)
    return not bool(separated.any())


def planar_views(va: ObjectView, vb: ObjectView, rule: FrameRule) -> tuple[PlanarView, PlanarView] | None:
    """The viewer-plane descriptions the camera and base rules compare; None if either is unseen."""
    if rule is FrameRule.BASE:
        return va.base, vb.base
    if va.ego is None or vb.ego is None:
        return None
    return va.ego, vb.ego


def planar(va: ObjectView, vb: ObjectView, rule: FrameRule, strict: bool) -> set[Relation]:
    """Left/right/in front/behind of A relative to B, judged by `rule` (see `frames`)."""
    if rule is FrameRule.OBJECT:
        return object_frame(va, vb)
    views = planar_views(va, vb, rule)
    if views is None:
        return set()
    return {rel for rel in (horizontal(*views, strict), depth(*views, strict)) if rel is not None}


@dataclass
class _Relations:
    """Per-query configuration answers of one SceneView, by (A's name, B's name, frame)."""

    relations: dict[tuple[str, str, Frame], set[Relation]] = field(default_factory=dict)


def configuration(view: SceneView, a: SceneObject, b: SceneObject, frame: Frame) -> set[Relation]:
    """Every configuration relation that holds for A relative to B in `frame`."""
    cache = view.results(_Relations).relations
    key = (a.name, b.name, frame)
    if key in cache:
        return cache[key]
    strict = view.config.strictness == "strict"
    va, vb = view.view(a), view.view(b)
    out = planar(va, vb, frame_rule(frame, view.config), strict)
    up_down = vertical(va, vb, strict)
    if up_down is not None:
        out.add(up_down)
    cache[key] = out
    return out
