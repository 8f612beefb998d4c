"""Rewrite build-machine paths baked into the ROS 2 PyPI wheels' CMake exports.

The ros-*-msgs wheels were built in a manylinux container, and their exported
`*__rosidl_generator_pyExport.cmake` files name that container's Python and
numpy include directories. Any package that generates its own interfaces
against them (ours) then fails to configure. We point those paths at this
interpreter's real include directories. Idempotent: run it after every
install of a ros-* wheel.
"""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

# Matches /opt/python/cp311-cp311/include/python3.11 and the numpy include dir.
_BUILD_PYTHON = re.compile(r"/opt/python/cp\d+-cp\d+(?P<rest>/[^;\"\s)]*)?")


def _replacement(match: re.Match[str]) -> str:
    import numpy

    rest = match.group("rest") or ""
    if "numpy" in rest:
        return numpy.get_include()
    if rest.startswith("/include/"):
        return sysconfig.get_paths()["include"]
    return sys.base_prefix + rest


def fix_prefix(prefix: Path) -> int:
    """Rewrite every CMake file under `prefix/share`; returns how many changed."""
    changed = 0
    for path in (prefix / "share").rglob("*.cmake"):
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        new = _BUILD_PYTHON.sub(_replacement, text)
        if new != text:
            path.write_text(new, encoding="utf-8", errors="surrogateescape")
            changed += 1
    return changed


if __name__ == "__main__":
    prefix = Path(sys.argv[1] if len(sys.argv) > 1 else sys.prefix)
    print(f"fix_ros_cmake: rewrote {fix_prefix(prefix)} CMake file(s) under {prefix}")
