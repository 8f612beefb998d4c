"""Every ROS message <-> core type / numpy conversion lives here (and nowhere else).

Frames: boxes and 3D points are in the world frame of the scene (the message
header's frame_id names it); 2D points are normalized image coordinates.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point, Pose, PoseStamped, Quaternion, Vector3
from nav_msgs.msg import OccupancyGrid
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from robospatial_ros.core import validation
from robospatial_ros.core.camera import CameraModel
from robospatial_ros.core.errors import RoboSpatialError
from robospatial_ros.core.geometry import (
    OrientedBox,
    make_transform,
    matrix_from_quaternion,
    quaternion_from_matrix,
)
from robospatial_ros.core.obstacles import FREE, OCCUPIED, UNKNOWN, ObstacleMap
from robospatial_ros.core.perception.frame import BoxDetections, MaskDetections
from robospatial_ros.core.planning.pick_place import PickPlacePlan as CorePlan
from robospatial_ros.core.reasoning.reasoner import Answer
from robospatial_ros.core.scene import Scene, SceneObject
from robospatial_ros.msg import (
    Box3D,
    BoxDetections2D,
    DetectedObject,
    DetectedObjectArray,
    InstanceMasks,
    NodeStatus,
    PickPlacePlan,
    Point2D,
    SpatialAnswer,
    SpatialQuery,
)


class MessageError(RoboSpatialError, ValueError):
    """A message cannot be converted: unsupported encoding, inconsistent sizes, missing data."""


# --- poses ----------------------------------------------------------------------------------


def matrix_to_pose(T: np.ndarray) -> Pose:
    """(4, 4) rigid transform -> geometry_msgs/Pose."""
    q = quaternion_from_matrix(T[:3, :3])
    p = T[:3, 3]
    return Pose(
        position=Point(x=float(p[0]), y=float(p[1]), z=float(p[2])),
        orientation=Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])),
    )


def pose_to_matrix(pose: Pose, field: str = "pose") -> np.ndarray:
    """geometry_msgs/Pose -> (4, 4) rigid transform, metres; MessageError naming `field` for a zero or
    non-finite quaternion or a position that is not finite or beyond validation.MAX_COORDINATE_M."""
    o, p = pose.orientation, pose.position
    q = validation.quaternion([o.x, o.y, o.z, o.w], f"{field} orientation", MessageError)
    T = make_transform(matrix_from_quaternion(q), np.array([p.x, p.y, p.z], dtype=float))
    return validation.rigid_transform(T, field, MessageError)


def stamp_seconds(stamp: Time, field: str = "header.stamp") -> float:
    """builtin_interfaces/Time -> seconds; MessageError naming `field` when sec < 0 or nanosec >= 1e9."""
    return validation.stamp_seconds(stamp.sec, stamp.nanosec, field, MessageError)


def point_to_pose_stamped(xyz: np.ndarray, frame_id: str, stamp: Time | None = None, yaw: float = 0.0) -> PoseStamped:
    """A placement point (3,) (and a yaw about z) as a PoseStamped in `frame_id`."""
    T = make_transform(
        np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1.0]]),
        np.asarray(xyz, dtype=float),
    )
    header = Header(frame_id=frame_id)
    if stamp is not None:
        header.stamp = stamp
    return PoseStamped(header=header, pose=matrix_to_pose(T))


# --- images and camera info -------------------------------------------------------------------

_COLOR_ENCODINGS = {"rgb8": (3, False), "bgr8": (3, True), "rgba8": (4, False), "bgra8": (4, True)}
_DEPTH_ENCODINGS = {"16UC1": (np.uint16, 0.001), "mono16": (np.uint16, 0.001), "32FC1": (np.float32, 1.0)}


def _pixels(msg: Image, dtype: np.dtype, channels: int) -> np.ndarray:
    itemsize = np.dtype(dtype).itemsize
    row = msg.width * channels * itemsize
    if msg.width == 0 or msg.height == 0:
        raise MessageError("image is empty")
    if msg.step < row or len(msg.data) < msg.step * msg.height:
        raise MessageError(
            f"image data ({len(msg.data)} bytes, step {msg.step}) does not fit {msg.width}x{msg.height} {msg.encoding}"
        )
    buf = np.frombuffer(bytes(msg.data), dtype=np.uint8)[: msg.step * msg.height].reshape(msg.height, msg.step)
    arr = buf[:, :row].copy().view(np.dtype(dtype).newbyteorder(">" if msg.is_bigendian else "<"))
    return arr.reshape(msg.height, msg.width, channels).astype(dtype, copy=False)


def color_from_msg(msg: Image) -> np.ndarray:
    """sensor_msgs/Image (rgb8, bgr8, rgba8, bgra8) -> (H, W, 3) uint8 RGB."""
    if msg.encoding not in _COLOR_ENCODINGS:
        raise MessageError(f"unsupported colour encoding {msg.encoding!r}; use one of {', '.join(_COLOR_ENCODINGS)}")
    channels, bgr = _COLOR_ENCODINGS[msg.encoding]
    img = _pixels(msg, np.uint8, channels)[:, :, :3]
    return np.ascontiguousarray(img[:, :, ::-1] if bgr else img)


def depth_from_msg(msg: Image) -> tuple[np.ndarray, float]:
    """sensor_msgs/Image (16UC1 mm, 32FC1 m) -> ((H, W) depth, metres per unit)."""
    if msg.encoding not in _DEPTH_ENCODINGS:
        raise MessageError(f"unsupported depth encoding {msg.encoding!r}; use 16UC1 (mm) or 32FC1 (m)")
    dtype, scale = _DEPTH_ENCODINGS[msg.encoding]
    return _pixels(msg, dtype, 1)[:, :, 0], scale


# Segmentation label images: integer ids (Isaac Sim 32SC1, 16UC1, 8UC1) or Gazebo's rgb8 labels map.
_LABEL_ENCODINGS = {
    "8UC1": (np.uint8, 1),
    "mono8": (np.uint8, 1),
    "16UC1": (np.uint16, 1),
    "mono16": (np.uint16, 1),
    "32SC1": (np.int32, 1),
    "32UC1": (np.uint32, 1),
    "rgb8": (np.uint8, 3),
    "bgr8": (np.uint8, 3),
}


def labels_from_msg(msg: Image) -> np.ndarray:
    """A segmentation label image -> (H, W) integer ids, or (H, W, 3) uint8 for rgb8/bgr8 (as RGB)."""
    if msg.encoding not in _LABEL_ENCODINGS:
        raise MessageError(
            f"unsupported label image encoding {msg.encoding!r}; use one of {', '.join(_LABEL_ENCODINGS)}"
        )
    if msg.encoding in _COLOR_ENCODINGS:  # Gazebo's labels map: read as a colour image
        return color_from_msg(msg)
    dtype, _ = _LABEL_ENCODINGS[msg.encoding]
    return _pixels(msg, dtype, 1)[:, :, 0]


def image_msg(array: np.ndarray, encoding: str, frame_id: str = "", stamp: Time | None = None) -> Image:
    """(H, W[, C]) array -> sensor_msgs/Image with the given encoding (rgb8, 16UC1, 32FC1, ...)."""
    a = np.ascontiguousarray(array)
    msg = Image(height=int(a.shape[0]), width=int(a.shape[1]), encoding=encoding, is_bigendian=0)
    msg.step = int(a.strides[0])
    msg.data = a.tobytes()
    msg.header.frame_id = frame_id
    if stamp is not None:
        msg.header.stamp = stamp
    return msg


def intrinsics_from_msg(msg: CameraInfo) -> np.ndarray:
    """sensor_msgs/CameraInfo -> (3, 3) K, pixels; MessageError when K is unset (all zeros) or invalid
    (not finite, non-positive focal lengths, beyond validation.MAX_PIXELS)."""
    K = np.asarray(msg.k, dtype=float).reshape(3, 3)
    if not np.any(K):
        raise MessageError("camera_info has no valid intrinsics (K is unset)")
    return validation.intrinsics(K, "camera_info.k", MessageError)


def camera_info_msg(
    K: np.ndarray, width: int, height: int, frame_id: str = "", stamp: Time | None = None
) -> CameraInfo:
    msg = CameraInfo(width=int(width), height=int(height), distortion_model="plumb_bob")
    msg.k = [float(v) for v in np.asarray(K, dtype=float).reshape(9)]
    P = np.zeros((3, 4))
    P[:, :3] = K
    msg.p = [float(v) for v in P.reshape(12)]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.d = [0.0] * 5
    msg.header.frame_id = frame_id
    if stamp is not None:
        msg.header.stamp = stamp
    return msg


# --- point clouds -------------------------------------------------------------------------------


def cloud_msg(
    points: np.ndarray, colors: np.ndarray | None = None, frame_id: str = "", stamp: Time | None = None
) -> PointCloud2:
    """(N, 3) float32 points (+ (N, 3) uint8 RGB) -> PointCloud2 with x, y, z (and rgb packed as float32)."""
    pts = np.ascontiguousarray(points, dtype=np.float32).reshape(-1, 3)
    fields = [PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32, count=1) for i, n in enumerate("xyz")]
    if colors is not None:
        c = np.asarray(colors, dtype=np.uint32).reshape(-1, 3)
        rgb = ((c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2]).view(np.float32)
        data = np.concatenate([pts, rgb[:, None]], axis=1)
        fields.append(PointField(name="rgb", offset=12, datatype=PointField.FLOAT32, count=1))
    else:
        data = pts
    msg = PointCloud2(height=1, width=len(pts), fields=fields, is_bigendian=False, is_dense=True)
    msg.point_step = 4 * data.shape[1]
    msg.row_step = msg.point_step * len(pts)
    msg.data = np.ascontiguousarray(data, dtype=np.float32).tobytes()
    msg.header.frame_id = frame_id
    if stamp is not None:
        msg.header.stamp = stamp
    return msg


def points_from_cloud(msg: PointCloud2) -> np.ndarray:
    """PointCloud2 with float32 x, y, z fields -> (N, 3) float32."""
    offsets = {f.name: f.offset for f in msg.fields if f.datatype == PointField.FLOAT32}
    if not {"x", "y", "z"} <= set(offsets):
        raise MessageError("point cloud needs float32 x, y and z fields")
    n = msg.width * msg.height
    raw = np.frombuffer(bytes(msg.data), dtype=np.uint8)[: n * msg.point_step].reshape(n, msg.point_step)
    return np.stack([raw[:, offsets[a] : offsets[a] + 4].copy().view(np.float32)[:, 0] for a in "xyz"], axis=1)


def box_to_msg(box: OrientedBox) -> Box3D:
    q = quaternion_from_matrix(box.rotation)
    pose = Pose(
        position=Point(x=float(box.center[0]), y=float(box.center[1]), z=float(box.center[2])),
        orientation=Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])),
    )
    return Box3D(center=pose, size=Vector3(x=float(box.size[0]), y=float(box.size[1]), z=float(box.size[2])))


def box_from_msg(msg: Box3D, field: str = "box") -> OrientedBox:
    """Box3D -> OrientedBox (metres); MessageError naming `field` for a non-finite, out-of-range or
    non-positive centre or size, or an invalid orientation."""
    p, o, s = msg.center.position, msg.center.orientation, msg.size
    q = validation.quaternion([o.x, o.y, o.z, o.w], f"{field} orientation", MessageError)
    center, size = validation.box_parts([p.x, p.y, p.z], [s.x, s.y, s.z], field, MessageError)
    return OrientedBox(center, size, matrix_from_quaternion(q))


def object_to_msg(obj: SceneObject) -> DetectedObject:
    """One object with its attributes (colour name, size class, box height in metres) and user name."""
    return DetectedObject(
        id=obj.name,
        label=obj.category,
        score=float(obj.score),
        box=box_to_msg(obj.box),
        colour=obj.colour,
        size_class=obj.size_class,
        height_m=float(obj.box.size[2]),
        user_name=obj.user_name,
    )


def object_from_msg(msg: DetectedObject, field: str = "object") -> SceneObject:
    """Perceived objects have no known front (facing None): the object frame then faces the camera.
    The height is the box's (msg.height_m repeats it for readers of the message)."""
    return SceneObject(
        validation.object_name(msg.id, f"{field}.id", MessageError),
        box_from_msg(msg.box, f"{field}.box"),
        None,
        category=msg.label,
        score=float(msg.score),
        colour=msg.colour,
        size_class=msg.size_class,
        user_name=msg.user_name,
    )


def scene_to_msg(
    scene: Scene, frame_id: str, support_height_m: float = float("nan"), stamp: Time | None = None
) -> DetectedObjectArray:
    """A Scene (objects, camera, observed obstacle map) -> DetectedObjectArray in `frame_id` (the scene's world)."""
    cam = scene.camera
    msg = DetectedObjectArray(
        objects=[object_to_msg(o) for o in scene.objects], support_height_m=float(support_height_m)
    )
    msg.header.frame_id = frame_id
    if stamp is not None:
        msg.header.stamp = stamp
    msg.camera_info = camera_info_msg(cam.K, cam.width, cam.height, frame_id)
    msg.camera_pose = matrix_to_pose(cam.camera_to_world)
    if scene.obstacles is not None:
        msg.obstacle_map = obstacle_map_to_msg(scene.obstacles, msg.header)
    return msg


def scene_from_msg(msg: DetectedObjectArray) -> Scene:
    """DetectedObjectArray -> Scene (perceived objects: no known front). MessageError without a camera."""
    K = intrinsics_from_msg(msg.camera_info)
    pose = pose_to_matrix(msg.camera_pose, "camera_pose")
    objects = tuple(object_from_msg(o, f"objects[{i}]") for i, o in enumerate(msg.objects))
    validation.unique_names([o.name for o in objects], "object ids", MessageError)
    try:
        camera = CameraModel(K, msg.camera_info.width, msg.camera_info.height, pose)
        return Scene(objects, camera, obstacles=obstacle_map_from_msg(msg.obstacle_map))
    except (ValueError, RoboSpatialError) as exc:
        raise MessageError(f"objects message is not a valid scene: {exc}") from None


def obstacle_map_to_msg(obstacles: ObstacleMap, header: Header) -> OccupancyGrid:
    """The observed map as a nav_msgs/OccupancyGrid (row-major, row = y), its origin z on the support."""
    h, w = obstacles.shape
    msg = OccupancyGrid(header=header)
    msg.info.resolution = float(obstacles.resolution_m)
    msg.info.width, msg.info.height = int(w), int(h)
    x0, y0 = (float(v) for v in obstacles.origin_xy_m)
    msg.info.origin.position = Point(x=x0, y=y0, z=float(obstacles.support_height_m))
    msg.info.origin.orientation.w = 1.0
    msg.data = obstacles.cells.astype(np.int8).ravel().tolist()
    return msg


def obstacle_map_from_msg(msg: OccupancyGrid) -> ObstacleMap | None:
    """nav_msgs/OccupancyGrid -> ObstacleMap; None when empty. Values other than 0 and -1 count as occupied
    (other senders use 1-100 as occupancy probabilities); a turned grid is a MessageError."""
    w, h = int(msg.info.width), int(msg.info.height)
    if w == 0 or h == 0:
        return None
    if len(msg.data) != w * h:
        raise MessageError(f"obstacle map: {w}x{h} cells need {w * h} values, got {len(msg.data)}")
    q = msg.info.origin.orientation
    if abs(abs(q.w) - 1.0) > 1e-6:
        raise MessageError("obstacle map: the grid must be axis-aligned with the header frame (identity origin)")
    raw = np.asarray(msg.data, dtype=np.int16).reshape(h, w)
    cells = np.where(raw < 0, UNKNOWN, np.where(raw == 0, FREE, OCCUPIED)).astype(np.int8)
    origin = msg.info.origin.position
    resolution_m = round(float(msg.info.resolution), 7)  # float32 on the wire: 0.01 arrives as 0.0099999998
    return ObstacleMap(cells, np.array([origin.x, origin.y]), resolution_m, float(origin.z))


def masks_from_msg(msg: InstanceMasks) -> MaskDetections:
    """InstanceMasks (16UC1 labels + names) -> MaskDetections (name -> (H, W) bool)."""
    labels = _pixels(msg.labels, np.uint16, 1)[:, :, 0] if msg.labels.encoding in ("16UC1", "mono16") else None
    if labels is None:
        raise MessageError(f"instance labels must be 16UC1, got {msg.labels.encoding!r}")
    # A repeated name would keep only one of its masks: say which names repeat instead.
    validation.unique_names(list(msg.names), "instance mask names", MessageError)
    return MaskDetections({name: labels == k + 1 for k, name in enumerate(msg.names)})


def masks_to_msg(masks: dict[str, np.ndarray], frame_id: str = "", stamp: Time | None = None) -> InstanceMasks:
    names = list(masks)
    shape = next(iter(masks.values())).shape if masks else (1, 1)
    labels = np.zeros(shape, np.uint16)
    for k, name in enumerate(names):
        labels[masks[name]] = k + 1
    msg = InstanceMasks(labels=image_msg(labels, "16UC1", frame_id, stamp), names=names)
    msg.header = msg.labels.header
    return msg


def boxes_from_msg(msg: BoxDetections2D) -> BoxDetections:
    n = len(msg.labels)
    if len(msg.boxes) != 4 * n or (len(msg.scores) not in (0, n)):
        raise MessageError(f"2D detections: {n} labels need {4 * n} box values and 0 or {n} scores")
    scores = np.asarray(msg.scores, dtype=float) if len(msg.scores) else None
    return BoxDetections(list(msg.labels), np.asarray(msg.boxes, dtype=float).reshape(n, 4), scores)


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
        target=q.target or "",
        reference=q.reference,
        answer=answer.text,
        yes=bool(answer.yes),
        points_2d=[Point2D(x=float(x), y=float(y)) for x, y in np.reshape(answer.points_2d, (-1, 2))],
        points_3d=[Point(x=float(x), y=float(y), z=float(z)) for x, y, z in np.reshape(answer.points_3d, (-1, 3))],
        assumptions=list(answer.assumptions),
    )


def error_answer_msg(question: str, error: Exception | str, query_id: str = "") -> SpatialAnswer:
    """A failed query: success False and the one-line reason, so callers always get a reply."""
    return SpatialAnswer(query_id=query_id, question=question, success=False, error=str(error))


def status_msg(node: str, level: int, event: str, message: str, event_id: str = "") -> NodeStatus:
    return NodeStatus(node=node, level=int(level), event=event, id=event_id, message=str(message))


# --- plans --------------------------------------------------------------------------------------

_WAYPOINTS = ("pre_grasp", "grasp", "lift", "pre_place", "place", "retreat")


def plan_to_msg(plan: CorePlan, command_id: str = "", plan_only: bool = False) -> PickPlacePlan:
    msg = PickPlacePlan(command_id=command_id, object_id=plan.object_id, plan_only=bool(plan_only))
    for name in _WAYPOINTS:
        setattr(msg, name, matrix_to_pose(getattr(plan, name)))
    msg.gripper_open_m = float(plan.gripper_open_m)
    msg.gripper_grasp_m = float(plan.gripper_grasp_m)
    msg.object_width_m = float(plan.object_width_m)
    msg.pick_box = box_to_msg(plan.pick_box)
    p = np.asarray(plan.place_xyz, dtype=float)
    msg.place_xyz = Point(x=float(p[0]), y=float(p[1]), z=float(p[2]))
    msg.place_yaw_offset_rad = float(plan.place_yaw_offset_rad)
    return msg


def plan_from_msg(msg: PickPlacePlan) -> CorePlan:
    """PickPlacePlan message -> the core plan the executors run; MessageError on bad poses."""
    poses = {name: pose_to_matrix(getattr(msg, name), name) for name in _WAYPOINTS}
    p = msg.place_xyz
    return CorePlan(
        object_id=msg.object_id,
        pick_box=box_from_msg(msg.pick_box, "pick_box"),
        place_xyz=validation.finite_array([p.x, p.y, p.z], (3,), "place_xyz", MessageError),
        place_yaw_offset_rad=float(msg.place_yaw_offset_rad),
        object_width_m=float(msg.object_width_m),
        gripper_open_m=float(msg.gripper_open_m),
        gripper_grasp_m=float(msg.gripper_grasp_m),
        **poses,
    )


# --- RViz markers -------------------------------------------------------------------------------

_GREEN, _RED, _WHITE, _BOX = (
    ColorRGBA(r=0.3, g=0.8, b=0.3, a=0.8),
    ColorRGBA(r=0.9, g=0.1, b=0.1, a=1.0),
    ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0),
    ColorRGBA(r=0.2, g=0.5, b=0.9, a=0.35),
)


def clear_markers(frame_id: str, stamp: Time | None = None, namespace: str = "robospatial") -> MarkerArray:
    """Only the delete-all: what a failed request publishes, so the previous request's markers go."""
    header = Header(frame_id=frame_id)
    if stamp is not None:
        header.stamp = stamp
    return MarkerArray(markers=[Marker(header=header, ns=namespace, action=Marker.DELETEALL)])


def object_text_anchor(scene: Scene, names: Sequence[str | None]) -> np.ndarray | None:
    """(3,) a little above the top centre of the first of `names` in `scene` (world frame, metres); None if none is."""
    for name in names:
        if name and name in scene.names:
            box = scene.get(name).box
            return np.asarray(box.center, dtype=float) + [0.0, 0.0, float(box.size[2]) / 2 + 0.05]
    return None


def answer_markers(
    points_xyz: np.ndarray,
    chosen_xyz: np.ndarray | None,
    text: str,
    frame_id: str,
    stamp: Time | None = None,
    namespace: str = "robospatial",
    text_xyz: np.ndarray | None = None,
) -> MarkerArray:
    """Delete-all, candidate points (sphere list), the chosen point (sphere) and the request's text.

    The text sits at `text_xyz` (the object a question speaks of), else above the chosen point, else above
    the best candidate point; all (3,) or (N, 3) in `frame_id`, metres."""
    out = list(clear_markers(frame_id, stamp, namespace).markers)
    header = out[0].header
    pts = np.asarray(points_xyz, dtype=float).reshape(-1, 3)
    if len(pts):
        m = Marker(header=header, ns=namespace, id=1, type=Marker.SPHERE_LIST, action=Marker.ADD, color=_GREEN)
        m.scale = Vector3(x=0.01, y=0.01, z=0.01)
        m.pose.orientation.w = 1.0
        m.points = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in pts]
        out.append(m)
    anchor = pts[0] + [0.0, 0.0, 0.12] if len(pts) else np.zeros(3)
    if chosen_xyz is not None:
        c = np.asarray(chosen_xyz, dtype=float).reshape(3)
        m = Marker(header=header, ns=namespace, id=2, type=Marker.SPHERE, action=Marker.ADD, color=_RED)
        m.scale = Vector3(x=0.03, y=0.03, z=0.03)
        m.pose = matrix_to_pose(make_transform(np.eye(3), c))
        out.append(m)
        anchor = c + [0.0, 0.0, 0.12]
    if text_xyz is not None:
        anchor = np.asarray(text_xyz, dtype=float).reshape(3)
    m = Marker(header=header, ns=namespace, id=3, type=Marker.TEXT_VIEW_FACING, action=Marker.ADD, color=_WHITE)
    m.scale.z = 0.03
    m.pose = matrix_to_pose(make_transform(np.eye(3), anchor))
    m.text = text
    out.append(m)
    return MarkerArray(markers=out)


def object_markers(scene: Scene, frame_id: str, stamp: Time | None = None, namespace: str = "objects") -> MarkerArray:
    """Delete-all, then each object's box (a translucent cube) and its name above it, in `frame_id` (the scene's
    world): what RViz shows of an objects message (DetectedObjectArray itself is no RViz type)."""
    out = list(clear_markers(frame_id, stamp, namespace).markers)
    header = out[0].header
    for i, obj in enumerate(scene.objects):
        box = obj.box
        cube = Marker(header=header, ns=namespace, id=2 * i, type=Marker.CUBE, action=Marker.ADD, color=_BOX)
        cube.pose = matrix_to_pose(make_transform(box.rotation, box.center))
        cube.scale = Vector3(x=float(box.size[0]), y=float(box.size[1]), z=float(box.size[2]))
        label = Marker(header=header, ns=namespace, id=2 * i + 1, type=Marker.TEXT_VIEW_FACING, color=_WHITE)
        label.pose = matrix_to_pose(make_transform(np.eye(3), box.center + [0.0, 0.0, box.size[2] / 2 + 0.03]))
        label.scale.z, label.text = 0.025, obj.name
        out += [cube, label]
    return MarkerArray(markers=out)


def points_2d_from_msg(msg: SpatialAnswer) -> np.ndarray:
    """(N, 2) normalized image points."""
    return np.array([[p.x, p.y] for p in msg.points_2d], dtype=float).reshape(-1, 2)


def points_3d_from_msg(msg: SpatialAnswer) -> np.ndarray:
    """(N, 3) points in msg.header.frame_id, metres."""
    return np.array([[p.x, p.y, p.z] for p in msg.points_3d], dtype=float).reshape(-1, 3)
