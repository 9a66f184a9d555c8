"""The real Kivy app under Xvfb, driven by synthetic touches (`cunban kiosk demo-tour`):
the whole application and QR progress lookup, officer filing on behalf of a villager, a
printer out of paper mid-flow, the idle wipe, and offline filing delivered when the
broker comes back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from kiosk.flow.machine import parse_receipt_qr
from tests.support import HubProcess

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not shutil.which("xvfb-run"),
                                reason="xvfb-run (package xvfb) missing")


def tour(tmp_path, *args: str, size: str = "1920x1080") -> subprocess.Popen:
    return subprocess.Popen(
        ["xvfb-run", "-a", "-s", f"-screen 0 {size}x24", sys.executable, "-m", "cunban.cli",
         "kiosk", "demo-tour", "--out", str(tmp_path / "screens"), "--size", size, *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "KIVY_NO_ARGS": "1", "KIVY_NO_CONSOLELOG": "1",
             "KIVY_HOME": str(tmp_path / "kivy"), "PYTHONUNBUFFERED": "1"})


def drive(proc: subprocess.Popen, broker=None, timeout: float = 200) -> dict:
    """The tour's JSON result; its `step` lines stop the broker when the kiosk is online
    and start it again once the application is filed (the offline scenario)."""
    steps, result = [], None
    try:
        for line in proc.stdout:
            if line.startswith('{"step"'):
                steps.append(json.loads(line)["step"])
                if steps[-1] == "online":
                    broker.kill()
                elif steps[-1] == "filed":
                    broker.start()
            elif line.startswith("{"):
                result = json.loads(line)
        assert proc.wait(timeout) == 0, (result, proc.stderr.read()[-3000:])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    result["steps"] = steps
    return result


def test_tour_paper_out_idle_wipe_and_offline_filing_in_one_run_of_the_real_app(
        tmp_path, own_broker):
    """One app start-up walks the whole application and QR progress lookup, a printer
    out of paper, an application filed while the broker is down and delivered when it
    returns, and the idle wipe."""
    hub = HubProcess(tmp_path / "hub", own_broker.url).start()
    try:
        result = drive(tour(tmp_path, "--mqtt", own_broker.url, "--scenario", "tour",
                            "--scenario", "paper-out", "--scenario", "offline",
                            "--scenario", "idle"), own_broker)
    finally:
        hub.stop()

    # the whole application, then progress by the receipt's QR under the camera
    assert result["case_number"].startswith("GG00701000411381")
    assert len(result["application_id"]) == 36
    assert result["receipt_bytes"] > 200
    assert result["printer_received"] == result["receipt_bytes"]
    assert parse_receipt_qr(result["receipt_qr"]) == "411381101201-1"
    assert result["progress"] == ["已接件"]
    expected = ["welcome", "identify", "choose", "item", "materials", "materials-captured",
                "phone", "review", "receipt", "progress"]
    names = [name.split("-", 1)[1].removesuffix(".png") for name in result["screens"]]
    assert names == expected
    out = tmp_path / "screens"
    for name in result["screens"]:
        image = cv2.imread(str(out / name))
        assert image.shape[:2] == (1080, 1920), name
        assert image.std() > 10, f"{name} is blank"

    # no paper: the reason in plain words, the case number large, the app goes on
    paper = result["paper_out"]
    assert paper["print_state"] == "failed" and "纸" in paper["print_error"]
    assert paper["case_number"].startswith("GG00701000411381")
    assert paper["case_font_size"] >= 60
    assert paper["welcome_after"]

    # nobody taps: warned, then the card data and the captured page are gone
    assert result["idle"] == {"applicant": False, "pages": 0, "warned": True}
    shots = sorted(p.name for p in out.iterdir())
    assert any(n.endswith("idle-warning.png") for n in shots)
    assert any(n.endswith("paper-out.png") for n in shots)

    # filed with the broker gone: waited in the outbox, delivered when it came back
    assert result["steps"] == ["online", "filed"]
    offline = result["offline"]
    assert offline["pending_while_offline"] == 1
    assert offline["case_number"].startswith("GG00701000411381")
    assert any(n.endswith("offline.png") for n in shots)


def test_at_1280x800_the_officer_files_for_a_villager_with_every_tap_on_its_button(
        tmp_path, broker, hub):
    """The smaller monitor in officer mode (the banner and the service list once fell
    off the screen): the tour refuses a tap whose button is off the screen, scrolled out
    of its list or under another button, so every tap of the filing is checked."""
    result = drive(tour(tmp_path, "--mqtt", broker.url, "--scenario", "officer",
                        size="1280x800"))

    # the officer (李建国, card + PIN) files for 王淑珍: recorded on the application
    officer = result["officer"]
    assert officer["proxy_officer"] == {"officer_id": "gzry-01", "name": "李建国"}
    assert officer["applicant_name"] == "王淑珍"
    assert officer["case_number"].startswith("GG00701000411381")
    shots = sorted((tmp_path / "screens").iterdir())
    assert [p.name.split("-", 1)[1] for p in shots] == [
        "officer.png", "officer-choose.png", "officer-receipt.png"]
    for path in shots:
        image = cv2.imread(str(path))
        assert image.shape[:2] == (800, 1280), path.name
        assert image.std() > 10, f"{path.name} is blank"
