"""The kiosk runtime against a real broker and hub: filing through the outbox, the hub's
`request/progress` answer, and the kiosk's own records when the hub cannot be asked."""

from __future__ import annotations

import queue

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
    acked = station.wait_for(ev.Acked)
    assert acked.application_id == filed.application_id and acked.case_number

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
