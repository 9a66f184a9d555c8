"""Station availability from heartbeats, not keep-alives.

A kiosk republishes its status every `interval` seconds. A station is `online` while its
last heartbeat is younger than `late_after`, `late` until `offline_after`, then `offline`.
Its Last Will (`offline`, sent by the broker when the connection dies without a clean
goodbye) marks a crash at once; a clean exit says `stopped`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime


@dataclass(frozen=True)
class Thresholds:
    interval: float = 30.0
    late_factor: float = 1.5  # one missed beat is tolerated before "late"
    offline_factor: float = 3.0

    @property
    def late_after(self) -> float:
        return self.interval * self.late_factor

    @property
    def offline_after(self) -> float:
        return self.interval * self.offline_factor


def availability(row: dict, now: datetime, limits: Thresholds) -> str:
    """online | late | offline | crashed | stopped | never (not heard from yet)."""
    state = row.get("state")
    if state is None:
        return "never"
    if state == "offline":
        return "crashed"
    if state == "stopped":
        return "stopped"
    last = row.get("heartbeat_at") or row.get("last_seen")
    age = (now - datetime.fromisoformat(last)).total_seconds()
    if age <= limits.late_after:
        return "online"
    if age <= limits.offline_after:
        return "late"
    return "offline"


def station_view(row: dict, devices: list[dict], now: datetime, limits: Thresholds) -> dict:
    """One station as the fleet API shows it; judged by the heartbeat interval of its
    configuration when it has one."""
    if row.get("heartbeat_interval"):
        limits = replace(limits, interval=float(row["heartbeat_interval"]))
    errors = json.loads(row["config_errors"]) if row.get("config_errors") else []
    return {
        "sid": row["sid"],
        "name": row["name"],
        "town": row["town"],
        "availability": "revoked" if row.get("revoked_at") else availability(row, now, limits),
        "last_seen": row.get("heartbeat_at") or row.get("last_seen"),
        "software": row.get("software"),
        "outbox_pending": row.get("outbox_pending"),
        "disk_free_mb": row.get("disk_free_mb"),
        "clock_skew_s": row.get("clock_skew_s"),
        "heartbeat_interval": limits.interval,
        "config": {
            "desired": row.get("desired_version"),
            "applied": row.get("config_version"),
            "reported": row.get("reported_version"),
            "state": row.get("config_state"),
            "errors": errors,
        },
        "devices": {
            d["device"]: {
                "state": d["state"],
                "code": d["code"],
                "message": d["message"],
                "at": d["updated_at"],
            }
            for d in devices
        },
        "enrolled": bool(row.get("enrolled_at")),
    }
