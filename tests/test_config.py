"""Config dataclasses: defaults < YAML < overrides, typed validation, one-line errors."""

import pytest

from robospatial_ros.core.configio import load_config, to_mapping
from robospatial_ros.core.errors import ConfigError
from robospatial_ros.core.spatial.config import SpatialConfig


def test_layers_defaults_then_yaml_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("grid_resolution_m: 0.01\nstrictness: lenient\ncompatibility_angles_deg: [0, 90]\n")
    cfg = load_config(SpatialConfig, path, {"strictness": "strict"})
    assert cfg.grid_resolution_m == 0.01  # from the file
    assert cfg.strictness == "strict"  # the override wins
    assert cfg.context_threshold_m == SpatialConfig().context_threshold_m  # the default
    assert cfg.compatibility_angles_deg == (0, 90)
    assert load_config(SpatialConfig, None, to_mapping(cfg)) == cfg  # round trip


@pytest.mark.parametrize(
    "values, words",
    [
        ({"compatibility_angles_deg": 5}, "compatibility_angles_deg"),
        ({"flat_surfaces": 5}, "flat_surfaces"),
        ({"context_threshold_m": float("inf")}, "context_threshold_m"),
        ({"buffer_ratio": True}, "buffer_ratio"),
        ({"grid_resolution_m": "abc"}, "grid_resolution_m"),
        ({"max_context_points": 2.5}, "max_context_points"),
        ({"buffer_ratio": 1.5}, "buffer_ratio"),
        ({"grid_resolution_m": 0.0}, "grid_resolution_m"),
        ({"strictness": "sloppy"}, "strictness"),
        ({"world_heading": "north"}, "world_heading"),
        ({"no_such_key": 1}, "no_such_key"),
    ],
)
def test_bad_values_are_config_errors_naming_the_key(values, words):
    with pytest.raises(ConfigError) as err:
        load_config(SpatialConfig, None, values)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_file_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("strictness: [unclosed\n")
    for path in (bad, tmp_path, tmp_path / "missing.yaml"):
        with pytest.raises(ConfigError) as err:
            load_config(SpatialConfig, path)
        assert "\n" not in str(err.value)
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(SpatialConfig, tmp_path / "list.yaml")


def test_exponent_floats_that_yaml_reads_as_text_load_as_floats(tmp_path):
    path = tmp_path / "spatial.yaml"
    path.write_text("grid_resolution_m: 1e-2\n")  # YAML 1.1: no dot, so a string
    assert load_config(SpatialConfig, path).grid_resolution_m == 0.01
    assert load_config(SpatialConfig, None, {"min_distance_m": "5e-2"}).min_distance_m == 0.05
    with pytest.raises(ConfigError, match="grid_resolution_m"):
        load_config(SpatialConfig, None, {"grid_resolution_m": "fine"})
