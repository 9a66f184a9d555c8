"""`make demo`: a broker with the project's configuration, a hub, and a scripted station.

Files a few applications through the kiosk outbox (`cunban kiosk submit`), lets a
department officer accept one through the API, prints what happened and the URLs to open,
then keeps everything running until Ctrl-C (or exits at once with `--once`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from hub.broker import write_config
from hub.catalog import load_catalog
from protocols.examples import example_id_number, example_page

STATION = "411381101201"  # 邓州市穰东镇 (demo village)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as r:
            if r.status == 200:
                return
        time.sleep(0.2)
    raise SystemExit(f"the hub did not come up ({url})")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cunban.cli", *args], capture_output=True,
                          text=True, timeout=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cunban-demo")
    parser.add_argument("--once", action="store_true", help="stop after the scripted run")
    parser.add_argument("--dir", default="var/demo")
    args = parser.parse_args(argv)
    if shutil.which("mosquitto") is None:
        print("mosquitto is not installed: run `make demo` (it installs it)", file=sys.stderr)
        return 2
    root = Path(args.dir).resolve()
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    mqtt_port, http_port = _free_port(), _free_port()
    conf = write_config(root / "broker", port=mqtt_port)
    procs: list[subprocess.Popen] = []
    try:
        procs.append(subprocess.Popen(["mosquitto", "-c", str(conf)]))
        mqtt = f"mqtt://127.0.0.1:{mqtt_port}"
        hub_log = open(root / "hub.log", "w")  # noqa: SIM115 - kept open for the child
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "cunban.cli", "--log-level", "INFO", "hub", "--data",
             str(root / "hub"), "--mqtt", mqtt, "--http", f"127.0.0.1:{http_port}"],
            stdout=hub_log, stderr=subprocess.STDOUT))
        base = f"http://127.0.0.1:{http_port}"
        _wait_http(base + "/api/health")
        print(f"broker  {mqtt}  (config {conf})")
        print(f"hub     {base}  (data {root / 'hub'})")

        catalog = load_catalog()
        wanted = ["城乡居民医保参保登记", "老年人优待证", "出生登记"]
        items = [i for i in catalog.items if i.status == "active"]
        chosen = [next((i for i in items if w in i.name), None) for w in wanted]
        chosen = [i for i in chosen if i is not None] or items[:3]
        photos_dir = Path(tempfile.mkdtemp(prefix="demo-photos-", dir=root))
        filed = []
        for n, item in enumerate(chosen, start=1):
            category = item.categories[0].code if item.categories else None
            materials = [x for x in catalog.required_materials(item.code, category)
                         if not x.from_id_card]
            photos = []
            for x in materials:
                path = photos_dir / f"{item.code}-{x.code}.jpg"
                path.write_bytes(example_page(f"{item.code} {x.code}"))
                photos.append(str(path))
            cmd = ["kiosk", "submit", "--station", STATION, "--service", item.code,
                   "--id-number", example_id_number(sequence=10 + n), "--name", "李秀英",
                   "--phone", "13800138000", "--data", str(root / "kiosk"), "--mqtt", mqtt]
            if category:
                cmd += ["--category", category]
            for f in item.form:
                if f.required:
                    cmd += ["--form", f"{f.key}={f.options[0] if f.options else '示例'}"]
            if photos:
                cmd += ["--photo", *photos]
            result = _cli(*cmd)
            print(f"\n[{item.name}]\n{result.stdout.strip()}{result.stderr.strip()}")
            filed.append((item, result))

        first = chosen[0]
        token = _cli("hub", "token", "--data", str(root / "hub"), "--name", "王科员",
                     "--role", "officer", "--department", first.department).stdout.strip()
        req = urllib.request.Request(base + "/api/applications",
                                     headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=5) as r:
            queue = json.loads(r.read())["applications"]
        print(f"\n部门 {first.department} 的待办：{len(queue)} 件")
        if queue:
            app_id = queue[0]["id"]
            body = json.dumps({"action": "accept", "payload": {}}).encode()
            req = urllib.request.Request(
                f"{base}/api/applications/{app_id}/actions", data=body, method="POST",
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=5) as r:
                done = json.loads(r.read())
            print(f"王科员受理了 {done['case_number']}：{done['state_label']}，"
                  f"期限 {done['deadline']}")
        time.sleep(1.5)
        spool = root / "hub" / "sms" / "outbox.jsonl"
        if spool.exists():
            print("\n短信（发往申请人）：")
            for line in spool.read_text(encoding="utf-8").splitlines():
                print("  " + json.loads(line)["text"])
        print(f"\n打开：{base}/api/health   {base}/api/catalog   {base}/docs")
        print(f"API token (officer of {first.department}): {token}")
        if args.once:
            return 0
        print("\n正在运行，按 Ctrl-C 停止。")
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
        return 0
    finally:
        for proc in reversed(procs):
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)


if __name__ == "__main__":
    sys.exit(main())
