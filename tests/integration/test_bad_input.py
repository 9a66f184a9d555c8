"""Bad input gets a clear refusal, is kept for inspection, and the hub keeps serving."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid

import pytest

from protocols import messages as m
from protocols.examples import example_page, example_submit
from protocols.topics import Kind, Topics
from tests.support import Listener

T = Topics()
SID = "411381101203"


def _edit(payload: bytes, change) -> bytes:
    env = json.loads(payload)
    change(env)
    env["id"] = str(uuid.uuid4())
    return json.dumps(env, ensure_ascii=False).encode()


def _bad_id(env):
    number = env["data"]["applicant"]["id_number"]
    env["data"]["applicant"]["id_number"] = number[:17] + ("0" if number[17] != "0" else "1")


CASES = {
    "unknown service code": (lambda e: e["data"].update(service_code="XK99999999"),
                             "service_code", "不在本县事项目录"),
    "missing required material": (lambda e: e["data"].update(materials=[]),
                                  "materials.", "缺少必交材料"),
    "invalid ID checksum": (_bad_id, "applicant.id_number", "校验位"),
    "wrong schema": (lambda e: e["data"].update(colour="red"), "data.colour", "Extra inputs"),
    "bad phone": (lambda e: e["data"]["applicant"].update(phone="12345"),
                  "data.applicant.phone", "pattern"),
}


def _acks(got):
    return [a for _, p in got for a in m.decode(Kind.ACK, p).data.acks]


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_invalid_application_is_acked_invalid_with_the_reason(hub, broker, catalog, case):
    change, field, words = CASES[case]
    payload, blobs = example_submit(catalog, SID)
    bad = _edit(payload, change)
    with Listener(broker.url, [T.station(Kind.ACK, SID)]) as station:
        for sha, data in blobs.items():
            station.publish(T.blob(SID, sha), data)
        station.publish(T.station(Kind.SUBMIT, SID), bad)
        acks = _acks(station.collect(lambda g: g))
    assert acks[0].result == m.AckResult.INVALID
    assert str(acks[0].application_id) == json.loads(bad)["id"]
    assert any(e.field.startswith(field) and words in e.reason for e in acks[0].errors), \
        acks[0].errors
    db = sqlite3.connect(hub.data / "hub.db")
    assert db.execute("SELECT count(*) FROM applications").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM rejections WHERE message_id = ?",
                      [json.loads(bad)["id"]]).fetchone()[0] == 1


def test_garbage_oversize_and_foreign_topics_are_refused_and_the_hub_keeps_serving(
        hub, broker, catalog):
    good, blobs = example_submit(catalog, SID, counter=2)
    page = example_page("tampered")
    real_sha = hashlib.sha256(page).hexdigest()
    with Listener(broker.url, [f"cunban/station/{SID}/application/ack",
                               "cunban/station/+/application/ack"]) as station:
        station.publish(T.station(Kind.SUBMIT, SID), b"\xff not json {")
        station.publish(T.station(Kind.SUBMIT, SID), b"{" + b" " * (m.MAX_JSON_BYTES + 10) + b"}")
        station.publish("cunban/station/41138110120X/application/submit", good)
        station.publish("cunban/station/411381101203/request/Drop-Table", good)
        # bytes that do not match the sha256 in the topic
        station.publish(T.blob(SID, real_sha), page[:-10] + b"0123456789")
        for sha, data in blobs.items():
            station.publish(T.blob(SID, sha), data)
        station.publish(T.station(Kind.SUBMIT, SID), good)
        acks = _acks(station.collect(lambda g: g))
    # nothing else was addressable: only the good application is acked
    assert [a.result for a in acks] == [m.AckResult.STORED]
    db = sqlite3.connect(hub.data / "hub.db")
    reasons = [json.loads(r)[0]["reason"] for (r,) in
               db.execute("SELECT reasons_json FROM rejections ORDER BY id")]
    assert len(reasons) == 5
    assert "not JSON" in reasons[0]
    assert "too large" in reasons[1]
    assert "station id" in reasons[2]
    assert "invalid action" in reasons[3]
    assert "校验值不符" in reasons[4]


def test_a_blob_refused_as_corrupt_is_named_in_the_missing_blobs_ack(hub, broker, catalog):
    payload, blobs = example_submit(catalog, SID, counter=3)
    sha, data = next(iter(blobs.items()))
    with Listener(broker.url, [T.station(Kind.ACK, SID)]) as station:
        station.publish(T.blob(SID, sha), data[: len(data) // 2])  # truncated on the way
        for other, more in list(blobs.items())[1:]:
            station.publish(T.blob(SID, other), more)
        station.publish(T.station(Kind.SUBMIT, SID), payload)
        ack = _acks(station.collect(lambda g: g))[0]
    assert ack.result == m.AckResult.MISSING_BLOBS and ack.missing == [sha]
    assert "校验值不符" in ack.errors[0].reason
