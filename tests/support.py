"""Real parts for tests: a Mosquitto on a free port, a hub process, an MQTT listener."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from hub.broker import write_config
from protocols.mqtt import MqttEndpoint, unique_client_id

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {port}")


class Broker:
    """A Mosquitto process with the project's configuration; kill and restart at will."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = free_port()
        self.conf = write_config(workdir, port=self.port)
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> Broker:
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()


class HubProcess:
    """`cunban hub` in its own process, so a test can kill -9 it."""

    def __init__(self, data: Path, broker_url: str, *, extra: list[str] | None = None):
        self.data = data
        self.broker_url = broker_url
        self.http_port = free_port()
        self.extra = extra or []
        self.proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, wait: bool = True) -> HubProcess:
        log = open(self.data.parent / f"{self.data.name}-hub.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cunban.cli", "--log-level", "INFO", "hub",
             "--data", str(self.data), "--mqtt", self.broker_url,
             "--http", f"127.0.0.1:{self.http_port}", *self.extra],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        log.close()
        if wait:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited with {self.proc.returncode}")
            with contextlib.suppress(OSError), urllib.request.urlopen(
                    self.base + "/api/health", timeout=1) as r:
                if r.status == 200:
                    return
            time.sleep(0.1)
        raise TimeoutError("hub did not become healthy")

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def get(self, path: str, token: str | None = None) -> tuple[int, dict]:
        req = urllib.request.Request(self.base + path)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")


class Listener:
    """A plain MQTT client collecting what arrives on some topics."""

    def __init__(self, url: str, topics: list[str], *, client_id: str | None = None):
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.endpoint = MqttEndpoint(
            url, client_id or unique_client_id("test"), subscriptions=[(t, 1) for t in topics],
            on_message=lambda msg: self.messages.put((msg.topic, bytes(msg.payload))),
            persistent_session=client_id is not None)

    def __enter__(self) -> Listener:
        self.endpoint.start()
        assert self.endpoint.wait_connected(10), "listener could not connect"
        time.sleep(0.2)  # let the SUBACK land before the test publishes
        return self

    def __exit__(self, *exc) -> None:
        self.endpoint.stop()

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        deadline = time.monotonic() + 10
        while not self.endpoint.publish(topic, payload, qos=qos):
            if time.monotonic() > deadline:
                raise TimeoutError("could not publish")
            time.sleep(0.05)

    def collect(self, until, timeout: float = 20.0) -> list[tuple[str, bytes]]:
        """Gather messages until `until(collected)` is true or the timeout passes."""
        got: list[tuple[str, bytes]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not until(got):
            with contextlib.suppress(queue.Empty):
                got.append(self.messages.get(timeout=0.1))
        return got
