"""USB document cameras (UVC) through OpenCV's V4L2 backend.

Document cameras stream uncompressed YUYV by default, which at 1920×1080 over USB 2.0
only manages a few frames per second; their MJPG mode gives the full rate. V4L2 fixes the
pixel format together with the size (VIDIOC_S_FMT), and OpenCV applies the fourcc only
when it is set before the resolution, so the order below matters.

`device` is a V4L2 index (0 → /dev/video0) or a path. Any other string — a video file, an
image sequence pattern such as `frame_%04d.jpg`, a stream URL — is opened with OpenCV's
default backends through the same code; that is how the simulator's recordings are read.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from device_drivers.base import DeviceUnavailable, register_driver
from device_drivers.camera.driver import CameraBase

logger = logging.getLogger(__name__)
traffic = logging.getLogger("cunban.device.traffic")


def _backend(device: int | str) -> tuple[int | str, int]:
    if isinstance(device, int) or (isinstance(device, str) and device.isdigit()):
        return int(device), cv2.CAP_V4L2
    if device.startswith("/dev/video"):
        return device, cv2.CAP_V4L2
    return device, cv2.CAP_ANY


@register_driver("camera", "uvc")
class UvcCamera(CameraBase):
    """A UVC camera: MJPG at `width`×`height`, the first `warmup_frames` discarded."""

    def __init__(self, device: int | str = 0, width: int = 1920, height: int = 1080,
                 fourcc: str = "MJPG", fps: float | None = None, warmup_frames: int = 5,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.device, self.api = _backend(device)
        self.width, self.height = width, height
        self.fourcc = fourcc
        self.fps = fps
        self.warmup_frames = warmup_frames
        self._cap: cv2.VideoCapture | None = None

    def _open(self) -> None:
        try:
            cap = cv2.VideoCapture(self.device, self.api)
        except cv2.error as exc:  # e.g. a malformed stream URL
            raise DeviceUnavailable(detail=f"camera {self.device!r}: {exc}") from exc
        if not cap.isOpened():
            cap.release()
            raise DeviceUnavailable(detail=f"cannot open camera {self.device!r}")
        # fourcc first, then the size: see the module docstring.
        cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*self.fourcc))
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        if self.fps:
            cap.set(cv2.CAP_PROP_FPS, self.fps)
        got = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        if got != (self.width, self.height):
            logger.info("camera %r delivers %dx%d instead of %dx%d", self.device, *got,
                        self.width, self.height)
        self._cap = cap

    def _grab(self) -> np.ndarray:
        if self._cap is None:
            raise DeviceUnavailable(detail="camera not open")
        try:
            ok, frame = self._cap.read()
        except cv2.error as exc:  # a corrupt MJPG frame can make the backend throw
            raise DeviceUnavailable(detail=f"camera {self.device!r}: {exc}") from exc
        if not ok or frame is None:
            # V4L2 returns EIO / ENODEV once the cable is pulled; OpenCV only says False.
            raise DeviceUnavailable(detail=f"read failed on camera {self.device!r}")
        traffic.debug("frame %dx%d from %r", frame.shape[1], frame.shape[0], self.device)
        return frame

    def _release(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
