"""A submission or a photo prepared elsewhere (the link process) is stored exactly as one
the hub prepares itself; refusals keep their reasons either way."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pickle
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from hub.blobs import BlobStore
from hub.calendar import WorkCalendar
from hub.catalog import load_catalog
from hub.crypto import FieldCipher, key_path
from hub.db import StorageError, migrate
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


def _photo_preparer(ingest: Ingest):
    """The link's preparer: it writes photos aside into the hub's blob store."""
    return PreparerSpec(ingest.service.catalog, str(key_path(ingest.store.path.parent)),
                        ingest.topics.root, str(ingest.blobs.root)).build()


def _tmp_files(ingest: Ingest) -> list:
    return sorted(p.name for p in ingest.blobs.root.rglob("*.tmp*"))


def test_a_photo_written_aside_by_the_link_is_stored_with_its_batch_without_its_bytes(
        ingest):
    preparer = _photo_preparer(ingest)
    payload, blobs = example_submit(load_catalog(), SID)
    msgs = []
    for n, (sha, data) in enumerate(blobs.items(), 1):
        topic = ingest.topics.blob(SID, sha)
        prepared = preparer.prepare(topic, data)
        assert prepared.staged and not prepared.needs_payload
        assert data not in Path(prepared.staged).read_bytes()  # sealed on disk
        assert not ingest.blobs.exists(sha)  # not under its name before the commit
        msgs.append(Received(topic, b"", n, 1, False, prepared))  # the bytes stay behind
    # the same photo again in the batch (a resend): one file, no temporary left over
    sha, data = next(iter(blobs.items()))
    again = preparer.prepare(ingest.topics.blob(SID, sha), data)
    msgs.append(Received(ingest.topics.blob(SID, sha), b"", 9, 1, False, again))
    topic = ingest.topics.station(Kind.SUBMIT, SID)
    msgs.append(Received(topic, payload, 10, 1, False, preparer.prepare(topic, payload)))
    _stored(ingest, msgs)

    assert all(ingest.blobs.read(sha) == data for sha, data in blobs.items())
    assert _tmp_files(ingest) == []
    [ack] = _acks(ingest)
    assert ack.result == m.AckResult.STORED
    rows = ingest.store.db.conn.execute("SELECT sha256, size, mime FROM blobs").fetchall()
    assert sorted(rows) == sorted((s, len(d), "image/jpeg") for s, d in blobs.items())
    # a photo stored already is not written again
    stored = preparer.prepare(ingest.topics.blob(SID, sha), data)
    assert stored.stored and stored.staged is None and not stored.needs_payload


def test_a_batch_tried_again_adopts_the_photos_the_link_wrote_again(ingest, monkeypatch):
    preparer = _photo_preparer(ingest)
    data = example_submit(load_catalog(), SID)[1]
    sha, photo = next(iter(data.items()))
    topic = ingest.topics.blob(SID, sha)
    msg = Received(topic, b"", 1, 1, False, preparer.prepare(topic, photo))

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)  # the disk fills as the batch is made durable
    with pytest.raises(StorageError):
        _stored(ingest, [msg])
    monkeypatch.undo()
    assert not ingest.blobs.exists(sha) and len(_tmp_files(ingest)) == 1  # kept for the retry
    assert ingest.store.db.conn.execute("SELECT count(*) FROM blobs").fetchone()[0] == 0
    _stored(ingest, [msg])
    assert ingest.blobs.read(sha) == photo and _tmp_files(ingest) == []


def test_a_photo_the_link_could_not_write_comes_with_its_bytes_and_the_hub_writes_it(
        ingest, monkeypatch):
    preparer = _photo_preparer(ingest)
    sha, photo = next(iter(example_submit(load_catalog(), SID)[1].items()))

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(preparer.blobs, "write_staged", full)
    topic = ingest.topics.blob(SID, sha)
    prepared = preparer.prepare(topic, photo)
    assert prepared.staged is None and not prepared.stored and prepared.needs_payload
    _stored(ingest, [Received(topic, photo, 1, 1, False, prepared)])
    assert ingest.blobs.read(sha) == photo


def test_a_refused_photo_keeps_its_reason_and_its_bytes_and_nothing_is_written(ingest):
    preparer = _photo_preparer(ingest)
    photo = b"\xff\xd8\xff" + b"\0" * 5000  # a JPEG cut off before its end
    sha = hashlib.sha256(photo).hexdigest()
    prepared = preparer.prepare(ingest.topics.blob(SID, sha), photo)
    assert "截断" in prepared.reason and prepared.needs_payload and prepared.staged is None
    _stored(ingest, [Received(ingest.topics.blob(SID, sha), photo, 1, 1, False, prepared)])
    [(reasons, kept)] = ingest.store.db.conn.execute(
        "SELECT reasons_json, payload FROM rejections WHERE sha256 = ?", [sha]).fetchall()
    assert "截断" in reasons and ingest.store.cipher.decrypt_bytes(kept) == photo
    assert not ingest.blobs.exists(sha) and _tmp_files(ingest) == []


def test_the_hub_adopts_only_a_temporary_file_of_the_blob_it_names(ingest, tmp_path):
    sha = "ab" * 32
    with pytest.raises(ValueError):
        ingest.blobs.adopt(sha, tmp_path / "hub.db")
    with pytest.raises(ValueError):
        ingest.blobs.adopt(sha, ingest.blobs.path("cd" * 32).with_name("cd" * 32 + ".tmp1-1"))
