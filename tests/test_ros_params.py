"""ROS parameters derived from the config dataclasses: declared with defaults and described, read back
validated, read-only unless a node applies them while running (then validated through the dataclass)."""

from dataclasses import dataclass, field

import pytest
import rclpy
from rclpy.context import Context
from rclpy.parameter import Parameter
from ros_helpers import fresh_domain_id

from robospatial_ros.core.errors import ConfigError
from robospatial_ros.core.planning.pick_place import PickPlaceConfig
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.ros.nodes.perception_node import PerceptionNode
from robospatial_ros.ros.params import declare_config, on_config_change, read_config

DOMAIN = fresh_domain_id()  # the perception node below subscribes: keep it off other tests' graphs


@pytest.fixture
def context():
    ctx = Context()
    rclpy.init(context=ctx, domain_id=DOMAIN)
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


def test_parameters_are_read_only_and_described(context):
    """Read once at start, so a later set is refused with a reason (not silently ignored)."""
    node = _node(context)
    declare_config(node, SpatialConfig(), "spatial.")
    descriptor = node.describe_parameter("spatial.grid_resolution_m")
    assert descriptor.read_only
    assert descriptor.description.startswith("SpatialConfig.grid_resolution_m (float): ")
    assert "cell size" in descriptor.description  # the field's comment in SpatialConfig's source
    result = node.set_parameters([Parameter("spatial.grid_resolution_m", value=0.05)])[0]
    assert not result.successful and "read-only" in result.reason
    assert node.get_parameter("spatial.grid_resolution_m").value == SpatialConfig().grid_resolution_m
    node.destroy_node()


@dataclass(frozen=True)
class Knobs:
    rate_hz: float = 10.0  # how often to tick
    label: str = field(default="a", metadata={"help": "what to call it"})
    planning: PickPlaceConfig = field(default_factory=PickPlaceConfig)

    def __post_init__(self) -> None:
        if not self.rate_hz > 0:
            raise ConfigError(f"rate_hz must be > 0, got {self.rate_hz}")


def test_writable_parameters_are_validated_through_the_dataclass_and_applied(context):
    node = _node(context)
    declare_config(node, Knobs(), writable=("rate_hz", "planning."))
    applied: list[Knobs] = []
    on_config_change(node, Knobs, applied.append)
    assert node.describe_parameter("label").description == "Knobs.label (str): what to call it"
    assert "[settable at run time]" in node.describe_parameter("planning.max_reach_m").description
    assert not node.describe_parameter("planning.max_reach_m").read_only and node.describe_parameter("label").read_only

    assert node.set_parameters([Parameter("rate_hz", value=20)])[0].successful  # an int for a float: coerced
    assert applied[-1].rate_hz == 20.0 and applied[-1].planning == PickPlaceConfig()
    ok = node.set_parameters_atomically(
        [Parameter("planning.max_reach_m", value=0.7), Parameter("planning.min_reach_m", value=0.2)]
    )
    assert ok.successful and (applied[-1].planning.max_reach_m, applied[-1].planning.min_reach_m) == (0.7, 0.2)

    for name, bad, says in (("rate_hz", 0.0, "rate_hz must be > 0"), ("planning.max_reach_m", 0.1, "min_reach_m")):
        result = node.set_parameters([Parameter(name, value=bad)])[0]
        assert not result.successful and says in result.reason, result.reason
    assert len(applied) == 2 and node.get_parameter("rate_hz").value == 20  # old values kept, nothing applied
    assert node.get_parameter("planning.max_reach_m").value == 0.7
    assert read_config(node, Knobs).planning.max_reach_m == 0.7
    refused = node.set_parameters([Parameter("label", value="b")])[0]
    assert not refused.successful and "read-only" in refused.reason and len(applied) == 2
    with pytest.raises(ConfigError, match="rate"):
        declare_config(_node(context), Knobs(), writable=("rate",))  # a typo names no parameter
    node.destroy_node()


def test_perception_node_applies_its_runtime_parameters(context):
    """The perception node: status_every_n and perception.* apply while running; the rest is read-only."""
    node = PerceptionNode(context=context)
    assert node.describe_parameter("base_frame").read_only and node.describe_parameter("realsense.fps").read_only
    refused = node.set_parameters([Parameter("base_frame", value="world")])[0]
    assert not refused.successful and "read-only" in refused.reason and node.settings.base_frame == "panda_link0"

    assert node.set_parameters([Parameter("status_every_n", value=7)])[0].successful
    assert node.settings.status_every_n == 7
    pipeline = node._perception
    assert node.set_parameters([Parameter("perception.min_depth_m", value=0.4)])[0].successful
    assert node._perception is not pipeline and node._perception.config.min_depth_m == 0.4  # a new pipeline

    bad = node.set_parameters([Parameter("perception.min_depth_m", value=5.0)])[0]  # beyond max_depth_m (3 m)
    assert not bad.successful and "min_depth_m" in bad.reason, bad.reason
    assert node.get_parameter("perception.min_depth_m").value == 0.4 and node._perception.config.min_depth_m == 0.4
    assert not node.set_parameters([Parameter("status_every_n", value=0)])[0].successful
    assert node.settings.status_every_n == 7
    node.destroy_node()
