"""`robospatial replay BAG`: play a recorded ROS 2 bag's camera topics into the running graph.

    robospatial replay BAG [--rate R] [--loop] [--topic T ...] [--clock] [--wait S] [--ros-args -r FROM:=TO ...]

The graph runs beside it (`ros2 launch robospatial_ros robospatial.launch.py`, or `robospatial bringup`),
or the launch file starts it itself with `bag:=BAG`. Prints what it played and the frames per second.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from robospatial_ros.core.errors import ConfigError


def cmd_replay(args: argparse.Namespace) -> int:
    from robospatial_ros.ros.replay import ReplayConfig, replay

    bag = Path(args.bag)
    if not bag.exists():
        raise ConfigError(f"bag not found: {bag}")
    config = ReplayConfig(
        rate=args.rate,
        loop=args.loop,
        topics=tuple(args.topic),
        clock=args.clock,
        wait_for_subscribers_s=args.wait,
    )
    try:
        stats = replay(bag, config, args.ros_args)
    except KeyboardInterrupt:  # Ctrl-C, or launch shutting down
        return 0
    print(f"robospatial replay: {stats.summary(bag)}", flush=True)
    return 0


def add_replay_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "replay",
        help="play the camera topics of a ROS 2 bag (.db3, .mcap) into the running node graph",
        description="Publishes a recorded bag's colour, depth, camera_info (and detections) on their recorded "
        "topics with their recorded stamps, for the graph started by ros2 launch or robospatial bringup. "
        "Remap with trailing ROS arguments: --ros-args -r /camera/camera/color/image_raw:=/my/image.",
    )
    p.add_argument("bag", help="the bag: its folder (with metadata.yaml) or one .db3 / .mcap file")
    p.add_argument("--rate", type=float, default=1.0, help="1: as recorded (default); 2: twice as fast; 0: at once")
    p.add_argument("--loop", action="store_true", help="play again from the start until interrupted")
    topic_help = "play this topic (repeatable); default: every image, camera_info and detections topic"
    p.add_argument("--topic", action="append", default=[], metavar="TOPIC", help=topic_help)
    clock_help = "publish the recorded times on /clock (for nodes on use_sim_time)"
    p.add_argument("--clock", action=argparse.BooleanOptionalAction, default=False, help=clock_help)
    wait_help = "wait up to S seconds for the graph to subscribe before playing (default 10)"
    p.add_argument("--wait", type=float, default=10.0, metavar="S", help=wait_help)
    p.set_defaults(func=cmd_replay)
