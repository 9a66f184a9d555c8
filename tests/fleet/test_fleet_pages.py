"""The technicians' /fleet pages on a fresh hub database: the station table and its
filters, a station's page with its history, pushing a configuration from the form, and who
may see them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from firmware_config.signing import load_private_key, load_public_key, verify_config
from hub.app import create_app
from hub.auth import Accounts, SessionAuth
from hub.calendar import WorkCalendar
from hub.catalog import load_catalog
from hub.db import fleet as fleet_db
from hub.db import migrate
from hub.db.fleet import FleetStore
from hub.db.web import WebStore
from hub.fleet.configs import push_config
from hub.fleet.pki import PkiPaths, init_pki
from hub.fleet.registry import Registry
from protocols import messages as m
from protocols.topics import Kind, Topics
from tests.web.conftest import PASSWORD, csrf_of

ONLINE, SILENT, OTHER_TOWN = "411381101201", "411381101202", "411381102203"


def config(sid: str, **extra) -> dict:
    return {
        "station": {"id": sid, "name": "关庄村便民服务站"},
        "hub": {"url": "https://hub.example.cn"},
        "broker": {"url": "mqtt://127.0.0.1:1883"},
        "devices": {"printer": {"type": "escpos-simulator"}},
        "services": {"photo_materials": False},
        **extra,
    }


@pytest.fixture
def hub(tmp_path):
    db = tmp_path / "hub.db"
    migrate(db)
    init_pki(tmp_path)
    store = FleetStore(db)
    registry = Registry(store)
    now = datetime.now(UTC)
    for sid, name in ((ONLINE, "关庄村"), (SILENT, "小杨营村"), (OTHER_TOWN, "桑庄村")):
        registry.add_station(sid, name)
    push_config(store, load_private_key(PkiPaths.of(tmp_path).signing_key), Topics(), ONLINE,
                config(ONLINE))
    with store.transaction() as tx:
        tx.upsert_station(ONLINE, "online", "cunban-kiosk 0.1.0", 1, 7, now.isoformat())
        fleet_db.record_status(tx, ONLINE, "online", now.isoformat(), 0.2, heartbeat=True,
                               disk_free_mb=2048)
        tx.upsert_device_state(ONLINE, "printer", "warning", "paper_low", "纸快用完了",
                               now.isoformat())
        long_ago = (now - timedelta(minutes=10)).isoformat()
        tx.upsert_station(SILENT, "online", "cunban-kiosk 0.1.0", None, 0, long_ago)
        fleet_db.record_status(tx, SILENT, "online", long_ago, 0.0, heartbeat=True)
    store.append_history(SILENT, (now - timedelta(minutes=8)).isoformat(), "offline")
    accounts = Accounts(WebStore(db))
    accounts.create_user("tech", PASSWORD, "technician")
    accounts.create_user("clerk", PASSWORD, "officer",
                         department=load_catalog().departments[0].code)
    store.close()
    app = create_app(db_path=db, catalog=load_catalog(), calendar=WorkCalendar.load(),
                     topics=Topics(), authenticate=SessionAuth(db))
    return app, tmp_path


def client_for(app, username: str | None) -> TestClient:
    client = TestClient(app, follow_redirects=False)
    if username:
        page = client.get("/login")
        r = client.post("/login", data={"username": username, "password": PASSWORD,
                                        "csrf": csrf_of(page.text)})
        assert r.status_code == 303, r.text
    return client


def rows(html: str) -> set[str]:
    return {sid for sid in (ONLINE, SILENT, OTHER_TOWN) if f'data-sid="{sid}"' in html}


def test_a_technician_logs_in_to_the_fleet_and_sees_every_station(hub):
    app, _ = hub
    client = TestClient(app, follow_redirects=False)
    page = client.get("/login")
    r = client.post("/login", data={"username": "tech", "password": PASSWORD,
                                    "csrf": csrf_of(page.text)})
    assert r.headers["location"] == "/fleet"
    html = client.get("/fleet").text
    assert rows(html) == {ONLINE, SILENT, OTHER_TOWN}
    line = html.split(f'data-sid="{ONLINE}"')[1].split("</tr>")[0]
    assert 'data-availability="online"' in line and "在线" in line
    assert "打印机 注意" in line  # device health
    assert 'data-config="1"' in line and 'data-backlog="7"' in line
    assert 'data-disk="2048"' in line and "2048 MB" in line
    assert 'data-availability="offline"' in html.split(f'data-sid="{SILENT}"')[1]
    assert 'data-availability="never"' in html.split(f'data-sid="{OTHER_TOWN}"')[1]


def test_the_fleet_filters_by_town_and_by_availability(hub):
    client = client_for(hub[0], "tech")
    assert rows(client.get("/fleet?town=411381101").text) == {ONLINE, SILENT}
    assert rows(client.get("/fleet?town=411381102").text) == {OTHER_TOWN}
    assert rows(client.get("/fleet?availability=offline").text) == {SILENT}
    assert rows(client.get("/fleet?town=411381102&availability=online").text) == set()


def test_only_technicians_and_admins_see_the_fleet(hub):
    app, _ = hub
    assert client_for(app, None).get("/fleet").headers["location"] == "/login"
    officer = client_for(app, "clerk")
    assert officer.get("/fleet").status_code == 403
    assert officer.get(f"/fleet/{ONLINE}").status_code == 403
    assert 'href="/fleet"' not in officer.get("/workbench").text


def test_a_station_page_shows_its_devices_configuration_and_history(hub):
    client = client_for(hub[0], "tech")
    html = client.get(f"/fleet/{SILENT}").text
    history = html.split('id="history"')[1]
    assert history.index("离线") < history.index("在线")  # newest first
    html = client.get(f"/fleet/{ONLINE}").text
    assert "纸快用完了" in html and "paper_low" in html
    assert "cunban-kiosk 0.1.0" in html
    form = html.split('id="push-config"')[1]
    assert "&#34;escpos-simulator&#34;" in form  # the current configuration to edit
    assert client.get("/fleet/411381199999").status_code == 404


def test_a_configuration_pushed_from_the_station_page_is_signed_and_queued(hub):
    app, root = hub
    client = client_for(app, "tech")
    page = client.get(f"/fleet/{ONLINE}").text
    text = "\n".join([
        f"station: {{id: '{ONLINE}', name: 关庄村便民服务站}}",
        "hub: {url: 'https://hub.example.cn'}",
        "broker: {url: 'mqtt://127.0.0.1:1883', heartbeat_interval: 60}",
        "devices: {printer: {type: escpos-simulator}}",
        "services: {photo_materials: false}",
    ])
    r = client.post(f"/fleet/{ONLINE}/config", data={"csrf": csrf_of(page), "config": text})
    assert r.status_code == 303 and r.headers["location"] == f"/fleet/{ONLINE}?pushed=2"
    assert "第 2 版配置已签名下发" in client.get(r.headers["location"]).text
    store = FleetStore(root / "hub.db")
    try:
        queued = [o for o in store.unsent_outgoing()
                  if o["topic"] == Topics().station(Kind.CONFIG, ONLINE)]
        assert queued[-1]["retain"]
        desired = m.decode(Kind.CONFIG, queued[-1]["payload"]).data
    finally:
        store.close()
    assert desired.version == 2 and desired.config["broker"]["heartbeat_interval"] == 60
    verify_config(load_public_key(PkiPaths.of(root).signing_pub), ONLINE, desired)


def test_a_push_without_the_form_token_is_refused(hub):
    app, root = hub
    client = client_for(app, "tech")
    r = client.post(f"/fleet/{ONLINE}/config",
                    data={"csrf": "forged", "config": json.dumps(config(ONLINE))})
    assert r.status_code == 403
    store = FleetStore(root / "hub.db")
    try:
        assert store.latest_config(ONLINE)["version"] == 1
    finally:
        store.close()


def test_an_invalid_configuration_is_shown_back_with_every_problem_and_not_sent(hub):
    app, root = hub
    client = client_for(app, "tech")
    page = client.get(f"/fleet/{ONLINE}").text
    bad = config(ONLINE, devices={"printer": {"type": "escpos-simulator", "baudrate": 1234}})
    r = client.post(f"/fleet/{ONLINE}/config",
                    data={"csrf": csrf_of(page), "config": json.dumps(bad)})
    assert r.status_code == 422
    assert "devices.printer.baudrate" in r.text.split('id="problems"')[1]
    assert "1234" in r.text.split('id="push-config"')[1]  # the technician's text is kept
    other = client.post(f"/fleet/{ONLINE}/config",
                        data={"csrf": csrf_of(page), "config": json.dumps(config(SILENT))})
    assert other.status_code == 409  # a configuration for another station
    store = FleetStore(root / "hub.db")
    try:
        assert store.latest_config(ONLINE)["version"] == 1
    finally:
        store.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_fleet_pages_render_in_both_languages(hub, lang):
    client = client_for(hub[0], "tech")
    client.cookies.set("lang", lang)
    for path in ("/fleet", f"/fleet/{ONLINE}", f"/fleet/{SILENT}", f"/fleet/{OTHER_TOWN}"):
        r = client.get(path)
        assert r.status_code == 200, path
    assert ("Online" if lang == "en" else "在线") in client.get("/fleet").text
