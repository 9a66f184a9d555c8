"""Device byte decoders: ID-card frames, ESC/POS status, AT results and SMS PDUs."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from device_drivers.base import ProtocolError
from device_drivers.idcard import protocol as idc
from device_drivers.modem import at, pdu
from device_drivers.printer.status import QUERIES, PrinterStatus, is_status_byte

frames = st.builds(idc.encode_response, st.integers(0, 255), st.binary(max_size=40))
noise = st.binary(max_size=30)


@given(parts=st.lists(frames | noise | st.just(idc.PREAMBLE), max_size=6))
def test_any_byte_stream_from_the_card_reader_splits_into_frames_without_crashing(parts):
    buf = b"".join(parts)
    result = idc.parse_response(buf)
    assert buf.endswith(result.rest)
    for bad in result.bad:
        assert bad.reason.strip(), bad


@given(sw3=st.integers(0, 255), data=st.binary(max_size=200), junk=noise)
def test_a_well_formed_response_after_garbage_is_found_intact(sw3, data, junk):
    result = idc.parse_response(junk.replace(idc.PREAMBLE[:1], b"") + idc.encode_response(
        sw3, data))
    assert [(r.sw3, r.data) for r in result.responses] == [(sw3, data)]


@given(data=st.binary(max_size=1400))
def test_card_read_data_is_parsed_or_refused_with_a_sentence_for_the_villager(data):
    try:
        idc.parse_read_data(data)
    except idc.CardFormatError as exc:
        assert str(exc).strip()


@given(text=st.binary(min_size=256, max_size=256))
def test_any_256_byte_card_text_is_parsed_or_refused_with_a_sentence(text):
    try:
        card = idc.parse_text(text)
    except idc.CardFormatError as exc:
        assert str(exc).strip()
    else:
        assert isinstance(card.problems, list)


@given(answers=st.dictionaries(st.integers(0, 6), st.integers(0, 255), max_size=5))
def test_escpos_status_bytes_decode_or_are_refused_naming_the_answer(answers):
    try:
        status = PrinterStatus.from_bytes(answers)
    except ProtocolError as exc:
        assert exc.message.strip() and "DLE EOT" in exc.detail
        assert any(n not in QUERIES or not is_status_byte(v) for n, v in answers.items())
    else:
        health = status.health()
        assert health.state in ("ok", "warning", "fault")
        if health.state != "ok":
            assert health.message.strip()


@given(line=st.text(max_size=60))
def test_any_at_line_is_ok_an_error_with_its_code_or_not_final(line):
    final = at.parse_final(line)
    assert final is None or final == "OK" or isinstance(final, at.AtError)
    if isinstance(final, at.AtError):
        assert final.line == line


@given(text=st.text(max_size=40))
def test_any_hex_text_as_a_pdu_is_decoded_or_refused_with_a_reason(text):
    for decode in (pdu.decode_submit, pdu.decode_status_report):
        try:
            decode(text)
        except pdu.PduError as exc:
            assert str(exc).strip()


@given(data=st.binary(max_size=60))
def test_any_bytes_as_a_pdu_are_decoded_or_refused_with_a_reason(data):
    for decode in (pdu.decode_submit, pdu.decode_status_report):
        try:
            decode(data.hex())
        except pdu.PduError as exc:
            assert str(exc).strip()


@given(digits=st.from_regex(r"\A1[3-9][0-9]{9}\Z"), text=st.text(min_size=1, max_size=60))
def test_an_sms_submit_round_trips_through_its_pdu(digits, text):
    try:
        parts = pdu.encode_submit(digits, text)
    except pdu.PduError as exc:
        assert str(exc).strip()
        return
    decoded = [pdu.decode_submit(p.hex) for p in parts]
    assert "".join(d.text for d in decoded) == text
