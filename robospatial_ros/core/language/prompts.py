"""What the VLM is asked: RoboSpatial questions in the generator's wording, and grounding requests.

Questions use the verbatim generator templates (docs/architecture.md, "Contracts"), the wording our
generated training data uses, so a model fine-tuned on it sees what it was trained on.
"""

from __future__ import annotations

from robospatial_ros.core.language.commands import PlacementCommand
from robospatial_ros.core.language.questions import Query
from robospatial_ros.core.language.templates import template_question
from robospatial_ros.core.spatial.types import QueryType


def question_prompt(query: Query) -> str:
    """The generator's wording for a parsed query (the user's own text when it was not templated)."""
    return template_question(query.type, query.frame, query.relation, query.reference, query.target)


def placement_prompt(command: PlacementCommand) -> str:
    """A placement command asked as a context question: free points on the commanded side."""
    return template_question(QueryType.CONTEXT, command.frame, command.relation, command.reference, None)


def grounding_prompt() -> str:
    """Ask for labelled 2D boxes of every object in Qwen's grounding JSON (`bbox_2d` + `label`): the hybrid
    backend needs them all, since every object shapes the free space its answers are about."""
    return (
        "Locate every object on the table in the image and output the bounding boxes in JSON format, "
        'as a list like [{"bbox_2d": [x1, y1, x2, y2], "label": "name"}].'
    )
