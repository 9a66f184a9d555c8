"""Chinese text for ESC/POS printers: double-byte mode, column counting, raster fallback.

Pure functions, bytes out. python-escpos 3.1 sends Chinese as raw GB18030 without
`FS &` and its magic encoder mangles characters outside U+4E00–U+9FA5, so the text path
is ours:

- ASCII goes out as single bytes;
- every other character goes inside `FS &` (select Kanji/Chinese character mode) …
  `FS .` (cancel it), encoded in the font set the printer is configured for (its DIP
  switches or memory switch select GB2312, GBK or GB18030);
- a line with a character the printer's set lacks is rendered as a `GS v 0` raster bit
  image with a CJK font, so a rare name character (䶮, 𠀾 …) still prints.

Widths: the standard Chinese font on 58 mm / 80 mm printers is 24×24 dots and the ASCII
font A 12×24, so a Chinese character takes two ASCII columns (32/16 and 48/24 per line).
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont, ImageOps

logger = logging.getLogger(__name__)

ESC = b"\x1b"
GS = b"\x1d"
FS = b"\x1c"
KANJI_ON = FS + b"&"  # FS &: select Kanji (Chinese) character mode
KANJI_OFF = FS + b"."  # FS .: cancel Kanji character mode

# Printable dots per line and ASCII columns (font A, 12 dots) for the two paper widths.
PAPER = {58: (384, 32), 80: (576, 48)}
DOT_HEIGHT = 24  # Chinese font 24×24 dots, ASCII font A 12×24
NO_LINE_START = frozenset("，。、；：？！）》」』】〕”’…")


@dataclass(frozen=True)
class FontSet:
    """The double-byte character set a printer's Chinese font covers."""

    name: str
    codec: str
    # GB18030 four-byte characters outside the BMP (CJK Ext B+: 𠀾) are missing from most
    # printer fonts even when the BMP part is complete; a separate set claims them.
    supplementary: bool = False

    def can_print(self, ch: str) -> bool:
        """True when `ch` prints natively (ASCII or in this font set)."""
        if is_ascii_printable(ch):
            return True
        if ord(ch) > 0xFFFF and not self.supplementary:
            return False
        try:
            ch.encode(self.codec)
        except UnicodeEncodeError:
            return False
        return True


FONT_SETS: dict[str, FontSet] = {
    "gb2312": FontSet("gb2312", "gb2312"),
    "gbk": FontSet("gbk", "gbk"),
    "gb18030": FontSet("gb18030", "gb18030"),
    "gb18030-ext": FontSet("gb18030-ext", "gb18030", supplementary=True),
}


def font_set(name: str) -> FontSet:
    """Look up a font set by its configuration name (gb2312, gbk, gb18030, gb18030-ext)."""
    try:
        return FONT_SETS[name.lower()]
    except KeyError:
        raise ValueError(
            f"unknown printer font set {name!r}; one of {', '.join(FONT_SETS)}"
        ) from None


def is_ascii_printable(ch: str) -> bool:
    return " " <= ch <= "~"


def columns(text: str) -> int:
    """Printed width in ASCII columns: ASCII 1, anything else 2 (24-dot double-byte)."""
    return sum(1 if is_ascii_printable(ch) else 2 for ch in text)


def _tokens(text: str) -> Iterator[str]:
    """ASCII words (with their trailing spaces) and single non-ASCII characters."""
    word = ""
    for ch in text:
        if is_ascii_printable(ch):
            if word.endswith(" ") and ch != " ":
                yield word
                word = ""
            word += ch
        else:
            if word:
                yield word
                word = ""
            yield ch
    if word:
        yield word


def wrap(text: str, width: int) -> list[str]:
    """Break `text` into lines of at most `width` columns (Chinese counts two).

    ASCII words stay whole when they fit on a line; Chinese may break anywhere except
    before closing punctuation.
    """
    if width < 2:
        raise ValueError("width must be at least 2 columns")
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for token in _tokens(paragraph):
            if columns(line + token.rstrip()) <= width:
                line += token
                continue
            if token in NO_LINE_START and line and not is_ascii_printable(line[-1]):
                # Chinese line breaking: closing punctuation never starts a line, so the
                # character before it moves down with it.
                lines.append(line[:-1].rstrip())
                line = line[-1] + token
                continue
            if line.strip():
                lines.append(line.rstrip())
                line = ""
                if columns(token.rstrip()) <= width:
                    line = token
                    continue
            for ch in token:  # longer than a whole line: break inside it
                if columns(line + ch) > width:
                    lines.append(line.rstrip())
                    line = ""
                line += ch
        lines.append(line.rstrip())
    return lines


def missing_characters(text: str, fonts: FontSet) -> list[str]:
    """Characters of `text` the printer cannot print natively, in order, once each."""
    seen: list[str] = []
    for ch in text:
        if not fonts.can_print(ch) and ch not in seen:
            seen.append(ch)
    return seen


def encode_text(text: str, fonts: FontSet) -> bytes:
    """Encode one printable line: ASCII as is, other runs inside `FS &` … `FS .`.

    Raises ValueError for a character the font set lacks (render those lines with
    `raster_line` instead).
    """
    out = bytearray()
    run = ""
    for ch in text:
        if not fonts.can_print(ch):
            raise ValueError(f"U+{ord(ch):04X} is not in font set {fonts.name}")
        if is_ascii_printable(ch):
            if run:
                out += KANJI_ON + run.encode(fonts.codec) + KANJI_OFF
                run = ""
            out += ch.encode("ascii")
        else:
            run += ch
    if run:
        out += KANJI_ON + run.encode(fonts.codec) + KANJI_OFF
    return bytes(out)


# Raster fallback ----------------------------------------------------------------------

_FONT_CANDIDATES = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),  # index 2: SC
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
)


@functools.lru_cache(maxsize=1)
def find_cjk_font() -> tuple[str, int]:
    """(path, face index) of a CJK font: `fc-match` first, then the Debian paths.

    Debian package fonts-noto-cjk provides Noto Sans CJK, whose SC face covers GB18030
    including CJK Ext A and the Ext B characters common in names.
    """
    if shutil.which("fc-match"):
        try:
            out = subprocess.run(
                ["fc-match", "-f", "%{file}\n%{index}", "Noto Sans CJK SC:lang=zh-cn"],
                capture_output=True,
                text=True,
                timeout=5,
                check=True,
            ).stdout.split("\n")
            if len(out) >= 2 and os.path.exists(out[0]) and "CJK" in out[0]:
                return out[0], int(out[1] or 0)
        except (OSError, subprocess.SubprocessError, ValueError):
            logger.debug("fc-match failed; trying known font paths", exc_info=True)
    for path, index in _FONT_CANDIDATES:
        if os.path.exists(path):
            return path, index
    raise FileNotFoundError("no CJK font found; install the Debian package fonts-noto-cjk")


@functools.lru_cache(maxsize=4)
def _cjk_font(size: int) -> ImageFont.FreeTypeFont:
    path, index = find_cjk_font()
    return ImageFont.truetype(path, size, index=index)


def raster_line(
    text: str, width_dots: int, *, scale: int = 1, align: str = "left", bold: bool = False
) -> bytes:
    """Render one line as `GS v 0` raster bit image data, `width_dots` wide.

    The image spans the full printable width with the text placed per `align`, so the
    printer's own justification (ESC a) does not matter.
    """
    height = DOT_HEIGHT * scale
    font = _cjk_font(height - 2 * scale)
    image = Image.new("L", (width_dots, height), 255)
    draw = ImageDraw.Draw(image)
    text_width = int(draw.textlength(text, font=font))
    x = {"center": (width_dots - text_width) // 2, "right": width_dots - text_width}.get(align, 0)
    draw.text((max(x, 0), scale), text, font=font, fill=0, stroke_width=1 if bold else 0)
    return raster_image(image)


def raster_image(image: Image.Image) -> bytes:
    """`GS v 0 m xL xH yL yH d…`: a 1-bit image, MSB first, 1 = dot printed."""
    width = (image.width + 7) // 8 * 8
    if width != image.width:
        padded = Image.new("L", (width, image.height), 255)
        padded.paste(image.convert("L"), (0, 0))
        image = padded
    # PIL's "1" mode packs MSB first with 1 = white; ESC/POS wants 1 = black.
    bits = ImageOps.invert(image.convert("L")).point(lambda v: 255 if v >= 128 else 0)
    data = bits.convert("1").tobytes()
    x_bytes = width // 8
    header = GS + b"v0" + bytes((0, x_bytes & 0xFF, x_bytes >> 8))
    return header + bytes((image.height & 0xFF, image.height >> 8)) + data
