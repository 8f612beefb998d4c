"""`robospatial bringup`: the whole node graph in one process (where `ros2 launch` is not installed).

Same nodes, parameter layers and remaps as launch/robospatial.launch.py (both read graph.graph_for;
the layers are listed in graph.py): config/<node>.yaml, then the derived values (written to a
temporary params file, so that the user's files still win over them), then the user's params files,
then the explicit arguments as parameter overrides. Each node spins on its own executor thread and
they talk over real DDS topics.
"""

from __future__ import annotations

import signal
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import rclpy
from rclpy.context import Context

from robospatial_ros.core.errors import ConfigError
from robospatial_ros.ros.graph import (
    GraphRunner,
    LaunchArgs,
    PackageFiles,
    graph_for,
    package_files,
    ros_args,
    write_params_file,
)


def _user_params_files(args: LaunchArgs, params_files: Sequence[Path]) -> list[Path]:
    files = [Path(args.params_file)] if args.params_file else []
    files += [Path(p) for p in params_files]
    for path in files:
        if not path.is_file():
            raise ConfigError(f"params file not found: {path}")
    return files


def start_graph(
    args: LaunchArgs,
    params_files: Sequence[Path] = (),
    extra_overrides: dict[str, dict[str, Any]] | None = None,
    domain_id: int | None = None,
    files: PackageFiles | None = None,
) -> tuple[Context, GraphRunner]:
    """Initialise a private rclpy context and start the graph's nodes spinning in background threads.

    `extra_overrides` ({node: {parameter: value}}, for programs such as the demo) win over every layer."""
    files = files or package_files()
    plans = graph_for(args, files)
    user_files = _user_params_files(args, params_files)
    remaps = {f"{p.spec.name}:{src}": dst for p in plans for src, dst in p.remaps.items()}
    overrides = {p.spec.name: {**p.explicit, **(extra_overrides or {}).get(p.spec.name, {})} for p in plans}
    context = Context()
    # rcl reads the params files during init: the derived layer's file may go right after.
    with tempfile.TemporaryDirectory(prefix="robospatial_bringup_") as tmp:
        derived = write_params_file(Path(tmp) / "derived.yaml", {p.spec.name: p.derived for p in plans})
        layers = [*(files.params(p.spec) for p in plans), derived, *user_files]
        rclpy.init(args=ros_args(layers, remaps), context=context, domain_id=domain_id)
    try:
        runner = GraphRunner([p.spec for p in plans], overrides, context=context).start()
    except Exception:
        rclpy.shutdown(context=context)
        raise
    return context, runner


def stop_graph(context: Context, runner: GraphRunner) -> None:
    runner.shutdown()
    if context.ok():
        rclpy.shutdown(context=context)


def serve(args: LaunchArgs, params_files: Sequence[Path] = ()) -> int:
    """Run the graph until SIGINT/SIGTERM."""
    files = package_files()
    print(f"robospatial bringup: {files.describe()}", flush=True)
    context, runner = start_graph(args, params_files, files=files)
    names = ", ".join(runner.nodes)
    print(f"robospatial bringup: running {names} (Ctrl-C to stop)", flush=True)
    stopping = {"now": False}

    def _stop(*_: Any) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stopping["now"] and context.ok():
            time.sleep(0.2)
    finally:
        stop_graph(context, runner)
    return 0
