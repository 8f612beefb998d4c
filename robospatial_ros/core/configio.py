"""Loading config dataclasses: defaults < YAML file < explicit overrides.

Every component has one frozen dataclass config validated in `__post_init__`.
This module only layers sources onto it; it never invents keys: an unknown key
in a file or an override is a `ConfigError` naming the valid ones.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from robospatial_ros.core.errors import ConfigError

C = TypeVar("C")


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """Read a YAML file whose top level is a mapping (an empty file is {})."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"config path is a directory, not a file: {path}") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1}, column {where.column + 1})" if where else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ConfigError(f"config file {path} is not valid YAML{at}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys, got {type(data).__name__}")
    return data


def check_field_types(config: Any) -> None:
    """Validate a config dataclass's values against its annotations (called in __post_init__).

    Numbers must be finite real numbers (bools are not numbers here); tuples must hold
    elements of the declared type. Raises ValueError naming the field.
    """
    hints = _type_hints(type(config))
    for f in dataclasses.fields(config):
        _check_value(f.name, getattr(config, f.name), hints[f.name])


def validate_fields(config: Any, label: str = "") -> None:
    """The `__post_init__` of a frozen config: YAML/Python lists become tuples, then check_field_types.

    Raises ConfigError (prefixed with `label`) naming the bad field.
    """
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if isinstance(value, list):
            object.__setattr__(config, f.name, tuple(value))
    try:
        check_field_types(config)
    except ValueError as exc:
        raise ConfigError(f"{label}: {exc}" if label else str(exc)) from None


def check_choices(name: str, values: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    """ConfigError unless `values` is a non-empty list of distinct names from `allowed`."""
    bad = [v for v in values if v not in allowed]
    if bad or not values or len(set(values)) != len(values):
        raise ConfigError(f"{name} must be distinct names from {', '.join(allowed)}, got {list(values)}")


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)  # slow (evaluates annotations): once per class


def _check_value(name: str, value: Any, annotation: Any) -> None:
    origin = typing.get_origin(annotation)
    if origin is tuple:
        if not isinstance(value, tuple):
            raise ValueError(f"{name} must be a list, got {value!r}")
        element = typing.get_args(annotation)[0]
        for i, v in enumerate(value):
            _check_value(f"{name}[{i}]", v, element)
    elif annotation in (float, int):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or (annotation is int and not float(value).is_integer()):
            raise ValueError(f"{name} must be a finite {annotation.__name__}, got {value!r}")
    elif annotation in (str, bool) and not isinstance(value, annotation):
        raise ValueError(f"{name} must be a {annotation.__name__}, got {value!r}")


def field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _coerce(value: Any, annotation: Any) -> Any:
    """Turn YAML/CLI scalars into the field's declared type (lists -> tuples)."""
    origin = typing.get_origin(annotation)
    if origin is tuple and isinstance(value, (list, tuple)):
        return tuple(value)
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation is float and isinstance(value, str):  # YAML 1.1 reads `1e-3` (no dot) as text
        try:
            return float(value)
        except ValueError:
            return value  # left for the type check, which names the field
    return value


def _nest_dotted(values: Mapping[str, Any]) -> dict[str, Any]:
    """{"hf.model_path": x} -> {"hf": {"model_path": x}} (CLI overrides of nested configs)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        head, dot, rest = str(key).partition(".")
        if not dot:
            out[key] = value
            continue
        inner = out.setdefault(head, {})
        if not isinstance(inner, dict):
            raise ConfigError(f"{head!r} is set both as a whole and as {key!r}")
        inner[rest] = value
    return out


def from_mapping(cls: type[C], values: Mapping[str, Any], source: str = "config") -> C:
    """Build `cls` from a mapping; unknown keys raise ConfigError.

    A field whose type is itself a config dataclass takes a nested mapping (YAML) or dotted
    keys (`hf.model_path`, from `--set`), merged over that field's defaults.
    """
    values = _nest_dotted(values)
    names = field_names(cls)
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(names)}")
    hints = _type_hints(cls)
    kwargs = {}
    for k, v in values.items():
        if dataclasses.is_dataclass(hints[k]) and isinstance(v, Mapping):
            v = from_mapping(hints[k], v, source=f"{source}: {k}")
        kwargs[k] = _coerce(v, hints[k])
    try:
        return cls(**kwargs)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ConfigError(f"{source}: {exc}") from None


def load_config(cls: type[C], path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> C:
    """Defaults, then the YAML file at `path` (if any), then `overrides`."""
    values: dict[str, Any] = {}
    if path is not None:
        values.update(read_yaml_mapping(path))
    if overrides:
        values.update(overrides)
    return from_mapping(cls, values, source=str(path) if path else "config")


def to_mapping(config: Any) -> dict[str, Any]:
    """Plain dict (tuples as lists) for YAML dumps and ROS parameters."""
    out = {}
    for name in field_names(type(config)):
        value = getattr(config, name)
        if dataclasses.is_dataclass(value):
            value = to_mapping(value)
        out[name] = list(value) if isinstance(value, tuple) else value
    return out
