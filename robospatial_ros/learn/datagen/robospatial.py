"""RoboSpatial-style training items from scene files and from simulator episodes.

Every question a scene supports comes from `qa.scene_questions` (the reference generator's
rules: pairs over objects whose category appears once; configuration balanced, one Yes for
the relation that holds and one No for its opposite; compatibility per frame and direction,
'on top' in the world frame; context points kept when there are at least three). Each item
becomes a `Sample` whose metadata re-derives its answer: the scene (RoboSpatial annotation
shape), the spatial settings, the structured query and the camera. Context items also carry
their ground-truth region for evaluation: a mask of the pixels whose support-plane point
is a valid answer, and the outline of its part holding the best point as a normalized
polygon (the RoboSpatial-Home answer format).

    samples = scene_file_samples("scene.json", None, RoboSpatialGenConfig())
    samples = sim_samples(RoboSpatialGenConfig(), episodes=10, seed=0)   # MUJOCO_GL=egl
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from robospatial_ros.core.configio import check_choices, from_mapping, read_yaml_mapping, to_mapping, validate_fields
from robospatial_ros.core.errors import ConfigError, RoboSpatialError, SceneError
from robospatial_ros.core.images import read_rgb
from robospatial_ros.core.language.questions import Query, parse_question
from robospatial_ros.core.resources import DEFAULT_TABLETOP_CONFIG
from robospatial_ros.core.scene import (
    Scene,
    SceneObject,
    category_of,
    read_scene_json,
    scene_from_dict,
    scene_to_dict,
)
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.core.spatial.context import candidates, frame_exclude, occluders, point_sides
from robospatial_ros.core.spatial.frames import uses_base_axes
from robospatial_ros.core.spatial.types import CONTEXT_FRAME_PHRASES, FRAME_PHRASES, Frame, QueryType, Relation
from robospatial_ros.core.spatial.view import SceneView
from robospatial_ros.learn.datagen.episodes import (
    check_count,
    check_sim_layout,
    episode_object_count,
    progress_bar,
    sim_shots,
)
from robospatial_ros.learn.datagen.qa import scene_questions, unique_objects
from robospatial_ros.learn.datagen.records import Sample
from robospatial_ros.learn.eval.scoring import point_in_polygon
from robospatial_ros.sim.objects import DEFAULT_OBJECTS

KIND = "robospatial"
QUERY_TYPES = tuple(t.value for t in QueryType)
FRAMES = tuple(f.value for f in Frame)
SPATIAL_PRESETS = ("auto", "reference", "tabletop")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
# Scene keys (and object keys) of the RoboSpatial annotation shape plus our extensions: what a
# sample's metadata keeps of a scene file, values untouched so reloading it gives the same scene.
_SCENE_KEYS = ("image_size", "camera_annotations", "objects", "robot_base_to_world")
_OBJECT_KEYS = ("Name", "bbox_3d", "facing", "category")


class RoboSpatialGenError(RoboSpatialError, ValueError):
    """A scene's image is missing, unreadable or of the wrong size, or generation was asked wrongly."""


@dataclass(frozen=True)
class RoboSpatialGenConfig:
    """What to generate. The spatial semantics are a preset with SpatialConfig keys over it."""

    seed: int = 0  # default seed of the CLI (sim layouts, paraphrase choices, subsets)
    # auto: tabletop for simulator episodes, reference for scene files; reference: the reference
    # generator's room-scale defaults (0.1 m grid); tabletop: robospatial_ros/data/tabletop.yaml.
    spatial_preset: str = "auto"
    spatial: dict[str, Any] = field(default_factory=dict)  # SpatialConfig keys over the preset
    types: tuple[str, ...] = QUERY_TYPES  # configuration / compatibility / context
    frames: tuple[str, ...] = FRAMES  # ego / world / object
    paraphrases: bool = False  # reword questions with seeded alternative templates (all parse back)
    max_items_per_scene: int = 0  # 0 = every question; else a seeded uniform subset of this size
    regions: bool = True  # context items: ground-truth region polygon and mask
    # Compatibility questions placing a support (the table others stand on) too, as the reference
    # generator does; off: supports are not movable targets (they skewed the answers towards No).
    movable_supports: bool = False
    # Parallel work (`robospatial datagen --workers`): shards of about this many items; a scene with
    # more is split by reference object. Output does not depend on the number of workers.
    shard_items: int = 500
    # Simulator episodes (TabletopSim): objects drawn from `sim_objects`, a count in [min, max].
    sim_objects: tuple[str, ...] = DEFAULT_OBJECTS
    min_objects: int = 3
    max_objects: int = 6
    image_width_px: int = 640
    image_height_px: int = 480
    progress: bool = True  # tqdm bars over scenes / episodes

    def __post_init__(self) -> None:
        validate_fields(self)
        if self.spatial_preset not in SPATIAL_PRESETS:
            raise ConfigError(
                f"spatial_preset must be one of {', '.join(SPATIAL_PRESETS)}, got {self.spatial_preset!r}"
            )
        if not isinstance(self.spatial, Mapping):
            raise ConfigError(f"spatial must be a mapping of SpatialConfig keys, got {self.spatial!r}")
        check_choices("types", self.types, QUERY_TYPES)
        check_choices("frames", self.frames, FRAMES)
        check_sim_layout(self)
        if self.max_items_per_scene < 0 or self.seed < 0:
            raise ConfigError("max_items_per_scene and seed must be >= 0")
        if self.shard_items < 1:
            raise ConfigError(f"shard_items must be >= 1, got {self.shard_items}")
        for source in ("sim", "scene"):
            self.spatial_config(source)  # bad spatial keys fail now, with the key named

    def spatial_config(self, source: str) -> SpatialConfig:
        """The SpatialConfig for `source` ('sim' or 'scene'): preset, then `spatial` over it."""
        preset = self.spatial_preset
        if preset == "auto":
            preset = "tabletop" if source == "sim" else "reference"
        values = read_yaml_mapping(DEFAULT_TABLETOP_CONFIG) if preset == "tabletop" else {}
        values.update(self.spatial)
        return from_mapping(SpatialConfig, values, source=f"spatial ({preset} preset)")


# --- sources -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SceneSource:
    """One scene with what its samples carry: the scene, its file form, image, depth and metadata."""

    scene: Scene
    scene_dict: dict[str, Any]  # the RoboSpatial annotation shape, as stored in every sample
    image: np.ndarray  # (H, W, 3) uint8 RGB: what the camera sees
    depth: np.ndarray | None  # (H, W) float32 metres (0 / NaN unknown), or None
    meta: dict[str, Any]  # source and scene_id
    rng_key: str  # seeds the scene's subset and each item's wording


def scene_file_samples(
    scene_path: str | Path,
    image_path: str | Path | None = None,
    config: RoboSpatialGenConfig | None = None,
    part: int = 0,
    parts: int = 1,
) -> Iterator[Sample]:
    """Every question of one scene file, answered, with its image (and depth, when there is one).

    The image: `image_path`, else the scene JSON's "image" key (relative to the JSON), else a
    .png/.jpg with the JSON's stem next to it. The depth: the JSON's "depth" key, else the image's
    <stem>_depth.png (16-bit millimetres) or <stem>.npy (metres). `part` of `parts`: only the questions
    about every `parts`-th reference object from the `part`-th (see `plan_units`). Raises SceneError /
    RoboSpatialGenError on bad input, before the first item.
    """
    config = config or RoboSpatialGenConfig()
    source = load_scene_source(Path(scene_path), image_path, config)
    return _scene_samples(source, config, config.spatial_config("scene"), part, parts)


def load_scene_source(scene_path: Path, image_path: str | Path | None, config: RoboSpatialGenConfig) -> SceneSource:
    """A scene file, its image and depth, checked against each other."""
    data = _read_scene_json(scene_path)
    scene = scene_from_dict(data)
    image_file = find_image(scene_path, data, image_path)
    image = read_rgb(image_file, RoboSpatialGenError)
    cam = scene.camera
    if image.shape[:2] != (cam.height, cam.width):
        raise RoboSpatialGenError(
            f"{scene_path}: image is {image.shape[1]}x{image.shape[0]} but the scene's image_size is "
            f"{cam.width}x{cam.height}"
        )
    depth = _scene_depth(scene_path, data, image_file, image.shape[:2])
    meta = {"source": {"scene_file": str(scene_path)}, "scene_id": scene_path.stem}
    return SceneSource(scene, _scene_shape(data), image, depth, meta, f"{config.seed}:{scene_path.name}")


def _scene_depth(
    scene_path: Path, data: Mapping[str, Any], image_file: Path, shape: tuple[int, int]
) -> np.ndarray | None:
    """(H, W) float32 metres: the "depth" key's file, else the image's paired depth file; None without one."""
    from robospatial_ros.learn.datagen.ssrl import depth_path_for, read_depth

    if isinstance(data.get("depth"), str):
        path: Path | None = scene_path.parent / data["depth"]
        if not path.is_file():
            raise RoboSpatialGenError(f"{scene_path}: depth file not found: {path}")
    else:
        path = depth_path_for(image_file)
    return None if path is None else read_depth(path, shape, RoboSpatialGenError)


def scene_files_samples(
    scene_paths: Iterable[str | Path], config: RoboSpatialGenConfig | None = None
) -> Iterator[Sample]:
    """`scene_file_samples` of each file in turn (images found next to them), with a progress bar."""
    config = config or RoboSpatialGenConfig()
    paths = [Path(p) for p in scene_paths]
    if not paths:
        raise RoboSpatialGenError("no scene files given")
    for path in paths:  # fail on a missing file before generating anything
        if not path.is_file():
            raise SceneError(f"scene file not found: {path}")
    return _chain_scene_files(paths, config)


def _chain_scene_files(paths: list[Path], config: RoboSpatialGenConfig) -> Iterator[Sample]:
    for path in progress_bar(paths, "scenes", "scene", config.progress):
        yield from scene_file_samples(path, None, config)


def sim_samples(config: RoboSpatialGenConfig, episodes: int, seed: int, first: int = 0) -> Iterator[Sample]:
    """Every question of `episodes` seeded tabletop layouts (episodes `first`, `first` + 1, ...),
    answered from the simulator's ground truth.

    Deterministic for (config, seed); episode i is the same whatever `episodes` and `first` are.
    """
    if not isinstance(config, RoboSpatialGenConfig):
        raise ConfigError(f"sim_samples needs a RoboSpatialGenConfig, got {type(config).__name__}")
    counts = check_count("episodes", episodes), check_count("seed", seed), check_count("first", first)
    return _sim_episodes(config, *counts)


def _sim_episodes(config: RoboSpatialGenConfig, episodes: int, seed: int, first: int) -> Iterator[Sample]:
    if episodes == 0:
        return
    spatial = config.spatial_config("sim")
    for i, ep_seed, shot in sim_shots(config, episodes, seed, SIM_SALT, "robospatial sim", first):
        # The answers come from the scene as stored: reloading the metadata gives the same one.
        data = scene_to_dict(shot.scene)
        meta = {"source": {"sim_seed": ep_seed, "episode": i, "seed": seed}, "scene_id": f"sim-{seed}-{i:06d}"}
        source = SceneSource(scene_from_dict(data), data, shot.frame.color, shot.frame.depth, meta, f"{seed}:{i}")
        yield from _scene_samples(source, config, spatial)


SIM_SALT = 2  # this generator's own draws in the shared simulator episodes (changing it changes its data)


# --- work units (parallel generation, see shards.py) ----------------------------------------------


@dataclass(frozen=True)
class WorkUnit:
    """One piece of a run: part `part` of `parts` of a scene file, or one simulator episode."""

    scene_file: str = ""  # a scene file, or "" for simulator episode `episode`
    episode: int = 0
    part: int = 0
    parts: int = 1
    estimate: int = 0  # at most this many items: packs units into shards


def question_bound(objects: int) -> int:
    """At most how many items a scene of `objects` objects of distinct categories gives: per ordered pair
    two per axis and frame (18) and 13 compatibility questions, per object 12 context ones."""
    return objects * (objects - 1) * (18 + 13) + 12 * objects


def plan_units(
    config: RoboSpatialGenConfig, scene_paths: list[Path] | None, episodes: int, seed: int
) -> list[WorkUnit]:
    """The run's work units in output order: each scene file (split into parts by reference object
    when it may hold more than `shard_items` items, unless a seeded subset is asked), or each episode.
    They depend on the inputs and the config only, never on how many workers run them."""
    if scene_paths is None:
        return [
            WorkUnit(episode=i, estimate=question_bound(episode_object_count(config, seed, i, SIM_SALT) + 1))
            for i in range(episodes)
        ]
    units = []
    for path in scene_paths:
        data = _read_scene_json(path)
        names = [str(o.get("Name", "")) for o in data.get("objects", []) if isinstance(o, Mapping)]
        counts = Counter(category_of(n) for n in names if n.strip())
        unique = sum(1 for c in counts.values() if c == 1)
        bound = question_bound(unique)
        parts = 1 if config.max_items_per_scene else max(1, min(unique, -(-bound // config.shard_items)))
        units += [WorkUnit(str(path), 0, k, parts, -(-bound // parts)) for k in range(parts)]
    return units


def unit_samples(unit: WorkUnit, config: RoboSpatialGenConfig, seed: int) -> Iterator[Sample]:
    """The samples of one work unit (`plan_units`)."""
    if unit.scene_file:
        return scene_file_samples(unit.scene_file, None, config, unit.part, unit.parts)
    return sim_samples(config, 1, seed, unit.episode)


# --- scene files and images ----------------------------------------------------------------------


def _read_scene_json(path: Path) -> dict[str, Any]:
    data = read_scene_json(path)
    if not isinstance(data, dict):
        raise SceneError(f"scene file {path} must hold a JSON object")
    return data


def _scene_shape(data: dict[str, Any]) -> dict[str, Any]:
    """The scene keys of a scene file, values as read (other keys, e.g. per-object extras, dropped)."""
    out = {k: data[k] for k in _SCENE_KEYS if k in data}
    out["objects"] = [{k: o[k] for k in _OBJECT_KEYS if k in o} for o in data["objects"]]
    return out


def find_image(scene_path: Path, data: Mapping[str, Any], image_path: str | Path | None) -> Path:
    """The image of a scene file: explicit, the JSON's "image" key, or the same stem .png/.jpg."""
    if image_path is not None:
        candidates = [Path(image_path)]
    elif isinstance(data.get("image"), str):
        candidates = [scene_path.parent / data["image"]]
    else:
        candidates = [scene_path.with_suffix(s) for s in IMAGE_SUFFIXES]
    for path in candidates:
        if path.is_file():
            return path
    listed = ", ".join(str(p) for p in candidates)
    raise RoboSpatialGenError(f"no image for scene {scene_path}: looked for {listed}")


# --- items ---------------------------------------------------------------------------------------


def _scene_samples(
    source: SceneSource, config: RoboSpatialGenConfig, spatial: SpatialConfig, part: int = 0, parts: int = 1
) -> Iterator[Sample]:
    """The samples of one scene (about its `part`-th of `parts` reference objects)."""
    scene = source.scene
    view = SceneView(scene, spatial)
    references = None
    if parts > 1:
        references = [o.name for i, o in enumerate(unique_objects(view)) if i % parts == part]
    items = scene_questions(
        view, types=config.types, frames=config.frames, references=references, movable_supports=config.movable_supports
    )
    if 0 < config.max_items_per_scene < len(items):
        subset = random.Random(f"{source.rng_key}:subset")
        items = [items[i] for i in sorted(subset.sample(range(len(items)), config.max_items_per_scene))]
    wording = Paraphraser(scene, spatial) if config.paraphrases else None
    regions = RegionMaker(view)
    cam = scene.camera
    shared = {
        **source.meta,
        "scene": source.scene_dict,
        "camera": {
            "intrinsic": cam.K.tolist(),
            "extrinsic": cam.camera_to_world.tolist(),
            "width": cam.width,
            "height": cam.height,
        },
        "spatial_config": to_mapping(spatial),
    }
    for item in items:
        answer = item.answer
        q = answer.query
        template = item.question.removeprefix("<image>")
        question = template
        if wording is not None:  # seeded by the item itself: the same whatever items come before it
            question = wording.reword(q, template, random.Random(f"{source.rng_key}:{template}"))
        metadata = {
            **shared,
            "query": {
                "type": q.type.value,
                "frame": q.frame.value,
                "relation": q.relation.value,
                "object": q.target,
                "reference": q.reference,
            },
            "template_question": template,
            "assumptions": list(answer.assumptions),
        }
        if q.type is QueryType.CONTEXT:
            metadata["points_3d"] = np.round(answer.points_3d, 4).tolist()
            if config.regions:
                mask, polygon = regions.region(scene.get(q.reference), q.frame, q.relation, answer.points_2d)
                metadata["region_polygon"] = polygon
                metadata["region_mask"] = mask_to_rle(mask)
        image, depth = source.image, source.depth
        yield Sample(KIND, q.type.value, question, answer.text, [image], q.frame.value, [], metadata, depth)


# --- paraphrases ---------------------------------------------------------------------------------

_RELATION_PHRASES = {
    Relation.LEFT: ("to the left of", "on the left side of"),
    Relation.RIGHT: ("to the right of", "on the right side of"),
    Relation.IN_FRONT: ("in front of",),
    Relation.BEHIND: ("behind",),
    Relation.ABOVE: ("above",),
    Relation.BELOW: ("below",),
    Relation.ON_TOP: ("on top of",),
}
_BINARY_ENDINGS = ("Answer yes or no.", "Please answer yes or no.", "Reply with yes or no.")
_POINTS_ENDING = (
    "Your final answer should be formatted as a list of tuples, i.e. [(x1, y1), ...], where x and y are "
    "normalized pixel coordinates between 0 and 1."
)
_CONFIGURATION = (
    "Is the {a} {rel} the {b} {frame}?",
    "Is the {a} located {rel} the {b} {frame}?",
    "Is the {a} positioned {rel} the {b} {frame}?",
)
_COMPATIBILITY = (
    "Can the {a} fit {rel} the {b} {frame}?",
    "Could the {a} fit {rel} the {b} {frame}?",
    "Would the {a} fit {rel} the {b} {frame}?",
    "Is there room for the {a} {rel} the {b} {frame}?",
)
_CONTEXT = (
    "Point to several spots in the free space {rel} the {b} {frame}.",
    "Mark several points in the empty space {rel} the {b} {frame}.",
    "Find a few free locations {rel} the {b} {frame}.",
)


_PATTERNS = {
    QueryType.CONFIGURATION: _CONFIGURATION,
    QueryType.COMPATIBILITY: _COMPATIBILITY,
    QueryType.CONTEXT: _CONTEXT,
}


class Paraphraser:
    """Seeded alternative wordings of a query; each is parsed back and kept only if it means the same."""

    def __init__(self, scene: Scene, spatial: SpatialConfig):
        self.names = scene.names
        self.rng = random.Random(0)  # replaced per item by `reword`
        self.world = ["from the world's perspective", "in the world frame"]
        if uses_base_axes(Frame.WORLD, spatial):  # the world frame is the robot base's: say so, sometimes
            self.world += ["from the robot's perspective", "from the robot base's perspective"]

    def _frame_phrase(self, frame: Frame, reference: str, context: bool) -> str:
        if frame is Frame.EGO:
            options = [
                "from the camera's perspective",
                "from the camera's point of view",
                "from the viewer's perspective",
            ]
        elif frame is Frame.WORLD:
            options = self.world
        else:
            generic = CONTEXT_FRAME_PHRASES[frame] if context else FRAME_PHRASES[frame]
            options = [generic, f"from the {reference}'s perspective", f"from the {reference}'s point of view"]
        return self.rng.choice(options)

    def reword(self, query: Query, template: str, rng: random.Random) -> str:
        """A random wording of `query` drawn with `rng` (the template among the choices); the template if
        a rewording would not parse back to the same query."""
        self.rng = rng
        kind = query.type
        pattern = self.rng.choice((*_PATTERNS[kind], None))  # None: keep the template
        if pattern is None:
            return template
        rel = self.rng.choice(_RELATION_PHRASES[query.relation])
        frame = self._frame_phrase(query.frame, query.reference, kind is QueryType.CONTEXT)
        text = pattern.format(a=query.target, b=query.reference, rel=rel, frame=frame)
        text += " " + (_POINTS_ENDING if kind is QueryType.CONTEXT else self.rng.choice(_BINARY_ENDINGS))
        return text if self._means(text, query) else template

    def _means(self, text: str, query: Query) -> bool:
        try:
            parsed = parse_question(text, self.names)
        except RoboSpatialError:
            return False
        same_names = parsed.reference == query.reference and parsed.target == query.target
        return same_names and (parsed.type, parsed.frame, parsed.relation) == (query.type, query.frame, query.relation)


# --- context regions -----------------------------------------------------------------------------


@dataclass
class _RefPixels:
    """Pixels around one reference object and the points of its support plane they see."""

    box: tuple[int, int, int, int]  # (u0, v0, u1, v1) inclusive pixel window
    candidate: np.ndarray  # (h, w) int: the candidate cell the pixel's plane point lies in, -1 none
    occluded: np.ndarray  # (h, w) bool: on the silhouette of an occluding object
    xyz: np.ndarray  # (h*w, 3) the pixels' support-plane points, world frame, metres
    uv: np.ndarray  # (h*w, 2) the pixel centres
    depth: np.ndarray  # (h*w,) optical depth of the plane points, metres
    sides: dict[Frame, dict[Relation, np.ndarray]] = field(default_factory=dict)  # per frame, (h, w) bool


class RegionMaker:
    """Ground-truth regions of context answers: where on the image a point answers the question.

    A pixel is valid when the point of the reference's support plane it sees lies in a candidate
    cell (free, within `context_threshold_m`, off the footprint, in the image), that point lies on
    the asked side by the rule candidates follow, and no occluding object covers the pixel.
    """

    def __init__(self, view: SceneView):
        self.view = view
        self._pixels: dict[str, _RefPixels | None] = {}

    def region(
        self, ref: SceneObject, frame: Frame, relation: Relation, answer_points: np.ndarray
    ) -> tuple[np.ndarray, list[list[float]]]:
        """((H, W) bool mask, polygon [[x, y], ...] normalized) for context `relation` of `ref` in `frame`.

        `answer_points` (N, 2) normalized, best first: valid by construction, so always inside.
        """
        cam = self.view.scene.camera
        w, h = cam.width, cam.height
        mask = np.zeros((h, w), np.uint8)
        pixels = self._ref_pixels(ref)
        if pixels is not None:
            if frame not in pixels.sides:
                sides = point_sides(self.view, ref, pixels.xyz, pixels.uv, pixels.depth, frame)
                pixels.sides[frame] = {rel: m.reshape(pixels.candidate.shape) for rel, m in sides.items()}
            u0, v0, u1, v1 = pixels.box
            valid = (pixels.candidate >= 0) & pixels.sides[frame][relation] & ~pixels.occluded
            mask[v0 : v1 + 1, u0 : u1 + 1] = valid
        px = _pixel_index(np.asarray(answer_points, float).reshape(-1, 2), w, h)
        mask[px[:, 1], px[:, 0]] = 1
        # One pixel of margin: the outline through boundary pixel centres then encloses every valid pixel.
        mask = cv2.dilate(mask, np.ones((3, 3), np.uint8))
        return mask.astype(bool), _outline(mask, answer_points, w, h)

    def _ref_pixels(self, ref: SceneObject) -> _RefPixels | None:
        if ref.name not in self._pixels:
            self._pixels[ref.name] = self._compute_ref_pixels(ref)
        return self._pixels[ref.name]

    def _compute_ref_pixels(self, ref: SceneObject) -> _RefPixels | None:
        view = self.view
        cam = view.scene.camera
        cands = candidates(view, ref, view.config.context_threshold_m, frame_exclude(ref))
        if len(cands.xyz) == 0:
            return None
        grid, res = cands.grid, cands.grid.resolution_m
        z0 = float(cands.xyz[0, 2])  # the reference's base height: the support plane
        # The window: every candidate cell's projected corners, clipped to the image.
        offsets = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * (res / 2)
        corners_xy = (cands.xyz[:, None, :2] + offsets[None]).reshape(-1, 2)
        uv, depth = cam.project(np.column_stack([corners_xy, np.full(len(corners_xy), z0)]))
        uv = uv[depth > 1e-6]
        if len(uv) == 0:
            return None
        lo = np.clip(np.floor(uv.min(axis=0)), 0, [cam.width - 1, cam.height - 1]).astype(int)
        hi = np.clip(np.ceil(uv.max(axis=0)), 0, [cam.width - 1, cam.height - 1]).astype(int)
        us, vs = np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1))  # (h, w) each
        pix = np.column_stack([us.ravel(), vs.ravel()]).astype(float)  # (h*w, 2) pixel centres
        xyz, plane_depth, hits = _plane_points(cam, lo, hi, z0)
        cell = grid.index_of(xyz[:, :2])
        ny, nx = grid.shape
        inside = hits & (cell[:, 0] >= 0) & (cell[:, 0] < ny) & (cell[:, 1] >= 0) & (cell[:, 1] < nx)
        lookup = np.full(grid.shape, -1, dtype=np.int64)  # grid cell -> candidate index
        cand_cells = grid.index_of(cands.xyz[:, :2])
        lookup[cand_cells[:, 0], cand_cells[:, 1]] = np.arange(len(cand_cells))
        index = np.full(len(xyz), -1, dtype=np.int64)
        index[inside] = lookup[cell[inside, 0], cell[inside, 1]]
        occluded = np.zeros(us.shape, np.uint8)
        for obj in occluders(view, ref):
            silhouette = view.view(obj).silhouette - lo  # (K, 2) pixels in the window
            cv2.fillPoly(occluded, [np.round(silhouette * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
        box = (int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1]))
        return _RefPixels(box, index.reshape(us.shape), occluded > 0, xyz, pix, plane_depth)


def _plane_points(cam: Any, lo: np.ndarray, hi: np.ndarray, z0: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where the pixels of the window [lo, hi] (inclusive (2,) pixel corners) see the plane z = z0.

    Returns ((h*w, 3) world points, metres, z = z0; (h*w,) their optical depth, metres; (h*w,) bool
    hit: the ray meets the plane in front of the camera), rows of the window in row-major order. The
    ray of pixel (u, v) is R @ ((u - cx) / fx, (v - cy) / fy, 1) from the camera centre, so the
    plane point is at t times it with t = (z0 - cz) / ray_z, and t is also its optical depth.
    """
    K, R, c = cam.K, cam.camera_to_world[:3, :3], cam.position
    x = (np.arange(lo[0], hi[0] + 1) - K[0, 2]) / K[0, 0]  # (w,) normalized image x
    y = (np.arange(lo[1], hi[1] + 1) - K[1, 2]) / K[1, 1]  # (h,)
    rays = R[:, 0][:, None, None] * x[None, None, :] + R[:, 1][:, None, None] * y[None, :, None]
    rays = rays + R[:, 2][:, None, None]  # (3, h, w) world directions, optical z = 1
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (z0 - c[2]) / rays[2]  # (h, w) optical depth of the plane point
    hits = np.isfinite(t) & (t > 0)
    t = np.where(hits, t, 0.0)
    xyz = np.empty((t.size, 3))
    xyz[:, 0] = (c[0] + t * rays[0]).ravel()
    xyz[:, 1] = (c[1] + t * rays[1]).ravel()
    xyz[:, 2] = z0
    return xyz, t.ravel(), hits.ravel()


def _pixel_index(points_norm: np.ndarray, width: int, height: int) -> np.ndarray:
    """(N, 2) normalized points -> (N, 2) int (col, row) of the pixels holding them (centres at integers)."""
    px = np.round(points_norm * [width, height]).astype(int)
    return np.clip(px, 0, [width - 1, height - 1])


def _outline(mask: np.ndarray, answer_points: np.ndarray, width: int, height: int) -> list[list[float]]:
    """Normalized polygon of the mask's part holding the best answer point (else the largest part).

    Simplified by up to a pixel when the simplified outline still holds the best point.
    """
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return []
    pts = np.asarray(answer_points, float).reshape(-1, 2)
    best = pts[0] * [width, height] if len(pts) else None
    chosen = max(contours, key=cv2.contourArea)
    if best is not None:
        holding = [c for c in contours if cv2.pointPolygonTest(c, (float(best[0]), float(best[1])), False) >= 0]
        chosen = holding[0] if holding else chosen
    # Simplified as far as one pixel (grid cells rasterize to staircases), less if the best point would fall out.
    for contour in (cv2.approxPolyDP(chosen, 1.0, True), cv2.approxPolyDP(chosen, 0.5, True), chosen):
        polygon = np.round(contour.reshape(-1, 2) / [width, height], 4)  # (K, 2) normalized
        # Checked by the scorer itself, so the first answer point is inside as the benchmark will judge it.
        if len(polygon) >= 3 and (len(pts) == 0 or point_in_polygon(pts[0][0], pts[0][1], polygon.tolist())):
            break
    return polygon.tolist()


def mask_to_rle(mask: np.ndarray) -> dict[str, Any]:
    """(H, W) bool -> {"size": [H, W], "counts": [...]}: run lengths in row-major order, zeros first."""
    flat = np.asarray(mask, bool).ravel()
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0, *counts]
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def rle_to_mask(rle: Mapping[str, Any]) -> np.ndarray:
    """Inverse of `mask_to_rle`: (H, W) bool."""
    h, w = (int(v) for v in rle["size"])
    counts = np.asarray(rle["counts"], dtype=np.int64)
    if counts.sum() != h * w:
        raise RoboSpatialGenError(f"mask run lengths sum to {int(counts.sum())}, not {h}x{w}")
    values = np.arange(len(counts)) % 2 == 1
    return np.repeat(values, counts).reshape(h, w)


# --- parallel runs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoboSpatialJob:
    """A run for `shards.run_sharded`: scene files, or `episodes` simulator episodes of `seed`."""

    config: RoboSpatialGenConfig
    seed: int
    scene_paths: tuple[str, ...] = ()
    episodes: int = 0

    @property
    def shard_items(self) -> int:
        return self.config.shard_items

    def units(self) -> list[WorkUnit]:
        paths = [Path(p) for p in self.scene_paths] if self.scene_paths else None
        return plan_units(self.config, paths, self.episodes, self.seed)

    def samples(self, units: Iterable[WorkUnit]) -> Iterator[Sample]:
        config = replace(self.config, progress=False)  # the runner shows progress per shard
        for unit in units:
            yield from unit_samples(unit, config, self.seed)

    def fingerprint(self) -> dict[str, Any]:
        config = {k: v for k, v in to_mapping(self.config).items() if k != "progress"}
        sources: Any = self.episodes
        if self.scene_paths:
            sources = [[p, *_file_stamp(Path(p))] for p in self.scene_paths]
        return {"generator": KIND, "seed": self.seed, "config": config, "sources": sources}


def _file_stamp(path: Path) -> tuple[int, int]:
    """(size, modification time in ns) of a file: a scene edited since a failed run is not resumed."""
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns
