"""In a real headless Chromium: an officer works a case filed over MQTT from end to end.

The station files through a real Mosquitto, the officer accepts and asks for a supplement
in the browser, the station resubmits over MQTT (`request/supplement`), the same officer
approves, the station officer registers the delivery, and the station receives every
status. `/track` then shows the timeline. A screenshot of every page is kept under
`test-artifacts/web/`.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from protocols import messages as m
from protocols.examples import example_id_number, example_page, example_submit
from protocols.topics import Kind, Topics
from tests.support import ROOT, HubProcess, Listener

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run"]
ARTIFACTS = ROOT / "test-artifacts" / "web"
STATION = "411381101201"
PASSWORD = "browser-pass-1"

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")


def _user(data: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "cunban.cli", "admin", "create-user", "--data",
                    str(data), "--password-stdin", *args], input=PASSWORD + "\n", text=True,
                   check=True, capture_output=True, cwd=ROOT, timeout=60)


def _statuses(messages) -> list[int]:
    """Status codes the station saw: the first (01) inside the ack, the rest on their own."""
    codes = []
    for topic, payload in messages:
        if topic.endswith("/application/status"):
            codes.append(m.decode(Kind.STATUS, payload).data.code)
        elif topic.endswith("/application/ack"):
            codes += [a.status.code for a in m.decode(Kind.ACK, payload).data.acks if a.status]
    return codes


@pytest.fixture
def browser_page():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make setup)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1366, "height": 768},
                                      locale="zh-CN")
        yield context.new_page()
        context.close()
        browser.close()


def test_an_officer_works_a_case_filed_over_mqtt_from_acceptance_to_delivery(
        tmp_path, broker, catalog, browser_page):
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    page = browser_page

    def shot(name: str) -> None:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    topics = Topics()
    app_id = uuid.uuid4()
    payload, blobs = example_submit(catalog, STATION, application_id=app_id)
    item = catalog.item(m.decode(Kind.SUBMIT, payload).data.service_code)
    data = tmp_path / "hub"
    _user(data, "--username", "wang", "--role", "officer", "--department", item.department)
    _user(data, "--username", "zhan", "--role", "station", "--station", STATION)
    hub = HubProcess(data, broker.url).start()
    try:
        listen = [topics.station(Kind.ACK, STATION), topics.station(Kind.STATUS, STATION),
                  topics.response(STATION, "supplement")]
        with Listener(broker.url, listen) as kiosk:
            for sha, blob in blobs.items():
                kiosk.publish(topics.blob(STATION, sha), blob)
            kiosk.publish(topics.station(Kind.SUBMIT, STATION), payload)
            acks = kiosk.collect(lambda got: any(t.endswith("/ack") for t, _ in got))
            [ack] = m.decode(Kind.ACK, next(p for t, p in acks if t.endswith("/ack"))).data.acks
            assert ack.result == m.AckResult.STORED
            seen = list(acks)

            # The officer logs in and finds the case at the top of the queue.
            page.goto(hub.base + "/login")
            shot("01-login")
            page.fill("input[name=username]", "wang")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit].primary")
            page.wait_for_url("**/workbench")
            shot("02-workbench")
            page.click(f"text={ack.case_number}")
            page.wait_for_selector("#case-number")
            assert "李*英" in page.inner_text("#applicant")
            page.wait_for_function(
                "() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
            page.click("figure.material >> nth=0 >> [data-tool=rotate]")
            shot("03-application")

            def act(action: str, fill=None) -> None:
                page.click(f"details[data-action={action}] summary")
                form = page.locator(f"details[data-action={action}] form")
                if fill:
                    fill(form)
                form.locator(f"[data-submit={action}]").click()
                page.wait_for_selector("#done")

            act("accept", lambda f: f.locator("input[name=query_password]").fill("K7Q2"))
            assert page.get_attribute("#state", "data-state") == "3"
            shot("04-accepted")
            missing = item.materials[0]

            def ask(form) -> None:
                form.locator(f"input[name=materials][value={missing.code}]").check()
                form.locator("textarea[name=note]").fill("照片不清楚，请重新拍摄")
            act("request_supplement", ask)
            assert page.get_attribute("#state", "data-state") == "6"
            shot("05-supplement-requested")

            # The station photographs the material again and hands it in over MQTT.
            new_page = example_page(f"{item.code} {missing.code} again")
            sha = hashlib.sha256(new_page).hexdigest()
            kiosk.publish(topics.blob(STATION, sha), new_page)
            kiosk.publish(topics.request(STATION, "supplement"), m.encode(m.Request(params={
                "application_id": str(app_id), "note": "已重新拍摄",
                "materials": [{"code": missing.code, "sha256": sha, "mime": "image/jpeg"}]})))
            got = kiosk.collect(lambda got: any(t.endswith("/response/supplement")
                                                for t, _ in got))
            seen += got
            reply = m.decode(Kind.RESPONSE, next(p for t, p in got
                                                 if t.endswith("/response/supplement"))).data
            assert reply.status == "ok", reply.error

            page.reload()
            assert page.get_attribute("#state", "data-state") == "7"
            assert page.locator(f"img[src$='{sha}']").count() == 1
            shot("06-supplement-received")
            act("approve", lambda f: f.locator("input[name=document_name]").fill("准予许可决定书"))
            assert page.get_attribute("#state", "data-state") == "11"
            shot("07-approved")
            page.click("#logout")
            page.wait_for_url("**/login")

            # The station officer registers that the applicant collected the result.
            page.fill("input[name=username]", "zhan")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit].primary")
            page.wait_for_url("**/workbench")
            page.goto(f"{hub.base}/workbench/applications/{app_id}")

            def collected(form) -> None:
                form.locator("input[name=collector_name]").fill("李秀英")
                form.locator("input[name=collector_id_number]").fill(example_id_number())
                form.locator("select[name=method]").select_option("station")
            act("deliver", collected)
            assert page.get_attribute("#state", "data-state") == "16"
            shot("08-delivered")

            seen += kiosk.collect(lambda got: _statuses(seen + got)[-1:] == [16])
            assert _statuses(seen) == [1, 3, 6, 7, 11, 16]

        # The public lookup shows the masked timeline.
        page.goto(hub.base + "/track")
        page.fill("input[name=case_number]", ack.case_number)
        page.fill("input[name=secret]", example_id_number()[-4:])
        page.click("button[type=submit].primary")
        page.wait_for_selector("#track-result")
        codes = page.eval_on_selector_all("#track-result li", "els => els.map(e => e.dataset.code)")
        assert codes == ["1", "3", "6", "7", "11", "16"]
        assert "李*英" in page.inner_text("#track-result")
        shot("09-track")
        for name in ("catalog", "stats"):
            page.goto(f"{hub.base}/{name}")
            shot(f"10-{name}")
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(hub.base + "/catalog")
        shot("11-catalog-phone")
    finally:
        hub.stop()
