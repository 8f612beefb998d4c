"""The SAT task generators (see sat.py) and the horizontal-plane geometry their answers come from.

Conventions: world z is up; "left" is counter-clockwise seen from above. A camera's horizontal axes are
its viewing direction and its image x with the vertical part removed, so a pitched-down camera still
moves "forward" along the table. Each generator draws one random question from an episode and returns
a Sample, or None when the draw would be ambiguous (inside a margin) or not visible. Episodes (sat_episode)
are what the generators read; sat.py runs them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from robospatial_ros.core.camera import CameraModel
from robospatial_ros.core.geometry import convex_polygons_overlap, distance_to_convex_polygon, make_transform, rot_z
from robospatial_ros.core.scene import category_of
from robospatial_ros.learn.datagen.records import Sample

if TYPE_CHECKING:
    from robospatial_ros.learn.datagen.sat_episode import Episode

CHOICES_PREFIX = " Answer with one of: "  # joins a question's stem and its listed choices
STRAIGHT_AHEAD = "no turn, it is straight ahead"
MARKER_LABEL = "1"
TURN_ROUNDING_DEG = 10  # goal aiming states turns to the nearest 10 degrees
_MIN_BEARING_CHANGE_DEG = 5.0  # action consequence (turns): |bearing| must change at least this much
_DOMINANCE = 2.0  # object movement: the main horizontal component must be this many times the other
_OBJECT_CLEARANCE_M = 0.03  # a moved object keeps this gap to the others' footprints
_MARKER_CLEARANCE_M = 0.05  # a table marker keeps this gap to every object footprint
_LIFT_M = 0.002  # a moved object is released this far above its resting height
_MOVED_BY_CONTACT_M = 0.01  # reject a move that pushed another object more than this
_TWO_FRAMES = "The first image was taken before and the second image after"

# --- geometry ------------------------------------------------------------------------------------


def horizontal_axes(camera_to_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """((3,) forward, (3,) right) of a (4, 4) optical camera-to-world pose: unit, horizontal, world frame."""
    z = np.asarray(camera_to_world, dtype=float)[:3, 2]
    forward = np.array([z[0], z[1], 0.0]) / math.hypot(z[0], z[1])
    return forward, np.array([forward[1], -forward[0], 0.0])  # right = forward x up


def direction_vector(camera_to_world: np.ndarray, word: str) -> np.ndarray:
    """(3,) unit horizontal world direction of "forward" / "backward" / "left" / "right" for the camera."""
    forward, right = horizontal_axes(camera_to_world)
    return {"forward": forward, "backward": -forward, "right": right, "left": -right}[word]


def signed_angle_deg(from_xy: np.ndarray, to_xy: np.ndarray) -> float:
    """Degrees in (-180, 180] turning direction `from_xy` into `to_xy` (2-vectors); positive = to the left."""
    cross = from_xy[0] * to_xy[1] - from_xy[1] * to_xy[0]
    return math.degrees(math.atan2(cross, from_xy[0] * to_xy[0] + from_xy[1] * to_xy[1]))


def bearing_deg(camera_to_world: np.ndarray, point: np.ndarray) -> float:
    """Horizontal angle from the camera's viewing direction to a (3,) world point; positive = left."""
    forward, _ = horizontal_axes(camera_to_world)
    return signed_angle_deg(forward[:2], np.asarray(point, dtype=float)[:2] - camera_to_world[:2, 3])


def moved_camera(camera: CameraModel, shift_m: np.ndarray, yaw_left_deg: float) -> CameraModel:
    """`camera` turned by yaw_left_deg about the vertical through its centre, then shifted by (3,) world metres."""
    T = camera.camera_to_world
    R = rot_z(math.radians(yaw_left_deg)) @ T[:3, :3]
    return CameraModel(camera.K, camera.width, camera.height, make_transform(R, T[:3, 3] + np.asarray(shift_m)))


def camera_motion(before: np.ndarray, after: np.ndarray) -> dict[str, float]:
    """How a camera moved between two (4, 4) poses, in the first pose's horizontal frame (metres, degrees)."""
    forward, right = horizontal_axes(before)
    delta = after[:3, 3] - before[:3, 3]
    turn = signed_angle_deg(forward[:2], horizontal_axes(after)[0][:2])
    return {"right_m": float(delta @ right), "forward_m": float(delta @ forward), "yaw_left_deg": turn}


def object_motion_word(camera_to_world: np.ndarray, before: np.ndarray, after: np.ndarray) -> str | None:
    """left / right / closer / further for an object moved from (3,) `before` to `after`, or None if mixed."""
    forward, right = horizontal_axes(camera_to_world)
    delta = np.asarray(after, dtype=float) - np.asarray(before, dtype=float)
    lateral, depthwise = float(delta @ right), float(delta @ forward)
    if abs(lateral) >= _DOMINANCE * abs(depthwise):
        return "right" if lateral > 0 else "left"
    if abs(depthwise) >= _DOMINANCE * abs(lateral):
        return "further" if depthwise > 0 else "closer"
    return None


def turn_to_face(bearing: float, dead_band_deg: float) -> tuple[str | None, int]:
    """(direction or None inside the dead band, degrees rounded to the nearest 10, at least 10)."""
    if abs(bearing) <= dead_band_deg:
        return None, 0
    rounded = int(math.floor(abs(bearing) / TURN_ROUNDING_DEG + 0.5)) * TURN_ROUNDING_DEG
    return ("left" if bearing > 0 else "right"), max(TURN_ROUNDING_DEG, rounded)


def _footprint_gap(p: np.ndarray, q: np.ndarray) -> float:
    """Distance (metres) between two convex (K, 2) footprints; 0 when they overlap."""
    if convex_polygons_overlap(p, q):
        return 0.0
    return float(min(distance_to_convex_polygon(p, q).min(), distance_to_convex_polygon(q, p).min()))


# --- samples -------------------------------------------------------------------------------------


def _json(value: Any) -> Any:
    """numpy arrays and scalars -> plain lists and numbers, recursively."""
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _sample(
    ep: Episode, task: str, stem: str, answer: str, others: list[str], images: list[np.ndarray], extra: dict[str, Any]
) -> Sample:
    """A multiple-choice Sample: choices shuffled by the episode rng and listed in the question."""
    options = [answer, *others]
    choices = [options[i] for i in ep.rng.permutation(len(options))]
    question = stem + CHOICES_PREFIX + ", ".join(f'"{c}"' for c in choices) + "."
    metadata = _json({**ep.metadata(), **extra})
    return Sample("sat", task, question, answer, [img.copy() for img in images], "", choices, metadata)


def _pick(ep: Episode, items: list[Any] | tuple[Any, ...], k: int = 1) -> list[Any]:
    """k distinct random items (empty if there are fewer than k)."""
    if len(items) < k:
        return []
    return [items[i] for i in ep.rng.choice(len(items), size=k, replace=False)]


def plural(noun: str) -> str:
    return noun + ("es" if noun.endswith(("s", "x", "ch", "sh")) else "s")


# --- dynamic tasks -------------------------------------------------------------------------------

_EGO_QUESTIONS = {
    "sideways": ("Did the camera move to the left or to the right?", ("left", "right")),
    "depthwise": ("Did the camera move forward or backward?", ("forward", "backward")),
    "rotation": ("Did the camera rotate to the left or to the right?", ("left", "right")),
}


def ego_movement(ep: Episode) -> Sample | None:
    """The camera shifts sideways, shifts forward/backward or turns between two frames: which way?"""
    cfg, cam = ep.config, ep.view.camera
    kind = str(ep.rng.choice(list(_EGO_QUESTIONS)))
    if kind == "rotation":
        after = moved_camera(cam, np.zeros(3), float(ep.rng.uniform(*cfg.camera_turn_deg) * ep.rng.choice([-1, 1])))
    else:
        word = str(ep.rng.choice(["left", "right"] if kind == "sideways" else ["forward", "backward"]))
        shift = float(ep.rng.uniform(*cfg.camera_shift_m))
        after = moved_camera(cam, shift * direction_vector(cam.camera_to_world, word), 0.0)
    view = ep.render(after)
    if not any(ep.visible(view, n, ep.positions[n]) for n in ep.names):
        return None  # the second frame shows none of the objects
    motion = camera_motion(cam.camera_to_world, after.camera_to_world)
    if kind == "rotation":
        answer = "left" if motion["yaw_left_deg"] > 0 else "right"
    elif kind == "sideways":
        answer = "right" if motion["right_m"] > 0 else "left"
    else:
        answer = "forward" if motion["forward_m"] > 0 else "backward"
    question, options = _EGO_QUESTIONS[kind]
    stem = f"{_TWO_FRAMES} the camera moved. {question}"
    extra = {"motion": {"kind": kind, **motion}, "camera_to_world_after": after.camera_to_world}
    return _sample(
        ep, "ego_movement", stem, answer, [o for o in options if o != answer], [ep.view.rgb, view.rgb], extra
    )


def object_movement(ep: Episode) -> Sample | None:
    """One object is moved left/right/closer/further and settles: which way did it go?"""
    cfg, cam = ep.config, ep.view.camera
    picked = _pick(ep, ep.in_view)
    if not picked:
        return None
    name, word = picked[0], str(ep.rng.choice(["left", "right", "closer", "further"]))
    heading = {"closer": "backward", "further": "forward"}.get(word, word)
    shift = float(ep.rng.uniform(*cfg.object_shift_m)) * direction_vector(cam.camera_to_world, heading)
    if not _free_spot(ep, name, shift[:2]):
        return None
    before_poses, state = ep.object_poses(), ep.snapshot()
    try:
        _teleport(ep, name, ep.positions[name][:2] + shift[:2])
        after_poses, view = ep.object_poses(), ep.render(cam)
        shown = ep.visible(view, name, np.array(after_poses[name][:3]))
    finally:
        ep.restore(state)
    start, end = ep.positions[name], np.array(after_poses[name][:3])
    pushed = [
        n
        for n in ep.names
        if n != name and np.linalg.norm(np.subtract(after_poses[n], before_poses[n])[:3]) > _MOVED_BY_CONTACT_M
    ]
    answer = object_motion_word(cam.camera_to_world, start, end)
    if not shown or pushed or answer is None or np.linalg.norm((end - start)[:2]) < cfg.object_shift_m[0] / 2:
        return None
    stem = f"{_TWO_FRAMES} the {name} was moved. From the camera's perspective, which direction did the {name} move?"
    others = [w for w in ("left", "right", "closer", "further") if w != answer]
    extra = {
        "moved_object": name,
        "position_before": start,
        "position_after": end,
        "commanded_direction": word,
        "object_poses_before": before_poses,
        "object_poses_after": after_poses,
    }
    return _sample(ep, "object_movement", stem, answer, others, [ep.view.rgb, view.rgb], extra)


def _free_spot(ep: Episode, name: str, shift_xy: np.ndarray) -> bool:
    """The object's footprint moved by (2,) metres stays on the table, off the robot, clear of the others."""
    tcfg = ep.sim.config
    moved = ep.boxes[name].translated([shift_xy[0], shift_xy[1], 0.0]).footprint()  # (K, 2) world x, y
    x_lo = max(tcfg.table_min_x_m, tcfg.region_min_xy_m[0] - 0.1)  # the arm stands below region x
    y_half = tcfg.table_width_m / 2.0 - 0.02
    if moved[:, 0].min() < x_lo or moved[:, 0].max() > tcfg.table_max_x_m - 0.02 or np.abs(moved[:, 1]).max() > y_half:
        return False
    others = (ep.boxes[n].footprint() for n in ep.names if n != name)
    return all(_footprint_gap(moved, fp) >= _OBJECT_CLEARANCE_M for fp in others)


def _teleport(ep: Episode, name: str, xy: np.ndarray) -> None:
    """Put the object's free joint at (2,) world x, y (same height and orientation) and let it settle."""
    sim = ep.sim
    m, d = sim.model, sim.data
    joint = m.body_jntadr[m.body(name).id]
    qadr, vadr = m.jnt_qposadr[joint], m.jnt_dofadr[joint]
    d.qpos[qadr : qadr + 2] = xy
    d.qpos[qadr + 2] += _LIFT_M
    d.qvel[vadr : vadr + 6] = 0.0
    sim.mujoco.mj_forward(m, d)
    sim.step(int(round(sim.config.settle_s / m.opt.timestep)))


# --- hypothetical tasks (one image) --------------------------------------------------------------

_MOVE_PHRASES = {
    "forward": "{} cm forward",
    "backward": "{} cm backward",
    "left": "{} cm to the left",
    "right": "{} cm to the right",
}
_NEARER_CENTRE, _FURTHER_CENTRE = "nearer the centre of the view", "further from the centre of the view"


_BALANCING_DRAWS = 8  # action consequence: draws to find the answer wanted (most draws say "further")


def action_consequence(ep: Episode) -> Sample | None:
    """If the camera moved or turned so, would the object get closer / further (or off-centre)?

    The answer is chosen first and draws are repeated until one gives it: left to chance, most moves
    and turns take an object further away or off-centre.
    """
    if ep.rng.random() < 0.5:
        variant, wanted = _move_consequence, str(ep.rng.choice(["closer", "further"]))
    else:
        variant, wanted = _turn_consequence, str(ep.rng.choice([_NEARER_CENTRE, _FURTHER_CENTRE]))
    for _ in range(_BALANCING_DRAWS):
        picked = _pick(ep, ep.in_view)
        sample = variant(ep, picked[0]) if picked else None
        if sample is not None and sample.answer == wanted:
            return sample
    return None


def _rounded(value: float, step: int) -> int:
    return max(step, int(math.floor(value / step + 0.5)) * step)


def _move_consequence(ep: Episode, name: str) -> Sample | None:
    T, point = ep.view.camera.camera_to_world, ep.positions[name]
    word = str(ep.rng.choice(list(_MOVE_PHRASES)))
    cm = _rounded(float(ep.rng.uniform(*ep.config.camera_shift_m)) * 100.0, 5)
    new_centre = T[:3, 3] + cm / 100.0 * direction_vector(T, word)
    before, after = float(np.linalg.norm(point - T[:3, 3])), float(np.linalg.norm(point - new_centre))
    if abs(after - before) < ep.config.depth_margin_m:
        return None
    answer = "closer" if after < before else "further"
    stem = (
        f"If the camera moves {_MOVE_PHRASES[word].format(cm)}, will the {name} get closer to the camera or "
        "further from it?"
    )
    extra = {
        "object": name,
        "action": {"kind": "move", "direction": word, "distance_m": cm / 100.0},
        "camera_position_after": new_centre,
        "distance_before_m": before,
        "distance_after_m": after,
    }
    return _sample(
        ep, "action_consequence", stem, answer, ["further" if answer == "closer" else "closer"], [ep.view.rgb], extra
    )


def _turn_consequence(ep: Episode, name: str) -> Sample | None:
    word = str(ep.rng.choice(["left", "right"]))
    degrees = _rounded(float(ep.rng.uniform(*ep.config.camera_turn_deg)), 5)
    before = bearing_deg(ep.view.camera.camera_to_world, ep.positions[name])
    after = (before - (degrees if word == "left" else -degrees) + 180.0) % 360.0 - 180.0
    if abs(abs(after) - abs(before)) < _MIN_BEARING_CHANGE_DEG:
        return None
    answer = _NEARER_CENTRE if abs(after) < abs(before) else _FURTHER_CENTRE
    stem = (
        f"If the camera turns {degrees} degrees to the {word}, will the {name} be nearer the centre of the "
        "view or further from it?"
    )
    extra = {
        "object": name,
        "action": {"kind": "turn", "direction": word, "angle_deg": degrees},
        "bearing_before_deg": before,
        "bearing_after_deg": after,
    }
    other = _FURTHER_CENTRE if answer == _NEARER_CENTRE else _NEARER_CENTRE
    return _sample(ep, "action_consequence", stem, answer, [other], [ep.view.rgb], extra)


def goal_aiming(ep: Episode) -> Sample | None:
    """How should the camera turn to face the object? Left/right by ~N degrees, or not at all (dead band)."""
    picked = _pick(ep, ep.in_view)
    if not picked:
        return None
    name = picked[0]
    bearing = bearing_deg(ep.view.camera.camera_to_world, ep.positions[name])
    direction, degrees = turn_to_face(bearing, ep.config.dead_band_deg)
    if direction is None:
        answer = STRAIGHT_AHEAD
        n = int(ep.rng.choice([2, 3])) * TURN_ROUNDING_DEG
        others = [
            f"turn left by about {n} degrees",
            f"turn right by about {n} degrees",
            f"turn {ep.rng.choice(['left', 'right'])} by about {n + 2 * TURN_ROUNDING_DEG} degrees",
        ]
    else:
        answer = f"turn {direction} by about {degrees} degrees"
        opposite = "right" if direction == "left" else "left"
        step = 2 * TURN_ROUNDING_DEG
        other_n = degrees + step if degrees < 3 * TURN_ROUNDING_DEG else degrees - step  # never below 10
        others = [
            f"turn {opposite} by about {degrees} degrees",
            f"turn {direction} by about {other_n} degrees",
            STRAIGHT_AHEAD,
        ]
    turn_left = 0 if direction is None else (degrees if direction == "left" else -degrees)
    extra = {
        "object": name,
        "bearing_deg": bearing,
        "dead_band_deg": ep.config.dead_band_deg,
        "turn_left_deg": turn_left,
        "rounding_deg": TURN_ROUNDING_DEG,
    }
    return _sample(
        ep, "goal_aiming", f"How should the camera turn to face the {name}?", answer, others, [ep.view.rgb], extra
    )


def perspective_taking(ep: Episode) -> Sample | None:
    """From a numbered marker (on the table or on an object), facing an object or the camera: left/right,
    closer/further."""
    marker = _table_marker(ep) if ep.rng.random() < 0.5 else _object_marker(ep)
    if marker is None:
        return None
    point, pixel, on = marker  # (3,) world metres, (2,) pixel, the object it marks or ""
    candidates = [n for n in ep.in_view if n != on]
    faced = _pick(ep, candidates + ["camera"])
    if not faced:
        return None
    face_point = ep.view.camera.position if faced[0] == "camera" else ep.positions[faced[0]]
    targets = [n for n in candidates if n != faced[0]]
    where = f"at the spot marked {MARKER_LABEL} on the table" if not on else f"at the {on} (marked {MARKER_LABEL})"
    intro = f"Imagine you are standing {where}, facing the {faced[0]}."
    extra = {
        "marker": {"label": MARKER_LABEL, "pixel": pixel, "point": point, "on_object": on},
        "facing": {"target": faced[0], "point": face_point},
    }
    if ep.rng.random() < 0.5:
        answered = _side_question(ep, point, face_point, targets, intro)
    else:
        answered = _distance_question(ep, point, targets, intro)
    if answered is None:
        return None
    stem, answer, others, more = answered
    image = draw_marker(ep.view.rgb, pixel, MARKER_LABEL)
    return _sample(ep, "perspective_taking", stem, answer, others, [image], {**extra, **more})


def _side_question(
    ep: Episode, point: np.ndarray, face_point: np.ndarray, targets: list[str], intro: str
) -> tuple[str, str, list[str], dict[str, Any]] | None:
    picked = _pick(ep, targets)
    if not picked or np.hypot(*(face_point - point)[:2]) < _MARKER_CLEARANCE_M:
        return None
    angle = signed_angle_deg((face_point - point)[:2], (ep.positions[picked[0]] - point)[:2])
    if not ep.config.angle_margin_deg <= abs(angle) <= 180.0 - ep.config.angle_margin_deg:
        return None
    answer = "left" if angle > 0 else "right"
    stem = f"{intro} Is the {picked[0]} to your left or to your right?"
    return stem, answer, ["right" if answer == "left" else "left"], {"object": picked[0], "angle_left_deg": angle}


def _distance_question(
    ep: Episode, point: np.ndarray, targets: list[str], intro: str
) -> tuple[str, str, list[str], dict[str, Any]] | None:
    picked = _pick(ep, targets, 2)
    if not picked:
        return None
    a, b = picked
    da, db = (float(np.hypot(*(ep.positions[n] - point)[:2])) for n in (a, b))
    if abs(da - db) < ep.config.depth_margin_m:
        return None
    answer = "closer" if da < db else "further"
    stem = f"{intro} Is the {a} closer to you or further from you than the {b}?"
    more = {"object": a, "other_object": b, "distance_m": da, "other_distance_m": db}
    return stem, answer, ["further" if answer == "closer" else "closer"], more


def _table_marker(ep: Episode) -> tuple[np.ndarray, np.ndarray, str] | None:
    """A free, visible table spot near the objects: ((3,) world point, (2,) pixel, "")."""
    tcfg = ep.sim.config
    lo, hi = np.asarray(tcfg.region_min_xy_m) - 0.05, np.asarray(tcfg.region_max_xy_m) + 0.05
    footprints = [ep.boxes[n].footprint() for n in ep.names]
    for _ in range(20):
        xy = ep.rng.uniform(lo, hi)
        if min(float(distance_to_convex_polygon(xy, fp)[0]) for fp in footprints) < _MARKER_CLEARANCE_M:
            continue
        point = np.array([xy[0], xy[1], 0.0])  # the table top is z = 0
        pixel = _visible_pixel(ep, point, -1)
        if pixel is not None:
            return point, pixel, ""
    return None


def _object_marker(ep: Episode) -> tuple[np.ndarray, np.ndarray, str] | None:
    """The top centre of a visible object: ((3,) world point, (2,) pixel, its name)."""
    picked = _pick(ep, ep.in_view)
    if not picked:
        return None
    name = picked[0]
    point = np.array([*ep.positions[name][:2], ep.boxes[name].z_max])
    pixel = _visible_pixel(ep, point, ep.names.index(name))
    return None if pixel is None else (point, pixel, name)


def _visible_pixel(ep: Episode, point: np.ndarray, label: int) -> np.ndarray | None:
    """(2,) pixel of a (3,) world point if it is well inside the image and the 3x3 patch there shows `label`."""
    cam = ep.view.camera
    uv = cam.project(point[None])[0][0]
    margin = 0.05 * min(cam.width, cam.height)
    inside = margin <= uv[0] < cam.width - margin and margin <= uv[1] < cam.height - margin
    if not np.all(np.isfinite(uv)) or not inside:
        return None
    u, v = int(round(uv[0])), int(round(uv[1]))
    return uv if np.all(ep.view.labels[v - 1 : v + 2, u - 1 : u + 2] == label) else None


def draw_marker(rgb: np.ndarray, pixel: np.ndarray, label: str) -> np.ndarray:
    """A copy of (H, W, 3) uint8 RGB with a white-ringed red disc at (2,) pixel, `label` written in white."""
    img = rgb.copy()
    h, w = img.shape[:2]
    radius = max(6, round(min(w, h) / 36))
    centre = (int(round(pixel[0])), int(round(pixel[1])))
    cv2.circle(img, centre, radius + 2, (255, 255, 255), -1, cv2.LINE_AA)
    cv2.circle(img, centre, radius, (210, 20, 40), -1, cv2.LINE_AA)
    scale = radius / 16.0
    thickness = max(1, round(radius / 8))
    (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    origin = (centre[0] - tw // 2, centre[1] + th // 2)
    cv2.putText(img, label, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return img


# --- static tasks (one image) --------------------------------------------------------------------


def counting(ep: Episode) -> Sample | None:
    """How many objects (of one category, or in all) are on the table? Asked only when all of them show."""
    if ep.rng.random() < 0.5:
        category, members = "", list(ep.names)
        stem = "How many objects are on the table?"
    else:
        category = str(ep.rng.choice(list(ep.config.sim_objects)))
        members = [n for n in ep.names if category_of(n) == category]
        stem = f"How many {plural(category)} are on the table?"
    if any(n not in ep.in_view for n in members):
        return None  # an occluded or out-of-view object would make the count unanswerable
    count = len(members)
    nearby = [c for c in range(max(0, count - 2), count + 4) if c != count]
    others = [str(c) for c in sorted(_pick(ep, nearby, 3))]
    extra = {"category": category, "counted": members, "count": count}
    return _sample(ep, "counting", stem, str(count), others, [ep.view.rgb], extra)


def relative_depth(ep: Episode) -> Sample | None:
    """Which of two objects is closer to the camera (centre distances at least depth_margin_m apart)?"""
    picked = _pick(ep, ep.in_view, 2)
    if not picked:
        return None
    centre = ep.view.camera.position
    distances = [float(np.linalg.norm(ep.positions[n] - centre)) for n in picked]
    if abs(distances[0] - distances[1]) < ep.config.depth_margin_m:
        return None
    answer = picked[int(np.argmin(distances))]
    stem = f"Which is closer to the camera, the {picked[0]} or the {picked[1]}?"
    extra = {"objects": picked, "distances_m": distances}
    return _sample(ep, "relative_depth", stem, answer, [n for n in picked if n != answer], [ep.view.rgb], extra)


def left_right(ep: Episode) -> Sample | None:
    """Is A to the left of B in the image (projected centres at least image_margin_frac of the width apart)?"""
    picked = _pick(ep, ep.in_view, 2)
    if not picked:
        return None
    cam = ep.view.camera
    uv = cam.project(np.stack([ep.positions[n] for n in picked]))[0]  # (2, 2) pixels
    if abs(uv[0, 0] - uv[1, 0]) < ep.config.image_margin_frac * cam.width:
        return None
    answer = "yes" if uv[0, 0] < uv[1, 0] else "no"
    stem = f"In the image, is the {picked[0]} to the left of the {picked[1]}?"
    extra = {"objects": picked, "pixels": uv}
    return _sample(ep, "left_right", stem, answer, ["no" if answer == "yes" else "yes"], [ep.view.rgb], extra)
