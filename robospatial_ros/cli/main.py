"""The `robospatial` command.

    robospatial ask --scene SCENE.json "is the mug left of the bowl?" [--json] [--config CORE.yaml]
    robospatial ask --scene SCENE.json --questions FILE.jsonl [--json]
    robospatial perceive --color C.png --depth D.png --intrinsics K.json [--ask Q | --command C] [--json] [--out DIR]
    robospatial demo ["put the mug to the left of the bowl"] [--seed N] [--frame F] [--detections D] [--out DIR]
    robospatial bringup [--sim] [--params FILE]
    robospatial replay BAG [--rate R] [--loop] [--ros-args -r FROM:=TO ...]
    robospatial bench query|perception|realdata|relations|sim|ros|soak|vlm|datagen|train
    robospatial datagen robospatial|sat|ssrl|mix ...
    robospatial train sft|grpo|curriculum --config FILE [--set KEY=VALUE]
    robospatial eval --data DIR (--backend NAME | --predictions FILE.jsonl) [--limit N]

Bad input (missing or unreadable file, bad JSON, unknown object, unsupported question,
bad config) exits with code 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from robospatial_ros.cli.overrides import load_with_overrides
from robospatial_ros.core.errors import ConfigError, RoboSpatialError
from robospatial_ros.core.resources import DEFAULT_TABLETOP_CONFIG

BENCH_DIR = Path(__file__).resolve().parents[1] / "bench"  # robospatial_ros/bench, shipped in the wheel
DEFAULT_COMMAND = "put the mug to the left of the bowl"


def _spatial_config(args: argparse.Namespace):  # noqa: ANN202 (lazy import keeps --help fast)
    from robospatial_ros.core.spatial.config import SpatialConfig

    return load_with_overrides(SpatialConfig, args.config, args.set)


def cmd_ask(args: argparse.Namespace) -> int:
    from robospatial_ros.core.reasoning.reasoner import GeometricReasoner
    from robospatial_ros.core.scene import load_scene

    if args.questions is not None:  # many questions, one process, the scene prepared once
        from robospatial_ros.cli.ask import run_questions

        return run_questions(args.scene, args.questions, _spatial_config(args), args.json)
    if args.question is None:
        raise ConfigError("give a QUESTION, or --questions FILE.jsonl")
    scene = load_scene(args.scene)
    answer = GeometricReasoner(_spatial_config(args)).ask(scene, args.question, query_type=args.type, frame=args.frame)
    if args.json:
        print(json.dumps(answer.to_dict()))
    else:
        print(answer.text)
        for note in answer.assumptions:
            print(f"note: {note}", file=sys.stderr)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    if args.scene is not None:  # a scene file: answer questions on it, no simulator
        from robospatial_ros.cli.scene_demo import run_scene_demo

        report = run_scene_demo(args.scene, _spatial_config(args), Path(args.out))
        return 0 if report["success"] else 1
    os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering unless the user chose a backend
    from robospatial_ros.core.spatial.types import Frame

    frame = Frame(args.frame) if args.frame else None
    if args.direct:  # the same pipeline as plain function calls, no ROS
        from robospatial_ros.ros.graph import package_files
        from robospatial_ros.sim.demo import DemoConfig, run_sim_demo

        config = DemoConfig(spatial=_spatial_config(args), detections=args.detections)
        if args.detections == "none":  # clustering: the workspace the graph derives from the URDF's table
            config = config.with_urdf_workspace(package_files().urdf)
        report = run_sim_demo(args.command, args.seed, config, Path(args.out), frame)
    else:
        from robospatial_ros.ros.graph_demo import run_graph_demo

        spatial, out = _spatial_config(args), Path(args.out)
        report = run_graph_demo(
            args.command, args.seed, spatial, out, frame, domain_id=args.domain_id, detections=args.detections
        )
    return 0 if report["success"] else 1


def cmd_bringup(args: argparse.Namespace) -> int:
    os.environ.setdefault("MUJOCO_GL", "egl")
    from robospatial_ros.ros.bringup import serve
    from robospatial_ros.ros.graph import LaunchArgs

    # Only what is given on the command line overrides the params files (config/, then --params).
    launch_args = LaunchArgs(
        camera=args.camera,
        camera_namespace=args.camera_namespace,
        use_sim_time=True if args.use_sim_time else None,
        backend=args.backend,
        plan_only=False if args.execute else None,
        sim=args.sim,
        labels_topic=args.labels_topic,
        labels_encoding=args.labels_encoding,
        labels_file=args.labels_file,
    )
    for path in args.params:
        if not Path(path).is_file():
            raise ConfigError(f"params file not found: {path}")
    return serve(launch_args, [Path(p) for p in args.params])


def cmd_bench(args: argparse.Namespace) -> int:
    available = sorted(p.stem for p in BENCH_DIR.glob("*.py") if not p.stem.startswith("_"))
    if args.name not in available:
        raise RoboSpatialError(f"unknown benchmark {args.name!r}; available: {', '.join(available)}")
    module = importlib.import_module(f"robospatial_ros.bench.{args.name}")
    return int(module.main(args.bench_args) or 0)


def _add_config_args(p: argparse.ArgumentParser, default: Path | None) -> None:
    p.add_argument("--config", default=default, help="YAML of spatial core settings (SpatialConfig keys)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one setting")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="robospatial", description="RoboSpatial spatial reasoning for robot arms.")
    sub = parser.add_subparsers(dest="command", required=True)

    ask = sub.add_parser("ask", help="answer one spatial question about a scene file")
    ask.add_argument("question", nargs="?", help="e.g. 'is the mug left of the bowl?' or a RoboSpatial template")
    ask.add_argument("--questions", default=None, metavar="FILE.jsonl", help="many questions, one answer line each")
    ask.add_argument("--scene", required=True, help="scene JSON in the RoboSpatial annotation shape")
    ask.add_argument("--json", action="store_true", help="print the full answer as JSON")
    ask.add_argument("--type", choices=["configuration", "compatibility", "context"], help="force the query type")
    ask.add_argument("--frame", choices=["ego", "world", "object"], help="force the frame")
    _add_config_args(ask, None)
    ask.set_defaults(func=cmd_ask)

    demo = sub.add_parser(
        "demo",
        help="carry out a placement command on the simulated tabletop (or answer questions on a scene file)",
        description="Render the MuJoCo tabletop, perceive it, place the object as commanded, check the relation.",
    )
    demo.add_argument("command", nargs="?", default=DEFAULT_COMMAND, help=f"default: {DEFAULT_COMMAND!r}")
    demo.add_argument("--seed", type=int, default=0, help="tabletop layout seed")
    demo.add_argument("--frame", choices=["ego", "world", "object"], help="override the command's frame")
    demo.add_argument("--direct", action="store_true", help="the same job as function calls, not the ROS 2 graph")
    demo.add_argument(
        "--detections",
        choices=["masks", "none"],
        default="masks",
        help="masks: the simulator's instance masks name the objects; none: perception alone names them "
        "(object_0, ... by clustering, referred to by colour, size or position, e.g. 'the yellow object')",
    )
    demo.add_argument("--scene", help="instead: answer a set of questions on this scene JSON (no simulator)")
    demo.add_argument("--out", default="demo_out", help="output directory for the PNG and JSON report")
    demo.add_argument(
        "--domain-id",
        type=int,
        help="ROS domain of the demo's graph (default: a private one, so it never meets another running graph)",
    )
    _add_config_args(demo, DEFAULT_TABLETOP_CONFIG)
    demo.set_defaults(func=cmd_demo)

    bringup = sub.add_parser(
        "bringup",
        help="run the whole ROS 2 node graph in one process (where ros2 launch is not installed)",
        description="Starts perception, reasoner and planner (and with --sim the MuJoCo tabletop bridge) "
        "with the parameter files in config/, like launch/robospatial.launch.py; serves until Ctrl-C. "
        "Parameters: config/<node>.yaml < the URDF camera pose < --params files < the options given here.",
    )
    bringup.add_argument("--sim", action="store_true", help="also run the simulated tabletop (camera + execution)")
    bringup.add_argument("--camera", default="realsense", choices=["realsense", "gazebo", "isaac"])
    bringup.add_argument("--camera-namespace", default="/camera/camera")
    bringup.add_argument("--labels-topic", default="", help="camera gazebo|isaac: the label image topic")
    bringup.add_argument("--labels-encoding", default=None, help="ids | gazebo_semantic | gazebo_panoptic")
    bringup.add_argument("--labels-file", default="", help="camera gazebo|isaac: label id -> name map (YAML/JSON)")
    bringup.add_argument("--backend", help="the reasoner's backend (default: the params files', geometric)")
    bringup.add_argument("--execute", action="store_true", help="execute plans (default: plan only, a dry run)")
    bringup.add_argument("--use-sim-time", action="store_true", help="every node follows /clock")
    bringup.add_argument("--params", action="append", default=[], metavar="FILE", help="extra ROS params file")
    bringup.set_defaults(func=cmd_bringup)

    from robospatial_ros.cli.datagen import add_datagen_parser
    from robospatial_ros.cli.eval import add_eval_parser
    from robospatial_ros.cli.perceive import add_perceive_parser
    from robospatial_ros.cli.replay import add_replay_parser
    from robospatial_ros.cli.train import add_train_parser

    add_perceive_parser(sub)
    add_replay_parser(sub)
    add_datagen_parser(sub)
    add_eval_parser(sub)
    add_train_parser(sub)

    bench = sub.add_parser("bench", help="run a benchmark from bench/ and print its table")
    bench.add_argument("name", help="benchmark name, e.g. query")
    bench.add_argument("bench_args", nargs=argparse.REMAINDER, help="arguments passed to the benchmark")
    bench.set_defaults(func=cmd_bench)
    return parser


def split_ros_args(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """(our arguments, ROS arguments): `--ros-args ... [--]`, as launch_ros appends them to an executable's."""
    argv = list(argv)
    if "--ros-args" not in argv:
        return argv, []
    start = argv.index("--ros-args")
    end = argv.index("--", start) if "--" in argv[start:] else len(argv)
    return argv[:start] + argv[end + 1 :], argv[start:end]


def main(argv: Sequence[str] | None = None) -> int:
    ours, ros_args = split_ros_args(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(ours)
    args.ros_args = ros_args
    try:
        return args.func(args)
    except (RoboSpatialError, OSError) as exc:  # OSError: e.g. a directory given as --scene or --config
        return _error(args.command, str(exc))
    except RecursionError:  # input nested deeper than any parser should follow (a file reader missed it)
        return _error(args.command, "the input is nested too deeply")
    except MemoryError:  # a request far beyond this machine: one line, not a traceback
        return _error(args.command, "not enough memory for this request; use a coarser or smaller one")


def _error(command: str, message: str) -> int:
    """Report a bad input as one stderr line and return the exit code 2."""
    reason = " ".join(message.split())  # one line, even when a parser's message spans several
    print(f"robospatial {command}: error: {reason}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
