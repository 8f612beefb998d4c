"""`robospatial bringup`: the whole node graph in one process (where `ros2 launch` is not installed).

Same nodes, parameter files, overrides and remaps as launch/robospatial.launch.py (both read
graph.graph_for), all on one multi-threaded executor, talking over real DDS topics.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import rclpy
from rclpy.context import Context

from robospatial_ros.ros.graph import GraphRunner, LaunchArgs, graph_for, ros_args


def start_graph(
    args: LaunchArgs,
    params_files: Sequence[Path] = (),
    extra_overrides: dict[str, dict[str, Any]] | None = None,
    domain_id: int | None = None,
) -> tuple[Context, GraphRunner]:
    """Initialise a private rclpy context and start the graph's nodes spinning in a background thread."""
    plan = graph_for(args)
    remaps: dict[str, str] = {}
    overrides: dict[str, dict[str, Any]] = {}
    for spec, node_overrides, node_remaps in plan:
        overrides[spec.name] = {**node_overrides, **(extra_overrides or {}).get(spec.name, {})}
        remaps.update({f"{spec.name}:{src}": dst for src, dst in node_remaps.items()})
    context = Context()
    extra = [Path(args.params_file)] if args.params_file else []
    rclpy.init(
        args=ros_args([s for s, _, _ in plan], [*extra, *params_files], remaps), context=context, domain_id=domain_id
    )
    try:
        runner = GraphRunner([s for s, _, _ in plan], overrides, context=context).start()
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
    context, runner = start_graph(args, params_files)
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
