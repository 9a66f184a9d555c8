"""The real Kivy app under Xvfb, walked through a whole application by synthetic touches."""

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

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not shutil.which("xvfb-run"), reason="xvfb-run (package xvfb) missing")
def test_the_demo_tour_files_an_application_prints_a_receipt_and_finds_it_by_its_qr(tmp_path):
    out = tmp_path / "screens"
    proc = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1920x1080x24", sys.executable, "-m", "cunban.cli",
         "kiosk", "demo-tour", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
        env={**os.environ, "KIVY_NO_ARGS": "1", "KIVY_NO_CONSOLELOG": "1",
             "KIVY_HOME": str(tmp_path / "kivy")})
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert proc.returncode == 0, (lines, proc.stderr[-3000:])
    result = json.loads(lines[-1])
    assert result["case_number"].startswith("GG00701000411381")
    assert len(result["application_id"]) == 36
    assert result["receipt_bytes"] > 200
    assert result["printer_received"] == result["receipt_bytes"]
    assert parse_receipt_qr(result["receipt_qr"]) == "411381101201-1"
    assert result["progress"] == ["已接件"]
    expected = ["welcome", "identify", "choose", "item", "materials", "materials-captured",
                "phone", "review", "receipt", "progress"]
    assert [name.split("-", 1)[1].removesuffix(".png") for name in result["screens"]] == expected
    for name in result["screens"]:
        image = cv2.imread(str(out / name))
        assert image.shape[:2] == (1080, 1920), name
        assert image.std() > 10, f"{name} is blank"
