"""ROS parameters derived from the config dataclasses: declared with defaults, read back validated."""

import pytest
import rclpy
from rclpy.context import Context
from rclpy.parameter import Parameter

from robospatial_ros.core.errors import ConfigError
from robospatial_ros.core.planning.pick_place import PickPlaceConfig
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.ros.params import declare_config, read_config


@pytest.fixture
def context():
    ctx = Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.shutdown(context=ctx)


def _node(context, overrides=()):
    return rclpy.create_node("params_test", context=context, parameter_overrides=list(overrides))


def test_defaults_round_trip_including_nested_configs(context):
    node = _node(context)
    declare_config(node, SpatialConfig(), "spatial.")
    declare_config(node, PickPlaceConfig(), "planning.")
    assert read_config(node, SpatialConfig, "spatial.") == SpatialConfig()
    assert read_config(node, PickPlaceConfig, "planning.") == PickPlaceConfig()
    assert node.has_parameter("planning.gripper.finger_half_width_m")
    node.destroy_node()


def test_overrides_are_typed_and_validated(context):
    node = _node(
        context,
        [
            Parameter("spatial.grid_resolution_m", value=0.01),
            Parameter("spatial.strictness", value="lenient"),
            Parameter("spatial.compatibility_angles_deg", value=[0, 90]),
            Parameter("planning.gripper.hand_half_size_m", value=[0.03, 0.1]),
        ],
    )
    declare_config(node, SpatialConfig(), "spatial.")
    declare_config(node, PickPlaceConfig(), "planning.")
    cfg = read_config(node, SpatialConfig, "spatial.")
    assert (cfg.grid_resolution_m, cfg.strictness, cfg.compatibility_angles_deg) == (0.01, "lenient", (0, 90))
    assert read_config(node, PickPlaceConfig, "planning.").gripper.hand_half_size_m == (0.03, 0.1)
    node.destroy_node()


def test_bad_value_is_a_config_error_naming_the_parameter(context):
    node = _node(context, [Parameter("spatial.strictness", value="sloppy")])
    declare_config(node, SpatialConfig(), "spatial.")
    with pytest.raises(ConfigError, match="strictness"):
        read_config(node, SpatialConfig, "spatial.")
    node.destroy_node()
