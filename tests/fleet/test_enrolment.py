"""Enrolment over HTTPS: one-time token, tight file modes, credentials that work on the
broker, and a configuration verified before it is kept."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest
import uvicorn
from fastapi import FastAPI, HTTPException

from firmware_config.signing import load_private_key
from hub.fleet.api import mount_fleet
from hub.fleet.configs import push_config
from hub.fleet.pki import PkiPaths
from kiosk.enroll import EnrolError, enroll
from protocols.topics import Topics
from tests.support import free_port

SID = "411381101201"


def kiosk_config(dep, kiosk_dir) -> dict:
    return {
        "station": {"id": SID, "name": "关庄村便民服务站"},
        "hub": {"url": "https://localhost"},
        "broker": {"url": f"mqtts://localhost:{dep.tls_port}"},
        "tls": {
            "ca_file": str(kiosk_dir / "tls" / "ca.pem"),
            "credentials_file": str(kiosk_dir / "tls" / "mqtt.json"),
        },
        "devices": {"camera": {"type": "synthetic"}, "printer": {"type": "escpos-simulator"}},
    }


def no_officers(request):
    raise HTTPException(401, "请先登录")


@pytest.fixture
def https_hub(deployment):
    app = FastAPI()
    mount_fleet(app, db_path=deployment.data / "hub.db", authenticate=no_officers)
    pki = PkiPaths.of(deployment.data)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            ssl_certfile=str(pki.broker_cert),
            ssl_keyfile=str(pki.broker_key),
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"https://localhost:{port}"
    server.should_exit = True
    thread.join(5)


def push(dep, raw: dict):
    key = load_private_key(PkiPaths.of(dep.data).signing_key)
    return push_config(dep.store, key, Topics(), SID, raw)


def test_a_kiosk_enrols_over_https_and_its_credentials_work_on_the_broker(
    deployment, https_hub, tmp_path, clients
):
    kiosk = tmp_path / "kiosk"
    push(deployment, kiosk_config(deployment, kiosk))
    token = deployment.stations[SID].enrolment_token
    done = enroll(https_hub, token, kiosk, ca_file=deployment.ca)
    assert (done["sid"], done["version"]) == (SID, 1)
    creds = kiosk / "tls" / "mqtt.json"
    assert oct(os.stat(creds).st_mode & 0o777) == "0o600"
    assert oct(os.stat(kiosk).st_mode & 0o777) == "0o700"
    stored = json.loads(creds.read_text())
    assert stored["password"] == deployment.stations[SID].password
    c = clients(
        deployment.tls_port,
        stored["username"],
        stored["password"],
        ca=str(kiosk / "tls" / "ca.pem"),
    )
    assert c.connect("localhost"), c.result
    assert json.loads((kiosk / "config.applied.json").read_text())["version"] == 1
    # The hub kept nothing it could reveal again.
    row = deployment.store.fleet_station(SID)
    assert row["enrolled_at"] and row["enrol_sealed_password"] is None


def test_an_enrolment_token_works_only_once(deployment, https_hub, tmp_path):
    push(deployment, kiosk_config(deployment, tmp_path / "k1"))
    token = deployment.stations[SID].enrolment_token
    enroll(https_hub, token, tmp_path / "k1", ca_file=deployment.ca)
    with pytest.raises(EnrolError, match="登记码无效或已用过"):
        enroll(https_hub, token, tmp_path / "k2", ca_file=deployment.ca)
    with pytest.raises(EnrolError, match="登记码无效"):
        enroll(https_hub, "x" * 32, tmp_path / "k3", ca_file=deployment.ca)


def test_enrolment_before_any_configuration_leaves_the_token_unspent(
    deployment, https_hub, tmp_path
):
    token = deployment.stations[SID].enrolment_token
    with pytest.raises(EnrolError, match="还没有配置"):
        enroll(https_hub, token, tmp_path / "k", ca_file=deployment.ca)
    push(deployment, kiosk_config(deployment, tmp_path / "k"))
    assert enroll(https_hub, token, tmp_path / "k", ca_file=deployment.ca)["version"] == 1


def test_enrolment_refuses_plain_http_to_a_remote_hub_and_an_unknown_certificate(
    deployment, https_hub, tmp_path
):
    token = deployment.stations[SID].enrolment_token
    with pytest.raises(EnrolError, match="https://"):
        enroll("http://hub.example.cn", token, tmp_path / "k")
    with pytest.raises(EnrolError, match="连不上"):
        enroll(https_hub, token, tmp_path / "k")  # system CAs do not know the county's CA
    assert deployment.store.fleet_station(SID)["enrolled_at"] is None


def test_the_kiosk_enroll_command_stores_the_grant(deployment, https_hub, tmp_path):
    import subprocess
    import sys

    kiosk = tmp_path / "kiosk"
    push(deployment, kiosk_config(deployment, kiosk))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cunban.cli",
            "kiosk",
            "enroll",
            "--hub",
            https_hub,
            "--token",
            deployment.stations[SID].enrolment_token,
            "--data",
            str(kiosk),
            "--ca",
            deployment.ca,
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert SID in done.stdout
    assert json.loads((kiosk / "kiosk.json").read_text())["station"]["id"] == SID
