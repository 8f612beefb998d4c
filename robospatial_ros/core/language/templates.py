"""The RoboSpatial generator's question templates, verbatim (docs/architecture.md, "Spatial semantics").

`{rel}` is the bare relation word, so the generator really writes 'behind of',
'above of' and 'fit left the'; we keep that so our data matches theirs.
"""

from __future__ import annotations

from robospatial_ros.core.spatial.types import CONTEXT_FRAME_PHRASES, FRAME_PHRASES, Frame, QueryType, Relation

CONFIGURATION = "<image>Is the {a} {rel} of the {b} {frame}? Final answer should be yes or no."
COMPATIBILITY = "<image>Can the {a} fit {rel} the {b} {frame}? Final answer should be yes or no."
CONTEXT = (
    "<image>In the image, there is the {b}. Pinpoint several points within the vacant space situated {rel} of the {b} "
    "{frame}. Your final answer should be formatted as a list of tuples, i.e. [(x1, y1), ...], where each tuple "
    "contains the x and y coordinates of a point satisfying the conditions above. The coordinates should be between "
    "0 and 1, indicating the normalized pixel locations of the points."
)


def template_question(kind: QueryType, frame: Frame, relation: Relation, reference: str, target: str | None) -> str:
    """The generator's wording for one query. Context strips trailing periods from the name, as it does."""
    if kind is QueryType.CONTEXT:
        name = reference.rstrip(".")
        return CONTEXT.format(b=name, rel=relation.value, frame=CONTEXT_FRAME_PHRASES[frame])
    template = CONFIGURATION if kind is QueryType.CONFIGURATION else COMPATIBILITY
    return template.format(a=target, b=reference, rel=relation.value, frame=FRAME_PHRASES[frame])
