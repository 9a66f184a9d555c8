"""An application travels station → broker → hub → department queue and back."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid

from protocols import messages as m
from protocols.examples import example_submit
from protocols.topics import Kind, Topics
from tests.support import Listener

SID = "411381101201"
T = Topics()


def _acks(got):
    return [a for t, p in got if t.endswith("/application/ack")
            for a in m.decode(Kind.ACK, p).data.acks]


def _send(listener, payload, blobs, sid=SID):
    for sha, data in blobs.items():
        listener.publish(T.blob(sid, sha), data)
    listener.publish(T.station(Kind.SUBMIT, sid), payload)


def test_a_submitted_application_is_stored_acked_with_a_case_number_and_announced(hub, broker,
                                                                                 catalog):
    payload, blobs = example_submit(catalog, SID)
    app_id = json.loads(payload)["id"]
    with Listener(broker.url, [f"cunban/station/{SID}/application/#"]) as station:
        _send(station, payload, blobs)
        got = station.collect(lambda g: _acks(g))
        got += station.collect(lambda g: False, timeout=1.0)  # anything else that follows
    acks = _acks(got)
    assert [a.result for a in acks] == [m.AckResult.STORED]
    assert str(acks[0].application_id) == app_id
    case = acks[0].case_number
    assert case and case.startswith(json.loads(payload)["data"]["service_code"] + "411381")
    # the first status (01 收件) is in the ack, not sent a second time on its own
    first = acks[0].status
    assert (first.code, first.seq, first.case_number) == (1, 1, case)
    assert not [t for t, _ in got if t.endswith("/status")]

    # the SMS is queued in the same transaction and delivered by the dispatcher
    spool = hub.data / "sms" / "outbox.jsonl"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not spool.exists():
        time.sleep(0.1)
    sms = [json.loads(line) for line in spool.read_text().splitlines()]
    assert sms[0]["to"] == "13800138000" and case in sms[0]["text"]
    db = sqlite3.connect(hub.data / "hub.db")
    row = db.execute("SELECT department, state FROM applications WHERE id = ?",
                     [app_id]).fetchone()
    item = catalog.item(json.loads(payload)["data"]["service_code"])
    assert row == (item.department, 1)
    # the spool line is written before the row is marked sent: wait for the mark
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and db.execute(
            "SELECT count(*) FROM sms WHERE sent_at IS NOT NULL").fetchone()[0] < 1:
        time.sleep(0.1)
    assert db.execute("SELECT count(*) FROM sms WHERE sent_at IS NOT NULL").fetchone()[0] == 1


def test_the_same_application_twice_is_one_row_with_one_case_number(hub, broker, catalog):
    payload, blobs = example_submit(catalog, SID, counter=7)
    with Listener(broker.url, [f"cunban/station/{SID}/application/ack"]) as station:
        _send(station, payload, blobs)
        _send(station, payload, blobs)
        acks = _acks(station.collect(lambda g: len(_acks(g)) >= 2))
    assert len(acks) == 2
    assert acks[0].case_number == acks[1].case_number
    # the repeated ack carries the same first status, for a station that missed the first
    assert acks[1].status == acks[0].status and acks[1].status.code == 1
    db = sqlite3.connect(hub.data / "hub.db")
    assert db.execute("SELECT count(*) FROM applications").fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 1


def test_a_missing_blob_is_named_and_the_application_is_stored_once_it_arrives(hub, broker,
                                                                              catalog):
    payload, blobs = example_submit(catalog, SID, counter=8)
    with Listener(broker.url, [f"cunban/station/{SID}/application/ack"]) as station:
        station.publish(T.station(Kind.SUBMIT, SID), payload)
        first = _acks(station.collect(lambda g: _acks(g)))
        _send(station, payload, blobs)
        second = _acks(station.collect(lambda g: _acks(g)))
    assert first[0].result == m.AckResult.MISSING_BLOBS
    assert sorted(first[0].missing) == sorted(blobs)
    assert second[0].result == m.AckResult.STORED


def test_the_hub_reports_itself_online_and_publishes_the_catalog(hub, broker, catalog):
    with Listener(broker.url, ["cunban/hub/status", "cunban/catalog"]) as anyone:
        got = dict(anyone.collect(lambda g: len(g) >= 2))
    status = m.decode(Kind.HUB_STATUS, got["cunban/hub/status"]).data
    snapshot = m.decode(Kind.CATALOG, got["cunban/catalog"]).data
    assert status.state == m.Availability.ONLINE
    assert snapshot.hash == catalog.hash
    assert uuid.UUID(json.loads(got["cunban/catalog"])["id"])
