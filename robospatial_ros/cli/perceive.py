"""`robospatial perceive`: one saved RGB-D frame -> the perceived scene, and optionally an answer on it.

    robospatial perceive --color C.png --depth D.png --intrinsics K.json [--depth-scale S]
                         [--camera-pose T.json] [--workspace X0,Y0,Z0,X1,Y1,Z1] [--support-height H]
                         [--ask "QUESTION" | --command "put ..."] [--json] [--out DIR]

For users checking their camera and for our own checks on real frames. Without a pose the
support plane defines the world (z up, origin on the support below the camera). `--json`
prints the objects, the support, the pose used, the observed obstacle map and warnings;
`--ask`/`--command` add the answer in the shape of `robospatial ask --json` (points_2d
normalized in the colour image); a command adds placement_3d (world) and placement_2d.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from robospatial_ros.core.errors import ConfigError


def add_perceive_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("perceive", help="perceive one saved RGB-D frame; optionally ask or command on it")
    p.add_argument("--color", required=True, help="colour image (PNG/JPG, RGB or BGR as saved)")
    p.add_argument("--depth", required=True, help="depth image aligned to the colour image (16-bit PNG or .npy)")
    p.add_argument("--intrinsics", required=True, help='JSON: {"fx","fy","cx","cy"} or a 3x3 "K"')
    p.add_argument("--depth-scale", type=float, default=None, help="metres per depth unit (default 0.001 for 16-bit)")
    pose_help = "JSON 4x4 camera(optical)-to-world; without it the support plane defines the world"
    p.add_argument("--camera-pose", default=None, help=pose_help)
    box_help = "world box outside which points are ignored (metres)"
    p.add_argument("--workspace", default=None, metavar="X0,Y0,Z0,X1,Y1,Z1", help=box_help)
    p.add_argument("--support-height", type=float, default=None, help="expected support height in the world (m)")
    p.add_argument("--config", default=None, help="YAML of perception settings (PerceptionConfig keys)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one perception setting")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--ask", default=None, help="a RoboSpatial question on the perceived scene")
    # dest "placement": "command" names the sub-command in the top-level parser
    what.add_argument(
        "--command", dest="placement", default=None, help="a placement command: where the object would go"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    p.add_argument("--out", default=None, help="write perceived.png (boxes, support, unobserved areas) here")
    p.set_defaults(func=cmd_perceive)


def _workspace(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise ConfigError(f"--workspace wants six numbers X0,Y0,Z0,X1,Y1,Z1, got {text!r}") from None
    if len(values) != 6:
        raise ConfigError(f"--workspace wants six numbers X0,Y0,Z0,X1,Y1,Z1, got {len(values)}")
    return {"workspace_min_xyz_m": values[:3], "workspace_max_xyz_m": values[3:]}


def _perception_config(args: argparse.Namespace):  # noqa: ANN202 - lazy import keeps --help fast
    """defaults < --config < --set < the dedicated flags (--workspace, --support-height)."""
    from robospatial_ros.cli.overrides import load_with_overrides
    from robospatial_ros.core.perception.config import PerceptionConfig

    flags = _workspace(args.workspace)
    if args.support_height is not None:
        flags["support_height_m"] = args.support_height
    return load_with_overrides(PerceptionConfig, args.config, args.set, flags)


def perceive_files(args: argparse.Namespace):  # noqa: ANN201 - a PerceptionResult
    """Load the frame named by the arguments and perceive it (posed or not)."""
    from robospatial_ros.core.perception.files import load_frame, load_pose
    from robospatial_ros.core.perception.pipeline import Perception

    pose = None if args.camera_pose is None else load_pose(args.camera_pose)
    frame = load_frame(args.color, args.depth, args.intrinsics, args.depth_scale, pose)
    perception = Perception(_perception_config(args))
    return frame, (perception.perceive(frame) if pose is not None else perception.perceive_unposed(frame))


def scene_report(result: Any) -> dict[str, Any]:
    """The `--json` body: objects, support, pose used, obstacle map summary, warnings, timings."""
    from robospatial_ros.core.scene import box_to_9dof

    scene = result.scene
    objects = []
    for o in scene.objects:
        size = np.asarray(o.box.size, dtype=float)
        attributes = {"height_m": round(float(o.box.z_max - result.support_height_m), 4)}
        objects.append(
            {
                "name": o.name,
                "category": o.category,
                "attributes": attributes,
                "size_m": np.round(size, 4).tolist(),
                "bbox_3d": np.round(box_to_9dof(o.box), 5).tolist(),
            }
        )
    return {
        "objects": objects,
        "support_height_m": round(float(result.support_height_m), 4),
        "support_normal": np.round(result.plane.normal, 4).tolist(),
        "camera_to_world": np.round(result.camera_to_world, 5).tolist(),
        "obstacle_map": None if scene.obstacles is None else scene.obstacles.summary(),
        "warnings": list(result.warnings),
        "timings_ms": result.timings_ms,
    }


def _answer(args: argparse.Namespace, scene: Any) -> dict[str, Any] | None:
    """--ask / --command on the perceived scene, in `robospatial ask --json`'s shape."""
    if args.ask is None and args.placement is None:
        return None
    from robospatial_ros.core.configio import load_config
    from robospatial_ros.core.language.commands import parse_command
    from robospatial_ros.core.reasoning.placement import choose_placement
    from robospatial_ros.core.reasoning.reasoner import GeometricReasoner
    from robospatial_ros.core.reasoning.requests import placement_answer
    from robospatial_ros.core.resources import DEFAULT_TABLETOP_CONFIG
    from robospatial_ros.core.spatial.config import SpatialConfig
    from robospatial_ros.core.spatial.view import SceneView

    spatial = load_config(SpatialConfig, DEFAULT_TABLETOP_CONFIG)
    if args.ask is not None:
        return GeometricReasoner(spatial).ask(scene, args.ask).to_dict()
    view = SceneView(scene, spatial)
    command = parse_command(args.placement, scene.names)
    placement = choose_placement(view, command)
    out = placement_answer(view, command, placement, args.placement, []).to_dict()
    uv, depth = scene.camera.project(placement.xyz[None])
    seen = bool(np.isfinite(uv).all() and depth[0] > 0)
    out["placement_3d"] = np.round(placement.xyz, 4).tolist()
    out["placement_2d"] = np.round(scene.camera.normalize(uv)[0], 3).tolist() if seen else None
    out["yaw_offset_deg"] = round(float(np.degrees(placement.yaw_offset_rad)), 1)
    return out


def cmd_perceive(args: argparse.Namespace) -> int:
    frame, result = perceive_files(args)
    report = scene_report(result)
    answer = _answer(args, result.scene)
    if answer is not None:
        report["answer"] = answer
    if args.out is not None:
        from robospatial_ros.core.reasoning.viz import perceived_image, save_png

        path = save_png(Path(args.out) / "perceived.png", perceived_image(result.scene, frame.color, answer))
        report["picture"] = str(path)
    if args.json:
        print(json.dumps(report))
        return 0
    _print_summary(report)
    return 0


def _print_summary(report: dict[str, Any]) -> None:
    print(f"support: z = {report['support_height_m']} m, normal {report['support_normal']}")
    for o in report["objects"]:
        size = " x ".join(f"{v:.3f}" for v in o["size_m"])
        print(f"  {o['name']:<16} {size} m, {o['attributes']['height_m']:.3f} m tall")
    if report["obstacle_map"] is not None:
        m = report["obstacle_map"]
        print(f"observed: {m['free_cells']} free, {m['occupied_cells']} occupied, {m['unknown_cells']} unknown cells")
    for w in report["warnings"]:
        print(f"warning: {w}", file=sys.stderr)
    if "answer" in report:
        a = report["answer"]
        print(f"answer: {a['answer']}")
        if "placement_3d" in a:
            print(f"placement: {a['placement_3d']} m (world), image {a['placement_2d']}")
    if "picture" in report:
        print(f"wrote {report['picture']}")
