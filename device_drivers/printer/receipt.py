"""Receipts as ESC/POS bytes: pure, no I/O (the driver sends what this builds).

python-escpos does the commands it gets right — `ESC a` alignment, `ESC E` bold,
`GS !` character size, native `GS ( k` QR codes and `GS V` cut — through its `Dummy`
printer, which only collects bytes. Text goes through `encoding`, which puts Chinese in
double-byte mode and falls back to a raster image for characters the printer lacks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import segno

from device_drivers.printer.encoding import (
    FS,
    PAPER,
    FontSet,
    columns,
    encode_text,
    font_set,
    missing_characters,
    raster_line,
    wrap,
)


def _import_escpos():
    """python-escpos's `constants` and `printer`, without the directory its import leaves.

    Its import makes a temporary directory (`tempfile.mkdtemp()`) in every process that
    loads it, for a 70 KB cache of printer profiles it has finished reading by the end of
    the import. Every `cunban` command loads it, so each start of a hub, a kiosk or a
    benchmark left one in /tmp. Here that directory is made inside one removed straight
    after. Called once, while this module is imported: no other thread of the process is
    making temporary files yet."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="cunban-escpos-") as scratch:
        saved, tempfile.tempdir = tempfile.tempdir, scratch
        try:
            from escpos import constants, printer
        finally:
            tempfile.tempdir = saved
    return constants, printer


_constants, _printer = _import_escpos()
Dummy = _printer.Dummy

INIT = b"\x1b@"  # ESC @: initialise, clears styles left by a previous job
QR_LEVELS = {"L": _constants.QR_ECLEVEL_L, "M": _constants.QR_ECLEVEL_M,
             "Q": _constants.QR_ECLEVEL_Q, "H": _constants.QR_ECLEVEL_H}


@dataclass(frozen=True)
class Receipt:
    """What a receipt says; layout is decided by `build_receipt` for the paper width.

    The kiosk's provisional receipt: header "XX村便民服务站", title "受理回执", lines
    (回执号, 办理事项, 申请人, 承诺办结时限 …), a QR payload for progress lookup, footer.
    """

    title: str
    lines: Sequence[tuple[str, str]] = ()
    header: str = ""
    qr: str = ""
    footer: Sequence[str] = field(default_factory=tuple)


class ReceiptWriter:
    """Collects ESC/POS bytes for one job on a given paper width and font set."""

    def __init__(self, width_mm: int = 58, fonts: str | FontSet = "gb18030") -> None:
        if width_mm not in PAPER:
            raise ValueError(f"paper width must be one of {sorted(PAPER)} mm")
        self.dots, self.columns = PAPER[width_mm]
        self.fonts = font_set(fonts) if isinstance(fonts, str) else fonts
        self._out = Dummy()
        self._out._raw(INIT)
        self._align = "left"
        self._bold = False
        self._scale = 1

    def style(self, *, align: str = "left", bold: bool = False, double: bool = False) -> None:
        """Alignment, bold and double width+height for the lines that follow."""
        scale = 2 if double else 1
        changed = scale != self._scale
        self._align, self._bold, self._scale = align, bold, scale
        self._out.set(
            align=align,
            bold=bold,
            double_width=double,
            double_height=double,
            normal_textsize=changed and not double,
        )
        if changed:
            # FS ! n: Kanji print mode; bit 2 double width, bit 3 double height. Chinese
            # printers size double-byte characters with this, not with ESC !.
            self._out._raw(FS + b"!" + bytes((0x0C if double else 0,)))

    def text(self, text: str, *, indent: int = 0) -> None:
        """Wrapped text; continuation lines are indented by `indent` columns."""
        width = self.columns // self._scale
        lines = wrap(text, width)
        if 0 < indent <= width // 2 and len(lines) > 1 and "\n" not in text:
            rest = text[len(lines[0]) :].lstrip()
            lines = lines[:1] + [" " * indent + part for part in wrap(rest, width - indent)]
        for line in lines:
            self.line(line)

    def line(self, line: str) -> None:
        """One line that fits the width: native text, or raster when a glyph is missing."""
        if missing_characters(line, self.fonts):
            self._out._raw(
                raster_line(line, self.dots, scale=self._scale, align=self._align, bold=self._bold)
            )
        else:
            self._out._raw(encode_text(line, self.fonts) + b"\n")

    def rule(self, char: str = "-") -> None:
        self.style()
        self.line(char * self.columns)

    def qr(self, payload: str, *, level: str = "M") -> None:
        """Native QR (`GS ( k`, model 2): the printer renders it from the payload.

        The module size (1–16 dots) is the largest that keeps the symbol, with its
        4-module quiet zone, within 60 % of the paper (the whole width when that would
        mean modules under 3 dots): big enough for a phone camera, never wider than the
        paper.
        """
        modules = segno.make(payload, error=level.lower(), micro=False, boost_error=False)
        width = modules.symbol_size(border=4)[0]
        size = max(1, min(8, int(self.dots * 0.6) // width))
        if size < 3:  # below 3 dots (0.375 mm) phones struggle: use the whole width
            size = max(1, min(3, self.dots // width))
        self._out.set(align="center")
        self._out.qr(payload, ec=QR_LEVELS[level], size=size, native=True)
        self._out._raw(b"\n")

    def cut(self) -> None:
        """Feed past the cutter and cut (`ESC d 6`, `GS V`)."""
        self._out.cut()

    def getvalue(self) -> bytes:
        return self._out.output


def build_receipt(receipt: Receipt, *, width_mm: int = 58, fonts: str = "gb18030") -> bytes:
    """The full job for `receipt`: initialise, text, QR, footer, cut."""
    w = ReceiptWriter(width_mm, fonts)
    if receipt.header:
        w.style(align="center", bold=True)
        w.text(receipt.header)
    w.style(align="center", bold=True, double=True)
    w.text(receipt.title)
    w.rule()
    for label, value in receipt.lines:
        head = f"{label}："
        w.text(head + value, indent=columns(head))
    if receipt.qr:
        w.rule()
        w.qr(receipt.qr)
    if receipt.footer:
        w.style(align="center")
        for note in receipt.footer:
            w.text(note)
    w.style()
    w.cut()
    return w.getvalue()
