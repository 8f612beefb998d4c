"""Answers may be lenient (centroids decide, the tabletop default on real depth), placements never are:
a placed object must be wholly on its side of the reference, extents apart."""

from dataclasses import replace

import pytest

from robospatial_ros.core.language.commands import parse_command
from robospatial_ros.core.reasoning.placement import choose_placement
from robospatial_ros.core.spatial.config import SpatialConfig
from robospatial_ros.core.spatial.configuration import configuration
from robospatial_ros.core.spatial.view import SceneView

import scenes

LENIENT = SpatialConfig(strictness="lenient", grid_resolution_m=0.01, context_threshold_m=0.25, min_distance_m=0.0)


@pytest.mark.parametrize("side", ["to the left of", "to the right of", "in front of", "behind"])
def test_a_lenient_config_still_places_the_whole_object_on_its_side(side):
    s = scenes.scene(scenes.cube("mug", 0.3, -0.3, 0.06), scenes.cube("bowl", 0.45, 0.0, 0.12))
    cmd = parse_command(f"put the mug {side} the bowl", s.names)
    placement = choose_placement(SceneView(s, LENIENT), cmd)
    mug = s.get("mug")
    moved = s.with_objects(tuple(replace(mug, box=placement.box) if o is mug else o for o in s.objects))
    strict = replace(LENIENT, strictness="strict")
    view = SceneView(moved, strict)
    assert cmd.relation in configuration(view, moved.get("mug"), moved.get("bowl"), cmd.frame)
