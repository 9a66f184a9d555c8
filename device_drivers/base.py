"""What every peripheral driver shares: errors for people, health, a registry keyed by
`type`, and a port opened through `serial.serial_for_url` (`SerialLink` reopens it after
an unplug).

Drivers wrap library exceptions here, at the boundary (`SerialException` →
`DeviceUnavailable`), so the kiosk only ever sees these errors, each carrying a plain
Chinese sentence that says what to do next.
"""

from __future__ import annotations

import contextlib
import logging
import termios
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import serial

logger = logging.getLogger(__name__)
traffic = logging.getLogger("cunban.device.traffic")  # device bytes, on their own logger

# A pulled USB-serial adapter surfaces as any of these, depending on the call that hits it.
PORT_ERRORS = (serial.SerialException, OSError, termios.error)


class DeviceError(Exception):
    """A peripheral problem; `message` is shown to people, `detail` goes to the log."""

    message = "设备出现故障，请联系信息员或技术员"

    def __init__(self, message: str | None = None, detail: str = ""):
        super().__init__(message or self.message)
        if message:
            self.message = message
        self.detail = detail


class DeviceUnavailable(DeviceError):
    message = "设备未连接或已拔出，请检查连接线后重试"


class DeviceTimeout(DeviceError):
    message = "设备没有响应，请稍后重试；多次失败请联系技术员"


class ProtocolError(DeviceError):
    message = "设备返回的数据无法识别，请重试；多次失败请联系技术员"


@dataclass(frozen=True)
class Health:
    """Peripheral health as published on `station/{sid}/device/{device}/state`."""

    state: str  # "ok" | "warning" | "fault" | "offline"
    code: str = ""
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScannedCode:
    """One decoded symbol: `type` as zbar names it ("QRCODE", "CODE128" …), `data` text."""

    type: str
    data: str


class CodeReader(Protocol):
    """Anything that yields codes: the fixed scanner module or the document camera."""

    def read_code(self, timeout: float) -> ScannedCode | None:
        """Wait up to `timeout` seconds for one code; None when nothing was read."""
        ...

    def close(self) -> None: ...


_REGISTRY: dict[tuple[str, str], Callable[..., Any]] = {}


def register_driver(kind: str, type_: str):
    """Class decorator: make a driver constructible from configuration by (kind, type)."""

    def wrap(factory):
        _REGISTRY[(kind, type_)] = factory
        return factory

    return wrap


def create_driver(kind: str, type_: str, **settings: Any):
    """Build the driver registered for (kind, type) with its settings."""
    try:
        factory = _REGISTRY[(kind, type_)]
    except KeyError:
        known = sorted(t for k, t in _REGISTRY if k == kind)
        raise DeviceError(
            f"不支持的设备类型：{kind}.{type_}（可用：{', '.join(known) or '无'}）"
        ) from None
    return factory(**settings)


def open_serial(url: str, *, baudrate: int = 9600, timeout: float = 1.0, **kwargs: Any):
    """Open a serial port (or any pyserial URL) with errors wrapped for people."""
    try:
        return serial.serial_for_url(url, baudrate=baudrate, timeout=timeout, **kwargs)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise DeviceUnavailable(detail=f"{url}: {exc}") from exc


class SerialLink:
    """A driver's serial port: opened on first use, closed when a port error shows the
    device is gone, and so opened again by the next call once it is plugged back in.

    `lock` (reentrant) serialises the driver's exchanges on the port. `unplugged` is the
    sentence people see when the port cannot be opened or fails; None keeps
    `DeviceUnavailable`'s own. `settings` go to `open_serial` as they are.
    """

    def __init__(
        self,
        url: str,
        *,
        baudrate: int,
        timeout: float,
        unplugged: str | None = None,
        **settings: Any,
    ) -> None:
        self.url = url
        self.baudrate = baudrate
        self.timeout = timeout
        self.unplugged = unplugged
        self.settings = settings
        self.lock = threading.RLock()
        self._port: serial.SerialBase | None = None

    def open(self) -> serial.SerialBase:
        """The open port, opening it first when it is not."""
        with self.lock:
            if self._port is None:
                try:
                    self._port = open_serial(
                        self.url, baudrate=self.baudrate, timeout=self.timeout, **self.settings
                    )
                except DeviceUnavailable as exc:
                    if self.unplugged is None:
                        raise
                    raise DeviceUnavailable(self.unplugged, detail=exc.detail) from exc
            return self._port

    def close(self) -> None:
        """Close the port (if open); the next `open` opens it afresh."""
        with self.lock:
            port, self._port = self._port, None
            if port is not None:
                try:
                    port.close()
                except PORT_ERRORS:
                    logger.debug("closing %s failed", self.url, exc_info=True)

    @contextlib.contextmanager
    def io(self) -> Iterator[serial.SerialBase]:
        """Hold the lock and use the open port; a port error in the block closes it and
        is raised as `DeviceUnavailable`."""
        with self.lock:
            port = self.open()
            try:
                yield port
            except PORT_ERRORS as exc:
                self.close()
                raise DeviceUnavailable(self.unplugged, detail=f"{self.url}: {exc}") from exc
