"""The shipped config files against the dataclasses they configure.

Each node's params file (config/<node>.yaml, ROS params-file format) restates its defaults for
reading: every key must be a parameter of the node's NODE_CONFIG dataclass and its value that
dataclass's default, except the deliberate presets listed below (checked against their source).
The other config files must load through their loaders (no unknown key, valid values); vlm.yaml
restates VLMBackendConfig's defaults. (mix_example.yaml names data that must exist: not loaded here.)
"""

import importlib
from pathlib import Path
from typing import Any

import pytest

from robospatial_ros.core.configio import from_mapping, load_config, read_yaml_mapping
from robospatial_ros.core.reasoning.backends import VLMBackendConfig
from robospatial_ros.core.resources import DEFAULT_TABLETOP_CONFIG
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.ros.graph import PERCEPTION, REASONER, SIM_GRAPH, NodeSpec, params_path
from robospatial_ros.ros.params import parameter_defaults

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"

# {node: {key prefix: (where its values come from instead of the dataclass defaults, why)}}
PRESETS: dict[str, dict[str, tuple[dict[str, Any], str]]] = {
    "reasoner": {
        "spatial.": (
            parameter_defaults(load_config(SpatialConfig, DEFAULT_TABLETOP_CONFIG), "spatial."),
            "the tabletop values of robospatial_ros/data/tabletop.yaml (SpatialConfig's defaults are the "
            "room-scale reference generator's)",
        ),
    },
}


def _flatten(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}, "c.d": 2} -> {"a.b": 1, "c.d": 2}: ROS reads nested and dotted keys alike."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _node_config(spec: NodeSpec) -> type:
    cls = getattr(importlib.import_module(spec.module), "NODE_CONFIG", None)
    if cls is None:
        pytest.fail(
            f"{spec.module} has no NODE_CONFIG: the {spec.name} node's parameters must be one frozen dataclass "
            f"(declare_config(self, <NodeConfig>()), NODE_CONFIG = <NodeConfig>) to check config/{spec.params_file}"
        )
    return cls


def _file_parameters(spec: NodeSpec) -> dict[str, Any]:
    data = read_yaml_mapping(params_path(spec, CONFIG_DIR))
    assert list(data) == [spec.name], f"config/{spec.params_file} must hold `{spec.name}: ros__parameters: ...` only"
    assert list(data[spec.name]) == ["ros__parameters"], f"config/{spec.params_file}: {list(data[spec.name])}"
    return _flatten(data[spec.name]["ros__parameters"])


def _expected(spec: NodeSpec, defaults: dict[str, Any]) -> dict[str, Any]:
    """The dataclass defaults with this node's presets laid over them."""
    expected = dict(defaults)
    for prefix, (values, _why) in PRESETS.get(spec.name, {}).items():
        assert all(k.startswith(prefix) for k in values) and set(values) <= set(defaults), prefix
        expected.update(values)
    return expected


@pytest.mark.parametrize("spec", SIM_GRAPH, ids=lambda s: s.name)
def test_node_params_file_restates_its_node_config_defaults(spec):
    cls = _node_config(spec)
    values, defaults = _file_parameters(spec), parameter_defaults(cls())
    unknown = sorted(set(values) - set(defaults))
    assert not unknown, f"config/{spec.params_file}: not parameters of {cls.__name__}: {unknown}"
    expected = _expected(spec, defaults)
    differ = {k: (v, expected[k]) for k, v in values.items() if not _same(v, expected[k])}
    assert not differ, f"config/{spec.params_file} (file value, default): {differ}"
    # ... and the node reads the file as it stands (the dataclass validates it).
    assert isinstance(from_mapping(cls, values, source=spec.params_file), cls)


def test_presets_cover_what_differs_from_the_defaults():
    """A preset's value that differs from the node default must be in the file: the node runs with the file."""
    defaults = parameter_defaults(_node_config(REASONER)())
    values = _file_parameters(REASONER)
    for preset, why in PRESETS["reasoner"].values():
        missing = sorted(k for k, v in preset.items() if k not in values and not _same(v, defaults[k]))
        assert not missing, f"config/{REASONER.params_file} lacks {missing} of {why}"


def _same(a: Any, b: Any) -> bool:
    """Equal as parameter values: lists element-wise, bools only to bools, 1 == 1.0 (the dataclass coerces)."""
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        both = isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b)
        return both and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def test_the_comparison_finds_drift():
    defaults = parameter_defaults(_node_config(PERCEPTION)())
    assert _flatten({"perception": {"min_depth_m": 0.3}, "realsense.fps": 15}) == {
        "perception.min_depth_m": 0.3,
        "realsense.fps": 15,
    }
    assert not _same(0.3, defaults["perception.min_depth_m"]) and _same(0.2, defaults["perception.min_depth_m"])
    assert not _same(1, True) and not _same("true", True) and not _same([1.15, 0.25], defaults["camera_position_m"])
    assert _same([1.15, 0.25, 0.7], defaults["camera_position_m"]) and _same(3, 3.0)


def test_vlm_yaml_restates_the_vlm_backend_defaults():
    assert load_config(VLMBackendConfig, CONFIG_DIR / "vlm.yaml") == VLMBackendConfig()


TRAINING_CONFIGS = [
    "train_sft.yaml",
    "train_grpo.yaml",
    *(f"curriculum/{p.name}" for p in (CONFIG_DIR / "curriculum").glob("*.yaml")),
]


@pytest.mark.parametrize("name", sorted(TRAINING_CONFIGS))
def test_training_configs_load(name):
    from robospatial_ros.learn.train.config import load_train_config

    assert load_train_config(CONFIG_DIR / name).output_dir


def test_curriculum_and_datagen_configs_load():
    from robospatial_ros.learn.datagen.robospatial import RoboSpatialGenConfig
    from robospatial_ros.learn.train.config import load_curriculum

    assert [s.kind for s in load_curriculum(CONFIG_DIR / "curriculum_example.yaml").stages] == ["sft", "sft", "grpo"]
    assert load_config(RoboSpatialGenConfig, CONFIG_DIR / "datagen_robospatial.yaml").spatial_preset == "auto"


def test_the_reasoner_proposes_only_what_the_planner_accepts():
    """The reasoner picks placements with its job.* plannability test and planning.* reach; the planner
    re-plans with its own copy of both. The shipped files must agree, or the graph refuses its own picks."""
    from robospatial_ros.ros.graph import PLANNER

    def effective(spec: NodeSpec) -> dict[str, Any]:
        return {**parameter_defaults(_node_config(spec)()), **_file_parameters(spec)}

    reasoner, planner = effective(REASONER), effective(PLANNER)
    for key in ("check_reachability", "check_path"):
        assert _same(reasoner[f"job.{key}"], planner[key]), key
    shared = sorted(k for k in reasoner if k.startswith("planning.") and k in planner)
    assert len(shared) > 10
    for key in shared:
        assert _same(reasoner[key], planner[key]), key
