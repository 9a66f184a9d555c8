"""QR and barcode decoding with zbar (pyzbar).

Receipt lookup only needs QR codes, so the fast path asks zbar for QR alone on a frame
shrunk to `FAST_SIDE` pixels: zbar's cost grows with the pixel count and with every
symbology it scans for. Only when that finds nothing is the full frame tried, and for
small images (a page corrected from a low-resolution frame) an upsampled copy.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np
from pyzbar import pyzbar
from pyzbar.pyzbar import ZBarSymbol

from device_drivers.base import ScannedCode

logger = logging.getLogger(__name__)

FAST_SIDE = 960  # our receipt QR codes keep ≥ 3 px per module at this size
UPSCALE_BELOW = 1200  # images smaller than this get a second, upsampled try


def decode_codes(image: np.ndarray, qr_only: bool = True) -> list[ScannedCode]:
    """Every code zbar finds in `image` (BGR or grey). `qr_only=False` also reads the
    linear symbologies (EAN-13, CODE128 …) and PDF417."""
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    symbols = [ZBarSymbol.QRCODE] if qr_only else None
    scale = FAST_SIDE / max(gray.shape)
    if scale < 2 / 3:  # shrinking less saves too little to pay for a second pass on a miss
        small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        found = _zbar(small, symbols)
        if found:
            return found
    found = _zbar(gray, symbols)
    if not found and max(gray.shape) < UPSCALE_BELOW:
        # A page corrected from a low-resolution frame leaves under 3 px per module; zbar's
        # finder-pattern scan needs a few more, which cubic upsampling restores.
        big = cv2.resize(gray, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
        found = _zbar(big, symbols)
    return found


def _zbar(gray: np.ndarray, symbols) -> list[ScannedCode]:
    codes: list[ScannedCode] = []
    for symbol in pyzbar.decode(np.ascontiguousarray(gray), symbols=symbols):
        try:
            text = symbol.data.decode("utf-8")
        except UnicodeDecodeError:
            # zbar hands over the raw bytes; QR codes from older Chinese systems are GB18030.
            text = symbol.data.decode("gb18030", errors="replace")
        code = ScannedCode(type=symbol.type, data=text)
        if code not in codes:
            codes.append(code)
    return codes
