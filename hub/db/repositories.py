"""Repositories: every query the hub makes. Callers hold a transaction from `Store`."""

from __future__ import annotations

import contextlib
import functools
import json
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from hub.crypto import DataKeyError, FieldCipher, key_path
from hub.db import StorageError, connect, migrate


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class EventRow:
    application_id: str
    seq: int
    code: int
    action: str
    actor: str
    role: str
    at: str
    payload: dict


# Event payload fields that name a person (领取登记: who collected the result); events are
# append-only, so they are sealed when written.
PERSONAL_EVENT_FIELDS = ("collector_name", "collector_id_number")


class Store:
    """One SQLite connection (one per thread that writes) and the hub's queries."""

    def __init__(self, path: Path | str, cipher: FieldCipher | None = None):
        self.path = Path(path)
        # The key file lives beside the database (DATA/keys/data.key) unless the
        # composition root passes the cipher in.
        self.cipher = cipher or FieldCipher.load(key_path(self.path.parent))
        self.db: sqlite_utils.Database = connect(self.path)
        self._tx_lock = threading.RLock()
        # Rows nothing reads back before the commit (outgoing messages, SMS) are gathered
        # inside a transaction and written by one executemany each just before it commits.
        self._deferred: dict[str, list[list]] | None = None
        self._check_key()

    @classmethod
    def open(cls, path: Path | str, cipher: FieldCipher | None = None) -> Store:
        migrate(path)
        return cls(path, cipher)

    def _check_key(self) -> None:
        """Record the data key's fingerprint on first use; refuse any other key later."""
        try:
            row = self.db.execute("SELECT fingerprint FROM data_key").fetchone()
            if row is None:
                self.db.execute(
                    "INSERT OR IGNORE INTO data_key (id, fingerprint, created_at) "
                    "VALUES (1, ?, datetime('now'))", [self.cipher.fingerprint])
                row = self.db.execute("SELECT fingerprint FROM data_key").fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return  # not migrated yet: `migrate` runs before the hub writes
            raise
        if row[0] != self.cipher.fingerprint:
            self.db.close()
            raise DataKeyError(
                f"数据密钥文件与数据库 {self.path.name} 不匹配（数据是用另一把密钥加密的）；"
                "请从备份恢复原来的 keys/data.key，不要重新生成")

    # personal data at rest -------------------------------------------------------------
    def _seal(self, row: dict) -> dict:
        return seal_application_columns(self.cipher, row)

    def _open(self, row: dict) -> dict:
        """Decrypt the applicant's columns of a row read from `applications`."""
        for column in _SEALED:
            if row.get(column) is not None:
                row[column] = self.cipher.decrypt(row[column])
        return row

    def _opened(self, rows) -> list[dict]:
        return [self._open(r) for r in rows]

    def seal_plaintext_rows(self) -> int:
        """Encrypt rows written in clear: before migration 0005 (no lookup index yet,
        phones in clear), or before the form's answers and the proxy officer were sealed
        (their JSON starts with a brace; a sealed value with its algorithm's prefix).
        Returns how many applications were sealed. Idempotent."""
        sealed = 0
        with self.transaction():
            for row in list(self.db.query(
                    "SELECT id, " + ", ".join(_SEALED) + " FROM applications "
                    "WHERE applicant_id_index IS NULL OR substr(form_json, 1, 1) = '{' "
                    "OR substr(proxy_officer_json, 1, 1) = '{'")):
                app_id = row.pop("id")
                # a row may be sealed in part already: read those columns back first
                plain = {k: self.cipher.decrypt(v) if v is not None and self.cipher.is_sealed(v)
                         else v for k, v in row.items()}
                self.update_application(app_id, plain)
                sealed += 1
            for sms_id, phone in self.db.execute("SELECT id, phone FROM sms").fetchall():
                if not self.cipher.is_sealed(phone):
                    self.db.execute("UPDATE sms SET phone = ? WHERE id = ?",
                                    [self.cipher.encrypt(phone), sms_id])
        return sealed

    def close(self) -> None:
        self.db.close()

    # transactions ----------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[Store]:
        """BEGIN IMMEDIATE … COMMIT; disk errors become StorageError with a plain message."""
        with self._tx_lock:
            try:
                self.db.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise _storage_error(exc) from exc
            self._deferred = {sql: [] for sql in (_GATHERED, *_DEFERRED)}
            try:
                yield self
                self._write_deferred()
                self.db.conn.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    self.db.conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError):
                    raise _storage_error(exc) from exc
                raise
            finally:
                self._deferred = None

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested unit inside a transaction: one bad message undoes only itself."""
        marks = {sql: len(rows) for sql, rows in (self._deferred or {}).items()}
        self.db.conn.execute("SAVEPOINT one")
        try:
            yield
        except BaseException:
            self.db.conn.execute("ROLLBACK TO one")
            self.db.conn.execute("RELEASE one")
            for sql, mark in marks.items():
                del self._deferred[sql][mark:]
            raise
        self.db.conn.execute("RELEASE one")

    def _defer(self, sql: str, values: list) -> None:
        if self._deferred is None:  # outside a transaction: written at once
            self.db.conn.execute(sql, values)
        else:
            self._deferred[sql].append(values)

    def _write_deferred(self) -> None:
        gathered: dict[tuple[str, Callable], tuple[str, list]] = {}
        for topic, part, at, combine in self._deferred.pop(_GATHERED):
            gathered.setdefault((topic, combine), (at, []))[1].append(part)
        self._deferred[_QUEUE_OUTGOING][:0] = [
            [topic, payload, 1, 0, at]
            for (topic, combine), (at, parts) in gathered.items()
            for payload in combine(parts)]
        for sql, rows in self._deferred.items():
            if rows:
                self.db.conn.executemany(sql, rows)
                rows.clear()

    def ping(self) -> bool:
        try:
            self.db.execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    # applications ----------------------------------------------------------------------
    def application(self, application_id: str) -> dict | None:
        # the raw connection: sqlite-utils' query wraps every read in a savepoint
        cursor = self.db.conn.execute("SELECT * FROM applications WHERE id = ?",
                                      [application_id])
        row = cursor.fetchone()
        if row is None:
            return None
        return self._open(dict(zip([c[0] for c in cursor.description], row, strict=True)))

    def application_by_case(self, case_number: str) -> dict | None:
        rows = self._opened(self.db.query("SELECT * FROM applications WHERE case_number = ?",
                                          [case_number]))
        return rows[0] if rows else None

    # The intake path writes with plain statements: sqlite-utils' table helpers introspect
    # the schema on every call, which cost more than the writes themselves.
    def insert_application(self, row: dict, *, sealed: bool = False) -> None:
        """`sealed`: the row went through `seal_application_columns` already."""
        self._insert("applications", row if sealed else self._seal(row))

    def update_application(self, application_id: str, changes: dict) -> None:
        changes = self._seal(changes)
        for column in changes:
            _check_column(column)
        assignments = ", ".join(f"{column} = ?" for column in changes)
        self.db.execute(f"UPDATE applications SET {assignments} WHERE id = ?",
                        [*changes.values(), application_id])

    def _insert(self, table: str, row: dict) -> int:
        cursor = self.db.conn.execute(_insert_sql(table, tuple(row)), list(row.values()))
        return cursor.lastrowid

    def list_applications(self, *, department: str | None = None, state: int | None = None,
                          station: str | None = None, limit: int = 100,
                          offset: int = 0) -> list[dict]:
        where, args = [], []
        for column, value in (("department", department), ("state", state),
                              ("station", station)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        sql = (f"SELECT * FROM applications {clause} "
               "ORDER BY deadline IS NULL, deadline, received_at LIMIT ? OFFSET ?")
        return self._opened(self.db.query(sql, [*args, limit, offset]))

    def count_applications(self) -> int:
        return self.db.execute("SELECT count(*) FROM applications").fetchone()[0]

    def applications_for_station(self, station: str, ids: list[str]) -> list[dict]:
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        return self._opened(self.db.query(
            f"SELECT * FROM applications WHERE station = ? AND id IN ({marks})",
            [station, *ids]))

    def applications_at_station(self, station: str, *, id_number: str | None = None,
                                case_number: str | None = None,
                                receipt_number: str | None = None,
                                limit: int = 20) -> list[dict]:
        """One person's (or one case's) applications filed at a station, newest first."""
        where, args = ["station = ?"], [station]
        index = self.cipher.index(id_number) if id_number is not None else None
        for column, value in (("applicant_id_index", index), ("case_number", case_number),
                              ("receipt_number", receipt_number)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        return self._opened(self.db.query(
            f"SELECT * FROM applications WHERE {' AND '.join(where)} "
            "ORDER BY received_at DESC LIMIT ?", [*args, limit]))

    def next_case_sequence(self, key: str) -> int:
        # One statement per application on the intake path (SQLite ≥ 3.35 RETURNING).
        return self.db.execute(
            "INSERT INTO case_sequences (key, last) VALUES (?, 1) "
            "ON CONFLICT (key) DO UPDATE SET last = last + 1 RETURNING last", [key]).fetchone()[0]

    # events ----------------------------------------------------------------------------
    def append_event(self, application_id: str, code: int, action: str, actor: str,
                     role: str, at: datetime, payload: dict, *, first: bool = False) -> int:
        """Append to an application's history; `first` for a new application (seq 1)."""
        seq = 1 if first else self.db.execute(
            "SELECT coalesce(max(seq), 0) + 1 FROM events WHERE application_id = ?",
            [application_id]).fetchone()[0]
        sealed = {k: self.cipher.encrypt(str(v)) if k in PERSONAL_EVENT_FIELDS and v else v
                  for k, v in payload.items()}
        self._insert("events", {
            "application_id": application_id, "seq": seq, "code": code, "action": action,
            "actor": actor, "role": role, "at": at.isoformat(), "payload_json": _json(sealed),
        })
        return seq

    def _open_payload(self, payload_json: str) -> dict:
        payload = json.loads(payload_json)
        for key in PERSONAL_EVENT_FIELDS:
            value = payload.get(key)
            if isinstance(value, str) and self.cipher.is_sealed(value):
                payload[key] = self.cipher.decrypt(value)
        return payload

    def events(self, application_id: str) -> list[EventRow]:
        return [
            EventRow(r["application_id"], r["seq"], r["code"], r["action"], r["actor"],
                     r["role"], r["at"], self._open_payload(r["payload_json"]))
            for r in self.db.query(
                "SELECT * FROM events WHERE application_id = ? ORDER BY seq", [application_id])
        ]

    # blobs -----------------------------------------------------------------------------
    def has_blobs(self, hashes: list[str]) -> set[str]:
        if not hashes:
            return set()
        marks = ",".join("?" * len(hashes))
        return {r[0] for r in self.db.execute(
            f"SELECT sha256 FROM blobs WHERE sha256 IN ({marks})", hashes)}

    def insert_blob(self, sha256: str, size: int, mime: str, station: str, at: str) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO blobs (sha256, size, mime, station, stored_at) "
            "VALUES (?, ?, ?, ?, ?)", [sha256, size, mime, station, at])

    def blob(self, sha256: str) -> dict | None:
        rows = list(self.db.query("SELECT * FROM blobs WHERE sha256 = ?", [sha256]))
        return rows[0] if rows else None

    # rejections ------------------------------------------------------------------------
    def insert_rejection(self, *, at: str, topic: str, station: str | None,
                         message_id: str | None, sha256: str | None, reasons: list[dict],
                         payload: bytes | None) -> None:
        self._insert("rejections", {
            "at": at, "topic": topic, "station": station, "message_id": message_id,
            "sha256": sha256, "reasons_json": _json(reasons),
            # A refused application still names its applicant: kept encrypted like the rest.
            "payload": self.cipher.encrypt_bytes((payload or b"")[:65536]),
        })

    def blob_rejection_reasons(self, hashes: list[str]) -> dict[str, str]:
        if not hashes:
            return {}
        marks = ",".join("?" * len(hashes))
        found = {}
        for sha, reasons in self.db.execute(
                f"SELECT sha256, reasons_json FROM rejections WHERE sha256 IN ({marks}) "
                "ORDER BY id", hashes):
            found[sha] = json.loads(reasons)[0]["reason"]
        return found

    def count_rejections(self) -> int:
        return self.db.execute("SELECT count(*) FROM rejections").fetchone()[0]

    # outgoing MQTT ---------------------------------------------------------------------
    def queue_outgoing(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False,
                       at: str) -> None:
        self._defer(_QUEUE_OUTGOING, [topic, payload, qos, int(retain), at])

    def queue_outgoing_part(self, topic: str, part: Any, *, at: str,
                            combine: Callable[[list], list[bytes]]) -> None:
        """Queue one part of a message (QoS 1) that gathers the parts a transaction queued
        for the same topic: at the commit, `combine(parts)` gives the payloads."""
        if self._deferred is None:
            for payload in combine([part]):
                self.queue_outgoing(topic, payload, at=at)
        else:
            self._deferred[_GATHERED].append((topic, part, at, combine))

    def unsent_outgoing(self, after_id: int = 0, limit: int = 1000) -> list[dict]:
        return list(self.db.query(
            "SELECT id, topic, payload, qos, retain FROM outgoing "
            "WHERE sent_at IS NULL AND id > ? ORDER BY id LIMIT ?", [after_id, limit]))

    def mark_outgoing_sent(self, ids: list[int], at: str) -> None:
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            self.db.execute(f"UPDATE outgoing SET sent_at = ? WHERE id IN ({marks})",
                            [at, *chunk])

    def prune_sent_outgoing(self, before: str, limit: int = 2000) -> int:
        """Delete up to `limit` outgoing messages confirmed sent before `before`, oldest
        first; unsent ones are never touched. Returns how many went."""
        cursor = self.db.conn.execute(
            "DELETE FROM outgoing WHERE id IN (SELECT id FROM outgoing "
            "WHERE sent_at IS NOT NULL AND sent_at < ? ORDER BY sent_at LIMIT ?)",
            [before, limit])
        return cursor.rowcount

    def count_unsent_outgoing(self) -> int:
        return self.db.execute(
            "SELECT count(*) FROM outgoing WHERE sent_at IS NULL").fetchone()[0]

    # SMS -------------------------------------------------------------------------------
    def queue_sms(self, *, application_id: str, event_seq: int, phone: str, text: str,
                  at: str, sealed: bool = False) -> None:
        """`sealed`: `phone` is encrypted already."""
        self._defer(_QUEUE_SMS, [application_id, event_seq,
                                 phone if sealed else self.cipher.encrypt(phone), text, at, at])

    def due_sms(self, now: str, limit: int = 50) -> list[dict]:
        return self._sms_opened(self.db.query(
            "SELECT * FROM sms WHERE sent_at IS NULL AND next_attempt_at <= ? "
            "ORDER BY id LIMIT ?", [now, limit]))

    def sms_sent_many(self, ids: list[int], at: str) -> None:
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            self.db.execute("UPDATE sms SET sent_at = ?, attempts = attempts + 1, "
                            f"last_error = NULL WHERE id IN ({', '.join('?' * len(chunk))})",
                            [at, *chunk])

    def sms_failed(self, sms_id: int, error: str, retry_at: str) -> None:
        self.db.execute("UPDATE sms SET attempts = attempts + 1, last_error = ?, "
                        "next_attempt_at = ? WHERE id = ?", [error[:500], retry_at, sms_id])

    def sms_for(self, application_id: str) -> list[dict]:
        return self._sms_opened(self.db.query(
            "SELECT * FROM sms WHERE application_id = ? ORDER BY id", [application_id]))

    def _sms_opened(self, rows) -> list[dict]:
        return [{**r, "phone": self.cipher.decrypt(r["phone"])} for r in rows]

    # stations --------------------------------------------------------------------------
    # Heartbeats arrive on the intake path: plain statements (sqlite-utils' upsert reads
    # the table's structure on every call).
    def upsert_station(self, sid: str, state: str, software: str, config_version: int | None,
                       outbox_pending: int | None, at: str) -> None:
        self.db.conn.execute(
            "INSERT INTO stations (sid, state, software, config_version, outbox_pending, "
            "last_seen) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sid) DO UPDATE SET "
            "state = excluded.state, software = excluded.software, "
            "config_version = excluded.config_version, "
            "outbox_pending = excluded.outbox_pending, last_seen = excluded.last_seen",
            [sid, state, software, config_version, outbox_pending, at])

    def upsert_device_state(self, sid: str, device: str, state: str, code: str, message: str,
                            at: str) -> None:
        self.db.conn.execute(
            "INSERT INTO device_states (sid, device, state, code, message, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sid, device) DO UPDATE SET "
            "state = excluded.state, code = excluded.code, message = excluded.message, "
            "updated_at = excluded.updated_at",
            [sid, device, state, code, message, at])

    def station(self, sid: str) -> dict | None:
        rows = list(self.db.query("SELECT * FROM stations WHERE sid = ?", [sid]))
        return rows[0] if rows else None


# The columns stored encrypted: the applicant's identity (applicant_json repeats the three
# before it), and the form's answers and the proxy officer's details, which name children,
# illnesses, disabilities and hardship.
_SEALED = ("applicant_id_number", "applicant_name", "applicant_phone", "applicant_json",
           "form_json", "proxy_officer_json")
_COLUMN = re.compile(r"^[a-z_][a-z0-9_]*$")


_QUEUE_OUTGOING = ("INSERT INTO outgoing (topic, payload, qos, retain, created_at) "
                   "VALUES (?, ?, ?, ?, ?)")
_QUEUE_SMS = ("INSERT INTO sms (application_id, event_seq, phone, text, created_at, "
              "next_attempt_at) VALUES (?, ?, ?, ?, ?, ?)")
_DEFERRED = (_QUEUE_OUTGOING, _QUEUE_SMS)  # in this order: the messages, then the SMS
_GATHERED = "gathered message parts"  # turned into outgoing rows first


def seal_application_columns(cipher: FieldCipher, row: dict) -> dict:
    """Encrypt the applicant's columns of an `applications` row (or part of one) to be
    written, and add the lookup index."""
    out = dict(row)
    for column in _SEALED:
        if out.get(column) is not None:
            out[column] = cipher.encrypt(out[column])
    if row.get("applicant_id_number") is not None:
        out["applicant_id_index"] = cipher.index(row["applicant_id_number"])
    return out


@functools.lru_cache(maxsize=256)
def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    for column in (table, *columns):
        _check_column(column)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def _check_column(name: str) -> None:
    """Column names are spliced into SQL: only plain identifiers pass."""
    if not _COLUMN.match(name):
        raise ValueError(f"not a column name: {name!r}")


def _storage_error(exc: sqlite3.OperationalError) -> StorageError:
    text = str(exc).lower()
    if "full" in text:
        return StorageError("中心数据盘已满，新的申请暂时无法保存；请管理员清理磁盘空间", str(exc))
    if "readonly" in text or "read-only" in text:
        return StorageError("中心数据库只读，无法保存；请管理员检查磁盘", str(exc))
    if "locked" in text or "busy" in text:
        return StorageError("中心数据库忙，请稍后重试", str(exc))
    return StorageError("中心数据库出错，请管理员查看日志", str(exc))
