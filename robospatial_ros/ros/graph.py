"""The node graph, declared once: used by launch/robospatial.launch.py and by the in-process runner.

Each node is a class in `robospatial_ros.ros.nodes.<module>` (an rclpy Node whose constructor takes
Node's keyword arguments) with a `main()` console entry point, and an executable of the same name
installed by CMake (`lib/robospatial_ros/<executable>`) and by pip (`robospatial-<executable>`).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PACKAGE = "robospatial_ros"
CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
URDF_PATH = Path(__file__).resolve().parents[2] / "urdf" / "workcell.urdf"
BASE_FRAME = "panda_link0"
OPTICAL_FRAME = "camera_color_optical_frame"


@dataclass(frozen=True)
class NodeSpec:
    name: str  # ROS node name
    executable: str  # installed executable, and the module robospatial_ros.ros.nodes.<executable>
    cls: str  # the Node subclass in that module
    params_file: str  # config/<params_file>: its parameters, ROS params-file format
    remaps: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @property
    def module(self) -> str:
        return f"{PACKAGE}.ros.nodes.{self.executable}"


PERCEPTION = NodeSpec("perception", "perception_node", "PerceptionNode", "perception.yaml")
REASONER = NodeSpec("reasoner", "reasoner_node", "ReasonerNode", "reasoner.yaml")
PLANNER = NodeSpec("planner", "planner_node", "PlannerNode", "planner.yaml")
SIM_BRIDGE = NodeSpec("sim_bridge", "sim_bridge_node", "SimBridgeNode", "sim_bridge.yaml")

ROBOT_GRAPH = (PERCEPTION, REASONER, PLANNER)
SIM_GRAPH = (SIM_BRIDGE, *ROBOT_GRAPH)

# Camera topics of the supported sources, remapped onto the perception node's inputs.
CAMERA_REMAPS = {
    "realsense": {},  # the defaults are the realsense2_camera driver's topics
    "gazebo": {  # ros_gz_bridge of a Gazebo RGB-D camera: 32FC1 depth in metres
        "/camera/camera/color/image_raw": "/rgbd_camera/image",
        "/camera/camera/aligned_depth_to_color/image_raw": "/rgbd_camera/depth_image",
        "/camera/camera/color/camera_info": "/rgbd_camera/camera_info",
    },
    "isaac": {
        "/camera/camera/color/image_raw": "/rgb",
        "/camera/camera/aligned_depth_to_color/image_raw": "/depth",
        "/camera/camera/color/camera_info": "/camera_info",
    },
}


@dataclass(frozen=True)
class LaunchArgs:
    """The launch arguments (`ros2 launch robospatial_ros robospatial.launch.py <name>:=<value>`)."""

    robot: str = "panda"  # the arm (its planning group and grasp geometry): panda
    camera: str = "realsense"  # which camera topics to read: realsense | gazebo | isaac
    camera_namespace: str = "/camera/camera"  # realsense2_camera's <camera_namespace>/<camera_name>
    use_sim_time: bool = False
    backend: str = "geometric"  # the reasoner's backend
    plan_only: bool = True  # publish plans without executing them (dry run)
    sim: bool = False  # also start the MuJoCo tabletop bridge (camera topics + plan execution)
    params_file: str = ""  # extra ROS params file applied to every node, after the defaults

    def __post_init__(self) -> None:
        if self.robot != "panda":
            raise ValueError(f"robot {self.robot!r} is not supported; supported: panda")
        if self.camera not in CAMERA_REMAPS:
            raise ValueError(f"camera {self.camera!r} is not supported; use one of {', '.join(CAMERA_REMAPS)}")


def camera_remaps(args: LaunchArgs) -> dict[str, str]:
    """Default camera topics -> the chosen source's topics."""
    if args.camera != "realsense":
        return dict(CAMERA_REMAPS[args.camera])
    ns = "/" + args.camera_namespace.strip("/")
    return {topic: topic.replace("/camera/camera", ns, 1) for topic in DEFAULT_CAMERA_TOPICS if ns != "/camera/camera"}


DEFAULT_CAMERA_TOPICS = tuple(CAMERA_REMAPS["gazebo"])


def camera_pose_overrides(urdf_path: Path, base_frame: str = BASE_FRAME, optical_frame: str = OPTICAL_FRAME) -> dict:
    """The perception node's camera pose parameters from the workcell URDF's camera mount."""
    from robospatial_ros.core.geometry import quaternion_from_matrix
    from robospatial_ros.core.urdf import frame_transform

    T = frame_transform(urdf_path, base_frame, optical_frame)
    return {
        "camera_position_m": [float(v) for v in T[:3, 3]],
        "camera_orientation_xyzw": [float(v) for v in quaternion_from_matrix(T[:3, :3])],
    }


def sim_perception_overrides() -> dict[str, Any]:
    """The perception node's camera pose (the simulated D435's, not the URDF mount's rounded one) and
    mask detections, for the built-in tabletop; mujoco is imported here."""
    from robospatial_ros.ros.nodes.sim_bridge_node import perception_parameter_overrides
    from robospatial_ros.sim.tabletop import TabletopConfig

    return perception_parameter_overrides(TabletopConfig())


def graph_for(args: LaunchArgs, urdf_path: Path | None = None) -> list[tuple[NodeSpec, dict[str, Any], dict[str, str]]]:
    """(node, parameter overrides, remaps) for every node the launch arguments start.

    The camera's pose comes from the workcell URDF's mount (`urdf_path`, default the package's).
    """
    common: dict[str, Any] = {"use_sim_time": args.use_sim_time}
    urdf_path = urdf_path or URDF_PATH
    out = []
    for spec in SIM_GRAPH if args.sim else ROBOT_GRAPH:
        overrides = dict(common)
        remaps: dict[str, str] = {}
        if spec is REASONER:
            overrides["backend"] = args.backend
        elif spec is PLANNER:
            overrides["plan_only"] = args.plan_only
        elif spec is PERCEPTION:
            remaps = {} if args.sim else camera_remaps(args)
            if args.sim:  # the simulator's camera exactly (as the direct demo sees it), its objects named by masks
                overrides.update(sim_perception_overrides())
            elif urdf_path.is_file():
                overrides.update(camera_pose_overrides(urdf_path))
        out.append((spec, overrides, remaps))
    return out


def params_path(spec: NodeSpec, config_dir: Path | None = None) -> Path:
    return (config_dir or CONFIG_DIR) / spec.params_file


def make_node(spec: NodeSpec, parameter_overrides: dict[str, Any] | None = None, **node_kwargs: Any) -> Any:
    """Construct the node class of `spec` (rclpy must be initialised)."""
    from rclpy.parameter import Parameter

    cls = getattr(importlib.import_module(spec.module), spec.cls)
    overrides = [Parameter(k, value=v) for k, v in (parameter_overrides or {}).items()]
    return cls(parameter_overrides=overrides, **node_kwargs)


def ros_args(
    specs: Sequence[NodeSpec], params_files: Sequence[Path] = (), remaps: dict[str, str] | None = None
) -> list[str]:
    """`--ros-args` for one process running `specs`: every node's params file, extra files, remaps."""
    args = ["--ros-args"]
    for spec in specs:
        path = params_path(spec)
        if path.is_file():
            args += ["--params-file", str(path)]
    for path in params_files:
        args += ["--params-file", str(path)]
    for src, dst in (remaps or {}).items():
        args += ["-r", f"{src}:={dst}"]
    return args


class GraphRunner:
    """All nodes of a graph in one process (the stand-in for `ros2 launch` where launch is not
    installed, and what `robospatial demo` drives): each node on its own single-threaded executor
    in its own thread, as separate processes would run them. One shared multi-threaded executor
    cost the perception node two thirds of its rate (10 Hz instead of 30 Hz at 640x480)."""

    def __init__(
        self, specs: Sequence[NodeSpec], overrides: dict[str, dict[str, Any]] | None = None, context: Any = None
    ):
        self._context = context
        self.nodes = {s.name: make_node(s, (overrides or {}).get(s.name), context=context) for s in specs}
        self._spinning: dict[Any, tuple[Any, threading.Thread | None]] = {}
        for node in self.nodes.values():
            self._attach(node)
        self._started = False

    def _attach(self, node: Any) -> None:
        from rclpy.executors import SingleThreadedExecutor

        executor = SingleThreadedExecutor(context=self._context)
        executor.add_node(node)
        self._spinning[node] = (executor, None)

    def _spin(self, node: Any) -> None:
        executor, _ = self._spinning[node]
        thread = threading.Thread(target=executor.spin, daemon=True, name=f"spin-{node.get_name()}")
        self._spinning[node] = (executor, thread)
        thread.start()

    def start(self) -> GraphRunner:
        """Spin every node in a background thread of its own."""
        self._started = True
        for node in list(self._spinning):
            self._spin(node)
        return self

    def add(self, node: Any) -> None:
        """Spin another node (e.g. a client) beside the graph's."""
        self._attach(node)
        if self._started:
            self._spin(node)

    def remove(self, node: Any) -> None:
        executor, thread = self._spinning.pop(node)
        executor.shutdown(timeout_sec=2.0)
        if thread is not None:
            thread.join(timeout=2.0)

    def shutdown(self) -> None:
        for node in list(self._spinning):
            self.remove(node)
        for node in self.nodes.values():
            node.destroy_node()
