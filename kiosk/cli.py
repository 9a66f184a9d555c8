"""`cunban kiosk submit` (file one application through the outbox) and `cunban kiosk run`
(a headless station: upload the outbox, keep statuses), used by demos and technicians."""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path

from kiosk.enroll import register_enroll
from kiosk.officers import register_officer
from protocols.topics import TopicError, check_station_id


def _station_dir(args) -> Path:
    return Path(args.data or f"var/kiosk-{args.station}")


def _submit(args) -> int:
    from kiosk.catalog_cache import load_catalog
    from kiosk.outbox import Outbox
    from kiosk.uploader import Uploader
    from protocols import messages as m
    from protocols.identity import InvalidIdNumber, parse_id_number

    try:
        check_station_id(args.station)
        ident = parse_id_number(args.id_number)
    except (TopicError, InvalidIdNumber) as exc:
        print(getattr(exc, "reason", str(exc)), file=sys.stderr)
        return 2
    data_dir = _station_dir(args)
    outbox = Outbox(data_dir, args.station)
    uploader = Uploader(outbox, args.mqtt).start()
    try:
        catalog = load_catalog(uploader, data_dir, args.catalog_wait)
        if catalog is None:
            print("还没有收到事项目录，请先连上中心网络再办理", file=sys.stderr)
            return 2
        try:
            item = catalog.item(args.service)
            required = catalog.required_materials(item.code, args.category)
        except (KeyError, ValueError) as exc:
            print(f"事项或类别不正确：{exc}", file=sys.stderr)
            return 2
        to_photograph = [mat for mat in required if not mat.from_id_card]
        photos = [Path(p).read_bytes() for p in args.photo]
        if len(photos) < len(to_photograph):
            names = "、".join(mat.name for mat in to_photograph)
            print(f"“{item.name}”需要拍摄 {len(to_photograph)} 份材料（{names}），"
                  f"只给了 {len(photos)} 张", file=sys.stderr)
            return 2
        import hashlib
        refs = [m.MaterialRef(code=mat.code, sha256=hashlib.sha256(data).hexdigest(),
                              mime="image/png" if data.startswith(b"\x89PNG") else "image/jpeg")
                for mat, data in zip(to_photograph, photos, strict=False)]
        applicant = m.Applicant(id_number=ident.value, name=args.name, gender=ident.gender,
                                birth_date=ident.birth_date, phone=args.phone)
        fields = {"service_code": item.code, "catalog_version": catalog.version,
                  "applicant": applicant, "category": args.category, "materials": refs,
                  "form": dict(kv.split("=", 1) for kv in args.form)}
        filed = outbox.file(fields, photos[:len(refs)])
        print(f"已提交（回执号 {filed.receipt_number}）", flush=True)
        if args.offline:
            return 0
        uploader.nudge()
        deadline = time.monotonic() + args.wait
        while time.monotonic() < deadline:
            receipt = outbox.receipt(str(filed.application_id))
            if receipt:
                print(f"中心已收件，办件编号 {receipt['case_number']}", flush=True)
                return 0
            bad = [r for r in outbox.invalid() if r["id"] == str(filed.application_id)]
            if bad:
                print(f"中心退回了这份申请：{bad[0]['last_error']}", file=sys.stderr)
                return 1
            time.sleep(0.1)
        print("申请已保存在本机，网络恢复后会自动上传", flush=True)
        return 0
    finally:
        uploader.stop()
        outbox.close()


def _run(args) -> int:
    from kiosk.outbox import Outbox
    from kiosk.uploader import Uploader

    check_station_id(args.station)
    outbox = Outbox(_station_dir(args), args.station)
    uploader = Uploader(outbox, args.mqtt, first_retry=args.first_retry).start()
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    print(f"kiosk {args.station} uploading from {outbox.root}", flush=True)
    done.wait()
    uploader.stop()
    outbox.close()
    return 0


def _app(args) -> int:
    if not args.config:
        print("请用 --config 指定终端配置文件，或给出子命令（submit、run、demo-tour）",
              file=sys.stderr)
        return 2
    from firmware_config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except (ConfigError, OSError) as exc:
        print(f"终端配置不能用，请改正后再启动：\n{exc}", file=sys.stderr)
        return 2
    from kiosk.app import configure_window

    configure_window(args.size)
    from kiosk.app import make_app
    from kiosk.bootstrap import build_kiosk

    # No catalog wait here: the welcome screen comes first, the hub's catalog follows.
    make_app(lambda post: build_kiosk(config, post, data_dir=args.app_data)).run()
    return 0


def _demo_tour(args) -> int:
    from kiosk.ui.tour import run_tour

    return run_tour(Path(args.out), args.mqtt, args.size, tuple(args.scenario or ["tour"]),
                    args.shot_width)


def register(sub) -> None:
    kiosk = sub.add_parser("kiosk", help="村级服务站终端")
    kiosk.add_argument("--config", help="kiosk configuration (YAML): run the touchscreen app")
    kiosk.add_argument("--data", dest="app_data", default="var/kiosk",
                       help="kiosk data directory (outbox, officers.json, applied config)")
    kiosk.add_argument("--size", default="1920x1080", choices=["1920x1080", "1280x800"],
                       help="window size")
    kiosk.add_argument("--catalog-wait", type=float, default=10.0,
                       help="seconds submit waits for the catalog before using the cached one")
    kiosk.set_defaults(func=_app)
    ksub = kiosk.add_subparsers(dest="kiosk_command")
    register_enroll(ksub)
    register_officer(ksub)
    tour = ksub.add_parser("demo-tour", help="walk the real app through one application")
    tour.add_argument("--out", required=True, help="folder for a PNG of every screen")
    tour.add_argument("--mqtt", help="use this broker (and its hub) instead of starting one")
    tour.add_argument("--size", default="1920x1080", choices=["1920x1080", "1280x800"])
    tour.add_argument("--scenario", action="append",
                      choices=["tour", "officer", "paper-out", "idle", "offline", "form"],
                      help="what to walk through (repeatable, in order; default tour)")
    tour.add_argument("--shot-width", type=int,
                      help="scale each saved screen down to this width (README screenshots)")
    tour.set_defaults(func=_demo_tour)
    submit = ksub.add_parser("submit", help="file one application through the outbox")
    submit.add_argument("--station", required=True, help="12-digit village division code")
    submit.add_argument("--service", required=True, help="catalog item code")
    submit.add_argument("--id-number", required=True)
    submit.add_argument("--name", default="申请人")
    submit.add_argument("--phone", required=True)
    submit.add_argument("--category")
    submit.add_argument("--form", action="append", default=[], help="KEY=VALUE")
    submit.add_argument("--photo", action="append", default=[], nargs="+",
                        help="photos of the required materials, in catalog order")
    submit.add_argument("--data", help="kiosk data directory")
    submit.add_argument("--mqtt", default="mqtt://127.0.0.1:1883")
    submit.add_argument("--wait", type=float, default=15.0, help="seconds to wait for the ack")
    submit.add_argument("--catalog-wait", type=float, default=5.0)
    submit.add_argument("--offline", action="store_true",
                        help="only write to the outbox (upload later with `kiosk run`)")
    submit.set_defaults(func=lambda a: _submit(_flatten(a)))
    run = ksub.add_parser("run", help="upload the outbox and keep statuses until stopped")
    run.add_argument("--station", required=True)
    run.add_argument("--data")
    run.add_argument("--mqtt", default="mqtt://127.0.0.1:1883")
    run.add_argument("--first-retry", type=float, default=5.0)
    run.set_defaults(func=_run)


def _flatten(args):
    args.photo = [p for group in args.photo for p in group]
    return args
