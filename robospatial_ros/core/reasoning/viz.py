"""Pictures of a scene and an answer: a top-down map and a camera view (OpenCV, no GUI)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from robospatial_ros.core.obstacles import OCCUPIED, UNKNOWN
from robospatial_ros.core.reasoning.reasoner import Answer
from robospatial_ros.core.scene import Scene
from robospatial_ros.core.spatial.grid import OccupancyGrid
from robospatial_ros.core.spatial.view import SceneView

# BGR colours.
_FREE = (245, 245, 245)
_OUTSIDE = (200, 200, 200)
_OCCUPIED = (150, 170, 230)
_OBJECT = (60, 60, 60)
_REFERENCE = (40, 120, 220)
_TARGET = (200, 110, 20)
_POINT = (80, 170, 60)
_CHOSEN = (20, 20, 220)


def _palette(name: str, answer: Answer | None) -> tuple[int, int, int]:
    if answer is not None and name == answer.query.reference:
        return _REFERENCE
    if answer is not None and name == answer.query.target:
        return _TARGET
    return _OBJECT


def topdown_image(
    view: SceneView, answer: Answer | None = None, grid: OccupancyGrid | None = None, px_per_m: float = 500.0
) -> np.ndarray:
    """(H, W, 3) uint8 BGR map, world x up the image and y to the left (a plan view from above)."""
    pts = np.concatenate([view.view(o).footprint for o in view.scene.objects])
    lo, hi = pts.min(axis=0) - 0.05, pts.max(axis=0) + 0.05
    h, w = int((hi[0] - lo[0]) * px_per_m) + 1, int((hi[1] - lo[1]) * px_per_m) + 1
    img = np.full((h, w, 3), 255, np.uint8)

    def to_px(xy: np.ndarray) -> np.ndarray:  # world x/y (N, 2) -> (N, 2) int pixels (col, row)
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        return np.stack([(hi[1] - xy[:, 1]) * px_per_m, (hi[0] - xy[:, 0]) * px_per_m], axis=1).round().astype(np.int32)

    if grid is not None:
        _draw_grid(img, grid, to_px)
    for obj in view.scene.objects:
        colour = _palette(obj.name, answer)
        poly = to_px(view.view(obj).footprint)
        cv2.polylines(img, [poly], True, colour, 2, cv2.LINE_AA)
        centre = poly.mean(axis=0).astype(int)
        cv2.putText(
            img, obj.name, (int(centre[0]) - 20, int(centre[1])), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA
        )
    if answer is not None:
        _draw_points(img, to_px(answer.points_3d[:, :2]) if len(answer.points_3d) else np.zeros((0, 2), int))
        if answer.placement is not None and answer.placement.fits:
            _draw_points(img, to_px(answer.placement.xy[None]))
    return img


def _draw_grid(img: np.ndarray, grid: OccupancyGrid, to_px) -> None:  # noqa: ANN001
    ny, nx = grid.shape
    cells = np.empty((ny, nx, 3), np.uint8)
    cells[:] = _OUTSIDE
    cells[grid.free] = _FREE
    cells[grid.occupied & grid.inside] = _OCCUPIED
    # Grid rows follow world y and columns world x; the plan view has x up and y to the left.
    plan = np.ascontiguousarray(cells.transpose(1, 0, 2)[::-1, ::-1])
    x1, y1 = grid.x0 + nx * grid.resolution_m, grid.y0 + ny * grid.resolution_m
    (c0, r0), (c1, r1) = to_px(np.array([[x1, y1], [grid.x0, grid.y0]]))
    if c1 <= c0 or r1 <= r0:
        return
    plan = cv2.resize(plan, (int(c1 - c0), int(r1 - r0)), interpolation=cv2.INTER_NEAREST)
    h, w = img.shape[:2]
    rs, cs = max(-r0, 0), max(-c0, 0)
    re, ce = min(plan.shape[0], h - r0), min(plan.shape[1], w - c0)
    if re > rs and ce > cs:
        img[r0 + rs : r0 + re, c0 + cs : c0 + ce] = plan[rs:re, cs:ce]


def _draw_points(img: np.ndarray, px: np.ndarray) -> None:
    """Points in the plan view, the first (best) as a star."""
    for i, p in enumerate(px):
        centre = (int(p[0]), int(p[1]))
        if i == 0:
            cv2.drawMarker(img, centre, _CHOSEN, cv2.MARKER_STAR, 18, 2, cv2.LINE_AA)
        else:
            cv2.circle(img, centre, 3, _POINT, -1, cv2.LINE_AA)


def camera_image(view: SceneView, answer: Answer | None = None, background: np.ndarray | None = None) -> np.ndarray:
    """(H, W, 3) uint8 BGR: box wireframes, names and the answer's points drawn over `background` (BGR)."""
    cam = view.scene.camera
    points = cam.denormalize(answer.points_2d) if answer is not None and len(answer.points_2d) else None
    roles = {} if answer is None else {answer.query.reference: _REFERENCE, answer.query.target: _TARGET}
    return annotate(view, background, roles, points)


def annotate(
    view: SceneView,
    background: np.ndarray | None = None,
    roles: dict[str | None, tuple] | None = None,
    points_uv: np.ndarray | None = None,
    chosen_uv: np.ndarray | None = None,
) -> np.ndarray:
    """Wireframes of every box (coloured by `roles`: name -> BGR), (N, 2) pixel points and a chosen point."""
    cam = view.scene.camera
    img = background.copy() if background is not None else np.full((cam.height, cam.width, 3), 235, np.uint8)
    roles = roles or {}
    for obj in view.scene.objects:
        _draw_box(img, view, obj, roles.get(obj.name, _OBJECT))
    if points_uv is not None and len(points_uv):
        for p in np.asarray(points_uv).round().astype(int):
            cv2.circle(img, (int(p[0]), int(p[1])), 3, _POINT, -1, cv2.LINE_AA)
    if chosen_uv is not None:
        c = np.asarray(chosen_uv).round().astype(int).reshape(2)
        cv2.drawMarker(img, (int(c[0]), int(c[1])), _CHOSEN, cv2.MARKER_STAR, 20, 2, cv2.LINE_AA)
    return img


_EDGES = [(0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4), (0, 4), (1, 5), (2, 6), (3, 7)]


def _draw_box(img: np.ndarray, view: SceneView, obj, colour: tuple) -> None:  # noqa: ANN001
    uv, depth = view.scene.camera.project(view.view(obj).corners)
    for i, j in _EDGES:
        if depth[i] > 0 and depth[j] > 0:
            a, b = uv[i].round().astype(int), uv[j].round().astype(int)
            cv2.line(img, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), colour, 1, cv2.LINE_AA)
    ego = view.view(obj).ego
    if ego is not None:
        org = (int(ego.box[0]), max(int(ego.box[1]) - 4, 10))
        cv2.putText(img, obj.name, org, cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)


def save_png(path: str | Path, image: np.ndarray) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"could not write {path}")
    return path


def side_by_side(*images: np.ndarray, title: str = "") -> np.ndarray:
    """Images scaled to a common height, placed left to right, with an optional title bar."""
    height = max(im.shape[0] for im in images)
    scaled = [cv2.resize(im, (int(im.shape[1] * height / im.shape[0]), height)) for im in images]
    out = np.concatenate(scaled, axis=1)
    if title:
        bar = np.full((32, out.shape[1], 3), 255, np.uint8)
        cv2.putText(bar, title, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
        out = np.concatenate([bar, out], axis=0)
    return out


_UNKNOWN, _BLOCKED = (150, 150, 150), (60, 60, 200)  # BGR


def perceived_image(scene: Scene, color_rgb: np.ndarray, answer: dict | None = None) -> np.ndarray:
    """What perception made of a frame, BGR: the camera view with the boxes, the support outline and
    the observed map's unknown (grey) and unnamed-occupied (red) cells, beside the top-down map."""
    view = SceneView(scene)
    bgr = np.ascontiguousarray(np.asarray(color_rgb)[:, :, ::-1])
    points = chosen = None
    if answer is not None and answer.get("points_2d"):
        points = scene.camera.denormalize(np.asarray(answer["points_2d"], dtype=float))
    if answer is not None and answer.get("placement_2d") is not None:
        chosen = scene.camera.denormalize(np.asarray(answer["placement_2d"], dtype=float)[None])[0]
    camera = annotate(view, _shade_unobserved(scene, bgr), None, points, chosen)
    if scene.obstacles is None:
        return camera
    return side_by_side(
        camera, _map_image(scene), title="camera view | observed map (free white, occupied red, unknown grey)"
    )


def _shade_unobserved(scene: Scene, bgr: np.ndarray) -> np.ndarray:
    """Tint the image pixels that see unknown or occupied cells of the observed map."""
    m = scene.obstacles
    if m is None:
        return bgr
    h, w = m.shape
    jj, ii = np.meshgrid(np.arange(w), np.arange(h))
    xy = m.origin_xy_m + (np.stack([jj, ii], axis=-1).reshape(-1, 2) + 0.5) * m.resolution_m  # (H*W, 2) world
    xyz = np.column_stack([xy, np.full(len(xy), m.support_height_m)])
    uv, depth = scene.camera.project(xyz)
    state = m.cells.reshape(-1)
    out = bgr.copy()
    for value, colour in ((UNKNOWN, _UNKNOWN), (OCCUPIED, _BLOCKED)):
        sel = (state == value) & (depth > 0) & np.isfinite(uv).all(axis=1)
        px = uv[sel].round().astype(int)
        keep = (px[:, 0] >= 0) & (px[:, 0] < bgr.shape[1]) & (px[:, 1] >= 0) & (px[:, 1] < bgr.shape[0])
        px = px[keep]
        out[px[:, 1], px[:, 0]] = (0.5 * out[px[:, 1], px[:, 0]] + 0.5 * np.array(colour)).astype(np.uint8)
    return out


def _map_image(scene: Scene, scale_px: int = 3) -> np.ndarray:
    """The observed map top-down (x up the image, y to the left, as seen from above the robot base)."""
    m = scene.obstacles
    assert m is not None
    colours = np.full((*m.shape, 3), 255, np.uint8)  # (H, W) cells: row = y, column = x
    colours[m.cells == UNKNOWN] = _UNKNOWN
    colours[m.cells == OCCUPIED] = _BLOCKED
    img = np.ascontiguousarray(colours.transpose(1, 0, 2)[::-1, ::-1])  # image row = -x, column = -y
    return cv2.resize(img, None, fx=scale_px, fy=scale_px, interpolation=cv2.INTER_NEAREST)
