"""SMS-SUBMIT PDUs checked by an independent decoder (smspdudecoder)."""

from __future__ import annotations

from io import StringIO

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from smspdudecoder.easy import read_outgoing_sms
from smspdudecoder.fields import SMSSubmit

from device_drivers.modem.pdu import (
    PduError,
    decode_status_report,
    decode_submit,
    encode_status_report,
    encode_submit,
    normalise_number,
    relative_validity,
    validity_minutes,
)

ASTRAL = "𠀾"  # U+2003E, CJK Ext B: two UTF-16 units (a surrogate pair)


def decoded(pdu):
    return SMSSubmit.decode(StringIO(pdu.hex))


def concat_info(sms):
    header = sms["user_data"]["header"]
    if header is None:
        return None
    [element] = [e for e in header["elements"] if e["iei"] == 0]
    data = element["data"]
    return data["reference"], data["parts_count"], data["part_number"]


def reassemble(pdus):
    return "".join(decoded(p)["user_data"]["data"] for p in pdus)


def units(text: str) -> int:
    return len(text.encode("utf-16-be")) // 2


def test_known_gsm7_vector_from_the_classic_pdu_example():
    # "hellohello" to +46708251358, VP 4 days: the widely published SMS-SUBMIT example.
    [pdu] = encode_submit("+46708251358", "hellohello", validity_minutes=4 * 1440)
    assert pdu.hex == "0011000B916407281553F80000AA0AE8329BFD4697D9EC37"
    assert pdu.length == 23


def test_chinese_is_ucs2_and_fits_70_units_in_one_message():
    text = "您好，您的申请已受理。" * 6 + "查询进度"
    assert units(text) == 70
    [pdu] = encode_submit("13800138000", text)
    sms = decoded(pdu)
    assert sms["dcs"]["encoding"] == "ucs2"
    assert sms["user_data"]["data"] == text
    assert sms["user_data"]["header"] is None
    assert pdu.length == len(pdu.hex) // 2 - 1  # TPDU length excludes the SCA octet


def test_71_units_become_two_concatenated_parts_of_67_and_4():
    text = "办" * 71
    pdus = encode_submit("13800138000", text, reference=0x42, validity_minutes=1440)
    assert [concat_info(decoded(p)) for p in pdus] == [(0x42, 2, 1), (0x42, 2, 2)]
    assert [units(decoded(p)["user_data"]["data"]) for p in pdus] == [67, 4]
    assert reassemble(pdus) == text
    assert pdus[0].hex[2:4] == "51"  # UDHI, relative VP, SMS-SUBMIT


@pytest.mark.parametrize("before", [64, 65, 66, 67, 68])
def test_a_non_bmp_character_near_a_part_boundary_stays_whole(before):
    text = "办" * before + ASTRAL + "事" * 80
    pdus = encode_submit("+8613800138000", text, reference=9)
    parts = [decoded(p)["user_data"]["data"] for p in pdus]  # each part decodes alone
    assert "".join(parts) == text
    assert all(units(part) <= 67 for part in parts)
    assert sum(ASTRAL in part for part in parts) == 1


def test_non_bmp_character_exactly_on_the_boundary_moves_to_the_next_part():
    text = "办" * 66 + ASTRAL + "事" * 10
    first, second = (decoded(p)["user_data"]["data"] for p in encode_submit("13800138000", text))
    assert first == "办" * 66 and units(first) == 66
    assert second.startswith(ASTRAL)


@settings(max_examples=60, deadline=None)
@given(
    hs.text(
        alphabet=hs.sampled_from(list("办事不出村，。ab1 ") + [ASTRAL, "䶮", "😀"]),
        min_size=1,
        max_size=400,
    )
)
def test_any_text_reassembles_exactly_from_its_parts(text):
    pdus = encode_submit("13800138000", text, reference=200)
    assert reassemble(pdus) == text
    if len(pdus) > 1:
        assert [concat_info(decoded(p))[2] for p in pdus] == list(range(1, len(pdus) + 1))
    for p in pdus:
        assert decode_submit(p.hex).tpdu_length == p.length


@pytest.mark.parametrize(
    ("number", "international", "recipient", "ton"),
    [
        ("+8613800138000", True, "+8613800138000", "international"),
        ("13800138000", True, "+8613800138000", "international"),
        ("008613800138000", True, "+8613800138000", "international"),
        ("8613800138000", True, "+8613800138000", "international"),
        ("138 0013 8000", True, "+8613800138000", "international"),
        ("13800138000", False, "13800138000", "national"),
        ("10086", True, "10086", "unknown"),
    ],
)
def test_number_formats(number, international, recipient, ton):
    [pdu] = encode_submit(number, "test", international=international)
    assert read_outgoing_sms(pdu.hex)["recipient"] == recipient
    assert decoded(pdu)["recipient"]["toa"]["ton"] == ton


@pytest.mark.parametrize("number", ["", "abc", "12", "+86 138-0013-800a"])
def test_bad_numbers_are_refused(number):
    with pytest.raises(PduError):
        normalise_number(number)


def test_ascii_uses_gsm7_with_escapes_and_splits_at_153_without_breaking_an_escape():
    [short] = encode_submit("13800138000", "Case [A-1] ready {ok} ~ 5€")
    assert decoded(short)["dcs"]["encoding"] == "gsm"
    assert decoded(short)["user_data"]["data"] == "Case [A-1] ready {ok} ~ 5€"
    text = "a" * 152 + "€" + "b" * 10  # the escape would straddle septets 153/154
    pdus = encode_submit("13800138000", text)
    parts = [decoded(p)["user_data"]["data"] for p in pdus]
    assert parts == ["a" * 152, "€" + "b" * 10]
    assert len(encode_submit("13800138000", "x" * 160)) == 1
    assert len(encode_submit("13800138000", "x" * 161)) == 2


def test_status_report_request_and_validity_are_in_the_header():
    [pdu] = encode_submit("13800138000", "您好", status_report=True, validity_minutes=1440)
    sms = decoded(pdu)
    assert sms["header"]["srr"] is True and sms["header"]["vpf"] == 2
    assert sms["validity-hours"] == 24
    [plain] = encode_submit("13800138000", "您好", validity_minutes=None)
    assert decoded(plain)["header"]["srr"] is False and decoded(plain)["header"]["vpf"] == 0


@pytest.mark.parametrize("minutes", [5, 60, 720, 750, 1440, 2 * 1440, 30 * 1440, 63 * 7 * 1440])
def test_relative_validity_round_trips_on_representable_values(minutes):
    assert validity_minutes(relative_validity(minutes)) == minutes


def test_empty_text_is_refused():
    with pytest.raises(PduError):
        encode_submit("13800138000", "")


def test_status_report_from_a_service_centre_is_read():
    # A published SMS-STATUS-REPORT: reference 0xD6 to +31628870634, status 00 (received).
    report = decode_status_report("0006D60B911326880736F4111011719551401110117195714000")
    assert (report.reference, report.number, report.status) == (0xD6, "+31628870634", 0)
    assert report.delivered and report.final


@pytest.mark.parametrize(
    ("status", "delivered", "final"),
    [(0x00, True, True), (0x21, False, False), (0x30, False, False), (0x41, False, True)],
)
def test_status_report_outcomes(status, delivered, final):
    hex_ = encode_status_report(5, "13800138000", status, "62117231000000")
    report = decode_status_report(hex_)
    assert (report.reference, report.number) == (5, "+8613800138000")
    assert (report.delivered, report.final) == (delivered, final)
