"""`cunban sim modem` and `cunban sim printer` as a technician runs them: the port on the
first line, what the simulator saw after it, a clean stop on SIGTERM; faults by name."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from device_drivers.base import create_driver
from device_drivers.modem.driver import GsmModem  # noqa: F401  (registers modem.at)
from device_drivers.modem.sim import ModemSimulator
from device_drivers.printer.driver import escpos_serial  # noqa: F401  (registers it)
from device_drivers.printer.receipt import Receipt
from device_drivers.printer.sim import PrinterSimulator

# `cunban sim <kind> …` with only that driver's commands loaded (no OpenCV start-up).
SIM_SCRIPT = """
import argparse, importlib, sys
cli = importlib.import_module(f"device_drivers.{sys.argv[1]}.cli")
parser = argparse.ArgumentParser()
cli.register_sim(parser.add_subparsers(dest="kind", required=True))
args = parser.parse_args(sys.argv[1:])
sys.exit(args.func(args))
"""


def start_sim(*argv: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", SIM_SCRIPT, *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )


def stop_sim(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=5)


def test_sim_modem_shows_each_sent_message_masked_and_stops_on_sigterm(tmp_path):
    link = str(tmp_path / "ttyMODEM")
    proc = start_sim("modem", "--link", link)
    try:
        assert proc.stdout.readline().strip() == link
        modem = create_driver("modem", "at", port=link, command_timeout=1.0, send_timeout=2.0)
        try:
            assert len(modem.send("13800138000", "您的申请已受理")) == 1
        finally:
            modem.close()
        assert proc.stdout.readline().strip() == "已发送给 138****8000：您的申请已受理"
    finally:
        code = stop_sim(proc)
    assert code == 0


def test_sim_printer_counts_the_job_bytes_and_stops_on_sigterm(tmp_path):
    link = str(tmp_path / "ttyPRN")
    proc = start_sim("printer", "--link", link)
    try:
        assert proc.stdout.readline().strip() == link
        printer = create_driver("printer", "escpos-serial", port=link, status_timeout=0.5)
        try:
            printer.print_receipt(Receipt(header="张村便民服务站", title="受理回执"))
        finally:
            printer.close()
        line = proc.stdout.readline().strip()
        assert line.startswith("已收到 ") and line.endswith(" 字节")
        assert int(line.removeprefix("已收到 ").removesuffix(" 字节")) > 0
    finally:
        code = stop_sim(proc)
    assert code == 0


def test_sim_printer_started_with_paper_out_reports_paper_out(tmp_path):
    link = str(tmp_path / "ttyPRN")
    proc = start_sim("printer", "--link", link, "--fault", "paper_out")
    try:
        assert proc.stdout.readline().strip() == link
        printer = create_driver("printer", "escpos-serial", port=link, status_timeout=0.5)
        try:
            assert printer.health().code == "paper_out"
        finally:
            printer.close()
    finally:
        code = stop_sim(proc)
    assert code == 0


def test_a_simulator_refuses_an_unknown_fault_and_names_the_known_ones():
    with PrinterSimulator() as printer, ModemSimulator() as modem:
        with pytest.raises(ValueError, match=r"unknown printer fault 'jam'; one of paper_out"):
            printer.set_fault("jam")
        with pytest.raises(ValueError, match=r"unknown modem fault 'jam'; one of sim_missing"):
            modem.set_fault("jam")
        modem.set_fault("flaky")
        printer.set_fault("silent")
        assert modem.flaky_failures == 2 and printer.silent and not modem.silent
