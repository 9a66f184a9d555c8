"""The broker configuration of a deployment, generated from the station registry.

`mosquitto.conf` (from `hub.broker.render_config`: persistence, day-of-backlog queues)
plus: anonymous access off, a password file and an ACL written from the registry, a plain
listener on 127.0.0.1 for the hub, and the kiosks' TLS listener. Every path is absolute.

Each station's ACL confines it to its own subtree in the directions of the wire contract
(docs/protocol.md): it writes what kiosks send and reads what the hub sends it, and reads
`catalog` and `hub/status`. Mosquitto re-reads the password file and the ACL on SIGHUP
(mosquitto.conf(5)), so revoking a station is: rewrite both files, signal the broker.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from hub.broker import render_config
from hub.db.fleet import FleetStore
from hub.fleet.pki import PkiPaths
from hub.fleet.registry import Registry

# Suffixes under `{root}/station/{sid}/`, as protocols/topics.py lays them out.
KIOSK_WRITES = (
    "status",
    "device/+/state",
    "blob/+",
    "application/submit",
    "config/state",
    "request/+",
)
KIOSK_READS = ("application/ack", "application/status", "config", "response/+")


def render_acl(accounts: list[dict], root: str) -> str:
    lines = ["# Cunban broker ACL (generated from the station registry; do not edit)"]
    for account in accounts:
        lines += ["", f"user {account['username']}"]
        if account["role"] == "hub":
            lines.append(f"topic readwrite {root}/#")
            continue
        base = f"{root}/station/{account['sid']}"
        lines += [f"topic write {base}/{suffix}" for suffix in KIOSK_WRITES]
        lines += [f"topic read {base}/{suffix}" for suffix in KIOSK_READS]
        lines += [f"topic read {root}/catalog", f"topic read {root}/hub/status"]
    return "\n".join(lines) + "\n"


def render_passwords(accounts: list[dict]) -> str:
    return "".join(f"{a['username']}:{a['password_hash']}\n" for a in accounts)


def _write_atomic(path: Path, text: str, mode: int = 0o600) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def write_access_files(store: FleetStore, out_dir: Path | str, root: str) -> None:
    out = Path(out_dir).resolve()
    accounts = store.active_accounts()
    _write_atomic(out / "passwords", render_passwords(accounts))
    _write_atomic(out / "acl", render_acl(accounts, root))


def write_broker_config(
    store: FleetStore,
    data_dir: Path | str,
    out_dir: Path | str,
    *,
    port: int,
    tls_port: int | None = None,
    tls_bind: str = "0.0.0.0",
    root: str = "cunban",
) -> Path:
    """Write mosquitto.conf, passwords, acl and hub-credentials.json into `out_dir`."""
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    creds = out / "hub-credentials.json"
    if creds.exists():
        hub = json.loads(creds.read_text(encoding="utf-8"))
        if not store.account(hub["username"]):
            creds.unlink()
    if not creds.exists():
        account = Registry(store).hub_account()
        _write_atomic(
            creds, json.dumps({"username": account.username, "password": account.password}) + "\n"
        )
    write_access_files(store, out, root)
    lines = [
        render_config(port=port, data_dir=out, allow_anonymous=False).rstrip("\n"),
        f"password_file {out}/passwords",
        f"acl_file {out}/acl",
        f"pid_file {out}/mosquitto.pid",
    ]
    if tls_port:
        pki = PkiPaths.of(data_dir)
        if not pki.broker_cert.exists():
            raise FileNotFoundError(f"{pki.broker_cert} 不存在；请先运行 cunban pki init")
        lines += [
            f"listener {tls_port} {tls_bind}",
            f"cafile {pki.ca_cert}",
            f"certfile {pki.broker_cert}",
            f"keyfile {pki.broker_key}",
            "tls_version tlsv1.2",
        ]
    conf = out / "mosquitto.conf"
    conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return conf


def with_credentials(url: str, credentials_file: Path | str) -> str:
    """The broker URL with the hub's account from `hub-credentials.json` in it."""
    creds = json.loads(Path(credentials_file).read_text(encoding="utf-8"))
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    user, password = quote(creds["username"], safe=""), quote(creds["password"], safe="")
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}"))


def reload_broker(out_dir: Path | str) -> bool:
    """SIGHUP the broker whose pid file is in `out_dir`; False when none is running."""
    pid_file = Path(out_dir).resolve() / "mosquitto.pid"
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return False
    return True
