"""Availability from heartbeats: the thresholds, the Last Will, a clean stop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.fleet.health import Thresholds, availability, station_view

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def row(age: float | None, state: str | None = "online", **extra) -> dict:
    beat = (NOW - timedelta(seconds=age)).isoformat() if age is not None else None
    return {
        "sid": "411381101201",
        "name": "村",
        "town": "411381101",
        "state": state,
        "heartbeat_at": beat,
        "last_seen": beat,
        **extra,
    }


@pytest.mark.parametrize(
    ("age", "state", "expected"),
    [
        (0, "online", "online"),
        (45, "online", "online"),  # one missed beat of 30 s is tolerated
        (46, "online", "late"),
        (90, "online", "late"),
        (91, "online", "offline"),
        (1, "offline", "crashed"),  # the Last Will: at once, however fresh the last beat
        (1, "stopped", "stopped"),
        (None, None, "never"),
    ],
)
def test_availability_is_decided_by_the_age_of_the_last_heartbeat(age, state, expected):
    assert availability(row(age, state), NOW, Thresholds(interval=30)) == expected


def test_a_station_is_judged_by_the_heartbeat_interval_of_its_own_configuration():
    view = station_view(row(100, heartbeat_interval=60), [], NOW, Thresholds(interval=30))
    assert (view["availability"], view["heartbeat_interval"]) == ("late", 60.0)
    assert station_view(row(100), [], NOW, Thresholds(interval=30))["availability"] == "offline"


def test_a_revoked_station_shows_as_revoked():
    assert (
        station_view(row(0, revoked_at=NOW.isoformat()), [], NOW, Thresholds())["availability"]
        == "revoked"
    )


def test_the_monitor_records_a_silent_station_turning_late_then_offline(tmp_path):
    from hub.db import fleet as fleet_db
    from hub.db.fleet import FleetStore
    from hub.fleet.monitor import FleetMonitor
    from hub.fleet.registry import Registry

    store = FleetStore.open(tmp_path / "hub.db")
    Registry(store).add_station("411381101201")
    clock = {"now": NOW}
    with store.transaction() as tx:
        tx.upsert_station("411381101201", "online", "1.0", 1, 0, NOW.isoformat())
        fleet_db.record_status(tx, "411381101201", "online", NOW.isoformat(), 0.1,
                               heartbeat=True)
    monitor = FleetMonitor(store, limits=Thresholds(interval=30), clock=lambda: clock["now"])
    assert monitor.check() == []
    clock["now"] = NOW + timedelta(seconds=50)
    assert monitor.check() == [("411381101201", "late")]
    assert monitor.check() == []  # recorded once
    clock["now"] = NOW + timedelta(seconds=95)
    assert monitor.check() == [("411381101201", "offline")]
    with store.transaction() as tx:
        fleet_db.record_status(tx, "411381101201", "online", clock["now"].isoformat(), 0.1,
                               heartbeat=True)
    assert [h["availability"] for h in store.history("411381101201")] == [
        "online", "offline", "late", "online"]
    store.close()
