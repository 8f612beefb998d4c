"""Operator names for perceived objects: the naming command form, and the request parser's handling."""

import numpy as np
import pytest

from robospatial_ros.core.camera import CameraModel
from robospatial_ros.core.errors import AmbiguousObjectError, UnknownObjectError
from robospatial_ros.core.geometry import OrientedBox
from robospatial_ros.core.language.commands import PlacementCommand
from robospatial_ros.core.language.naming import NamingCommand, NamingError, is_naming, parse_naming
from robospatial_ros.core.reasoning.requests import naming_text, parse_request
from robospatial_ros.core.scene import Scene, SceneObject


@pytest.mark.parametrize(
    ("text", "reference", "name"),
    [
        ("call object 3 the mug", "object 3", "mug"),
        ("Call the red object mug.", "the red object", "mug"),
        ("name the small blue one 'coffee cup'", "the small blue one", "coffee cup"),
        ("name object_2 as bowl", "object_2", "bowl"),
        ("please call the leftmost object the big bowl", "the leftmost object", "big bowl"),
        ("call the mug on the left the cup", "the mug on the left", "cup"),
    ],
)
def test_naming_forms(text, reference, name):
    assert is_naming(text)
    assert parse_naming(text) == NamingCommand(reference, name)


@pytest.mark.parametrize("text", ["call object 3", "call", "name the", "put the mug on the bowl"])
def test_not_a_naming_command(text):
    with pytest.raises(NamingError):
        parse_naming(text)


def _scene():
    K = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
    T = np.eye(4)
    T[:3, :3] = np.diag([1.0, -1.0, -1.0])
    T[2, 3] = 1.0

    def obj(name, x, colour, category=""):
        box = OrientedBox(np.array([x, 0.0, 0.05]), np.full(3, 0.1), np.eye(3))
        return SceneObject(name, box, None, category=category, colour=colour, size_class="medium")

    objects = (obj("object_0", -0.2, "red"), obj("object_1", 0.0, "blue"), obj("object_3", 0.2, "blue", "mug"))
    return Scene(objects, CameraModel(K, 640, 480, T))


def test_parse_request_resolves_the_naming_reference_to_an_id():
    names = _scene().names
    cmd = parse_request("call the red object the kettle", names)
    assert cmd == NamingCommand("object_0", "kettle") and naming_text(cmd) == 'call object_0 "kettle"'
    assert parse_request("call object 3 the jug", names) == NamingCommand("object_3", "jug")
    # A user-given name (the category) is then a reference like any other.
    assert isinstance(parse_request("put the mug to the left of the red object", names), PlacementCommand)
    with pytest.raises(UnknownObjectError):
        parse_request("call object 9 the jug", names)
    with pytest.raises(AmbiguousObjectError):
        parse_request("call the blue object the jug", names)
