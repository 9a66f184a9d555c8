"""A generated case history written straight into a hub database (tests and benchmarks).

Applications get realistic event sequences — received, sometimes 补正, accepted, 办结 or
refused, delivered — with a third of the events placed within two hours of a China-time
month boundary, where a UTC/local mix-up would move them to the wrong month. Deadlines are
what the SLA clock computes from each case's own events.
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub.calendar import WorkCalendar
from hub.crypto import FieldCipher, key_path
from hub.db import connect
from hub.sla import compute_clock
from protocols.catalog import Catalog

START = datetime(2025, 1, 1, tzinfo=UTC)
MONTHS = 22  # 2025-01 … 2026-10


def stations(towns: int = 28, villages: int = 8) -> list[str]:
    return [f"411381{100 + t:03d}{200 + v:03d}" for t in range(towns) for v in range(villages)]


def _month_edge(rng: random.Random) -> datetime:
    """A moment within two hours of a China-time month start (16:00 UTC the day before)."""
    month = rng.randrange(1, MONTHS)
    year, mon = 2025 + (month // 12), month % 12 + 1
    edge = datetime(year, mon, 1, tzinfo=UTC) - timedelta(hours=8)
    return edge + timedelta(seconds=rng.randint(-7200, 7200))


def generate(db_path, catalog: Catalog, calendar: WorkCalendar, n: int, *, seed: int = 7,
             places: list[str] | None = None, batch: int = 20000,
             supplement_rate: float = 0.2, supplement_rounds: int = 1) -> int:
    """Write `n` applications and their events; returns the number of events.

    A share `supplement_rate` of the accepted cases goes through 1..`supplement_rounds`
    补正 rounds (more rounds, more events per case)."""
    rng = random.Random(seed)
    items = [i for i in catalog.items if i.status == "active"]
    places = places or stations()
    # One applicant for every row, sealed once with the data key the hub will read it with.
    cipher = FieldCipher.load(key_path(Path(db_path).parent))
    person = [cipher.encrypt(v) for v in ("41138119560308002X", "李秀英", "13800138000", "{}")]
    no_answers = cipher.encrypt("{}")  # the form's answers are sealed as the applicant is
    db = connect(db_path)
    conn = db.conn
    conn.execute("PRAGMA synchronous=OFF")
    apps, events, total = [], [], 0

    def flush() -> None:
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO applications (id, case_number, station, town, receipt_number, "
            "service_code, catalog_version, department, category, applicant_id_number, "
            "applicant_name, applicant_phone, applicant_json, form_json, materials_json, "
            "proxy_officer_json, filed_at, received_at, state, state_at, supplement_officer, "
            "assigned_officer, deadline) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "?, ?, ?, ?, ?, ?, ?, ?)", apps)
        conn.executemany(
            "INSERT INTO events (application_id, seq, code, action, actor, role, at, "
            "payload_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", events)
        conn.execute("COMMIT")
        apps.clear()
        events.clear()

    for i in range(n):
        app_id = str(uuid.UUID(int=rng.getrandbits(128)))
        station = rng.choice(places)
        item = rng.choice(items)
        if rng.random() < 0.34:
            t = _month_edge(rng)
        else:
            t = START + timedelta(seconds=rng.randrange(MONTHS * 30 * 86400))
        if rng.random() < 0.5:
            t = t.replace(microsecond=rng.randrange(1, 1_000_000))
        steps: list[tuple[int, str, datetime]] = [(1, "receive", t)]

        def later(hours: float, steps=steps) -> datetime:
            at = steps[-1][2] + timedelta(hours=hours)
            if rng.random() < 0.3:  # land the next step near a month start as well
                edge = _month_edge(rng)
                if edge > at and edge - at < timedelta(days=40):
                    at = edge
            return at

        fate = rng.random()
        if fate < 0.05:
            steps.append((2, "withdraw", later(rng.uniform(1, 48))))
        elif fate < 0.10:
            steps.append((5, "refuse", later(rng.uniform(1, 72))))
        elif fate < 0.97:
            steps.append((3, "accept", later(rng.uniform(0.5, 72))))
            if rng.random() < supplement_rate:
                for _ in range(rng.randint(1, supplement_rounds)):
                    steps.append((6, "request_supplement", later(rng.uniform(4, 200))))
                    steps.append((7, "supplement_received", later(rng.uniform(4, 200))))
            if rng.random() < 0.85:
                days = item.promised_days + rng.choice([-3, -1, 0, 1, 2, 5, 10])
                code, action = rng.choice([(11, "approve"), (11, "approve"),
                                           (12, "approve_pending"), (13, "reject")])
                steps.append((code, action, later(max(1, days) * 24 * rng.uniform(0.9, 1.5))))
                if rng.random() < 0.6:
                    steps.append((16, "deliver", later(rng.uniform(2, 100))))
        deadline = None
        if any(code == 3 for code, _, _ in steps):
            clock = compute_clock(item.promised_days, [(c, at) for c, _, at in steps],
                                  steps[-1][2], calendar)
            deadline = clock.deadline.isoformat() if clock.deadline else None
        last = steps[-1]
        apps.append((
            app_id, f"{item.code}{station[:6]}{seed:04d}{i:08d}", station, station[:9],
            f"{station}-{seed}-{i}", item.code, catalog.version, item.department, None,
            *person, no_answers, json.dumps([]), None,
            t.isoformat(), t.isoformat(), last[0], last[2].isoformat(), None, None, deadline))
        for seq, (code, action, at) in enumerate(steps, start=1):
            events.append((app_id, seq, code, action, "gen", "officer", at.isoformat(), "{}"))
        total += len(steps)
        if len(apps) >= batch:
            flush()
    if apps:
        flush()
    db.close()
    return total
