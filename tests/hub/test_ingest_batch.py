"""A batch is one transaction: a message that raises undoes only itself."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as paho
import pytest

import hub.ingest as hub_ingest
from hub.blobs import BlobStore
from hub.calendar import WorkCalendar
from hub.catalog import load_catalog
from hub.crypto import FieldCipher, key_path
from hub.db import migrate
from hub.db.repositories import Store
from hub.ingest import Ingest
from hub.service import ApplicationService
from protocols import messages as m
from protocols.examples import example_submit
from protocols.topics import Kind, Topics

SID = "411381101001"


def _message(topic: str, payload: bytes, mid: int) -> paho.MQTTMessage:
    msg = paho.MQTTMessage(mid=mid, topic=topic.encode())
    msg.payload, msg.qos = payload, 1
    return msg


@pytest.fixture
def ingest(tmp_path):
    migrate(tmp_path / "hub.db")
    cipher = FieldCipher.load(key_path(tmp_path))
    store = Store(tmp_path / "hub.db", cipher)
    topics = Topics()
    svc = ApplicationService(store, load_catalog(), WorkCalendar.load(), topics)
    yield Ingest(store, BlobStore(tmp_path / "blobs", cipher), svc, topics)
    store.close()


def test_a_message_that_raises_is_refused_alone_and_the_rest_of_its_batch_is_stored(
        ingest, monkeypatch):
    topics = ingest.topics
    payload, blobs = example_submit(load_catalog(), SID)
    batch = [_message(topics.blob(SID, sha), data, n) for n, (sha, data) in
             enumerate(blobs.items())]
    env, ids = json.loads(payload), []
    for n in range(5):
        env["id"] = str(uuid.uuid4())
        env["data"]["receipt_number"] = f"{SID}-{n + 1}"
        ids.append(env["id"])
        batch.append(_message(topics.station(Kind.SUBMIT, SID), json.dumps(env).encode(),
                              100 + n))
    receive = ingest.service.receive_prepared

    def flaky(prepared, now):
        if prepared.application_id == ids[2]:
            ingest.store.db.conn.execute("INSERT INTO case_sequences VALUES ('half-done', 1)")
            raise RuntimeError("a bug in the middle of a write")
        return receive(prepared, now)

    monkeypatch.setattr(ingest.service, "receive_prepared", flaky)
    ingest._commit(batch)

    db = ingest.store.db.conn
    stored = {r[0] for r in db.execute("SELECT id FROM applications")}
    assert stored == set(ids) - {ids[2]}
    assert ingest.stats.stored == 4  # counted once, not again for the redone batch
    assert db.execute("SELECT count(*) FROM case_sequences WHERE key = 'half-done'"
                      ).fetchone() == (0,)  # the failing message's own write is undone
    [reasons] = db.execute("SELECT reasons_json FROM rejections").fetchone()
    assert "a bug in the middle of a write" in reasons
    # the batch's four acks for the station travel in one message
    [acks] = [m.decode(Kind.ACK, payload).data.acks
              for topic, payload in db.execute("SELECT topic, payload FROM outgoing")
              if topic.endswith("/ack")]
    assert sorted(str(a.application_id) for a in acks) == sorted(set(ids) - {ids[2]})


def test_a_station_status_and_a_device_state_are_kept_as_the_latest_per_station(ingest):
    store = ingest.store
    with store.transaction():
        store.upsert_station(SID, "online", "1.0", 3, 5, "2026-11-27T01:00:00+00:00")
        store.db.conn.execute("UPDATE stations SET disk_free_mb = 900 WHERE sid = ?", [SID])
        store.upsert_station(SID, "online", "1.1", 4, 0, "2026-11-27T01:00:30+00:00")
        store.upsert_device_state(SID, "printer", "fault", "paper_out", "缺纸", "t1")
        store.upsert_device_state(SID, "printer", "ok", "", "", "t2")
    row = store.station(SID)
    assert (row["software"], row["config_version"], row["outbox_pending"], row["last_seen"],
            row["disk_free_mb"]) == ("1.1", 4, 0, "2026-11-27T01:00:30+00:00", 900)
    assert store.db.execute("SELECT state, code, updated_at FROM device_states").fetchall() \
        == [("ok", "", "t2")]


def test_messages_and_sms_queued_in_a_transaction_are_written_at_its_commit_and_only_then(
        ingest):
    store = ingest.store

    def count(table):
        return store.db.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    store.queue_outgoing("t/now", b"x", at="t0")  # outside a transaction: at once
    assert count("outgoing") == 1
    with store.transaction():
        store.queue_outgoing("t/a", b"a", at="t1")
        store.queue_sms(application_id=None, event_seq=1, phone="13800138000", text="甲",
                        at="t1")
        with pytest.raises(RuntimeError), store.savepoint():
            store.queue_outgoing("t/undone", b"u", at="t1")
            store.queue_sms(application_id=None, event_seq=2, phone="13800138001",
                            text="乙", at="t1")
            raise RuntimeError("this message is refused")
        store.queue_outgoing("t/b", b"b", at="t1")
        assert count("outgoing") == 1  # gathered, not yet written
    topics = [r[0] for r in store.db.conn.execute("SELECT topic FROM outgoing ORDER BY id")]
    assert topics == ["t/now", "t/a", "t/b"]
    assert [r["text"] for r in store.due_sms("t2")] == ["甲"]
    with pytest.raises(RuntimeError), store.transaction():
        store.queue_outgoing("t/rolled-back", b"r", at="t3")
        raise RuntimeError("the batch failed")
    assert count("outgoing") == 3
    store.queue_outgoing("t/after", b"z", at="t4")  # nothing left over from the failed one
    assert count("outgoing") == 4


def test_sent_outgoing_messages_older_than_a_week_are_pruned_and_unsent_ones_kept(
        ingest, monkeypatch):
    store = ingest.store
    now = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    ingest._now = lambda: now
    with store.transaction():
        for n in range(5):
            store.queue_outgoing(f"t/old-sent-{n}", b"o", at="x")
        store.queue_outgoing("t/old-unsent", b"u", at="x")
        store.queue_outgoing("t/recent-sent", b"r", at="x")
        store.queue_outgoing("t/recent-unsent", b"n", at="x")
    ids = {r[1]: r[0] for r in store.db.conn.execute("SELECT id, topic FROM outgoing")}
    with store.transaction():
        store.mark_outgoing_sent([ids[f"t/old-sent-{n}"] for n in range(5)],
                                 (now - timedelta(days=8)).isoformat())
        store.mark_outgoing_sent([ids["t/recent-sent"]], (now - timedelta(days=6)).isoformat())
    kept = ["t/old-unsent", "t/recent-sent", "t/recent-unsent"]

    with store.transaction():  # a chunk at a time, oldest first
        assert store.prune_sent_outgoing((now - timedelta(days=7)).isoformat(), 2) == 2
    monkeypatch.setattr(hub_ingest, "PRUNE_CHUNK", 2)
    ingest._prune_outgoing()  # chunk after chunk until one comes back short
    left = [r[0] for r in store.db.conn.execute("SELECT topic FROM outgoing ORDER BY id")]
    assert left == kept
    assert store.count_unsent_outgoing() == 2

    now += timedelta(days=2)  # not due again until PRUNE_EVERY has passed
    ingest._prune_outgoing()
    assert store.db.conn.execute("SELECT count(*) FROM outgoing").fetchone()[0] == 3
    ingest._last_prune -= hub_ingest.PRUNE_EVERY
    ingest._prune_outgoing()
    left = [r[0] for r in store.db.conn.execute("SELECT topic FROM outgoing ORDER BY id")]
    assert left == ["t/old-unsent", "t/recent-unsent"]


def test_the_acks_a_transaction_queues_for_a_station_go_out_together_a_hundred_at_most(
        ingest):
    store, svc = ingest.store, ingest.service
    now = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    other = "411381101002"

    def ack(n: int) -> m.ApplicationAck:
        return m.ApplicationAck(application_id=uuid.uuid4(), result=m.AckResult.INVALID,
                                errors=[m.FieldError(field="form", reason=f"r{n}")])

    with store.transaction():
        for n in range(150):
            svc.queue_ack(SID, ack(n), now)
        svc.queue_ack(other, ack(999), now)
        with pytest.raises(RuntimeError), store.savepoint():
            svc.queue_ack(SID, ack(-1), now)
            raise RuntimeError("this message is refused")
        assert store.count_unsent_outgoing() == 0  # gathered, not yet written

    def sent():
        return [(topic.split("/")[2], m.decode(Kind.ACK, payload).data.acks) for topic, payload
                in store.db.conn.execute("SELECT topic, payload FROM outgoing ORDER BY id")]

    rows = sent()
    assert [(sid, len(acks)) for sid, acks in rows] == [(SID, 100), (SID, 50), (other, 1)]
    assert [a.errors[0].reason for _, acks in rows[:2] for a in acks] == \
        [f"r{n}" for n in range(150)]  # in order, and the undone one is not there
    svc.queue_ack(SID, ack(7), now)  # outside a transaction: at once, alone
    assert [len(acks) for _, acks in sent()] == [100, 50, 1, 1]


def test_an_officers_filing_is_sealed_at_rest_and_its_sms_still_names_him(
        ingest):
    topics = ingest.topics
    payload, blobs = example_submit(load_catalog(), SID)
    env = json.loads(payload)
    env["data"]["proxy_officer"] = {"officer_id": "gzry-07", "name": "赵德明"}
    batch = [_message(topics.blob(SID, sha), data, n) for n, (sha, data) in
             enumerate(blobs.items())]
    batch.append(_message(topics.station(Kind.SUBMIT, SID), json.dumps(env).encode(), 99))
    ingest._commit(batch)

    db = ingest.store.db.conn
    form, proxy = db.execute("SELECT form_json, proxy_officer_json FROM applications"
                             ).fetchone()
    assert ingest.store.cipher.is_sealed(form) and ingest.store.cipher.is_sealed(proxy)
    assert "赵德明" not in proxy and "gzry-07" not in proxy
    row = ingest.store.application(env["id"])
    assert json.loads(row["proxy_officer_json"])["name"] == "赵德明"
    assert json.loads(row["form_json"]) == env["data"]["form"]
    [text] = [r["text"] for r in ingest.store.sms_for(env["id"])]
    assert "赵德明" in text
