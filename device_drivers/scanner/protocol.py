"""What a fixed QR/barcode scanner module sends, as pure functions.

Such modules (serial or USB-CDC) decode by themselves and send the symbol's text followed
by a configurable suffix: CR (the factory default of most modules), CRLF, LF, TAB, or
nothing, in which case the end of a code is the pause after it. Optionally they prefix an
AIM symbology identifier (ISO/IEC 15424: `]Q1` QR Code, `]C0` Code 128 …).
"""

from __future__ import annotations

from dataclasses import dataclass

from device_drivers.base import ScannedCode

SUFFIXES: dict[str, bytes] = {"CR": b"\r", "CRLF": b"\r\n", "LF": b"\n", "TAB": b"\t", "NONE": b""}

# Serial trigger commands of command-mode modules (SYN 'T' CR starts a scan, SYN 'U' CR
# stops it: the Honeywell/Newland convention); configurable because vendors differ.
TRIGGER_ON = b"\x16T\r"
TRIGGER_OFF = b"\x16U\r"

# Serial menu commands (Honeywell convention, like the trigger commands above): SYN 'M' CR,
# then commands separated by ';', ended by '.' (kept in the module's non-volatile memory).
# The module answers each command echoed with ACK (accepted), ENQ (unknown command) or
# NAK (value out of range) before its separator.
MENU_PREFIX = b"\x16M\r"
MENU_STORE = b"."
ACK, ENQ, NAK = b"\x06", b"\x05", b"\x15"
# Trigger modes: manual/serial trigger, presentation (sense), streaming presentation.
MODE_COMMANDS: dict[str, str] = {"trigger": "TRGMOD0", "sense": "TRGMOD3",
                                 "continuous": "TRGMOD8"}
SUFFIX_CLEAR = "SUFCA2"  # remove every suffix
SUFFIX_ADD = "SUFBK299"  # + hex of the suffix bytes, for all symbologies (99)


def mode_command(mode: str) -> str:
    """The menu command for a scan mode (continuous, trigger, sense)."""
    try:
        return MODE_COMMANDS[mode]
    except KeyError:
        raise ValueError(f"扫码模式应为 {'、'.join(MODE_COMMANDS)} 之一") from None


def suffix_commands(name: str) -> list[str]:
    """The menu commands that make the module end each code with suffix `name`."""
    tail = suffix_bytes(name)
    return [SUFFIX_CLEAR] + ([SUFFIX_ADD + tail.hex().upper()] if tail else [])


def menu_request(commands: list[str]) -> bytes:
    """One menu request carrying `commands`, stored permanently."""
    return MENU_PREFIX + ";".join(commands).encode("ascii") + MENU_STORE


def menu_reply(raw: bytes) -> dict[str, bytes] | None:
    """command → ACK/ENQ/NAK from a complete reply (ending in '.'); None if incomplete."""
    end = raw.find(MENU_STORE)
    if end < 0:
        return None
    answers = {}
    for part in raw[:end].split(b";"):
        if part and part[-1:] in (ACK, ENQ, NAK):
            answers[part[:-1].decode("ascii", "replace")] = part[-1:]
    return answers


# ISO/IEC 15424 symbology identifier letter → the zbar name used in `ScannedCode.type`.
AIM_TYPES: dict[str, str] = {
    "Q": "QRCODE",
    "C": "CODE128",
    "E": "EAN13",
    "A": "CODE39",
    "I": "I25",
    "d": "DATAMATRIX",
    "L": "PDF417",
}
UNKNOWN_TYPE = "UNKNOWN"  # the module does not say which symbology it read

# Control characters allowed inside a code: TAB and GS (GS1 field separator, FNC1).
_ALLOWED_CONTROLS = {"\t", "\x1d"}


@dataclass(frozen=True)
class Rejected:
    """A line that could not be accepted; `reason` is a plain Chinese sentence."""

    reason: str
    size: int


def suffix_bytes(name: str) -> bytes:
    """The bytes of a suffix name (CR, CRLF, LF, TAB, NONE)."""
    try:
        return SUFFIXES[name.upper()]
    except KeyError:
        raise ValueError(f"后缀应为 {'、'.join(SUFFIXES)} 之一") from None


def decode_line(raw: bytes, *, aim_ids: bool = False) -> ScannedCode | Rejected:
    """Text of one line: UTF-8 first, then GB18030 (modules set to the Chinese code page),
    else rejected. Lines with stray control characters are rejected as line noise."""
    for encoding in ("utf-8", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        return Rejected("扫到的内容无法识别（不是 UTF-8 或 GB18030 文字），请重新扫码", len(raw))
    text = text.removeprefix("\ufeff")
    if any(ord(ch) < 0x20 and ch not in _ALLOWED_CONTROLS for ch in text) or "\x7f" in text:
        return Rejected("扫到的内容含有乱码，请重新扫码", len(raw))
    kind = UNKNOWN_TYPE
    if aim_ids and len(text) >= 3 and text[0] == "]":
        kind = AIM_TYPES.get(text[1], UNKNOWN_TYPE)
        text = text[3:]
    if not text:
        return Rejected("扫到的内容为空，请重新扫码", len(raw))
    return ScannedCode(type=kind, data=text)


class LineAssembler:
    """Cuts the byte stream into codes.

    Bytes are kept across reads until the suffix arrives (or, with no suffix, until the
    line has been idle for `idle_gap` seconds). A fragment that waited `stale_after`
    seconds for its suffix is dropped as noise when new bytes come. A line longer than
    `max_length` is rejected and everything up to its suffix dropped.
    """

    def __init__(
        self,
        suffix: str = "CR",
        *,
        max_length: int = 2048,
        idle_gap: float = 0.05,
        stale_after: float = 0.5,
        aim_ids: bool = False,
    ) -> None:
        self.suffix = suffix_bytes(suffix)
        self.stale_after = stale_after
        self.max_length = max_length
        self.idle_gap = idle_gap
        self.aim_ids = aim_ids
        self._buf = b""
        self._last = 0.0
        self._overflow = False

    @property
    def pending(self) -> int:
        """Bytes of an unfinished line."""
        return len(self._buf)

    def feed(self, data: bytes, now: float) -> list[ScannedCode | Rejected]:
        """Add received bytes; return the codes (and rejections) they complete."""
        out: list[ScannedCode | Rejected] = []
        if not data:
            return out
        if not self.suffix and self._buf and now - self._last >= self.idle_gap:
            out.extend(self._emit(self._buf))
            self._buf = b""
        elif self.suffix and self._buf and now - self._last >= self.stale_after:
            # A module sends a code in one burst: a fragment left waiting this long is
            # line noise (power-up, a cable being plugged), not the start of this code.
            out.append(Rejected("扫码中断，不完整的内容已丢弃，请重新扫码", len(self._buf)))
            self._buf = b""
            self._overflow = False
        self._last = now
        self._buf += data
        if self.suffix:
            while True:
                # A CR-terminated line followed by LF (module set to CRLF while we expect
                # CR, or the reverse) leaves a line break at the start: not a code.
                self._buf = self._buf.lstrip(b"\r\n")
                cut = self._buf.find(self.suffix)
                if cut < 0:
                    break
                line, self._buf = self._buf[:cut], self._buf[cut + len(self.suffix) :]
                if self._overflow:
                    self._overflow = False
                    continue
                out.extend(self._emit(line))
        if len(self._buf) > self.max_length:
            self._buf = b""
            if not self._overflow:
                out.append(
                    Rejected(f"扫到的内容超过 {self.max_length} 字节，已丢弃", self.max_length)
                )
            self._overflow = bool(self.suffix)  # drop the rest of it up to its suffix
        return out

    def flush_idle(self, now: float) -> list[ScannedCode | Rejected]:
        """With no suffix: the pending line is complete once nothing came for `idle_gap`."""
        if self.suffix or not self._buf or now - self._last < self.idle_gap:
            return []
        line, self._buf = self._buf, b""
        return self._emit(line)

    def _emit(self, line: bytes) -> list[ScannedCode | Rejected]:
        line = line.strip(b"\r\n")
        if not line:
            return []
        return [decode_line(line, aim_ids=self.aim_ids)]
