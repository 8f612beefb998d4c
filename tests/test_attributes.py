"""Attributes of perceived objects (colour name, size class, height) and references by them.

Colours come from the object's own pixels in CIELAB (core.perception.attributes); references by
attributes, position and id resolve through core.scene.resolve_name, on synthetic scenes, the
simulator without masks and the repo's real frames (tests/data/realdata).
"""

import functools
import os
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np
import pytest

from robospatial_ros.bench.realdata import load, perceive, read_index
from robospatial_ros.core.camera import CameraModel
from robospatial_ros.core.errors import AmbiguousObjectError, ConfigError, UnknownObjectError
from robospatial_ros.core.geometry import OrientedBox
from robospatial_ros.core.language.commands import parse_command
from robospatial_ros.core.perception.attributes import COLOURS, AttributeConfig, colour_name, size_class
from robospatial_ros.core.perception.pipeline import Perception, PerceptionConfig
from robospatial_ros.core.scene import PALETTE, Scene, SceneObject, UnknownColourError, resolve_name

DATA = Path(__file__).resolve().parent / "data" / "realdata"

# sRGB of each palette colour as a camera might see it (lit side).
SAMPLES = {
    "red": (200, 25, 30),
    "orange": (245, 135, 15),
    "yellow": (240, 220, 40),
    "green": (40, 150, 60),
    "blue": (30, 70, 200),
    "purple": (110, 30, 140),
    "pink": (250, 150, 195),
    "brown": (115, 65, 25),
    "black": (18, 18, 20),
    "white": (235, 235, 235),
    "grey": (125, 125, 128),
}


def _shaded(rgb, n=400):
    """(n, 3) uint8 pixels of one colour under shading from full light down to 60% (a lit and a shaded side)."""
    light = np.linspace(0.6, 1.0, n)[:, None]
    return np.clip(np.array(rgb, float)[None] * light, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("name", COLOURS)
def test_each_palette_colour_is_named_under_shading(name):
    assert colour_name(_shaded(SAMPLES[name])) == name  # KeyError: a palette colour without a sample


def test_the_palette_is_the_issues_eleven_colours_and_every_one_has_a_sample():
    assert set(SAMPLES) == set(PALETTE) and len(PALETTE) == 11


def test_white_under_a_cool_light_is_white_and_no_pixels_name_nothing():
    cool_white = _shaded((205, 215, 240))  # chroma ~15: a camera's white balance off towards blue
    assert colour_name(cool_white) == "white"
    assert colour_name(np.zeros((0, 3), np.uint8)) == ""


def test_a_label_does_not_outvote_the_body():
    # 70% green body, 30% white label: green; 70% dark can, 30% white label: black.
    assert colour_name(np.r_[_shaded((40, 150, 60), 700), _shaded((240, 240, 240), 300)]) == "green"
    assert colour_name(np.r_[_shaded((25, 25, 30), 700), _shaded((240, 240, 240), 300)]) == "black"


def test_size_classes_and_a_bad_config():
    box = lambda side: OrientedBox(np.zeros(3), np.array([side, side, side]), np.eye(3))  # noqa: E731
    assert [size_class(box(s)) for s in (0.05, 0.12, 0.3)] == ["small", "medium", "large"]
    with pytest.raises(ConfigError):
        AttributeConfig(small_max_side_m=0.3, large_min_side_m=0.2)


# --- references on a synthetic perceived scene ------------------------------------------------------


def _camera():
    """A camera 1 m above the origin looking down: image x grows with world x."""
    K = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
    T = np.eye(4)
    T[:3, :3] = np.diag([1.0, -1.0, -1.0])  # optical z down, x right
    T[2, 3] = 1.0
    return CameraModel(K, 640, 480, T)


def _obj(name, x, y, height, colour, size, category=""):
    box = OrientedBox(np.array([x, y, height / 2]), np.array([0.06, 0.06, height]), np.eye(3))
    return SceneObject(name, box, None, category=category, colour=colour, size_class=size)


def _scene():
    table = SceneObject("table", OrientedBox(np.array([0, 0, -0.01]), np.array([1.0, 1.0, 0.02]), np.eye(3)))
    objects = [
        table,
        _obj("object_0", -0.3, 0.0, 0.10, "red", "small"),
        _obj("object_1", -0.1, 0.2, 0.05, "blue", "small"),
        _obj("object_2", 0.1, -0.2, 0.15, "blue", "medium"),
        _obj("object_3", 0.3, 0.1, 0.25, "green", "large", category="box"),
        _obj("object_4", 0.2, 0.3, 0.08, "red", "medium", category="mug"),
    ]
    base = np.eye(4)
    base[:3, 3] = [0.0, -0.6, 0.0]  # the robot stands at -y: object_2 is nearest
    return Scene(tuple(objects), _camera(), base)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("the small blue one", "object_1"),
        ("the blue object nearest the robot", "object_2"),
        ("the tall box", "object_3"),
        ("the leftmost object", "object_0"),
        ("the rightmost object", "object_3"),
        ("the object nearest the robot", "object_2"),
        ("the tallest object", "object_3"),
        ("object 3", "object_3"),
        ("#4", "object_4"),
        ("the red mug", "object_4"),
        ("the small red object", "object_0"),
        ("the green one", "object_3"),
        ("the large object", "object_3"),
        ("the gray object", None),  # an alias of grey: none is grey
    ],
)
def test_references_by_attributes_position_and_id(text, expected):
    names = _scene().names
    if expected is None:
        with pytest.raises(UnknownObjectError):
            resolve_name(text, names)
    else:
        assert resolve_name(text, names) == expected


def test_an_ambiguous_reference_lists_the_candidates_with_what_tells_them_apart():
    with pytest.raises(AmbiguousObjectError) as err:
        resolve_name("the blue object", _scene().names)
    assert err.value.matches == ["object_1", "object_2"]
    text = str(err.value)
    assert "small" in text and "medium" in text and "5 cm tall" in text and "15 cm tall" in text
    with pytest.raises(AmbiguousObjectError, match="object_0"):
        resolve_name("the red object", _scene().names)


def test_bad_references_are_typed_errors():
    names = _scene().names
    with pytest.raises(UnknownColourError, match="colours are: red, orange"):
        resolve_name("the magenta object", names)
    with pytest.raises(UnknownObjectError, match="object 9"):
        resolve_name("object 9", names)
    with pytest.raises(UnknownObjectError, match="object_1 \\(blue, small"):  # none: the candidates listed
        resolve_name("the yellow object", names)


def test_a_command_by_attributes():
    cmd = parse_command("put the small blue one to the left of the tall box", _scene().names)
    assert (cmd.target, cmd.reference) == ("object_1", "object_3")


# --- the repo's real frames ------------------------------------------------------------------------


@functools.cache
def _uois0():
    spec = {s.name: s for s in read_index(DATA)}["uois-lab/image_0000"]
    return perceive(Perception(PerceptionConfig(return_cloud=False)), load(DATA, spec)).scene


# Where the objects of uois-lab image_0000 are in the image (pixels, hand-labelled).
UOIS0 = {
    "meat tin": (75, 305),
    "dark can": (172, 262),
    "black mug": (205, 195),
    "mustard": (283, 100),
    "white mug": (310, 250),
    "teal bowl": (233, 375),
    "cheez-it box": (480, 240),
}


def _at(scene, what):
    """The perceived object whose box centre projects nearest the labelled pixel of `what`."""
    objects = [o for o in scene.objects if o.name != "table"]
    uv, _ = scene.camera.project(np.array([o.box.center for o in objects]))
    k = int(np.argmin(np.linalg.norm(uv - np.array(UOIS0[what]), axis=1)))
    assert np.linalg.norm(uv[k] - np.array(UOIS0[what])) < 40, what
    return objects[k]


def test_real_frame_colours():
    scene = _uois0()
    expected = {"black mug": "black", "dark can": "black", "white mug": "white", "mustard": "yellow"}
    expected |= {"cheez-it box": "red", "teal bowl": "green"}
    assert {what: _at(scene, what).colour for what in expected} == expected


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("the tall black object", "black mug"),
        ("the small black one", "dark can"),
        ("the white mug", None),  # no categories without a detector: "mug" is unknown
        ("the tallest yellow object", "mustard"),
        ("the green object", "teal bowl"),
        ("the leftmost object", "meat tin"),
        ("the largest object", "cheez-it box"),
    ],
)
def test_real_frame_references(text, what):
    scene = _uois0()
    if what is None:
        with pytest.raises(UnknownObjectError):
            resolve_name(text, scene.names)
    else:
        assert resolve_name(text, scene.names) == _at(scene, what).name


def test_real_frame_ambiguity_and_a_command():
    scene = _uois0()
    with pytest.raises(AmbiguousObjectError) as err:
        resolve_name("the black object", scene.names)
    assert sorted(err.value.matches) == sorted([_at(scene, "black mug").name, _at(scene, "dark can").name])
    assert "small" in str(err.value) and "medium" in str(err.value)
    cmd = parse_command("put the tall black object to the left of the green object", scene.names)
    assert (cmd.target, cmd.reference) == (_at(scene, "black mug").name, _at(scene, "teal bowl").name)


# --- the simulator with its masks turned off: clustering alone ---------------------------------------

SIM_LAYOUT = (("can", 0.45, 0.15, 0.0), ("box", 0.62, -0.05, 0.4), ("bowl", 0.45, -0.25, 0.0))


@functools.cache
def _sim_clusters():
    from robospatial_ros.sim.tabletop import TabletopConfig, TabletopSim

    sim = TabletopSim(TabletopConfig(seed=0, objects=("can", "box", "bowl"), fixed_poses=SIM_LAYOUT))
    scene = Perception().perceive(sim.render().frame).scene  # no masks: object_0, object_1, ...
    truth = {}
    for name in sim.names:
        centre = sim.object_box(name).center[:2]
        truth[name] = min(scene.objects[1:], key=lambda o: np.linalg.norm(o.box.center[:2] - centre)).name
    return scene, truth


def test_simulator_without_masks_colours_and_commands():

    scene, truth = _sim_clusters()
    for name, perceived in truth.items():  # the catalogue's colours, named by eye
        assert scene.get(perceived).colour == {"can": "green", "box": "orange", "bowl": "blue"}[name], name
    cmd = parse_command("put the orange object to the left of the blue object", scene.names)
    assert (cmd.target, cmd.reference) == (truth["box"], truth["bowl"])
    cmd = parse_command(f"put object {truth['can'].split('_')[1]} behind the small orange one", scene.names)
    assert (cmd.target, cmd.reference) == (truth["can"], truth["box"])
