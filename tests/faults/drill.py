"""A fault drill: stations file at a steady rate, a fault starts and ends, the tally is taken.

Each station is the real kiosk code — `kiosk.outbox.Outbox` on disk and `kiosk.uploader.
Uploader` over MQTT — and the hub is `cunban hub` in its own process against a real
Mosquitto. Filing runs before and during the fault and stops when the fault is cleared;
"time to recover" is from that moment until every outbox is empty (every application
acked `stored`). The tally is checked against the stations' outboxes and the hub database.

Reduced size by default (CI); `CUNBAN_FAULTS_FULL=1` runs the full-size drills.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cunban.processes import ROOT, Broker, HubProcess
from kiosk.outbox import Outbox
from kiosk.uploader import Uploader
from protocols.examples import example_submit

FULL = os.environ.get("CUNBAN_FAULTS_FULL") == "1"
REPORT = ROOT / "test-artifacts" / "faults.jsonl"


@dataclass
class Size:
    stations: int = 5 if FULL else 2
    rate: float = 40.0 if FULL else 12.0  # applications per second over all stations
    before: float = 5.0 if FULL else 2.0  # seconds of steady filing before the fault
    during: float = 10.0 if FULL else 3.0  # seconds of filing while the fault lasts
    drain: float = 240.0 if FULL else 120.0  # longest wait for the outboxes to empty


def station_id(n: int) -> str:
    return f"411381101{300 + n:03d}"


@dataclass
class Kiosk:
    outbox: Outbox
    uploader: Uploader | None
    filed: list[str] = field(default_factory=list)
    client_id: str | None = None

    def start_uploader(self, url: str) -> None:
        self.uploader = Uploader(self.outbox, url, first_retry=1.0,
                                 client_id=self.client_id).start()

    def stop_uploader(self) -> None:
        if self.uploader is not None:
            self.uploader.stop()
            self.uploader = None


@dataclass
class Result:
    name: str
    sent: int
    stored: int
    lost: int
    duplicated: int
    recover_s: float
    notes: dict = field(default_factory=dict)

    def record(self) -> None:
        line = json.dumps({"drill": self.name, "full": FULL, "sent": self.sent,
                           "stored": self.stored, "lost": self.lost,
                           "duplicated": self.duplicated,
                           "recover_s": round(self.recover_s, 2), **self.notes},
                          ensure_ascii=False)
        print(line)
        REPORT.parent.mkdir(exist_ok=True)
        with open(REPORT, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")


class Drill:
    def __init__(self, tmp: Path, catalog, *, size: Size | None = None,
                 broker: Broker | None = None, hub_data: Path | None = None,
                 client_ids: list[str | None] | None = None):
        self.tmp = tmp
        self.catalog = catalog
        self.size = size or Size()
        self.broker = broker or Broker(tmp / "broker")
        self.hub = HubProcess(hub_data or tmp / "hub", self.broker.url)
        ids = client_ids or [None] * self.size.stations
        self.kiosks = [Kiosk(Outbox(tmp / f"kiosk{n}", station_id(n)), None, client_id=ids[n])
                       for n in range(self.size.stations)]
        self._counter = 0
        self._lock = threading.Lock()

    # parts ------------------------------------------------------------------------------
    def start(self, *, uploaders: bool = True) -> Drill:
        if self.broker.proc is None:
            self.broker.start()
        self.hub.start()
        if uploaders:
            for k in self.kiosks:
                k.start_uploader(self.broker.url)
        return self

    def stop(self) -> None:
        for k in self.kiosks:
            k.stop_uploader()
        self.hub.stop()
        self.broker.stop()
        for k in self.kiosks:
            k.outbox.close()

    def file(self, kiosk: Kiosk) -> None:
        with self._lock:
            self._counter += 1
            n = self._counter
        payload, blobs = example_submit(self.catalog, kiosk.outbox.station, counter=n)
        data = json.loads(payload)["data"]
        fields = {k: data[k] for k in ("service_code", "catalog_version", "applicant",
                                       "category", "form", "materials")}
        filed = kiosk.outbox.file(fields, list(blobs.values()))
        kiosk.filed.append(str(filed.application_id))
        if kiosk.uploader is not None:
            kiosk.uploader.nudge()

    def load(self, seconds: float, kiosks: list[Kiosk] | None = None) -> None:
        """File at the drill's rate for `seconds`, round robin over the stations."""
        kiosks = kiosks or self.kiosks
        start = time.monotonic()
        n = 0
        while (now := time.monotonic()) - start < seconds:
            due = start + n / self.size.rate
            if due > now:
                time.sleep(due - now)
                continue
            self.file(kiosks[n % len(kiosks)])
            n += 1

    # the drill --------------------------------------------------------------------------
    def run(self, name: str, fault_start: Callable[[], None],
            fault_end: Callable[[], None]) -> Result:
        """Steady load, the fault, more load, the fault cleared, drain, tally."""
        self.load(self.size.before)
        fault_start()
        self.load(self.size.during)
        fault_end()
        return self.settle(name, time.monotonic())

    def settle(self, name: str, cleared: float, notes: dict | None = None) -> Result:
        drained = self.wait_drained()
        recover = time.monotonic() - cleared
        result = self.tally(name, recover, notes or {})
        assert drained, f"{name}: outboxes not empty after {self.size.drain}s: " \
                        f"{[k.outbox.counts() for k in self.kiosks]}"
        return result

    def wait_drained(self) -> bool:
        deadline = time.monotonic() + self.size.drain
        while time.monotonic() < deadline:
            if all(not k.outbox.pending_ids() for k in self.kiosks):
                return True
            time.sleep(0.2)
        return False

    def tally(self, name: str, recover: float, notes: dict) -> Result:
        filed = {(station_id(n), i) for n, k in enumerate(self.kiosks) for i in k.filed}
        db = sqlite3.connect(f"file:{self.hub.data / 'hub.db'}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT id, station, receipt_number, case_number "
                              "FROM applications").fetchall()
            notes.setdefault("integrity", db.execute("PRAGMA integrity_check").fetchone()[0])
        finally:
            db.close()
        stored = {(r[1], r[0]) for r in rows}
        receipts = [(r[1], r[2]) for r in rows]
        cases = [r[3] for r in rows]
        acked = sum(len(k.outbox.db.execute("SELECT id FROM receipts").fetchall())
                    for k in self.kiosks)
        result = Result(name, sent=len(filed), stored=len(filed & stored),
                        lost=len(filed - stored),
                        duplicated=(len(receipts) - len(set(receipts))
                                    + len(cases) - len(set(cases))),
                        recover_s=recover, notes={"acked_at_stations": acked, **notes})
        result.record()
        return result
