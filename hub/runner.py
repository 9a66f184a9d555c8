"""`cunban hub`: the composition root of a running hub process.

Wires the store, catalog, calendar, MQTT intake, SMS dispatcher and web app together and
runs until SIGTERM/SIGINT. One hub per data directory (a lock file says so), with a stable
MQTT client id kept in `DATA/hub.json`, so its persistent session survives restarts.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import signal
import threading
from pathlib import Path

import uvicorn

from hub.app import create_app
from hub.auth import SessionAuth, TokenAuth
from hub.blobs import BlobStore
from hub.calendar import WorkCalendar
from hub.catalog import load_catalog
from hub.crypto import FieldCipher, key_path
from hub.db import migrate
from hub.db.fleet import FleetStore
from hub.db.repositories import Store
from hub.fleet.configs import catalog_payload
from hub.fleet.monitor import FleetMonitor
from hub.ingest import Ingest
from hub.intake import PreparerSpec
from hub.link import LinkEndpoint
from hub.notify import Notifier, SmsDispatcher, SpoolNotifier
from hub.service import ApplicationService
from protocols import messages as m
from protocols.memory import freeze_startup_objects
from protocols.mqtt import Presence
from protocols.topics import DEFAULT_ROOT, Topics

logger = logging.getLogger(__name__)

SOFTWARE = "cunban-hub 0.1.0"


class HubAlreadyRunning(RuntimeError):
    pass


class DataDir:
    """Paths inside a hub's data directory."""

    def __init__(self, root: Path | str):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.db = self.root / "hub.db"
        self.blobs = self.root / "blobs"
        self.sms_spool = self.root / "sms" / "outbox.jsonl"
        self.tokens = self.root / "api-tokens.json"
        self.identity = self.root / "hub.json"
        self.lock = self.root / "hub.lock"

    def client_id(self) -> str:
        if not self.identity.exists():
            ident = {"client_id": f"cunban-hub-{secrets.token_hex(4)}"}
            self.identity.write_text(json.dumps(ident), encoding="utf-8")
        return json.loads(self.identity.read_text(encoding="utf-8"))["client_id"]

    def acquire(self):
        fh = open(self.lock, "w")  # noqa: SIM115 - held for the life of the process
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise HubAlreadyRunning(
                f"另一个中心进程正在使用数据目录 {self.root}，请先停止它") from None
        fh.write(str(os.getpid()))
        fh.flush()
        return fh


def run_hub(data_dir: Path | str, mqtt_url: str, http_host: str, http_port: int, *,
            root: str = DEFAULT_ROOT, notifier: Notifier | None = None,
            batch_size: int = 500, cipher: str = "aes-gcm") -> int:
    data = DataDir(data_dir)
    lock = data.acquire()
    migrate(data.db)
    catalog = load_catalog()
    calendar = WorkCalendar.load()
    topics = Topics(root)
    field_cipher = FieldCipher.load(key_path(data.root), algorithm=cipher)
    store = Store(data.db, field_cipher)
    if sealed := store.seal_plaintext_rows():
        logger.info("encrypted the personal data of %d earlier applications", sealed)
    blobs = BlobStore(data.blobs, field_cipher)
    if leftover := blobs.remove_temporaries():
        logger.info("removed %d photo files of batches never committed", leftover)
    ingest = Ingest(store, blobs,
                    ApplicationService(store, catalog, calendar, topics),
                    topics, batch_size=batch_size)
    snapshot = catalog_payload(catalog, data.root)

    def on_connected() -> None:
        ingest.on_reconnected()
        endpoint.publish(topics.catalog(), snapshot, qos=1, retain=True)

    def presence_payload(state: m.Availability) -> bytes:
        return m.encode(m.HubStatus(state=state, software=SOFTWARE))

    # The MQTT connection lives in a process of its own (`hub.link`): paho's per-packet
    # work then runs beside the intake instead of taking turns with it.
    endpoint = LinkEndpoint(
        mqtt_url, data.client_id(),
        presence=Presence(topics.hub_status(), online=presence_payload(m.Availability.ONLINE),
                          offline=presence_payload(m.Availability.OFFLINE),
                          stopped=presence_payload(m.Availability.STOPPED)),
        subscriptions=[(t, 1) for t in topics.hub_subscriptions()],
        on_message=ingest.on_message, on_connected=on_connected,
        # The link also decodes, checks and seals each submission, and writes each photo
        # aside (`hub.intake`), so that the intake's one writer thread is left with the
        # database work and the fsyncs.
        preparer=PreparerSpec(catalog, str(key_path(data.root)), root, str(data.blobs)),
        manual_ack=True, persistent_session=True, receive_maximum=1000,
        # MQTT 3.1.1 on the hub's own connection: paho builds a v5 properties object for
        # every PUBLISH and PUBACK, which cost the intake about a fifth of its throughput.
        # The broker configuration gives the same guarantees (max_inflight_messages 1000,
        # persistent_client_expiration 14d); the kiosks stay on v5.
        mqtt311=True,
    )
    ingest.attach(endpoint)
    sms = SmsDispatcher(Store(data.db, field_cipher), notifier or SpoolNotifier(data.sms_spool))
    fleet = FleetMonitor(FleetStore(data.db))
    app = create_app(db_path=data.db, catalog=catalog, calendar=calendar, topics=topics,
                     authenticate=SessionAuth(data.db, fallback=TokenAuth(data.tokens)),
                     broker_connected=endpoint.connected.is_set,
                     storage_problem=lambda: ingest.storage_problem)
    server = uvicorn.Server(uvicorn.Config(app, host=http_host, port=http_port,
                                           log_level="warning", access_log=False))
    # The web server runs on a thread of its own so that SIGTERM/SIGINT land here and the
    # hub can say `stopped` before it exits (uvicorn re-raises a signal it captured, which
    # would end the process before the MQTT goodbye).
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    web = threading.Thread(target=server.run, name="hub-web", daemon=True)
    frozen = freeze_startup_objects()
    logger.info("hub: %d objects made at start left out of garbage collection", frozen)
    ingest.start()
    sms.start()
    fleet.start()
    endpoint.start()
    web.start()
    print(f"cunban hub: http://{http_host}:{http_port}/  broker {endpoint.broker.host}:"
          f"{endpoint.broker.port}  data {data.root}  catalog {catalog.version}", flush=True)
    try:
        while not stop.wait(0.5):
            if not web.is_alive():
                logger.error("the web server stopped; shutting the hub down")
                break
    finally:
        server.should_exit = True
        web.join(timeout=10)
        endpoint.stop()
        ingest.stop()
        sms.stop()
        fleet.stop()
        store.close()
        lock.close()
    return 0
