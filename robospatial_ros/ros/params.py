"""ROS parameters derived from the core's config dataclasses (one source of truth).

Each field becomes a parameter `<prefix><field>` with the dataclass default; values set
by a YAML parameter file or the command line are read back through the same validation
as `--config` files (`configio.from_mapping`), so a bad value is a ConfigError naming it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node

from robospatial_ros.core.configio import from_mapping, to_mapping

C = TypeVar("C")


def _ros_value(value: Any) -> Any:
    """ROS arrays are homogeneous: [0, 45.5] must be all floats."""
    if isinstance(value, list) and any(isinstance(v, float) for v in value):
        return [float(v) for v in value]
    return value


def declare_config(node: Node, config: Any, prefix: str = "") -> None:
    """Declare one parameter per field of the dataclass instance `config` (its values as defaults)."""
    for name, value in to_mapping(config).items():
        descriptor = ParameterDescriptor(dynamic_typing=True, description=f"{type(config).__name__}.{name}")
        node.declare_parameter(prefix + name, _ros_value(value), descriptor)


def read_config(node: Node, cls: type[C], prefix: str = "") -> C:
    """Build `cls` from the node's parameters; ConfigError on an invalid value."""
    values = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        value = node.get_parameter(prefix + f.name).value
        values[f.name] = list(value) if isinstance(value, (list, tuple)) or hasattr(value, "tolist") else value
    return from_mapping(cls, values, source=f"{node.get_name()} parameters")
