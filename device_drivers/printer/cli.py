"""`cunban sim printer` and `cunban devices print-test`."""

from __future__ import annotations

import datetime as dt

from device_drivers.base import DeviceError, create_driver
from device_drivers.printer.encoding import FONT_SETS
from device_drivers.printer.receipt import Receipt
from device_drivers.printer.sim import FAULTS, PrinterSimulator
from device_drivers.sim.serve import serve


def register_sim(sub) -> None:
    p = sub.add_parser("printer", help="ESC/POS 小票打印机模拟器（应答 DLE EOT 状态查询）")
    p.add_argument("--fault", choices=FAULTS, help="注入故障")
    p.add_argument("--link", help="在此路径放一个指向伪终端的符号链接")
    p.set_defaults(func=run_sim)


def register_devices(sub) -> None:
    p = sub.add_parser("print-test", help="打印一张含中文和二维码的测试回执")
    p.add_argument(
        "--port", required=True, help="串口（/dev/ttyUSB0）或 USB 打印机（/dev/usb/lp0）"
    )
    p.add_argument(
        "--type",
        default="",
        choices=("", "escpos-serial", "escpos-usb"),
        help="默认按路径判断：/dev/usb/lp* 为 escpos-usb",
    )
    p.add_argument("--baudrate", type=int, default=9600)
    p.add_argument("--width", type=int, choices=(58, 80), default=58, help="纸宽（毫米）")
    p.add_argument(
        "--font-set", choices=sorted(FONT_SETS), default="gb18030", help="打印机配置的中文字库"
    )
    p.set_defaults(func=run_print_test)


def run_sim(args) -> int:
    """Start the simulator, print its port and how many job bytes it has received, until
    Ctrl-C or SIGTERM."""
    sim = PrinterSimulator(link=args.link, fault=args.fault)
    seen = 0

    def show_received() -> None:
        nonlocal seen
        if len(sim.received) != seen:
            seen = len(sim.received)
            print(f"已收到 {seen} 字节", flush=True)

    return serve(sim, tick=show_received)


def sample_receipt(now: dt.datetime | None = None) -> Receipt:
    """A receipt exercising double-byte text, rare name characters, wrapping and QR."""
    now = now or dt.datetime.now()
    return Receipt(
        header="村办便民服务站 打印测试",
        title="受理回执",
        lines=(
            ("回执号", "411381100200-000001"),
            ("办理事项", "城乡居民基本养老保险参保登记（测试，请勿作为办件凭证）"),
            ("生僻字", "䶮 喆 镕 𠀾"),
            ("打印时间", now.strftime("%Y-%m-%d %H:%M")),
        ),
        qr="https://cunban.example/progress/411381100200-000001",
        footer=("扫码或凭回执号查询办理进度", "Cunban print test"),
    )


def run_print_test(args) -> int:
    type_ = args.type or ("escpos-usb" if args.port.startswith("/dev/usb/lp") else "escpos-serial")
    settings = {"width_mm": args.width, "font_set": args.font_set}
    if type_ == "escpos-usb":
        settings["device"] = args.port
    else:
        settings.update(port=args.port, baudrate=args.baudrate)
    try:
        printer = create_driver("printer", type_, **settings)
        try:
            health = printer.health()
            print(f"打印机状态：{health.state} {health.message}")
            printer.print_receipt(sample_receipt())
        finally:
            printer.close()
    except DeviceError as exc:
        print(exc.message)
        return 1
    print("测试回执已发送到打印机")
    return 0
