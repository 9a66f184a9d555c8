"""A submission prepared elsewhere (the link process) is stored exactly as one the hub
prepares itself; refusals keep their reasons either way."""

from __future__ import annotations

import json
import pickle
import shutil
import uuid
from datetime import UTC, datetime

import paho.mqtt.client as paho
import pytest

from hub.blobs import BlobStore
from hub.calendar import WorkCalendar
from hub.catalog import load_catalog
from hub.crypto import FieldCipher, key_path
from hub.db import migrate
from hub.db.repositories import Store
from hub.ingest import Ingest
from hub.intake import PreparedSubmit, PreparerSpec
from hub.link import Received, _Link
from hub.service import ApplicationService
from protocols import messages as m
from protocols.examples import example_submit
from protocols.topics import Kind, Topics

SID = "411381101001"
NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


def _ingest(root) -> Ingest:
    migrate(root / "hub.db")
    cipher = FieldCipher.load(key_path(root))
    store = Store(root / "hub.db", cipher)
    topics = Topics()
    svc = ApplicationService(store, load_catalog(), WorkCalendar.load(), topics)
    ingest = Ingest(store, BlobStore(root / "blobs", cipher), svc, topics, clock=lambda: NOW)
    return ingest


@pytest.fixture
def ingest(tmp_path):
    ingest = _ingest(tmp_path)
    yield ingest
    ingest.store.close()


def _elsewhere(ingest: Ingest, topic: str, payload: bytes) -> PreparedSubmit | None:
    """Prepare as the link process does: from a pickled spec, result pickled back."""
    spec = PreparerSpec(ingest.service.catalog, str(key_path(ingest.store.path.parent)),
                        ingest.topics.root)
    # our own bytes, as between the hub and its link process
    preparer = pickle.loads(pickle.dumps(spec)).build()  # noqa: S301
    return pickle.loads(pickle.dumps(preparer.prepare(topic, payload)))  # noqa: S301


def _stored(ingest: Ingest, msgs: list) -> None:
    ingest._commit(msgs)


def _blobs(ingest: Ingest, blobs: dict[str, bytes]) -> list[Received]:
    return [Received(ingest.topics.blob(SID, sha), data, n, 1, False)
            for n, (sha, data) in enumerate(blobs.items(), 1)]


def _acks(ingest: Ingest) -> list[m.ApplicationAck]:
    return [a for (payload,) in ingest.store.db.conn.execute(
        "SELECT payload FROM outgoing WHERE topic LIKE '%/application/ack' ORDER BY id")
        for a in m.decode(Kind.ACK, payload).data.acks]


def test_an_application_prepared_in_another_process_is_stored_as_the_hub_would_store_it(
        tmp_path):
    (tmp_path / "here").mkdir()
    here = _ingest(tmp_path / "here")
    shutil.copytree(tmp_path / "here" / "keys", tmp_path / "there" / "keys")  # one county key
    there = _ingest(tmp_path / "there")
    payload, blobs = example_submit(load_catalog(), SID)
    topic = here.topics.station(Kind.SUBMIT, SID)
    prepared = _elsewhere(there, topic, payload)
    assert prepared is not None and not prepared.errors and not prepared.unreadable
    # nothing personal travels in clear inside the preparation's columns
    assert "李秀英" not in json.dumps(prepared.columns, ensure_ascii=False)
    assert "13800138000" not in json.dumps(prepared.columns)

    _stored(here, [*_blobs(here, blobs), Received(topic, payload, 10, 1, False)])
    _stored(there, [*_blobs(there, blobs), Received(topic, payload, 10, 1, False, prepared)])
    app_id = json.loads(payload)["id"]
    mine, theirs = here.store.application(app_id), there.store.application(app_id)
    assert mine is not None and theirs is not None
    assert theirs == mine  # opened with the hub's own key: same values, column for column
    assert theirs["applicant_name"] == "李秀英"
    for ingest in (here, there):
        assert [(a.result, a.case_number) for a in _acks(ingest)] == \
            [(m.AckResult.STORED, mine["case_number"])]
        assert [s["phone"] for s in ingest.store.sms_for(app_id)] == ["13800138000"]
        assert ingest.store.applications_at_station(SID, id_number=mine["applicant_id_number"])
        ingest.store.close()


def test_a_prepared_application_that_breaks_the_rules_is_refused_with_its_reasons(ingest):
    topic = ingest.topics.station(Kind.SUBMIT, SID)
    payload, blobs = example_submit(load_catalog(), SID, id_number="110101199003070000")
    prepared = _elsewhere(ingest, topic, payload)
    assert [f for f, _ in prepared.errors] == ["applicant.id_number"]
    _stored(ingest, [*_blobs(ingest, blobs), Received(topic, payload, 10, 1, False, prepared)])
    [ack] = _acks(ingest)
    assert ack.result == m.AckResult.INVALID
    assert [e.field for e in ack.errors] == ["applicant.id_number"]
    assert ingest.store.application(json.loads(payload)["id"]) is None
    [(reasons, kept)] = ingest.store.db.conn.execute(
        "SELECT reasons_json, payload FROM rejections").fetchall()
    assert "applicant.id_number" in reasons
    assert ingest.store.cipher.decrypt_bytes(kept) == payload


def test_an_unreadable_prepared_payload_is_refused_and_acked_when_its_id_is_readable(ingest):
    topic = ingest.topics.station(Kind.SUBMIT, SID)
    app_id = str(uuid.uuid4())
    broken = json.dumps({"id": app_id, "data": {"service_code": 7}}).encode()
    garbage = b"\xff\xfe not json"
    msgs = []
    for n, payload in enumerate((broken, garbage), 1):
        prepared = _elsewhere(ingest, topic, payload)
        assert prepared.unreadable and prepared.columns is None
        msgs.append(Received(topic, payload, n, 1, False, prepared))
    _stored(ingest, msgs)
    [ack] = _acks(ingest)  # the garbage names no application to answer
    assert (str(ack.application_id), ack.result) == (app_id, m.AckResult.INVALID)
    assert ack.errors
    rows = ingest.store.db.conn.execute(
        "SELECT message_id, payload FROM rejections ORDER BY id").fetchall()
    assert [(i, ingest.store.cipher.decrypt_bytes(p)) for i, p in rows] == \
        [(app_id, broken), (None, garbage)]


def test_only_submissions_are_prepared(ingest):
    spec = PreparerSpec(ingest.service.catalog, str(key_path(ingest.store.path.parent)),
                        ingest.topics.root)
    preparer = spec.build()
    assert preparer.prepare(ingest.topics.station(Kind.STATION_STATUS, SID), b"{}") is None
    assert preparer.prepare("not/a/topic/of/ours", b"{}") is None


def test_a_preparation_that_fails_in_the_link_leaves_the_message_to_the_hub(ingest, caplog):
    class Broken:
        def prepare(self, topic, payload):
            raise RuntimeError("a bug in the preparation")

    link = _Link.__new__(_Link)
    link.preparer = Broken()
    assert link._prepare("cunban/station/411381101001/application/submit", b"{}") is None
    assert "could not prepare" in caplog.text

    # … and the hub, preparing it itself, stores it.
    payload, blobs = example_submit(load_catalog(), SID)
    topic = ingest.topics.station(Kind.SUBMIT, SID)
    msg = paho.MQTTMessage(mid=10, topic=topic.encode())
    msg.payload, msg.qos = payload, 1
    _stored(ingest, [*_blobs(ingest, blobs), msg])
    assert ingest.store.application(json.loads(payload)["id"]) is not None
