"""A deployment for fleet tests: registry, PKI and a real Mosquitto running the
configuration `cunban broker config` generates."""

from __future__ import annotations

import contextlib
import json
import queue
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hub.db.fleet import FleetStore
from hub.fleet.broker import write_broker_config
from hub.fleet.pki import init_pki
from hub.fleet.registry import NewStation, Registry
from tests.support import ROOT, HubProcess, free_port, wait_port


@dataclass
class Deployment:
    data: Path
    out: Path
    port: int
    tls_port: int
    store: FleetStore
    stations: dict[str, NewStation] = field(default_factory=dict)
    proc: subprocess.Popen | None = None

    @property
    def hub_credentials(self) -> dict:
        return json.loads((self.out / "hub-credentials.json").read_text())

    @property
    def ca(self) -> str:
        return str(self.data / "pki" / "ca.pem")

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["mosquitto", "-c", str(self.out / "mosquitto.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)
        wait_port(self.tls_port)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class Client:
    """A bare paho client recording its connect result and what it receives."""

    def __init__(
        self,
        port: int,
        username: str | None,
        password: str | None,
        ca: str | None = None,
        client_id: str = "",
    ):
        self.connected = threading.Event()
        self.result: paho.ReasonCode | None = None
        self.disconnected = threading.Event()
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
        if username is not None:
            c.username_pw_set(username, password)
        if ca:
            c.tls_set(ca_certs=ca, cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        c.on_connect = self._on_connect
        c.on_disconnect = lambda *a: self.disconnected.set()
        c.on_message = lambda _c, _u, m: self.messages.put((m.topic, bytes(m.payload)))
        self.client = c
        self.port = port

    def _on_connect(self, client, userdata, flags, reason, props):
        self.result = reason
        if not reason.is_failure:
            self.connected.set()
        else:
            self.disconnected.set()

    def connect(self, host: str = "127.0.0.1", timeout: float = 5) -> bool:
        try:
            self.client.connect(host, self.port, keepalive=30)
        except (OSError, ssl.SSLError):
            return False
        self.client.loop_start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.connected.is_set():
                return True
            if self.disconnected.is_set():
                return False
            time.sleep(0.02)
        return False

    def subscribe(self, topic: str) -> None:
        self.client.subscribe(topic, qos=1)
        time.sleep(0.2)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def drain(self, wait: float = 0.6) -> list[tuple[str, bytes]]:
        got, deadline = [], time.monotonic() + wait
        while time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                got.append(self.messages.get(timeout=0.05))
        return got

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def deployment(tmp_path) -> Deployment:
    data, out = tmp_path / "hub", tmp_path / "broker"
    data.mkdir()
    store = FleetStore.open(data / "hub.db")
    init_pki(data)
    dep = Deployment(data, out, free_port(), free_port(), store)
    registry = Registry(store)
    for sid in ("411381101201", "411381101202"):
        dep.stations[sid] = registry.add_station(sid, f"村 {sid[-3:]}")
    write_broker_config(
        store, data, out, port=dep.port, tls_port=dep.tls_port, tls_bind="127.0.0.1"
    )
    dep.start()
    yield dep
    dep.stop()
    store.close()


@pytest.fixture
def clients():
    made: list[Client] = []

    def make(*args, **kwargs) -> Client:
        c = Client(*args, **kwargs)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def hub(deployment, tmp_path):
    h = HubProcess(deployment.data, f"mqtt://127.0.0.1:{deployment.port}", extra=[
        "--mqtt-credentials", str(deployment.out / "hub-credentials.json")]).start()
    yield h
    h.stop()


KIOSK_SID = "411381101201"


@pytest.fixture
def kiosk(deployment, tmp_path):
    """Start the station process with enrolment material written as enrolment writes it."""
    state = tmp_path / "kiosk"
    state.mkdir()
    station = deployment.stations[KIOSK_SID]
    (state / "mqtt.json").write_text(
        json.dumps({"username": station.username, "password": station.password})
    )
    procs = []

    def start(interval: float = 0.5) -> subprocess.Popen:
        args = {
            "sid": KIOSK_SID,
            "url": f"mqtts://localhost:{deployment.tls_port}",
            "ca": deployment.ca,
            "credentials": str(state / "mqtt.json"),
            "key": str(deployment.data / "pki" / "signing.pub"),
            "state": str(state),
            "interval": interval,
        }
        p = subprocess.Popen(
            [sys.executable, "-m", "tests.fleet.kiosk_process", json.dumps(args)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert p.stdout.readline().strip() == "ready"
        procs.append(p)
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait(5)
