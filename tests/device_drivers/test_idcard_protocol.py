"""GA/T 467 frames and the ID-card text block, from real byte sequences."""

from __future__ import annotations

from datetime import date

import pytest

from device_drivers.idcard.protocol import (
    NATIONS,
    READ_FRAME_SIZE,
    STATUS_MESSAGES,
    BadFrame,
    CardFormatError,
    Command,
    Request,
    Response,
    encode_read_data,
    encode_request,
    encode_response,
    parse_read_data,
    parse_request,
    parse_response,
    parse_text,
    status_message,
)

H = bytes.fromhex
TODAY = date(2026, 11, 27)

# Requests as printed in reader manuals and vendor sample code.
REQUESTS = [
    (Command.RESET_SAM, "AA AA AA 96 69 00 03 10 FF EC"),
    (Command.SAM_STATUS, "AA AA AA 96 69 00 03 11 FF ED"),
    (Command.SAM_ID, "AA AA AA 96 69 00 03 12 FF EE"),
    (Command.FIND_CARD, "AA AA AA 96 69 00 03 20 01 22"),
    (Command.SELECT_CARD, "AA AA AA 96 69 00 03 20 02 21"),
    (Command.READ_BASE, "AA AA AA 96 69 00 03 30 01 32"),
    (Command.READ_BASE_FP, "AA AA AA 96 69 00 03 30 10 23"),
]


@pytest.mark.parametrize(("command", "wire"), REQUESTS, ids=[c.name for c, _ in REQUESTS])
def test_requests_are_encoded_as_the_manuals_print_them(command, wire):
    assert encode_request(command) == H(wire)
    parsed = parse_request(H(wire))
    assert parsed.frames == [Request(bytes(command))]


# Answers as captured from modules: find ok, no card, select ok/failed, status, faults.
ANSWERS = [
    ("AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 97", 0x9F, H("00000000")),
    ("AA AA AA 96 69 00 04 00 00 80 84", 0x80, b""),
    ("AA AA AA 96 69 00 0C 00 00 90 00 00 00 00 00 00 00 00 9C", 0x90, bytes(8)),
    ("AA AA AA 96 69 00 04 00 00 81 85", 0x81, b""),
    ("AA AA AA 96 69 00 04 00 00 90 94", 0x90, b""),
    ("AA AA AA 96 69 00 04 00 00 60 64", 0x60, b""),
    ("AA AA AA 96 69 00 04 00 00 41 45", 0x41, b""),
]


@pytest.mark.parametrize(("wire", "sw3", "data"), ANSWERS)
def test_captured_answers_parse_to_their_status(wire, sw3, data):
    result = parse_response(H(wire))
    assert result.frames == [Response(0, 0, sw3, data)]
    assert result.rest == b"" and result.skipped == 0


EVERY_CODE = [0x90, 0x91, 0x9F, 0x10, 0x11, 0x21, 0x23, 0x24, 0x31, 0x32, 0x33, 0x37, 0x3F,
              0x40, 0x41, 0x47, 0x60, 0x66, 0x80, 0x81]  # fmt: skip


@pytest.mark.parametrize("sw3", EVERY_CODE, ids=[f"{c:02X}" for c in EVERY_CODE])
def test_every_status_code_round_trips_with_a_chinese_message(sw3):
    # A data-less answer's checksum is 0x04 ^ SW3 (length 00 04, SW1 = SW2 = 00).
    wire = H("AAAAAA9669000400 00") + bytes([sw3, 0x04 ^ sw3])
    assert encode_response(sw3) == wire
    (frame,) = parse_response(wire).frames
    assert frame.sw3 == sw3
    message = frame.message
    assert message == STATUS_MESSAGES[sw3]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in message)


def test_status_messages_are_distinct_and_unknown_codes_still_get_a_sentence():
    assert len(set(STATUS_MESSAGES.values())) == len(STATUS_MESSAGES)
    assert "7E" in status_message(0x7E) and "技术员" in status_message(0x7E)


FIND_OK = H("AAAAAA9669000800009F0000000097")
NO_CARD = H("AAAAAA96690004000080 84")


def test_garbage_before_a_frame_is_skipped_and_counted():
    result = parse_response(b"\x00\x13\xfe\xaa" + NO_CARD)
    assert [f.sw3 for f in result.responses] == [0x80]
    assert result.skipped == 4


def test_concatenated_frames_all_come_out_in_order():
    result = parse_response(FIND_OK + NO_CARD + FIND_OK)
    assert [f.sw3 for f in result.frames] == [0x9F, 0x80, 0x9F]


def test_garbage_between_frames_is_skipped():
    result = parse_response(FIND_OK + b"\x55\xaa\x00" + NO_CARD)
    assert [f.sw3 for f in result.frames] == [0x9F, 0x80]
    assert result.skipped == 3


@pytest.mark.parametrize("cut", [1, 4, 5, 6, 7, 10, len(FIND_OK) - 1])
def test_a_truncated_frame_is_kept_until_the_rest_arrives(cut):
    first = parse_response(FIND_OK[:cut])
    assert first.frames == [] and first.rest == FIND_OK[:cut]
    second = parse_response(first.rest + FIND_OK[cut:])
    assert [f.sw3 for f in second.frames] == [0x9F]


def test_a_bad_checksum_is_reported_and_the_next_frame_still_parses():
    corrupt = FIND_OK[:-1] + b"\x00"
    result = parse_response(corrupt + NO_CARD)
    assert isinstance(result.frames[0], BadFrame) and "校验" in result.frames[0].reason
    assert [f.sw3 for f in result.responses] == [0x80]


def test_a_corrupted_length_does_not_swallow_the_following_frame():
    huge = H("AAAAAA9669 FFFF 0000 90")
    result = parse_response(huge + NO_CARD)
    assert isinstance(result.frames[0], BadFrame)
    assert [f.sw3 for f in result.responses] == [0x80]


def test_a_length_too_short_for_a_status_word_is_bad():
    result = parse_response(H("AAAAAA9669 0002 90 92"))
    assert isinstance(result.frames[0], BadFrame)


# ---------------------------------------------------------------------------------------
# Text block, built here by hand: UCS-2 LE, space padded, GA/T 467 field widths.
WIDTHS = (30, 2, 4, 16, 70, 36, 30, 16, 16, 36)


def block(*values: str) -> bytes:
    assert len(values) == 9
    out = b""
    for value, width in zip((*values, ""), WIDTHS, strict=True):
        out += value.ljust(width // 2).encode("utf-16-le")
    assert len(out) == 256
    return out


ZHAO = ("赵䶮", "1", "01", "20010815", "河南省邓州市十林镇黄营村五组21号",
        "411381200108151037", "邓州市公安局", "20180901", "20280901")  # fmt: skip


def test_a_name_with_a_rare_character_is_read_exactly():
    card = parse_text(block(*ZHAO), today=TODAY)
    assert card.name == "赵䶮"
    assert card.gender == "男" and card.nation == "汉"
    assert card.birth_date == date(2001, 8, 15)
    assert card.address == "河南省邓州市十林镇黄营村五组21号"
    assert card.valid_to == date(2028, 9, 1)
    assert card.id_number_valid and card.problems == []


def test_a_long_term_card_has_no_end_date_and_prints_as_changqi():
    values = ("张秀英", "2", "01", "19520314", "河南省邓州市林扒镇前营村三组58号",
              "411381195203140025", "邓州市公安局", "20120520", "长期")  # fmt: skip
    card = parse_text(block(*values), today=TODAY)
    assert card.valid_to is None and card.problems == []
    public = card.to_public_dict()
    assert public["valid_to"] == "长期" and public["valid_from"] == "2012-05-20"
    assert set(public) == {
        "name",
        "gender",
        "nation",
        "birth_date",
        "address",
        "id_number",
        "authority",
        "valid_from",
        "valid_to",
        "id_number_valid",
    }


def test_an_expired_card_is_flagged_but_still_read():
    values = ("刘桂兰", "2", "01", "19671102", "河南省邓州市张村镇冀寨村一组3号",
              "411381196711023022", "邓州市公安局", "20050310", "20250310")  # fmt: skip
    card = parse_text(block(*values), today=TODAY)
    assert card.id_number_valid
    assert len(card.problems) == 1 and "过期" in card.problems[0]
    assert parse_text(block(*values), today=date(2025, 3, 10)).problems == []


def test_a_wrong_check_digit_is_reported():
    values = list(ZHAO)
    values[5] = "411381200108151038"
    card = parse_text(block(*values), today=TODAY)
    assert not card.id_number_valid
    assert any("校验位" in p for p in card.problems)


def test_birth_date_and_gender_must_agree_with_the_number():
    values = list(ZHAO)
    values[1], values[3] = "2", "20010816"
    card = parse_text(block(*values), today=TODAY)
    assert card.id_number_valid
    assert any("出生日期" in p for p in card.problems)
    assert any("性别" in p for p in card.problems)


@pytest.mark.parametrize(
    ("code", "name"),
    [("01", "汉"), ("03", "回"), ("56", "基诺"), ("97", "其他"), ("98", "外国血统中国籍人士")],
)
def test_nation_codes_map_to_names(code, name):
    values = list(ZHAO)
    values[2] = code
    assert parse_text(block(*values), today=TODAY).nation == name


def test_the_nation_table_is_complete_and_an_unknown_code_is_a_problem():
    assert len(NATIONS) == 58 and all(f"{i:02d}" in NATIONS for i in range(1, 57))
    values = list(ZHAO)
    values[2] = "57"
    card = parse_text(block(*values), today=TODAY)
    assert card.nation == "" and any("民族" in p for p in card.problems)


def _hmt_block() -> bytes:
    widths = (30, 2, 4, 16, 70, 36, 30, 16, 16, 18, 4, 6, 2, 6)
    values = ("陈家明", "1", "", "19900101", "河南省邓州市花洲街道新华路8号",
              "810000199001010019", "邓州市公安局", "20200101", "20250101",
              "H60123456", "01", "", "J", "")  # fmt: skip
    return b"".join(
        v.ljust(w // 2).encode("utf-16-le") for v, w in zip(values, widths, strict=True)
    )


def test_a_hong_kong_residence_permit_is_parsed_with_its_pass_number():
    card = parse_text(_hmt_block(), today=date(2024, 1, 1))
    assert card.card_type == "hmt_residence_permit"
    assert card.name == "陈家明" and card.nation == "" and card.pass_number == "H60123456"
    assert card.id_number == "810000199001010019" and card.id_number_valid
    assert card.problems == []


@pytest.mark.parametrize(("flag", "match"), [("I", "外国人永久居留"), ("Y", "外国人永久居留"),
                                             ("Z", "无法识别")])  # fmt: skip
def test_other_card_types_are_refused_with_a_reason(flag, match):
    text = bytearray(block(*ZHAO))
    text[248:250] = flag.encode("utf-16-le")
    with pytest.raises(CardFormatError, match=match):
        parse_text(bytes(text), today=TODAY)


def test_a_full_read_answer_is_1295_bytes_and_keeps_the_photo_opaque():
    photo = bytes(range(256)) * 4
    frame = encode_response(0x90, encode_read_data(block(*ZHAO), photo))
    assert len(frame) == READ_FRAME_SIZE == 1295
    assert frame[:14] == H("AAAAAA9669 0508 000090 0100 0400")
    (response,) = parse_response(frame).responses
    card = parse_read_data(response.data, today=TODAY)
    assert card.photo_wlt == photo and card.name == "赵䶮"


def test_a_read_with_fingerprint_answer_is_understood():
    text, photo, finger = block(*ZHAO), b"\x01" * 1024, b"\x02" * 1024
    data = H("0100 0400 0400") + text + photo + finger
    card = parse_read_data(data, today=TODAY)
    assert card.name == "赵䶮" and card.photo_wlt == photo


def test_a_short_read_answer_is_refused():
    with pytest.raises(CardFormatError):
        parse_read_data(H("0100 0400") + block(*ZHAO)[:100], today=TODAY)


def test_the_card_repr_masks_the_person():
    card = parse_text(block(*ZHAO), today=TODAY)
    assert "411381200108151037" not in repr(card) and "赵䶮" not in repr(card)
