"""The document pipeline: pure functions over numpy images.

find the page → correct perspective → check quality → decide when to capture → encode.

The page is found on a frame scaled down to `DETECT_SIDE` pixels (edges of a sheet of
paper do not need more), its corners are scaled back and the full-resolution frame is
warped once. Quality is measured on a corrected preview of fixed width, so thresholds do
not depend on the camera resolution or on how much of the frame the page fills.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import cv2
import numpy as np

logger = logging.getLogger(__name__)

DETECT_SIDE = 640  # longest side of the frame used for finding the page
PREVIEW_WIDTH = 600  # width of the corrected page that quality is measured on
A4_RATIO = math.sqrt(2)  # ISO 216: every A-series sheet is 1:√2
A4_TOLERANCE = 0.08  # measured ratio within 8 % of √2 is taken to be A4
MIN_PAGE_FRACTION = 0.08  # a page smaller than this share of the frame is not a page
BORDER_PX = 3  # contour points this close to the detect-frame edge touch the border
MIN_SOLIDITY = 0.85  # region area / convex hull area of a sheet, even with a corner folded
MIN_CONTRAST = 25  # grey levels the paper must stand above the desk around it

# Thresholds, measured on the synthetic scenes in the tests and on real A4 photos:
SHARPNESS_MIN = 120.0  # variance of the Laplacian on the busiest tiles of the preview
PAPER_LEVEL_MIN = 100  # median grey of the page; lit paper photographs at 170..240
FRAME_LEVEL_MIN = 60  # when no page is found: 95th percentile grey of the whole frame
GLARE_LEVEL = 250  # a pixel this bright is clipped by the sensor
GLARE_FRACTION = 0.01  # more than 1 % of the page clipped is a reflection, not paper

# Problems in the order a person should fix them, with what to tell them.
ADVICE = {
    "dark": "光线太暗，请打开补光灯或移到亮处",
    "not_found": "没有找到材料，请把材料放平",
    "cut_off": "材料没有完全放进画面，请把材料放在框内",
    "glare": "反光太强，请调整角度",
    "blur": "画面模糊，请保持材料不动",
}


@dataclass(frozen=True)
class PageQuad:
    """Page corners in frame pixels, ordered top-left, top-right, bottom-right,
    bottom-left; `cut_off` when the page runs over the frame edge."""

    corners: np.ndarray
    cut_off: bool


@dataclass(frozen=True)
class Quality:
    """The verdict on one frame: `ok`, the problems in fixing order, and plain advice."""

    ok: bool
    problems: tuple[str, ...]
    measures: dict[str, float] = field(default_factory=dict)

    @property
    def advice(self) -> tuple[str, ...]:
        return tuple(ADVICE[p] for p in self.problems)

    def as_dict(self) -> dict:
        return {"ok": self.ok, "problems": list(self.problems), "advice": list(self.advice)}


@dataclass(frozen=True)
class Analysis:
    """What the pipeline saw in one frame. `page()` warps the full-resolution page."""

    frame: np.ndarray
    quad: PageQuad | None
    quality: Quality

    def page(self) -> np.ndarray | None:
        """The upright, perspective-corrected page at the resolution the camera saw it."""
        if self.quad is None or self.quad.cut_off:
            return None
        return correct_perspective(self.frame, self.quad.corners)


def order_corners(pts: np.ndarray) -> np.ndarray:
    """Order four points TL, TR, BR, BL, so the output page is upright whatever way the
    contour was traced: TL has the smallest x+y, BR the largest, TR the smallest y−x."""
    pts = np.asarray(pts, np.float32).reshape(4, 2)
    s, d = pts.sum(axis=1), pts[:, 1] - pts[:, 0]
    return np.array([pts[s.argmin()], pts[d.argmin()], pts[s.argmax()], pts[d.argmax()]],
                    np.float32)


def _to_gray(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def _quad_from_contour(contour: np.ndarray) -> np.ndarray | None:
    hull = cv2.convexHull(contour)
    perimeter = cv2.arcLength(hull, True)
    for eps in (0.02, 0.03, 0.05, 0.08):
        approx = cv2.approxPolyDP(hull, eps * perimeter, True)
        if len(approx) == 4 and cv2.isContourConvex(approx):
            return approx.reshape(4, 2).astype(np.float32)
    return None


def _largest_region(binary: np.ndarray) -> np.ndarray | None:
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return max(contours, key=cv2.contourArea) if contours else None


def _stands_out(small: np.ndarray, region: np.ndarray) -> bool:
    mask = np.zeros(small.shape, np.uint8)
    cv2.drawContours(mask, [region], -1, 255, cv2.FILLED)
    inside, outside = small[mask > 0], small[mask == 0]
    if outside.size == 0:
        return False
    return float(inside.mean()) - float(outside.mean()) >= MIN_CONTRAST


def find_page(frame: np.ndarray) -> PageQuad | None:
    """The largest convex quadrilateral that stands out from the desk, or None.

    Paper is brighter than the desk it lies on, so Otsu's threshold separates them in
    most light; when it does not (a white desk), Canny edges closed into a contour are
    tried. The region is reduced to its convex hull first so text, a thumb or a glare
    spot on the edge do not break the outline.
    """
    gray = _to_gray(frame)
    h, w = gray.shape
    scale = min(1.0, DETECT_SIDE / max(h, w))
    small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (5, 5), 0)
    sh, sw = small.shape
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (5, 5))

    _, otsu = cv2.threshold(small, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    otsu = cv2.morphologyEx(otsu, cv2.MORPH_OPEN, kernel)
    edges = cv2.dilate(cv2.Canny(small, 40, 120), kernel)
    for binary in (otsu, edges):
        region = _largest_region(binary)
        if region is None:
            continue
        hull_area = cv2.contourArea(cv2.convexHull(region))
        area = hull_area / float(sh * sw)
        if area < MIN_PAGE_FRACTION or area > 0.98:
            continue
        if cv2.contourArea(region) < MIN_SOLIDITY * hull_area:
            continue  # ragged blobs are desk grain or clutter, not a sheet
        if not _stands_out(small, region):
            continue
        x, y, rw, rh = cv2.boundingRect(region)
        cut_off = x <= BORDER_PX or y <= BORDER_PX or x + rw >= sw - BORDER_PX \
            or y + rh >= sh - BORDER_PX
        quad = _quad_from_contour(region)
        if quad is None:
            if cut_off:  # a page running off the frame is rarely a clean quadrilateral
                box = cv2.boxPoints(cv2.minAreaRect(region))
                return PageQuad(order_corners(box / scale), True)
            continue
        return PageQuad(order_corners(quad / scale), cut_off)
    return None


def measured_ratio(corners: np.ndarray) -> float:
    """Height / width of the page from the mean lengths of opposite sides."""
    tl, tr, br, bl = corners
    width = (np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2
    height = (np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2
    return float(height / max(width, 1.0))


def page_size(corners: np.ndarray, width: int | None = None) -> tuple[int, int]:
    """(width, height) of the corrected page: A4 (1:√2, either orientation) when the
    measured ratio is close to it, the measured ratio otherwise. The width is the one the
    camera saw unless `width` asks for another."""
    ratio = measured_ratio(corners)
    for a4 in (A4_RATIO, 1 / A4_RATIO):
        if abs(ratio - a4) / a4 <= A4_TOLERANCE:
            ratio = a4
    if width is None:
        tl, tr, br, bl = corners
        width = int(round((np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2))
    return max(width, 1), max(int(round(width * ratio)), 1)


def correct_perspective(frame: np.ndarray, corners: np.ndarray,
                        width: int | None = None) -> np.ndarray:
    """Warp the page inside `corners` (TL, TR, BR, BL) to an upright rectangle."""
    w, h = page_size(corners, width)
    dst = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float32)
    m = cv2.getPerspectiveTransform(corners.astype(np.float32), dst)
    return cv2.warpPerspective(frame, m, (w, h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)


def sharpness(gray: np.ndarray, tiles: int = 8) -> float:
    """Variance of the Laplacian (Pech-Pacheco et al., ICPR 2000) on the busiest tiles.

    Taken per tile and read at the 80th percentile, so wide blank margins of a sparse
    page do not make a sharp photo look blurred.
    """
    lap = cv2.Laplacian(gray, cv2.CV_32F)
    h, w = lap.shape
    th, tw = h // tiles, w // tiles
    if th < 4 or tw < 4:
        return float(lap.var())
    blocks = lap[: th * tiles, : tw * tiles].reshape(tiles, th, tiles, tw)
    return float(np.percentile(blocks.var(axis=(1, 3)), 80))


def assess(frame: np.ndarray, quad: PageQuad | None) -> Quality:
    """Quality verdict for a frame and the page found in it (or None)."""
    problems: list[str] = []
    measures: dict[str, float] = {}
    gray = _to_gray(frame)
    if quad is None or quad.cut_off:
        level = float(np.percentile(gray[::4, ::4], 95))
        measures["frame_level"] = level
        if level < FRAME_LEVEL_MIN:
            problems.append("dark")
        problems.append("not_found" if quad is None else "cut_off")
        return Quality(False, tuple(_ordered(problems)), measures)

    preview = _to_gray(correct_perspective(gray, quad.corners, PREVIEW_WIDTH))
    inner = _inset(preview, 0.03)  # keep the desk out of the page statistics
    paper = float(np.median(inner))
    clipped = float(np.count_nonzero(inner >= GLARE_LEVEL)) / inner.size
    sharp = sharpness(inner)
    measures.update(paper_level=paper, glare_fraction=clipped, sharpness=sharp)
    if paper < PAPER_LEVEL_MIN:
        problems.append("dark")
    if clipped > GLARE_FRACTION:
        problems.append("glare")
    # Sensor noise inflates the Laplacian of a dark frame, so sharpness is only judged
    # in usable light.
    if sharp < SHARPNESS_MIN and "dark" not in problems:
        problems.append("blur")
    return Quality(not problems, tuple(_ordered(problems)), measures)


def _inset(image: np.ndarray, fraction: float) -> np.ndarray:
    h, w = image.shape[:2]
    dy, dx = int(h * fraction), int(w * fraction)
    return image[dy:h - dy, dx:w - dx]


def _ordered(problems: list[str]) -> list[str]:
    order = list(ADVICE)
    return sorted(set(problems), key=order.index)


def analyse(frame: np.ndarray) -> Analysis:
    """Find the page and judge the frame; the full-resolution warp is left to `page()`."""
    quad = find_page(frame)
    quality = assess(frame, quad)
    logger.debug("frame quality %s %s", quality.problems or "ok", quality.measures)
    return Analysis(frame, quad, quality)


class AutoCapture:
    """Capture once the page is found, sharp and still for `still_frames` frames.

    Stillness is the mean absolute difference between consecutive frames shrunk to
    `MOTION_SIDE` pixels (which averages sensor noise away). After a capture nothing more
    is emitted until the scene changes — the page moves or leaves — so one page gives
    one photo however long it lies there.
    """

    MOTION_SIDE = 160

    def __init__(self, still_frames: int = 4, motion_threshold: float = 2.0) -> None:
        self.still_frames = still_frames
        self.motion_threshold = motion_threshold
        self._previous: np.ndarray | None = None
        self._still = 0
        self._armed = True
        self.last: Analysis | None = None

    def motion(self, frame: np.ndarray) -> float:
        """Mean absolute grey difference to the previous frame (0 for the first one)."""
        gray = _to_gray(frame)
        scale = self.MOTION_SIDE / max(gray.shape)
        small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (3, 3), 0).astype(np.int16)
        previous, self._previous = self._previous, small
        if previous is None or previous.shape != small.shape:
            return 0.0
        return float(np.abs(small - previous).mean())

    def feed(self, frame: np.ndarray) -> Analysis | None:
        """Look at the next frame; returns the Analysis to capture, at most once per page."""
        moved = self.motion(frame) > self.motion_threshold
        self.last = analysis = analyse(frame)
        if moved or analysis.quad is None:
            self._armed = True
        if moved or not analysis.quality.ok:
            self._still = 0
            return None
        self._still += 1
        if self._armed and self._still >= self.still_frames:
            self._armed = False
            return analysis
        return None


def encode_jpeg(page: np.ndarray, max_bytes: int = 300_000, min_quality: int = 50,
                max_quality: int = 92, max_long_side: int = 1754) -> bytes:
    """JPEG of the page within `max_bytes`, at the highest quality that fits.

    The long side is first limited to `max_long_side` (A4 at 150 dpi is 1240 × 1754,
    enough for 5-point text). Quality is found by binary search between `min_quality`
    and `max_quality`; below `min_quality` text strokes ring visibly, so if even that is
    too large the page is shrunk instead and the search repeated.
    """
    long_side = max(page.shape[:2])
    if long_side > max_long_side:
        f = max_long_side / long_side
        page = cv2.resize(page, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    while True:
        best: bytes | None = None
        lo, hi = min_quality, max_quality
        while lo <= hi:
            q = (lo + hi) // 2
            ok, buf = cv2.imencode(".jpg", page, [cv2.IMWRITE_JPEG_QUALITY, q])
            if not ok:
                raise ValueError("JPEG encoder refused the page")
            if len(buf) <= max_bytes:
                best, lo = buf.tobytes(), q + 1
            else:
                hi = q - 1
        if best is not None or min(page.shape[:2]) < 64:
            if best is None:
                raise ValueError(f"cannot fit a page into {max_bytes} bytes")
            return best
        page = cv2.resize(page, None, fx=0.85, fy=0.85, interpolation=cv2.INTER_AREA)
