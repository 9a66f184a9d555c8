"""Signed desired configuration on the kiosk: verified, forward-only, validated, applied
with the real drivers (over their pty simulators), rolled back when devices fail."""

from __future__ import annotations

import json
import os

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firmware_config.signing import sign_config
from kiosk.config import ConfigAgent
from protocols import messages as m
from protocols.topics import Kind, Topics

SID = "411381101201"


def config(**devices) -> dict:
    return {
        "station": {"id": SID, "name": "关庄村便民服务站"},
        "hub": {"url": "https://hub.example.cn"},
        "broker": {"url": "mqtt://127.0.0.1:1883"},
        "devices": devices
        or {
            "idcard": {"type": "sam-simulator"},
            "camera": {"type": "synthetic", "width": 640, "height": 480},
            "scanner": {"type": "serial-simulator"},
            "printer": {"type": "escpos-simulator"},
        },
    }


@pytest.fixture
def key():
    return Ed25519PrivateKey.generate()


@pytest.fixture
def agent(tmp_path, key):
    published: list[tuple[str, bytes]] = []
    a = ConfigAgent(
        SID,
        tmp_path / "kiosk",
        key.public_key(),
        lambda topic, payload: published.append((topic, payload)),
    )
    a.published = published
    yield a
    a.close()


def payload(key, version: int, cfg: dict, sid: str = SID) -> bytes:
    return m.encode(sign_config(key, sid, version, cfg))


def test_a_signed_configuration_is_applied_with_the_real_drivers_and_reported(agent, key):
    report = agent.handle(payload(key, 1, config()))
    assert (report.state, report.version) == ("applied", 1), report.errors
    assert sorted(agent.devices.drivers) == ["camera", "idcard", "printer", "scanner"]
    assert agent.devices.drivers["idcard"].health().state == "ok"
    assert agent.devices.drivers["printer"].health().state == "ok"
    assert agent.devices.drivers["camera"].read_frame().shape[:2] == (480, 640)
    topic, sent = agent.published[-1]
    assert topic == Topics().station(Kind.CONFIG_STATE, SID)
    assert m.decode(Kind.CONFIG_STATE, sent).data == report
    assert agent.version == 1
    assert oct(os.stat(agent.state_file).st_mode & 0o777) == "0o600"


def test_a_tampered_configuration_is_rejected_and_nothing_changes(agent, key):
    agent.handle(payload(key, 1, config()))
    raw = json.loads(payload(key, 2, config()))
    raw["data"]["config"]["broker"]["url"] = "mqtt://127.0.0.2:1883"
    report = agent.handle(json.dumps(raw).encode())
    assert (report.state, report.version) == ("rejected", 2)
    assert "签名" in report.errors[0]
    assert agent.version == 1


def test_a_configuration_signed_by_another_key_or_for_another_station_is_rejected(agent, key):
    other = Ed25519PrivateKey.generate()
    assert agent.handle(payload(other, 1, config())).state == "rejected"
    assert agent.handle(payload(key, 1, config(), sid="411381101202")).state == "rejected"
    assert agent.version == 0


def test_an_older_configuration_replayed_is_rejected_and_the_retained_copy_ignored(agent, key):
    v1 = payload(key, 1, config())
    assert agent.handle(v1).state == "applied"
    v2 = payload(key, 2, config(camera={"type": "synthetic"}, printer={"type": "escpos-simulator"}))
    assert agent.handle(v2).state == "applied"
    replay = agent.handle(v1)
    assert (replay.state, replay.version) == ("rejected", 1)
    assert "不比已生效的版本 2 新" in replay.errors[0]
    # The retained message after a reconnect: the same report again, nothing re-applied.
    devices = agent.devices
    again = agent.handle(v2)
    assert (again.state, again.version) == ("applied", 2)
    assert agent.devices is devices
    assert agent.version == 2


def test_the_version_floor_survives_a_restart(tmp_path, key):
    first = ConfigAgent(SID, tmp_path, key.public_key(), lambda *a: None)
    first.handle(
        payload(key, 3, config(camera={"type": "synthetic"}, printer={"type": "escpos-simulator"}))
    )
    first.close()
    again = ConfigAgent(SID, tmp_path, key.public_key(), lambda *a: None)
    assert again.handle(payload(key, 2, config())).state == "rejected"
    again.close()


def test_a_signed_but_invalid_configuration_is_rejected_with_every_path(agent, key):
    cfg = config()
    cfg["devices"]["printer"]["width_mm"] = 76
    cfg["ui"] = {"idle_timeout": 1}
    report = agent.handle(payload(key, 1, cfg))
    assert report.state == "rejected"
    assert {e.split(":")[0] for e in report.errors} == {
        "devices.printer.width_mm",
        "ui.idle_timeout",
    }


def test_a_configuration_whose_devices_fail_is_rolled_back(agent, key, tmp_path):
    assert agent.handle(payload(key, 1, config())).state == "applied"
    broken = config()
    broken["devices"]["printer"] = {"type": "escpos-serial", "port": str(tmp_path / "ttyNone")}
    report = agent.handle(payload(key, 2, broken))
    assert (report.state, report.version) == ("rejected", 2)
    assert report.errors[0].startswith("devices.printer:")
    assert "已退回到版本 1" in report.errors[1]
    assert agent.version == 1
    # The previous devices are back and work.
    assert agent.devices.drivers["printer"].health().state == "ok"
    assert agent.devices.drivers["idcard"].health().state == "ok"


def test_peripheral_settings_are_written_into_the_training_kiosks_printer(agent, key):
    from device_drivers.printer.sim import PrinterSimulator

    cfg = config()
    cfg["devices"]["printer"]["internal"] = {"density": 6}
    report = agent.handle(payload(key, 1, cfg))
    assert (report.state, report.errors) == ("applied", [])
    sim = next(s for s in agent.devices.simulators if isinstance(s, PrinterSimulator))
    assert sim.wait_for(lambda _: sim.settings.get("density") == 6)


def test_the_kiosk_is_told_which_changes_need_a_restart(tmp_path, key):
    told = []
    agent = ConfigAgent(
        SID,
        tmp_path,
        key.public_key(),
        lambda *a: None,
        on_applied=lambda cfg, restart: told.append(restart),
    )
    base = config(camera={"type": "synthetic"}, printer={"type": "escpos-simulator"})
    agent.handle(payload(key, 1, base))
    agent.handle(payload(key, 2, {**base, "ui": {"voice": False}}))
    agent.handle(payload(key, 3, {**base, "broker": {"url": "mqtt://127.0.0.1:1884"}}))
    agent.close()
    assert told == [["station", "hub", "broker"], [], ["broker"]]
