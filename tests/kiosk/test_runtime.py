"""The kiosk runtime against a real broker and hub: filing through the outbox, the hub's
`request/progress` answer, and the kiosk's own records when the hub cannot be asked."""

from __future__ import annotations

import json
import queue
import time
import uuid

import pytest

from hub.catalog import load_catalog
from kiosk.flow import events as ev
from kiosk.flow.runtime import Devices, ProgressClient, Runtime
from kiosk.outbox import Outbox
from kiosk.records import StationRecords
from kiosk.uploader import Uploader
from protocols.examples import example_id_number, example_page
from protocols.topics import Topics

SID = "411381101201"
ITEM = "GG00701000"


def fields(id_number: str, phone: str = "13800138000") -> dict:
    return {"service_code": ITEM, "catalog_version": load_catalog().version,
            "applicant": {"id_number": id_number, "name": "张秀英", "gender": "2",
                          "phone": phone, "from_card": True},
            "category": "local", "form": {}, "materials": [{"code": "M02", "pages": 2}],
            "proxy_officer": None}


class Station:
    def __init__(self, data, mqtt_url: str, *, progress_timeout: float = 8.0):
        self.events: queue.Queue = queue.Queue()
        self.outbox = Outbox(data, SID)
        self.uploader = Uploader(self.outbox, mqtt_url, first_retry=0.5).start()
        self.rpc = ProgressClient(self.uploader, SID, Topics())
        self.records = StationRecords(data, self.outbox)
        self.runtime = Runtime(station=SID, station_name="前营村", outbox=self.outbox,
                               uploader=self.uploader, devices=Devices(),
                               records=self.records, post=self.events.put, progress=self.rpc,
                               catalog=load_catalog(),
                               progress_timeout=progress_timeout).start()

    def wait_for(self, kind, timeout: float = 20.0):
        while True:
            got = self.events.get(timeout=timeout)
            if isinstance(got, kind):
                return got

    def close(self) -> None:
        self.runtime.stop()
        self.uploader.stop()
        self.records.close()
        self.outbox.close()


@pytest.fixture
def station(tmp_path, broker):
    s = Station(tmp_path / "kiosk", broker.url)
    yield s
    s.close()


def test_a_filed_application_is_acked_and_its_progress_comes_back_masked_with_a_timeline(
        station, hub):
    person = example_id_number()
    pages = (example_page("page one"), example_page("page two"))
    station.runtime.run([ev.FileApplication(fields(person), (pages,))])
    filed = station.wait_for(ev.Filed)
    assert filed.receipt_number == f"{SID}-1"
    assert uuid.UUID(filed.application_id).version == 7  # time-ordered: see new_application_id
    acked = station.wait_for(ev.Acked)
    assert acked.application_id == filed.application_id and acked.case_number
    # the ack carried the first status: the station's own timeline starts at 01 收件
    assert [(s["seq"], s["code"]) for s in station.outbox.statuses(filed.application_id)] \
        == [(1, 1)]

    for params in ({"id_number": person}, {"receipt_number": filed.receipt_number},
                   {"case_number": acked.case_number}):
        station.runtime.run([ev.LookupProgress(params)])
        answer = station.wait_for((ev.ProgressAnswer, ev.ProgressFailed))
        assert isinstance(answer, ev.ProgressAnswer) and not answer.local, params
        [app] = answer.applications
        assert app["case_number"] == acked.case_number
        assert app["service_name"] == "老年人优待证办理"
        assert app["applicant_name"] == "张*英"
        assert app["applicant_id_number"] == person[:4] + "*" * 10 + person[-4:]
        assert [e["code"] for e in app["events"]] == [1]
        assert person not in repr(answer)

    station.runtime.run([ev.LookupProgress({"id_number": example_id_number(sequence=8)})])
    assert station.wait_for(ev.ProgressAnswer).applications == ()
    station.runtime.run([ev.LookupProgress({})])
    assert "身份证" in station.wait_for(ev.ProgressFailed).message


def test_without_a_hub_the_application_waits_in_the_outbox_and_progress_is_answered_locally(
        tmp_path, broker):
    s = Station(tmp_path / "kiosk", broker.url, progress_timeout=1.0)
    try:
        person = example_id_number()
        s.runtime.run([ev.FileApplication(fields(person), ((example_page("p"),),))])
        filed = s.wait_for(ev.Filed)
        s.runtime.run([ev.LookupProgress({"receipt_number": filed.receipt_number})])
        answer = s.wait_for(ev.ProgressAnswer)
        assert answer.local
        assert [a["receipt_number"] for a in answer.applications] == [filed.receipt_number]
        assert answer.applications[0]["state"] == 0  # still waiting to upload
    finally:
        s.close()


def test_the_officers_handover_reaches_the_hub_as_delivered_and_the_applicant_gets_an_sms(
        station, hub):
    import httpx

    from hub.auth import TokenAuth

    person = example_id_number()
    station.runtime.run([ev.FileApplication(fields(person, phone="13900139000"),
                                            ((example_page("p"),),))])
    filed = station.wait_for(ev.Filed)
    acked = station.wait_for(ev.Acked)
    department = load_catalog().item(ITEM).department
    token = TokenAuth(hub.data / "api-tokens.json").issue("王科员", "officer", department)
    url = f"{hub.base}/api/applications/{filed.application_id}/actions"
    for action in ("accept", "approve"):
        r = httpx.post(url, json={"action": action},
                       headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text

    station.runtime.run([ev.RecordCollection(filed.application_id, "gzry-01", "张秀英",
                                             person)])
    assert station.wait_for(ev.Collected).application_id == filed.application_id
    # The handover is recorded locally first; the hub's answer clears it from the queue.
    deadline = time.monotonic() + 15
    while station.runtime.records.undelivered() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert station.runtime.records.undelivered() == []
    station.runtime.run([ev.LookupProgress({"case_number": acked.case_number})])
    [app] = station.wait_for(ev.ProgressAnswer).applications
    assert app["state"] == 16 and [e["code"] for e in app["events"]][-2:] == [11, 16]

    spool = hub.data / "sms" / "outbox.jsonl"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        texts = [json.loads(line)["text"] for line in spool.read_text().splitlines()
                 if json.loads(line)["to"] == "13900139000"] if spool.exists() else []
        if any("已由张*英在村便民服务站领取" in t for t in texts):
            break
        time.sleep(0.2)
    assert any("已由张*英在村便民服务站领取" in t for t in texts), texts

    assert station.records.undelivered() == []

    # a second handover of the same result is refused by the hub, not recorded twice
    again = station.rpc.ask({"application_id": filed.application_id,
                             "collector_name": "张秀英", "collector_id_number": person,
                             "method": "station"}, 8.0, action="deliver")
    assert again.status == "error" and "不能重复登记" in again.error


def test_a_handover_while_the_hub_is_down_reaches_it_when_it_is_back(station, hub):
    import httpx

    from hub.auth import TokenAuth

    person = example_id_number(sequence=5)
    station.runtime.run([ev.FileApplication(fields(person, phone="13700137000"),
                                            ((example_page("p"),),))])
    filed = station.wait_for(ev.Filed)
    station.wait_for(ev.Acked)
    token = TokenAuth(hub.data / "api-tokens.json").issue(
        "王科员", "officer", load_catalog().item(ITEM).department)
    for action in ("accept", "approve"):
        r = httpx.post(f"{hub.base}/api/applications/{filed.application_id}/actions",
                       json={"action": action}, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
    hub.stop()
    station.runtime.progress_timeout = 1.0
    station.runtime.run([ev.RecordCollection(filed.application_id, "gzry-01", "张秀英",
                                             person)])
    assert station.wait_for(ev.Collected).application_id == filed.application_id
    time.sleep(1.5)
    assert [p["application_id"] for p in station.records.undelivered()] == [
        filed.application_id]

    hub.start()
    deadline = time.monotonic() + 30
    while station.records.undelivered() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert station.records.undelivered() == []
    station.runtime.progress_timeout = 8.0
    station.runtime.run([ev.LookupProgress({"receipt_number": filed.receipt_number})])
    [app] = station.wait_for(ev.ProgressAnswer).applications
    assert app["state"] == 16
