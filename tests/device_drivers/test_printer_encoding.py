"""Receipt bytes, read back by an independent ESC/POS tokenizer (pure: no port)."""

from __future__ import annotations

import pytest

from device_drivers.base import ProtocolError
from device_drivers.printer import status as st
from device_drivers.printer.encoding import (
    columns,
    encode_text,
    font_set,
    missing_characters,
    raster_line,
    wrap,
)
from device_drivers.printer.receipt import Receipt, build_receipt
from tests.device_drivers.escpos_tokenizer import TokenizeError, lines, of_kind, tokenize

PROVISIONAL = Receipt(
    header="邓州市张村镇张村便民服务站",
    title="受理回执",
    lines=(
        ("回执号", "411381100200-000007"),
        ("办理事项", "城乡居民基本养老保险参保登记（新参保人员）"),
        ("申请人", "李*喆"),
        ("承诺办结", "2026年12月4日前（5个工作日）"),
    ),
    qr="https://cunban.example/progress/411381100200-000007?k=8d3f",
    footer=("凭回执号或扫码查询办理进度",),
)


def test_chinese_counts_two_columns_and_wraps_at_16_on_58mm_and_24_on_80mm():
    text = "办" * 40
    assert [columns(line) for line in wrap(text, 32)] == [32, 32, 16]
    assert [columns(line) for line in wrap(text, 48)] == [48, 32]
    assert columns("回执号：A-1") == 3 * 2 + 2 + 3


def test_wrap_keeps_ascii_words_whole_and_never_exceeds_the_width():
    lines_ = wrap("请到 village service station 领取 411381100200-000007 回执", 16)
    assert all(columns(line) <= 16 for line in lines_)
    assert lines_ == ["请到 village", "service station", "领取", "411381100200-000", "007 回执"]


@pytest.mark.parametrize("fonts", ["gb2312", "gbk", "gb18030"])
def test_chinese_goes_in_double_byte_mode_and_decodes_back(fonts):
    data = encode_text("回执号：411381-0007 受理", font_set(fonts))
    assert data.count(b"\x1c&") == data.count(b"\x1c.") == 2
    assert lines(tokenize(data, codec=fonts)) == ["回执号：411381-0007 受理"]


def test_python_escpos_style_raw_gb18030_is_rejected_by_the_tokenizer():
    # Raw double-byte text without FS & is what garbles Chinese on a real printer.
    with pytest.raises(TokenizeError):
        tokenize("受理".encode("gb18030"))


@pytest.mark.parametrize(
    ("fonts", "missing"),
    [
        ("gb2312", "䶮喆镕𠀾"),
        ("gbk", "䶮𠀾"),
        ("gb18030", "𠀾"),
        ("gb18030-ext", ""),
    ],
)
def test_characters_outside_the_printers_font_set_are_found(fonts, missing):
    assert "".join(missing_characters("李䶮 王喆 刘镕 𠀾", font_set(fonts))) == missing


def test_encoding_refuses_a_character_the_font_set_lacks():
    with pytest.raises(ValueError, match=r"U\+4DAE"):
        encode_text("䶮", font_set("gbk"))


def test_raster_line_is_full_width_24_dots_high_with_ink_where_the_text_is():
    raster = tokenize(raster_line("李䶮", 384))[0].value
    assert (raster.width_bytes, raster.height) == (48, 24)
    inked = raster.columns_with_ink()
    assert inked and min(inked) < 24 and max(inked) < 2 * 24 + 4  # two glyphs, left aligned
    centred = tokenize(raster_line("李䶮", 384, align="center"))[0].value.columns_with_ink()
    assert abs((min(centred) + max(centred)) / 2 - 192) < 6


def test_gb2312_printer_gets_a_raster_for_the_line_with_a_rare_name_character():
    tokens = tokenize(build_receipt(PROVISIONAL, width_mm=58, fonts="gb2312"))
    text = lines(tokens)
    assert not any("李*喆" in line for line in text)  # not sent as (garbled) text
    rasters = of_kind(tokens, "raster")
    assert len(rasters) == 1 and rasters[0].width_bytes == 384 // 8 and rasters[0].ink() > 50
    assert "回执号：411381100200-000007" in text


def test_gbk_printer_prints_the_same_name_as_text():
    tokens = tokenize(build_receipt(PROVISIONAL, width_mm=58, fonts="gbk"), codec="gbk")
    assert "申请人：李*喆" in lines(tokens)
    assert of_kind(tokens, "raster") == []


@pytest.mark.parametrize(("width_mm", "cols"), [(58, 32), (80, 48)])
def test_provisional_receipt_has_title_lines_qr_and_cut(width_mm, cols):
    tokens = tokenize(build_receipt(PROVISIONAL, width_mm=width_mm, fonts="gb18030"))
    text = lines(tokens)
    assert of_kind(tokens, "init") and tokens[0].kind == "init"
    assert text[0] == "邓州市张村镇张村便民服务站"
    assert "受理回执" in text
    assert all(columns(line) <= cols for line in text)
    joined = "".join(line.strip() for line in text)
    assert "城乡居民基本养老保险参保登记（新参保人员）" in joined
    assert "2026年12月4日前（5个工作日）" in joined
    assert of_kind(tokens, "qr_store") == [PROVISIONAL.qr.encode()]
    assert of_kind(tokens, "qr_model") == [2]
    assert of_kind(tokens, "qr_error_level") == ["M"]
    assert of_kind(tokens, "qr_print")
    kinds = [t.kind for t in tokens]
    assert kinds.index("qr_store") < kinds.index("qr_print") < kinds.index("cut")
    assert kinds[-1] == "cut"


def test_title_is_double_size_for_both_ascii_and_chinese_then_back_to_normal():
    tokens = tokenize(build_receipt(PROVISIONAL))
    kinds = [(t.kind, t.value) for t in tokens]
    title = kinds.index(("text", "受理回执"))
    before = [k for k in kinds[:title] if k[0] in ("print_mode", "kanji_mode")]
    assert before[-2:] == [("print_mode", 0x30), ("kanji_mode", 0x0C)]
    after = [k for k in kinds[title:] if k[0] == "kanji_mode"]
    assert after[0] == ("kanji_mode", 0)


def test_double_size_title_wraps_at_half_the_columns():
    tokens = tokenize(build_receipt(Receipt(title="城乡居民基本养老保险参保登记回执")))
    assert lines(tokens)[:2] == ["城乡居民基本养老", "保险参保登记回执"]


def test_unknown_paper_width_is_refused():
    with pytest.raises(ValueError):
        build_receipt(PROVISIONAL, width_mm=76)


# DLE EOT answers (Epson ESC/POS reference), n = 1, 2, 3, 4 → health code.
STATUS_TABLE = [
    ({1: 0x12, 2: 0x12, 3: 0x12, 4: 0x12}, "ok", ""),
    ({1: 0x16, 2: 0x12, 3: 0x12, 4: 0x12}, "ok", ""),  # drawer pin high: not a fault
    ({1: 0x12, 2: 0x12, 3: 0x12, 4: 0x1E}, "warning", "paper_near_end"),
    ({1: 0x12, 2: 0x12, 3: 0x12, 4: 0x16}, "warning", "paper_near_end"),  # one bit of pair
    ({1: 0x1A, 2: 0x32, 3: 0x12, 4: 0x7E}, "fault", "paper_out"),
    ({1: 0x1A, 2: 0x12, 3: 0x12, 4: 0x52}, "fault", "paper_out"),
    ({1: 0x1A, 2: 0x16, 3: 0x12, 4: 0x12}, "fault", "cover_open"),
    ({1: 0x1A, 2: 0x52, 3: 0x1A, 4: 0x12}, "fault", "cutter_error"),
    ({1: 0x1A, 2: 0x52, 3: 0x32, 4: 0x12}, "fault", "error"),
    ({1: 0x1A, 2: 0x12, 3: 0x12, 4: 0x12}, "fault", "offline"),
]


@pytest.mark.parametrize(("answers", "state", "code"), STATUS_TABLE)
def test_dle_eot_answers_map_to_health(answers, state, code):
    health = st.PrinterStatus.from_bytes(answers).health()
    assert (health.state, health.code) == (state, code)
    if state != "ok":
        assert health.message.endswith(("纸", "盖", "灯", "试", "员"))


def test_paper_out_message_tells_the_officer_what_to_do():
    health = st.PrinterStatus.from_bytes({4: 0x72}).health()
    assert health.message == "打印纸用完了，请信息员更换打印纸"


@pytest.mark.parametrize("value", [0x00, 0xFF, 0x13, 0x92, 0x02])
def test_a_byte_without_the_fixed_bits_is_not_a_status_answer(value):
    with pytest.raises(ProtocolError):
        st.PrinterStatus.from_bytes({1: value})


def test_closing_punctuation_never_starts_a_line():
    assert wrap("办" * 16 + "。请取回执", 32) == ["办" * 15, "办。请取回执"]
    assert wrap("受理" * 8 + "）", 32) == ["受理" * 7 + "受", "理）"]


@pytest.mark.parametrize(("width_mm", "dots"), [(58, 384), (80, 576)])
def test_qr_module_size_keeps_even_a_long_payload_on_the_paper(width_mm, dots):
    sizes = []
    for payload in (PROVISIONAL.qr, PROVISIONAL.qr + "&" + "x" * 250):
        tokens = tokenize(build_receipt(Receipt(title="回执", qr=payload), width_mm=width_mm))
        assert of_kind(tokens, "qr_store") == [payload.encode()]
        sizes.append(of_kind(tokens, "qr_module_size")[0])
    short, long = sizes
    assert 3 <= long < short <= 8
    # version 13 (69 modules) for the long payload at level M, with a 4-module quiet zone
    assert (69 + 8) * long <= dots


def test_loading_the_receipt_builder_leaves_no_directory_in_the_temporary_folder(tmp_path):
    """python-escpos makes a temporary directory whenever it is imported; every `cunban`
    command imports it, so without care each start of a hub or a kiosk left one behind."""
    import os
    import subprocess
    import sys

    from tests.support import ROOT

    code = ("import sys, device_drivers.printer.receipt as r;"
            "assert 'escpos.capabilities' in sys.modules;"
            "sys.stdout.buffer.write(r.build_receipt(r.Receipt(title='受理回执', qr='X'))[:2])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         timeout=60, env={**os.environ, "TMPDIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    assert out.stdout == b"\x1b@"
    assert list(tmp_path.iterdir()) == []
