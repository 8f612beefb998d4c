"""The tabletop objects: MuJoCo primitives with realistic sizes, masses and friction.

Each object is one free body whose origin is the object's centre (the middle of its extents
in its own frame), so `object_pose` reports a point inside the object. Every geom is named
`"<object>/<part>"`, which maps the segmentation image back to object names. The body's x
axis is the object's "facing" (the mug's handle side, the banana's length).

Pickable objects fit a top-down Panda grasp (the hand opens 8 cm): one horizontal extent is at
most 6.6 cm. The bowl and the plate are placement references, too wide to pick.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from robospatial_ros.core.geometry import rot_y, rot_z

# Sliding, torsional and rolling friction of the objects (plastic, ceramic, cardboard on wood).
OBJECT_FRICTION = (0.9, 0.005, 0.0001)


@dataclass(frozen=True)
class Part:
    """One primitive in the object's body frame; `size` follows MuJoCo (half sizes, radius, half length)."""

    name: str
    kind: str  # "box" | "cylinder" | "capsule" | "sphere"
    size: tuple[float, ...]
    pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rotation: tuple[tuple[float, ...], ...] = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
    rgba: tuple[float, float, float, float] | None = None  # None: the object's colour

    @property
    def volume_m3(self) -> float:
        s = self.size
        if self.kind == "box":
            return 8.0 * s[0] * s[1] * s[2]
        if self.kind == "cylinder":
            return np.pi * s[0] ** 2 * 2.0 * s[1]
        if self.kind == "capsule":
            return np.pi * s[0] ** 2 * 2.0 * s[1] + 4.0 / 3.0 * np.pi * s[0] ** 3
        return 4.0 / 3.0 * np.pi * s[0] ** 3

    def half_extents(self, R: np.ndarray) -> np.ndarray:
        """(3,) half extents along the axes of a frame in which the part's body has rotation R (3, 3)."""
        return primitive_half_extents(self.kind, self.size, R @ np.asarray(self.rotation))


def primitive_half_extents(kind: str, size: tuple[float, ...] | np.ndarray, R: np.ndarray) -> np.ndarray:
    """(3,) exact half extents of a MuJoCo primitive with rotation R (3, 3) in the measuring frame.

    The tightest axis-aligned box around a rotated primitive, in closed form (no sampling).
    """
    s = np.asarray(size, dtype=float)
    if kind == "box":
        return np.abs(R) @ s[:3]
    if kind == "sphere":
        return np.full(3, s[0])
    axis = R[:, 2]  # cylinders and capsules run along their local z
    if kind == "capsule":
        return np.abs(axis) * s[1] + s[0]
    if kind == "cylinder":  # the rim circle's extent plus the axis' half length
        return np.abs(axis) * s[1] + s[0] * np.sqrt(np.clip(1.0 - axis**2, 0.0, 1.0))
    raise ValueError(f"unsupported primitive {kind!r}")


def primitive_outline_xy(kind: str, size: np.ndarray, R: np.ndarray, pos: np.ndarray, n: int = 48) -> np.ndarray:
    """(M, 2) world x/y points whose convex hull is the primitive's top-down outline (to ~0.1 %).

    R: (3, 3) geom rotation, pos: (3,) geom centre, world frame. Round parts are sampled with
    `n` points per circle, enough for the footprint rectangle to be exact to a fraction of a mm.
    """
    s = np.asarray(size, dtype=float)
    if kind == "box":
        signs = np.array([[i, j, k] for i in (-1, 1) for j in (-1, 1) for k in (-1, 1)], dtype=float)
        return (pos + (signs * s[:3]) @ R.T)[:, :2]
    t = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    circle = np.stack([np.cos(t), np.sin(t), np.zeros(n)], axis=1)  # unit circle in the local x-y plane
    if kind == "sphere":
        return pos[:2] + s[0] * circle[:, :2]
    ends = [pos + R[:, 2] * s[1], pos - R[:, 2] * s[1]]  # cylinder / capsule axis end points
    if kind == "cylinder":  # the two rim circles
        rims = (circle * s[0]) @ R.T
        return np.concatenate([(e + rims)[:, :2] for e in ends])
    if kind == "capsule":  # spheres at both ends: their horizontal great circles bound the outline
        return np.concatenate([e[:2] + s[0] * circle[:, :2] for e in ends])
    raise ValueError(f"unsupported primitive {kind!r}")


@dataclass(frozen=True)
class ObjectModel:
    """A named object: its parts (body frame, metres), mass (kg), colour and whether it can be picked."""

    name: str
    parts: tuple[Part, ...]
    mass_kg: float
    rgba: tuple[float, float, float, float]
    pickable: bool = True

    @cached_property
    def half_extents(self) -> np.ndarray:
        """(3,) half extents of the object in its own frame (it is centred on its origin)."""
        ext = np.zeros(3)
        for p in self.parts:
            ext = np.maximum(ext, np.abs(p.pos) + p.half_extents(np.eye(3)))
        return ext

    @property
    def radius_m(self) -> float:
        """Radius of the object's footprint about its origin (the layout keeps these apart)."""
        return float(np.hypot(*self.half_extents[:2]))

    @property
    def density_kg_m3(self) -> float:
        return self.mass_kg / sum(p.volume_m3 for p in self.parts)


def _capsule(name: str, a: np.ndarray, b: np.ndarray, radius: float) -> Part:
    """A capsule between points a and b (body frame), as a Part with its z axis along b - a."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    d = b - a
    length = float(np.linalg.norm(d))
    z = d / length
    x = np.cross([0.0, 1.0, 0.0], z) if abs(z[1]) < 0.9 else np.cross(z, [1.0, 0.0, 0.0])
    x /= np.linalg.norm(x)
    R = np.stack([x, np.cross(z, x), z], axis=1)
    return Part(name, "capsule", (radius, length / 2.0), tuple((a + b) / 2.0), tuple(map(tuple, R)))


def _recentred(model: ObjectModel) -> ObjectModel:
    """The same object with its origin moved to the centre of its extents."""
    lo = np.min([np.asarray(p.pos) - p.half_extents(np.eye(3)) for p in model.parts], axis=0)
    hi = np.max([np.asarray(p.pos) + p.half_extents(np.eye(3)) for p in model.parts], axis=0)
    shift = (lo + hi) / 2.0
    parts = tuple(
        Part(p.name, p.kind, p.size, tuple(np.asarray(p.pos) - shift), p.rotation, p.rgba) for p in model.parts
    )
    return ObjectModel(model.name, parts, model.mass_kg, model.rgba, model.pickable)


def mug() -> ObjectModel:
    """6.6 cm wide, 9 cm tall ceramic mug, handle on +x (8.3 cm including the handle)."""
    r, h = 0.033, 0.045
    coffee = Part("coffee", "cylinder", (r - 0.004, 0.0008), (0.0, 0.0, h), rgba=(0.25, 0.13, 0.06, 1.0))
    parts = (
        Part("body", "cylinder", (r, h)),
        coffee,
        _capsule("handle_top", (r - 0.005, 0, 0.025), (0.045, 0, 0.025), 0.005),
        _capsule("handle_side", (0.045, 0, 0.025), (0.045, 0, -0.025), 0.005),
        _capsule("handle_bottom", (0.045, 0, -0.025), (r - 0.005, 0, -0.025), 0.005),
    )
    return _recentred(ObjectModel("mug", parts, 0.30, (0.80, 0.15, 0.15, 1.0)))


def bowl(segments: int = 16) -> ObjectModel:
    """A 15 cm wide, 6 cm deep dish: a base disc and a ring of outward-tilted wall plates."""
    parts = [Part("base", "cylinder", (0.045, 0.004), (0.0, 0.0, 0.004))]
    r0, z0, r1, z1 = 0.043, 0.004, 0.072, 0.058  # wall from the base rim (r0, z0) up to the lip (r1, z1)
    length, tilt = float(np.hypot(r1 - r0, z1 - z0)), float(np.arctan2(r1 - r0, z1 - z0))
    rm, zm = (r0 + r1) / 2.0, (z0 + z1) / 2.0
    half_width = np.pi * rm / segments * 1.08  # slight overlap: no gaps between plates
    for i in range(segments):
        phi = 2.0 * np.pi * i / segments
        R = rot_z(phi) @ rot_y(tilt)
        pos = (rm * np.cos(phi), rm * np.sin(phi), zm)
        parts.append(Part(f"wall{i}", "box", (0.0025, half_width, length / 2.0), pos, tuple(map(tuple, R))))
    return _recentred(ObjectModel("bowl", tuple(parts), 0.30, (0.55, 0.75, 0.90, 1.0), pickable=False))


def plate() -> ObjectModel:
    """A 20 cm dinner plate, 1.5 cm thick."""
    return ObjectModel("plate", (Part("disc", "cylinder", (0.10, 0.0075)),), 0.40, (0.95, 0.95, 0.92, 1.0), False)


def box() -> ObjectModel:
    """A 5.5 x 9 x 7 cm cardboard box (a tea box)."""
    return ObjectModel("box", (Part("box", "box", (0.045, 0.0275, 0.035)),), 0.15, (0.85, 0.55, 0.20, 1.0))


def can() -> ObjectModel:
    """A 330 ml drink can: 6.6 cm diameter, 12.2 cm tall, full."""
    return ObjectModel("can", (Part("can", "cylinder", (0.033, 0.061)),), 0.35, (0.20, 0.55, 0.25, 1.0))


def banana(segments: int = 3) -> ObjectModel:
    """A 20 cm banana: capsules along a gentle arc (radius 25 cm, 40 degrees), lying on the table."""
    radius_arc, half_angle, thickness = 0.25, np.radians(20.0), 0.017
    angles = np.linspace(-half_angle, half_angle, segments + 1)
    pts = np.stack([radius_arc * np.sin(angles), radius_arc * np.cos(angles), np.zeros_like(angles)], axis=1)
    parts = tuple(_capsule(f"seg{i}", pts[i], pts[i + 1], thickness) for i in range(segments))
    return _recentred(ObjectModel("banana", parts, 0.12, (0.95, 0.85, 0.20, 1.0)))


def block() -> ObjectModel:
    """A 4.5 cm wooden cube."""
    return ObjectModel("block", (Part("cube", "box", (0.0225, 0.0225, 0.0225)),), 0.08, (0.30, 0.45, 0.85, 1.0))


def cup() -> ObjectModel:
    """A paper cup: 7 cm wide, 9.5 cm tall, nearly empty."""
    return ObjectModel("cup", (Part("cup", "cylinder", (0.035, 0.0475)),), 0.05, (0.92, 0.92, 0.80, 1.0))


CATALOG = {f.__name__: f for f in (mug, bowl, plate, box, can, banana, block, cup)}
DEFAULT_OBJECTS = ("mug", "bowl", "plate", "box", "can", "banana", "block")


def object_model(name: str) -> ObjectModel:
    """The catalog entry `name` (KeyError lists the known names)."""
    if name not in CATALOG:
        raise KeyError(f"unknown sim object {name!r}; known: {', '.join(CATALOG)}")
    return CATALOG[name]()
