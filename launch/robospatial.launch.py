"""ros2 launch robospatial_ros robospatial.launch.py robot:=panda camera:=realsense [sim:=true] ...

Thin: which nodes run, with which parameters and remaps, is declared once in
robospatial_ros/ros/graph.py (shared with `robospatial bringup`, which runs the same graph in
one process where ros2 launch is not installed).
"""

import dataclasses
import os
from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription
from robospatial_ros.ros.graph import PACKAGE, LaunchArgs, graph_for


def _value(field: dataclasses.Field, text: str):
    return text.lower() in ("1", "true", "yes") if field.type in (bool, "bool") else text


def _nodes(context, *args, **kwargs):
    fields = dataclasses.fields(LaunchArgs)
    launch_args = LaunchArgs(**{f.name: _value(f, LaunchConfiguration(f.name).perform(context)) for f in fields})
    share = get_package_share_directory(PACKAGE)
    config_dir = os.path.join(share, "config")
    nodes = []
    for spec, overrides, remaps in graph_for(launch_args, Path(share) / "urdf" / "workcell.urdf"):
        parameters = [os.path.join(config_dir, spec.params_file)]
        if launch_args.params_file:
            parameters.append(launch_args.params_file)
        parameters.append(overrides)
        nodes.append(
            Node(
                package=PACKAGE,
                executable=spec.executable,
                name=spec.name,
                output="screen",
                parameters=parameters,
                remappings=list(remaps.items()),
            )
        )
    return nodes


def generate_launch_description():
    defaults = LaunchArgs()
    declared = [
        DeclareLaunchArgument(
            f.name,
            default_value=str(getattr(defaults, f.name)).lower()
            if isinstance(getattr(defaults, f.name), bool)
            else str(getattr(defaults, f.name)),
        )
        for f in dataclasses.fields(LaunchArgs)
    ]
    return LaunchDescription([*declared, OpaqueFunction(function=_nodes)])
