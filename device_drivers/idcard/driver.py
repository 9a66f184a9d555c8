"""The ID-card reader driver: a SAM module (GA/T 467) on a serial port or USB-serial bridge.

`SamReader` does one command at a time (find → select → read); `CardWatcher` polls it on
a worker thread and reports a card being placed or taken away. Every library exception is
turned into a `DeviceError` here, so the kiosk only sees sentences for people.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from device_drivers.base import (
    DeviceError,
    DeviceTimeout,
    DeviceUnavailable,
    Health,
    ProtocolError,
    SerialLink,
    register_driver,
    traffic,
)
from device_drivers.idcard.protocol import (
    FOUND,
    NO_CARD,
    OK,
    SELECT_FAILED,
    CardFormatError,
    Command,
    IdCard,
    Response,
    encode_request,
    parse_read_data,
    parse_response,
    set_baud_command,
    status_message,
)

logger = logging.getLogger(__name__)

BAUD_RATES = (115200, 57600, 38400, 19200, 9600)
# Codes after which polling again cannot help: the module itself is unusable.
_FATAL = {0x21, 0x23, 0x60, 0x66}
# Codes that only mean "no card (any more)": not worth an error when the wait ends.
_ABSENT = {NO_CARD, SELECT_FAILED}
_UNPLUGGED = "读卡器未连接或已拔出，请检查读卡器连接线后重试"


class IdCardError(DeviceError):
    """The SAM answered with a failure code; `code` is its SW3 byte."""

    message = "读身份证失败，请把身份证取下重新放好"

    def __init__(self, code: int, message: str | None = None, detail: str = ""):
        super().__init__(message or status_message(code), detail=detail or f"SW3={code:02X}")
        self.code = code


def format_sam_id(data: bytes) -> str:
    """The SAM serial number as printed on the module label: `05.01-20101111-…`.

    The 16 bytes are little-endian fields of 2, 2, 4, 4 and 4 bytes (vendor SDK layout).
    """
    if len(data) < 16:
        return data.hex().upper()
    a = int.from_bytes(data[0:2], "little")
    b = int.from_bytes(data[2:4], "little")
    c = int.from_bytes(data[4:8], "little")
    d = int.from_bytes(data[8:12], "little")
    e = int.from_bytes(data[12:16], "little")
    return f"{a:02d}.{b:02d}-{c:08d}-{d:010d}-{e:010d}"


@register_driver("idcard", "sam")
class SamReader:
    """A GA/T 467 SAM reader on `port` (any pyserial URL).

    `timeout` bounds each command's answer; the read command also gets the time its
    1295 bytes need on the wire at `baudrate`. `poll_interval` is the pause between find
    attempts while waiting for a card (module manuals advise ≥ 300 ms when polling).
    """

    def __init__(
        self,
        port: str,
        baudrate: int = 115200,
        timeout: float = 1.0,
        poll_interval: float = 0.3,
    ) -> None:
        if baudrate not in BAUD_RATES:
            raise DeviceError(
                f"读卡器波特率 {baudrate} 不受支持，请设为 " + "、".join(str(b) for b in BAUD_RATES)
            )
        self.port = port
        self.baudrate = baudrate
        self.timeout = timeout
        self.poll_interval = poll_interval
        self._link = SerialLink(port, baudrate=baudrate, timeout=0.05, unplugged=_UNPLUGGED)

    # port --------------------------------------------------------------------------------
    def open(self) -> None:
        """Open the port now (otherwise it is opened on first use, and again after an
        unplug)."""
        self._link.open()

    def close(self) -> None:
        self._link.close()

    def __enter__(self) -> SamReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _wire_time(self, nbytes: int) -> float:
        return nbytes * 10 / self.baudrate  # 8N1: ten bit times per byte

    def transact(
        self, command: Command, data: bytes = b"", timeout: float | None = None
    ) -> Response:
        """Send one request and wait for its answer (one retry after a corrupted answer)."""
        with self._link.lock:
            for attempt in (1, 2):
                try:
                    return self._transact_once(command, data, timeout)
                except ProtocolError:
                    if attempt == 2:
                        raise
                    logger.info("corrupted answer to %s, asking again", command.name)
        raise AssertionError("unreachable")

    def _transact_once(self, command: Command, data: bytes, timeout: float | None) -> Response:
        with self._link.io() as port:
            request = encode_request(command, data)
            wait = timeout if timeout is not None else self.timeout
            deadline = time.monotonic() + wait
            buf = b""
            port.reset_input_buffer()
            traffic.debug("idcard → %s", request.hex(" "))
            port.write(request)
            while True:
                chunk = port.read(max(1, port.in_waiting))
                if chunk:
                    buf += chunk
                    result = parse_response(buf)
                    if result.skipped:
                        traffic.debug("idcard skipped %d stray bytes", result.skipped)
                    if result.responses:
                        response = result.responses[0]
                        traffic.debug(
                            "idcard ← SW3=%02X, %d data bytes", response.sw3, len(response.data)
                        )
                        return response
                    if result.bad:
                        raise ProtocolError(detail=f"{command.name}: {result.bad[0].reason}")
                    buf = result.rest
                elif time.monotonic() >= deadline:
                    raise DeviceTimeout(
                        "读卡器没有响应，请检查读卡器电源和连接线；多次失败请联系技术员",
                        detail=f"{self.port}: no answer to {command.name} in {wait:.2f}s",
                    )

    def _expect(self, response: Response, *ok: int) -> Response:
        if response.sw3 not in ok:
            raise IdCardError(response.sw3)
        return response

    # commands ----------------------------------------------------------------------------
    def reset(self) -> None:
        """Reset the SAM (10 FF), as if it were powered up again."""
        self._expect(self.transact(Command.RESET_SAM, timeout=max(self.timeout, 2.0)), OK)

    def sam_status(self) -> Health:
        """Ask the SAM for its self-test result (11 FF)."""
        response = self.transact(Command.SAM_STATUS)
        if response.sw3 == OK:
            return Health("ok")
        return Health("fault", code=f"{response.sw3:02X}", message=response.message)

    def apply_settings(self, *, baudrate: int | None = None, **other) -> list[str]:
        """Write settings kept in the reader: its serial rate (GA/T 467 `60 PARA`). The
        reader answers at the old rate; the port is then reopened at the new one and the
        SAM asked for its status, so a rate that did not take is reported, not assumed.
        Returns the names of the settings not written."""
        left = sorted(other)
        if baudrate is None or baudrate == self.baudrate:
            return left
        if baudrate not in BAUD_RATES:
            return sorted([*left, "baudrate"])
        try:
            self._expect(self.transact(set_baud_command(baudrate)), OK)
        except DeviceError as exc:
            logger.warning("reader %s did not take baud rate %s: %s", self.port, baudrate,
                           exc.message)
            return sorted([*left, "baudrate"])
        old = self.baudrate
        self._reopen(baudrate)
        if self.health().state != "ok":
            logger.warning("reader %s silent at %s baud, back to %s", self.port, baudrate, old)
            self._reopen(old)
            return sorted([*left, "baudrate"])
        return left

    def _reopen(self, baudrate: int) -> None:
        self._link.close()
        self.baudrate = baudrate
        self._link = SerialLink(self.port, baudrate=baudrate, timeout=0.05,
                                unplugged=_UNPLUGGED)

    def sam_id(self) -> str:
        """The SAM serial number (12 FF), formatted as on the module label."""
        return format_sam_id(self._expect(self.transact(Command.SAM_ID), OK).data)

    def health(self) -> Health:
        """Health for the device state topic; never raises."""
        try:
            return self.sam_status()
        except DeviceUnavailable as exc:
            return Health("offline", code="unavailable", message=exc.message)
        except DeviceError as exc:
            return Health("fault", code=type(exc).__name__, message=exc.message)

    def card_present(self) -> bool:
        """Whether a card lies on the reader.

        Some modules answer "no card" to find (20 01) while a card that was already read
        still lies there; select (20 02) still succeeds then, so it is asked second.
        """
        with self._link.lock:
            found = self.transact(Command.FIND_CARD)
            if found.sw3 == FOUND:
                return True
            if found.sw3 in _FATAL:
                raise IdCardError(found.sw3)
            return self.transact(Command.SELECT_CARD).sw3 == OK

    def read_card(self, timeout: float = 0.0) -> IdCard | None:
        """Wait up to `timeout` seconds for a card, then find, select and read it.

        Returns None when no card was placed in time. Raises `IdCardError` when the SAM is
        unusable or a placed card could not be read, `DeviceTimeout` when the reader does
        not answer, `DeviceUnavailable` when it is unplugged.
        """
        deadline = time.monotonic() + timeout
        read_timeout = max(self.timeout, 2 * self._wire_time(1295) + 0.5)
        last: Response | None = None
        while True:
            with self._link.lock:
                response = self.transact(Command.FIND_CARD)
                if response.sw3 == FOUND:
                    response = self.transact(Command.SELECT_CARD)
                    if response.sw3 == OK:
                        response = self.transact(Command.READ_BASE, timeout=read_timeout)
                        if response.sw3 == OK:
                            try:
                                return parse_read_data(response.data)
                            except CardFormatError as exc:
                                raise IdCardError(0x40, exc.reason) from exc
            if response.sw3 in _FATAL:
                raise IdCardError(response.sw3)
            last = response
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            time.sleep(min(self.poll_interval, remaining))
        if last is not None and last.sw3 not in _ABSENT:
            raise IdCardError(last.sw3)
        return None


class CardWatcher:
    """Polls a `SamReader` on a worker thread and reports cards coming and going.

    `on_present(card)` runs once per placed card (after it was read), `on_removed()` when
    it is taken away or the reader disappears, `on_error(exc)` for every `DeviceError`.
    The loop never dies: an unplugged reader is retried every `retry_interval` seconds and
    the port is reopened when it returns. Callbacks run on the worker thread: a GUI must
    hand them over to its own thread.
    """

    def __init__(
        self,
        reader: SamReader,
        on_present: Callable[[IdCard], None],
        on_removed: Callable[[], None],
        on_error: Callable[[DeviceError], None] | None = None,
        *,
        interval: float = 0.3,
        retry_interval: float = 1.0,
    ) -> None:
        self.reader = reader
        self.on_present = on_present
        self.on_removed = on_removed
        self.on_error = on_error
        self.interval = interval
        self.retry_interval = retry_interval
        self.present = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="CardWatcher", daemon=True)

    def start(self) -> CardWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def __enter__(self) -> CardWatcher:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _call(self, callback: Callable | None, *args) -> None:
        if callback is None:
            return
        try:
            callback(*args)
        except Exception:  # a faulty callback must not stop the watcher
            logger.exception("card watcher callback %s failed", getattr(callback, "__name__", ""))

    def _removed(self) -> None:
        if self.present:
            self.present = False
            self._call(self.on_removed)

    def poll_once(self) -> None:
        """One step of the loop (public so a caller can drive it without the thread)."""
        if self.present:
            if not self.reader.card_present():
                self._removed()
            return
        card = self.reader.read_card(timeout=0)
        if card is not None:
            self.present = True
            self._call(self.on_present, card)

    def _run(self) -> None:
        while not self._stop.is_set():
            wait = self.interval
            try:
                self.poll_once()
            except DeviceUnavailable as exc:
                self._removed()
                self._call(self.on_error, exc)
                wait = self.retry_interval
            except DeviceError as exc:
                logger.info("card watcher: %s (%s)", exc.message, exc.detail)
                self._call(self.on_error, exc)
            except Exception:  # keep the loop alive; log the stack once per failure
                logger.exception("card watcher poll failed")
                wait = self.retry_interval
            self._stop.wait(wait)
