"""Reading a kiosk configuration: parse, migrate to the current format, fill in hardware
profiles, validate against the schema, then check the devices against each other.

Every problem is reported with its path (`devices.printer.baudrate: …`), all of them at
once, so a technician fixes a file in one pass.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import ValidationError

from firmware_config.schema import FORMAT_VERSION, KioskConfig

LOOPBACK_HOSTS = {"localhost"}


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(ValueError):
    """A configuration refused; `problems` lists every one with its path."""

    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


# --- formats -------------------------------------------------------------------------
def _from_format_1(raw: dict) -> dict:
    """Format 1 kept identity and endpoints flat and devices as a list with `kind`."""
    out = {
        k: v
        for k, v in raw.items()
        if k
        not in (
            "station_id",
            "station_name",
            "town",
            "hub_url",
            "broker_url",
            "ca_file",
            "credentials_file",
            "devices",
        )
    }
    out["format"] = 2
    out["station"] = {"id": raw.get("station_id"), "name": raw.get("station_name")}
    if "town" in raw:
        out["station"]["town"] = raw["town"]
    out["hub"] = {"url": raw.get("hub_url")}
    out["broker"] = {"url": raw.get("broker_url")}
    tls = {k: raw[k] for k in ("ca_file", "credentials_file") if k in raw}
    if tls:
        out["tls"] = tls
    devices = {}
    for dev in raw.get("devices") or []:
        if isinstance(dev, dict) and "kind" in dev:
            dev = dict(dev)
            devices[dev.pop("kind")] = dev
    if devices:
        out["devices"] = devices
    return out


# format n → function producing format n + 1
MIGRATIONS = {1: _from_format_1}

# Options that were removed: a file still using one gets an error saying what replaced it.
REMOVED = {
    ("ui", "screensaver"): "已删除（格式 2）：改用 ui.idle_timeout（清屏秒数）",
    ("broker", "anonymous"): "已删除（格式 2）：账号由登记时的 tls.credentials_file 提供",
}


def migrate(raw: dict) -> dict:
    """Bring a configuration of any known format up to the current one."""
    # Format 1 had no `format` key; it is recognised by its flat `station_id`.
    fmt = raw.get("format", 1 if "station_id" in raw else FORMAT_VERSION)
    if not isinstance(fmt, int) or fmt < 1 or fmt > FORMAT_VERSION:
        raise ConfigError(
            [Problem("format", f"不认识的配置格式 {fmt!r}，本程序支持 1–{FORMAT_VERSION}")]
        )
    while fmt < FORMAT_VERSION:
        raw = MIGRATIONS[fmt](raw)
        fmt += 1
    return raw


# --- hardware profiles -----------------------------------------------------------------
@cache
def profiles() -> dict[str, dict]:
    """Hardware profiles by name (firmware_config/profiles/models.yaml)."""
    text = resources.files("firmware_config.profiles").joinpath("models.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def _apply_profiles(raw: dict, problems: list[Problem]) -> dict:
    devices = raw.get("devices")
    if not isinstance(devices, dict):
        return raw
    out = dict(devices)
    for slot, dev in devices.items():
        if not isinstance(dev, dict) or not dev.get("profile"):
            continue
        name = dev["profile"]
        profile = profiles().get(name)
        if profile is None:
            problems.append(
                Problem(
                    f"devices.{slot}.profile",
                    f"没有型号档案 {name!r}；可用：{', '.join(sorted(profiles()))}",
                )
            )
            continue
        if profile["slot"] != slot:
            problems.append(
                Problem(
                    f"devices.{slot}.profile",
                    f"{name}（{profile['name']}）是 {profile['slot']}，不能用于 {slot}",
                )
            )
            continue
        out[slot] = {**profile["settings"], **dev}
    return {**raw, "devices": out}


# --- validation ------------------------------------------------------------------------
def _loc(loc: tuple) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + str(part)
    return path


def _explain(err: dict) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "不认识的设置项（拼写错误或已删除）"
    if kind == "missing":
        return "必填"
    if kind == "literal_error":
        return "须为 " + err["ctx"]["expected"]
    if kind == "union_tag_invalid":
        return f"设备类型 {err['ctx']['tag']} 不存在，可选：{err['ctx']['expected_tags']}"
    if kind == "union_tag_not_found":
        return "须写明设备类型 type"
    msg = err["msg"]
    return msg.removeprefix("Value error, ")


def _removed(raw: dict) -> list[Problem]:
    found = []
    for (section, key), why in REMOVED.items():
        if isinstance(raw.get(section), dict) and key in raw[section]:
            found.append(Problem(f"{section}.{key}", why))
    return found


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _port_key(value: Any) -> str:
    text = str(value)
    return f"/dev/video{text}" if text.isdigit() else text


def cross_check(config: KioskConfig, catalog=None) -> list[Problem]:
    """Checks across sections: shared ports, services without the device they need,
    unencrypted links, settings that contradict each other."""
    problems: list[Problem] = []
    devices = config.devices.configured()
    seen: dict[str, str] = {}
    for slot, dev in devices.items():
        for field in ("port", "device"):
            if (value := getattr(dev, field, None)) is None:
                continue
            key = _port_key(value)
            if key in seen:
                problems.append(
                    Problem(
                        f"devices.{slot}.{field}",
                        f"{key} 已被 devices.{seen[key]} 使用；两台设备不能共用一个端口",
                    )
                )
            else:
                seen[key] = slot
    services = config.services
    if services.photo_materials and "camera" not in devices:
        problems.append(
            Problem(
                "services.photo_materials",
                "拍摄材料需要高拍仪：请配置 devices.camera，或设为 false",
            )
        )
    if services.print_receipts and "printer" not in devices:
        problems.append(
            Problem(
                "services.print_receipts",
                "打印回执需要打印机：请配置 devices.printer，或设为 false",
            )
        )
    if catalog is not None:
        for i, code in enumerate(services.offered):
            try:
                item = catalog.item(code)
            except KeyError:
                problems.append(Problem(f"services.offered[{i}]", f"事项目录中没有 {code}"))
                continue
            photographed = [m for m in item.materials if not m.from_id_card]
            if photographed and "camera" not in devices:
                problems.append(
                    Problem(
                        f"services.offered[{i}]",
                        f"{code}（{item.name}）要拍摄材料“{photographed[0].name}”，本站没有配置高拍仪",
                    )
                )
    url = urlsplit(config.broker.url)
    if url.scheme == "mqtt" and not _is_loopback(url.hostname or ""):
        problems.append(
            Problem(
                "broker.url", "连接外部消息服务器必须加密：请用 mqtts://（mqtt:// 只用于本机演示）"
            )
        )
    if url.scheme == "mqtts" and not config.tls.ca_file:
        problems.append(Problem("tls.ca_file", "mqtts:// 需要部署根证书来核验服务器"))
    if config.ui.idle_warning >= config.ui.idle_timeout:
        problems.append(Problem("ui.idle_warning", "清屏提醒须短于 ui.idle_timeout"))
    scanner = devices.get("scanner")
    if (
        scanner is not None
        and getattr(scanner, "internal", None)
        and scanner.internal.suffix
        and scanner.internal.suffix != scanner.suffix
    ):
        problems.append(
            Problem(
                "devices.scanner.internal.suffix",
                f"写入扫码器的结束符须与 devices.scanner.suffix（{scanner.suffix}）一致",
            )
        )
    printer = devices.get("printer")
    if (
        printer is not None
        and printer.internal.code_page
        and printer.internal.code_page != printer.font_set
    ):
        problems.append(
            Problem(
                "devices.printer.internal.code_page",
                f"须与 devices.printer.font_set（{printer.font_set}）一致",
            )
        )
    return problems


def parse_config(raw: Any, *, catalog=None) -> KioskConfig:
    """Validate configuration data (already parsed from YAML or JSON)."""
    if not isinstance(raw, dict):
        raise ConfigError([Problem("", "配置须是一个映射（键: 值）")])
    raw = migrate(raw)
    problems = _removed(raw)
    raw = _apply_profiles(raw, problems)
    for section, key in REMOVED:
        if isinstance(raw.get(section), dict):
            raw[section] = {k: v for k, v in raw[section].items() if k != key}
    try:
        config = KioskConfig.model_validate(raw)
    except ValidationError as exc:
        problems += [Problem(_loc(e["loc"]), _explain(e)) for e in exc.errors()]
        raise ConfigError(_strip_tags(problems)) from None
    problems += cross_check(config, catalog)
    if problems:
        raise ConfigError(problems)
    return config


def _strip_tags(problems: list[Problem]) -> list[Problem]:
    # pydantic puts the union tag in the location (devices.printer.escpos-serial.baudrate);
    # the technician wrote devices.printer.baudrate.
    tags = {
        "sam",
        "sam-simulator",
        "uvc",
        "synthetic",
        "serial",
        "serial-simulator",
        "escpos-serial",
        "escpos-usb",
        "escpos-simulator",
    }
    out = []
    for p in problems:
        parts = p.path.split(".")
        out.append(Problem(".".join(x for x in parts if x not in tags), p.message))
    return out


def raw_from_text(text: str) -> Any:
    """A configuration typed or pasted as text, YAML or JSON (JSON is YAML too)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([Problem("", f"格式错误：{exc}")]) from None


def read_raw(path: str | Path) -> Any:
    text = Path(path).read_text(encoding="utf-8")
    try:
        if str(path).endswith(".json"):
            return json.loads(text)
        return yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ConfigError([Problem("", f"文件格式错误：{exc}")]) from None


def load_config(path: str | Path, *, catalog=None) -> KioskConfig:
    """Read, migrate, validate and cross-check a configuration file (YAML or JSON)."""
    return parse_config(read_raw(path), catalog=catalog)
