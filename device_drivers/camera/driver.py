"""What every camera type shares: reopening after an unplug, warm-up, codes, capture.

A type implements `_open`, `_grab` and `_release`; this class turns their failures into
`DeviceUnavailable`, retries opening with exponential backoff (never more often than
`backoff_min`, never less often than `backoff_max`), and gives the kiosk
`read_frame`, `read_code` (the `CodeReader` protocol) and `capture`.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from device_drivers.base import DeviceTimeout, DeviceUnavailable, Health, ScannedCode
from device_drivers.camera.codes import decode_codes
from device_drivers.camera.document import Analysis, AutoCapture

logger = logging.getLogger(__name__)


class CameraBase:
    """Shared behaviour of the camera types; see the module docstring."""

    warmup_frames = 0

    def __init__(self, backoff_min: float = 0.5, backoff_max: float = 8.0,
                 clock=time.monotonic, sleep=time.sleep) -> None:
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self._clock = clock
        self._sleep = sleep
        self._is_open = False
        self._backoff = backoff_min
        self._next_attempt = 0.0
        self._last_error: DeviceUnavailable | None = None

    # to be provided by each type --------------------------------------------------------
    def _open(self) -> None:
        raise NotImplementedError

    def _grab(self) -> np.ndarray:
        raise NotImplementedError

    def _release(self) -> None:
        raise NotImplementedError

    # shared ------------------------------------------------------------------------------
    def open(self) -> None:
        """Open now, or raise DeviceUnavailable; after a failure the next attempt waits
        for the backoff so an unplugged camera is not hammered from the kiosk loop."""
        if self._is_open:
            return
        now = self._clock()
        if now < self._next_attempt and self._last_error is not None:
            raise self._last_error
        try:
            self._open()
            for _ in range(self.warmup_frames):
                # Auto-exposure and white balance settle over the first frames of a UVC
                # stream; those frames come out dark or tinted.
                self._grab()
        except DeviceUnavailable as exc:
            self._release()
            self._last_error = exc
            self._next_attempt = now + self._backoff
            self._backoff = min(self._backoff * 2, self.backoff_max)
            logger.info("camera open failed (%s); next attempt in %.1fs", exc.detail,
                        self._next_attempt - now)
            raise
        self._is_open = True
        self._backoff = self.backoff_min
        self._last_error = None
        logger.info("camera opened")

    def read_frame(self) -> np.ndarray:
        """The next BGR frame; DeviceUnavailable when the camera is gone (the next call
        reopens it, subject to the backoff)."""
        self.open()
        try:
            return self._grab()
        except DeviceUnavailable as exc:
            logger.warning("camera read failed (%s); will reopen", exc.detail)
            self._is_open = False
            self._release()
            self._last_error = exc
            self._next_attempt = self._clock()  # the first reopen is immediate
            raise

    def frames(self, timeout: float):
        """Frames for `timeout` seconds, riding out unplugs; re-raises the last
        DeviceUnavailable if the camera never delivered anything."""
        deadline = self._clock() + timeout
        delivered = False
        while self._clock() < deadline:
            try:
                frame = self.read_frame()
            except DeviceUnavailable:
                wait = min(max(self._next_attempt - self._clock(), 0.02),
                           deadline - self._clock())
                if wait > 0:
                    self._sleep(wait)
                continue
            delivered = True
            yield frame
        if not delivered and self._last_error is not None:
            raise self._last_error

    def read_code(self, timeout: float) -> ScannedCode | None:
        """`CodeReader`: the first QR code seen within `timeout` seconds, or None."""
        for frame in self.frames(timeout):
            codes = decode_codes(frame, qr_only=True)
            if codes:
                return codes[0]
        return None

    def capture(self, timeout: float, still_frames: int = 4) -> Analysis:
        """Wait for a page lying still and sharp; DeviceTimeout (with the advice for the
        last frame seen) if none comes within `timeout` seconds."""
        auto = AutoCapture(still_frames=still_frames)
        for frame in self.frames(timeout):
            shot = auto.feed(frame)
            if shot is not None:
                return shot
        advice = auto.last.quality.advice if auto.last else ()
        raise DeviceTimeout(advice[0] if advice else None, detail="no still page in time")

    def health(self) -> Health:
        """`ok` while frames flow, `offline` after a failure until reopened."""
        if self._is_open:
            return Health("ok")
        if self._last_error is not None:
            return Health("offline", "camera_unavailable", self._last_error.message,
                          {"detail": self._last_error.detail})
        return Health("offline", "camera_closed", "")

    def close(self) -> None:
        """Release the device."""
        self._is_open = False
        self._release()
