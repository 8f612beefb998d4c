"""The package's architecture, checked: imports go one way through the layers, with no circle.

Every `import` statement in the package counts, including the ones inside functions (lazy imports)
and under TYPE_CHECKING: a lazy import is still a dependency a reader has to follow. Run with `-v`
to print the layer order this test enforces.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import robospatial_ros

PACKAGE_DIR = Path(robospatial_ros.__file__).resolve().parent
PKG = "robospatial_ros"

# Lowest first. A module may import from its own layer and the layers before it, never after.
# Within a layer, modules of different groups (e.g. perception and planning) may not import each other.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundation", ("core",)),  # errors, configio, geometry, camera, scene, io: core's top-level modules
    ("spatial", ("core.spatial",)),
    ("language", ("core.language",)),
    ("perception | planning", ("core.perception", "core.planning")),
    ("reasoning", ("core.reasoning",)),
    ("sim", ("sim",)),
    ("learn", ("learn",)),
    ("ros", ("ros",)),
    ("cli", ("cli",)),
    ("bench", ("bench",)),
)
# The robot runtime: what a robot runs. It never imports the simulator or the learning toolkit.
RUNTIME = (
    "core",
    "ros.nodes.perception_node",
    "ros.nodes.reasoner_node",
    "ros.nodes.planner_node",
    "ros.conversions",
    "ros.common",
    "ros.params",
    "ros.moveit_adapter",
)
NOT_IN_RUNTIME = ("sim", "learn", "cli", "bench")


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE_DIR).with_suffix("")
    parts = [PKG, *rel.parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The package module `name` refers to (a module, or the package holding an imported name)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(path: Path, module: str, modules: dict[str, Path]) -> set[str]:
    """Package modules imported anywhere in `path` (top level, functions, TYPE_CHECKING blocks)."""
    found: set[str] = set()
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                anchor = module.split(".") if is_pkg else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            if name == PKG or name.startswith(PKG + "."):
                target = _resolve(name, modules)
                if target and target != module and not target.startswith(f"{PKG}.msg"):
                    found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = package_modules()
    return {m: imports_of(p, m, modules) for m, p in modules.items()}


def _group(module: str) -> tuple[int, str] | None:
    """(layer index, group prefix) of a module: the longest matching prefix wins."""
    rel = module[len(PKG) + 1 :] if module != PKG else ""
    best: tuple[int, str] | None = None
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (rel == prefix or rel.startswith(prefix + ".")) and (best is None or len(prefix) > len(best[1])):
                best = (i, prefix)
    return best


def _in(module: str, prefixes: tuple[str, ...]) -> bool:
    rel = module[len(PKG) + 1 :]
    return any(rel == p or rel.startswith(p + ".") for p in prefixes)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_every_module_has_a_layer(graph: dict[str, set[str]]) -> None:
    homeless = [m for m in graph if m != PKG and _group(m) is None]
    assert not homeless, f"modules outside every layer of LAYERS: {homeless}"


def test_imports_go_one_way_through_the_layers(graph: dict[str, set[str]], request: pytest.FixtureRequest) -> None:
    if request.config.getoption("verbose") > 0:
        with request.config.pluginmanager.get_plugin("capturemanager").global_and_fixture_disabled():
            order = " < ".join(f"{name} ({', '.join(prefixes)})" for name, prefixes in LAYERS)
            print(f"\nlayer order enforced (lowest first): {order}")
            print(f"robot runtime ({', '.join(RUNTIME)}) never imports: {', '.join(NOT_IN_RUNTIME)}")
    wrong = []
    for module, targets in graph.items():
        here = _group(module)
        for target in targets:
            there = _group(target)
            if here is None or there is None or target == PKG:
                continue
            if there[0] > here[0] or (there[0] == here[0] and there[1] != here[1] and here[0] != 0):
                wrong.append(f"{module} ({LAYERS[here[0]][0]}) imports {target} ({LAYERS[there[0]][0]})")
    assert not wrong, "imports against the layer order:\n" + "\n".join(sorted(wrong))


def test_no_import_circle(graph: dict[str, set[str]]) -> None:
    found = cycles(graph)
    assert not found, "import circles: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_robot_runtime_never_imports_the_simulator_or_the_toolkit(graph: dict[str, set[str]]) -> None:
    wrong = [
        f"{m} imports {t}" for m, targets in graph.items() if _in(m, RUNTIME) for t in targets if _in(t, NOT_IN_RUNTIME)
    ]
    assert not wrong, "\n".join(sorted(wrong))


def test_the_layer_check_sees_a_circle_and_a_wrong_way_import() -> None:
    """The checks above could fail: a made-up graph with a circle and an upward import trips both."""
    fake = {f"{PKG}.core.spatial.a": {f"{PKG}.core.reasoning.b"}, f"{PKG}.core.reasoning.b": {f"{PKG}.core.spatial.a"}}
    assert cycles(fake) == [sorted(fake)]
    assert _group(f"{PKG}.core.reasoning.b")[0] > _group(f"{PKG}.core.spatial.a")[0]  # type: ignore[index]


def test_importing_the_robot_runtime_loads_no_heavy_dependency() -> None:
    """At import time (a fresh interpreter), the nodes and core pull in neither torch, mujoco, open3d
    nor the simulator or the learning toolkit: they are imported lazily where used."""
    runtime = [m for m in package_modules() if _in(m, RUNTIME)]
    code = (
        "import importlib, json, sys\n"
        f"for m in {runtime!r}: importlib.import_module(m)\n"
        "heavy = ('torch', 'mujoco', 'open3d', 'transformers', 'robospatial_ros.sim', 'robospatial_ros.learn')\n"
        "print(json.dumps(sorted(n for n in sys.modules if n.split('.')[0] in heavy or n.startswith(heavy[-2:]))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
