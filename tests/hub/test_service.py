"""The hub's application service on a real SQLite store: the SLA clock through the
lifecycle, department isolation, and the resubmission going back to the right officer."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from hub.calendar import WorkCalendar
from hub.catalog import load_catalog
from hub.db.repositories import Store
from hub.service import ActionRefused, Actor, ApplicationService
from hub.workflow import Action, Lifecycle
from protocols import messages as m
from protocols.examples import example_id_number, example_submit
from protocols.topics import Kind, Topics

CN = ZoneInfo("Asia/Shanghai")
SID = "411381101201"
ITEM = "JF00303000"  # 城乡居民基本养老保险待遇领取: 承诺件, 5 working days


def at(month, day, hour=10):
    return datetime(2026, month, day, hour, tzinfo=CN)


@pytest.fixture
def svc(tmp_path):
    catalog = load_catalog()
    store = Store.open(tmp_path / "hub.db")
    service = ApplicationService(store, catalog, WorkCalendar.load(), Topics())
    yield service
    store.close()


def _receive(svc, now):
    payload, blobs = example_submit(svc.catalog, SID, service_code=ITEM)
    with svc.store.transaction():
        for sha, data in blobs.items():
            svc.store.insert_blob(sha, len(data), "image/jpeg", SID, now.isoformat())
        ack = svc.receive(SID, m.decode(Kind.SUBMIT, payload), now)
    assert ack.result == m.AckResult.STORED, ack.errors
    return str(ack.application_id)


def _act(svc, app_id, action, actor, now, **payload):
    with svc.store.transaction():
        return svc.act(app_id, action, actor, payload, now)


OFFICER = Actor("王科员", "officer", "RSJ")
OTHER = Actor("赵科员", "officer", "RSJ")


def test_the_deadline_runs_across_national_day_and_the_adjusted_saturday(svc):
    assert svc.catalog.item(ITEM).promised_days == 5
    app_id = _receive(svc, at(9, 28))
    row = _act(svc, app_id, Action.ACCEPT, OFFICER, at(9, 29))
    # 9/30 (1) · 10/1–10/7 国庆 · 10/8 (2) · 10/9 (3) · 10/10 调休周六 (4) · 10/11 Sun · 10/12 (5)
    assert row["deadline"] == "2026-10-12"


def test_two_supplement_rounds_do_not_make_the_case_overdue(svc):
    app_id = _receive(svc, at(9, 28))
    _act(svc, app_id, Action.ACCEPT, OFFICER, at(9, 29))
    _act(svc, app_id, Action.REQUEST_SUPPLEMENT, OFFICER, at(9, 30), materials=["M01"],
         note="照片不清楚")
    _act(svc, app_id, Action.SUPPLEMENT_RECEIVED, Actor("station", "station"), at(10, 9))
    _act(svc, app_id, Action.REQUEST_SUPPLEMENT, OFFICER, at(10, 12), materials=["M01"],
         note="还缺盖章")
    row = _act(svc, app_id, Action.SUPPLEMENT_RECEIVED, Actor("station", "station"),
               at(10, 14))
    # used: 9/30, 10/10, 10/12; resumes 10/15 (4), 10/16 (5)
    assert row["deadline"] == "2026-10-16"
    on_time = svc.clock(app_id, ITEM, at(10, 16, 17))
    assert not on_time.overdue and on_time.working_days_left == 0
    late = svc.clock(app_id, ITEM, at(10, 19))
    assert late.overdue


def test_a_resubmitted_supplement_returns_to_the_officer_who_asked(svc):
    app_id = _receive(svc, at(11, 2))
    _act(svc, app_id, Action.ACCEPT, OTHER, at(11, 2))
    _act(svc, app_id, Action.REQUEST_SUPPLEMENT, OFFICER, at(11, 3), materials=["M01"],
         note="请补交")
    row = _act(svc, app_id, Action.SUPPLEMENT_RECEIVED, Actor("station", "station"), at(11, 4))
    assert row["assigned_officer"] == "王科员"


def test_every_transition_queues_a_status_for_the_station_and_an_sms(svc):
    app_id = _receive(svc, at(11, 2))
    _act(svc, app_id, Action.ACCEPT, OFFICER, at(11, 2))
    _act(svc, app_id, Action.REQUEST_SUPPLEMENT, OFFICER, at(11, 3), materials=["M01"],
         note="请补交")
    outgoing = svc.store.unsent_outgoing()
    # the first status (01) rides in the ack: one message per new application, not two
    [ack] = [a for r in outgoing if r["topic"].endswith("/ack")
             for a in m.decode(Kind.ACK, r["payload"]).data.acks]
    statuses = [ack.status] + [m.decode(Kind.STATUS, r["payload"]).data
                               for r in outgoing if r["topic"].endswith("/status")]
    assert [s.code for s in statuses] == [1, 3, 6]
    assert [s.seq for s in statuses] == [1, 2, 3]
    material = svc.catalog.item(ITEM).materials[0].name
    assert statuses[-1].materials == [material]
    sms = svc.store.sms_for(app_id)
    assert len(sms) == 3 and material in sms[-1]["text"]
    assert all(s["text"].startswith("【村办】") for s in sms)


def test_an_officer_of_another_department_cannot_act(svc):
    app_id = _receive(svc, at(11, 2))
    with pytest.raises(ActionRefused) as err:
        _act(svc, app_id, Action.ACCEPT, Actor("李科员", "officer", "GAJ"), at(11, 2))
    assert err.value.status == 403


def test_an_illegal_transition_is_refused_with_a_reason_and_records_nothing(svc):
    app_id = _receive(svc, at(11, 2))
    with pytest.raises(ActionRefused) as err:
        _act(svc, app_id, Action.APPROVE, OFFICER, at(11, 2))
    assert err.value.reason
    assert [e.code for e in svc.store.events(app_id)] == [Lifecycle.RECEIVED]


def test_events_are_append_only(svc):
    app_id = _receive(svc, at(11, 2))
    with pytest.raises(Exception, match="append-only"):
        svc.store.db.execute("UPDATE events SET code = 11 WHERE application_id = ?", [app_id])
    assert json.loads(json.dumps(svc.store.events(app_id)[0].payload)) == {}


def test_the_person_who_collects_a_result_is_not_stored_in_clear(svc):
    app_id = _receive(svc, at(11, 2))
    _act(svc, app_id, Action.ACCEPT, OFFICER, at(11, 2))
    _act(svc, app_id, Action.APPROVE, OFFICER, at(11, 3))
    collector = example_id_number(sequence=3)
    with svc.store.transaction():
        svc.deliver(SID, {"application_id": app_id, "collector_name": "张秀英",
                          "collector_id_number": collector, "method": "station"}, at(11, 4))
    event = svc.store.events(app_id)[-1]
    assert event.code == Lifecycle.DELIVERED
    assert event.payload["collector_id_number"] == collector  # readable through the store
    raw = svc.store.db.execute("SELECT payload_json FROM events WHERE application_id = ? "
                               "AND code = 16", [app_id]).fetchone()[0]
    assert collector not in raw and "张秀英" not in raw


@pytest.mark.parametrize(("answers", "field", "words"), [
    ({"hospital_level": "三级", "admission_date": "2026-02-30"}, "form.admission_date",
     "有效的日期"),
    ({"hospital_level": "三级", "admission_date": "27/11/2026"}, "form.admission_date", "年-月-日"),
    ({"hospital_level": "三级", "admission_date": 20261127}, "form.admission_date", "年-月-日"),
    ({"hospital_level": "甲等", "admission_date": "2026-11-27"}, "form.hospital_level", "只能选择"),
])
def test_form_answers_of_the_wrong_type_are_refused_by_the_hub_with_a_plain_reason(
        svc, answers, field, words):
    item = svc.catalog.item("GG00102000")  # a choice and a date
    submit = m.decode(Kind.SUBMIT, example_submit(svc.catalog, SID, service_code=item.code)[0])
    levels = next(f for f in item.form if f.key == "hospital_level").options
    answers = {k: (levels[0] if v == "三级" else v) for k, v in answers.items()}
    errors = svc.validate(submit.data.model_copy(update={"form": answers}))
    assert [e.field for e in errors] == [field] and words in errors[0].reason


def test_form_answers_of_the_right_types_pass(svc):
    number = svc.catalog.item("GG00101000")  # insured_year: number
    submit = m.decode(Kind.SUBMIT, example_submit(svc.catalog, SID, service_code=number.code)[0])
    for good in (15, 2.5):
        assert svc.validate(submit.data.model_copy(update={"form": {"insured_year": good}})) == []
    for bad in ("15", True, float("nan")):
        [error] = svc.validate(submit.data.model_copy(update={"form": {"insured_year": bad}}))
        assert error.field == "form.insured_year" and "数字" in error.reason
