"""SMS through the real modem driver, the department API over HTTP, and migrations."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from device_drivers.modem.driver import GsmModem
from device_drivers.modem.sim import ModemSimulator
from hub.app import create_app
from hub.auth import TokenAuth
from hub.calendar import WorkCalendar
from hub.catalog import load_catalog
from hub.db import migrate
from hub.db.repositories import Store
from hub.notify import SmsDispatcher
from hub.service import ApplicationService
from protocols import messages as m
from protocols.examples import example_submit
from protocols.topics import Kind, Topics

SID = "411381101201"
LONG_TEXT = "【村办】您的申请已受理，办件编号XK000120004113812026112700001。" * 3


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "hub.db")
    yield s
    s.close()


def _queue(store, text, phone="13800138000"):
    now = datetime.now(UTC).isoformat()
    with store.transaction():
        store.queue_sms(application_id=None, event_seq=1, phone=phone, text=text, at=now)


def test_sms_goes_out_through_the_modem_and_is_marked_sent(store):
    with ModemSimulator() as sim:
        _queue(store, LONG_TEXT)
        sent = SmsDispatcher(store, GsmModem(sim.port, retries=0)).run_once()
        assert sent == 1
        assert sim.texts() == [("+8613800138000", LONG_TEXT)]
    row = store.db.execute("SELECT sent_at, attempts FROM sms").fetchone()
    assert row[0] is not None and row[1] == 1


def test_a_refused_sms_is_kept_with_its_error_and_retried_later(store):
    with ModemSimulator(fault="sim_missing") as sim:
        _queue(store, "【村办】测试")
        assert SmsDispatcher(store, GsmModem(sim.port, retries=0)).run_once() == 0
    row = store.db.execute("SELECT sent_at, attempts, last_error, next_attempt_at "
                           "FROM sms").fetchone()
    assert row[0] is None and row[1] == 1 and "SIM" in row[2].upper()
    assert row[3] > datetime.now(UTC).isoformat()  # backed off, not hammering the modem


class _Flaky:
    """A gateway that refuses one number and records the rest."""

    def __init__(self, refuse: str):
        self.refuse, self.texts = refuse, []

    def send(self, to: str, text: str) -> None:
        if to == self.refuse:
            raise RuntimeError("gateway refused")
        self.texts.append((to, text))


def test_a_burst_is_marked_sent_together_and_one_refusal_holds_back_only_itself(store):
    phones = [f"138001380{n:02d}" for n in range(60)]
    for phone in phones:
        _queue(store, "【村办】测试", phone=phone)
    gateway = _Flaky(refuse=phones[7])
    dispatcher = SmsDispatcher(store, gateway)
    commits = []
    store.db.conn.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    sent = dispatcher.run_once() + dispatcher.run_once()  # due_sms hands out 50 at a time
    store.db.conn.set_trace_callback(None)
    assert sent == 59 and len(gateway.texts) == 59
    rows = dict(store.db.execute("SELECT id, sent_at IS NOT NULL FROM sms").fetchall())
    assert sum(rows.values()) == 59
    refused = store.db.execute("SELECT attempts, last_error FROM sms WHERE sent_at IS NULL")
    assert refused.fetchall() == [(1, "gateway refused")]
    # one commit for the refusal and one per burst of marks, not one per SMS
    assert len(commits) <= 5
    assert dispatcher.run_once() == 0  # nothing is sent twice


@pytest.fixture
def api(tmp_path, store):
    catalog = load_catalog()
    auth = TokenAuth(tmp_path / "tokens.json")
    app = create_app(db_path=store.path, catalog=catalog, calendar=WorkCalendar.load(),
                     topics=Topics(), authenticate=auth, broker_connected=lambda: True)
    svc = ApplicationService(store, catalog, WorkCalendar.load(), Topics())
    payload, blobs = example_submit(catalog, SID)
    now = datetime.now(UTC)
    with store.transaction():
        for sha, data in blobs.items():
            store.insert_blob(sha, len(data), "image/jpeg", SID, now.isoformat())
        ack = svc.receive(SID, m.decode(Kind.SUBMIT, payload), now)
    row = store.application(str(ack.application_id))
    return TestClient(app), auth, row


def test_the_api_needs_a_token(api):
    client, _, row = api
    assert client.get("/api/applications").status_code == 401
    assert client.get("/api/applications",
                      headers={"Authorization": "Bearer nope"}).status_code == 401


def test_an_officer_sees_and_acts_only_in_their_department(api):
    client, auth, row = api
    own = {"Authorization": f"Bearer {auth.issue('王科员', 'officer', row['department'])}"}
    other = {"Authorization": f"Bearer {auth.issue('李科员', 'officer', 'ZZZ')}"}
    listed = client.get("/api/applications", headers=own).json()["applications"]
    assert [a["id"] for a in listed] == [row["id"]]
    assert listed[0]["applicant"]["id_number"].count("*") == 10
    assert client.get("/api/applications", headers=other).json()["applications"] == []
    url = f"/api/applications/{row['id']}/actions"
    assert client.post(url, json={"action": "accept"}, headers=other).status_code == 404
    done = client.post(url, json={"action": "accept"}, headers=own)
    assert done.status_code == 200 and done.json()["state"] == 3
    again = client.post(url, json={"action": "accept"}, headers=own)
    assert again.status_code == 409 and again.json()["detail"]
    bad = client.post(url, json={"action": "fly"}, headers=own)
    assert bad.status_code == 422
    detail = client.get(f"/api/applications/{row['id']}", headers=own).json()
    assert [e["code"] for e in detail["events"]] == [1, 3]


def test_health_says_503_when_the_broker_is_unreachable(tmp_path, store):
    app = create_app(db_path=store.path, catalog=load_catalog(), calendar=WorkCalendar.load(),
                     topics=Topics(), authenticate=TokenAuth(tmp_path / "t.json"),
                     broker_connected=lambda: False)
    response = TestClient(app).get("/api/health")
    assert response.status_code == 503 and response.json()["database"] is True


def test_an_existing_database_is_backed_up_before_it_is_migrated(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE keep (x)")
    db.execute("INSERT INTO keep VALUES (42)")
    db.commit()
    db.close()
    assert migrate(path) >= 1
    backups = list((tmp_path / "backups").glob("*.db"))
    assert len(backups) == 1 and "-v0-" in backups[0].name
    copy = sqlite3.connect(backups[0])
    assert copy.execute("SELECT x FROM keep").fetchone() == (42,)
    copy.close()
    assert migrate(path) >= 1 and len(list((tmp_path / "backups").glob("*.db"))) == 1


def test_applicant_lookups_use_the_keyed_index_and_the_dead_plaintext_index_is_gone(tmp_path):
    path = tmp_path / "hub.db"
    migrate(path)
    db = sqlite3.connect(path)
    indexes = {r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'applications'")}
    assert "applications_applicant_index" in indexes
    assert "applications_applicant" not in indexes  # the column is encrypted since 0005
    plan = " ".join(str(r) for r in db.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM applications WHERE applicant_id_index = ?", ["x"]))
    assert "applications_applicant_index" in plan
    db.close()
