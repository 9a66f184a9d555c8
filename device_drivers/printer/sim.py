"""A receipt printer on a pseudo-terminal: buffers jobs, answers `DLE EOT n`.

The simulator scans the stream the way a printer does: real-time `DLE EOT n` requests
are answered at once and kept out of the job buffer, while the length-prefixed data of
`GS v 0` raster images and `GS ( k` / `GS ( L` blocks is skipped over, because image
bytes may contain 0x10 0x04 that is not a status request (Epson ESC/POS reference,
DLE EOT notes).

Settings written into the printer (`GS ( E` in user setting mode, `FS C n`) are kept out
of the job buffer and recorded in `settings` (`density`, `code_page`); a value set outside
user setting mode is ignored, as a printer ignores it.

Faults: `paper_out`, `near_end`, `cover_open`, `offline`, `cutter` (status bits), plus
`silent` and `unplug()` from `PtySimulator`.
"""

from __future__ import annotations

import threading

from device_drivers.printer import settings as ps
from device_drivers.printer import status as st
from device_drivers.sim.pty import PtySimulator

FAULTS = ("paper_out", "near_end", "cover_open", "offline", "cutter", "silent", "unplug")


def status_answer(
    n: int,
    *,
    paper_out: bool = False,
    near_end: bool = False,
    cover_open: bool = False,
    offline: bool = False,
    cutter: bool = False,
) -> int:
    """The byte a printer in this condition answers to `DLE EOT n`."""
    value = st.FIXED_BITS
    if n == st.PRINTER:
        # A printer goes offline by itself when its cover is open or paper runs out.
        if offline or cover_open or paper_out or cutter:
            value |= st.OFFLINE
    elif n == st.OFFLINE_CAUSE:
        value |= st.COVER_OPEN if cover_open else 0
        value |= st.PAPER_END_STOP if paper_out else 0
        value |= st.ERROR_OCCURRED if cutter else 0
    elif n == st.ERROR_CAUSE:
        value |= st.AUTOCUTTER_ERROR if cutter else 0
    elif n == st.PAPER_SENSOR:
        # The near-end sensor sits before the end sensor: an empty roll trips both.
        value |= st.PAPER_NEAR_END if near_end or paper_out else 0
        value |= st.PAPER_OUT if paper_out else 0
    return value


class PrinterSimulator(PtySimulator):
    """Subclass of `PtySimulator`; `received` holds every job byte (no status requests)."""

    device = "printer"
    FAULTS = FAULTS

    def __init__(self, link: str | None = None, fault: str | None = None) -> None:
        super().__init__(link)
        self.paper_out = self.near_end = self.cover_open = False
        self.offline = self.cutter = False
        self.received = bytearray()
        self.status_requests: list[int] = []
        self.settings: dict[str, object] = {}
        self.software_resets = 0
        self._user_settings = False
        self._pending = b""
        self._changed = threading.Condition()
        if fault:
            self.set_fault(fault)

    def clear_faults(self) -> None:
        self.paper_out = self.near_end = self.cover_open = False
        self.offline = self.cutter = self.silent = False

    def wait_for(self, predicate, timeout: float = 5.0) -> bool:
        """Block until `predicate(received)` holds (for tests and the CLI)."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(bytes(self.received)), timeout)

    def on_bytes(self, data: bytes) -> None:
        buf = self._pending + data
        i = 0
        while i < len(buf):
            need = _command_length(buf, i)
            if need is None:  # incomplete command: wait for more bytes
                break
            chunk = buf[i : i + need]
            if chunk[:2] == st.DLE_EOT:
                self.status_requests.append(chunk[2])
                self.send(bytes((self._answer(chunk[2]),)))
            elif chunk[:3] == ps.GS + b"(E" or chunk[:2] == ps.FS + b"C":
                self._setting(chunk)
            else:
                with self._changed:
                    self.received += chunk
                    self._changed.notify_all()
            i += need
        self._pending = buf[i:]

    def _setting(self, chunk: bytes) -> None:
        if chunk[:2] == ps.FS + b"C":
            names = {n: name for name, n in ps.CODE_SYSTEMS.items()}
            if chunk[2] in names:
                self.settings["code_page"] = names[chunk[2]]
            return
        fn, data = chunk[5], chunk[6:]
        if chunk == ps.ENTER_USER_SETTINGS:
            self._user_settings = True
        elif chunk == ps.END_USER_SETTINGS and self._user_settings:
            self._user_settings = False
            self.software_resets += 1
        elif fn == 5 and self._user_settings:
            for i in range(0, len(data) - 2, 3):
                a, value = data[i], data[i + 1] | data[i + 2] << 8
                if a == ps.DENSITY_VALUE:
                    self.settings["density"] = ps.density_level(value)

    def _answer(self, n: int) -> int:
        return status_answer(
            n,
            paper_out=self.paper_out,
            near_end=self.near_end,
            cover_open=self.cover_open,
            offline=self.offline,
            cutter=self.cutter,
        )


def _command_length(buf: bytes, i: int) -> int | None:
    """Bytes the command starting at `buf[i]` occupies; None if not all there yet."""
    head = buf[i : i + 3]
    if head[:1] == b"\x1c":  # FS C n (select Chinese code system) is three bytes
        if len(head) < 2:
            return None
        if head[1:2] != b"C":
            return 1
        return 3 if len(head) == 3 else None
    if head[:1] == b"\x10":  # DLE EOT n is three bytes
        if len(head) < 2:
            return None
        if head[1:2] != b"\x04":
            return 1
        return 3 if len(head) == 3 else None
    if head[:1] != b"\x1d":
        return 1
    if len(head) < 3:
        return None
    if head[1:3] == b"v0":  # GS v 0 m xL xH yL yH d1…dk, k = x * y
        if len(buf) - i < 8:
            return None
        x = buf[i + 4] | buf[i + 5] << 8
        y = buf[i + 6] | buf[i + 7] << 8
        total = 8 + x * y
    elif head[1:3] in (b"(k", b"(L", b"(E"):  # GS ( k|L|E pL pH …: (pL + pH·256) bytes
        if len(buf) - i < 5:
            return None
        total = 5 + (buf[i + 3] | buf[i + 4] << 8)
    else:
        return 1
    return total if len(buf) - i >= total else None
