"""`cunban sim scanner` and `cunban devices scanner`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from device_drivers.base import DeviceError, create_driver
from device_drivers.scanner.protocol import SUFFIXES
from device_drivers.scanner.sim import ScannerSimulator
from device_drivers.sim.serve import serve

NO_CODE_EXIT = 2


def register_sim(sub) -> None:
    p = sub.add_parser("scanner", help="模拟扫码模块：把文字当作扫到的码发出")
    p.add_argument("--suffix", default="CR", type=str.upper, choices=SUFFIXES, help="后缀")
    p.add_argument("--codes", help="码文件，每行一个码；依次“扫出”")
    p.add_argument("--interval", type=float, default=2.0, help="两次扫码之间的秒数")
    p.add_argument("--link", help="在此路径放一个指向伪终端的稳定链接")
    p.add_argument("--trigger", action="store_true", help="命令触发模式：收到触发命令才出码")
    p.set_defaults(func=run_sim)


def register_devices(sub) -> None:
    p = sub.add_parser("scanner", help="从扫码模块读一个码")
    p.add_argument("--port", required=True, help="串口路径或 pyserial URL")
    p.add_argument("--baud", type=int, default=9600, help="波特率")
    p.add_argument("--suffix", default="CR", type=str.upper, choices=SUFFIXES, help="后缀")
    p.add_argument("--trigger", action="store_true", help="命令触发模式")
    p.add_argument("--timeout", type=float, default=10.0, help="等待扫码的秒数")
    p.add_argument("--json", action="store_true", help="以 JSON 输出")
    p.set_defaults(func=run_devices)


def run_sim(args) -> int:
    """Start the simulator, print its port, scan the file's codes, then every line typed on
    standard input, until Ctrl-C or SIGTERM."""
    codes: list[str] = []
    if args.codes:
        try:
            text = Path(args.codes).read_text(encoding="utf-8")
        except OSError as exc:
            print(f"码文件无法读取：{exc}", file=sys.stderr)
            return 1
        codes = [line for line in text.splitlines() if line.strip()]
    sim = ScannerSimulator(args.suffix, link=args.link, trigger=args.trigger)
    pending = iter(codes)

    def scan_next() -> None:
        code = next(pending, None)
        if code is not None:
            sim.scan(code)

    # A zero interval would leave the idle wait spinning once the file is done.
    return serve(sim, on_line=sim.scan, tick=scan_next, every=max(args.interval, 0.01))


def run_devices(args) -> int:
    """Read one code and print it; exit 2 when nothing was scanned before the timeout."""
    try:
        scanner = create_driver(
            "scanner", "serial", port=args.port, baudrate=args.baud, suffix=args.suffix,
            trigger=args.trigger,
        )  # fmt: skip
        with scanner:
            code = scanner.read_code(args.timeout)
    except DeviceError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    for rejected in scanner.rejections:
        print(f"提示：{rejected.reason}", file=sys.stderr)
    if code is None:
        print(f"{args.timeout:g}秒内没有扫到码，请把码对准扫码窗口后重试", file=sys.stderr)
        return NO_CODE_EXIT
    if args.json:
        print(json.dumps({"type": code.type, "data": code.data}, ensure_ascii=False))
    else:
        print(code.data)
    return 0
