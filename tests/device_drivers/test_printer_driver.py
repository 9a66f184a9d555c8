"""The real ESC/POS driver against the printer simulator on a pseudo-terminal."""

from __future__ import annotations

import argparse
import os
import threading

import pytest

from device_drivers import cli as device_cli
from device_drivers.base import DeviceError, DeviceTimeout, DeviceUnavailable, create_driver
from device_drivers.printer.driver import CoverOpen, PaperOut, PrinterFault
from device_drivers.printer.receipt import Receipt
from device_drivers.printer.sim import PrinterSimulator
from tests.device_drivers.escpos_tokenizer import lines, of_kind, tokenize

RECEIPT = Receipt(
    header="张村便民服务站",
    title="受理回执",
    lines=(("回执号", "411381100200-000012"), ("申请人", "王*䶮")),
    qr="https://cunban.example/progress/411381100200-000012",
    footer=("凭回执号查询办理进度",),
)


@pytest.fixture
def sim():
    with PrinterSimulator() as s:
        yield s


@pytest.fixture
def printer(sim):
    p = create_driver("printer", "escpos-serial", port=sim.port, status_timeout=0.3)
    yield p
    p.close()


def received(sim, marker: bytes = b"\x1dV") -> list:
    assert sim.wait_for(lambda data: marker in data), "job did not reach the printer"
    return tokenize(bytes(sim.received))


def test_healthy_printer_reports_ok_after_asking_all_four_statuses(sim, printer):
    health = printer.health()
    assert (health.state, health.code) == ("ok", "")
    assert sim.status_requests == [1, 2, 3, 4]
    assert sim.received == b""  # status requests are real-time, not printed


def test_receipt_arrives_with_chinese_qr_and_cut(sim, printer):
    printer.print_receipt(RECEIPT)
    tokens = received(sim)
    text = lines(tokens)
    assert "回执号：411381100200-000012" in text
    assert "申请人：王*䶮" in text  # 䶮 is in GB18030 (four-byte, BMP): printed natively
    assert of_kind(tokens, "qr_store") == [RECEIPT.qr.encode()]
    assert tokens[-1].kind == "cut"
    assert sim.status_requests == [1, 2, 3, 4] * 2  # checked before and after the job


def test_gb2312_printer_gets_the_rare_character_line_as_a_raster(sim):
    p = create_driver("printer", "escpos-serial", port=sim.port, font_set="gb2312")
    try:
        p.print_receipt(RECEIPT)
    finally:
        p.close()
    tokens = received(sim)
    assert not any("王*" in line for line in lines(tokens))
    [raster] = of_kind(tokens, "raster")
    assert raster.ink() > 50


def test_raster_bytes_that_look_like_dle_eot_are_not_answered(sim, printer):
    # A raster whose data is DLE EOT 1 repeated: a printer parses past it, so must we.
    image = b"\x10\x04\x01" * 4
    job = b"\x1dv0\x00\x03\x00\x04\x00" + image + b"\x1dV\x00"
    printer.print_job(job)
    received(sim)
    assert sim.received == job
    assert sim.status_requests == [1, 2, 3, 4] * 2


@pytest.mark.parametrize(
    ("fault", "error", "code"),
    [
        ("paper_out", PaperOut, "paper_out"),
        ("cover_open", CoverOpen, "cover_open"),
        ("offline", PrinterFault, "offline"),
        ("cutter", PrinterFault, "cutter_error"),
    ],
)
def test_a_fault_is_reported_and_nothing_is_printed(sim, printer, fault, error, code):
    sim.set_fault(fault)
    health = printer.health()
    assert (health.state, health.code) == ("fault", code)
    with pytest.raises(error) as caught:
        printer.print_receipt(RECEIPT)
    assert caught.value.message == health.message
    assert sim.received == b""


def test_printing_with_paper_out_says_to_change_the_paper(sim, printer):
    sim.set_fault("paper_out")
    with pytest.raises(DeviceError) as caught:
        printer.print_receipt(RECEIPT)
    assert caught.value.message == "打印纸用完了，请信息员更换打印纸"


def test_paper_running_out_during_the_job_is_reported(sim, printer):
    original = sim.on_bytes

    def run_out_on_cut(data):
        original(data)
        if b"\x1dV" in sim.received:
            sim.paper_out = True

    sim.on_bytes = run_out_on_cut
    with pytest.raises(PaperOut):
        printer.print_receipt(RECEIPT)
    assert b"\x1dV" in sim.received


def test_near_end_warns_but_still_prints(sim, printer):
    sim.set_fault("near_end")
    health = printer.health()
    assert (health.state, health.code) == ("warning", "paper_near_end")
    assert "快用完" in health.message
    printer.print_receipt(RECEIPT)
    assert of_kind(received(sim), "qr_print")


def test_silent_printer_times_out_with_a_plain_message(sim, printer):
    sim.set_fault("silent")
    health = printer.health()
    assert (health.state, health.code) == ("offline", "no_answer")
    with pytest.raises(DeviceTimeout) as caught:
        printer.print_receipt(RECEIPT)
    assert "打印机没有响应" in caught.value.message


def test_unplugged_printer_is_offline_and_printing_fails_for_people(sim, printer):
    assert printer.health().state == "ok"
    sim.unplug()
    assert printer.health().state == "offline"
    with pytest.raises(DeviceUnavailable) as caught:
        printer.print_receipt(RECEIPT)
    assert "连接线" in caught.value.message


def test_replugged_printer_prints_again_without_a_restart(port_link):
    with PrinterSimulator(link=port_link) as s:
        p = create_driver("printer", "escpos-serial", port=port_link, status_timeout=0.3)
        try:
            s.unplug()
            with pytest.raises(DeviceUnavailable):
                p.print_receipt(RECEIPT)
            assert p.health().code == "unavailable"  # path gone: cannot even reopen
            s.replug()
            assert p.health().state == "ok"
            p.print_receipt(RECEIPT)
        finally:
            p.close()
        assert of_kind(received(s), "qr_store") == [RECEIPT.qr.encode()]


def test_opening_a_missing_port_is_device_unavailable(tmp_path):
    with pytest.raises(DeviceUnavailable):
        create_driver("printer", "escpos-serial", port=str(tmp_path / "ttyNONE"))


# USB printer class: the device file path, opened as a file ---------------------------


def test_usb_class_device_reads_status_back_and_prints(sim):
    # A bidirectional device file (as /dev/usb/lpN under usblp); the pty stands in for it.
    p = create_driver("printer", "escpos-usb", device=sim.port, status_timeout=0.3)
    try:
        assert p.health().state == "ok"
        sim.set_fault("paper_out")
        with pytest.raises(PaperOut):
            p.print_receipt(RECEIPT)
        sim.clear_faults()
        p.print_receipt(RECEIPT)
    finally:
        p.close()
    assert of_kind(received(sim), "qr_store") == [RECEIPT.qr.encode()]


def test_usb_class_write_only_into_a_fifo(tmp_path):
    fifo = str(tmp_path / "lp0")
    os.mkfifo(fifo)
    got = bytearray()

    def reader():
        with open(fifo, "rb") as f:
            while chunk := f.read(4096):
                got.extend(chunk)

    thread = threading.Thread(target=reader)
    thread.start()
    p = create_driver("printer", "escpos-usb", device=fifo, bidirectional=False)
    try:
        assert p.health().code == "status_unavailable"
        p.print_receipt(RECEIPT)
    finally:
        p.close()
    thread.join(timeout=5)
    tokens = tokenize(bytes(got))
    assert "回执号：411381100200-000012" in lines(tokens)
    assert b"\x10\x04" not in got  # nobody to answer, so nothing asked


def test_usb_class_plain_file_collects_jobs_and_a_missing_device_is_unplugged(tmp_path):
    path = tmp_path / "lp0"
    path.write_bytes(b"")
    for _ in range(2):
        p = create_driver("printer", "escpos-usb", device=str(path), bidirectional=False)
        p.print_receipt(RECEIPT)
        p.close()
    assert len(of_kind(tokenize(path.read_bytes()), "cut")) == 2
    with pytest.raises(DeviceUnavailable):
        create_driver("printer", "escpos-usb", device=str(tmp_path / "lp9"))


# Command line ----------------------------------------------------------------------------


def _devices(argv):
    parser = argparse.ArgumentParser()
    device_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_print_test_command_prints_chinese_and_a_qr_code(sim, capsys):
    assert _devices(["devices", "print-test", "--port", sim.port, "--width", "80"]) == 0
    tokens = received(sim)
    text = lines(tokens)
    assert "受理回执" in text
    assert "-" * 48 in text  # laid out for 80 mm paper
    # 𠀾 (CJK Ext B) is outside a plain GB18030 printer font: that line comes as a raster.
    assert not any(line.startswith("生僻字") for line in text)
    assert len(of_kind(tokens, "raster")) == 1
    assert of_kind(tokens, "qr_store")
    assert "测试回执已发送" in capsys.readouterr().out


def test_print_test_command_reports_paper_out_plainly(capsys):
    with PrinterSimulator(fault="paper_out") as s:
        assert _devices(["devices", "print-test", "--port", s.port]) == 1
    assert "打印纸用完了" in capsys.readouterr().out
