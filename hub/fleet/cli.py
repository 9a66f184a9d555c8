"""`cunban config …`, `cunban fleet …`, `cunban pki …`, `cunban broker …`: the
technician's commands for kiosk configuration, enrolment, certificates and the broker."""

from __future__ import annotations

import json
import sys

import yaml


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


def _catalog(args):
    if args.no_catalog:
        return None
    from pathlib import Path

    from hub.catalog.loader import load_catalog

    return load_catalog(Path(args.catalog) if args.catalog else None)


def _validate(args) -> int:
    from firmware_config import ConfigError, load_config

    try:
        config = load_config(args.file, catalog=_catalog(args))
    except FileNotFoundError:
        print(f"找不到配置文件 {args.file}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(
            f"{args.file}：配置有 {len(exc.problems)} 处错误，请逐条改正后重新校验：",
            file=sys.stderr,
        )
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
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
