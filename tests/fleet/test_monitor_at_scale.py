"""The availability monitor with a county's fleet: it judges every station from one read,
takes the write lock only for what changed, and leaves alone a station heard from since."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta

from hub.db import fleet as fleet_db
from hub.db.fleet import FleetStore
from hub.fleet.health import Thresholds
from hub.fleet.monitor import FleetMonitor
from hub.fleet.registry import Registry

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SIDS = [f"411381101{i:03d}" for i in range(1, 41)]


def fleet(tmp_path) -> FleetStore:
    store = FleetStore.open(tmp_path / "hub.db")
    registry = Registry(store)
    for sid in SIDS:
        registry.add_station(sid)
    with store.transaction() as tx:
        for sid in SIDS:
            tx.upsert_station(sid, "online", "1.0", 1, 0, NOW.isoformat())
            fleet_db.record_status(tx, sid, "online", NOW.isoformat(), 0.1, heartbeat=True)
    return store


def test_a_check_with_nothing_to_record_does_not_wait_for_the_write_lock(tmp_path):
    store = fleet(tmp_path)
    monitor = FleetMonitor(store, limits=Thresholds(interval=30), clock=lambda: NOW)
    writer = sqlite3.connect(tmp_path / "hub.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # the intake in the middle of a long commit
    result: list = []
    check = threading.Thread(target=lambda: result.append(monitor.check()), daemon=True)
    try:
        check.start()
        check.join(3)
        assert not check.is_alive(), "the check waited for the intake's write lock"
        assert result == [[]]
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        check.join(35)
        store.close()


def test_every_silent_station_is_recorded_once_in_one_check(tmp_path):
    store = fleet(tmp_path)
    clock = {"now": NOW + timedelta(seconds=50)}
    monitor = FleetMonitor(store, limits=Thresholds(interval=30), clock=lambda: clock["now"])
    assert sorted(monitor.check()) == [(sid, "late") for sid in SIDS]
    assert monitor.check() == []
    clock["now"] = NOW + timedelta(seconds=95)
    assert len(monitor.check()) == len(SIDS)
    assert [h["availability"] for h in store.history(SIDS[0])] == ["offline", "late", "online"]
    store.close()


def test_a_station_heard_from_after_it_was_judged_is_not_marked_late(tmp_path):
    class HeartbeatLandsBetween(FleetStore):
        """The intake records a heartbeat of the first station right after the read."""

        def availability_facts(self) -> list[dict]:
            rows = super().availability_facts()
            later = (NOW + timedelta(seconds=49)).isoformat()
            with intake.transaction() as tx:
                tx.upsert_station(SIDS[0], "online", "1.0", 1, 0, later)
                fleet_db.record_status(tx, SIDS[0], "online", later, 0.1, heartbeat=True)
            return rows

    fleet(tmp_path).close()
    intake = FleetStore.open(tmp_path / "hub.db")
    store = HeartbeatLandsBetween.open(tmp_path / "hub.db")
    monitor = FleetMonitor(
        store, limits=Thresholds(interval=30), clock=lambda: NOW + timedelta(seconds=50)
    )
    changed = monitor.check()
    assert (SIDS[0], "late") not in changed
    assert sorted(changed) == [(sid, "late") for sid in SIDS[1:]]
    assert [h["availability"] for h in store.history(SIDS[0])] == ["online"]
    intake.close()
    store.close()


def test_the_fleet_list_reads_the_database_the_same_number_of_times_for_any_fleet_size(
    tmp_path, monkeypatch
):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from hub.fleet import api as fleet_api
    from hub.service import Actor

    statements: list[str] = []

    class Traced(FleetStore):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.db.conn.set_trace_callback(statements.append)

    monkeypatch.setattr(fleet_api, "FleetStore", Traced)
    store = fleet(tmp_path)
    with store.transaction() as tx:
        for sid in SIDS[:3]:
            tx.upsert_device_state(sid, "printer", "fault", "paper_out", "缺纸", NOW.isoformat())
    app = FastAPI()
    fleet_api.mount_fleet(
        app,
        db_path=tmp_path / "hub.db",
        authenticate=lambda request: Actor("张技术员", "technician"),
        clock=lambda: NOW,
    )
    client = TestClient(app)

    def statements_for(town: str | None) -> tuple[int, dict]:
        statements.clear()
        body = client.get("/api/fleet", params={"town": town} if town else {}).json()
        return len(statements), body

    few, _ = statements_for("411381101")  # 40 stations
    registry = Registry(store)
    for i in range(1, 121):
        registry.add_station(f"411381102{i:03d}")
    many, body = statements_for(None)  # 160 stations
    assert many == few
    assert len(body["stations"]) == 160
    by_sid = {st["sid"]: st for st in body["stations"]}
    assert by_sid[SIDS[0]]["devices"]["printer"]["code"] == "paper_out"
    assert by_sid[SIDS[5]]["devices"] == {}
    store.close()
