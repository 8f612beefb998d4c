"""`--set KEY=VALUE` overrides, shared by every sub-command that takes a config."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import yaml

from robospatial_ros.core.errors import ConfigError

C = TypeVar("C")


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """`KEY=VALUE` pairs, each VALUE read as YAML (so 0.01, true, [0, 90] keep their types)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ConfigError(f"--set {key}: cannot read value {value!r}") from None
    return out


def load_with_overrides(cls: type[C], path: str | None, items: Sequence[str], extra: dict[str, Any] | None = None) -> C:
    """A `cls` config: defaults < YAML at `path` < `--set` items < `extra` (configio merges dotted keys)."""
    from robospatial_ros.core.configio import load_config

    return load_config(cls, path, {**parse_overrides(items), **(extra or {})})
