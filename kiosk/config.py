"""The kiosk's side of desired configuration: verify, validate, apply, report.

A configuration arrives retained on `station/{sid}/config`. It is applied only if its
Ed25519 signature verifies against the county's key (from enrolment), it is for this
station, its version is higher than the one applied (so an old, validly signed
configuration cannot be replayed), and it passes the schema and cross-device checks.
Applying brings the devices up with the new settings; if any device fails to come up the
previous configuration is brought back and the new one reported `rejected`. The outcome is
published retained on `station/{sid}/config/state`. The applied configuration is kept on
disk (mode 0600) with its signature, so the version floor survives a restart.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from firmware_config import ConfigError, KioskConfig, parse_config
from firmware_config.signing import Ed25519PublicKey, SignatureError, verify_config
from protocols import messages as m
from protocols.topics import Kind, Topics

logger = logging.getLogger(__name__)

Publish = Callable[[str, bytes], Any]

# Sections that the connection is built from: a change takes a reconnect (the kiosk
# restarts). Devices are re-opened here; UI and services take effect on the next screen.
RESTART_SECTIONS = ("station", "hub", "broker", "tls")


def write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read, atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class DeviceSet:
    """The peripherals a configuration describes, opened through `device_drivers`.

    Simulator types start their pty simulator and run the real driver against it."""

    def __init__(self) -> None:
        self.drivers: dict[str, Any] = {}
        self._sims: list[Any] = []

    @property
    def simulators(self) -> list[Any]:
        """The simulators started for simulator device types (training kiosks)."""
        return list(self._sims)

    def bring_up(self, config: KioskConfig) -> tuple[list[str], list[str]]:
        """Open every configured device. Returns (failures, settings not written)."""
        import importlib

        from device_drivers.base import DeviceError, create_driver

        failures, unapplied = [], []
        for slot, dev in config.devices.configured().items():
            settings = dev.driver_settings()
            importlib.import_module(f"device_drivers.{dev.kind}")  # registers its types
            try:
                if dev.simulated:
                    settings["port"] = self._start_simulator(slot, dev)
                driver = create_driver(dev.kind, dev.driver_type, **settings)
                if hasattr(driver, "open"):
                    driver.open()
                self.drivers[slot] = driver
                health = driver.health()
            except (DeviceError, OSError, ValueError) as exc:
                failures.append(f"devices.{slot}: {getattr(exc, 'message', exc)}")
                continue
            if health.state in ("fault", "offline"):
                failures.append(f"devices.{slot}: {health.message or health.state}")
                continue
            unapplied += self._write_internal(slot, dev, driver)
        return failures, unapplied

    @staticmethod
    def _write_internal(slot: str, dev, driver) -> list[str]:
        internal = getattr(dev, "internal", None)
        wanted = {
            k: v for k, v in (internal.model_dump() if internal else {}).items() if v is not None
        }
        if not wanted:
            return []
        apply = getattr(driver, "apply_settings", None)
        if apply is None:
            return [
                f"devices.{slot}.internal.{name}: 设备驱动不支持写入，请在设备上手动设置"
                for name in sorted(wanted)
            ]
        from device_drivers.base import DeviceError

        try:
            left = sorted(apply(**wanted))
        except (DeviceError, ValueError) as exc:
            logger.warning("writing %s settings failed: %s", slot, exc)
            left = sorted(wanted)
        return [
            f"devices.{slot}.internal.{name}: 设备没有接受这项设置，请在设备上手动设置"
            for name in left
        ]

    def _start_simulator(self, slot: str, dev) -> str:
        if slot == "idcard":
            from device_drivers.idcard.sim import IdCardSimulator, load_cards

            cards = load_cards(dev.cards_file) if dev.cards_file else None
            sim = IdCardSimulator(cards)
        elif slot == "scanner":
            from device_drivers.scanner.sim import ScannerSimulator

            sim = ScannerSimulator()
        else:
            from device_drivers.printer.sim import PrinterSimulator

            sim = PrinterSimulator()
        self._sims.append(sim.start())
        return sim.port

    def close(self) -> None:
        for driver in self.drivers.values():
            try:
                driver.close()
            except Exception:  # closing must go on for the others
                logger.exception("closing a device failed")
        for sim in self._sims:
            sim.stop()
        self.drivers.clear()
        self._sims.clear()


class ConfigAgent:
    """Handles desired configurations for one station; see the module docstring.

    `on_applied(config, restart)` is called after a configuration took effect, with the
    sections that changed and need a restart (see `RESTART_SECTIONS`).
    """

    def __init__(
        self,
        sid: str,
        state_dir: Path | str,
        key: Ed25519PublicKey,
        publish: Publish,
        *,
        topics: Topics | None = None,
        on_applied: Callable[[KioskConfig, list[str]], None] | None = None,
    ) -> None:
        self.sid = sid
        self.dir = Path(state_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.key = key
        self.publish = publish
        self.topics = topics or Topics()
        self.on_applied = on_applied
        self.devices: DeviceSet | None = None
        self._lock = threading.Lock()

    @property
    def state_file(self) -> Path:
        return self.dir / "config.applied.json"

    @property
    def report_file(self) -> Path:
        return self.dir / "config.report.json"

    def applied(self) -> m.ConfigDesired | None:
        try:
            return m.ConfigDesired.model_validate_json(self.state_file.read_bytes())
        except FileNotFoundError:
            return None

    @property
    def version(self) -> int:
        current = self.applied()
        return current.version if current else 0

    def start_devices(self) -> list[str]:
        """At start-up: bring up the devices of the applied configuration."""
        current = self.applied()
        if current is None:
            return []
        self.devices = DeviceSet()
        failures, _ = self.devices.bring_up(KioskConfig.model_validate(current.config))
        return failures

    def handle(self, payload: bytes) -> m.ConfigReported | None:
        """Process one `config` message; returns the report published (None: none)."""
        with self._lock:
            report = self._handle(payload)
        if report is not None:
            self.publish(self.topics.station(Kind.CONFIG_STATE, self.sid), m.encode(report))
        return report

    def _handle(self, payload: bytes) -> m.ConfigReported | None:
        try:
            desired = m.decode(Kind.CONFIG, payload).data
        except m.MessageError as exc:
            return self._rejected(0, [f"配置消息格式不对：{exc}"])
        try:
            verify_config(self.key, self.sid, desired)
        except SignatureError as exc:
            logger.warning("refused configuration v%s: bad signature", desired.version)
            return self._rejected(desired.version, [str(exc)])
        current = self.applied()
        if current is not None and desired.version <= current.version:
            if desired.version == current.version and desired.signature == current.signature:
                # The retained copy again, after a reconnect: say again what became of it,
                # in case the first report was lost with the connection.
                return self._last_report()
            logger.warning(
                "refused configuration v%s: v%s is applied", desired.version, current.version
            )
            return self._rejected(
                desired.version,
                [f"配置版本 {desired.version} 不比已生效的版本 {current.version} 新，不予执行"],
            )
        try:
            config = parse_config(desired.config)
        except ConfigError as exc:
            return self._rejected(desired.version, [str(p) for p in exc.problems])
        if config.station.id != self.sid:
            return self._rejected(
                desired.version,
                [f"station.id: 这是站点 {config.station.id} 的配置，不是本站 {self.sid}"],
            )
        # Ports are released before the new settings take them, so a failure means
        # closing the new set and opening the previous one again: a real rollback.
        if self.devices is not None:
            self.devices.close()
        self.devices = DeviceSet()
        failures, unapplied = self.devices.bring_up(config)
        if failures:
            self.devices.close()
            self.devices = None
            kept = current.version if current else 0
            logger.warning(
                "configuration v%s failed to bring devices up; back to v%s", desired.version, kept
            )
            again = self.start_devices()
            return self._rejected(
                desired.version,
                [
                    *failures,
                    f"已退回到版本 {kept} 的配置",
                    *(f"退回后仍有故障：{f}" for f in again),
                ],
            )
        write_private(self.state_file, desired.model_dump_json().encode())
        if self.on_applied:
            old = current.config if current else {}
            self.on_applied(
                config, [k for k in RESTART_SECTIONS if old.get(k) != desired.config.get(k)]
            )
        logger.info("configuration v%s applied", desired.version)
        report = m.ConfigReported(version=desired.version, state="applied", errors=unapplied)
        write_private(self.report_file, report.model_dump_json().encode())
        return report

    def _last_report(self) -> m.ConfigReported | None:
        try:
            return m.ConfigReported.model_validate_json(self.report_file.read_bytes())
        except FileNotFoundError:
            return None

    def _rejected(self, version: int, errors: list[str]) -> m.ConfigReported:
        return m.ConfigReported(
            version=version, state="rejected", errors=[e[:200] for e in errors[:50]]
        )

    def close(self) -> None:
        if self.devices is not None:
            self.devices.close()


def load_key(path: Path | str) -> Ed25519PublicKey:
    from firmware_config.signing import load_public_key

    return load_public_key(Path(path))
