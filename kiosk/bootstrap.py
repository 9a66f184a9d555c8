"""The kiosk's composition root: configuration in, drivers + outbox + uploader + flow out.

The technician-facing configuration schema (`firmware_config`) has not landed yet, so
`cunban kiosk --config FILE` reads the small YAML file described by `KioskConfig` here:

    station: "411381101201"
    station_name: 前营村
    mqtt: mqtt://127.0.0.1:1883
    data_dir: /var/lib/cunban/kiosk
    officers:
      - {officer_id: gzry-01, name: 王信息员, id_number: "4113…", pin_hash: "pbkdf2_sha256$…"}
    maintenance_pin_hash: "pbkdf2_sha256$…"
    devices:
      idcard: {type: sam, settings: {port: /dev/ttyUSB0}}
      camera: {type: uvc, settings: {device: 0}}
      printer: {type: escpos-serial, settings: {port: /dev/ttyUSB1}}

`simulate: true` on the ID-card reader or the printer starts its pty simulator and points
the real driver at it (training kiosks, demos, tests).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

import device_drivers.camera  # noqa: F401  (registers the camera types)
import device_drivers.printer  # noqa: F401  (registers the printer types)
from device_drivers.base import DeviceError, create_driver
from device_drivers.idcard import SamReader  # noqa: F401  (registers the reader type)
from kiosk.catalog_cache import load_catalog
from kiosk.flow.machine import Flow, OfficerAccount
from kiosk.flow.runtime import Devices, ProgressClient, Runtime, Speaker, StationRecords
from kiosk.outbox import Outbox
from kiosk.uploader import Uploader
from protocols.topics import Topics, check_station_id

logger = logging.getLogger(__name__)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeviceConfig(_Strict):
    type: str = Field(description="driver type, e.g. sam, uvc, synthetic, escpos-serial")
    settings: dict[str, Any] = Field(default_factory=dict, description="driver settings")
    simulate: bool = Field(False, description="start the pty simulator and use it")


class OfficerConfig(_Strict):
    officer_id: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=30)
    id_number: str = Field(min_length=18, max_length=18, description="their ID card number")
    pin_hash: str = Field(description="pbkdf2_sha256$… from `kiosk.flow.machine.hash_pin`")


class KioskConfig(_Strict):
    station: str = Field(description="12-digit village division code, optional -suffix")
    station_name: str = Field("", description="village name printed on receipts")
    mqtt: str = Field("mqtt://127.0.0.1:1883", description="broker URL")
    data_dir: Path = Field(Path("var/kiosk"), description="outbox, blobs, catalog cache")
    idle_warn: float = Field(60.0, gt=0, description="seconds without a tap before warning")
    idle_wipe: float = Field(90.0, gt=0, description="seconds without a tap before wiping")
    voice: bool = Field(True, description="speak prompts with espeak-ng where installed")
    catalog_wait: float = Field(10.0, ge=0, description="seconds to wait for the catalog")
    officers: list[OfficerConfig] = Field(default_factory=list)
    maintenance_pin_hash: str | None = None
    config_version: str = Field("local", description="shown on the maintenance screen")
    window: Literal["1920x1080", "1280x800"] = "1920x1080"
    devices: dict[Literal["idcard", "camera", "printer"], DeviceConfig] = Field(
        default_factory=dict)

    @classmethod
    def load(cls, path: Path | str) -> KioskConfig:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        config = cls.model_validate(raw)
        check_station_id(config.station)
        return config


@dataclass
class Kiosk:
    """Everything a running kiosk holds; `close()` stops it in order."""

    config: KioskConfig
    flow: Flow
    runtime: Runtime
    outbox: Outbox
    uploader: Uploader
    progress: ProgressClient
    records: StationRecords
    devices: Devices
    simulators: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        self.runtime.stop()
        self.progress.stop()
        self.uploader.stop()
        for device in (self.devices.reader, self.devices.camera, self.devices.printer):
            if device is not None:
                try:
                    device.close()
                except Exception:
                    logger.exception("closing a device failed")
        for sim in self.simulators.values():
            sim.stop()
        self.records.close()
        self.outbox.close()


def _device(kind: str, conf: DeviceConfig | None, simulators: dict):
    if conf is None:
        return None
    settings = dict(conf.settings)
    if conf.simulate and kind == "idcard":
        from device_drivers.idcard.sim import IdCardSimulator

        sim = IdCardSimulator(placed=False).start()
        simulators["idcard"] = sim
        settings["port"] = sim.port
    elif conf.simulate and kind == "printer":
        from device_drivers.printer.sim import PrinterSimulator

        sim = PrinterSimulator().start()
        simulators["printer"] = sim
        settings["port"] = sim.port
    try:
        return create_driver(kind, conf.type, **settings)
    except DeviceError as exc:
        # The kiosk still starts: the screens say what to do without this device.
        logger.error("%s not available: %s (%s)", kind, exc.message, exc.detail)
        return None


def build_kiosk(config: KioskConfig, post, *, camera=None, lang=None) -> Kiosk:
    """Wire a kiosk. `post(event)` hands events to the flow's thread; `camera` overrides
    the configured one (the demo tour shows it scripted scenes)."""
    data = Path(config.data_dir)
    outbox = Outbox(data, config.station)
    uploader = Uploader(outbox, config.mqtt).start()
    topics = Topics()
    progress = ProgressClient(config.mqtt, config.station, topics).start()
    records = StationRecords(data, outbox)
    simulators: dict[str, Any] = {}
    devices = Devices(reader=_device("idcard", config.devices.get("idcard"), simulators),
                      camera=camera or _device("camera", config.devices.get("camera"),
                                               simulators),
                      printer=_device("printer", config.devices.get("printer"), simulators))
    catalog = load_catalog(uploader, data, config.catalog_wait)
    flow = Flow(config.station, catalog,
                officers=[OfficerAccount(**o.model_dump()) for o in config.officers],
                maintenance_pin_hash=config.maintenance_pin_hash,
                idle_warn=config.idle_warn, idle_wipe=config.idle_wipe,
                station_name=config.station_name)
    runtime = Runtime(station=config.station, station_name=config.station_name, outbox=outbox,
                      uploader=uploader, devices=devices, records=records, post=post,
                      progress=progress, speaker=Speaker(config.voice),
                      lang=lang or (lambda: flow.lang), catalog=catalog,
                      config_version=config.config_version)
    return Kiosk(config, flow, runtime, outbox, uploader, progress, records, devices,
                 simulators)
