"""The form pages in the real Kivy app under Xvfb (`cunban kiosk demo-tour --scenario
form`), on the smaller 1280×800 monitor: every tap lands on its button, the review shows
the answers and the hub stores them; a text field sends a villager alone to the officer,
who logs in over the visit, types it, and the number follows on the keypad."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import date

import cv2
import pytest

from hub.crypto import FieldCipher, key_path
from tests.kiosk.test_tour import drive, tour

pytestmark = pytest.mark.skipif(not shutil.which("xvfb-run"),
                                reason="xvfb-run (package xvfb) missing")


def test_a_villager_answers_a_choice_and_a_date_on_steppers_by_taps_and_the_hub_stores_them(
        tmp_path, broker, hub):
    result = drive(tour(tmp_path, "--mqtt", broker.url, "--scenario", "form",
                        size="1280x800"))

    form = result["form"]
    assert form["case_number"].startswith("GG00602000411381")
    answers = form["answers"]
    assert answers["child_order"] == "第二个子女"
    due = date.fromisoformat(answers["due_date"])  # two months on, one day back
    assert 0 < (due - date.today()).days < 120
    # a day the month lacks was refused on the page, never sent
    for refused in result.get("form_refused", []):
        assert refused["day"] > 28
    assert "本次登记的子女：第二个子女" in form["review"]
    assert f"预产期：{due.year}年{due.month}月{due.day}日" in form["review"]

    shots = sorted((tmp_path / "screens").iterdir())
    assert [p.name.split("-", 1)[1] for p in shots] == [
        "form-choice.png", "form-date.png", "form-review.png", "form-ask-officer.png",
        "form-number.png"]
    for path in shots:
        image = cv2.imread(str(path))
        assert image.shape[:2] == (800, 1280), path.name
        assert image.std() > 10, f"{path.name} is blank"

    # the text field: the villager is sent to the officer, who types it in officer mode
    helped = result["form_officer"]
    assert helped["asked_officer"]
    assert helped["answers"] == {"species": "毛白杨", "volume_m3": 3.5}
    assert helped["proxy_officer"] == {"officer_id": "gzry-01", "name": "李建国"}
    assert helped["applicant_name"] == "张秀英"
    assert helped["case_number"].startswith("XK01601000411381")
    assert "树种：毛白杨" in helped["review"] and "采伐蓄积（立方米）：3.5" in helped["review"]

    db = sqlite3.connect(f"file:{hub.data / 'hub.db'}?mode=ro", uri=True)
    try:
        stored = dict(db.execute("SELECT case_number, form_json FROM applications"))
        proxies = [p for (p,) in db.execute("SELECT proxy_officer_json FROM applications")]
    finally:
        db.close()
    # the answers and the officer who typed them are sealed at rest
    assert not any("毛白杨" in f for f in stored.values())
    assert all(p is None or "李建国" not in p for p in proxies) and any(proxies)
    cipher = FieldCipher.load(key_path(hub.data))
    assert {case: json.loads(cipher.decrypt(f)) for case, f in stored.items()} == {
        form["case_number"]: answers, helped["case_number"]: helped["answers"]}
