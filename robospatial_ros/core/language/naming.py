"""Naming commands: an operator gives a perceived object a name at run time.

"call object 3 the mug", "call the red object mug", "name the small blue one 'cup'",
"name object_2 as bowl". The reference is any object reference (`core.scene.resolve_name`: an id,
attributes, a position); the name is the last word, the words after the last "the", or a quoted text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from robospatial_ros.core.errors import QuestionError
from robospatial_ros.core.language.questions import check_length


class NamingError(QuestionError):
    """A naming command could not be understood."""


@dataclass(frozen=True)
class NamingCommand:
    reference: str  # as written: "object 3", "the red object"
    name: str  # the name to give it: "mug"


_VERB = re.compile(r"^(?:(?:please|robot,?)\s+)*(?:call|name|label)\s+", re.I)
_QUOTED = re.compile(r"""^(?P<ref>.+?)\s+(?:as\s+)?(?P<q>["'])(?P<name>[^"']+)(?P=q)$""")
_THE = re.compile(r"^(?P<ref>.+\S)\s+(?:as\s+)?(?:the|a|an)\s+(?P<name>[\w -]+)$", re.I)
_LAST = re.compile(r"^(?P<ref>.+?\S)\s+(?:as\s+)?(?P<name>[\w-]+)$", re.I)


def is_naming(text: str) -> bool:
    """Whether `text` starts like a naming command ("call ...", "name ...")."""
    return isinstance(text, str) and _VERB.match(" ".join(text.split())) is not None


def parse_naming(text: str) -> NamingCommand:
    """'call object 3 the mug' -> NamingCommand('object 3', 'mug'); NamingError when it is not one.
    Longer than MAX_TEXT_CHARS is refused first, as questions and commands are (the patterns below
    backtrack on long unquoted text)."""
    check_length(str(text), "naming command")
    body = " ".join(str(text).split()).rstrip(".!?").strip()
    verb = _VERB.match(body)
    if verb is None:
        raise NamingError(f"not a naming command: {body!r}; try 'call object 3 the mug'")
    rest = body[verb.end() :]
    for pattern in (_QUOTED, _THE, _LAST):
        m = pattern.match(rest)
        if m is not None and not re.fullmatch(r"(?:the|a|an|one)", m.group("ref").strip(), re.I):
            name = m.group("name").strip()
            if name and not name.isdigit():  # "call object 3" names nothing
                return NamingCommand(m.group("ref").strip(), name)
    raise NamingError(f"a naming command needs an object and a name: {body!r}; try 'call object 3 the mug'")
