"""Real-time status of an ESC/POS printer: `DLE EOT n` bytes → `PrinterStatus` → `Health`.

Bit layout from the Epson ESC/POS command reference, "DLE EOT: transmit real-time
status"; every answer byte has bits 1 and 4 set and bits 0 and 7 clear (0x12 when all is
well), which is also how an answer is told apart from other bytes on the line.
"""

from __future__ import annotations

from dataclasses import dataclass

from device_drivers.base import Health, ProtocolError

DLE_EOT = b"\x10\x04"
PRINTER, OFFLINE_CAUSE, ERROR_CAUSE, PAPER_SENSOR = 1, 2, 3, 4
QUERIES = (PRINTER, OFFLINE_CAUSE, ERROR_CAUSE, PAPER_SENSOR)

FIXED_MASK, FIXED_BITS = 0x93, 0x12  # bits 0,1,4,7 are fixed: 0,1,1,0

# n = 1, printer status
OFFLINE = 0x08
# n = 2, offline cause
COVER_OPEN = 0x04
PAPER_END_STOP = 0x20
ERROR_OCCURRED = 0x40
# n = 3, error cause
RECOVERABLE_ERROR = 0x04
AUTOCUTTER_ERROR = 0x08
UNRECOVERABLE_ERROR = 0x20
AUTO_RECOVERABLE_ERROR = 0x40
# n = 4, roll paper sensor (each condition is reported on two bits)
PAPER_NEAR_END = 0x0C
PAPER_OUT = 0x60

MSG_PAPER_OUT = "打印纸用完了，请信息员更换打印纸"
MSG_NEAR_END = "打印纸快用完了，请信息员准备更换打印纸"
MSG_COVER_OPEN = "打印机盖没有盖好，请信息员合上打印机盖"
MSG_OFFLINE = "打印机处于脱机状态，请检查打印机电源和指示灯"
MSG_CUTTER = "打印机切纸刀卡住了，请信息员打开机盖清除卡纸后重试"
MSG_ERROR = "打印机出现故障，请关闭打印机电源再打开；仍不能打印请联系技术员"


def query(n: int) -> bytes:
    """The `DLE EOT n` request bytes."""
    if n not in QUERIES:
        raise ValueError(f"DLE EOT n must be 1–4, not {n}")
    return DLE_EOT + bytes((n,))


def is_status_byte(value: int) -> bool:
    """True when `value` has the fixed bits of a `DLE EOT` answer."""
    return value & FIXED_MASK == FIXED_BITS


@dataclass(frozen=True)
class PrinterStatus:
    """The four `DLE EOT` answers decoded into the conditions the kiosk cares about."""

    offline: bool = False
    cover_open: bool = False
    paper_out: bool = False
    paper_near_end: bool = False
    cutter_error: bool = False
    unrecoverable: bool = False
    recoverable: bool = False

    @classmethod
    def from_bytes(cls, answers: dict[int, int]) -> PrinterStatus:
        """Decode `{n: answer byte}` for n = 1…4; a missing answer counts as clear."""
        for n, value in answers.items():
            if n not in QUERIES or not is_status_byte(value):
                raise ProtocolError(detail=f"DLE EOT {n} answered 0x{value:02X}")
        printer = answers.get(PRINTER, FIXED_BITS)
        offline = answers.get(OFFLINE_CAUSE, FIXED_BITS)
        error = answers.get(ERROR_CAUSE, FIXED_BITS)
        paper = answers.get(PAPER_SENSOR, FIXED_BITS)
        return cls(
            offline=bool(printer & OFFLINE),
            cover_open=bool(offline & COVER_OPEN),
            # either bit of a pair may be the one a model sets, so test each pair with "any"
            paper_out=bool(paper & PAPER_OUT) or bool(offline & PAPER_END_STOP),
            paper_near_end=bool(paper & PAPER_NEAR_END),
            cutter_error=bool(error & AUTOCUTTER_ERROR),
            unrecoverable=bool(error & UNRECOVERABLE_ERROR),
            recoverable=bool(error & (RECOVERABLE_ERROR | AUTO_RECOVERABLE_ERROR)),
        )

    def health(self) -> Health:
        """The most urgent condition first: what the station officer must fix now."""
        details = {k: v for k, v in self.__dict__.items() if v}
        if self.paper_out:
            return Health("fault", "paper_out", MSG_PAPER_OUT, details)
        if self.cover_open:
            return Health("fault", "cover_open", MSG_COVER_OPEN, details)
        if self.cutter_error:
            return Health("fault", "cutter_error", MSG_CUTTER, details)
        if self.unrecoverable or self.recoverable:
            return Health("fault", "error", MSG_ERROR, details)
        if self.offline:
            return Health("fault", "offline", MSG_OFFLINE, details)
        if self.paper_near_end:
            return Health("warning", "paper_near_end", MSG_NEAR_END, details)
        return Health("ok", details=details)
