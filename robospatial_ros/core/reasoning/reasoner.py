"""The geometric reasoner: answers RoboSpatial questions from a Scene, no model weights.

`Answer` is the one answer type every backend returns (the VLM backends fill
the same fields), so nodes, the CLI and the evaluation harness need not care
which backend produced it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robospatial_ros.core.language.questions import Query, parse_question
from robospatial_ros.core.scene import Scene
from robospatial_ros.core.spatial.compatibility import Fit, compatibility
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.core.spatial.configuration import configuration
from robospatial_ros.core.spatial.context import context_points
from robospatial_ros.core.spatial.frames import FrameRule, frame_rule
from robospatial_ros.core.spatial.types import Frame, QueryType, Relation
from robospatial_ros.core.spatial.view import SceneView


def format_points(points_2d: np.ndarray) -> str:
    """'[(0.240, 0.902), ...]': normalized, 3 decimals, the generator's answer format."""
    return "[" + ", ".join(f"({x:.3f}, {y:.3f})" for x, y in np.asarray(points_2d).reshape(-1, 2)) + "]"


@dataclass
class Answer:
    """An answer to one query. Points are best first."""

    query: Query
    text: str  # "Yes", "No" or "[(x, y), ...]"
    yes: bool | None = None  # configuration / compatibility
    points_2d: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # (N, 2) normalized image x, y
    points_3d: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # (N, 3) world frame, metres
    placement: Fit | None = None  # compatibility: where A would go
    assumptions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        q = self.query
        out: dict[str, Any] = {
            "type": q.type.value,
            "frame": q.frame.value,
            "relation": q.relation.value,
            "object": q.target,
            "reference": q.reference,
            "answer": self.text,
            "yes": self.yes,
            "points_2d": np.round(self.points_2d, 3).tolist(),
            "points_3d": np.round(self.points_3d, 4).tolist(),
            "assumptions": list(self.assumptions),
        }
        if self.placement is not None and self.placement.fits:
            out["placement"] = {
                "xyz": [*np.round(self.placement.xy, 4).tolist(), round(float(self.placement.z), 4)],
                "yaw_offset_deg": self.placement.yaw_offset_deg,
            }
        return out


class GeometricReasoner:
    """Answers questions with the spatial core (docs/architecture.md, "Spatial semantics")."""

    name = "geometric"

    def __init__(self, config: SpatialConfig | None = None):
        self.config = config or SpatialConfig()

    def ask(self, scene: Scene, question: str, **overrides: Any) -> Answer:
        """Parse and answer free text; raises a RoboSpatialError on bad input."""
        query = parse_question(question, scene.names, overrides.get("query_type"), overrides.get("frame"))
        return self.answer(SceneView(scene, self.config), query)

    def answer(self, view: SceneView, query: Query) -> Answer:
        """Answer a parsed query on a (possibly shared, cached) SceneView."""
        scene = view.scene
        ref = scene.get(query.reference)
        notes = _assumptions(view, query)
        if query.type is QueryType.CONTEXT:
            cands = context_points(view, ref, query.frame, query.relation)
            pts2d = scene.camera.normalize(cands.uv)
            return Answer(query, format_points(pts2d), None, pts2d, cands.xyz, assumptions=notes)
        target = scene.get(query.target or "")
        if query.type is QueryType.COMPATIBILITY:
            fit = compatibility(view, target, ref, query.frame, query.relation)
            return Answer(query, "Yes" if fit.fits else "No", fit.fits, placement=fit, assumptions=notes)
        holds = query.relation in configuration(view, target, ref, query.frame)
        # The camera rule compares what the camera sees: an object out of view has no side.
        planar = query.relation not in (Relation.ABOVE, Relation.BELOW)
        if planar and frame_rule(query.frame, view.config) is FrameRule.CAMERA:
            for obj in (target, ref):
                if view.view(obj).ego is None:
                    notes.append(f"the {obj.name} is not in the camera's view")
        return Answer(query, "Yes" if holds else "No", holds, assumptions=notes)


def _assumptions(view: SceneView, query: Query) -> list[str]:
    notes = []
    if not query.frame_given:
        notes.append("no frame given: answered from the camera's perspective (ego)")
    if query.frame is Frame.OBJECT and query.relation not in (Relation.ABOVE, Relation.BELOW):
        ref_view = view.view(view.scene.get(query.reference))
        if ref_view.facing_assumed:
            notes.append(f"the {query.reference} has no known front: taken to face the camera")
    return notes
