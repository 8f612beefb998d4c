"""The frame rule: which axes decide left / right / in front / behind for a query's frame.

RoboSpatial asks each relation in three frames (docs/architecture.md, "Frames"). Above / below compare true
world heights in every frame, so the rule only concerns the four planar sides:

- ego: the camera's view. Left / right compare image columns of the objects' projected silhouettes,
  in front / behind compare optical depth (nearer the camera is in front).
- world: the reference generator (NVlabs/RoboSpatial) reads the world frame's planar sides exactly
  as ego does: the same image columns, the same camera depth. That is our default
  (`world_heading: camera`), so world and ego answers agree on the four sides. With
  `world_heading: base` they follow the robot base axes instead (REP-103: x forward, y left, z up):
  left is toward +y of the base, in front is nearer the base along its x axis, whatever the camera's
  pose (a camera facing the robot sees the base's left on its image right).
- object: the reference object's own axes: forward is its facing (box axis 0 in annotations, else
  the horizontal direction toward the camera), right = forward x up.

The rule also decides which points an answer may use: the camera and object rules read sides off
the image (as the reference generator does), so they consider only points the camera sees; the base
rule is a question about the world and considers every free point, seen or not.
"""

from __future__ import annotations

from enum import Enum

from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.core.spatial.types import Frame


class FrameRule(str, Enum):
    """The axes that decide the planar sides of a query (see the module docstring)."""

    CAMERA = "camera"  # image columns and optical depth: ego, and world under world_heading camera
    BASE = "base"  # the robot base axes: world under world_heading base
    OBJECT = "object"  # the reference object's forward / right

    @property
    def image_based(self) -> bool:
        """Sides are read off the camera image: only points the camera sees can answer."""
        return self is not FrameRule.BASE


def frame_rule(frame: Frame, config: SpatialConfig) -> FrameRule:
    """The rule `frame` follows under `config` (its `world_heading` decides the world frame's)."""
    if frame is Frame.OBJECT:
        return FrameRule.OBJECT
    if frame is Frame.WORLD and config.world_heading == "base":
        return FrameRule.BASE
    return FrameRule.CAMERA


def uses_base_axes(frame: Frame, config: SpatialConfig) -> bool:
    """Whether `frame`'s left / right / in front / behind follow the robot base axes (not the camera's view)."""
    return frame_rule(frame, config) is FrameRule.BASE
