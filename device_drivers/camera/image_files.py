"""Decoding photo files safely: truncated, empty, not-an-image and decompression bombs.

The declared size is read from the file header before any pixel is decoded, so a 200-byte
file that claims 60 000 × 60 000 pixels is refused without allocating gigabytes. Only
JPEG (ITU-T T.81) and PNG (ISO/IEC 15948) are accepted: those are what cameras and phones
produce, and each has an explicit end marker, so a cut-off transfer is detected instead
of being decoded into a half-grey picture.
"""

from __future__ import annotations

import os
import struct

import cv2
import numpy as np

from device_drivers.base import DeviceError

# A4 at 600 dpi is 35 Mpx; a 48 Mpx phone photo is the largest real input we expect.
MAX_PIXELS = 50_000_000
MAX_FILE_BYTES = 64 * 1024 * 1024

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers carrying the image size (T.81 Table B.1): SOF0..SOF15
# except DHT (C4), JPG (C8) and DAC (CC).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


class BadImage(DeviceError):
    """A photo file that cannot be used; the message says what to do instead."""

    message = "图片无法识别，请重新拍照或换一张图片"


def image_dimensions(data: bytes) -> tuple[str, int, int]:
    """(format, width, height) from the header alone; BadImage if it is not JPEG or PNG."""
    if not data:
        raise BadImage("图片文件是空的，请重新拍照", detail="zero-size file")
    if data.startswith(_PNG_SIGNATURE):
        # IHDR is the first chunk: length(4) "IHDR" width(4) height(4), big-endian.
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise BadImage("图片文件不完整，请重新拍照", detail="PNG without IHDR")
        width, height = struct.unpack(">II", data[16:24])
        return "png", width, height
    if data.startswith(b"\xff\xd8"):
        return ("jpeg", *_jpeg_dimensions(data))
    raise BadImage("这不是照片文件，请选择 JPG 或 PNG 图片", detail="unknown signature")


def _jpeg_dimensions(data: bytes) -> tuple[int, int]:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise BadImage("图片文件已损坏，请重新拍照", detail=f"no marker at {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker (T.81 B.1.1.2)
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # standalone markers, no length
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        if marker in _SOF_MARKERS:
            if pos + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            return width, height
        if marker == 0xDA:  # start of scan before any frame header
            break
        pos += 2 + length
    raise BadImage("图片文件不完整，请重新拍照", detail="JPEG without frame header")


def _check_complete(kind: str, data: bytes) -> None:
    tail = data.rstrip(b"\x00")  # some encoders pad the last block with zeros
    if kind == "jpeg" and not tail.endswith(b"\xff\xd9"):
        raise BadImage("图片文件不完整，请重新拍照", detail="JPEG without EOI")
    if kind == "png" and b"IEND" not in data[-16:]:
        raise BadImage("图片文件不完整，请重新拍照", detail="PNG without IEND")


def decode_image(data: bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode JPEG or PNG bytes into a BGR image, refusing anything broken or too large."""
    if len(data) > MAX_FILE_BYTES:
        raise BadImage("图片文件太大，请把相机调到普通清晰度后重拍", detail=f"{len(data)} bytes")
    kind, width, height = image_dimensions(data)
    if width == 0 or height == 0:
        raise BadImage("图片文件已损坏，请重新拍照", detail="zero dimension")
    if width * height > max_pixels:
        raise BadImage(
            "图片尺寸太大，请把相机调到普通清晰度后重拍",
            detail=f"{width}x{height} exceeds {max_pixels} pixels",
        )
    _check_complete(kind, data)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise BadImage("图片文件已损坏，请重新拍照", detail="decoder refused the data")
    return image


def load_image_file(path: str, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read and decode a photo file; BadImage (never a crash) for anything unusable."""
    try:
        size = os.stat(path).st_size
        if size > MAX_FILE_BYTES:
            raise BadImage("图片文件太大，请把相机调到普通清晰度后重拍", detail=f"{size} bytes")
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise BadImage("打不开这个图片文件，请检查文件是否存在", detail=str(exc)) from exc
    return decode_image(data, max_pixels)

