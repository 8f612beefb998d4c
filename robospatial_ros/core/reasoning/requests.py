"""One text request to the reasoner: tell a placement command from a question, and report a
placement as an answer (what the reasoner node publishes, kept free of ROS so it is tested here).
"""

from __future__ import annotations

import numpy as np

from robospatial_ros.core.errors import QuestionError, one_line
from robospatial_ros.core.language.commands import COMMAND_START, CommandError, PlacementCommand, parse_command
from robospatial_ros.core.language.naming import NamingCommand, is_naming, parse_naming
from robospatial_ros.core.language.questions import Query, parse_question, split_frame_phrase
from robospatial_ros.core.reasoning.placement import Placement
from robospatial_ros.core.reasoning.reasoner import Answer
from robospatial_ros.core.scene import resolve_name
from robospatial_ros.core.spatial.types import QueryType
from robospatial_ros.core.spatial.view import SceneView


def parse_request(text: str, names: list[str]) -> PlacementCommand | NamingCommand | Query:
    """A naming command ("call object 3 the mug": its reference resolved to the object's id) or a
    placement command if `text` is one, else a question; the most helpful RoboSpatialError otherwise."""
    if is_naming(text):
        named = parse_naming(text)
        return NamingCommand(resolve_name(named.reference, names), named.name)
    try:
        return parse_command(text, names)
    except CommandError:
        body = split_frame_phrase(" ".join(str(text).split()))[0]
        if not body or COMMAND_START.match(body):
            raise
    try:
        return parse_question(text, names)
    except QuestionError as exc:
        raise QuestionError(
            f"{one_line(text, 80)!r} is neither a placement command (e.g. 'put the mug to the left of the bowl') "
            f"nor a question I understand: {exc}"
        ) from None


def naming_text(cmd: NamingCommand) -> str:
    """The naming command as the perception node reads it on the names topic: 'call object_3 "mug"'."""
    return f'call {cmd.reference} "{cmd.name}"'


def placement_answer(
    view: SceneView, cmd: PlacementCommand, placement: Placement, text: str, notes: list[str]
) -> Answer:
    """The placement as a context-style answer: the candidates the camera sees (at most the configured
    number of context points) as points, and a summary of the chosen spot as the text."""
    # (N, 3) world frame, metres, best first
    cands = np.asarray(placement.candidates_xyz, dtype=float).reshape(-1, 3)[: view.config.max_context_points]
    uv, depth = view.scene.camera.project(cands)
    seen = np.isfinite(uv).all(axis=1) & (depth > 0)
    query = Query(QueryType.CONTEXT, cmd.frame, cmd.relation, cmd.reference, cmd.target, text, cmd.frame_given)
    x, y, z = (float(v) for v in placement.xyz)
    turn = np.degrees(placement.yaw_offset_rad)
    summary = (
        f"place the {cmd.target}{_looks(view, cmd.target)} at ({x:.3f}, {y:.3f}, {z:.3f}) m, turned {turn:.0f} deg"
    )
    return Answer(query, summary, None, view.scene.camera.normalize(uv[seen]), cands[seen], assumptions=notes)


def _looks(view: SceneView, name: str) -> str:
    """' (red, small)' for a perceived object with attributes, so the user can refer back to it; else ''."""
    obj = view.scene.get(name)
    words = [w for w in (obj.user_name, obj.colour, obj.size_class) if w and w != name]
    return f" ({', '.join(words)})" if words else ""
