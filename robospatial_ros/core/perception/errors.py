"""Typed perception errors: each is one readable line, each a RoboSpatialError.

Frame-level problems (no usable depth, no support plane, unusable detections) derive
from `FrameError` (a ValueError), so a node can drop the frame and keep serving;
`CameraUnavailableError` is about the source, not a frame.
"""

from __future__ import annotations

from robospatial_ros.core.errors import RoboSpatialError
from robospatial_ros.core.perception.frame import FrameError


class NoValidDepthError(FrameError):
    """The depth image holds no measurement in the configured range (all zero, NaN, too near/far)."""


class NoSupportPlaneError(FrameError):
    """No near-horizontal plane with enough points was found to stand objects on."""


class CameraBelowSupportError(NoSupportPlaneError):
    """The only support candidates lie above the camera: camera_to_world's z does not point up."""


class GravityMismatchError(NoSupportPlaneError):
    """The scene's dominant plane disagrees with the gravity (world z) of camera_to_world."""


class DetectionError(FrameError):
    """Detections are malformed (shapes, lengths) or none of them yields an object."""


class FrameFileError(FrameError):
    """A saved frame cannot be loaded: a missing file, a wrong shape, colour/depth sizes differ, bad intrinsics."""


class CameraUnavailableError(RoboSpatialError, RuntimeError):
    """No camera to read from: pyrealsense2 missing, no device, a missing recording, a stalled stream."""


class MissingDependencyError(RoboSpatialError, ImportError):
    """An optional dependency (open3d for clustering) is not installed; the message says how to install it."""
