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
