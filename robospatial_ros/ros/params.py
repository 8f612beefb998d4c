"""ROS parameters derived from config dataclasses (one source of truth).

Each field becomes a parameter `<prefix><field>` with the dataclass default (a nested config
dataclass becomes `<prefix><field>.<subfield>`), described by its class, field name, type and
the field's `metadata["help"]` or source comment (what `ros2 param describe` shows). Values set
by a YAML parameter file or the command line are read back through the same validation as
`--config` files (`configio.from_mapping`), so a bad value is a ConfigError naming it.

Parameters are read once at start, so they are declared read-only: `ros2 param set` on one is
refused instead of silently ignored. A node may declare some `writable` and apply them while
running with `on_config_change`, which validates every set through the same dataclass.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import io
import textwrap
import tokenize
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter

from robospatial_ros.core.configio import from_mapping
from robospatial_ros.core.errors import ConfigError

C = TypeVar("C")

__all__ = ["declare_config", "describe_field", "on_config_change", "parameter_defaults", "read_config"]


def _ros_value(value: Any) -> Any:
    """ROS arrays are homogeneous lists: tuples become lists, [0, 45.5] all floats."""
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, list) and any(isinstance(v, float) for v in value):
        return [float(v) for v in value]
    return value


def _python(value: Any) -> Any:
    """A parameter value as plain Python: ROS arrays (array.array, numpy) become lists."""
    if isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
        return list(value)
    return value


@dataclasses.dataclass(frozen=True)
class _Field:
    """One parameter: its default and the dataclass field it comes from."""

    default: Any
    owner: type
    field: dataclasses.Field


def _fields(config: Any, prefix: str) -> dict[str, _Field]:
    """{parameter name: _Field} of a dataclass instance, nested dataclasses flattened with dots."""
    out: dict[str, _Field] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            out.update(_fields(value, f"{prefix}{f.name}."))
        else:
            out[prefix + f.name] = _Field(_ros_value(value), type(config), f)
    return out


def parameter_defaults(config: Any, prefix: str = "") -> dict[str, Any]:
    """{parameter name: ROS value} that `declare_config(node, config, prefix)` declares."""
    return {name: p.default for name, p in _fields(config, prefix).items()}


@functools.cache
def _source_comments(cls: type) -> dict[str, str]:
    """{field name: the comment lines just above it and its trailing comment} from the class source."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):  # no source (a frozen install): descriptions without comments
        return {}
    lines = source.splitlines()
    comments = {
        tok.start[0]: tok.string.lstrip("#").strip()
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT
    }
    body = next(n for n in ast.parse(source).body if isinstance(n, ast.ClassDef)).body
    out: dict[str, str] = {}
    for stmt in body:
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            continue
        above, line = [], stmt.lineno - 1
        while line >= 1 and lines[line - 1].lstrip().startswith("#"):
            above.insert(0, comments.get(line, ""))
            line -= 1
        trailing = comments.get(stmt.end_lineno or stmt.lineno, "")
        out[stmt.target.id] = " ".join(text for text in (*above, trailing) if text)
    return out


def describe_field(owner: type, f: dataclasses.Field) -> str:
    """`Class.field (type): help`; the help is `metadata["help"]`, else the field's source comment."""
    help_text = f.metadata.get("help") or _source_comments(owner).get(f.name, "")
    type_name = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    text = f"{owner.__name__}.{f.name} ({type_name})"
    return f"{text}: {help_text}" if help_text else text


def _is_writable(name: str, writable: Collection[str]) -> bool:
    return any(name == w or (w.endswith(".") and name.startswith(w)) for w in writable)


def declare_config(
    node: Node, config: Any, prefix: str = "", read_only: bool = True, writable: Collection[str] = ()
) -> None:
    """Declare one parameter per field of the dataclass instance `config` (its values as defaults).

    Every parameter is read-only when `read_only` (the node reads it once at start), except the
    ones named in `writable`: full parameter names, or a group's prefix ending in "." ("perception.").
    Those the node applies while running (`on_config_change`); the description says so.
    """
    fields = _fields(config, prefix)
    unknown = [w for w in writable if not any(_is_writable(name, [w]) for name in fields)]
    if unknown:
        raise ConfigError(f"{type(config).__name__}: writable names no parameter: {', '.join(unknown)}")
    for name, p in fields.items():
        settable = not read_only or _is_writable(name, writable)
        description = describe_field(p.owner, p.field)
        if settable and read_only:
            description += " [settable at run time]"
        # dynamic_typing: a params file may write 1 for a float; the dataclass coerces and validates it.
        descriptor = ParameterDescriptor(description=description, read_only=not settable, dynamic_typing=True)
        node.declare_parameter(name, p.default, descriptor)


def _build(node: Node, cls: type[C], prefix: str, values: dict[str, Any]) -> C:
    """`cls` from {parameter name: value} (dotted names nest into the nested configs)."""
    short = {name[len(prefix) :]: value for name, value in values.items()}
    return from_mapping(cls, short, source=f"{node.get_name()} parameters")


def read_config(node: Node, cls: type[C], prefix: str = "") -> C:
    """Build `cls` from the node's parameters (declared with `declare_config`); ConfigError if invalid."""
    names = parameter_defaults(cls(), prefix)
    return _build(node, cls, prefix, {name: _python(node.get_parameter(name).value) for name in names})


def on_config_change(node: Node, cls: type[C], apply: Callable[[C], None], prefix: str = "") -> None:
    """Apply sets of the writable parameters of `cls` while the node runs.

    A set touching them is validated by building `cls` from the current parameters with the new
    values: a ConfigError rejects the whole set (its text is the reason `ros2 param set` prints)
    and the old values stay. Once stored, `apply` gets the new config. Read-only parameters never
    get here: rclpy refuses them first. Call it after `declare_config`.
    """
    names = set(parameter_defaults(cls(), prefix))

    def validate(params: list[Parameter]) -> SetParametersResult:
        mine = {p.name: _python(p.value) for p in params if p.name in names}
        if not mine:
            return SetParametersResult(successful=True)
        current = {name: _python(node.get_parameter(name).value) for name in names}
        try:
            _build(node, cls, prefix, {**current, **mine})
        except ConfigError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def changed(params: list[Parameter]) -> None:
        if any(p.name in names for p in params):
            apply(read_config(node, cls, prefix))

    node.add_on_set_parameters_callback(validate)
    node.add_post_set_parameters_callback(changed)
