"""In a real headless Chromium: a technician watches a live station on /fleet and changes
its configuration from the station page; the station (its own process, over TLS on the
generated broker configuration) applies it and the page shows its report. Screenshots go
to `test-artifacts/fleet/`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fleet.test_fleet_live import SID, config_file
from tests.support import ROOT
from tests.web.test_browser import ARGS, CHROMIUM

ARTIFACTS = ROOT / "test-artifacts" / "fleet"
PASSWORD = "fleet-pass-1"

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")


def cli(*args: str, stdin: str | None = None) -> None:
    done = subprocess.run([sys.executable, "-m", "cunban.cli", *args], input=stdin, text=True,
                          capture_output=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr


def reload_until(page, selector: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while page.locator(selector).count() == 0:
        assert time.monotonic() < deadline, f"{selector} not shown on {page.url}"
        time.sleep(0.3)
        page.reload()


def test_a_technician_changes_a_live_stations_configuration_from_the_fleet_page(
        deployment, hub, kiosk, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make setup)")
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    cli("admin", "create-user", "--data", str(deployment.data), "--password-stdin",
        "--username", "li", "--role", "technician", stdin=PASSWORD + "\n")
    cli("fleet", "push-config", SID, config_file(deployment, tmp_path), "--data",
        str(deployment.data))
    kiosk()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_context(viewport={"width": 1366, "height": 900},
                                   locale="zh-CN").new_page()
        try:
            page.goto(f"{hub.base}/login")
            page.fill("input[name=username]", "li")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{hub.base}/fleet")
            reload_until(page, f'tr[data-sid="{SID}"] td[data-availability="online"]')
            reload_until(page, f'tr[data-sid="{SID}"] td[data-config="1"]')
            page.screenshot(path=str(ARTIFACTS / "fleet.png"), full_page=True)

            page.click(f'tr[data-sid="{SID}"] a')
            page.wait_for_url(f"{hub.base}/fleet/{SID}")
            area = page.locator("#push-config textarea")
            config = json.loads(area.input_value())
            assert config["station"]["id"] == SID
            config["broker"]["heartbeat_interval"] = 20
            area.fill(json.dumps(config, ensure_ascii=False, indent=2))
            page.click("#push-config button[type=submit]")
            page.wait_for_url(f"{hub.base}/fleet/{SID}?pushed=2")
            assert "第 2 版配置已签名下发" in page.locator("#pushed").inner_text()
            reload_until(page, "text=终端正在使用第 2 版")
            assert "已应用" in page.locator("#config").inner_text()
            page.screenshot(path=str(ARTIFACTS / "station.png"), full_page=True)

            area = page.locator("#push-config textarea")
            config["devices"]["printer"]["width_mm"] = 66
            area.fill(json.dumps(config, ensure_ascii=False))
            page.click("#push-config button[type=submit]")
            problems = page.locator("#problems").inner_text()
            assert "devices.printer.width_mm" in problems
            page.screenshot(path=str(ARTIFACTS / "refused.png"), full_page=True)
        finally:
            browser.close()
