"""`cunban sim idcard` and `cunban devices idcard`."""

from __future__ import annotations

import json
import sys

from device_drivers.base import DeviceError, create_driver
from device_drivers.idcard.driver import BAUD_RATES
from device_drivers.idcard.sim import FAULTS, IdCardSimulator, load_cards, sample_cards
from device_drivers.sim.serve import serve
from protocols.identity import mask_id_number, mask_name

NO_CARD_EXIT = 2


def register_sim(sub) -> None:
    p = sub.add_parser("idcard", help="模拟二代证阅读器（SAM 协议）")
    p.add_argument("--cards", help="卡片文件（JSON 或 YAML）；不给则用内置的邓州示例卡")
    p.add_argument("--card", type=int, default=0, help="开始时放在读卡器上的卡片序号（从0起）")
    p.add_argument("--empty", action="store_true", help="开始时读卡器上没有卡")
    p.add_argument("--fault", action="append", default=[], choices=FAULTS, help="注入故障，可重复")
    p.add_argument("--link", help="在此路径放一个指向伪终端的稳定链接（如 /dev/serial/by-id/…）")
    p.add_argument(
        "--baud", type=int, choices=BAUD_RATES, help="按此波特率的线路速度发送应答（默认不限速）"
    )
    p.set_defaults(func=run_sim)


def register_devices(sub) -> None:
    p = sub.add_parser("idcard", help="从二代证阅读器读一张卡")
    p.add_argument("--port", required=True, help="串口路径或 pyserial URL")
    p.add_argument("--baud", type=int, default=115200, choices=BAUD_RATES, help="波特率")
    p.add_argument("--timeout", type=float, default=10.0, help="等待放卡的秒数")
    p.add_argument("--json", action="store_true", help="以 JSON 输出读到的全部字段")
    p.set_defaults(func=run_devices)


def run_sim(args) -> int:
    """Start the simulator, print its port and answer until Ctrl-C or SIGTERM."""
    try:
        cards = load_cards(args.cards) if args.cards else sample_cards()
    except (OSError, ValueError) as exc:
        print(f"卡片文件无法读取：{exc}", file=sys.stderr)
        return 1
    if not args.empty and not 0 <= args.card < len(cards):
        print(f"卡片序号应在 0 到 {len(cards) - 1} 之间", file=sys.stderr)
        return 1
    sim = IdCardSimulator(cards, link=args.link, baudrate=args.baud, placed=False)
    if not args.empty:
        sim.place(args.card)
    for fault in args.fault:
        sim.inject(fault)
    return serve(sim, on_line=lambda line: _console(sim, line))


CONSOLE_HELP = "命令：place N | remove | fault 故障名 | clear [故障名] | unplug | replug | list"


def _console(sim: IdCardSimulator, line: str) -> None:
    """One technician command typed on standard input while the simulator runs."""
    try:
        reply = _command(sim, line.split())
    except (ValueError, IndexError) as exc:
        reply = f"{exc}；{CONSOLE_HELP}"
    print(reply, file=sys.stderr, flush=True)


def _command(sim: IdCardSimulator, words: list[str]) -> str:
    verb, rest = words[0].lower(), words[1:]
    if verb == "place":
        sim.place(int(rest[0]) if rest else 0)
        return f"已放卡：{mask_name(sim.card.name)}"
    if verb == "remove":
        sim.remove()
        return "已取走卡片"
    if verb == "fault":
        sim.inject(rest[0])
        return f"已注入故障：{rest[0]}"
    if verb == "clear":
        sim.clear(rest[0] if rest else None)
        return "已清除故障"
    if verb == "unplug":
        sim.unplug()
        return "读卡器已拔出"
    if verb == "replug":
        sim.replug()
        return f"读卡器已插回：{sim.port}"
    if verb == "list":
        return "\n".join(
            f"{i}: {mask_name(c.name)} {mask_id_number(c.id_number)}"
            for i, c in enumerate(sim.cards)
        )
    raise ValueError(f"不认识的命令：{verb}")


def run_devices(args) -> int:
    """Read one card and print it; exit 2 when no card came before the timeout."""
    try:
        reader = create_driver("idcard", "sam", port=args.port, baudrate=args.baud)
        with reader:
            card = reader.read_card(timeout=args.timeout)
    except DeviceError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    if card is None:
        print(f"{args.timeout:g}秒内没有读到身份证，请把身份证平放在读卡区后重试", file=sys.stderr)
        return NO_CARD_EXIT
    if args.json:
        print(json.dumps(card.to_public_dict(), ensure_ascii=False))
    else:
        # A terminal may be watched by others: show the person masked.
        fields = card.to_public_dict()
        fields["name"] = mask_name(card.name)
        fields["id_number"] = mask_id_number(card.id_number)
        for key, value in fields.items():
            print(f"{key}: {value}")
    for problem in card.problems:
        print(f"提示：{problem}", file=sys.stderr)
    return 0
