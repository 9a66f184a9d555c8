"""The kiosk's composition root: configuration in, drivers + outbox + uploader + flow out.

The configuration is the technician's `firmware_config.KioskConfig` (the file given to
`cunban kiosk --config`, or the signed one the hub pushed later, whichever is newer). What
must not travel over MQTT — officers' ID numbers and PIN hashes, the maintenance PIN —
comes from the kiosk's own `DATA/officers.json` (`kiosk.officers`).

One MQTT connection (the uploader's) carries everything: the outbox, progress requests
(`response` hook), desired configuration (`config` hook, handled by `ConfigAgent`) and
heartbeats. Devices are opened by the configuration's `DeviceSet`; a configuration
applied while running re-opens them and the runtime picks the new drivers up.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firmware_config import ConfigError, KioskConfig, parse_config
from kiosk import officers
from kiosk.catalog_cache import load_catalog
from kiosk.config import ConfigAgent, DeviceSet, load_key
from kiosk.flow.machine import Flow
from kiosk.flow.runtime import Devices, ProgressClient, Runtime, Speaker
from kiosk.heartbeat import Heartbeat, disk_free_mb
from kiosk.outbox import Outbox
from kiosk.records import StationRecords
from kiosk.uploader import SOFTWARE, Uploader
from protocols import messages as m
from protocols.mqtt import Tls
from protocols.topics import Kind, Topics

logger = logging.getLogger(__name__)


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
    device_set: DeviceSet
    heartbeat: Heartbeat
    agent: ConfigAgent | None = None
    simulators: dict[str, Any] = field(default_factory=dict)
    restart_needed: list[str] = field(default_factory=list)

    def close(self) -> None:
        self.runtime.stop()
        self.heartbeat.stop()
        self.uploader.stop()
        if self.agent is not None:
            self.agent.close()  # closes the device set it holds (the current one)
        else:
            self.device_set.close()
        self.records.close()
        self.outbox.close()


def effective_config(config: KioskConfig, data_dir: Path) -> KioskConfig:
    """The configuration file, unless the hub has since pushed (and the kiosk applied) a
    signed one for this station: that one is newer and wins."""
    state = Path(data_dir) / "config.applied.json"
    try:
        applied = m.ConfigDesired.model_validate_json(state.read_bytes())
        pushed = parse_config(applied.config)
    except FileNotFoundError:
        return config
    except (ValueError, ConfigError) as exc:
        logger.error("the applied configuration cannot be read, using the file: %s", exc)
        return config
    if pushed.station.id != config.station.id:
        logger.error("the applied configuration is for station %s, not %s; using the file",
                     pushed.station.id, config.station.id)
        return config
    logger.info("using the configuration v%s pushed by the hub", applied.version)
    return pushed


def _credentials(config: KioskConfig) -> tuple[str | None, str | None]:
    if not config.tls.credentials_file:
        return None, None
    creds = json.loads(Path(config.tls.credentials_file).read_text(encoding="utf-8"))
    return creds["username"], creds["password"]


def _simulators(device_set: DeviceSet) -> dict[str, Any]:
    from device_drivers.idcard.sim import IdCardSimulator
    from device_drivers.printer.sim import PrinterSimulator
    from device_drivers.scanner.sim import ScannerSimulator

    kinds = {IdCardSimulator: "idcard", PrinterSimulator: "printer", ScannerSimulator: "scanner"}
    return {kinds[type(sim)]: sim for sim in device_set._sims if type(sim) in kinds}


def build_kiosk(config: KioskConfig, post, *, data_dir: Path | str, camera=None, lang=None,
                catalog_wait: float = 0.0) -> Kiosk:
    """Wire a kiosk. `post(event)` hands events to the flow's thread; `camera` overrides
    the configured one (the demo tour shows it scripted scenes).

    The kiosk starts with the cached catalog (or none, on a first start) unless
    `catalog_wait` seconds are given to wait for the hub's; whichever arrives later reaches
    the flow through the runtime (`CatalogUpdated`). The app builds the kiosk on its UI
    thread, so it waits for nothing: the welcome screen shows at once."""
    data = Path(data_dir)
    data.mkdir(parents=True, exist_ok=True)
    config = effective_config(config, data)
    sid = config.station.id
    topics = Topics(config.broker.root)
    key_file = Path(config.tls.config_key_file or data / "signing.pub")
    key = load_key(key_file) if key_file.exists() else None
    username, password = _credentials(config)
    outbox = Outbox(data, sid)
    uploader = Uploader(outbox, config.broker.url, topics=topics, username=username,
                        password=password,
                        tls=Tls(ca_file=config.tls.ca_file) if config.tls.ca_file else None)
    progress = ProgressClient(uploader, sid, topics)
    records = StationRecords(data, outbox)

    device_set = DeviceSet()
    failures, unapplied = device_set.bring_up(config)
    for problem in failures + unapplied:
        # The kiosk still starts: the screens say what to do without this device.
        logger.error("device: %s", problem)
    devices = Devices()

    def use_drivers(drivers: dict[str, Any]) -> None:
        devices.reader = drivers.get("idcard")
        devices.camera = camera or drivers.get("camera")
        devices.printer = drivers.get("printer")

    use_drivers(device_set.drivers)
    holder: dict[str, Kiosk] = {}
    agent = None
    if key is None:
        logger.warning("no signing key at %s: configurations pushed by the hub are refused",
                       key_file)
    else:
        def applied(new: KioskConfig, restart: list[str]) -> None:
            use_drivers(agent.devices.drivers if agent.devices else {})
            kiosk = holder.get("kiosk")
            if kiosk is not None:
                kiosk.runtime.config_version = str(agent.version)
                kiosk.simulators = _simulators(agent.devices) if agent.devices else {}
                kiosk.restart_needed = restart
            if restart:
                logger.warning("configuration changes %s take effect after a restart",
                               ", ".join(restart))

        agent = ConfigAgent(
            sid, data, key,
            lambda topic, payload: uploader.endpoint.publish(topic, payload, qos=1,
                                                             retain=True),
            topics=topics, on_applied=applied)
        agent.devices = device_set  # re-opened (or rolled back) by the next configuration
        uploader.on(Kind.CONFIG, agent.handle)

    def status() -> m.StationStatus:
        return m.StationStatus(state=m.Availability.ONLINE, software=SOFTWARE,
                               config_version=agent.version if agent else None,
                               outbox_pending=outbox.counts().get("pending", 0),
                               disk_free_mb=disk_free_mb(data))

    heartbeat = Heartbeat(uploader.endpoint, sid, status,
                          interval=config.broker.heartbeat_interval, topics=topics)
    uploader.start()
    heartbeat.start()
    payload = uploader.catalog_payload  # taken first: one arriving later is the runtime's
    catalog = load_catalog(uploader, data, catalog_wait, key)
    local = officers.load(data)
    ui = config.ui
    flow = Flow(sid, catalog, officers=local.accounts(),
                maintenance_pin_hash=local.maintenance_pin_hash,
                idle_warn=max(1, ui.idle_timeout - ui.idle_warning), idle_wipe=ui.idle_timeout,
                station_name=config.station.name)
    if ui.languages[0] != flow.lang:
        flow.lang = ui.languages[0]
    runtime = Runtime(station=sid, station_name=config.station.name, outbox=outbox,
                      uploader=uploader, devices=devices, records=records, post=post,
                      progress=progress, speaker=Speaker(ui.voice),
                      lang=lang or (lambda: flow.lang), catalog=catalog,
                      config_version=str(agent.version) if agent and agent.version else "local",
                      catalog_key=key, catalog_payload=payload)
    kiosk = Kiosk(config, flow, runtime, outbox, uploader, progress, records, devices,
                  device_set, heartbeat, agent, _simulators(device_set))
    holder["kiosk"] = kiosk
    return kiosk
