"""The station's outbox: an application is on disk before anyone is told "submitted".

SQLite (WAL, synchronous FULL) through sqlite-utils. `file()` copies the photos into the
kiosk's content-addressed blob folder (fsynced), then in one transaction takes the next
receipt counter, builds the envelope and stores it. Rows leave the outbox only when the
hub acks `stored`; the acked application moves to `receipts`, with its status history in
`statuses`, for progress lookups at the station.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils

from protocols import messages as m

SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    id TEXT PRIMARY KEY,
    receipt_number TEXT NOT NULL UNIQUE,
    service_code TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',      -- pending | invalid
    attempts INTEGER NOT NULL DEFAULT 0,
    resend_blobs TEXT NOT NULL DEFAULT '*',     -- '*' all, or a JSON list of sha256
    last_error TEXT
);
CREATE TABLE IF NOT EXISTS outbox_blobs (
    application_id TEXT NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (application_id, sha256)
);
CREATE TABLE IF NOT EXISTS receipts (
    id TEXT PRIMARY KEY,
    receipt_number TEXT NOT NULL,
    case_number TEXT NOT NULL,
    service_code TEXT NOT NULL,
    id_number TEXT NOT NULL,
    created_at TEXT NOT NULL,
    acked_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS statuses (
    application_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    code INTEGER NOT NULL,
    label TEXT NOT NULL,
    at TEXT NOT NULL,
    note TEXT NOT NULL,
    materials TEXT NOT NULL,
    PRIMARY KEY (application_id, seq)
);
"""


@dataclass(frozen=True)
class Filed:
    application_id: uuid.UUID
    receipt_number: str
    payload: bytes


@dataclass(frozen=True)
class Pending:
    id: str
    receipt_number: str
    payload: bytes
    attempts: int
    resend_blobs: list[str] | None  # None: all of them


class Outbox:
    def __init__(self, data_dir: Path | str, station: str):
        self.root = Path(data_dir)
        self.root.mkdir(parents=True, exist_ok=True)
        self.blob_dir = self.root / "blobs"
        self.blob_dir.mkdir(exist_ok=True)
        self.station = station
        conn = sqlite3.connect(str(self.root / "outbox.db"), timeout=30,
                               check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.executescript(SCHEMA)
        self.db = sqlite_utils.Database(conn)
        self._lock = threading.RLock()

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[None]:
        with self._lock:
            self.db.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.db.conn.execute("ROLLBACK")
                raise
            self.db.conn.execute("COMMIT")

    # blobs ------------------------------------------------------------------------------
    def blob_path(self, sha256: str) -> Path:
        return self.blob_dir / sha256

    def _keep_blob(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        target = self.blob_path(sha)
        if not target.exists():
            tmp = target.with_suffix(".tmp")
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        return sha

    # filing -----------------------------------------------------------------------------
    def file(self, submit_fields: dict, blobs: list[bytes]) -> Filed:
        """Store one application durably and return its provisional receipt number.

        `submit_fields` are the `ApplicationSubmit` fields except `receipt_number` and
        `filed_at`, which are assigned here; `blobs` are the bytes the materials name.
        """
        for data in blobs:
            self._keep_blob(data)
        app_id = m.new_application_id()
        now = datetime.now(UTC)
        with self._tx():
            counter = self._next_counter()
            receipt = f"{self.station}-{counter}"
            submit = m.ApplicationSubmit(**submit_fields, receipt_number=receipt, filed_at=now)
            payload = m.encode(submit, message_id=app_id, ts=now)
            self.db["outbox"].insert({
                "id": str(app_id), "receipt_number": receipt,
                "service_code": submit.service_code, "payload": payload,
                "created_at": now.isoformat(),
            })
            for ref in submit.materials:
                self.db.execute("INSERT OR IGNORE INTO outbox_blobs VALUES (?, ?)",
                                [str(app_id), ref.sha256])
        return Filed(app_id, receipt, payload)

    def _next_counter(self) -> int:
        self.db.execute("INSERT INTO counters VALUES ('receipt', 1) "
                        "ON CONFLICT (name) DO UPDATE SET value = value + 1")
        return self.db.execute("SELECT value FROM counters WHERE name = 'receipt'").fetchone()[0]

    # the uploader's view ----------------------------------------------------------------
    def pending(self, limit: int = 100, exclude: set[str] | None = None) -> list[Pending]:
        rows = self.db.execute(
            "SELECT id, receipt_number, payload, attempts, resend_blobs FROM outbox "
            "WHERE state = 'pending' ORDER BY created_at").fetchall()
        out = []
        for row in rows:
            if exclude and row[0] in exclude:
                continue
            resend = None if row[4] == "*" else json.loads(row[4])
            out.append(Pending(row[0], row[1], bytes(row[2]), row[3], resend))
            if len(out) >= limit:
                break
        return out

    def pending_ids(self) -> list[str]:
        return [r[0] for r in self.db.execute(
            "SELECT id FROM outbox WHERE state = 'pending' ORDER BY created_at")]

    def blobs_of(self, application_id: str) -> list[str]:
        return [r[0] for r in self.db.execute(
            "SELECT sha256 FROM outbox_blobs WHERE application_id = ?", [application_id])]

    def attempted(self, application_id: str) -> None:
        with self._tx():
            self.db.execute("UPDATE outbox SET attempts = attempts + 1, resend_blobs = '[]' "
                            "WHERE id = ?", [application_id])

    def counts(self) -> dict[str, int]:
        return {state: n for state, n in self.db.execute(
            "SELECT state, count(*) FROM outbox GROUP BY state")}

    # what the hub says ------------------------------------------------------------------
    def on_ack(self, ack: m.ApplicationAck) -> None:
        app_id = str(ack.application_id)
        with self._tx():
            row = self.db.execute("SELECT receipt_number, service_code, payload, created_at "
                                  "FROM outbox WHERE id = ?", [app_id]).fetchone()
            if row is None:
                return  # already acked: acks are repeated after reconnects
            if ack.result == m.AckResult.STORED:
                submit = m.decode(m.Kind.SUBMIT, bytes(row[2])).data
                self.db["receipts"].insert({
                    "id": app_id, "receipt_number": row[0], "case_number": ack.case_number,
                    "service_code": row[1], "id_number": submit.applicant.id_number,
                    "created_at": row[3], "acked_at": datetime.now(UTC).isoformat(),
                }, replace=True)
                if ack.status is not None:
                    self._record_status(ack.status)
                hashes = self.blobs_of(app_id)
                self.db.execute("DELETE FROM outbox WHERE id = ?", [app_id])
                still_used = {r[0] for r in self.db.execute(
                    "SELECT DISTINCT sha256 FROM outbox_blobs")}
                for sha in set(hashes) - still_used:
                    with contextlib.suppress(FileNotFoundError):
                        self.blob_path(sha).unlink()
            elif ack.result == m.AckResult.MISSING_BLOBS:
                self.db.execute("UPDATE outbox SET resend_blobs = ?, last_error = ? "
                                "WHERE id = ?",
                                [json.dumps(ack.missing), _errors(ack), app_id])
            else:
                # Poisoned: kept for the station officer, never retried automatically.
                self.db.execute("UPDATE outbox SET state = 'invalid', last_error = ? "
                                "WHERE id = ?", [_errors(ack), app_id])

    def on_status(self, status: m.ApplicationStatus) -> None:
        with self._tx():
            self._record_status(status)

    def _record_status(self, status: m.ApplicationStatus) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO statuses VALUES (?, ?, ?, ?, ?, ?, ?)",
            [str(status.application_id), status.seq, status.code, status.label,
             status.at.isoformat(), status.note,
             json.dumps(status.materials, ensure_ascii=False)])

    def _rows(self, sql: str, params: list | None = None) -> list[dict]:
        """Rows as dicts, under the lock. The screens read from other threads than the
        uploader's, on the same connection, and sqlite-utils wraps each query in a
        savepoint: outside the lock that savepoint can open a transaction just as the
        uploader begins one ("cannot start a transaction within a transaction")."""
        with self._lock:
            return list(self.db.query(sql, params or []))

    def receipt(self, application_id: str) -> dict | None:
        rows = self._rows("SELECT * FROM receipts WHERE id = ?", [application_id])
        return rows[0] if rows else None

    def invalid(self) -> list[dict]:
        return self._rows("SELECT id, receipt_number, last_error FROM outbox "
                          "WHERE state = 'invalid'")

    def statuses(self, application_id: str) -> list[dict]:
        return self._rows("SELECT * FROM statuses WHERE application_id = ? ORDER BY seq",
                          [application_id])


    # read-only views for the station's screens ---------------------------------------------
    def waiting(self, newest_first: bool = False) -> list[dict]:
        """Applications not yet stored by the hub (pending and invalid), with their payload."""
        order = "DESC" if newest_first else "ASC"
        return self._rows(
            "SELECT id, receipt_number, service_code, payload, attempts, state, created_at "
            f"FROM outbox ORDER BY created_at {order}")

    def receipts(self, newest_first: bool = False) -> list[dict]:
        """Applications the hub has stored, with their case numbers."""
        order = "DESC" if newest_first else "ASC"
        return self._rows(f"SELECT * FROM receipts ORDER BY acked_at {order}")


def _errors(ack: m.ApplicationAck) -> str:
    return json.dumps([e.model_dump() for e in ack.errors], ensure_ascii=False)
