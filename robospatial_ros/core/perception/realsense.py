"""Intel RealSense source: live camera or a recording -> RGBDFrame (depth aligned to colour).

pyrealsense2 is imported lazily, so the rest of perception works without it. It needs the
Debian package libusb-1.0-0 at import time; with no camera attached it lists 0 devices,
and recordings (.bag, or .db3 which librealsense 2.59 writes) play back offline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

import numpy as np

from robospatial_ros.core.configio import check_field_types
from robospatial_ros.core.errors import ConfigError
from robospatial_ros.core.perception.errors import CameraUnavailableError
from robospatial_ros.core.perception.frame import FrameError, RGBDFrame

__all__ = ["CameraUnavailableError", "RealSenseConfig", "RealSenseSource", "list_devices"]

INSTALL_HINT = (
    "install pyrealsense2 (pip install pyrealsense2, or robospatial-ros[realsense]) and the "
    "Debian package libusb-1.0-0 (apt-get install libusb-1.0-0)"
)


@dataclass(frozen=True)
class RealSenseConfig:
    """Which camera or recording to read, and how. Sizes in pixels, rates in frames per second."""

    serial: str = ""  # a device serial number; empty = the first camera found
    width: int = 640
    height: int = 480
    fps: int = 30
    playback_path: str = ""  # a .bag / .db3 recording to play instead of a live camera
    camera_to_world: np.ndarray = field(default_factory=lambda: np.eye(4))  # (4, 4) optical frame -> world
    timeout_ms: int = 5000  # read() gives up after this long without a frameset
    real_time_playback: bool = False  # False: a recording plays as fast as read() asks, no frame dropped
    repeat_playback: bool = False

    def __post_init__(self) -> None:
        try:
            check_field_types(self)
        except ValueError as exc:
            raise ConfigError(f"realsense config: {exc}") from None
        for name in ("width", "height", "fps", "timeout_ms"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"realsense config: {name} must be > 0, got {getattr(self, name)}")
        T = np.asarray(self.camera_to_world, dtype=float)
        if T.shape != (4, 4) or not np.all(np.isfinite(T)):
            raise ConfigError(f"realsense config: camera_to_world must be a finite 4x4 matrix, got shape {T.shape}")
        if not np.allclose(T[:3, :3] @ T[:3, :3].T, np.eye(3), atol=1e-4) or not np.allclose(T[3], [0, 0, 0, 1]):
            raise ConfigError("realsense config: camera_to_world must be a rigid transform")
        object.__setattr__(self, "camera_to_world", T)


def _pyrealsense2() -> ModuleType:
    """The pyrealsense2 module, or CameraUnavailableError saying how to install it."""
    try:
        import pyrealsense2
    except (ImportError, OSError) as exc:  # OSError: the wheel is there but libusb is not
        raise CameraUnavailableError(f"pyrealsense2 is unavailable ({exc}); {INSTALL_HINT}") from None
    return pyrealsense2


def list_devices() -> list[str]:
    """Serial numbers of the RealSense cameras attached (empty without one)."""
    rs = _pyrealsense2()
    return [d.get_info(rs.camera_info.serial_number) for d in rs.context().query_devices()]


class RealSenseSource:
    """`with RealSenseSource(cfg) as cam: frame = cam.read()`; CameraUnavailableError when it cannot."""

    def __init__(self, config: RealSenseConfig | None = None):
        self.config = config or RealSenseConfig()
        self._pipeline: Any = None
        self._align: Any = None
        self._depth_scale_m = 0.001

    @property
    def running(self) -> bool:
        return self._pipeline is not None

    def start(self) -> RealSenseSource:
        """Open the camera (or recording) and start streaming; returns self."""
        if self.running:
            return self
        rs = _pyrealsense2()
        rs_config = self._playback_config(rs) if self.config.playback_path else self._live_config(rs)
        pipeline = rs.pipeline()
        try:
            profile = pipeline.start(rs_config)
        except RuntimeError as exc:
            raise CameraUnavailableError(f"could not start the RealSense stream: {exc}") from None
        device = profile.get_device()
        if self.config.playback_path:
            device.as_playback().set_real_time(self.config.real_time_playback)
        try:
            self._depth_scale_m = float(device.first_depth_sensor().get_depth_scale())
        except RuntimeError:
            pipeline.stop()
            raise CameraUnavailableError("the RealSense device or recording has no depth sensor") from None
        self._pipeline, self._align = pipeline, rs.align(rs.stream.color)
        return self

    def _live_config(self, rs: ModuleType) -> Any:
        serials = list_devices()
        if not serials:
            raise CameraUnavailableError(
                "no RealSense camera found (0 devices): connect one, or set playback_path to a .bag/.db3 recording"
            )
        cfg = self.config
        if cfg.serial and cfg.serial not in serials:
            raise CameraUnavailableError(f"no RealSense with serial {cfg.serial!r}; found: {', '.join(serials)}")
        rs_config = rs.config()
        if cfg.serial:
            rs_config.enable_device(cfg.serial)
        rs_config.enable_stream(rs.stream.depth, cfg.width, cfg.height, rs.format.z16, cfg.fps)
        rs_config.enable_stream(rs.stream.color, cfg.width, cfg.height, rs.format.rgb8, cfg.fps)
        return rs_config

    def _playback_config(self, rs: ModuleType) -> Any:
        path = Path(self.config.playback_path)
        if not path.is_file():
            what = "is a directory" if path.is_dir() else "not found"
            raise CameraUnavailableError(f"RealSense recording {what}: {path}")
        rs_config = rs.config()
        rs_config.enable_device_from_file(str(path), repeat_playback=self.config.repeat_playback)
        return rs_config

    def read(self) -> RGBDFrame:
        """The next frameset, depth aligned to colour: uint16 depth in device units, RGB colour."""
        if not self.running:
            raise CameraUnavailableError("RealSenseSource.read() before start()")
        ok, frames = self._pipeline.try_wait_for_frames(self.config.timeout_ms)
        if not ok:
            where = "the recording ended" if self.config.playback_path else "the camera stalled"
            raise CameraUnavailableError(f"no RealSense frames within {self.config.timeout_ms} ms ({where})")
        aligned = self._align.process(frames)
        color_frame, depth_frame = aligned.get_color_frame(), aligned.get_depth_frame()
        if not color_frame or not depth_frame:
            raise CameraUnavailableError("a RealSense frameset lacked colour or depth")
        intr = color_frame.profile.as_video_stream_profile().get_intrinsics()
        K = np.array([[intr.fx, 0.0, intr.ppx], [0.0, intr.fy, intr.ppy], [0.0, 0.0, 1.0]])
        color = _rgb(np.asanyarray(color_frame.get_data()), str(color_frame.profile.format()))
        depth = np.array(depth_frame.get_data(), dtype=np.uint16, copy=True)  # the SDK reuses its buffer
        try:
            return RGBDFrame(
                color,
                depth,
                K,
                self.config.camera_to_world,
                self._depth_scale_m,
                float(frames.get_timestamp()) / 1000.0,
            )
        except FrameError as exc:
            raise CameraUnavailableError(f"unusable RealSense frame: {exc}") from None

    def stop(self) -> None:
        if self._pipeline is not None:
            try:
                self._pipeline.stop()
            finally:
                self._pipeline = None

    def __enter__(self) -> RealSenseSource:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _rgb(image: np.ndarray, fmt: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB copy of a colour frame in rgb8 / bgr8 / rgba8 / bgra8."""
    fmt = fmt.rsplit(".", 1)[-1].lower()
    if fmt in ("rgb8", "rgba8"):
        return np.array(image[..., :3], copy=True)  # the SDK reuses its buffer
    if fmt in ("bgr8", "bgra8"):
        return np.array(image[..., 2::-1], copy=True)
    raise CameraUnavailableError(f"RealSense colour format {fmt} is not supported (use rgb8 or bgr8)")
