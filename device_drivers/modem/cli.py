"""`cunban sim modem` and `cunban devices sms`."""

from __future__ import annotations

from device_drivers.base import DeviceError, create_driver
from device_drivers.modem.driver import mask_number
from device_drivers.modem.sim import FAULTS, ModemSimulator
from device_drivers.sim.serve import serve


def register_sim(sub) -> None:
    p = sub.add_parser("modem", help="GSM 短信猫模拟器（AT 命令，PDU 模式）")
    p.add_argument("--fault", choices=FAULTS, help="注入故障")
    p.add_argument("--link", help="在此路径放一个指向伪终端的符号链接")
    p.set_defaults(func=run_sim)


def register_devices(sub) -> None:
    p = sub.add_parser("sms", help="用短信猫发送一条测试短信")
    p.add_argument("--port", required=True, help="短信猫串口，如 /dev/ttyUSB2")
    p.add_argument("--baudrate", type=int, default=115200)
    p.add_argument("--to", required=True, help="收信手机号")
    p.add_argument("--text", required=True, help="短信内容")
    p.add_argument("--status-report", action="store_true", help="要求状态报告")
    p.set_defaults(func=run_sms)


def run_sim(args) -> int:
    """Start the simulator, print its port and every message it sends, until Ctrl-C or
    SIGTERM."""
    sim = ModemSimulator(link=args.link, fault=args.fault)
    shown = 0

    def show_sent() -> None:
        nonlocal shown
        messages = sim.texts()
        for number, text in messages[shown:]:
            print(f"已发送给 {mask_number(number)}：{text}", flush=True)
        shown = len(messages)

    return serve(sim, tick=show_sent, every=0.3)


def run_sms(args) -> int:
    modem = create_driver(
        "modem", "at", port=args.port, baudrate=args.baudrate, status_report=args.status_report
    )
    try:
        refs = modem.send(args.to, args.text)
    except DeviceError as exc:
        print(exc.message)
        return 1
    finally:
        modem.close()
    print(f"短信已发送给 {mask_number(args.to)}，共 {len(refs)} 条，参考号 {refs}")
    return 0
