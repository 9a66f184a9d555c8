"""What the station keeps beside the outbox: results handed over (领取登记) in its own
small database, and read-only views of the outbox (through `Outbox`'s read methods) for
the officer's screens and the offline progress lookup."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

from kiosk.flow.machine import COMPLETED_CODES
from kiosk.outbox import Outbox
from kiosk.strings import text
from protocols import messages as m
from protocols.identity import mask_id_number
from protocols.topics import Kind


class StationRecords:
    def __init__(self, data_dir: Path, outbox: Outbox):
        self.outbox = outbox
        self.db = sqlite3.connect(str(Path(data_dir) / "station.db"), check_same_thread=False,
                                  isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS collections (application_id TEXT PRIMARY "
                        "KEY, officer_id TEXT NOT NULL, at TEXT NOT NULL)")
        # 领取登记 the hub has not answered yet: resent until it records or refuses it.
        self.db.execute("CREATE TABLE IF NOT EXISTS deliveries (application_id TEXT PRIMARY "
                        "KEY, params_json TEXT NOT NULL)")
        self._lock = threading.Lock()

    def close(self) -> None:
        self.db.close()

    def pending(self, catalog) -> list[dict]:
        return [{"id": r["id"], "receipt_number": r["receipt_number"],
                 "service_code": r["service_code"], "attempts": r["attempts"],
                 "state": r["state"], "service_name": _item_name(catalog, r["service_code"])}
                for r in self.outbox.waiting()]

    def collect(self, application_id: str, officer_id: str, deliver: dict | None = None) -> None:
        """Record the handover and, with `deliver` (the `request/deliver` params), keep it
        for the hub until `delivered`."""
        with self._lock, self.db:
            self.db.execute("BEGIN")
            self.db.execute("INSERT OR IGNORE INTO collections VALUES (?, ?, ?)",
                            [application_id, officer_id, datetime.now(UTC).isoformat()])
            if deliver is not None:
                self.db.execute("INSERT OR IGNORE INTO deliveries VALUES (?, ?)",
                                [application_id, json.dumps(deliver, ensure_ascii=False)])

    def undelivered(self) -> list[dict]:
        with self._lock:
            return [json.loads(r[0]) for r in
                    self.db.execute("SELECT params_json FROM deliveries ORDER BY rowid")]

    def delivered(self, application_id: str) -> None:
        with self._lock:
            self.db.execute("DELETE FROM deliveries WHERE application_id = ?", [application_id])

    def collected(self) -> set[str]:
        with self._lock:
            return {r[0] for r in self.db.execute("SELECT application_id FROM collections")}

    def handover(self, catalog) -> list[dict]:
        """Acked applications whose latest status is a result to collect, not yet handed."""
        done = self.collected()
        out = []
        for r in self.outbox.receipts():
            statuses = self.outbox.statuses(r["id"])
            if r["id"] in done or not statuses or statuses[-1]["code"] not in COMPLETED_CODES:
                continue
            out.append({"application_id": r["id"], "id_number": r["id_number"],
                        "case_number": r["case_number"],
                        "masked_id": mask_id_number(r["id_number"]),
                        "service_name": _item_name(catalog, r["service_code"])})
        return out

    def progress(self, catalog, params: dict) -> list[dict]:
        """The kiosk's own view when the hub cannot be asked: acked applications with the
        statuses it received, and what still waits in the outbox."""
        out = []
        for r in self.outbox.receipts(newest_first=True):
            if params.get("id_number") not in (None, r["id_number"]) or \
                    params.get("receipt_number") not in (None, r["receipt_number"]):
                continue
            events = [{"seq": s["seq"], "code": s["code"], "label": s["label"], "at": s["at"],
                       "note": s["note"], "materials": json.loads(s["materials"])}
                      for s in self.outbox.statuses(r["id"])]
            out.append({"application_id": r["id"], "case_number": r["case_number"],
                        "receipt_number": r["receipt_number"],
                        "service_name": _item_name(catalog, r["service_code"]),
                        "state": events[-1]["code"] if events else 1,
                        "label": events[-1]["label"] if events else "",
                        "events": events})
        for r in self.outbox.waiting(newest_first=True):
            submit = m.decode(Kind.SUBMIT, bytes(r["payload"])).data
            if params.get("id_number") not in (None, submit.applicant.id_number) or \
                    params.get("receipt_number") not in (None, r["receipt_number"]):
                continue
            out.append({"application_id": r["id"], "case_number": "",
                        "receipt_number": r["receipt_number"],
                        "service_name": _item_name(catalog, r["service_code"]),
                        "state": 0, "label": text("progress.pending"), "events": []})
        return out


def _item_name(catalog, code: str) -> str:
    try:
        return catalog.item(code).name if catalog else code
    except KeyError:
        return code
