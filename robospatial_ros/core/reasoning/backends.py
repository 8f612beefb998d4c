"""Reasoning backends behind one interface, chosen by name (config file, CLI or node parameter).

    geometric  the spatial core (default, no weights)
    hf         a local transformers VLM answers from the camera image
    openai     an OpenAI-compatible endpoint answers from the camera image
    hybrid     the VLM grounds object names to 2D boxes, perception lifts them to 3D objects,
               the geometric core answers
    verify     the VLM answers; its points are checked against the core's occupancy map and
               dropped when they fall on an object or on the wrong side

Every backend answers `answer(view, query, frame)` with an `Answer` and `place(view, command,
allowed, frame)` with a `Placement`; `frame` is the latest RGB-D frame (None where there is
no camera: the geometric backend does not need it). Model points are lifted onto the
reference object's support plane (`lifting`), in the scene's world frame.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from robospatial_ros.core.configio import load_config
from robospatial_ros.core.errors import ConfigError, RoboSpatialError, one_line
from robospatial_ros.core.geometry import OrientedBox
from robospatial_ros.core.language.commands import PlacementCommand
from robospatial_ros.core.language.parsing import PointConvention, parse_boxes, parse_points, parse_yes_no
from robospatial_ros.core.language.prompts import grounding_prompt, placement_prompt, question_prompt
from robospatial_ros.core.language.questions import Query, parse_question
from robospatial_ros.core.perception.frame import BoxDetections, RGBDFrame
from robospatial_ros.core.reasoning.placement import Placement, PlacementError, choose_placement, placed_box
from robospatial_ros.core.reasoning.reasoner import Answer, GeometricReasoner, format_points
from robospatial_ros.core.reasoning.vlm.base import TextAnswerer, VisualQuestion
from robospatial_ros.core.reasoning.vlm.hf import HFConfig
from robospatial_ros.core.reasoning.vlm.lifting import lift_for_reference
from robospatial_ros.core.reasoning.vlm.openai_client import OpenAIConfig
from robospatial_ros.core.scene import Scene, SceneObject
from robospatial_ros.core.spatial.compatibility import footprint_fits
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.core.spatial.context import frame_exclude, point_sides
from robospatial_ros.core.spatial.grid import OccupancyGrid
from robospatial_ros.core.spatial.occupancy import grid_for
from robospatial_ros.core.spatial.types import QueryType, Relation
from robospatial_ros.core.spatial.view import SceneView

Allowed = Callable[[np.ndarray], np.ndarray]  # (N, 3) world points -> (N,) bool
CLIENTS = ("hf", "openai")
BACKEND_NAMES = ("geometric", "hf", "openai", "hybrid", "verify")


@dataclass(frozen=True)
class VLMBackendConfig:
    """Settings of the model-based backends (ignored by `geometric`)."""

    client: str = "hf"  # which model answers for hybrid/verify: hf | openai (hf/openai backends force theirs)
    point_convention: str = "normalized"  # how the model writes points: normalized | qwen1000 | pixels
    box_convention: str = "pixels"  # how it writes boxes: pixels (Qwen2.5-VL) | qwen1000 (Qwen2-VL) | normalized
    fallback_to_geometric: bool = False  # verify: when every model point is rejected, use the core's answer
    # hybrid: a grounded object whose footprint centre lies within this of a tracked object (world xy, metres)
    # takes that object's stable id and user name, so "object 3" and operator names survive grounding
    id_match_distance_m: float = 0.08
    hf: HFConfig = field(default_factory=HFConfig)
    openai: OpenAIConfig = field(default_factory=OpenAIConfig)

    def __post_init__(self) -> None:
        if self.client not in CLIENTS:
            raise ConfigError(f"client must be one of {', '.join(CLIENTS)}, got {self.client!r}")
        if not (math.isfinite(self.id_match_distance_m) and self.id_match_distance_m >= 0):
            raise ConfigError(f"id_match_distance_m must be a finite distance >= 0, got {self.id_match_distance_m}")
        for name in ("point_convention", "box_convention"):
            value = getattr(self, name)
            if value not in [c.value for c in PointConvention]:
                raise ConfigError(f"{name} must be one of {', '.join(c.value for c in PointConvention)}, got {value!r}")


class ReasonerBackend(Protocol):
    name: str

    def answer(self, view: SceneView, query: Query, frame: RGBDFrame | None = None) -> Answer: ...

    def place(
        self, view: SceneView, command: PlacementCommand, allowed: Allowed | None, frame: RGBDFrame | None = None
    ) -> Placement: ...


# --- geometric ----------------------------------------------------------------------------------------


class GeometricBackend:
    name = "geometric"

    def __init__(self, spatial: SpatialConfig):
        self.reasoner = GeometricReasoner(spatial)

    def answer(self, view: SceneView, query: Query, frame: RGBDFrame | None = None) -> Answer:
        return self.reasoner.answer(view, query)

    def place(
        self, view: SceneView, command: PlacementCommand, allowed: Allowed | None, frame: RGBDFrame | None = None
    ) -> Placement:
        return choose_placement(view, command, allowed=allowed)


# --- a model answering from the image -----------------------------------------------------------------


def make_client(config: VLMBackendConfig, client: str | None = None) -> TextAnswerer:
    """The model behind the VLM backends (loads weights / checks the endpoint settings now). No
    progress bars: a node answers one question at a time, and eval shows its own bar."""
    which = client or config.client
    if which == "hf":
        from robospatial_ros.core.reasoning.vlm.hf import HFVLMClient

        return HFVLMClient(config.hf)
    from robospatial_ros.core.reasoning.vlm.openai_client import OpenAIChatClient

    return OpenAIChatClient(config.openai, progress=False)


def seen_size(client: TextAnswerer, frame: RGBDFrame) -> tuple[int, int]:
    """The (W, H) a model's pixel coordinates refer to: its resized input where it resizes (Qwen2.5-VL)."""
    resize = getattr(client, "seen_image_size", None)
    return resize(frame.width, frame.height) if resize else (frame.width, frame.height)


def _need_frame(frame: RGBDFrame | None, backend: str) -> RGBDFrame:
    if frame is None:
        raise RoboSpatialError(f"the {backend} backend answers from the camera image, and no image has arrived yet")
    return frame


class VLMBackend:
    """The model answers; yes/no is read as the official scorer does, points are lifted to 3D."""

    def __init__(self, client: TextAnswerer, config: VLMBackendConfig, name: str = "vlm"):
        self.client, self.config, self.name = client, config, name
        self.points = PointConvention(config.point_convention)

    def ask(self, image: np.ndarray, prompt: str) -> str:
        return self.client.answer_texts([VisualQuestion(image, prompt)])[0]

    def read_points(self, text: str, frame: RGBDFrame) -> np.ndarray:
        """(N, 2) normalized image points from the model's text; ParseError when there are none."""
        return parse_points(text, self.points, seen_size(self.client, frame))

    def answer(self, view: SceneView, query: Query, frame: RGBDFrame | None = None) -> Answer:
        frame = _need_frame(frame, self.name)
        reply = self.ask(frame.color, question_prompt(query))
        notes = [f"model reply: {one_line(reply, 120)}"]
        if query.type is not QueryType.CONTEXT:
            yes = parse_yes_no(reply)
            if yes is None:
                raise VLMParseFailure(f"the model's reply does not start with yes or no: {one_line(reply, 120)!r}")
            return Answer(query, "Yes" if yes else "No", yes, assumptions=notes)
        pts2d = self.read_points(reply, frame)
        lifted = lift_for_reference(pts2d, view, view.scene.get(query.reference))
        pts2d, pts3d = pts2d[lifted.valid], lifted.points_3d[lifted.valid]
        return Answer(query, format_points(pts2d), None, pts2d, pts3d, assumptions=notes)

    def place(
        self, view: SceneView, command: PlacementCommand, allowed: Allowed | None, frame: RGBDFrame | None = None
    ) -> Placement:
        if command.relation is Relation.ON_TOP:  # no context question exists for 'on top': the core decides
            return choose_placement(view, command, allowed=allowed)
        points, reply = self.placement_points(view, command, frame)
        return _first_placement(view, command, points, allowed, reply)

    def placement_points(
        self, view: SceneView, command: PlacementCommand, frame: RGBDFrame | None
    ) -> tuple[np.ndarray, str]:
        """The model's spots for the command, lifted: (N, 3) world points, metres, and its reply."""
        frame = _need_frame(frame, self.name)
        reply = self.ask(frame.color, placement_prompt(command))
        lifted = lift_for_reference(self.read_points(reply, frame), view, view.scene.get(command.reference))
        return lifted.points_3d[lifted.valid], reply


class VLMParseFailure(RoboSpatialError):
    """The model answered, but not in a form the question allows."""


def _placement_at(target: SceneObject, xyz: np.ndarray, candidates: np.ndarray, turn_rad: float = 0.0) -> Placement:
    box: OrientedBox = placed_box(target.box, xyz[:2], float(xyz[2]), turn_rad)
    return Placement(np.asarray(xyz, dtype=float), turn_rad, box, candidates)


def _first_placement(
    view: SceneView,
    command: PlacementCommand,
    points: np.ndarray,
    allowed: Allowed | None,
    reply: str,
    turns_rad: np.ndarray | None = None,
) -> Placement:
    """The first of the (N, 3) world model points the arm may use (`allowed`), as a placement of the
    target, turned by that point's entry of the (N,) `turns_rad` (none: unturned)."""
    if len(points) == 0:
        raise PlacementError(f"the model gave no usable point for the {command.target}: {one_line(reply, 120)!r}")
    ok = np.ones(len(points), bool) if allowed is None else np.asarray(allowed(points), bool)
    if not ok.any():
        raise PlacementError(f"none of the model's {len(points)} points for the {command.target} is within reach")
    first = int(np.argmax(ok))
    turn = 0.0 if turns_rad is None else float(turns_rad[first])
    return _placement_at(view.scene.get(command.target), points[first], points[ok], turn)


# --- verify: model points checked against the occupancy map -------------------------------------------


@dataclass
class Verdict:
    """Why each lifted point was kept or rejected."""

    occupied: np.ndarray  # (N,) bool: on an occupied cell or off the support
    wrong_side: np.ndarray  # (N,) bool: not on the asked side of the reference in the asked frame
    blocked: np.ndarray  # (N,) bool: the target's footprint there would overlap something (placements only)
    too_far: np.ndarray  # (N,) bool: farther from the reference than its free-space region reaches
    turn_rad: np.ndarray  # (N,) the first turn about z at which the target fits there (placements; else 0)

    @property
    def ok(self) -> np.ndarray:
        return ~(self.occupied | self.wrong_side | self.blocked | self.too_far)

    def summary(self) -> str:
        return (
            f"{int(self.occupied.sum())} on occupied space, {int(self.wrong_side.sum())} on the wrong side, "
            f"{int(self.too_far.sum())} too far from the reference, "
            f"{int(self.blocked.sum())} where the object would not fit"
        )


def check_points(view: SceneView, query: Query, points_3d: np.ndarray, target: SceneObject | None = None) -> Verdict:
    """The core's verdict on (N, 3) world points at the reference's base height, by the rules its own
    candidates follow: on a free cell, not on the reference, on the asked side in the asked frame, and
    within the region's reach (`context_threshold_m` from the reference's footprint; for a placement
    of `target`, widened by half of both objects' sizes, as compatibility candidates are). With a
    target, its footprint must also fit there (`footprint_fits`) at one of the compatibility turns."""
    cfg = view.config
    ref = view.scene.get(query.reference)
    pts = np.asarray(points_3d, dtype=float).reshape(-1, 3)
    grid = grid_for(view, frame_exclude(ref), view.support_of(ref))
    distance = view.view(ref).distance_to_footprint(pts[:, :2])  # (N,) metres
    occupied = ~grid.is_free(pts[:, :2]) | (distance <= 1e-9)
    reach = cfg.context_threshold_m
    if target is not None:
        reach += (target.box.size[:2].max() + ref.box.size[:2].max()) / 2
    too_far = distance > reach + 1e-9
    uv, depth = view.scene.camera.project(pts)
    wrong = ~point_sides(view, ref, pts, uv, depth, query.frame)[query.relation]
    blocked, turn_rad = np.zeros(len(pts), bool), np.zeros(len(pts))
    if target is not None:  # every object but the target blocks
        own = grid_for(view, frozenset([target.name]), view.support_of(ref))
        for i in np.flatnonzero(~(occupied | wrong | too_far)):
            turn = _first_fitting_turn(view, own, target, pts[i])
            blocked[i], turn_rad[i] = turn is None, turn or 0.0
    return Verdict(occupied, wrong, blocked, too_far, turn_rad)


def _first_fitting_turn(view: SceneView, grid: OccupancyGrid, target: SceneObject, xyz: np.ndarray) -> float | None:
    """The first compatibility turn (radians) at which `target`'s footprint, centred on the (3,) world
    point `xyz`, passes the core's fit rule on `grid`; None when none does."""
    cfg = view.config
    buffer_cells = math.ceil(cfg.min_distance_m / cfg.grid_resolution_m - 1e-9)
    for angle in cfg.compatibility_angles_deg:
        footprint = placed_box(target.box, xyz[:2], float(xyz[2]), math.radians(angle)).footprint()
        if footprint_fits(grid, footprint, buffer_cells, cfg.buffer_ratio):
            return math.radians(angle)
    return None


class VerifyBackend(VLMBackend):
    """The VLM proposes, the geometry disposes: points on objects or on the wrong side are dropped."""

    def __init__(self, client: TextAnswerer, config: VLMBackendConfig, spatial: SpatialConfig):
        super().__init__(client, config, "verify")
        self.geometric = GeometricBackend(spatial)

    def answer(self, view: SceneView, query: Query, frame: RGBDFrame | None = None) -> Answer:
        answer = super().answer(view, query, frame)
        if query.type is not QueryType.CONTEXT:
            return answer
        verdict = check_points(view, query, answer.points_3d)
        notes = [
            *answer.assumptions,
            f"verified {int(verdict.ok.sum())} of {len(verdict.ok)} model points; rejected {verdict.summary()}",
        ]
        if not verdict.ok.any():
            if self.config.fallback_to_geometric:
                fallback = self.geometric.answer(view, query)
                fallback.assumptions += [*notes, "answered by the geometric core instead"]
                return fallback
            raise PlacementError(f"every model point was rejected: {verdict.summary()}")
        keep = verdict.ok
        return Answer(
            query,
            format_points(answer.points_2d[keep]),
            None,
            answer.points_2d[keep],
            answer.points_3d[keep],
            assumptions=notes,
        )

    def place(
        self, view: SceneView, command: PlacementCommand, allowed: Allowed | None, frame: RGBDFrame | None = None
    ) -> Placement:
        if command.relation is Relation.ON_TOP:
            return choose_placement(view, command, allowed=allowed)
        pts, reply = self.placement_points(view, command, frame)
        query = Query(QueryType.CONTEXT, command.frame, command.relation, command.reference, None, command.text)
        verdict = check_points(view, query, pts, view.scene.get(command.target))
        if not verdict.ok.any():
            if self.config.fallback_to_geometric:
                return self.geometric.place(view, command, allowed)
            raise PlacementError(f"every model point for the {command.target} was rejected: {verdict.summary()}")
        return _first_placement(view, command, pts[verdict.ok], allowed, reply, verdict.turn_rad[verdict.ok])


# --- hybrid: the model grounds names, perception and the core do the rest ---------------------------


class HybridBackend:
    """Grounding by the VLM (`bbox_2d` JSON), 3D boxes by perception, answers by the geometric core."""

    name = "hybrid"

    def __init__(self, client: TextAnswerer, config: VLMBackendConfig, spatial: SpatialConfig):
        from robospatial_ros.core.perception.pipeline import Perception

        self.client, self.config = client, config
        self.boxes = PointConvention(config.box_convention)
        self.perception = Perception()
        self.geometric = GeometricBackend(spatial)

    def ground(self, frame: RGBDFrame) -> Scene:
        """Ask the model for labelled boxes and turn them into a 3D scene (support + objects); perception
        gives each object its colour and size class from its pixels and box, as for any detector."""
        reply = self.client.answer_texts([VisualQuestion(frame.color, grounding_prompt())])[0]
        boxes = parse_boxes(reply, self.boxes, seen_size(self.client, frame))
        scale = np.array([frame.width, frame.height] * 2, dtype=float)
        detections = BoxDetections([b.label for b in boxes], np.array([b.xyxy * scale for b in boxes]).reshape(-1, 4))
        return self.perception.perceive(frame, detections).scene

    def grounded_view(self, view: SceneView, frame: RGBDFrame | None) -> SceneView:
        scene = self.ground(_need_frame(frame, self.name))
        support = self.perception.config.support_name
        scene = carry_ids(scene, view.scene, IdMatch(self.config.id_match_distance_m, support))
        scene = dataclasses.replace(scene, base_to_world=view.scene.base_to_world)  # the robot base pose stays
        return SceneView(scene, self.geometric.reasoner.config).prepare()

    def answer(self, view: SceneView, query: Query, frame: RGBDFrame | None = None) -> Answer:
        grounded = self.grounded_view(view, frame)
        parsed = parse_question(query.text, grounded.scene.names) if query.text else query
        answer = self.geometric.answer(grounded, parsed)
        answer.assumptions.append(f"objects grounded by the model: {', '.join(grounded.scene.names)}")
        return answer

    def place(
        self, view: SceneView, command: PlacementCommand, allowed: Allowed | None, frame: RGBDFrame | None = None
    ) -> Placement:
        from robospatial_ros.core.language.commands import parse_command

        grounded = self.grounded_view(view, frame)
        parsed = parse_command(command.text, grounded.scene.names) if command.text else command
        return self.geometric.place(grounded, parsed, allowed)


# --- stable ids on a grounded scene ------------------------------------------------------------------

_TRACKED_ID = re.compile(r"^object_\d+$")  # the perception tracker's ids (core.perception.tracking)


@dataclass(frozen=True)
class IdMatch:
    """How `carry_ids` pairs a grounded object with a tracked one."""

    max_distance_m: float  # footprint centres (world xy) at most this far apart are the same object
    support_name: str = "table"  # never renamed, never matched

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_distance_m) and self.max_distance_m >= 0):
            raise ConfigError(f"max_distance_m must be a finite distance >= 0, got {self.max_distance_m}")


def carry_ids(grounded: Scene, tracked: Scene, match: IdMatch) -> Scene:
    """`grounded` with each object that stands where a tracked object (`object_<k>`, the perception node's
    stable ids) stands renamed to that id, keeping the model's label as its category ("the mug", "the red
    mug" still resolve) unless an operator named it (then the user name is the category, as the tracker
    does). Pairs are taken cheapest first, each side once; unmatched objects keep the model's names."""
    ids = _nearest_pairs(grounded, tracked, match)
    taken = set(ids.values()) | {match.support_name}
    out = []
    for k, obj in enumerate(grounded.objects):
        if k in ids:
            user = tracked.get(ids[k]).user_name
            out.append(dataclasses.replace(obj, name=ids[k], category=user or obj.category, user_name=user))
        elif obj.name != match.support_name and obj.name in taken:  # a model label that reads like a taken id
            out.append(dataclasses.replace(obj, name=_free_name(f"grounded {obj.category}", taken)))
            taken.add(out[-1].name)
        else:
            out.append(obj)
    return grounded.with_objects(tuple(out))


def _nearest_pairs(grounded: Scene, tracked: Scene, match: IdMatch) -> dict[int, str]:
    """index into grounded.objects -> the tracked id it takes."""
    ours = [(k, o) for k, o in enumerate(grounded.objects) if o.name != match.support_name]
    theirs = [o for o in tracked.objects if _TRACKED_ID.match(o.name)]
    pairs = sorted(
        (float(np.linalg.norm(o.box.center[:2] - t.box.center[:2])), k, t.name) for k, o in ours for t in theirs
    )
    out: dict[int, str] = {}
    for distance, k, tid in pairs:  # greedy: a handful of objects
        if distance <= match.max_distance_m and k not in out and tid not in out.values():
            out[k] = tid
    return out


def _free_name(base: str, taken: set[str]) -> str:
    n = 1
    while f"{base} {n}" in taken:
        n += 1
    return f"{base} {n}"


# --- construction -----------------------------------------------------------------------------------


def make_backend(
    name: str, spatial: SpatialConfig, vlm: VLMBackendConfig | None = None, client: TextAnswerer | None = None
) -> ReasonerBackend:
    """A backend by name. `client` replaces the configured model (tests, a shared loaded model)."""
    if name not in BACKEND_NAMES:
        raise ConfigError(f"unknown backend {name!r}; available: {', '.join(BACKEND_NAMES)}")
    if name == "geometric":
        return GeometricBackend(spatial)
    vlm = vlm or VLMBackendConfig()
    model = client or make_client(vlm, name if name in CLIENTS else None)
    if name in CLIENTS:
        return VLMBackend(model, vlm, name)
    if name == "verify":
        return VerifyBackend(model, vlm, spatial)
    return HybridBackend(model, vlm, spatial)


def make_text_answerer(
    name: str, config_path: str | Path | None, overrides: dict[str, Any], spatial: SpatialConfig | None = None
) -> TextAnswerer:
    """A backend for `robospatial eval`: hf/openai answer from the image; see `SceneTextAnswerer` for the rest."""
    vlm = load_config(VLMBackendConfig, config_path, overrides)
    if name in CLIENTS:
        return make_client(vlm, name)
    if name in ("hybrid", "verify"):
        spatial = spatial or SpatialConfig()
        return SceneTextAnswerer(make_backend(name, spatial, vlm), name, spatial)
    raise ConfigError(f"unknown backend {name!r} for eval; available: {', '.join(BACKEND_NAMES)}")


class SceneTextAnswerer:
    """hybrid / verify as a TextAnswerer: needs each item's depth and camera (and for verify its 3D scene)."""

    def __init__(self, backend: ReasonerBackend, name: str, spatial: SpatialConfig):
        self.backend, self.name, self.spatial = backend, name, spatial

    def answer_texts(self, questions: Sequence[VisualQuestion]) -> list[str]:
        return [self._one(q) for q in questions]

    def _one(self, q: VisualQuestion) -> str:
        if q.scene is None or q.depth_m is None:
            raise RoboSpatialError(
                f"the {self.name} backend needs each item's depth image and 3D scene "
                "(our generated data has them; RoboSpatial-Home has no camera poses)"
            )
        cam = q.scene.camera
        frame = RGBDFrame(q.image, np.nan_to_num(q.depth_m).astype(np.float32), cam.K, cam.camera_to_world, 1.0)
        try:
            query = parse_question(q.question, q.scene.names)
            return self.backend.answer(SceneView(q.scene, self.spatial), query, frame).text
        except RoboSpatialError:  # an ill-formed answer for the scorer, not a crash of the whole run
            return ""
