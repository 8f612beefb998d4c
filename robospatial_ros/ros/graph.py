"""The node graph, declared once: used by launch/robospatial.launch.py and by the in-process runner
(`robospatial bringup`, `robospatial demo`).

Each node is a class in `robospatial_ros.ros.nodes.<module>` (an rclpy Node whose constructor takes
Node's keyword arguments) with a `main()` console entry point, and an executable of the same name in
`lib/robospatial_ros/` on every install path (CMake writes the interpreter it built for into its
first line; pip installs `robospatial-<name>` and a `lib/robospatial_ros/<executable>` that runs it).

A node's parameters come in four layers, each overriding the ones before it (launch and bringup alike):
1. the package's `config/<node>.yaml` (the node dataclass's defaults, restated for reading);
2. values derived from the setup: the perception camera pose from the workcell URDF's camera mount and
   its workspace from the URDF's table (with `camera:=gazebo|isaac` also the simulator's segmentation
   labels as detections, in that simulator's encoding), or with `sim` the simulated D435's pose and its masks;
3. the user's `params_file` (launch) / `--params` (bringup);
4. the launch arguments given explicitly (`backend`, `plan_only`, `use_sim_time`, `labels_encoding`,
   `labels_file`); left empty they set nothing.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robospatial_ros.core.errors import ConfigError

PACKAGE = "robospatial_ros"
_CHECKOUT = Path(__file__).resolve().parents[2]  # the repository root, when running from a checkout
CONFIG_DIR = _CHECKOUT / "config"
URDF_PATH = _CHECKOUT / "urdf" / "workcell.urdf"
URDF_NAME = "workcell.urdf"
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
# Nodes on the camera topics: `camera` remaps all of them (the sim bridge publishes there, the reasoner's
# model backends read the frames the perception node reads).
CAMERA_NODES = (SIM_BRIDGE, PERCEPTION, REASONER)

# Camera topics of the supported sources, remapped onto the nodes' camera topics.
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
DEFAULT_CAMERA_TOPICS = tuple(CAMERA_REMAPS["gazebo"])

# The perception node's label-image input (perception_node.LABELS_TOPIC; a test keeps them equal): restated
# so that declaring the launch arguments does not import the node.
LABELS_TOPIC = "/robospatial/detections/labels"
# core.perception.labels.LABEL_ENCODINGS, restated for the same reason (a test keeps them equal).
LABEL_ENCODINGS = ("ids", "gazebo_semantic", "gazebo_panoptic")


@dataclass(frozen=True)
class LabelSource:
    """A simulator's segmentation camera: the label image topic remapped onto LABELS_TOPIC, and its encoding."""

    topic: str
    encoding: str  # core.perception.labels.LABEL_ENCODINGS


# With camera:=gazebo|isaac (no sim) the perception node names objects from the simulator's label images.
LABEL_SOURCES = {
    # gz-sensors' segmentation camera (<sensor type="segmentation">, <topic>segmentation</topic>) publishes
    # <topic>/labels_map (rgb8: the label in every channel; panoptic mode: label + instance count) and
    # <topic>/colored_map; ros_gz_bridge / ros_gz_image bring labels_map to ROS 2 under the same name.
    "gazebo": LabelSource("/segmentation/labels_map", "gazebo_semantic"),
    # Isaac Sim's ROS2 Camera Helper, type semantic_segmentation (or instance_segmentation): 32SC1 ids; its
    # labels JSON ({"0": {"class": "BACKGROUND"}, ...}, on semantic_labels) saved to a file is the labels_file.
    "isaac": LabelSource("/semantic_segmentation", "ids"),
}
# The reasoner's backends (core.reasoning.backends.BACKEND_NAMES; a test keeps them equal): listed here
# so that declaring the launch arguments does not import the backends.
BACKENDS = ("geometric", "hf", "openai", "hybrid", "verify")
TRUE_FALSE = ("true", "false")


# --- the launch arguments --------------------------------------------------------------------------------------


def _text(value: str) -> str:
    return value


def _flag(value: str) -> bool | None:
    """'' -> None (not given), true/false (any case) -> bool; anything else is an error."""
    if value == "":
        return None
    if value.lower() not in TRUE_FALSE:
        raise ValueError(f"expected true or false, got {value!r}")
    return value.lower() == "true"


def _optional_text(value: str) -> str | None:
    return value or None


def _rate(value: str) -> float:
    return float(value)


def _arg(default: Any, help_text: str, choices: tuple[str, ...] = (), parse: Callable[[str], Any] = _text) -> Any:
    return field(default=default, metadata={"help": help_text, "choices": choices, "parse": parse})


@dataclass(frozen=True)
class LaunchArgs:
    """The launch arguments (`ros2 launch robospatial_ros robospatial.launch.py <name>:=<value>`); their help
    texts are what `--show-args` prints. Empty backend, plan_only, use_sim_time: the params files decide."""

    robot: str = _arg("panda", "the arm (its planning group, grasp geometry and IK model)", ("panda",))
    camera: str = _arg(
        "realsense",
        "which camera topics the graph reads: realsense (realsense2_camera, under camera_namespace), gazebo "
        "(/rgbd_camera/image, /rgbd_camera/depth_image 32FC1, /rgbd_camera/camera_info), isaac (/rgb, /depth, "
        "/camera_info); gazebo and isaac without sim also name objects from the simulator's segmentation "
        "labels (see labels_topic, labels_encoding, labels_file); with sim:=true the simulator publishes on them",
        tuple(CAMERA_REMAPS),
    )
    camera_namespace: str = _arg("/camera/camera", "realsense2_camera's <camera_namespace>/<camera_name>")
    use_sim_time: bool | None = _arg(
        None,
        "every node follows /clock (Gazebo, Isaac, the sim bridge, a bag replay); empty: the params files' "
        "value (false)",
        ("", *TRUE_FALSE),
        _flag,
    )
    backend: str | None = _arg(
        None,
        "the reasoner's backend: geometric (no model weights), hf, openai, hybrid, verify; empty: the params "
        "files' value (geometric in config/reasoner.yaml)",
        ("", *BACKENDS),
        _optional_text,
    )
    plan_only: bool | None = _arg(
        None,
        "true: plans are dry runs, nothing moves; false: the executor (the sim bridge, or MoveIt with "
        "executor: moveit) carries them out; empty: the params files' value (true in config/planner.yaml)",
        ("", *TRUE_FALSE),
        _flag,
    )
    sim: bool = _arg(
        False,
        "also start the MuJoCo tabletop bridge: camera topics, masks, plan execution",
        TRUE_FALSE,
        _flag,
    )
    params_file: str = _arg(
        "",
        "a ROS params file for the nodes (keys: perception, reasoner, planner, sim_bridge or /**): overrides "
        "config/<node>.yaml and the URDF camera pose; explicit launch arguments override it",
    )
    bag: str = _arg(
        "",
        "a ROS 2 bag (.db3 or .mcap, its folder or file) whose camera topics are played into the graph "
        "(robospatial replay); record the topics the camera argument names",
    )
    bag_rate: float = _arg(1.0, "bag replay speed: 1 as recorded, 2 twice as fast, 0 as fast as it goes", (), _rate)
    labels_topic: str = _arg(
        "",
        "camera gazebo|isaac: the segmentation camera's label image topic; empty: gazebo "
        f"{LABEL_SOURCES['gazebo'].topic}, isaac {LABEL_SOURCES['isaac'].topic}",
    )
    labels_encoding: str | None = _arg(
        None,
        "camera gazebo|isaac: how the label image codes ids: ids (Isaac 32SC1, any 16UC1), gazebo_semantic, "
        "gazebo_panoptic; empty: gazebo_semantic for gazebo, ids for isaac",
        ("", *LABEL_ENCODINGS),
        _optional_text,
    )
    labels_file: str = _arg(
        "",
        "camera gazebo|isaac: the label id -> object name map, a YAML or JSON file {id: name} (Isaac's labels "
        "JSON as saved works); without it the params' labels.names / labels.names_file",
    )
    respawn: bool = _arg(
        False,
        "false: a node that exits shuts the launch down, naming it and why; true: restart it after 2 s",
        TRUE_FALSE,
        _flag,
    )

    def __post_init__(self) -> None:
        if self.robot != "panda":
            raise ConfigError(f"robot {self.robot!r} is not supported; supported: panda")
        if self.camera not in CAMERA_REMAPS:
            raise ConfigError(f"camera {self.camera!r} is not supported; use one of {', '.join(CAMERA_REMAPS)}")
        if self.backend is not None and self.backend not in BACKENDS:
            raise ConfigError(f"unknown backend {self.backend!r}; available: {', '.join(BACKENDS)}")
        if not self.bag_rate >= 0:
            raise ConfigError(f"bag_rate must be >= 0 (0: as fast as it goes), got {self.bag_rate!r}")
        if self.sim and self.bag:
            raise ConfigError("sim and bag both publish the camera topics: use one of them")
        self._check_labels()

    @property
    def label_source(self) -> LabelSource | None:
        """The simulator segmentation camera the perception node reads (camera gazebo|isaac without sim)."""
        if self.sim or self.camera not in LABEL_SOURCES:
            return None
        source = LABEL_SOURCES[self.camera]
        return LabelSource(self.labels_topic or source.topic, self.labels_encoding or source.encoding)

    def _check_labels(self) -> None:
        if self.labels_encoding is not None and self.labels_encoding not in LABEL_ENCODINGS:
            raise ConfigError(
                f"unknown labels_encoding {self.labels_encoding!r}; available: {', '.join(LABEL_ENCODINGS)}"
            )
        given = [n for n in ("labels_topic", "labels_encoding", "labels_file") if getattr(self, n)]
        if given and self.label_source is None:
            raise ConfigError(
                f"{', '.join(given)} apply to camera:=gazebo|isaac without sim (camera is {self.camera!r}"
                f"{', sim is true' if self.sim else ''})"
            )
        if self.labels_file and not Path(self.labels_file).is_file():
            raise ConfigError(f"labels_file not found: {self.labels_file}")

    @classmethod
    def from_strings(cls, values: Mapping[str, str]) -> LaunchArgs:
        """From launch-argument text (`name:=value`); names not given keep their defaults. ConfigError if bad."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ConfigError(f"unknown launch argument(s) {', '.join(unknown)}; known: {', '.join(fields)}")
        parsed = {}
        for name, text in values.items():
            try:
                parsed[name] = fields[name].metadata["parse"](str(text))
            except ValueError as exc:
                raise ConfigError(f"launch argument {name}: {exc}") from None
        return cls(**parsed)


@dataclass(frozen=True)
class LaunchArgument:
    """One DeclareLaunchArgument: its default as launch text, description and allowed values (empty: any)."""

    name: str
    default: str
    description: str
    choices: tuple[str, ...]


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)


def launch_arguments() -> list[LaunchArgument]:
    """The launch file's declared arguments, from LaunchArgs."""
    defaults = LaunchArgs()
    return [
        LaunchArgument(f.name, _as_text(getattr(defaults, f.name)), f.metadata["help"], f.metadata["choices"])
        for f in dataclasses.fields(LaunchArgs)
    ]


# --- the package's files -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackageFiles:
    """The directory holding the package's config/ and urdf/ (a checkout, or `share/robospatial_ros`)."""

    share: Path
    origin: str  # how it was found: "checkout", "ament index" or "install prefix"

    def _existing(self, path: Path, what: str) -> Path:
        if not path.is_file():
            raise ConfigError(f"{what} is missing: {path} (the package's files are in {self.share}, {self.origin})")
        return path

    @property
    def config_dir(self) -> Path:
        return self.share / "config"

    @property
    def urdf(self) -> Path:
        return self._existing(self.share / "urdf" / URDF_NAME, "the workcell URDF")

    def params(self, spec: NodeSpec) -> Path:
        return self._existing(self.config_dir / spec.params_file, f"the {spec.name} node's parameters")

    def describe(self) -> str:
        return f"config/ and urdf/ from {self.share} ({self.origin})"


def _ament_share() -> Path | None:
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    except ImportError:
        return None
    try:
        return Path(get_package_share_directory(PACKAGE))
    except (PackageNotFoundError, OSError):  # OSError: AMENT_PREFIX_PATH is not set
        return None


def package_files() -> PackageFiles:
    """Where config/ and urdf/ are, for the Python package that runs: its checkout (an editable install,
    as `make setup` makes), else the ament index (a colcon install), else `<prefix>/share/robospatial_ros`
    (a pip install). ConfigError when none has them: the nodes never start on silent defaults."""
    if (_CHECKOUT / "package.xml").is_file() and (_CHECKOUT / "config").is_dir():
        return PackageFiles(_CHECKOUT, "checkout")
    share = _ament_share()
    if share is not None and (share / "config").is_dir():
        return PackageFiles(share, "ament index")
    prefix = Path(sys.prefix) / "share" / PACKAGE
    if (prefix / "config").is_dir():
        return PackageFiles(prefix, "install prefix")
    raise ConfigError(
        f"cannot find the {PACKAGE} config/ and urdf/: not a checkout, not in the ament index (source the "
        f"workspace's setup.bash, or set AMENT_PREFIX_PATH) and not in {prefix}"
    )


def params_path(spec: NodeSpec, config_dir: Path | None = None) -> Path:
    return (config_dir or package_files().config_dir) / spec.params_file


# --- the graph for a set of launch arguments -----------------------------------------------------------------------


@dataclass(frozen=True)
class NodePlan:
    """One node to start: its spec, its parameter layers 2 (derived) and 4 (explicit), its remaps."""

    spec: NodeSpec
    derived: dict[str, Any]
    explicit: dict[str, Any]
    remaps: dict[str, str]


def camera_remaps(args: LaunchArgs) -> dict[str, str]:
    """Default camera topics -> the chosen source's topics."""
    if args.camera != "realsense":
        return dict(CAMERA_REMAPS[args.camera])
    ns = "/" + args.camera_namespace.strip("/")
    return {topic: topic.replace("/camera/camera", ns, 1) for topic in DEFAULT_CAMERA_TOPICS if ns != "/camera/camera"}


def node_remaps(args: LaunchArgs, spec: NodeSpec) -> dict[str, str]:
    """The topic remaps of `spec`: the camera topics (CAMERA_NODES) and, for the perception node reading a
    simulator's segmentation camera, its label topic onto LABELS_TOPIC."""
    remaps = camera_remaps(args) if spec in CAMERA_NODES else {}
    source = args.label_source
    if spec is PERCEPTION and source is not None:
        remaps[LABELS_TOPIC] = source.topic
    return remaps


def label_overrides(source: LabelSource) -> dict[str, str]:
    """The perception node names objects from a simulator's label images, read in `source.encoding`."""
    return {"detections": "labels", "labels.encoding": source.encoding}


def camera_pose_overrides(urdf_path: Path, base_frame: str = BASE_FRAME, optical_frame: str = OPTICAL_FRAME) -> dict:
    """The perception node's camera pose parameters from the workcell URDF's camera mount."""
    from robospatial_ros.core.urdf import frame_transform

    return camera_pose_parameters(frame_transform(urdf_path, base_frame, optical_frame))


def camera_pose_parameters(camera_to_world: Any) -> dict[str, list[float]]:
    """(4, 4) optical frame -> base_frame (metres) as the perception node's camera_position_m and
    camera_orientation_xyzw parameters (the inverse of PerceptionNodeConfig.camera_to_world)."""
    from robospatial_ros.core.geometry import quaternion_from_matrix

    T = camera_to_world
    return {
        "camera_position_m": [float(v) for v in T[:3, 3]],
        "camera_orientation_xyzw": [float(v) for v in quaternion_from_matrix(T[:3, :3])],
    }


def workspace_overrides(urdf_path: Path) -> dict[str, list[float]]:
    """The perception workspace from the workcell URDF's table (the robot's base and stand, the floor and
    furniture around the table stay out)."""
    from robospatial_ros.core.urdf import workspace_from_urdf

    lo, hi = workspace_from_urdf(urdf_path)
    return {"perception.workspace_min_xyz_m": list(lo), "perception.workspace_max_xyz_m": list(hi)}


def sim_perception_overrides(config: Any = None) -> dict[str, Any]:
    """The perception node's camera pose (the simulated D435's optical frame in the base, not the URDF
    mount's rounded one) and mask detections, for the tabletop `config` (a TabletopConfig; default
    the built-in one); mujoco is imported here."""
    from robospatial_ros.sim.tabletop import TabletopConfig

    camera = (config or TabletopConfig()).camera()
    return {**camera_pose_parameters(camera.camera_to_world), "detections": "masks"}


def derived_parameters(args: LaunchArgs, spec: NodeSpec, files: PackageFiles) -> dict[str, Any]:
    """Layer 2: what the setup implies for `spec` (only the perception node's camera has any)."""
    if spec is not PERCEPTION:
        return {}
    if args.sim:  # the simulator's camera exactly (as the direct demo sees it), its objects named by masks
        return sim_perception_overrides()
    labels = {} if args.label_source is None else label_overrides(args.label_source)
    return {**camera_pose_overrides(files.urdf), **workspace_overrides(files.urdf), **labels}


def explicit_parameters(args: LaunchArgs, spec: NodeSpec) -> dict[str, Any]:
    """Layer 4: the launch arguments given (not None) that set a parameter of `spec`."""
    out: dict[str, Any] = {}
    if args.use_sim_time is not None:
        out["use_sim_time"] = args.use_sim_time
    if spec is REASONER and args.backend is not None:
        out["backend"] = args.backend
    if spec is PLANNER and args.plan_only is not None:
        out["plan_only"] = args.plan_only
    if spec is PERCEPTION and args.labels_encoding is not None:
        out["labels.encoding"] = args.labels_encoding
    if spec is PERCEPTION and args.labels_file:
        out["labels.names_file"] = str(Path(args.labels_file).resolve())
    return out


def graph_for(args: LaunchArgs, files: PackageFiles | None = None) -> list[NodePlan]:
    """Every node the launch arguments start, with its derived and explicit parameters and its remaps."""
    files = files or package_files()
    return [
        NodePlan(spec, derived_parameters(args, spec, files), explicit_parameters(args, spec), node_remaps(args, spec))
        for spec in (SIM_GRAPH if args.sim else ROBOT_GRAPH)
    ]


def write_params_file(path: Path, parameters: Mapping[str, Mapping[str, Any]]) -> Path:
    """{node name: {parameter: value}} as a ROS params file at `path` (nodes without parameters included)."""
    import yaml

    data = {name: {"ros__parameters": dict(values)} for name, values in parameters.items()}
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def ros_args(params_files: Sequence[Path] = (), remaps: Mapping[str, str] | None = None) -> list[str]:
    """`--ros-args` for one process: the params files in order (later ones win) and the remaps."""
    args = ["--ros-args"]
    for path in params_files:
        args += ["--params-file", str(path)]
    for src, dst in (remaps or {}).items():
        args += ["-r", f"{src}:={dst}"]
    return args


def make_node(spec: NodeSpec, parameter_overrides: dict[str, Any] | None = None, **node_kwargs: Any) -> Any:
    """Construct the node class of `spec` (rclpy must be initialised)."""
    from rclpy.parameter import Parameter

    cls = getattr(importlib.import_module(spec.module), spec.cls)
    overrides = [Parameter(k, value=v) for k, v in (parameter_overrides or {}).items()]
    return cls(parameter_overrides=overrides, **node_kwargs)


class GraphRunner:
    """All nodes of a graph in one process (the stand-in for `ros2 launch` where launch is not
    installed, and what `robospatial demo` drives): each node on its own single-threaded executor
    in its own thread, as separate processes would run them. One shared multi-threaded executor
    cost the perception node two thirds of its rate (10 Hz instead of 30 Hz at 640x480)."""

    # A callback still running at shutdown (a plan being checked, an execution) gets this long to end
    # before its node is destroyed under it (which printed rclpy InvalidHandle tracebacks).
    STOP_TIMEOUT_S = 30.0

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
        thread = threading.Thread(target=_spin_quietly, args=(executor,), daemon=True, name=f"spin-{node.get_name()}")
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

    def remove(self, node: Any) -> bool:
        """Stop spinning `node`; False when its callback did not end in time (then it is not safe to destroy)."""
        executor, thread = self._spinning.pop(node)
        executor.shutdown(timeout_sec=self.STOP_TIMEOUT_S)
        if thread is not None:
            thread.join(timeout=self.STOP_TIMEOUT_S)
            return not thread.is_alive()
        return True

    def shutdown(self) -> None:
        """Stop every executor first (each waits for its running callback), then destroy the nodes."""
        stopped = {node: self.remove(node) for node in list(self._spinning)}
        for node in self.nodes.values():
            if stopped.get(node, True):
                node.destroy_node()


def _spin_quietly(executor: Any) -> None:
    """`executor.spin()`, ending without a traceback when the graph shuts down under it."""
    from rclpy.executors import ExternalShutdownException

    try:
        executor.spin()
    except ExternalShutdownException:
        pass
