"""ros2 launch robospatial_ros robospatial.launch.py [robot:=panda] [camera:=realsense] [sim:=true] ...

`ros2 launch robospatial_ros robospatial.launch.py --show-args` lists the arguments; `--print` shows
the nodes. Which nodes run, with which parameters and remaps, is declared once in
robospatial_ros/ros/graph.py (shared with `robospatial bringup`, which runs the same graph in one
process where ros2 launch is not installed).

Parameters of a node, each layer overriding the ones before it: config/<node>.yaml; the values the
setup implies (the perception camera pose from urdf/workcell.urdf, or with sim:=true the simulated
camera's; with camera:=gazebo|isaac the segmentation labels as detections); the user's params_file;
the launch arguments given explicitly (backend, plan_only, use_sim_time, labels_encoding, labels_file;
left empty they set nothing). camera:=gazebo|isaac (without sim) reads the simulator's segmentation
camera: labels_topic (default gazebo /segmentation/labels_map, isaac /semantic_segmentation) is
remapped onto /robospatial/detections/labels, labels_file names the ids. A node that exits shuts the
launch down with its name, exit code and last error line (exit code 1), unless respawn:=true restarts
it. bag:=BAG plays a recording's camera topics into the graph (robospatial replay). RViz: rviz2 -d
$(ros2 pkg prefix robospatial_ros)/share/robospatial_ros/config/robospatial.rviz
"""

import atexit
import os
import tempfile
from pathlib import Path

from launch.actions import DeclareLaunchArgument, LogInfo, RegisterEventHandler
from launch.conditions import IfCondition
from launch.event_handlers import OnProcessExit, OnProcessIO
from launch.substitution import Substitution
from launch.substitutions import LaunchConfiguration, NotEqualsSubstitution
from launch_ros.actions import Node

from launch import LaunchDescription
from robospatial_ros.core.errors import ConfigError
from robospatial_ros.ros import graph

RESPAWN_DELAY_S = 2.0


class NodeExited(RuntimeError):
    """A node of the graph ended: launch reports it and shuts everything down (exit code 1)."""


def _launch_args(context) -> graph.LaunchArgs:
    names = [a.name for a in graph.launch_arguments()]
    return graph.LaunchArgs.from_strings({n: context.launch_configurations[n] for n in names})


def _temp_params(node: str, layer: str, values: dict) -> str:
    """A params file of `node` holding `values`, removed when launch exits (the node has read it by then)."""
    fd, path = tempfile.mkstemp(prefix=f"robospatial_{node}_{layer}_", suffix=".yaml")
    os.close(fd)
    atexit.register(lambda: os.path.exists(path) and os.remove(path))
    return str(graph.write_params_file(Path(path), {node: values}))


class ParamsLayer(Substitution):
    """A params file of one node, written at launch time: its `derived` or `explicit` layer (graph.py)."""

    def __init__(self, spec: graph.NodeSpec, layer: str, files: graph.PackageFiles):
        super().__init__()
        self.spec, self.layer, self.files = spec, layer, files

    def describe(self) -> str:
        return f"<{self.layer} parameters of {self.spec.name}>"

    def perform(self, context) -> str:
        args = _launch_args(context)
        if self.layer == "derived":
            values = graph.derived_parameters(args, self.spec, self.files)
        else:
            values = graph.explicit_parameters(args, self.spec)
        return _temp_params(self.spec.name, self.layer, values)


class UserParams(Substitution):
    """The params_file argument (an error if it names no file), or an empty params file when not given."""

    def __init__(self, spec: graph.NodeSpec):
        super().__init__()
        self.spec = spec

    def describe(self) -> str:
        return "<params_file, when given>"

    def perform(self, context) -> str:
        path = _launch_args(context).params_file
        if not path:
            return _temp_params(self.spec.name, "user", {})
        if not os.path.isfile(path):
            raise ConfigError(f"params_file not found: {path}")
        return os.path.abspath(path)


class RemappedTopic(Substitution):
    """The topic the launch arguments put in place of one of a node's default topics: `camera` and
    `camera_namespace` for the camera topics, `camera:=gazebo|isaac` and `labels_topic` for the labels."""

    def __init__(self, spec: graph.NodeSpec, topic: str):
        super().__init__()
        self.spec, self.topic = spec, topic

    def describe(self) -> str:
        return f"<{self.topic} of the camera arguments>"

    def perform(self, context) -> str:
        return graph.node_remaps(_launch_args(context), self.spec).get(self.topic, self.topic)


class ClockFlag(Substitution):
    """`--clock` for the bag replay when use_sim_time:=true (the recording is then the clock)."""

    def describe(self) -> str:
        return "<--clock with use_sim_time>"

    def perform(self, context) -> str:
        return "--clock" if _launch_args(context).use_sim_time else "--no-clock"


def _watch(node: Node, name: str, required: bool) -> list:
    """Shut the launch down when `node` exits (a `required` one at all, the replay only on failure),
    naming it, its exit code and its last line on stderr; nothing when respawn:=true or shutting down."""
    last_error = {"line": ""}

    def on_stderr(event) -> None:
        lines = [s.strip() for s in event.text.decode(errors="replace").splitlines() if s.strip()]
        if lines:
            last_error["line"] = lines[-1]

    def on_exit(event, context):
        if context.is_shutdown or _launch_args(context).respawn:
            return None
        if event.returncode == 0 and not required:
            return [LogInfo(msg=f"{name} finished")]
        why = f": {last_error['line']}" if last_error["line"] else ""
        raise NodeExited(f"node {name} exited with code {event.returncode}{why}")

    return [
        RegisterEventHandler(OnProcessIO(target_action=node, on_stderr=on_stderr)),
        RegisterEventHandler(OnProcessExit(target_action=node, on_exit=on_exit)),
    ]


def _graph_node(spec: graph.NodeSpec, files: graph.PackageFiles) -> Node:
    topics = list(graph.DEFAULT_CAMERA_TOPICS) if spec in graph.CAMERA_NODES else []
    topics += [graph.LABELS_TOPIC] if spec is graph.PERCEPTION else []
    remaps = [(t, RemappedTopic(spec, t)) for t in topics]
    return Node(
        package=graph.PACKAGE,
        executable=spec.executable,
        name=spec.name,
        output="screen",
        parameters=[
            str(files.params(spec)),
            ParamsLayer(spec, "derived", files),
            UserParams(spec),
            ParamsLayer(spec, "explicit", files),
        ],
        remappings=remaps,
        respawn=LaunchConfiguration("respawn"),
        respawn_delay=RESPAWN_DELAY_S,
        condition=IfCondition(LaunchConfiguration("sim")) if spec is graph.SIM_BRIDGE else None,
    )


def generate_launch_description():
    files = graph.package_files()
    actions = [
        DeclareLaunchArgument(a.name, default_value=a.default, description=a.description, choices=a.choices or None)
        for a in graph.launch_arguments()
    ]
    actions.append(LogInfo(msg=f"robospatial_ros: {files.describe()}"))
    for spec in graph.SIM_GRAPH:
        node = _graph_node(spec, files)
        actions += [node, *_watch(node, spec.name, required=True)]
    bag = LaunchConfiguration("bag")
    replay = Node(
        package=graph.PACKAGE,
        executable="robospatial",
        arguments=["replay", bag, "--rate", LaunchConfiguration("bag_rate"), ClockFlag()],
        output="screen",
        condition=IfCondition(NotEqualsSubstitution(bag, "")),
    )
    actions += [replay, *_watch(replay, "bag replay", required=False)]
    return LaunchDescription(actions)
