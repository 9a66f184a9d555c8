"""AT command channel (3GPP TS 27.005 / 27.007) over a serial port.

One command at a time: write `AT…\\r`, collect information lines with the expected
prefix, stop at a final result code (`OK`, `ERROR`, `+CME ERROR: n`, `+CMS ERROR: n`).
Everything else that arrives meanwhile — unsolicited result codes such as `+CMTI:`,
`RING`, `+CREG: 1`, `+CDS:` with its PDU line (joined to it by a newline) — goes to
`on_urc` and never into a response, and an echoed command line is skipped.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable

from device_drivers.base import (
    PORT_ERRORS,
    DeviceTimeout,
    DeviceUnavailable,
    ProtocolError,
    traffic,
)

logger = logging.getLogger(__name__)

CTRL_Z, ESC = b"\x1a", b"\x1b"
FINAL_OK = "OK"
# URCs whose next line is a PDU belonging to them (TS 27.005 §3.4.1, PDU mode).
TWO_LINE_URCS = ("+CMT:", "+CDS:", "+CBM:")


class AtError(Exception):
    """A final error result: `kind` "CME", "CMS" or "" (plain ERROR), `code` or None."""

    def __init__(self, kind: str, code: int | None, line: str) -> None:
        super().__init__(line)
        self.kind, self.code, self.line = kind, code, line


def parse_final(line: str) -> AtError | str | None:
    """`"OK"` for OK, an `AtError` for error results, None for any other line."""
    if line == FINAL_OK:
        return FINAL_OK
    if line == "ERROR":
        return AtError("", None, line)
    for kind in ("CME", "CMS"):
        prefix = f"+{kind} ERROR:"
        if line.startswith(prefix):
            value = line[len(prefix) :].strip()
            return AtError(kind, int(value) if value.isdigit() else None, line)
    return None


def _printable(line: str) -> bool:
    return all(ch.isprintable() for ch in line)


class AtChannel:
    """Lines in, lines out, on an open pyserial port."""

    def __init__(self, port, on_urc: Callable[[str], None] | None = None) -> None:
        self.port = port
        self.on_urc = on_urc
        self._buf = b""
        self.garbage = 0  # unreadable lines seen since the last command

    # low level -------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        try:
            self.port.write(data)
            self.port.flush()
        except PORT_ERRORS as exc:
            raise DeviceUnavailable(detail=f"{self.port.name}: write: {exc}") from exc

    def _fill(self, deadline: float) -> bool:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        try:
            self.port.timeout = min(left, 0.2)
            data = self.port.read(self.port.in_waiting or 1)
        except PORT_ERRORS as exc:
            raise DeviceUnavailable(detail=f"{self.port.name}: read: {exc}") from exc
        self._buf += data
        return True

    def _next_line(self, deadline: float) -> str | None:
        """The next non-empty line, or None when `deadline` passes first."""
        while True:
            self._buf = self._buf.lstrip(b"\r\n")
            end = self._buf.find(b"\n")
            if end < 0:
                end = self._buf.find(b"\r")
            if end >= 0:
                raw, self._buf = self._buf[:end], self._buf[end + 1 :]
                line = raw.strip(b"\r\n ").decode("ascii", "replace")
                if line:
                    return line
                continue
            if not self._fill(deadline):
                return None

    def _urc(self, line: str, deadline: float) -> None:
        if not _printable(line) or "\ufffd" in line:
            self.garbage += 1
            traffic.debug("modem %s: unreadable line (%d bytes)", self.port.name, len(line))
            return
        if line.startswith(TWO_LINE_URCS):
            pdu = self._next_line(min(deadline, time.monotonic() + 1.0))
            line = f"{line}\n{pdu or ''}"
        traffic.debug("modem %s: URC %s", self.port.name, line.split(":", 1)[0])
        if self.on_urc:
            try:
                self.on_urc(line)
            except Exception:  # a listener bug must not break sending
                logger.exception("URC handler failed")

    def drain(self, timeout: float) -> None:
        """Hand every line arriving within `timeout` seconds to `on_urc` (idle modem)."""
        deadline = time.monotonic() + timeout
        while (line := self._next_line(deadline)) is not None:
            self._urc(line, deadline)

    def discard_input(self) -> None:
        self._buf = b""
        with contextlib.suppress(*PORT_ERRORS):
            self.port.reset_input_buffer()

    # commands --------------------------------------------------------------------------
    def command(self, cmd: str, *, expect: str = "", timeout: float = 5.0) -> list[str]:
        """Run `cmd`; return the information lines starting with `expect`.

        Raises `AtError` for an error result, `DeviceTimeout` when no final result
        comes (`ProtocolError` when only unreadable bytes came).
        """
        self.garbage = 0
        traffic.debug("modem %s >> %s", self.port.name, cmd)
        self.write(cmd.encode("ascii") + b"\r")
        return self.collect(cmd, expect=expect, timeout=timeout)

    def collect(self, cmd: str, *, expect: str = "", timeout: float = 5.0) -> list[str]:
        """Read until the final result of `cmd` (already written)."""
        deadline = time.monotonic() + timeout
        info: list[str] = []
        while True:
            line = self._next_line(deadline)
            if line is None:
                self._no_answer(cmd)
            final = parse_final(line)
            if final == FINAL_OK:
                traffic.debug("modem %s << OK", self.port.name)
                return info
            if isinstance(final, AtError):
                traffic.debug("modem %s << %s", self.port.name, line)
                raise final
            if line == cmd:  # echo (before ATE0 takes effect)
                continue
            if expect and line.startswith(expect):
                info.append(line)
            else:
                self._urc(line, deadline)

    def wait_prompt(self, cmd: str, timeout: float) -> None:
        """Wait for the `> ` prompt after `AT+CMGS=n` (TS 27.005 §3.5.1)."""
        deadline = time.monotonic() + timeout
        while True:
            self._buf = self._buf.lstrip(b"\r\n")
            if self._buf.startswith(b">"):
                self._buf = self._buf[1:].lstrip(b" ")
                return
            if b"\n" in self._buf or b"\r" in self._buf:
                line = self._next_line(deadline)
                final = parse_final(line or "")
                if isinstance(final, AtError):
                    raise final
                if line != cmd and line is not None:
                    self._urc(line, deadline)
                continue
            if not self._fill(deadline):
                self._no_answer(cmd)

    def _no_answer(self, cmd: str):
        if self.garbage:
            raise ProtocolError(
                "短信猫返回的数据无法识别，请检查串口波特率设置或重启短信猫",
                detail=f"{self.port.name}: {self.garbage} unreadable lines after {cmd}",
            )
        raise DeviceTimeout(
            "短信猫没有响应，请检查短信猫电源和连接线；稍后会自动重试",
            detail=f"{self.port.name}: no final result for {cmd}",
        )
