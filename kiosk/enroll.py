"""`cunban kiosk enroll --hub URL --token T`: a new kiosk fetches its MQTT credentials, the
deployment CA, the hub's configuration-signing key and its first configuration over HTTPS,
verifies the configuration, and stores everything with tight file modes (secrets 0600).

Each file goes where the configuration's `tls` section names it, or into the kiosk's data
directory when it names none. The configuration is also kept as the applied one, so the
version floor for later configurations starts at the enrolled version.
"""

from __future__ import annotations

import ipaddress
import json
import os
import ssl
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from firmware_config import ConfigError, parse_config
from firmware_config.signing import SignatureError, load_public_key, verify_config
from kiosk.config import ConfigAgent, write_private
from protocols.messages import ConfigDesired


class EnrolError(RuntimeError):
    """Enrolment failed; the message says what to do."""


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _write_public(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def enroll(
    hub_url: str,
    token: str,
    data_dir: Path | str,
    *,
    ca_file: str | None = None,
    timeout: float = 30.0,
) -> dict:
    """Enrol this kiosk; returns where everything was stored."""
    url = urlsplit(hub_url)
    if url.scheme != "https" and not (url.scheme == "http" and _loopback(url.hostname or "")):
        raise EnrolError("登记必须通过 https:// 连接县级平台（http:// 只用于本机演示）")
    data = Path(data_dir).resolve()
    data.mkdir(parents=True, exist_ok=True)
    os.chmod(data, 0o700)
    try:
        response = httpx.post(
            hub_url.rstrip("/") + "/api/enroll",
            json={"token": token},
            verify=ssl.create_default_context(cafile=ca_file) if ca_file else True,
            timeout=timeout,
        )
    except httpx.HTTPError as exc:
        raise EnrolError(f"连不上县级平台（{exc}）；请检查网络和平台地址后重试") from exc
    if response.status_code != 200:
        try:
            detail = response.json().get("detail")
        except ValueError:
            detail = response.text[:200]
        raise EnrolError(f"平台拒绝登记：{detail}")
    grant = response.json()
    sid = grant["station"]["sid"]
    desired = ConfigDesired.model_validate(grant["config"])
    try:
        key = load_public_key(grant["signing_pub_pem"])
        verify_config(key, sid, desired)
        config = parse_config(desired.config)
    except (SignatureError, ConfigError, ValueError) as exc:
        raise EnrolError(f"平台发来的配置不能用：{exc}") from exc
    tls = config.tls
    paths = {
        "credentials": Path(tls.credentials_file or data / "mqtt-credentials.json"),
        "ca": Path(tls.ca_file or data / "ca.pem"),
        "signing_key": Path(tls.config_key_file or data / "signing.pub"),
        "config": data / "kiosk.json",
    }
    paths["credentials"].parent.mkdir(parents=True, exist_ok=True)
    write_private(paths["credentials"], json.dumps(grant["mqtt"]).encode())
    _write_public(paths["ca"], grant["ca_pem"])
    _write_public(paths["signing_key"], grant["signing_pub_pem"])
    write_private(
        paths["config"], json.dumps(desired.config, ensure_ascii=False, indent=2).encode()
    )
    agent = ConfigAgent(sid, data, key, publish=lambda *_: None)
    write_private(agent.state_file, desired.model_dump_json().encode())
    return {"sid": sid, "version": desired.version, **{k: str(v) for k, v in paths.items()}}


def register_enroll(ksub) -> None:
    p = ksub.add_parser("enroll", help="新终端登记：从县级平台取得账号、证书和配置")
    p.add_argument("--hub", required=True, help="县级平台地址 https://…")
    p.add_argument("--token", required=True, help="技术员给的一次性登记码")
    p.add_argument("--data", default="var/kiosk", help="终端数据目录")
    p.add_argument("--ca", help="平台 HTTPS 证书的根证书（不用系统证书时）")
    p.set_defaults(func=_enroll)


def _enroll(args) -> int:
    try:
        done = enroll(args.hub, args.token, args.data, ca_file=args.ca)
    except EnrolError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"登记成功：站点 {done['sid']}，配置版本 {done['version']}；配置文件 {done['config']}")
    return 0
