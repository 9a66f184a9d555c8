"""`cunban kiosk --config FILE` for real (Kivy under Xvfb, simulator devices): one MQTT
connection carries presence, heartbeats and the signed configuration the hub pushes;
officers and PINs come from the kiosk's own 0600 file, never from the configuration."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firmware_config.signing import sign_config
from kiosk import officers
from kiosk.flow.machine import check_pin
from protocols import messages as m
from protocols.examples import example_id_number
from protocols.topics import Kind, Topics
from tests.support import Listener

ROOT = Path(__file__).resolve().parents[2]
SID = "411381101202"


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cunban.cli", "kiosk", *args], cwd=ROOT,
                          input=stdin, capture_output=True, text=True, timeout=60)


def test_officers_live_in_a_private_local_file_with_hashed_pins(tmp_path):
    person = example_id_number()
    added = cli("officer", "add", "gzry-01", "--name", "王信息员", "--id-number", person,
                "--pin-stdin", "--data", str(tmp_path), stdin="2468\n")
    assert added.returncode == 0, added.stderr
    assert person not in added.stdout
    path = tmp_path / "officers.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "2468" not in path.read_text()
    [account] = officers.load(tmp_path).accounts()
    assert (account.officer_id, account.id_number) == ("gzry-01", person)
    assert check_pin("2468", account.pin_hash) and not check_pin("1357", account.pin_hash)

    listed = cli("officer", "list", "--data", str(tmp_path))
    assert json.loads(listed.stdout)["id_number"] == person[:4] + "*" * 10 + person[-4:]
    bad = cli("officer", "add", "gzry-02", "--name", "李", "--id-number", "123",
              "--pin-stdin", "--data", str(tmp_path), stdin="2468\n")
    assert bad.returncode == 2 and "没有保存" in bad.stderr
    assert cli("officer", "remove", "gzry-01", "--data", str(tmp_path)).returncode == 0
    assert officers.load(tmp_path).officers == []


def config(broker_url: str, idle_timeout: int = 90) -> dict:
    return {"station": {"id": SID, "name": "前营村便民服务站"},
            "hub": {"url": "http://127.0.0.1:8000"},
            "broker": {"url": broker_url, "heartbeat_interval": 5},
            "devices": {"idcard": {"type": "sam-simulator"},
                        "camera": {"type": "synthetic"},
                        "printer": {"type": "escpos-simulator"}},
            "ui": {"voice": False, "idle_timeout": idle_timeout}}


def _child(pid: int) -> int:
    """The app process xvfb-run started (SIGTERM goes to it, as a service manager's would)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                if "cunban.cli" in Path(f"/proc/{child}/cmdline").read_text():
                    return int(child)
        time.sleep(0.1)
    raise AssertionError("the kiosk process did not start")


@pytest.mark.skipif(not shutil.which("xvfb-run"), reason="xvfb-run (package xvfb) missing")
def test_cunban_kiosk_config_runs_the_app_applies_a_signed_configuration_and_beats(
        tmp_path, broker):
    data = tmp_path / "kiosk"
    data.mkdir()
    key = Ed25519PrivateKey.generate()
    (data / "signing.pub").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    conf = tmp_path / "kiosk.yaml"
    conf.write_text(yaml.safe_dump(config(broker.url), allow_unicode=True))
    topics = Topics()
    with Listener(broker.url, [topics.station(Kind.STATION_STATUS, SID),
                               topics.station(Kind.CONFIG_STATE, SID)]) as listener:
        proc = subprocess.Popen(
            ["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", sys.executable, "-m",
             "cunban.cli", "kiosk", "--config", str(conf), "--data", str(data),
             "--size", "1280x800", "--catalog-wait", "0"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "KIVY_NO_ARGS": "1", "KIVY_NO_CONSOLELOG": "1",
                 "KIVY_HOME": str(tmp_path / "kivy")})
        try:
            def statuses(got):
                return [m.decode(Kind.STATION_STATUS, p).data for t, p in got
                        if t.endswith("/status")]

            got = listener.collect(lambda g: any(s.state == "online" for s in statuses(g)),
                                   timeout=60)
            assert any(s.state == "online" for s in statuses(got)), proc.poll()

            desired = sign_config(key, SID, 1, config(broker.url, idle_timeout=120))
            listener.publish(topics.station(Kind.CONFIG, SID), m.encode(desired))
            got = listener.collect(lambda g: any(t.endswith("config/state") for t, _ in g)
                                   and any(s.config_version == 1 for s in statuses(g)),
                                   timeout=30)
            [report] = [m.decode(Kind.CONFIG_STATE, p).data for t, p in got
                        if t.endswith("config/state")]
            assert (report.state, report.version) == ("applied", 1), report.errors
            beat = [s for s in statuses(got) if s.config_version == 1][-1]
            assert beat.state == "online" and beat.outbox_pending == 0
            assert json.loads((data / "config.applied.json").read_text())["version"] == 1
            assert (data / "outbox.db").exists() or list(data.glob("*.db"))

            os.kill(_child(proc.pid), signal.SIGTERM)
            assert proc.wait(30) == 0, proc.stderr.read()[-3000:]
            got = listener.collect(lambda g: any(s.state == "stopped" for s in statuses(g)),
                                   timeout=10)
            assert any(s.state == "stopped" for s in statuses(got))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            # clear the retained configuration
            listener.endpoint.publish(topics.station(Kind.CONFIG, SID), b"", retain=True)
