"""Settings kept in the peripherals themselves, written by the real drivers over the pty
simulators (which record what was set), and the kiosk's report of what did not take."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device_drivers.idcard.driver import SamReader
from device_drivers.idcard.sim import IdCardSimulator
from device_drivers.printer import settings as ps
from device_drivers.printer.driver import escpos_serial
from device_drivers.printer.receipt import Receipt
from device_drivers.printer.sim import PrinterSimulator
from device_drivers.scanner.driver import SerialScanner
from device_drivers.scanner.protocol import menu_reply, menu_request, suffix_commands
from device_drivers.scanner.sim import ScannerSimulator
from firmware_config.signing import sign_config
from kiosk.config import ConfigAgent
from protocols import messages as m

SID = "411381101201"


@pytest.fixture
def printer_sim():
    sim = PrinterSimulator().start()
    yield sim
    sim.stop()


# --- printer ---------------------------------------------------------------------------
@pytest.mark.parametrize(("level", "value"), [(1, 0xFFFD), (4, 0), (8, 4)])
def test_density_levels_map_to_the_customised_value_and_back(level, value):
    assert ps.density_value(level) == value
    assert ps.density_level(value) == level


def test_density_is_written_in_user_setting_mode():
    job = ps.settings_job(density=6)
    assert job == (b"\x1d(E\x03\x00\x01IN" + b"\x1d(E\x04\x00\x05\x05\x02\x00"
                   + b"\x1d(E\x04\x00\x02OUT")
    assert ps.settings_job() == b""
    with pytest.raises(ValueError):
        ps.settings_job(density=9)


def test_the_printer_keeps_density_and_code_page_and_prints_with_the_new_set(printer_sim):
    printer = escpos_serial(printer_sim.port, font_set="gb18030")
    try:
        assert printer.apply_settings(density=7, code_page="gbk") == []
        assert printer_sim.wait_for(lambda _: printer_sim.settings.get("code_page") == "gbk")
        assert printer_sim.settings == {"density": 7, "code_page": "gbk"}
        assert printer_sim.software_resets == 1
        assert printer_sim.received == b""  # settings are not printed
        assert printer.font_set == "gbk"
        printer.print_receipt(Receipt(title="受理回执", lines=[("事项", "低保申请")]))
        assert printer_sim.wait_for(lambda got: "受理回执".encode("gbk") in got)
    finally:
        printer.close()


def test_a_density_sent_outside_user_setting_mode_is_ignored_by_the_printer(printer_sim):
    printer = escpos_serial(printer_sim.port)
    try:
        printer.print_job(ps.set_customized({ps.DENSITY_VALUE: ps.density_value(2)}) + b"x")
        assert printer_sim.wait_for(lambda got: got.endswith(b"x"))
        assert "density" not in printer_sim.settings
    finally:
        printer.close()


def test_a_printer_setting_the_driver_does_not_know_is_returned(printer_sim):
    printer = escpos_serial(printer_sim.port)
    try:
        assert printer.apply_settings(density=None, cut="partial") == ["cut"]
    finally:
        printer.close()


# --- scanner ---------------------------------------------------------------------------
def test_menu_requests_and_replies_are_framed_as_the_module_expects():
    assert menu_request(["TRGMOD0", *suffix_commands("CRLF")]) == (
        b"\x16M\rTRGMOD0;SUFCA2;SUFBK2990D0A.")
    assert menu_reply(b"TRGMOD0\x06;SUFCA2\x06;SUFBK2990D\x15") is None  # not ended yet
    assert menu_reply(b"TRGMOD0\x06;FOO\x05.") == {"TRGMOD0": b"\x06", "FOO": b"\x05"}


def test_the_scanner_takes_mode_and_suffix_and_the_driver_reads_with_them():
    sim = ScannerSimulator(suffix="CR").start()
    scanner = SerialScanner(sim.port, suffix="CR")
    try:
        assert scanner.apply_settings(mode="trigger", suffix="CRLF") == []
        assert sim.settings == {"mode": "trigger", "suffix": "CRLF"}
        assert sim.trigger and scanner.trigger
        sim.scan("411381101201-0001")  # held until the driver triggers a scan
        code = scanner.read_code(2.0)
        assert code is not None and code.data == "411381101201-0001"
        assert sim.triggers == 1
    finally:
        scanner.close()
        sim.stop()


def test_a_scanner_without_menu_commands_reports_both_settings_unwritten():
    sim = ScannerSimulator(menu=False).start()
    scanner = SerialScanner(sim.port)
    try:
        assert scanner.apply_settings(mode="sense", suffix="TAB", reply_timeout=0.3) == [
            "mode", "suffix"]
        assert sim.settings == {} and scanner.assembler.suffix == b"\r"
    finally:
        scanner.close()
        sim.stop()


# --- ID card reader --------------------------------------------------------------------
def test_the_reader_changes_its_baud_rate_and_is_read_at_the_new_one():
    sim = IdCardSimulator(baudrate=115200).start()
    reader = SamReader(sim.port, baudrate=115200)
    try:
        assert reader.apply_settings(baudrate=57600) == []
        assert sim.settings == {"baudrate": 57600}
        assert (reader.baudrate, sim.baudrate) == (57600, 57600)
        assert reader.read_card(timeout=2.0) is not None
        assert reader.apply_settings(baudrate=57600) == []  # already so: nothing sent
        assert sim.requests.count(b"\x60\x01") == 1
    finally:
        reader.close()
        sim.stop()


def test_a_reader_that_refuses_the_rate_keeps_the_old_one():
    sim = IdCardSimulator().start()
    reader = SamReader(sim.port, baudrate=115200)
    try:
        sim.inject("sam_fault", times=1)
        assert reader.apply_settings(baudrate=9600) == ["baudrate"]
        assert reader.baudrate == 115200 and sim.settings == {}
        assert reader.health().state == "ok"
    finally:
        reader.close()
        sim.stop()


# --- the kiosk's configuration agent ---------------------------------------------------
def test_the_kiosk_writes_peripheral_settings_and_reports_those_that_did_not_take(tmp_path):
    key = Ed25519PrivateKey.generate()
    printer = PrinterSimulator().start()
    scanner = ScannerSimulator(menu=False).start()
    reader = IdCardSimulator().start()
    agent = ConfigAgent(SID, tmp_path, key.public_key(), lambda *a: None)
    config = {
        "station": {"id": SID, "name": "关庄村便民服务站"},
        "hub": {"url": "https://hub.example.cn"},
        "broker": {"url": "mqtt://127.0.0.1:1883"},
        "devices": {
            "idcard": {"type": "sam", "port": reader.port, "baudrate": 115200,
                       "internal": {"baudrate": 57600}},
            "printer": {"type": "escpos-serial", "port": printer.port, "font_set": "gbk",
                        "internal": {"density": 3, "code_page": "gbk"}},
            "scanner": {"type": "serial", "port": scanner.port, "suffix": "CR",
                        "internal": {"mode": "trigger", "suffix": "CR"}},
        },
        "services": {"photo_materials": False},
    }
    try:
        report = agent.handle(m.encode(sign_config(key, SID, 1, config)))
        assert report.state == "applied", report.errors
        assert report.errors == [
            "devices.scanner.internal.mode: 设备没有接受这项设置，请在设备上手动设置",
            "devices.scanner.internal.suffix: 设备没有接受这项设置，请在设备上手动设置",
        ]
        assert printer.wait_for(lambda _: printer.settings.get("code_page") == "gbk")
        assert printer.settings == {"density": 3, "code_page": "gbk"}
        assert reader.settings == {"baudrate": 57600}
    finally:
        agent.close()
        printer.stop()
        scanner.stop()
        reader.stop()
