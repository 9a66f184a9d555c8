"""The wire contract: topics, envelopes, schemas, examples and their documentation."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from cunban.cli import main
from hub.catalog import load_catalog
from protocols import messages as m
from protocols.docs import render
from protocols.examples import EXAMPLES, example
from protocols.topics import Kind, Topic, TopicError, Topics

ROOT = Path(__file__).resolve().parents[2]
T = Topics()
SID = "411381101201"
SHA = "ab" * 32


@pytest.mark.parametrize("topic, parsed", [
    ("cunban/hub/status", Topic(Kind.HUB_STATUS)),
    ("cunban/catalog", Topic(Kind.CATALOG)),
    (f"cunban/station/{SID}/status", Topic(Kind.STATION_STATUS, station=SID)),
    (f"cunban/station/{SID}-2/application/submit", Topic(Kind.SUBMIT, station=f"{SID}-2")),
    (f"cunban/station/{SID}/application/ack", Topic(Kind.ACK, station=SID)),
    (f"cunban/station/{SID}/application/status", Topic(Kind.STATUS, station=SID)),
    (f"cunban/station/{SID}/config", Topic(Kind.CONFIG, station=SID)),
    (f"cunban/station/{SID}/config/state", Topic(Kind.CONFIG_STATE, station=SID)),
    (f"cunban/station/{SID}/device/printer/state",
     Topic(Kind.DEVICE_STATE, station=SID, device="printer")),
    (f"cunban/station/{SID}/blob/{SHA}", Topic(Kind.BLOB, station=SID, sha256=SHA)),
    (f"cunban/station/{SID}/request/sync", Topic(Kind.REQUEST, station=SID, action="sync")),
    (f"cunban/station/{SID}/response/sync", Topic(Kind.RESPONSE, station=SID, action="sync")),
])
def test_every_topic_parses_and_builds_back_to_itself(topic, parsed):
    assert T.parse(topic) == parsed
    if parsed.kind == Kind.DEVICE_STATE:
        rebuilt = T.device_state(parsed.station, parsed.device)
    elif parsed.kind == Kind.BLOB:
        rebuilt = T.blob(parsed.station, parsed.sha256)
    elif parsed.kind in (Kind.REQUEST, Kind.RESPONSE):
        build = T.request if parsed.kind == Kind.REQUEST else T.response
        rebuilt = build(parsed.station, parsed.action)
    elif parsed.station:
        rebuilt = T.station(parsed.kind, parsed.station)
    else:
        rebuilt = T.hub_status() if parsed.kind == Kind.HUB_STATUS else T.catalog()
    assert rebuilt == topic


@pytest.mark.parametrize("topic", [
    "cunban/station/+/application/submit", "cunban/station/#", "other/hub/status",
    "cunban/station/41138110120/status", "cunban/station/411381101201/blob/XYZ",
    "cunban/station/411381101201/application/delete", "cunban/station/411381101201",
    f"cunban/station/{SID}/device/Printer!/state", "", "cunban/station/../status",
])
def test_foreign_wildcard_and_malformed_topics_are_refused(topic):
    with pytest.raises(TopicError):
        T.parse(topic)


def test_builders_refuse_station_ids_that_would_escape_the_subtree():
    for bad in ("+", "#", "411381101201/x", "4113811012", "411381101201-TOO-LONG-X"):
        with pytest.raises(TopicError):
            T.station(Kind.SUBMIT, bad)


def test_a_custom_root_is_used_for_every_topic():
    t = Topics("county/411381")
    assert t.station(Kind.ACK, SID) == f"county/411381/station/{SID}/application/ack"
    assert t.parse(f"county/411381/station/{SID}/status").kind == Kind.STATION_STATUS
    with pytest.raises(TopicError):
        t.parse(f"cunban/station/{SID}/status")


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_decodes_as_its_message(name, catalog):
    payload = example(name, catalog=catalog)
    env = m.decode(Kind(name if name not in ("request", "response") else name), payload)
    assert env.v == 1


def test_unknown_fields_are_refused_at_every_level_with_their_path(catalog):
    env = json.loads(example("application.submit", catalog=catalog))
    env["data"]["applicant"]["nickname"] = "x"
    with pytest.raises(m.MessageError) as err:
        m.decode(Kind.SUBMIT, json.dumps(env).encode())
    assert err.value.errors[0].field == "data.applicant.nickname"
    assert err.value.message_id == uuid.UUID(env["id"])


def test_a_payload_over_the_limit_is_refused_before_it_is_parsed():
    with pytest.raises(m.MessageError) as err:
        m.decode(Kind.ACK, b"[" * (m.MAX_JSON_BYTES + 1))
    assert "too large" in err.value.errors[0].reason


def test_schemas_are_written_one_per_message(tmp_path, capsys):
    assert main(["protocol", "schemas", str(tmp_path)]) == 0
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == len(Kind) - 1  # blobs are binary
    schema = json.loads((tmp_path / "application.submit.schema.json").read_text())
    assert schema["additionalProperties"] is False
    assert {"v", "id", "ts", "data"} <= set(schema["properties"])


def test_the_submit_example_writes_its_materials_named_by_sha256(tmp_path, capsys):
    assert main(["protocol", "example", "application.submit", "--station", "411381101209",
                 "--blobs-dir", str(tmp_path)]) == 0
    env = json.loads(capsys.readouterr().out)
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {f"{ref['sha256']}.jpg" for ref in env["data"]["materials"]}
    assert env["data"]["receipt_number"].startswith("411381101209-")


def test_docs_protocol_md_is_current(catalog):
    """Everything but the example photos' names: they are JPEGs encoded by OpenCV, whose
    bytes change with its JPEG encoder (OpenCV 5.1 names all three differently from 4.x)."""
    def names_left_out(text: str) -> str:
        return re.sub(r'"sha256": "[0-9a-f]{64}"', '"sha256": "…"', text)

    rendered = render(catalog)
    assert len(re.findall(r'"sha256": "[0-9a-f]{64}"', rendered)) >= 3
    assert names_left_out((ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")) \
        == names_left_out(rendered)


def test_application_ids_are_time_ordered_uuids_so_the_hubs_indexes_grow_at_their_end():
    import time

    ids = []
    for _ in range(50):
        ids.append(m.new_application_id())
        time.sleep(0.001)
    assert all(i.version == 7 and type(i) is uuid.UUID for i in ids)
    assert ids == sorted(ids) and [str(i) for i in ids] == sorted(str(i) for i in ids)
    assert len(set(ids)) == 50
