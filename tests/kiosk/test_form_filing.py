"""Form answers made on the kiosk's form pages reach a real hub through the outbox and a
real broker, are accepted by its validation and stored as typed values."""

from __future__ import annotations

import json
import sqlite3

import pytest

from hub.crypto import FieldCipher, key_path
from kiosk.flow import events as ev
from kiosk.flow.machine import Flow
from protocols.examples import example_page
from tests.kiosk.test_flow import SID, TODAY, Driver, read
from tests.kiosk.test_form_flow import BIRTH, FARMLAND, keys, to_review
from tests.kiosk.test_runtime import Station


@pytest.fixture
def station(tmp_path, broker):
    s = Station(tmp_path / "kiosk", broker.url)
    yield s
    s.close()


def file_through_the_flow(catalog, station: Station, code: str, answer) -> tuple[str, dict]:
    """A villager answers the item's form with `answer(k)`, photographs every material
    and submits; the flow's filing goes through the real outbox. (application id, form)"""
    k = Driver(Flow(SID, catalog, today=lambda: TODAY))
    k.tap("file")
    k(read(0))
    k.tap("item", code)
    k.tap("start")
    answer(k)
    to_review(k, lambda k: example_page(f"{code} {k.flow.session.material_index}"))
    k.tap("consent")
    k.tap("submit")
    [filing] = k.of(ev.FileApplication)
    station.runtime.run([filing])
    filed = station.wait_for(ev.Filed)
    acked = station.wait_for(ev.Acked, timeout=30)
    assert acked.application_id == filed.application_id and acked.case_number
    return filed.application_id, filing.fields["form"]


def test_number_and_date_answers_are_accepted_and_stored_by_the_hub(station, hub):
    from hub.catalog import load_catalog

    catalog = load_catalog()

    def area(k):
        keys(k, "12.5")
        k.tap("next")

    def due_date(k):
        k.tap("choose", "第一个子女")
        k.tap("next")
        k.tap("step", "month:-1")
        k.tap("next")

    filed = [file_through_the_flow(catalog, station, FARMLAND, area),
             file_through_the_flow(catalog, station, BIRTH, due_date)]
    assert [form for _, form in filed] == [
        {"area_mu": 12.5}, {"child_order": "第一个子女", "due_date": "2026-10-27"}]

    db = sqlite3.connect(f"file:{hub.data / 'hub.db'}?mode=ro", uri=True)
    try:
        raw = dict(db.execute("SELECT id, form_json FROM applications"))
    finally:
        db.close()
    assert not any("due_date" in value for value in raw.values())  # sealed at rest
    cipher = FieldCipher.load(key_path(hub.data))
    stored = {app_id: json.loads(cipher.decrypt(value)) for app_id, value in raw.items()}
    assert stored == {app_id: form for app_id, form in filed}
    assert isinstance(stored[filed[0][0]]["area_mu"], float)
