"""The fixed QR/barcode scanner module on a serial port or USB-CDC (`/dev/ttyACM0`).

It implements `CodeReader`: `read_code(timeout)` returns one `ScannedCode` or None. Lines
are assembled across reads, so a code split over two calls is not lost; lines that cannot
be decoded are set aside with a reason (`rejections`) and reading goes on. In command mode
the module only scans after the trigger command, which `read_code` sends.
"""

from __future__ import annotations

import collections
import logging
import time

from device_drivers.base import (
    DeviceError,
    DeviceUnavailable,
    Health,
    ScannedCode,
    SerialLink,
    register_driver,
    traffic,
)
from device_drivers.scanner.protocol import (
    ACK,
    SUFFIXES,
    TRIGGER_OFF,
    TRIGGER_ON,
    LineAssembler,
    Rejected,
    menu_reply,
    menu_request,
    mode_command,
    suffix_bytes,
    suffix_commands,
)

logger = logging.getLogger(__name__)

_UNPLUGGED = "扫码器未连接或已拔出，请检查扫码器连接线后重试"


@register_driver("scanner", "serial")
class SerialScanner:
    """A scanner module on `port` (any pyserial URL).

    `suffix` is what the module is set to end each code with (CR, CRLF, LF, TAB, NONE);
    with NONE a code ends after `idle_gap` seconds of silence; with a suffix, a fragment
    left waiting `stale_after` seconds is dropped as noise. `trigger=True` is for
    modules in command mode: `trigger_on` is sent when `read_code` starts waiting and
    `trigger_off` when it stops.
    """

    def __init__(
        self,
        port: str,
        baudrate: int = 9600,
        suffix: str = "CR",
        *,
        max_length: int = 2048,
        idle_gap: float = 0.05,
        stale_after: float = 0.5,
        aim_ids: bool = False,
        trigger: bool = False,
        trigger_on: bytes | str = TRIGGER_ON,
        trigger_off: bytes | str = TRIGGER_OFF,
    ) -> None:
        if suffix.upper() not in SUFFIXES:
            raise DeviceError(f"扫码器后缀设置不正确：{suffix}，应为 {'、'.join(SUFFIXES)} 之一")
        self.port = port
        self.baudrate = baudrate
        self.trigger = trigger
        # Configuration files give the commands as hex ("16 54 0D").
        self.trigger_on = bytes.fromhex(trigger_on) if isinstance(trigger_on, str) else trigger_on
        self.trigger_off = (
            bytes.fromhex(trigger_off) if isinstance(trigger_off, str) else trigger_off
        )
        self.assembler = LineAssembler(
            suffix,
            max_length=max_length,
            idle_gap=idle_gap,
            stale_after=stale_after,
            aim_ids=aim_ids,
        )
        self.rejections: collections.deque[Rejected] = collections.deque(maxlen=20)
        self._codes: collections.deque[ScannedCode] = collections.deque()
        self._link = SerialLink(port, baudrate=baudrate, timeout=0.02, unplugged=_UNPLUGGED)

    def open(self) -> None:
        """Open the port now (otherwise on first use, and again after an unplug)."""
        self._link.open()

    def close(self) -> None:
        self._link.close()

    def __enter__(self) -> SerialScanner:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def health(self) -> Health:
        """ "ok" when the port opens, "offline" otherwise; never raises."""
        try:
            self.open()
        except DeviceUnavailable as exc:
            return Health("offline", code="unavailable", message=exc.message)
        return Health("ok")

    def _take(self, items) -> None:
        for item in items:
            if isinstance(item, Rejected):
                # Codes may carry personal data: log the size, never the content.
                logger.info("scanner line rejected (%d bytes): %s", item.size, item.reason)
                self.rejections.append(item)
            else:
                self._codes.append(item)

    def apply_settings(
        self, *, mode: str | None = None, suffix: str | None = None, reply_timeout: float = 1.0,
        **other,
    ) -> list[str]:
        """Write the scan mode and suffix into the module with its serial menu commands
        (`protocol.menu_request`). Returns the names of the settings it did not accept (a
        module that does not answer menu commands accepts none). What it accepted is used
        from now on: the new suffix to cut codes, the trigger for `trigger` mode."""
        wanted: dict[str, list[str]] = {}
        if mode is not None:
            wanted["mode"] = [mode_command(mode)]
        if suffix is not None:
            wanted["suffix"] = suffix_commands(suffix)
        if not wanted:
            return sorted(other)
        request = menu_request([c for commands in wanted.values() for c in commands])
        with self._link.lock, self._link.io() as port:
            port.reset_input_buffer()
            traffic.debug("scanner → %r", request)
            port.write(request)
            raw, answers = b"", None
            deadline = time.monotonic() + reply_timeout
            while answers is None and time.monotonic() < deadline:
                raw += port.read(max(1, port.in_waiting))
                answers = menu_reply(raw)
        answers = answers or {}
        refused = [name for name, commands in wanted.items()
                   if any(answers.get(c) != ACK for c in commands)]
        if "mode" not in refused and mode is not None:
            self.trigger = mode == "trigger"
        if "suffix" not in refused and suffix is not None:
            self.assembler.suffix = suffix_bytes(suffix)
        if refused:
            logger.warning("scanner %s did not accept %s", self.port, ", ".join(refused))
        return sorted([*refused, *other])

    def read_code(self, timeout: float) -> ScannedCode | None:
        """Wait up to `timeout` seconds for one code; None when nothing was read.

        Raises `DeviceUnavailable` when the scanner is unplugged; the next call reopens it.
        """
        with self._link.lock:
            if self._codes:
                return self._codes.popleft()
            with self._link.io() as port:
                deadline = time.monotonic() + timeout
                if self.trigger:
                    port.write(self.trigger_on)
                try:
                    while True:
                        chunk = port.read(max(1, port.in_waiting))
                        now = time.monotonic()
                        if chunk:
                            traffic.debug("scanner ← %d bytes", len(chunk))
                            self._take(self.assembler.feed(chunk, now))
                        else:
                            self._take(self.assembler.flush_idle(now))
                        if self._codes:
                            return self._codes.popleft()
                        if now >= deadline:
                            return None
                finally:
                    if self.trigger:
                        port.write(self.trigger_off)
