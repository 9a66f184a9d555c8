"""Every MQTT payload decoder and the topic parser: garbage is refused with its reason."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from hub.catalog import load_catalog
from protocols import messages as m
from protocols.examples import example_submit
from protocols.topics import Kind, TopicError, Topics

KINDS = sorted(m.DATA_MODELS, key=str)
T = Topics()
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=5),
    max_leaves=25)
SUBMIT, _ = example_submit(load_catalog(), "411381101201")


def _the_long_way(kind: Kind, payload: bytes):
    """What `decode` gave before its one-pass fast path: json.loads, then validation."""
    try:
        return m.envelope_model(kind).model_validate(json.loads(payload))
    except ValueError:
        return None


def _decoded_or_refused_with_reasons(kind: Kind, payload: bytes) -> None:
    try:
        env = m.decode(kind, payload)
    except m.MessageError as exc:
        assert exc.errors, "a refusal must name at least one reason"
        for e in exc.errors:
            assert e.field is not None and e.reason.strip(), e
    else:
        assert isinstance(env.data, m.DATA_MODELS[kind])
        # the fast path accepts nothing the long way refuses, and reads it the same
        assert env == _the_long_way(kind, payload)


@given(kind=st.sampled_from(KINDS), payload=st.binary(max_size=300))
def test_any_bytes_on_any_topic_kind_are_decoded_or_refused_with_reasons(kind, payload):
    _decoded_or_refused_with_reasons(kind, payload)


@given(kind=st.sampled_from(KINDS), value=json_values)
def test_any_json_document_is_decoded_or_refused_with_reasons(kind, value):
    _decoded_or_refused_with_reasons(kind, json.dumps(value).encode())


@given(path=st.lists(st.sampled_from(["id", "v", "ts", "data"]), min_size=1, max_size=1),
       field=st.sampled_from(["service_code", "receipt_number", "filed_at", "applicant",
                              "materials", "form", "category"]),
       value=json_values)
def test_a_valid_submit_with_one_field_replaced_is_decoded_or_refused_with_reasons(
        path, field, value):
    env = json.loads(SUBMIT)
    if path[0] == "data":
        env["data"][field] = value
    else:
        env[path[0]] = value
    _decoded_or_refused_with_reasons(Kind.SUBMIT, json.dumps(env).encode())


@given(name=st.text(st.characters(codec="utf-8") | st.sampled_from(["\ud800", "\udfff"]),
                   max_size=8),
       twice=st.booleans())
def test_odd_strings_and_repeated_keys_in_a_submit_decode_as_the_long_way_does(name, twice):
    env = json.loads(SUBMIT)
    env["data"]["applicant"]["name"] = name  # lone surrogates travel as \ud800 escapes
    text = json.dumps(env)
    if twice:  # the same key twice: the last one counts, both ways
        text = text.replace('"data": {', '"data": {"receipt_number": "x", ', 1)
    _decoded_or_refused_with_reasons(Kind.SUBMIT, text.encode())


@given(topic=st.text(max_size=120))
def test_any_topic_string_parses_or_is_refused_with_a_reason(topic):
    try:
        T.parse(topic)
    except TopicError as exc:
        assert str(exc).strip()


segments = st.sampled_from(["cunban", "station", "411381101201", "application", "submit",
                            "blob", "+", "#", "", "status", "request", "sync", "device",
                            "printer", "state", "a" * 64, "config", "ack"])


@given(parts=st.lists(segments, max_size=7))
def test_topics_made_of_contract_words_in_any_order_parse_or_are_refused(parts):
    try:
        topic = T.parse("/".join(parts))
    except TopicError as exc:
        assert str(exc).strip()
    else:
        assert topic.kind in set(Kind)


@given(sid=st.from_regex(r"\A[0-9]{12}\Z"), kind=st.sampled_from(
    [Kind.SUBMIT, Kind.ACK, Kind.STATUS, Kind.STATION_STATUS]))
def test_a_built_station_topic_parses_back_to_its_kind_and_station(sid, kind):
    try:
        topic = T.station(kind, sid)
    except TopicError:
        return  # not a valid station id (GB/T 2260 prefix rules)
    parsed = T.parse(topic)
    assert (parsed.kind, parsed.station) == (kind, sid)
