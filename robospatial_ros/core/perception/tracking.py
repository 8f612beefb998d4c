"""Stable ids across frames: perception numbers what it clusters anew on every frame (object_0, ...
left to right); the tracker renames them so an object keeps its id while it stays, and remembers the
names an operator gives ("call object 3 the mug").

Matching, per update: (1) near pairs first: a track and a perceived object whose footprint centres
lie within `max_match_distance_m` (cheapest first; a colour or size-class change costs extra);
(2) moved objects: a track not seen now and an object not matched, alike in colour, size class and
height, when that pairing is unique (the robot placed it elsewhere); (3) the rest get new ids.
Objects a detector or a mask named (not object_<k>) keep the detector's names (it owns them); user
names stick to those names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import numpy as np

from robospatial_ros.core.errors import ConfigError, SceneError, UnknownObjectError
from robospatial_ros.core.scene import Scene, SceneObject, resolve_name

_ANONYMOUS = re.compile(r"^object_\d+$")


@dataclass(frozen=True)
class TrackerConfig:
    """How far an object may move between updates and stay the same (metres), and how long an unseen one is kept."""

    max_match_distance_m: float = 0.08  # an object whose footprint centre moved at most this is the same one
    appearance_penalty_m: float = 0.04  # a colour or size-class change costs as much as this much motion
    moved_max_height_change_m: float = 0.03  # a moved object keeps its height within this
    forget_after_updates: int = 30  # a track unseen for more updates than this is dropped

    def __post_init__(self) -> None:
        if self.max_match_distance_m <= 0 or self.appearance_penalty_m < 0 or self.moved_max_height_change_m < 0:
            raise ConfigError("tracker distances must be positive (max_match_distance_m) or >= 0")
        if self.forget_after_updates < 0:
            raise ConfigError(f"forget_after_updates must be >= 0, got {self.forget_after_updates}")


@dataclass
class _Track:
    id: str
    xy: np.ndarray  # (2,) footprint centre, world frame, metres
    colour: str
    size_class: str
    height_m: float
    unseen: int = 0


@dataclass
class ObjectTracker:
    """`tracker.update(scene)` -> the scene with stable ids and user names; `name(...)` remembers a user name."""

    config: TrackerConfig = field(default_factory=TrackerConfig)
    support_name: str = "table"
    _tracks: dict[str, _Track] = field(default_factory=dict, init=False)
    _user_names: dict[str, str] = field(default_factory=dict, init=False)  # stable id -> operator's name
    _next: int = field(default=0, init=False)  # the next new id's number: ids are never reused
    _last: Scene | None = field(default=None, init=False)  # the last scene handed out (what names resolve in)

    def update(self, scene: Scene) -> Scene:
        """Rename the perceived objects of `scene` (not the support) to their stable ids."""
        anonymous = [o for o in scene.objects if o.name != self.support_name and _ANONYMOUS.match(o.name)]
        ids = self._match(anonymous)
        self._age(set(ids.values()))
        renamed = [o if o.name == self.support_name else self._named(o, ids.get(id(o), o.name)) for o in scene.objects]
        self._last = scene.with_objects(tuple(renamed))
        return self._last

    def name(self, reference: str, user_name: str) -> str:
        """Remember `user_name` for the object `reference` names in the last scene ("object 3", "the red mug");
        its id. UnknownObjectError / AmbiguousObjectError as for any reference, SceneError for an empty name."""
        user_name = " ".join(str(user_name).split()).strip().removeprefix("the ").strip()
        if not user_name:
            raise SceneError("an object's name must be non-empty")
        if self._last is None:
            raise UnknownObjectError(reference, [])
        target = resolve_name(reference, self._last.names)
        if target == self.support_name:
            raise SceneError(f"the support {self.support_name!r} cannot be renamed")
        self._user_names[target] = user_name
        return target

    @property
    def user_names(self) -> dict[str, str]:
        """id -> the name an operator gave it."""
        return dict(self._user_names)

    def _named(self, obj: SceneObject, stable: str) -> SceneObject:
        user = self._user_names.get(stable, "")
        return replace(obj, name=stable, category=user or obj.category, user_name=user)

    def _match(self, objects: list[SceneObject]) -> dict[int, str]:
        """id(object) -> its stable id; updates the tracks."""
        out: dict[int, str] = {}
        free = dict(self._tracks)
        pairs = sorted(
            (self._cost(o, t), k, t.id) for k, o in enumerate(objects) for t in free.values() if self._near(o, t)
        )
        for _, k, tid in pairs:  # cheapest first, each side used once (greedy; a handful of objects)
            if id(objects[k]) in out or tid not in free:
                continue
            out[id(objects[k])] = tid
            del free[tid]
        left = [o for o in objects if id(o) not in out]
        for o in left:  # moved: a unique look-alike among the tracks not seen here
            alike = [t for t in free.values() if self._alike(o, t)]
            rivals = [p for p in left if p is not o and any(self._alike(p, t) for t in alike)]
            if len(alike) == 1 and not rivals:
                out[id(o)] = alike[0].id
                del free[alike[0].id]
        for o in objects:
            if id(o) not in out:
                out[id(o)] = self._new_id()
            self._tracks[out[id(o)]] = _Track(
                out[id(o)], np.asarray(o.box.center[:2], float), o.colour, o.size_class, o.height_m
            )
        return out

    def _new_id(self) -> str:
        while f"object_{self._next}" in self._tracks:
            self._next += 1
        self._next += 1
        return f"object_{self._next - 1}"

    def _near(self, obj: SceneObject, track: _Track) -> bool:
        return float(np.linalg.norm(obj.box.center[:2] - track.xy)) <= self.config.max_match_distance_m

    def _cost(self, obj: SceneObject, track: _Track) -> float:
        changed = (obj.colour != track.colour) + (obj.size_class != track.size_class)
        return float(np.linalg.norm(obj.box.center[:2] - track.xy)) + self.config.appearance_penalty_m * changed

    def _alike(self, obj: SceneObject, track: _Track) -> bool:
        return (
            obj.colour == track.colour
            and obj.size_class == track.size_class
            and abs(obj.height_m - track.height_m) <= self.config.moved_max_height_change_m
        )

    def _age(self, seen: set[str]) -> None:
        for tid in list(self._tracks):
            track = self._tracks[tid]
            track.unseen = 0 if tid in seen else track.unseen + 1
            if track.unseen > self.config.forget_after_updates:
                del self._tracks[tid]
