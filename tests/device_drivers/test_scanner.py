"""Scanner module: line assembly as a table, then the real driver over the pty simulator."""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
import time

import pytest

from device_drivers.base import DeviceError, DeviceUnavailable, ScannedCode, create_driver
from device_drivers.scanner import LineAssembler, Rejected, SerialScanner, decode_line
from device_drivers.scanner import cli as scanner_cli
from device_drivers.scanner.sim import ScannerSimulator
from tests.device_drivers.conftest import wait_until

CASE = "411381-20261127-0042"


def codes(items):
    return [i.data if isinstance(i, ScannedCode) else "REJECTED" for i in items]


@pytest.mark.parametrize(
    ("suffix", "stream", "expected"),
    [
        ("CR", b"ABC\rDEF\r", ["ABC", "DEF"]),
        ("CRLF", b"ABC\r\nDEF\r\n", ["ABC", "DEF"]),
        ("LF", b"ABC\nDEF\n", ["ABC", "DEF"]),
        ("TAB", b"ABC\tDEF\t", ["ABC", "DEF"]),
        ("CR", b"ABC\r\nDEF\r\n", ["ABC", "DEF"]),  # module set to CRLF, we expect CR
        ("LF", b"ABC\r\nDEF\r\n", ["ABC", "DEF"]),  # CR left over before LF
        ("CR", b"\r\r\rABC\r", ["ABC"]),  # empty lines are not codes
        ("CR", b"ABC", []),  # no suffix yet: nothing
    ],
)
def test_suffixes_cut_lines(suffix, stream, expected):
    assert codes(LineAssembler(suffix).feed(stream, 0.0)) == expected


def test_a_line_split_across_reads_is_completed():
    lines = LineAssembler("CRLF")
    assert lines.feed(b"https://zw.example/q?", 0.0) == []
    assert lines.feed(b"id=42\r", 0.01) == []
    assert codes(lines.feed(b"\nNEXT\r\n", 0.02)) == ["https://zw.example/q?id=42", "NEXT"]


def test_without_a_suffix_the_idle_gap_ends_a_code():
    lines = LineAssembler("NONE", idle_gap=0.05)
    assert lines.feed(b"ABC", 0.0) == [] and lines.flush_idle(0.03) == []
    assert lines.feed(b"DEF", 0.04) == []
    assert codes(lines.flush_idle(0.10)) == ["ABCDEF"]
    assert codes(lines.feed(b"X", 0.2) + lines.feed(b"Y", 0.5)) == ["X"]  # gap before Y


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("邓州市政务服务".encode(), "邓州市政务服务"),
        ("邓州市政务服务".encode("gb18030"), "邓州市政务服务"),  # Chinese code page module
        (b"\xef\xbb\xbfABC", "ABC"),  # BOM dropped
        (
            b"01095011010209171719050810ABCD1234\x1d2110",
            "01095011010209171719050810ABCD1234\x1d2110",
        ),
    ],
)
def test_decoding_tries_utf8_then_gb18030(raw, expected):
    assert decode_line(raw) == ScannedCode("UNKNOWN", expected)


@pytest.mark.parametrize("raw", [b"\xff\xfe\x81", b"AB\x00CD", b"\x1b[2J"])
def test_undecodable_or_noisy_lines_are_rejected_with_a_reason(raw):
    result = decode_line(raw)
    assert isinstance(result, Rejected) and "重新扫码" in result.reason


def test_aim_identifiers_name_the_symbology():
    assert decode_line(b"]Q1" + CASE.encode(), aim_ids=True) == ScannedCode("QRCODE", CASE)
    assert decode_line(b"]C0ABC", aim_ids=True) == ScannedCode("CODE128", "ABC")
    assert decode_line(b"]Q1X") == ScannedCode("UNKNOWN", "]Q1X")


def test_a_stale_fragment_is_dropped_as_noise_when_a_new_code_comes():
    lines = LineAssembler("CR", stale_after=0.5)
    assert lines.feed(b"\x13\x88", 0.0) == []
    assert codes(lines.feed(b"CODE\r", 0.2)) == ["REJECTED"]  # still one burst: spoiled
    assert lines.feed(b"\x13", 1.0) == []
    assert codes(lines.feed(b"CODE\r", 2.0)) == ["REJECTED", "CODE"]


def test_an_overlong_line_is_rejected_once_and_the_next_code_survives():
    lines = LineAssembler("CR", max_length=8)
    out = lines.feed(b"0123456789", 0.0) + lines.feed(b"ABCDEFGHIJ", 0.0)
    out += lines.feed(b"tail\rOK\r", 0.0)
    assert codes(out) == ["REJECTED", "OK"]


def test_an_unknown_suffix_is_refused_in_words():
    with pytest.raises(DeviceError, match="后缀"):
        SerialScanner("/dev/null", suffix="ETX")


# ---------------------------------------------------------------------------------------
# Contract over the pty.


@pytest.fixture
def pair(port_link, request):
    suffix = getattr(request, "param", "CR")
    with (
        ScannerSimulator(suffix, link=port_link) as sim,
        SerialScanner(sim.port, suffix=suffix) as scanner,
    ):
        scanner.open()  # opening a port discards what arrived before (pyserial)
        yield sim, scanner


@pytest.mark.parametrize("pair", ["CR", "CRLF", "LF", "TAB", "NONE"], indirect=True)
def test_each_suffix_delivers_codes_in_order(pair):
    sim, scanner = pair
    sim.scan(CASE)
    assert scanner.read_code(1) == ScannedCode("UNKNOWN", CASE)
    assert scanner.read_code(0.1) is None
    sim.scan("邓州")
    assert scanner.read_code(1).data == "邓州"


def test_two_codes_in_one_burst_come_out_one_per_call(pair):
    sim, scanner = pair
    sim.scan("A1")
    sim.scan("B2")
    time.sleep(0.05)
    assert [scanner.read_code(1).data, scanner.read_code(1).data] == ["A1", "B2"]


def test_a_code_split_over_two_calls_is_completed(pair):
    sim, scanner = pair
    sim.send(b"4113812026")
    assert scanner.read_code(0.1) is None
    sim.send(b"1127\r")
    assert scanner.read_code(1).data == "41138120261127"


def test_a_code_sent_in_pieces_is_read_whole(pair):
    sim, scanner = pair
    threading.Thread(target=sim.scan, args=(CASE,), kwargs={"split": 0.1}).start()
    assert scanner.read_code(1).data == CASE


def test_garbage_is_set_aside_and_reading_goes_on(port_link):
    with ScannerSimulator(link=port_link) as sim, SerialScanner(sim.port, stale_after=0.1) as s:
        s.open()
        sim.inject_garbage(b"\xff\xfe\x81\x00\r")  # noise that ends like a line
        sim.scan("OK1")
        assert s.read_code(1).data == "OK1"
        sim.inject_garbage(b"\x00\x13\x88")  # noise without an end, then a pause
        assert s.read_code(0.2) is None
        sim.scan("OK2")
        assert s.read_code(1).data == "OK2"
        assert len(s.rejections) == 2 and all("重新扫码" in r.reason for r in s.rejections)


def test_gb18030_codes_are_decoded(pair):
    sim, scanner = pair
    sim.scan("村办回执", encoding="gb18030")
    assert scanner.read_code(1).data == "村办回执"


def test_silence_returns_none_within_the_timeout(pair):
    sim, scanner = pair
    sim.silent = True
    sim.scan("lost")
    start = time.monotonic()
    assert scanner.read_code(0.2) is None
    assert time.monotonic() - start < 1.0


def test_trigger_mode_scans_only_when_triggered(port_link):
    with (
        ScannerSimulator(link=port_link, trigger=True) as sim,
        SerialScanner(sim.port, trigger=True, trigger_on="16 54 0D") as scanner,
    ):
        sim.scan("ONE")
        time.sleep(0.1)
        assert sim.triggers == 0  # the module waits for the command
        assert scanner.read_code(1).data == "ONE"
        assert sim.triggers == 1 and wait_until(lambda: not sim.armed)
        assert scanner.read_code(0.1) is None  # triggered, nothing presented, stopped
        threading.Timer(0.1, sim.scan, args=("TWO",)).start()
        assert scanner.read_code(1).data == "TWO"


def test_without_trigger_mode_nothing_is_written_to_the_module(pair):
    sim, scanner = pair
    assert scanner.read_code(0.05) is None
    assert sim.triggers == 0


def test_unplug_raises_and_replug_works_again(pair):
    sim, scanner = pair
    sim.scan("before")
    assert scanner.read_code(1).data == "before"
    sim.unplug()
    with pytest.raises(DeviceUnavailable, match="扫码器"):
        scanner.read_code(0.5)
    assert scanner.health().state == "offline"
    sim.replug()
    assert scanner.health().state == "ok"  # reopened, as a polling kiosk would
    sim.scan("after")
    assert scanner.read_code(1).data == "after"


def test_the_registry_builds_the_serial_scanner(port_link):
    with ScannerSimulator("LF", link=port_link) as sim:
        scanner = create_driver("scanner", "serial", port=sim.port, suffix="LF")
        scanner.open()
        sim.scan("via registry")
        assert scanner.read_code(1).data == "via registry"
        scanner.close()


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="cunban")
    scanner_cli.register_devices(parser.add_subparsers(dest="kind", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_devices_scanner_prints_a_code_and_exits_2_without_one(port_link, capsys):
    with ScannerSimulator(link=port_link) as sim:
        threading.Timer(0.1, sim.scan, args=(CASE,)).start()
        assert run_cli("scanner", "--port", sim.port, "--timeout", "1", "--json") == 0
        assert json.loads(capsys.readouterr().out) == {"type": "UNKNOWN", "data": CASE}
        assert run_cli("scanner", "--port", sim.port, "--timeout", "0.1") == 2
        assert "没有扫到码" in capsys.readouterr().err


SIM_SCRIPT = """
import argparse, sys
from device_drivers.scanner import cli
parser = argparse.ArgumentParser()
cli.register_sim(parser.add_subparsers(dest="kind", required=True))
args = parser.parse_args(sys.argv[1:])
sys.exit(args.func(args))
"""


def test_sim_scanner_scans_the_codes_of_a_file_with_the_chosen_suffix(tmp_path):
    codes_file = tmp_path / "codes.txt"
    codes_file.write_text(f"{CASE}\n村办回执\n", encoding="utf-8")
    link = str(tmp_path / "ttySCAN")
    argv = ["scanner", "--suffix", "crlf", "--codes", str(codes_file), "--interval", "0.3"]
    proc = subprocess.Popen(
        [sys.executable, "-c", SIM_SCRIPT, *argv, "--link", link],
        stdout=subprocess.PIPE,
        stdin=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == link
        with SerialScanner(link, suffix="CRLF") as scanner:
            scanner.open()
            assert scanner.read_code(2).data == CASE
            assert scanner.read_code(2).data == "村办回执"
            proc.stdin.write("typed by hand\n")
            proc.stdin.flush()
            assert scanner.read_code(2).data == "typed by hand"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
