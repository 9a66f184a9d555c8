"""The whole loop on real parts: a hub process and a kiosk process on the generated broker
configuration. A configuration pushed by a technician is signed, sent, applied and
reported; heartbeats decide online → late → offline; the Last Will marks a crash at once."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time

import httpx
import uvicorn
from fastapi import FastAPI

from hub.auth import TokenAuth
from hub.fleet.api import mount_fleet
from hub.fleet.health import Thresholds
from tests.support import ROOT, free_port

SID = "411381101201"


def config_file(deployment, tmp_path) -> str:
    path = tmp_path / "kiosk.json"
    path.write_text(
        json.dumps(
            {
                "station": {"id": SID, "name": "关庄村便民服务站"},
                "hub": {"url": "https://localhost"},
                "broker": {"url": f"mqtts://localhost:{deployment.tls_port}"},
                "tls": {"ca_file": deployment.ca},
                "devices": {
                    "camera": {"type": "synthetic"},
                    "printer": {"type": "escpos-simulator"},
                },
            }
        )
    )
    return str(path)


def poll(fn, until, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if until(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def station(base: str, token: str) -> dict:
    r = httpx.get(f"{base}/api/fleet", headers={"Authorization": f"Bearer {token}"})
    r.raise_for_status()
    return next(s for s in r.json()["stations"] if s["sid"] == SID)


def test_a_pushed_configuration_reaches_the_kiosk_and_its_report_reaches_the_fleet_api(
    deployment, hub, kiosk, tmp_path
):
    token = TokenAuth(deployment.data / "api-tokens.json").issue("张技术员", "technician")
    officer = TokenAuth(deployment.data / "api-tokens.json").issue("王科员", "officer", "LLB")
    proc = kiosk()
    pushed = subprocess.run(
        [
            sys.executable,
            "-m",
            "cunban.cli",
            "fleet",
            "push-config",
            SID,
            config_file(deployment, tmp_path),
            "--data",
            str(deployment.data),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert pushed.returncode == 0, pushed.stderr
    seen = poll(
        lambda: station(hub.base, token),
        lambda s: s["config"]["state"] == "applied" and s["config"]["applied"] == 1,
    )
    assert seen["config"] == {
        "desired": 1,
        "applied": 1,
        "reported": 1,
        "state": "applied",
        "errors": [],
    }
    assert seen["availability"] == "online"
    assert abs(seen["clock_skew_s"]) < 5
    free = shutil.disk_usage(tmp_path).free // (1024 * 1024)
    assert seen["outbox_pending"] == 0
    assert abs(seen["disk_free_mb"] - free) < 512  # the kiosk's figure, not a default
    denied = httpx.get(f"{hub.base}/api/fleet", headers={"Authorization": f"Bearer {officer}"})
    assert denied.status_code == 403

    proc.kill()  # kill -9: no DISCONNECT, so the broker sends the Last Will at once
    killed = time.monotonic()
    seen = poll(lambda: station(hub.base, token), lambda s: s["availability"] == "crashed")
    assert seen["availability"] == "crashed"
    assert time.monotonic() - killed < 5
    detail = httpx.get(
        f"{hub.base}/api/fleet/{SID}", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert [h["availability"] for h in detail["history"]][:2] == ["crashed", "online"]
    assert detail["disk_free_mb"] is not None  # the Last Will does not erase the last figure


def test_a_station_that_stops_beating_turns_late_then_offline_while_still_connected(
    deployment, hub, kiosk
):
    limits = Thresholds(interval=0.5)  # late after 0.75 s, offline after 1.5 s
    app = FastAPI()
    technician = type("A", (), {"name": "张技术员", "role": "technician"})()
    mount_fleet(
        app, db_path=deployment.data / "hub.db", authenticate=lambda r: technician, limits=limits
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    poll(lambda: server.started, bool)
    base = f"http://127.0.0.1:{port}"
    try:
        proc = kiosk(interval=limits.interval)
        assert (
            poll(lambda: station(base, "any")["availability"], lambda a: a == "online") == "online"
        )
        proc.stdin.write("pause\n")
        proc.stdin.flush()
        paused = time.monotonic()
        assert (
            poll(lambda: station(base, "any")["availability"], lambda a: a == "late", 5) == "late"
        )
        assert (
            poll(lambda: station(base, "any")["availability"], lambda a: a == "offline", 5)
            == "offline"
        )
        # Detected within the timeout plus one heartbeat's slack (no Last Will involved).
        assert time.monotonic() - paused < limits.offline_after + limits.interval + 1.0
        assert proc.poll() is None
    finally:
        server.should_exit = True
