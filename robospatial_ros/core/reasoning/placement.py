"""Where to put an object so that a placement command holds afterwards.

The candidates are the compatibility candidates (context points around the reference
where the object's footprint fits, best first). A candidate is accepted only if the
object, placed there, would satisfy the relation as a configuration question in the
same frame: a free point left of the bowl does not make a wide box, centred on it,
left of the bowl.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from robospatial_ros.core.errors import RoboSpatialError
from robospatial_ros.core.geometry import OrientedBox, polygon_area_centroid, rot_z
from robospatial_ros.core.language.commands import PlacementCommand
from robospatial_ros.core.scene import SceneObject
from robospatial_ros.core.spatial.compatibility import candidate_fits, compatibility
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.core.spatial.configuration import configuration
from robospatial_ros.core.spatial.context import Candidates, side_mask
from robospatial_ros.core.spatial.frames import frame_rule
from robospatial_ros.core.spatial.types import Frame, Relation
from robospatial_ros.core.spatial.view import SceneView

MAX_CHECKED = 300  # candidates verified before giving up


class PlacementError(RoboSpatialError):
    """No spot satisfies the command (no free space, or nothing that fits)."""


@dataclass(frozen=True)
class Placement:
    xyz: np.ndarray  # (3,) where the object's footprint centre goes, its bottom on the support; world, metres
    yaw_offset_rad: float  # rotation about z relative to the object's current yaw
    box: OrientedBox  # the object's box once placed
    candidates_xyz: np.ndarray  # (N, 3) the fitting candidates considered, best first (for display)


def placed_box(box: OrientedBox, xy: np.ndarray, base_z: float, yaw_offset_rad: float) -> OrientedBox:
    """`box` turned by `yaw_offset_rad` about its footprint centroid, moved to `xy`, bottom at `base_z`."""
    centroid = polygon_area_centroid(box.footprint())[1]
    R = rot_z(yaw_offset_rad)
    center_offset = R[:2, :2] @ (box.center[:2] - centroid)  # box centre vs footprint centroid, turned
    half_height = box.center[2] - box.z_min
    center = np.array([xy[0] + center_offset[0], xy[1] + center_offset[1], base_z + half_height])
    return OrientedBox(center, box.size, R @ box.rotation)


def _relation_holds(
    view: SceneView,
    strict: SpatialConfig,
    command: PlacementCommand,
    box: OrientedBox,
    yaw_offset_rad: float,
    margin_m: float,
) -> bool:
    """Would `command` hold with its target moved into `box`, grown by `margin_m` on every side
    (so that perception errors of that size cannot undo it)? Asked as a configuration question
    under `strict` (`_strict(view)`)."""
    target, reference = view.scene.get(command.target), view.scene.get(command.reference)
    facing = None if target.facing is None else rot_z(yaw_offset_rad) @ target.facing
    grown = OrientedBox(box.center, box.size + 2 * margin_m, box.rotation)
    moved = dataclasses.replace(target, box=grown, facing=facing)
    scene = view.scene.with_objects(tuple(moved if o.name == target.name else o for o in view.scene.objects))
    holds = configuration(SceneView(scene, strict), moved, scene.get(reference.name), command.frame)
    return command.relation in holds


def _strict(view: SceneView) -> SpatialConfig:
    """The view's config answering strictly whatever its rule: a placed object must be wholly on its side
    (extents apart), not merely have its centre there, as lenient answers on real depth allow. Built once
    per `placements` call, not per candidate checked (a config validates itself on construction)."""
    return dataclasses.replace(view.config, strictness="strict")


def _rank(
    cands: Candidates,
    fitting: np.ndarray,
    distance: Callable[[np.ndarray], np.ndarray],
    target: SceneObject,
    margin_m: float,
) -> np.ndarray:
    """Fitting candidate indices in placement preference order (at most MAX_CHECKED)."""
    needed = float(np.max(target.box.size[:2])) / 2 + margin_m
    roomy = cands.clearance_m[fitting] >= needed
    near = distance(cands.xyz[fitting, :2])
    # Roomy ones first, nearest the reference first; the others keep their clearance order.
    order = np.lexsort((np.where(roomy, near, 0.0), ~roomy))
    return fitting[order][:MAX_CHECKED]


def placements(
    view: SceneView,
    command: PlacementCommand,
    gripper_clearance_m: float = 0.03,
    allowed: Callable[[np.ndarray], np.ndarray] | None = None,
    relation_margin_m: float = 0.02,
) -> Iterator[Placement]:
    """Spots for `command.target` `command.relation` of `command.reference`, best first.

    Best: nearest the reference among spots with room for the open gripper (clearance of
    half the object's width plus `gripper_clearance_m`), then the roomiest of the rest.
    `allowed`: (N, 3) world points -> (N,) bool, e.g. the arm's reach; other spots are skipped.
    The relation must hold even with the object `relation_margin_m` larger on every side.
    Raises PlacementError (on the first `next`) when there is no spot at all.
    """
    scene = view.scene
    target, reference = scene.get(command.target), scene.get(command.reference)
    if command.relation is Relation.ON_TOP:
        yield _on_top(view, target, reference)
        return
    in_image = frame_rule(command.frame, view.config).image_based  # the robot base frame tries unseen spots too
    cands, fits, angles = candidate_fits(view, target, reference, in_image)
    fitting = np.flatnonzero(side_mask(view, reference, cands, command.frame, command.relation) & fits.any(axis=1))
    phrase = _PHRASES[command.relation]
    if len(fitting) == 0:
        raise PlacementError(f"no free spot where the {target.name} fits {phrase} the {reference.name}")
    if allowed is not None:
        fitting = fitting[allowed(cands.xyz[fitting])]
        if len(fitting) == 0:
            raise PlacementError(f"the free spots {phrase} the {reference.name} are all out of the arm's reach")
    found, strict = False, _strict(view)
    ranked = _rank(cands, fitting, view.view(reference).distance_to_footprint, target, gripper_clearance_m)
    # Prefer spots robust to perception error; accept tighter ones before giving up.
    for margin in sorted({relation_margin_m, relation_margin_m / 2, 0.0}, reverse=True):
        for i in ranked:
            for yaw_deg in angles[fits[i]]:  # every rotation that fits here, in the configured order
                yaw = math.radians(float(yaw_deg))
                box = placed_box(target.box, cands.xyz[i, :2], float(cands.xyz[i, 2]), yaw)
                if _relation_holds(view, strict, command, box, yaw, margin):
                    found = True
                    yield Placement(cands.xyz[i].copy(), yaw, box, cands.xyz[fitting])
                    break
        if found:
            return
    where = "within the arm's reach " if allowed is not None else ""
    raise PlacementError(
        f"free spots exist {phrase} the {reference.name}, but none {where}puts the whole {target.name} {phrase} it"
    )


_PHRASES = {
    Relation.LEFT: "left of",
    Relation.RIGHT: "right of",
    Relation.IN_FRONT: "in front of",
    Relation.BEHIND: "behind",
    Relation.ON_TOP: "on top of",
}


def _on_top(view: SceneView, target: SceneObject, reference: SceneObject) -> Placement:
    fit = compatibility(view, target, reference, Frame.WORLD, Relation.ON_TOP)
    if not fit.fits:
        raise PlacementError(f"cannot put the {target.name} on the {reference.name}: {fit.reason}")
    box = placed_box(target.box, fit.xy, fit.z, 0.0)
    return Placement(np.array([*fit.xy, fit.z]), 0.0, box, np.array([[*fit.xy, fit.z]]))


def choose_placement(view: SceneView, command: PlacementCommand, **options: object) -> Placement:
    """The best of `placements` (same options); PlacementError if there is none."""
    return next(placements(view, command, **options))  # type: ignore[arg-type]
