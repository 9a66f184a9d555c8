"""`cunban config …`, `cunban fleet …`, `cunban pki …`, `cunban broker …`: the
technician's commands for kiosk configuration, enrolment, certificates and the broker."""

from __future__ import annotations

import json
import sys

import yaml

from protocols.topics import DEFAULT_ROOT


def register(sub) -> None:
    config = sub.add_parser("config", help="站点终端配置：校验、升级格式、硬件型号档案")
    csub = config.add_subparsers(dest="config_command", required=True)
    validate = csub.add_parser("validate", help="校验配置文件，列出每个错误及其位置")
    validate.add_argument("file")
    validate.add_argument("--catalog", help="事项目录目录（检查 services.offered）；默认用内置目录")
    validate.add_argument("--no-catalog", action="store_true", help="不对照事项目录")
    validate.set_defaults(func=_validate)
    migrate = csub.add_parser("migrate", help="把旧格式的配置升级为当前格式并输出（YAML）")
    migrate.add_argument("file")
    migrate.set_defaults(func=_migrate)
    prof = csub.add_parser("profiles", help="列出硬件型号档案")
    prof.set_defaults(func=_profiles)

    fleet = sub.add_parser("fleet", help="站点登记、吊销、在线状况")
    fsub = fleet.add_subparsers(dest="fleet_command", required=True)
    add = fsub.add_parser(
        "add-station", help="登记新站点：打印 MQTT 账号（只显示一次）和一次性登记码"
    )
    add.add_argument("sid", help="站点编号（村的12位统计用区划代码，可加后缀）")
    add.add_argument("--data", required=True, help="中心数据目录")
    add.add_argument("--name", help="站点名称")
    add.add_argument("--json", action="store_true", help="以 JSON 输出")
    add.add_argument("--broker-dir", help="消息服务器配置目录：更新账号文件并通知服务器重读")
    add.add_argument("--root", default=DEFAULT_ROOT)
    add.set_defaults(func=_issue_credentials)
    reissue = fsub.add_parser(
        "reissue", help="重新生成站点的 MQTT 密码和一次性登记码（登记码过期、换机时）"
    )
    reissue.add_argument("sid")
    reissue.add_argument("--data", required=True)
    reissue.add_argument("--json", action="store_true", help="以 JSON 输出")
    reissue.add_argument("--broker-dir", help="消息服务器配置目录：更新账号文件并通知服务器重读")
    reissue.add_argument("--root", default=DEFAULT_ROOT)
    reissue.set_defaults(func=_issue_credentials)
    revoke = fsub.add_parser("revoke", help="吊销站点：它的账号立即失效（不重启消息服务器）")
    revoke.add_argument("sid")
    revoke.add_argument("--data", required=True)
    revoke.add_argument("--broker-dir", help="消息服务器配置目录：更新账号文件并通知服务器重读")
    revoke.add_argument("--root", default=DEFAULT_ROOT)
    revoke.set_defaults(func=_revoke)

    push = fsub.add_parser("push-config", help="签名并下发站点配置（版本号自动加一）")
    push.add_argument("sid")
    push.add_argument("file", help="配置文件（YAML 或 JSON）")
    push.add_argument("--data", required=True)
    push.add_argument("--root", default=DEFAULT_ROOT)
    push.add_argument("--by", default="", help="下发人（记入配置历史）")
    push.set_defaults(func=_push_config)

    broker = sub.add_parser("broker", help="消息服务器（Mosquitto）配置")
    bsub = broker.add_subparsers(dest="broker_command", required=True)
    bconf = bsub.add_parser("config", help="按站点登记生成 mosquitto.conf、账号文件和访问控制")
    bconf.add_argument("--data", required=True, help="中心数据目录")
    bconf.add_argument("--out", required=True, help="输出目录")
    bconf.add_argument("--port", type=int, required=True, help="本机明文端口（中心用，127.0.0.1）")
    bconf.add_argument("--tls-port", type=int, help="站点加密端口（mqtts）")
    bconf.add_argument("--tls-bind", default="0.0.0.0", help="加密端口监听地址")
    bconf.add_argument("--root", default=DEFAULT_ROOT)
    bconf.set_defaults(func=_broker_config)

    pki = sub.add_parser("pki", help="部署证书：根证书、消息服务器证书、签名密钥")
    psub = pki.add_subparsers(dest="pki_command", required=True)
    pinit = psub.add_parser("init", help="生成部署根证书、消息服务器证书和配置签名密钥")
    pinit.add_argument("--data", required=True, help="中心数据目录")
    pinit.add_argument(
        "--host", action="append", default=[], help="消息服务器的域名或 IP（可多次给出）"
    )
    pinit.add_argument("--county", default="Cunban deployment", help="证书上的部署名称")
    pinit.add_argument("--force", action="store_true", help="覆盖已有的根证书")
    pinit.set_defaults(func=_pki_init)


def _fleet_store(data):
    from hub.db.fleet import FleetStore
    from hub.runner import DataDir

    return FleetStore.open(DataDir(data).db)


def _refresh_broker(store, args) -> None:
    if not args.broker_dir:
        return
    from hub.fleet.broker import reload_broker, write_access_files

    write_access_files(store, args.broker_dir, args.root)
    if reload_broker(args.broker_dir):
        print("已通知消息服务器重读账号和访问控制", file=sys.stderr)
    else:
        print("消息服务器未运行；账号文件已更新，启动后生效", file=sys.stderr)


def _issue_credentials(args) -> int:
    from hub.fleet.registry import FleetError, Registry

    store = _fleet_store(args.data)
    try:
        registry = Registry(store)
        if args.fleet_command == "reissue":
            new = registry.reissue(args.sid)
        else:
            new = registry.add_station(args.sid, args.name)
    except FleetError as exc:
        print(exc, file=sys.stderr)
        return 1
    _refresh_broker(store, args)
    out = {
        "sid": new.sid,
        "name": new.name,
        "username": new.username,
        "password": new.password,
        "enrolment_token": new.enrolment_token,
        "expires_at": new.expires_at,
    }
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(f"站点 {new.sid}（{new.name}）的账号已生成。以下内容只显示这一次，请妥善保管：")
        for key in ("username", "password", "enrolment_token", "expires_at"):
            print(f"  {key}: {out[key]}")
        print("在站点终端上运行：cunban kiosk enroll --hub https://… --token <登记码>")
    return 0


def _push_config(args) -> int:
    from firmware_config import ConfigError
    from firmware_config.loader import read_raw
    from firmware_config.signing import load_private_key
    from hub.catalog.loader import load_catalog
    from hub.fleet.configs import push_config
    from hub.fleet.pki import PkiPaths
    from hub.fleet.registry import FleetError
    from protocols.topics import Topics

    store = _fleet_store(args.data)
    key_file = PkiPaths.of(args.data).signing_key
    if not key_file.exists():
        print(f"{key_file} 不存在；请先运行 cunban pki init", file=sys.stderr)
        return 1
    try:
        desired = push_config(
            store,
            load_private_key(key_file),
            Topics(args.root),
            args.sid,
            read_raw(args.file),
            catalog=load_catalog(),
            by=args.by,
        )
    except ConfigError as exc:
        return _problems(f"配置有 {len(exc.problems)} 处错误，未下发：", exc)
    except FleetError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"站点 {args.sid} 的配置版本 {desired.version} 已签名，中心运行时即下发")
    return 0


def _revoke(args) -> int:
    from hub.fleet.registry import FleetError, Registry

    store = _fleet_store(args.data)
    try:
        Registry(store).revoke(args.sid)
    except FleetError as exc:
        print(exc, file=sys.stderr)
        return 1
    _refresh_broker(store, args)
    print(f"站点 {args.sid} 已吊销")
    return 0


def _broker_config(args) -> int:
    from hub.fleet.broker import write_broker_config

    try:
        conf = write_broker_config(
            _fleet_store(args.data),
            args.data,
            args.out,
            port=args.port,
            tls_port=args.tls_port,
            tls_bind=args.tls_bind,
            root=args.root,
        )
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"已生成 {conf}；启动：mosquitto -c {conf}")
    return 0


def _pki_init(args) -> int:
    from hub.fleet.pki import init_pki

    try:
        paths = init_pki(args.data, county=args.county, hosts=args.host, force=args.force)
    except FileExistsError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"已生成：{paths.ca_cert}（发给各站点）、{paths.broker_cert}、{paths.signing_pub}")
    return 0


def _catalog(args):
    if args.no_catalog:
        return None
    from pathlib import Path

    from hub.catalog.loader import load_catalog

    return load_catalog(Path(args.catalog) if args.catalog else None)


def _problems(header: str, exc) -> int:
    print(header, file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)
    return 1


def _validate(args) -> int:
    from firmware_config import ConfigError, load_config

    try:
        config = load_config(args.file, catalog=_catalog(args))
    except FileNotFoundError:
        print(f"找不到配置文件 {args.file}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        header = f"{args.file}：配置有 {len(exc.problems)} 处错误，请逐条改正后重新校验："
        return _problems(header, exc)
    devices = ", ".join(f"{slot}={dev.type}" for slot, dev in config.devices.configured().items())
    print(f"配置正确：站点 {config.station.id}（{config.station.name}），设备 {devices or '无'}")
    return 0


def _migrate(args) -> int:
    from firmware_config import ConfigError, KioskConfig, migrate
    from firmware_config.loader import read_raw

    try:
        raw = migrate(read_raw(args.file))
        KioskConfig.model_validate(raw)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"升级后的配置仍有错误，请用 cunban config validate 查看：{exc}", file=sys.stderr)
        return 1
    sys.stdout.write(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False))
    return 0


def _profiles(args) -> int:
    from firmware_config import profiles

    for name, profile in profiles().items():
        print(
            f"{name:20} {profile['slot']:8} {profile['name']}  "
            f"{json.dumps(profile['settings'], ensure_ascii=False)}"
        )
    return 0
