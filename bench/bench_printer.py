"""Provisional-receipt cost: build time, job size, wire time, and a print over the simulator.

A line with a character the printer's font lacks becomes a raster image (48 bytes per
dot row on 58 mm paper), which is what makes a GB2312 printer's job bigger and slower on
a 9600 baud serial line. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from device_drivers.base import create_driver
from device_drivers.printer.receipt import Receipt, build_receipt
from device_drivers.printer.sim import PrinterSimulator

RECEIPT = Receipt(
    header="邓州市张村镇张村便民服务站",
    title="受理回执",
    lines=(
        ("回执号", "411381100200-000007"),
        ("办理事项", "城乡居民基本养老保险参保登记（新参保人员）"),
        ("申请人", "李*䶮"),
        ("承诺办结", "2026年12月4日前（5个工作日）"),
    ),
    qr="https://cunban.example/progress/411381100200-000007?k=8d3f",
    footer=("凭回执号或扫码查询办理进度",),
)


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
    for fonts in ("gb18030", "gb2312"):
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
