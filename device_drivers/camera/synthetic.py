"""Synthetic document photos and a camera that serves them.

A printed A4 page (text lines and a QR code made with `segno.make_qr`) is warped onto a
darker desk the way a document camera sees it, optionally blurred, darkened, given a
glare spot or pushed partly out of the frame. The same scenes drive the tests, the
benchmark, `cunban sim camera` (which writes them as a file OpenCV opens with the real
capture code) and the `synthetic` camera type used for training kiosks without hardware.
"""

from __future__ import annotations

import glob
import logging
import math
import os
from dataclasses import dataclass

import cv2
import numpy as np
import segno

from device_drivers.base import DeviceUnavailable, register_driver
from device_drivers.camera.driver import CameraBase
from device_drivers.camera.image_files import load_image_file

logger = logging.getLogger(__name__)

PAPER = 236  # office paper photographs a little below full white
INK = 30
_WORDS = (
    "name", "village", "town", "county", "service", "item", "material", "copy", "date",
    "signature", "address", "applicant", "record", "number", "office", "station", "form",
)


@dataclass(frozen=True)
class Scene:
    """One photo: the BGR `frame`, where the page corners are (TL, TR, BR, BL; they may lie
    outside the frame when the page is cut off) and what the page's QR code says."""

    frame: np.ndarray
    corners: np.ndarray
    qr_data: str


def qr_image(data: str, module_px: int) -> np.ndarray:
    """A QR code as a grey image with its 4-module quiet zone (ISO/IEC 18004 §6.3.8).

    `segno.make_qr`, never `segno.make`: the latter picks Micro QR for short data, which
    zbar cannot read.
    """
    qr = segno.make_qr(data, error="m")
    matrix = np.array(qr.matrix, dtype=np.uint8)
    matrix = np.pad(matrix, 4)
    img = np.where(matrix == 1, INK, PAPER).astype(np.uint8)
    return cv2.resize(img, None, fx=module_px, fy=module_px, interpolation=cv2.INTER_NEAREST)


def render_page(qr_data: str = "411381101201-000123", width: int = 1240, seed: int = 0):
    """A white A4 portrait page (1:√2) with printed lines and a QR code, as BGR."""
    height = round(width * math.sqrt(2))
    rng = np.random.default_rng(seed)
    page = np.full((height, width), PAPER, np.uint8)
    margin = width // 12
    scale = width / 1240
    cv2.putText(page, "APPLICATION MATERIAL", (margin, margin + int(40 * scale)),
                cv2.FONT_HERSHEY_DUPLEX, 1.6 * scale, INK, max(1, round(3 * scale)), cv2.LINE_AA)
    qr = qr_image(qr_data, module_px=max(2, round(width * 0.2 / 29)))
    qy, qx = height - margin - qr.shape[0], width - margin - qr.shape[1]
    page[qy:qy + qr.shape[0], qx:qx + qr.shape[1]] = qr
    line_h = int(48 * scale)
    y = margin + int(120 * scale)
    while y < height - margin:
        right = qx - margin if y > qy - line_h else width - margin
        x = margin
        while True:
            word = str(rng.choice(_WORDS))
            (w, _), _ = cv2.getTextSize(word + " ", cv2.FONT_HERSHEY_SIMPLEX, 0.9 * scale, 2)
            if x + w > right:
                break
            cv2.putText(page, word, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.9 * scale, INK,
                        max(1, round(2 * scale)), cv2.LINE_AA)
            x += w
        y += line_h
    return cv2.cvtColor(page, cv2.COLOR_GRAY2BGR)


def page_corners(frame_size=(1280, 720), fill=0.86, tilt=0.05, rotate_deg=4.0,
                 offset=(0.0, 0.0), aspect=math.sqrt(2)) -> np.ndarray:
    """Where a portrait page of `aspect` (height/width) lands in a frame of (w, h): `fill`
    of the frame height, rotated, its top edge shortened by `tilt` (camera not straight
    above), moved by `offset` as a fraction of the frame."""
    fw, fh = frame_size
    h = fh * fill
    w = h / aspect
    cx, cy = fw / 2 + offset[0] * fw, fh / 2 + offset[1] * fh
    pts = np.array([[-w / 2 * (1 - tilt), -h / 2], [w / 2 * (1 - tilt), -h / 2],
                    [w / 2, h / 2], [-w / 2, h / 2]])
    a = math.radians(rotate_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return (pts @ rot.T + [cx, cy]).astype(np.float32)


def desk(frame_size=(1280, 720), level=95, seed=0) -> np.ndarray:
    """A darker, slightly uneven desk surface (BGR)."""
    fw, fh = frame_size
    rng = np.random.default_rng(seed)
    coarse = rng.normal(level, 12, (max(2, fh // 40), max(2, fw // 40))).astype(np.float32)
    base = cv2.resize(coarse, (fw, fh), interpolation=cv2.INTER_CUBIC)
    tint = np.array([0.8, 0.95, 1.1], np.float32)  # brownish wood
    return np.clip(base[..., None] * tint, 0, 255).astype(np.uint8)


def photograph(page: np.ndarray, corners: np.ndarray, frame_size=(1280, 720), seed=0,
               noise=2.0, qr_data: str = "") -> Scene:
    """Warp `page` onto a desk at `corners`, with mild lens softness and sensor noise."""
    fw, fh = frame_size
    # Shrink the page to about the size it appears first: a perspective warp samples
    # without averaging and would alias the print.
    fit = float(np.linalg.norm(corners[1] - corners[0]) / page.shape[1])
    if fit < 1.0:
        page = cv2.resize(page, None, fx=fit, fy=fit, interpolation=cv2.INTER_AREA)
    ph, pw = page.shape[:2]
    src = np.array([[0, 0], [pw - 1, 0], [pw - 1, ph - 1], [0, ph - 1]], np.float32)
    m = cv2.getPerspectiveTransform(src, corners.astype(np.float32))
    warped = cv2.warpPerspective(page, m, (fw, fh), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.ones((ph, pw), np.float32), m, (fw, fh))[..., None]
    background = desk(frame_size, seed=seed).astype(np.float32)
    frame = background + (warped.astype(np.float32) - background) * mask
    frame = cv2.GaussianBlur(frame, (0, 0), 0.6)
    frame += np.random.default_rng(seed + 1).standard_normal(frame.shape, np.float32) * noise
    return Scene(np.clip(frame, 0, 255).astype(np.uint8), corners.astype(np.float32), qr_data)


def make_scene(qr_data: str = "411381101201-000123", frame_size=(1280, 720), seed=0,
               **corner_args) -> Scene:
    """A sharp, well-lit photo of a whole page: the starting point for every bad photo."""
    page = render_page(qr_data, width=1240, seed=seed)
    corners = page_corners(frame_size, **corner_args)
    return photograph(page, corners, frame_size, seed=seed, qr_data=qr_data)


def blurred(frame: np.ndarray, sigma: float = 4.0) -> np.ndarray:
    """Out of focus or shaken."""
    return cv2.GaussianBlur(frame, (0, 0), sigma)


def darkened(frame: np.ndarray, factor: float = 0.25) -> np.ndarray:
    """A dim room: less light, so the same sensor noise weighs more."""
    dim = frame.astype(np.float32) * factor
    dim += np.random.default_rng(7).normal(0, 2.0, frame.shape)
    return np.clip(dim, 0, 255).astype(np.uint8)


def with_glare(frame: np.ndarray, centre: tuple[float, float], radius: float) -> np.ndarray:
    """A specular reflection of a lamp: a blown-out disc with a soft halo."""
    h, w = frame.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    d2 = (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2
    halo = np.exp(-d2 / (2 * radius**2)) * 400
    return np.clip(frame.astype(np.float32) + halo[..., None], 0, 255).astype(np.uint8)


@register_driver("camera", "synthetic")
class SyntheticCamera(CameraBase):
    """A camera with no hardware: frames of a synthetic document, or of the photos in
    `folder` (cycled), with a little sensor noise per frame so consecutive frames differ
    as they do on a real sensor. `unplug()` / `replug()` inject the fault a pulled USB
    cable causes.

    It is test equipment standing in for a camera whose frames cost the kiosk nothing to
    make (a UVC camera's MJPG is decoded by OpenCV), so a frame must be cheap: the noise is
    drawn once into a field a little taller than the frame, and each frame adds a window
    of it starting at a random row (two saturating OpenCV additions, no per-frame random
    numbers, and the GIL is released while they run). Like a UVC camera, it delivers at
    most `fps` frames a second (`None`: as fast as they are asked for, for recordings)."""

    NOISE_SIGMA = 1.5  # grey levels, about what a document camera shows in good light
    NOISE_ROWS = 64  # extra rows in the noise field: 64 different noise patterns per frame

    def __init__(self, folder: str | None = None, width: int = 1280, height: int = 720,
                 qr_data: str = "411381101201-000123", warmup_frames: int = 0,
                 fps: float | None = 30.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.width, self.height = width, height
        self.fps = fps
        self._due = 0.0
        self.unplugged = False
        self._index = 0
        self._rng = np.random.default_rng(0)
        self._noise: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}
        if folder:
            paths = sorted(p for ext in ("jpg", "jpeg", "png")
                           for p in glob.glob(os.path.join(folder, f"*.{ext}")))
            if not paths:
                raise DeviceUnavailable("没有找到可用的照片，请检查照片文件夹", detail=folder)
            self._frames = [load_image_file(p) for p in paths]
        else:
            self._frames = [make_scene(qr_data, (width, height)).frame]
        self.warmup_frames = warmup_frames

    def unplug(self) -> None:
        """Behave like a pulled cable until `replug()`."""
        self.unplugged = True

    def replug(self) -> None:
        self.unplugged = False

    def _open(self) -> None:
        if self.unplugged:
            raise DeviceUnavailable(detail="synthetic camera unplugged")

    def _noise_field(self, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """The positive and the negative part of a noise field for frames of `shape`,
        as uint8 so they can be added and subtracted with saturation."""
        if shape not in self._noise:
            field_shape = (shape[0] + self.NOISE_ROWS, *shape[1:])
            noise = np.rint(self._rng.standard_normal(field_shape, np.float32)
                            * self.NOISE_SIGMA)
            self._noise[shape] = (np.clip(noise, 0, 255).astype(np.uint8),
                                  np.clip(-noise, 0, 255).astype(np.uint8))
        return self._noise[shape]

    def _grab(self) -> np.ndarray:
        if self.unplugged:
            raise DeviceUnavailable(detail="synthetic camera unplugged")
        if self.fps:
            now = self._clock()
            if now < self._due:
                self._sleep(self._due - now)
            self._due = max(self._due, now) + 1 / self.fps
        frame = self._frames[self._index % len(self._frames)]
        self._index += 1
        plus, minus = self._noise_field(frame.shape)
        row = int(self._rng.integers(self.NOISE_ROWS))
        rows = slice(row, row + frame.shape[0])
        return cv2.subtract(cv2.add(frame, plus[rows]), minus[rows])

    def _release(self) -> None:
        """Nothing to release: frames live in memory."""
