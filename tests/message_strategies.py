"""Hypothesis strategies for hostile input: questions and commands (for `robospatial ask` and the
command topic), and perception frame sets (colour, depth, camera_info, instance masks, 2D boxes,
keyed so) with one field of one message made hostile. Used in process (tests/test_fuzz_cli.py,
tests/test_fuzz_messages.py) and over DDS (tests/test_ros_perception.py, tests/test_ros_reasoner.py)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from hypothesis import strategies as st
from sensor_msgs.msg import CameraInfo, Image

from robospatial_ros.msg import BoxDetections2D, InstanceMasks
from robospatial_ros.ros.conversions import image_msg

KINDS = ("color", "depth", "info", "masks", "boxes")
COLOR_ENCODINGS = ["rgb8", "bgr8", "rgba8", "bgra8", "mono8", "yuv422", "16UC1", "32FC1", "", "RGB8", "rgb8\x00"]
DEPTH_ENCODINGS = ["16UC1", "mono16", "32FC1", "32FC3", "rgb8", "8UC1", "", "16uc1"]
LABEL_ENCODINGS = ["16UC1", "mono16", "8UC1", "32SC1", "rgb8", ""]
_MAX_BYTES = 1 << 22  # data drawn for a hostile image: at most 4 MB, whatever size its header claims
wild_float = st.floats(allow_nan=True, allow_infinity=True, width=32)


# --- questions and commands ---------------------------------------------------------------------------------

PIECES = [
    "is the ",
    "can the ",
    "put the ",
    "place the ",
    "points in the free space ",
    "left of the ",
    "right of ",
    "in front of ",
    "behind the ",
    "on top of ",
    "fit ",
    "mug ",
    "bowl ",
    "table ",
    "from the robot's perspective",
    "from the mug's perspective ",
    "? ",
    ", ",
    "object 3 ",
    "the red one ",
]
# Phrases the parser knows, in any order, or any text.
question = st.lists(st.sampled_from(PIECES), max_size=12).map("".join) | st.text(max_size=60)


# --- perception frame sets ----------------------------------------------------------------------------------


def sizes(valid: int) -> st.SearchStrategy[int]:
    """Image sides: tiny, about the valid one, or absurd."""
    return st.integers(0, 3) | st.integers(valid - 2, valid + 2) | st.sampled_from([2**16 - 1, 2**31 - 1])


def _bytes_for(draw: st.DrawFn, msg: Image) -> bytes:
    """Data of the length the header implies, shorter, longer or random; random pixels or floats."""
    want = min(msg.step * msg.height, _MAX_BYTES)
    kind = draw(st.sampled_from(["exact", "short", "long", "empty"]))
    n = {"exact": want, "short": max(0, want - draw(st.integers(1, 64))), "long": want + 7, "empty": 0}[kind]
    if msg.encoding == "32FC1" and n % 4 == 0 and draw(st.booleans()):
        values = draw(st.lists(wild_float, min_size=1, max_size=8))
        return np.resize(np.asarray(values, dtype=np.float32), n // 4).tobytes()
    seed = draw(st.integers(0, 2**16))
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


@st.composite
def hostile_image(draw: st.DrawFn, msg: Image, encodings: list[str]) -> Image:
    """`msg` with its encoding, size, step, byte order or data drawn."""
    out = Image(header=msg.header, height=msg.height, width=msg.width, encoding=msg.encoding, step=msg.step)
    out.is_bigendian, out.data = msg.is_bigendian, msg.data
    for part in draw(st.lists(st.sampled_from(["encoding", "size", "step", "endian", "data"]), min_size=1, max_size=3)):
        if part == "encoding":
            out.encoding = draw(st.sampled_from(encodings))
        elif part == "size":
            out.width, out.height = draw(sizes(msg.width)), draw(sizes(msg.height))
        elif part == "step":
            out.step = draw(st.integers(0, 4 * 4 * max(msg.width, 1)))
        elif part == "endian":
            out.is_bigendian = 1 - out.is_bigendian
        else:
            out.data = _bytes_for(draw, out)
    return out


@st.composite
def hostile_info(draw: st.DrawFn, msg: CameraInfo) -> CameraInfo:
    out = CameraInfo(header=msg.header, width=msg.width, height=msg.height, k=list(msg.k))
    if draw(st.booleans()):
        k = list(msg.k)
        for i in draw(st.lists(st.integers(0, 8), min_size=1, max_size=4)):
            k[i] = float(draw(wild_float | st.sampled_from([0.0, -500.0, 1e12])))
        out.k = k
    else:
        out.width, out.height = draw(sizes(msg.width)), draw(sizes(msg.height))
    return out


@st.composite
def hostile_masks(draw: st.DrawFn, msg: InstanceMasks) -> InstanceMasks:
    out = InstanceMasks(header=msg.header, labels=msg.labels, names=list(msg.names))
    part = draw(st.sampled_from(["names", "labels", "values"]))
    if part == "names":
        out.names = draw(st.lists(st.sampled_from(["", " ", "mug", "mug", "bowl", "\n", "table"]), max_size=6))
    elif part == "labels":
        out.labels = draw(hostile_image(msg.labels, LABEL_ENCODINGS))
    else:  # ids beyond the names, all one id, none
        values = draw(st.sampled_from([0, 1, 40, 65535]))
        out.labels = image_msg(np.full((msg.labels.height, msg.labels.width), values, np.uint16), "16UC1")
        out.labels.header = msg.labels.header
    return out


@st.composite
def hostile_boxes(draw: st.DrawFn, msg: BoxDetections2D) -> BoxDetections2D:
    n = draw(st.integers(0, 4))
    labels = draw(st.lists(st.sampled_from(["", "mug", "mug", "bowl", "x" * 300]), min_size=n, max_size=n))
    count = draw(st.sampled_from([4 * n, 4 * n + 1, max(0, 4 * n - 3)]))
    boxes = draw(st.lists(wild_float | st.sampled_from([-10.0, 0.0, 40.0, 1e9]), min_size=count, max_size=count))
    scores = draw(st.lists(wild_float, min_size=0, max_size=n + 1))
    return BoxDetections2D(header=msg.header, labels=labels, boxes=boxes, scores=scores)


@st.composite
def hostile_frame(
    draw: st.DrawFn, valid: Callable[[], dict[str, object]], detections: str
) -> tuple[str, dict[str, object]]:
    """(which message was made hostile, the frame set): `valid()` (a frame set keyed by KINDS; a function,
    so hypothesis's reports stay short) with one message drawn."""
    msgs = dict(valid())
    choices = ["color", "depth", "info", *([detections] if detections != "none" else [])]
    which = draw(st.sampled_from(choices))
    strategy = {
        "color": lambda m: hostile_image(m, COLOR_ENCODINGS),
        "depth": lambda m: hostile_image(m, DEPTH_ENCODINGS),
        "info": hostile_info,
        "masks": hostile_masks,
        "boxes": hostile_boxes,
    }[which]
    msgs[which] = draw(strategy(msgs[which]))
    return which, msgs
