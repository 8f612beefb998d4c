"""ROS parameters derived from the core's config dataclasses (one source of truth).

Each field becomes a parameter `<prefix><field>` with the dataclass default (a nested config
dataclass becomes `<prefix><field>.<subfield>`); values set by a YAML parameter file or the
command line are read back through the same validation as `--config` files
(`configio.from_mapping`), so a bad value is a ConfigError naming it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node

from robospatial_ros.core.configio import from_mapping

C = TypeVar("C")


def _ros_value(value: Any) -> Any:
    """ROS arrays are homogeneous lists: tuples become lists, [0, 45.5] all floats."""
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, list) and any(isinstance(v, float) for v in value):
        return [float(v) for v in value]
    return value


def _flat(config: Any, prefix: str) -> dict[str, Any]:
    """{parameter name: value} for a dataclass instance, nested dataclasses flattened with dots."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            out.update(_flat(value, f"{prefix}{f.name}."))
        else:
            out[prefix + f.name] = _ros_value(value)
    return out


def declare_config(node: Node, config: Any, prefix: str = "") -> None:
    """Declare one parameter per field of the dataclass instance `config` (its values as defaults)."""
    for name, value in _flat(config, prefix).items():
        descriptor = ParameterDescriptor(dynamic_typing=True, description=f"{type(config).__name__} {name}")
        node.declare_parameter(name, value, descriptor)


def _read(node: Node, cls: type, prefix: str, defaults: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        default = getattr(defaults, f.name)
        if dataclasses.is_dataclass(default):
            sub = _read(node, type(default), f"{prefix}{f.name}.", default)
            values[f.name] = from_mapping(type(default), sub, source=f"{node.get_name()} parameters")
            continue
        value = node.get_parameter(prefix + f.name).value
        values[f.name] = list(value) if isinstance(value, (list, tuple)) or hasattr(value, "tolist") else value
    return values


def read_config(node: Node, cls: type[C], prefix: str = "") -> C:
    """Build `cls` from the node's parameters (declared with `declare_config`); ConfigError if invalid."""
    return from_mapping(cls, _read(node, cls, prefix, cls()), source=f"{node.get_name()} parameters")
