"""Local processes for benchmarks and fault drills: a Mosquitto on a free port, a hub.

`Broker` runs the project's own Mosquitto configuration (optionally with a small
`max_queued_messages`, to show what a default-sized queue does); `HubProcess` runs
`cunban hub` in its own process so it can be killed with SIGKILL and measured (peak RSS).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from hub.broker import write_config

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

    def __init__(self, workdir: Path, *, max_queued_messages: int | None = None):
        self.workdir = workdir
        self.port = free_port()
        self.conf = write_config(workdir, port=self.port)
        if max_queued_messages is not None:
            lines = [f"max_queued_messages {max_queued_messages}"
                     if line.startswith("max_queued_messages ") else line
                     for line in self.conf.read_text(encoding="utf-8").splitlines()]
            self.conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
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

    def __init__(self, data: Path, broker_url: str, *, extra: list[str] | None = None,
                 wrapper: list[str] | None = None):
        self.data = data
        self.broker_url = broker_url
        self.http_port = free_port()
        self.extra = extra or []
        self.wrapper = wrapper or []  # e.g. a sampling profiler's command line
        self.proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, wait: bool = True) -> HubProcess:
        for _ in range(3):
            logged = self.log_path.stat().st_size if self.log_path.exists() else 0
            self._spawn()
            if not wait:
                return self
            try:
                self.wait_healthy()
                return self
            except RuntimeError:
                # free_port() only found a port free a moment ago: another process may have
                # bound it since. Try a fresh one; any other failure is the hub's own.
                if "address already in use" not in self.log_since(logged):
                    raise
                self.http_port = free_port()
        raise RuntimeError("hub could not bind an HTTP port")

    @property
    def log_path(self) -> Path:
        return self.data.parent / f"{self.data.name}-hub.log"

    def log_since(self, offset: int) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_bytes()[offset:].decode("utf-8", "replace")
        return ""

    def _spawn(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [*self.wrapper, sys.executable, "-m", "cunban.cli", "--log-level", "INFO", "hub",
             "--data", str(self.data), "--mqtt", self.broker_url,
             "--http", f"127.0.0.1:{self.http_port}", *self.extra],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        log.close()

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

    def hub_pid(self) -> int | None:
        """The hub's own process (the started one, or its child under a wrapper)."""
        with contextlib.suppress(OSError, AttributeError):
            for pid in _self_and_children(self.proc.pid):
                if "cunban.cli" in Path(f"/proc/{pid}/cmdline").read_text():
                    return pid
        return None

    def link_pids(self) -> list[int]:
        """The hub's own child processes (its MQTT link)."""
        pid = self.hub_pid()
        with contextlib.suppress(OSError, TypeError):
            return _self_and_children(pid)[1:]
        return []

    def peak_rss(self) -> int | None:
        """The hub's peak resident set in bytes (VmHWM), while it runs."""
        with contextlib.suppress(OSError, TypeError):
            status = Path(f"/proc/{self.hub_pid()}/status").read_text()
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return None

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


def _self_and_children(pid: int) -> list[int]:
    """A process and its children (started by any of its threads)."""
    kids = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            kids += children.read_text().split()
    return [pid, *(int(k) for k in kids)]
