"""Provisional-receipt cost: build time, job size, wire time, and a print over the simulator.

The receipt is the print-test one: its rare-character line (䶮 喆 镕 𠀾) becomes a raster
image (48 bytes per dot row on 58 mm paper) wherever the printer's font lacks one of
them, which is what makes the job bigger and slower on a 9600 baud serial line.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import time

from device_drivers.base import create_driver
from device_drivers.printer.cli import sample_receipt
from device_drivers.printer.receipt import build_receipt
from device_drivers.printer.sim import PrinterSimulator

RECEIPT = sample_receipt(dt.datetime(2026, 11, 27, 9, 30))


def _median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    result: dict[str, object] = {}
    for fonts in ("gb18030-ext", "gb18030", "gb2312"):
        job = build_receipt(RECEIPT, width_mm=58, fonts=fonts)
        result[fonts] = {
            "build_ms": _median_ms(lambda f=fonts: build_receipt(RECEIPT, fonts=f), args.runs),
            "bytes": len(job),
            "wire_ms_9600": round(len(job) * 10 / 9600 * 1000),
            "wire_ms_115200": round(len(job) * 10 / 115200 * 1000, 1),
        }
    with PrinterSimulator() as sim:
        printer = create_driver("printer", "escpos-serial", port=sim.port)
        try:
            result["print_over_pty_ms"] = _median_ms(
                lambda: printer.print_receipt(RECEIPT), max(3, args.runs // 4)
            )
        finally:
            printer.close()
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
