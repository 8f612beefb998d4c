"""The vocabulary of RoboSpatial queries: types, frames and relations."""

from __future__ import annotations

from enum import Enum


class QueryType(str, Enum):
    CONFIGURATION = "configuration"  # is A <rel> B?            -> yes/no
    COMPATIBILITY = "compatibility"  # can A fit <rel> B?        -> yes/no
    CONTEXT = "context"  # points in free space <rel> B   -> points


class Frame(str, Enum):
    EGO = "ego"  # camera-centric
    WORLD = "world"  # the reference generator's world frame (or the robot base, see config)
    OBJECT = "object"  # the reference object's own front/left


class Relation(str, Enum):
    LEFT = "left"
    RIGHT = "right"
    IN_FRONT = "in front"
    BEHIND = "behind"
    ABOVE = "above"
    BELOW = "below"
    ON_TOP = "on top"

    @property
    def opposite(self) -> Relation:
        return _OPPOSITES[self]


_OPPOSITES = {
    Relation.LEFT: Relation.RIGHT,
    Relation.RIGHT: Relation.LEFT,
    Relation.IN_FRONT: Relation.BEHIND,
    Relation.BEHIND: Relation.IN_FRONT,
    Relation.ABOVE: Relation.BELOW,
    Relation.BELOW: Relation.ABOVE,
    Relation.ON_TOP: Relation.ON_TOP,
}

PLANAR = (Relation.IN_FRONT, Relation.BEHIND, Relation.LEFT, Relation.RIGHT)
CONFIGURATION_RELATIONS = (*PLANAR, Relation.ABOVE, Relation.BELOW)
# on top is asked in the world frame only (as the reference generator does).
COMPATIBILITY_RELATIONS = {Frame.EGO: PLANAR, Frame.OBJECT: PLANAR, Frame.WORLD: (*PLANAR, Relation.ON_TOP)}
CONTEXT_RELATIONS = PLANAR

# The generator's frame phrases (configuration/compatibility, then context).
FRAME_PHRASES = {
    Frame.EGO: "from the camera's perspective",
    Frame.WORLD: "from the world's perspective",
    Frame.OBJECT: "from the second object's perspective",
}
CONTEXT_FRAME_PHRASES = {**FRAME_PHRASES, Frame.OBJECT: "from the object's perspective"}
