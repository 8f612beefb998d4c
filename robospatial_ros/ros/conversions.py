"""Every ROS message <-> core type / numpy conversion lives here (and nowhere else).

Frames: boxes and 3D points are in the world frame of the scene (the message
header's frame_id names it); 2D points are normalized image coordinates.
"""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import Point, Pose, Quaternion, Vector3

from robospatial_ros.core.geometry import OrientedBox, matrix_from_quaternion, quaternion_from_matrix
from robospatial_ros.core.reasoner import Answer
from robospatial_ros.core.scene import SceneObject
from robospatial_ros.msg import Box3D, DetectedObject, DetectedObjectArray, Point2D, SpatialAnswer, SpatialQuery


def box_to_msg(box: OrientedBox) -> Box3D:
    q = quaternion_from_matrix(box.rotation)
    pose = Pose(
        position=Point(x=float(box.center[0]), y=float(box.center[1]), z=float(box.center[2])),
        orientation=Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])),
    )
    return Box3D(center=pose, size=Vector3(x=float(box.size[0]), y=float(box.size[1]), z=float(box.size[2])))


def box_from_msg(msg: Box3D) -> OrientedBox:
    p, o, s = msg.center.position, msg.center.orientation, msg.size
    rotation = matrix_from_quaternion([o.x, o.y, o.z, o.w])
    return OrientedBox(np.array([p.x, p.y, p.z]), np.array([s.x, s.y, s.z]), rotation)


def object_to_msg(obj: SceneObject) -> DetectedObject:
    return DetectedObject(id=obj.name, label=obj.category, score=float(obj.score), box=box_to_msg(obj.box))


def object_from_msg(msg: DetectedObject) -> SceneObject:
    """Perceived objects have no known front (facing None): the object frame then faces the camera."""
    return SceneObject(msg.id, box_from_msg(msg.box), None, category=msg.label, score=float(msg.score))


def objects_to_msg(objects: list[SceneObject], support_height_m: float = float("nan")) -> DetectedObjectArray:
    return DetectedObjectArray(objects=[object_to_msg(o) for o in objects], support_height_m=float(support_height_m))


def objects_from_msg(msg: DetectedObjectArray) -> list[SceneObject]:
    return [object_from_msg(o) for o in msg.objects]


def query_from_msg(msg: SpatialQuery) -> tuple[str, str | None, str | None]:
    """(question, type override or None, frame override or None)."""
    return msg.question, (msg.type or None), (msg.frame or None)


def answer_to_msg(answer: Answer, query_id: str = "") -> SpatialAnswer:
    q = answer.query
    return SpatialAnswer(
        query_id=query_id,
        question=q.text,
        success=True,
        type=q.type.value,
        frame=q.frame.value,
        relation=q.relation.value,
        answer=answer.text,
        yes=bool(answer.yes),
        points_2d=[Point2D(x=float(x), y=float(y)) for x, y in np.reshape(answer.points_2d, (-1, 2))],
        points_3d=[Point(x=float(x), y=float(y), z=float(z)) for x, y, z in np.reshape(answer.points_3d, (-1, 3))],
        assumptions=list(answer.assumptions),
    )


def error_answer_msg(question: str, error: Exception | str, query_id: str = "") -> SpatialAnswer:
    """A failed query: success False and the one-line reason, so callers always get a reply."""
    return SpatialAnswer(query_id=query_id, question=question, success=False, error=str(error))


def points_2d_from_msg(msg: SpatialAnswer) -> np.ndarray:
    """(N, 2) normalized image points."""
    return np.array([[p.x, p.y] for p in msg.points_2d], dtype=float).reshape(-1, 2)


def points_3d_from_msg(msg: SpatialAnswer) -> np.ndarray:
    """(N, 3) points in msg.header.frame_id, metres."""
    return np.array([[p.x, p.y, p.z] for p in msg.points_3d], dtype=float).reshape(-1, 3)
