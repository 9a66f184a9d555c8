"""The kiosk's local secrets: station officers (ID number + PIN hash) and the maintenance PIN.

These never travel in the configuration pushed over MQTT (the hub would hold every
officer's ID number and every station's PINs, and a leaked configuration would carry
them). They live in `DATA/officers.json`, mode 0600, and are managed on the kiosk with
`cunban kiosk officer add|remove|list|maintenance-pin`.
"""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kiosk.config import write_private
from kiosk.flow.machine import OfficerAccount, hash_pin
from protocols.identity import InvalidIdNumber, mask_id_number, parse_id_number

FILE_NAME = "officers.json"


class Officer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    officer_id: str = Field(min_length=1, max_length=40, description="工号，如 gzry-01")
    name: str = Field(min_length=1, max_length=30, description="姓名（印在短信里）")
    id_number: str = Field(description="本人身份证号（登录时读卡比对）")
    pin_hash: str = Field(pattern=r"^pbkdf2_sha256\$", description="PIN 的 PBKDF2 摘要")

    @field_validator("id_number")
    @classmethod
    def _valid(cls, v: str) -> str:
        return parse_id_number(v).value


class LocalSecrets(BaseModel):
    model_config = ConfigDict(extra="forbid")

    officers: list[Officer] = Field(default_factory=list)
    maintenance_pin_hash: str | None = Field(None, pattern=r"^pbkdf2_sha256\$")

    def accounts(self) -> list[OfficerAccount]:
        return [OfficerAccount(**o.model_dump()) for o in self.officers]


def path_of(data_dir: Path | str) -> Path:
    return Path(data_dir) / FILE_NAME


def load(data_dir: Path | str) -> LocalSecrets:
    """The station's officers; none (officer mode closed) when the file is missing."""
    try:
        raw = path_of(data_dir).read_bytes()
    except FileNotFoundError:
        return LocalSecrets()
    return LocalSecrets.model_validate_json(raw)


def save(data_dir: Path | str, secrets: LocalSecrets) -> Path:
    path = path_of(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, secrets.model_dump_json(indent=2).encode())
    return path


# --- cunban kiosk officer … ------------------------------------------------------------
def _read_pin(args) -> str:
    pin = sys.stdin.readline().strip() if args.pin_stdin else getpass.getpass("PIN（4–8位数字）：")
    if not (pin.isdigit() and 4 <= len(pin) <= 8):
        raise ValueError("PIN 须为 4–8 位数字")
    return pin


def _add(args) -> int:
    try:
        secrets = load(args.data)
        pin = _read_pin(args)
        officer = Officer(officer_id=args.officer_id, name=args.name,
                          id_number=args.id_number, pin_hash=hash_pin(pin))
    except (ValueError, ValidationError, InvalidIdNumber) as exc:
        print(f"没有保存：{getattr(exc, 'reason', exc)}", file=sys.stderr)
        return 2
    secrets.officers = [o for o in secrets.officers if o.officer_id != officer.officer_id]
    secrets.officers.append(officer)
    path = save(args.data, secrets)
    print(f"已保存代办员 {officer.officer_id}（{mask_id_number(officer.id_number)}）到 {path}")
    return 0


def _remove(args) -> int:
    secrets = load(args.data)
    left = [o for o in secrets.officers if o.officer_id != args.officer_id]
    if len(left) == len(secrets.officers):
        print(f"没有工号为 {args.officer_id} 的代办员", file=sys.stderr)
        return 1
    secrets.officers = left
    save(args.data, secrets)
    print(f"已删除代办员 {args.officer_id}")
    return 0


def _list(args) -> int:
    for o in load(args.data).officers:
        print(json.dumps({"officer_id": o.officer_id, "name": o.name,
                          "id_number": mask_id_number(o.id_number)}, ensure_ascii=False))
    return 0


def _maintenance(args) -> int:
    try:
        secrets = load(args.data)
        secrets.maintenance_pin_hash = hash_pin(_read_pin(args))
    except (ValueError, ValidationError) as exc:
        print(f"没有保存：{exc}", file=sys.stderr)
        return 2
    save(args.data, secrets)
    print("维护密码已更新")
    return 0


def register_officer(ksub) -> None:
    p = ksub.add_parser("officer", help="本机代办员和维护密码（只存在本机，不随配置下发）")
    osub = p.add_subparsers(dest="officer_command", required=True)

    def common(q, pin: bool = False):
        q.add_argument("--data", default="var/kiosk", help="终端数据目录")
        if pin:
            q.add_argument("--pin-stdin", action="store_true", help="从标准输入读 PIN")

    add = osub.add_parser("add", help="添加或更新一名代办员")
    add.add_argument("officer_id")
    add.add_argument("--name", required=True)
    add.add_argument("--id-number", required=True)
    common(add, pin=True)
    add.set_defaults(func=_add)
    rm = osub.add_parser("remove", help="删除一名代办员")
    rm.add_argument("officer_id")
    common(rm)
    rm.set_defaults(func=_remove)
    ls = osub.add_parser("list", help="列出代办员（身份证号遮盖）")
    common(ls)
    ls.set_defaults(func=_list)
    mp = osub.add_parser("maintenance-pin", help="设置维护密码")
    common(mp, pin=True)
    mp.set_defaults(func=_maintenance)
