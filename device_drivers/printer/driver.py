"""ESC/POS receipt printer over a serial port or the USB printer class (`/dev/usb/lpN`).

The driver only moves bytes: jobs are built by `receipt` (pure), status is decoded by
`status` (pure). Before a job the four `DLE EOT` answers are read, so a villager is told
"paper is out" before anything is sent, and again after it, so a roll that ran out
mid-receipt is reported instead of silently leaving half a receipt.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import time
from collections.abc import Callable, Iterator

import serial

from device_drivers.base import (
    PORT_ERRORS,
    DeviceError,
    DeviceTimeout,
    DeviceUnavailable,
    Health,
    open_serial,
    register_driver,
    traffic,
)
from device_drivers.printer import status as st
from device_drivers.printer.receipt import Receipt, build_receipt
from device_drivers.printer.settings import settings_job

logger = logging.getLogger(__name__)


class PaperOut(DeviceError):
    message = st.MSG_PAPER_OUT


class CoverOpen(DeviceError):
    message = st.MSG_COVER_OPEN


class PrinterFault(DeviceError):
    message = st.MSG_ERROR


class SerialTransport:
    """A serial port (or pyserial URL) with errors wrapped for people."""

    def __init__(self, url: str, baudrate: int = 9600, write_timeout: float = 10.0) -> None:
        self.name = url
        self._port = open_serial(url, baudrate=baudrate, timeout=0.1, write_timeout=write_timeout)

    def write(self, data: bytes) -> None:
        try:
            self._port.write(data)
            self._port.flush()
        except serial.SerialTimeoutException as exc:
            raise DeviceTimeout(detail=f"{self.name}: write: {exc}") from exc
        except PORT_ERRORS as exc:
            raise DeviceUnavailable(detail=f"{self.name}: write: {exc}") from exc

    def read(self, timeout: float) -> bytes:
        """Whatever arrives within `timeout` seconds (empty when nothing did)."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                data = self._port.read(self._port.in_waiting or 1)
                if data or time.monotonic() >= deadline:
                    return data
        except PORT_ERRORS as exc:
            raise DeviceUnavailable(detail=f"{self.name}: read: {exc}") from exc

    def discard_input(self) -> None:
        with contextlib.suppress(*PORT_ERRORS):
            self._port.reset_input_buffer()

    def close(self) -> None:
        with contextlib.suppress(*PORT_ERRORS):
            self._port.close()


class FileTransport:
    """A printer-class device file. `/dev/usb/lpN` (Linux usblp) is bidirectional, so
    `DLE EOT` answers can be read back; a FIFO or plain file is write-only."""

    def __init__(self, path: str, *, bidirectional: bool = True, write_timeout: float = 10.0):
        self.name = path
        self.bidirectional = bidirectional
        self.write_timeout = write_timeout
        # Never O_CREAT: a missing /dev/usb/lpN means unplugged, not "make a file".
        flags = (os.O_RDWR if bidirectional else os.O_WRONLY | os.O_APPEND) | os.O_NOCTTY
        try:
            self._fd = os.open(path, flags)
        except OSError as exc:
            raise DeviceUnavailable(detail=f"{path}: {exc}") from exc

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        deadline = time.monotonic() + self.write_timeout
        try:
            while view:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DeviceTimeout(detail=f"{self.name}: write blocked")
                _, ready, _ = select.select([], [self._fd], [], left)
                if ready:
                    view = view[os.write(self._fd, view) :]
        except OSError as exc:
            raise DeviceUnavailable(detail=f"{self.name}: write: {exc}") from exc

    def read(self, timeout: float) -> bytes:
        try:
            ready, _, _ = select.select([self._fd], [], [], timeout)
            return os.read(self._fd, 256) if ready else b""
        except OSError as exc:
            raise DeviceUnavailable(detail=f"{self.name}: read: {exc}") from exc

    def discard_input(self) -> None:
        with contextlib.suppress(OSError):
            while select.select([self._fd], [], [], 0)[0] and os.read(self._fd, 256):
                pass

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)


class EscposPrinter:
    """A receipt printer: `health()`, `print_receipt(receipt)`, `print_job(bytes)`.

    `open_transport` is called now (a missing port fails at once) and again after the
    port was lost, so a printer that was unplugged and plugged back in works again
    without restarting the kiosk.
    """

    def __init__(
        self,
        open_transport: Callable[[], SerialTransport | FileTransport],
        *,
        width_mm: int = 58,
        font_set: str = "gb18030",
        status_timeout: float = 1.0,
    ) -> None:
        self._open_transport = open_transport
        self._transport: SerialTransport | FileTransport | None = open_transport()
        self.name = self._transport.name
        self.can_read_status = getattr(self._transport, "bidirectional", True)
        self.width_mm = width_mm
        self.font_set = font_set
        self.status_timeout = status_timeout

    @contextlib.contextmanager
    def _port(self) -> Iterator[SerialTransport | FileTransport]:
        if self._transport is None:
            self._transport = self._open_transport()
        try:
            yield self._transport
        except DeviceUnavailable:
            self.close()  # reopened on the next call
            raise

    def status(self) -> st.PrinterStatus:
        """Ask `DLE EOT 1`…`4` and decode the answers."""
        with self._port() as port:
            port.discard_input()
            answers: dict[int, int] = {}
            for n in st.QUERIES:
                port.write(st.query(n))
                answers[n] = self._read_status_byte(port, n)
        traffic.debug("printer %s status %s", self.name, answers)
        return st.PrinterStatus.from_bytes(answers)

    def _read_status_byte(self, port: SerialTransport | FileTransport, n: int) -> int:
        deadline = time.monotonic() + self.status_timeout
        while (left := deadline - time.monotonic()) > 0:
            for value in port.read(left):
                # Skip anything that is not a status answer (line noise, an ASB packet).
                if st.is_status_byte(value):
                    return value
        raise DeviceTimeout(
            "打印机没有响应，请检查打印机电源和连接线；仍不能打印请联系技术员",
            detail=f"{self.name}: no answer to DLE EOT {n}",
        )

    def health(self) -> Health:
        """Printer health for the device state topic; never raises."""
        if not self.can_read_status:
            return Health("ok", "status_unavailable", details={"bidirectional": False})
        try:
            return self.status().health()
        except DeviceTimeout as exc:
            return Health("offline", "no_answer", exc.message)
        except DeviceError as exc:
            return Health("offline", "unavailable", exc.message)

    def _check(self) -> None:
        if not self.can_read_status:
            return
        current = self.status()
        health = current.health()
        if current.paper_out:
            raise PaperOut(detail=f"{self.name}: {health.details}")
        if current.cover_open:
            raise CoverOpen(detail=f"{self.name}: {health.details}")
        if health.state == "fault":
            raise PrinterFault(health.message, detail=f"{self.name}: {health.details}")
        if current.paper_near_end:
            logger.warning("printer %s: paper near end", self.name)

    def print_job(self, job: bytes) -> None:
        """Send a built job, refusing when the printer cannot print it."""
        self._check()
        traffic.debug("printer %s: sending %d bytes", self.name, len(job))
        with self._port() as port:
            port.write(job)
        self._check()

    def print_receipt(self, receipt: Receipt) -> None:
        """Build `receipt` for this printer's paper width and font set and print it."""
        self.print_job(build_receipt(receipt, width_mm=self.width_mm, fonts=self.font_set))

    def apply_settings(
        self, *, density: int | None = None, code_page: str | None = None, **other
    ) -> list[str]:
        """Write settings the printer keeps in its own memory (print density, Chinese code
        system; see `settings`). Returns the names of the settings it cannot write.

        A written code page also becomes the font set receipts are encoded in."""
        job = settings_job(density=density, code_page=code_page)
        if job:
            traffic.debug("printer %s: writing settings %s", self.name, job.hex(" "))
            with self._port() as port:
                port.write(job)
            if code_page is not None:
                self.font_set = code_page
        return sorted(other)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None


@register_driver("printer", "escpos-serial")
def escpos_serial(
    port: str,
    baudrate: int = 9600,
    width_mm: int = 58,
    font_set: str = "gb18030",
    status_timeout: float = 1.0,
) -> EscposPrinter:
    """An ESC/POS printer on a serial port (or pyserial URL)."""
    return EscposPrinter(
        lambda: SerialTransport(port, baudrate),
        width_mm=width_mm,
        font_set=font_set,
        status_timeout=status_timeout,
    )


@register_driver("printer", "escpos-usb")
def escpos_usb(
    device: str = "/dev/usb/lp0",
    width_mm: int = 58,
    font_set: str = "gb18030",
    bidirectional: bool = True,
    status_timeout: float = 1.0,
) -> EscposPrinter:
    """An ESC/POS printer on the USB printer class, opened as a device file."""
    return EscposPrinter(
        lambda: FileTransport(device, bidirectional=bidirectional),
        width_mm=width_mm,
        font_set=font_set,
        status_timeout=status_timeout,
    )
