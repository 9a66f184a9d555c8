"""The station registry on a real database: hashes only, one-time and expiring tokens,
reissue, and the technicians' fleet API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient

from hub.db.fleet import FleetStore
from hub.fleet.api import mount_fleet
from hub.fleet.pki import init_pki
from hub.fleet.registry import FleetError, Registry, check_mosquitto_hash
from hub.service import Actor

SID = "411381101201"


class Clock:
    def __init__(self):
        self.now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)

    def __call__(self):
        return self.now


@pytest.fixture
def store(tmp_path):
    s = FleetStore.open(tmp_path / "hub.db")
    yield s
    s.close()


def test_the_database_keeps_no_password_or_token_in_clear(store, tmp_path):
    new = Registry(store).add_station(SID, "关庄村")
    assert check_mosquitto_hash(new.password, store.account(new.username)["password_hash"])
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("hub.db*"))
    assert SID.encode() in raw  # the files read are the ones that hold the registry
    assert new.password.encode() not in raw
    assert new.enrolment_token.encode() not in raw


def test_a_station_is_registered_once_and_only_with_a_division_code(store):
    registry = Registry(store)
    registry.add_station(SID)
    with pytest.raises(FleetError, match="已登记"):
        registry.add_station(SID)
    with pytest.raises(FleetError, match="12位"):
        registry.add_station("41138110")


def test_an_enrolment_token_expires_after_seven_days(store):
    clock = Clock()
    registry = Registry(store, clock)
    new = registry.add_station(SID)
    clock.now += timedelta(days=7, minutes=1)
    with pytest.raises(FleetError, match="过期"):
        registry.enroll(new.enrolment_token)


def test_reissue_replaces_the_password_and_the_token(store):
    registry = Registry(store)
    old = registry.add_station(SID)
    new = registry.reissue(SID)
    stored = store.account(old.username)["password_hash"]
    assert not check_mosquitto_hash(old.password, stored)
    assert check_mosquitto_hash(new.password, stored)
    with pytest.raises(FleetError):
        registry.enroll(old.enrolment_token)
    assert registry.enroll(new.enrolment_token).password == new.password


def test_a_revoked_station_can_neither_enrol_nor_be_reissued(store):
    registry = Registry(store)
    new = registry.add_station(SID)
    registry.revoke(SID)
    with pytest.raises(FleetError):
        registry.enroll(new.enrolment_token)
    with pytest.raises(FleetError, match="吊销"):
        registry.reissue(SID)
    assert [a["username"] for a in store.active_accounts()] == []


@pytest.fixture
def api(store, tmp_path):
    init_pki(tmp_path)
    Registry(store).add_station(SID, "关庄村")
    actors = {
        "tech": Actor("张技术员", "technician"),
        "officer": Actor("王科员", "officer", department="LLB"),
    }

    def authenticate(request):
        who = request.headers.get("x-who")
        if who not in actors:
            raise HTTPException(401, "请先登录")
        return actors[who]

    app = FastAPI()
    mount_fleet(app, db_path=tmp_path / "hub.db", authenticate=authenticate)
    return TestClient(app)


GOOD = {
    "station": {"id": SID, "name": "关庄村便民服务站"},
    "hub": {"url": "https://hub.example.cn"},
    "broker": {"url": "mqtt://127.0.0.1:1883"},
    "services": {"photo_materials": False, "print_receipts": False},
}


def test_a_technician_pushes_a_configuration_through_the_api(api, store):
    tech = {"x-who": "tech"}
    assert api.post(f"/api/fleet/{SID}/config", json=GOOD, headers=tech).json()["version"] == 1
    assert api.post(f"/api/fleet/{SID}/config", json=GOOD, headers=tech).json()["version"] == 2
    unsent = store.unsent_outgoing()
    assert [r["topic"] for r in unsent] == [f"cunban/station/{SID}/config"] * 2
    assert all(r["retain"] for r in unsent)
    bad = {**GOOD, "ui": {"idle_timeout": 3}, "extra": 1}
    r = api.post(f"/api/fleet/{SID}/config", json=bad, headers=tech)
    assert r.status_code == 422
    assert {p["path"] for p in r.json()["detail"]} == {"ui.idle_timeout", "extra"}
    other = {**GOOD, "station": {"id": "411381101202", "name": "别村"}}
    assert api.post(f"/api/fleet/{SID}/config", json=other, headers=tech).status_code == 409
    view = api.get(f"/api/fleet/{SID}", headers=tech).json()
    assert (view["availability"], view["config"]["desired"]) == ("never", 2)


def test_only_technicians_see_the_fleet(api):
    assert api.get("/api/fleet").status_code == 401
    assert api.get("/api/fleet", headers={"x-who": "officer"}).status_code == 403
    assert (
        api.post(f"/api/fleet/{SID}/config", json=GOOD, headers={"x-who": "officer"}).status_code
        == 403
    )
    listing = api.get("/api/fleet?town=411381101", headers={"x-who": "tech"}).json()
    assert [s["sid"] for s in listing["stations"]] == [SID]
    assert api.get("/api/fleet?town=411381102", headers={"x-who": "tech"}).json()["stations"] == []
