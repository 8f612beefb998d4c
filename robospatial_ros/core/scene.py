"""Scenes: named 3D boxes plus the camera that sees them.

The file format is the RoboSpatial annotation shape (docs/architecture.md, "Scene files"):

    {"image_size": [W, H],
     "camera_annotations": {"intrinsic": 4x4 or 3x3, "extrinsic": 4x4 camera-to-world (optical)},
     "objects": [{"Name": str, "bbox_3d": [[cx, cy, cz, sx, sy, sz, rz, rx, ry]]}, ...]}

with two optional extensions of ours: a top-level "robot_base_to_world" 4x4 (for
`world_heading: base`; identity when absent) and a per-object "facing" (a 3-vector,
or null for "unknown"; default: the box's x axis, as in the annotations).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from robospatial_ros.core import validation
from robospatial_ros.core.camera import CameraModel
from robospatial_ros.core.errors import AmbiguousObjectError, SceneError, UnknownObjectError
from robospatial_ros.core.geometry import (
    OrientedBox,
    convex_overlap_area,
    points_in_convex_polygon,
    polygon_area_centroid,
)
from robospatial_ros.core.obstacles import ObstacleMap


@dataclass(frozen=True)
class SceneObject:
    """One object: its verbatim name, its box (world frame) and optional facing direction."""

    name: str
    box: OrientedBox
    # (3,) unit vector, world frame: the object's "front". None = unknown (perceived
    # objects); the object frame then faces the camera and says so as an assumption.
    facing: np.ndarray | None = None
    category: str = ""
    score: float = 1.0
    # What it looks like (perceived objects; "" unknown): a palette colour name and small/medium/large.
    colour: str = ""
    size_class: str = ""
    # A name an operator gave it at run time ("call object 3 the mug"); it is then also its category.
    user_name: str = ""

    @property
    def height_m(self) -> float:
        """Its box's height, metres: perceived boxes reach down to what the object stands on."""
        return float(self.box.size[2])

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise SceneError("object names must be non-empty strings")
        if not self.category:
            object.__setattr__(self, "category", category_of(self.name))
        if self.facing is not None:
            f = np.asarray(self.facing, dtype=float).reshape(3)
            with np.errstate(over="ignore", invalid="ignore"):  # a huge vector: inf norm, reported below
                norm = np.linalg.norm(f)
            if not np.isfinite(norm) or norm < 1e-9:
                raise SceneError(f"object {self.name!r}: facing must be a non-zero vector")
            object.__setattr__(self, "facing", f / norm)


def category_of(name: str) -> str:
    """'Red mug_2.' -> 'red mug': lower case, trailing punctuation and instance index dropped."""
    text = name.strip().rstrip(".!?,;: ").lower()
    return re.sub(r"[_ ]\d+$", "", text)


@dataclass(frozen=True)
class Scene:
    """Objects and camera; `base_to_world` is the robot base pose (4, 4), REP-103 axes."""

    objects: tuple[SceneObject, ...]
    camera: CameraModel
    base_to_world: np.ndarray = field(default_factory=lambda: np.eye(4))
    # What the camera observed on the support (perceived scenes); None for scene files, whose free
    # space is computed from the named boxes alone, as the RoboSpatial reference does.
    obstacles: ObstacleMap | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "objects", tuple(self.objects))
        validation.unique_names([o.name for o in self.objects], "object names")
        object.__setattr__(self, "base_to_world", validation.rigid_transform(self.base_to_world, "robot_base_to_world"))

    @property
    def names(self) -> ObjectNames:
        """The object names (a list of str) that also know where each object is (see `resolve_name`)."""
        return ObjectNames(self)

    @cached_property
    def _by_name(self) -> dict[str, SceneObject]:
        return {o.name: o for o in self.objects}

    def get(self, name: str) -> SceneObject:
        """Resolve a name as written in a question (see `resolve_name`)."""
        found = self._by_name.get(name)
        return found if found is not None else self._by_name[resolve_name(name, self.names)]

    def transformed(self, T: np.ndarray) -> Scene:
        """Move everything (objects, camera, robot base) by the rigid (4, 4) transform `T`."""
        objects = [
            replace(o, box=o.box.transformed(T), facing=None if o.facing is None else T[:3, :3] @ o.facing)
            for o in self.objects
        ]
        return Scene(tuple(objects), self.camera.transformed(T), T @ self.base_to_world, _moved_map(self.obstacles, T))

    def with_objects(self, objects: tuple[SceneObject, ...]) -> Scene:
        """The same camera, robot base and observed obstacles with other objects (e.g. one moved).

        Placement calls this for every candidate: the base transform is this scene's, already
        validated, so only the new names are checked (re-validating it cost 2.4 of 18 ms per placement
        query on the bundled scene)."""
        objects = tuple(objects)
        validation.unique_names([o.name for o in objects], "object names")
        moved = object.__new__(Scene)
        for f in fields(Scene):
            object.__setattr__(moved, f.name, objects if f.name == "objects" else getattr(self, f.name))
        return moved

    def with_unknown_facings(self) -> Scene:
        """The same scene with every object's front unknown, as perception reports objects
        (so a ground-truth scene answers object-frame questions the way a perceived one does)."""
        return self.with_objects(tuple(replace(o, facing=None) for o in self.objects))

    def support_of(self, obj: SceneObject, tolerance_m: float = 0.03) -> SceneObject | None:
        """The object `obj` stands on, found from box heights; None when it stands on nothing in the scene.

        A support can hold `obj`: its top lies within `tolerance_m` of obj's bottom, it reaches
        below obj, its footprint is at least as large as obj's and covers at least
        `SUPPORT_MIN_OVERLAP` of obj's footprint. Of those, the highest wins (a mug on a tray on a
        table stands on the tray). A small object that merely touches the bottom of a larger one (a
        crate resting its corner on a banana) is no support: the next candidate is, else none.
        """
        bottom = obj.box.z_min
        own = obj.box.footprint()  # (K, 2) world x/y, metres
        own_area = polygon_area_centroid(own)[0]
        candidates = [
            other
            for other in self.objects
            if other is not obj
            and abs(other.box.z_max - bottom) <= tolerance_m
            and other.box.z_min < bottom - 1e-6  # not a neighbour standing on the same surface
        ]
        for other in sorted(candidates, key=lambda o: -o.box.z_max):
            under = other.box.footprint()
            if own_area <= 1e-12:  # a flat-lying stick or a point: its centre must be over the support
                if points_in_convex_polygon(obj.box.center[None, :2], under)[0]:
                    return other
            elif (
                polygon_area_centroid(under)[0] + 1e-12 >= own_area
                and convex_overlap_area(own, under) >= SUPPORT_MIN_OVERLAP * own_area
            ):
                return other
        return None


# A support covers at least this share of the footprint of what stands on it.
SUPPORT_MIN_OVERLAP = 0.5


def _moved_map(obstacles: ObstacleMap | None, T: np.ndarray) -> ObstacleMap | None:
    """The obstacle map after moving the world by `T`: a shift (the grid stays axis-aligned), never a turn."""
    if obstacles is None:
        return None
    if not np.allclose(T[:3, :3], np.eye(3), atol=1e-9):
        raise SceneError("a scene with an observed obstacle map can be shifted, not rotated")
    return replace(
        obstacles,
        origin_xy_m=obstacles.origin_xy_m + T[:2, 3],
        support_height_m=obstacles.support_height_m + float(T[2, 3]),
    )


class ObjectNames(list):
    """A scene's object names, a plain `list[str]`, that also knows the scene they name.

    The parsers take the known names as a list; handing them this list instead lets a reference
    pick one of several objects of a category by where it is ("the left bowl", "the bowl nearest
    the robot") without every parser taking the scene.
    """

    def __init__(self, scene: Scene):
        super().__init__(o.name for o in scene.objects)
        self.scene = scene


# A position after the noun: "the bowl on the left", "the bowl nearest (to) the robot", "the bowl farthest
# from the arm" (the phrases `_describe` suggests). Nearness is always measured from the robot base.
_POSITION_AFTER = re.compile(
    r"^(?:the\s+)?(?P<rest>.+?)\s+(?:on\s+the\s+(?P<side>left|right)"
    r"|(?P<pos>nearest|closest|farthest|furthest)(?:\s+(?:to|from))?\s+(?:the\s+)?(?:robot|arm|base|me))$"
)


def _normalized(name: str) -> str:
    return re.sub(r"\s+", " ", name.strip().rstrip(".!?,;: ").lower())


def resolve_name(name: str, known: list[str]) -> str:
    """Match a name from a question to a scene name.

    Verbatim first (names may carry punctuation, e.g. 'Brown potato.'), then case- and
    trailing-punctuation-insensitive, then by category ("mug" for a single "mug_1" or "red mug").
    Then a perceived object's id ("object 3", "#3"). When `known` is a scene's `ObjectNames`,
    attribute words narrow a category (or "object" / "one": any but the support) down: colours of
    the palette ("the red mug"), sizes ("the small blue one"), and a position or extreme picks one
    of several: left/leftmost and right/rightmost in the camera image, nearest/farthest from the
    robot base, tall/tallest, short/shortest, smallest, largest. Raises UnknownColourError for a
    colour word outside the palette, UnknownObjectError, or AmbiguousObjectError listing the candidates with
    how to tell them apart.
    """
    if name in known:
        return name
    key = _normalized(name)
    matches = [k for k in known if _normalized(k) == key]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise AmbiguousObjectError(name, matches, _describe(matches, known))
    by_category = _by_category(key, known)
    if len(by_category) == 1:
        return by_category[0]
    if len(by_category) > 1:
        raise AmbiguousObjectError(name, by_category, _describe(by_category, known))
    picked = _object_id(key, known) or _by_description(key, known)
    if picked is not None:
        return picked
    raise UnknownObjectError(name.strip(), list(known))


def _by_category(key: str, known: list[str]) -> list[str]:
    """The names whose category (from the name, or the scene object's own: a detector's label or a
    user-given name) is `key` or ends with it ("mug" for "red mug")."""
    key = re.sub(r"^the\s+", "", key)
    scene = known.scene if isinstance(known, ObjectNames) else None
    out = []
    for k in known:
        categories = {category_of(k)} | ({_normalized(scene.get(k).category)} if scene is not None else set())
        if any(c == key or c.endswith(" " + key) for c in categories):
            out.append(k)
    return out


# The colour and size words a reference may use (perceived attributes; core.perception.attributes).
PALETTE = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white", "grey")
_COLOUR_ALIASES = {"gray": "grey", "violet": "purple"}
# Colour words outside the palette: named in the error, so "the teal bowl" says what to say instead.
_OTHER_COLOURS = frozenset(
    "magenta cyan teal turquoise beige tan gold golden silver navy maroon olive lime khaki cream "
    "ivory indigo lavender crimson scarlet amber aqua coral salmon".split()
)
_SIZE_WORDS = {
    "small": "small",
    "little": "small",
    "tiny": "small",
    "medium": "medium",
    "large": "large",
    "big": "large",
}
# Superlatives (and tall/short, which pick the extreme when several are left): attribute, sign.
# One table for every position word, before the noun ("the leftmost bowl") or after it ("the bowl on the left").
_EXTREMES = {
    "left": ("u", 1.0),
    "leftmost": ("u", 1.0),
    "right": ("u", -1.0),
    "rightmost": ("u", -1.0),
    "nearest": ("reach", 1.0),
    "closest": ("reach", 1.0),
    "farthest": ("reach", -1.0),
    "furthest": ("reach", -1.0),
    "tallest": ("height", -1.0),
    "tall": ("height", -1.0),
    "highest": ("height", -1.0),
    "shortest": ("height", 1.0),
    "short": ("height", 1.0),
    "lowest": ("height", 1.0),
    "smallest": ("volume", 1.0),
    "largest": ("volume", -1.0),
    "biggest": ("volume", -1.0),
}
_ANY_OBJECT = frozenset({"object", "objects", "one", "thing", "item"})
_SUPPORT_CATEGORIES = frozenset({"table", "support", "floor", "ground", "desk", "counter", "workbench"})
_OBJECT_ID = re.compile(r"^(?:the\s+)?(?:object|id|item|number)\s*#?\s*(?P<n>\d+)$|^#\s*(?P<m>\d+)$")


class UnknownColourError(UnknownObjectError):
    """A reference uses a colour word outside the palette."""

    def __str__(self) -> str:
        return f"unknown colour {self.name!r} (in a reference); colours are: {', '.join(PALETTE)}"


@dataclass(frozen=True)
class _Description:
    """A reference taken apart: "the small red mug on the left" -> colour, size, extreme, noun."""

    colours: tuple[str, ...] = ()
    size: str = ""
    extreme: str = ""
    noun: str = ""


def _parse_description(key: str) -> _Description | None:
    """The words of a reference, or None when it has no attribute or position word (a plain name)."""
    m = _POSITION_AFTER.match(key)
    extreme = ""
    if m is not None:
        extreme = m.group("pos") or m.group("side")
        key = m.group("rest")
    words = re.sub(r"^(?:the|a|an|that)\s+", "", key).split()
    colours: list[str] = []
    size = ""
    while len(words) > 1 or (words and words[0] not in _ANY_OBJECT and _is_attribute_word(words[0])):
        word = words[0]
        if word in PALETTE or word in _COLOUR_ALIASES:
            colours.append(_COLOUR_ALIASES.get(word, word))
        elif word in _OTHER_COLOURS:
            raise UnknownColourError(word, list(PALETTE))
        elif word in _SIZE_WORDS:
            size = _SIZE_WORDS[word]
        elif word in _EXTREMES:
            extreme = word
        else:
            break
        words = words[1:]
        if words and words[0] == "one":
            words = words[1:]
    if not (colours or size or extreme):
        return None
    return _Description(tuple(colours), size, extreme, " ".join(words))


def _is_attribute_word(word: str) -> bool:
    return word in PALETTE or word in _COLOUR_ALIASES or word in _SIZE_WORDS or word in _EXTREMES


def _object_id(key: str, known: list[str]) -> str | None:
    """'object 3' / 'id 3' / '#3' -> 'object_3' (a perceived object's id); None when `key` is no id."""
    m = _OBJECT_ID.match(key)
    if m is None:
        return None
    name = f"object_{m.group('n') or m.group('m')}"
    if name not in known:
        raise UnknownObjectError(key, list(known))
    return name


def _by_description(key: str, known: list[str]) -> str | None:
    """The object an attribute or position phrase names ("the small red mug", "the leftmost object",
    "the bowl nearest the robot"); None when `key` has none of those words."""
    wanted = _parse_description(key)
    if wanted is None:
        return None
    if wanted.noun in _ANY_OBJECT or not wanted.noun:
        candidates = [k for k in known if category_of(k) not in _SUPPORT_CATEGORIES]
    else:
        candidates = _by_category(wanted.noun, known) or [k for k in known if _normalized(k) == wanted.noun]
    if not candidates:
        raise UnknownObjectError(wanted.noun or key, list(known))
    scene = known.scene if isinstance(known, ObjectNames) else None
    if scene is not None:
        candidates = _filtered(scene, candidates, wanted, key)
    if len(candidates) == 1:
        return candidates[0]
    if scene is None or not wanted.extreme:
        raise AmbiguousObjectError(key, candidates, _describe(candidates, known))
    column, sign = _EXTREMES[wanted.extreme]
    facts = _facts(scene, candidates)
    return min(candidates, key=lambda n: sign * facts[n][column])


def _filtered(scene: Scene, candidates: list[str], wanted: _Description, key: str) -> list[str]:
    """The candidates whose colour and size class match; UnknownObjectError listing them when none does."""
    kept = candidates
    for colour in wanted.colours:
        kept = [n for n in kept if colour in _colours_of(scene.get(n))]
    if wanted.size:
        kept = [n for n in kept if scene.get(n).size_class == wanted.size]
    if not kept:
        listed = [f"{n} ({_looks(scene.get(n))})" for n in candidates]
        raise UnknownObjectError(key, listed)
    return kept


def _colours_of(obj: SceneObject) -> set[str]:
    """Its perceived colour, and any palette word in its category ("red mug" in a scene file)."""
    words = set(obj.category.split()) & set(PALETTE)
    return words | ({obj.colour} if obj.colour else set())


def _looks(obj: SceneObject) -> str:
    """'red, small, 9 cm tall' (the attributes it has)."""
    parts = [obj.colour, obj.size_class, f"{obj.height_m * 100:.0f} cm tall"]
    if obj.name != obj.category and obj.category and not obj.category.startswith("object"):
        parts.insert(0, obj.category)
    return ", ".join(p for p in parts if p)


def _facts(scene: Scene, names: list[str]) -> dict[str, dict[str, float]]:
    """name -> image x of the box centre (u, pixels; inf when not in view), metres from the robot base on
    the floor plan (reach), box height (metres) and volume (cubic metres)."""
    objects = [scene.get(n) for n in names]
    centres = np.array([o.box.center for o in objects])  # (N, 3) world frame, metres
    uv, depth = scene.camera.project(centres)
    u = np.where(np.isfinite(uv[:, 0]) & (depth > 0), uv[:, 0], np.inf)
    base_xy = scene.base_to_world[:2, 3]
    reach = np.linalg.norm(centres[:, :2] - base_xy, axis=1)
    return {
        n: {"u": float(u[i]), "reach": float(reach[i]), "height": o.height_m, "volume": float(np.prod(o.box.size))}
        for i, (n, o) in enumerate(zip(names, objects))
    }


def _describe(candidates: list[str], known: list[str]) -> list[str]:
    """How to tell the candidates apart: the attributes that differ among them (colour, size, height),
    and their order left to right in the image and from the robot."""
    if not isinstance(known, ObjectNames) or len(candidates) < 2:
        return []
    scene = known.scene
    facts = _facts(scene, candidates)
    by_x = sorted(candidates, key=lambda n: facts[n]["u"])
    by_reach = sorted(candidates, key=lambda n: facts[n]["reach"])
    objects = {n: scene.get(n) for n in candidates}
    differs = {
        a: len({getattr(o, a) for o in objects.values()}) > 1 and all(getattr(o, a) for o in objects.values())
        for a in ("colour", "size_class")
    }
    out = []
    for n in candidates:
        side = "leftmost" if n == by_x[0] else "rightmost" if n == by_x[-1] else "between"
        near = "nearest the robot" if n == by_reach[0] else "farthest from the robot" if n == by_reach[-1] else ""
        looks = [getattr(objects[n], a) for a in ("colour", "size_class") if differs[a]]
        if objects[n].colour or objects[n].size_class:  # perceived: its height helps tell tall from short
            looks.append(f"{objects[n].height_m * 100:.0f} cm tall")
        out.append(", ".join(x for x in (*looks, f"{side} in the image", near) if x))
    return out


def _object_from_dict(index: int, data: Any) -> SceneObject:
    where = f"objects[{index}]"
    if not isinstance(data, dict) or "Name" not in data or "bbox_3d" not in data:
        raise SceneError(f"{where} needs 'Name' and 'bbox_3d'")
    name = validation.object_name(data["Name"], f"{where}.Name")
    values = validation.box_9dof(_one_box(data["bbox_3d"], f"{where}.bbox_3d"), f"{where}.bbox_3d")
    box = OrientedBox.from_9dof(values)
    facing: np.ndarray | None = box.rotation[:, 0]
    if "facing" in data:
        facing = None if data["facing"] is None else _facing(data["facing"], f"{where}.facing")
    category = data.get("category") or ""
    if not isinstance(category, str):
        raise SceneError(f"{where}.category must be a string")
    return SceneObject(name, box, facing, category=category)


def _one_box(value: Any, field: str) -> Any:
    """The 9 numbers of `bbox_3d`: [[9 numbers]] as in the annotations, or [9] (one box per object:
    a second box is an error, not ignored)."""
    if not isinstance(value, list) or not value:
        raise SceneError(f"{field} must be a list of 9 numbers (or [[9 numbers]]), got {type(value).__name__}")
    if all(isinstance(v, list) for v in value):
        if len(value) != 1:
            raise SceneError(f"{field} holds {len(value)} boxes; an object has exactly one")
        return value[0]
    return value


def _facing(value: Any, field: str) -> np.ndarray:
    """(3,) finite non-zero direction, world frame; its length does not matter (normalised later)."""
    f = validation.finite_array(value, (3,), field)
    if not np.any(f):
        raise SceneError(f"{field} must be a non-zero vector")
    return f / np.abs(f).max()  # scaled so that squaring it in a norm cannot overflow


def scene_from_dict(data: Any) -> Scene:
    """Build a Scene from the RoboSpatial annotation shape; SceneError naming the field on any malformed one."""
    if not isinstance(data, dict):
        raise SceneError("a scene must be a JSON object")
    for key in ("image_size", "camera_annotations", "objects"):
        if key not in data:
            raise SceneError(f"scene is missing {key!r}")
    cam = data["camera_annotations"]
    if not isinstance(cam, dict) or "intrinsic" not in cam or "extrinsic" not in cam:
        raise SceneError("camera_annotations needs 'intrinsic' and 'extrinsic'")
    size = validation.finite_array(data["image_size"], (2,), "image_size")
    K = validation.intrinsics(cam["intrinsic"], "intrinsic")
    camera = CameraModel(K, size[0], size[1], validation.rigid_transform(cam["extrinsic"], "extrinsic"))
    if not isinstance(data["objects"], list):
        raise SceneError("'objects' must be a list")
    objects = tuple(_object_from_dict(i, o) for i, o in enumerate(data["objects"]))
    return Scene(objects, camera, data.get("robot_base_to_world", np.eye(4)))  # Scene validates the base


def load_scene(path: str | Path) -> Scene:
    """Read a scene JSON file; SceneError (one line) when missing or malformed."""
    return scene_from_dict(read_scene_json(path))


def read_scene_json(path: str | Path) -> Any:
    """The parsed JSON of a scene file; SceneError (one line) when missing or not JSON."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SceneError(f"scene file not found: {path}") from None
    except IsADirectoryError:
        raise SceneError(f"scene path is a directory, not a file: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SceneError(f"scene file {path} is not valid JSON: {exc}") from None
    except RecursionError:  # e.g. arrays nested 100,000 deep
        raise SceneError(f"scene file {path} is nested too deeply to be a scene") from None
    return data


def box_to_9dof(box: OrientedBox) -> list[float]:
    """Inverse of OrientedBox.from_9dof for R = Rz(a) Rx(b) Ry(c)."""
    R = box.rotation
    rx = float(np.arcsin(np.clip(R[2, 1], -1.0, 1.0)))
    rz = float(np.arctan2(-R[0, 1], R[1, 1]))
    ry = float(np.arctan2(-R[2, 0], R[2, 2]))
    return [*map(float, box.center), *map(float, box.size), rz, rx, ry]


def scene_to_dict(scene: Scene) -> dict[str, Any]:
    """The RoboSpatial annotation shape (plus our optional extensions)."""
    cam = scene.camera
    K4 = np.eye(4)
    K4[:3, :3] = cam.K
    objects = []
    for o in scene.objects:
        entry: dict[str, Any] = {"Name": o.name, "bbox_3d": [box_to_9dof(o.box)]}
        if o.facing is None or not np.allclose(o.facing, o.box.rotation[:, 0]):
            entry["facing"] = None if o.facing is None else [float(v) for v in o.facing]
        objects.append(entry)
    out: dict[str, Any] = {
        "image_size": [cam.width, cam.height],
        "camera_annotations": {"intrinsic": K4.tolist(), "extrinsic": cam.camera_to_world.tolist()},
        "objects": objects,
    }
    if not np.allclose(scene.base_to_world, np.eye(4)):
        out["robot_base_to_world"] = scene.base_to_world.tolist()
    return out
