"""Typed errors. Every bad input surfaces as one of these, never a bare crash.

All derive from `RoboSpatialError`, so a node or the CLI can catch one type,
report `str(exc)` (always a single readable line) and keep serving.
"""

from __future__ import annotations


def one_line(text: object, limit: int = 300) -> str:
    """`text` (a message, a model reply, an exception) on one line, cut to `limit` characters with '...'."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class RoboSpatialError(Exception):
    """Base class: a problem with the input, reported to the user as one line."""


class ConfigError(RoboSpatialError, ValueError):
    """A config file or value is invalid (unknown key, out-of-range value)."""


class SceneError(RoboSpatialError, ValueError):
    """A scene file or scene object is malformed."""


class UnknownObjectError(RoboSpatialError, KeyError):
    """A question names an object that is not in the scene."""

    def __init__(self, name: str, known: list[str]):
        self.name = name
        self.known = known
        super().__init__(name)

    def __str__(self) -> str:
        listed = ", ".join(repr(k) for k in self.known) or "none"
        return f"unknown object {self.name!r}; known objects: {listed}"


class AmbiguousObjectError(RoboSpatialError, KeyError):
    """A name matches several scene objects. `descriptions` (one per match, optional) say how they differ."""

    def __init__(self, name: str, matches: list[str], descriptions: list[str] | None = None):
        self.name = name
        self.matches = matches
        self.descriptions = list(descriptions or [])
        super().__init__(name)

    def __str__(self) -> str:
        if len(self.descriptions) != len(self.matches):
            return f"object name {self.name!r} is ambiguous; it matches: {', '.join(repr(m) for m in self.matches)}"
        listed = "; ".join(f"{m!r} ({d})" for m, d in zip(self.matches, self.descriptions))
        word = self.name.strip().removeprefix("the ").strip()
        return (
            f"object name {self.name!r} is ambiguous; it could be {listed}. Say which: by name (e.g. "
            f"{self.matches[-1]!r}) or by place (e.g. 'the left {word}', 'the {word} nearest the robot')"
        )


class QuestionError(RoboSpatialError, ValueError):
    """A question could not be understood (unsupported phrasing, relation or frame)."""


class UnsupportedQueryError(RoboSpatialError, ValueError):
    """A well-formed question asks for something the semantics do not define."""
