"""The hub's store: SQLite (WAL) through sqlite-utils, numbered migrations, backup first.

All SQL of the hub lives in this package (`repositories.py` and `migrations/`), so the
store can be swapped for PostgreSQL without touching services or routes.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import sqlite_utils

logger = logging.getLogger(__name__)


class StorageError(RuntimeError):
    """The store cannot take writes (disk full, read-only, corrupt); `message` is for people."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.message = message
        self.detail = detail


def _migrations() -> list[tuple[int, str, str]]:
    found = []
    for entry in resources.files("hub.db.migrations").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def connect(path: Path | str) -> sqlite_utils.Database:
    """Open (creating if needed) and configure a connection: WAL, foreign keys, timeouts."""
    conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False,
                           isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL makes each commit durable across power loss, which the ack-after-commit promise
    # depends on; group commit keeps it affordable.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return sqlite_utils.Database(conn)


def migrate(path: Path | str, backup_dir: Path | str | None = None) -> int:
    """Bring the database at `path` to the newest schema; back it up before any change.

    Returns the schema version. The version is SQLite's `user_version`.
    """
    path = Path(path)
    existed = path.exists() and path.stat().st_size > 0
    db = connect(path)
    try:
        current = db.execute("PRAGMA user_version").fetchone()[0]
        todo = [m for m in _migrations() if m[0] > current]
        if todo and existed:
            target = Path(backup_dir or path.parent / "backups")
            target.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
            copy = target / f"{path.stem}-v{current}-{stamp}.db"
            dest = sqlite3.connect(str(copy))
            with dest:
                db.conn.backup(dest)
            dest.close()
            logger.info("backed up schema v%s to %s before migrating", current, copy)
        for number, name, sql in todo:
            db.conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _split(sql):
                    db.conn.execute(statement)
                db.conn.execute(f"PRAGMA user_version={number:d}")
                db.conn.execute("COMMIT")
            except Exception:
                db.conn.execute("ROLLBACK")
                raise
            logger.info("applied migration %s", name)
            current = number
        return current
    finally:
        db.close()


def _split(sql: str) -> list[str]:
    """Split a migration into statements (triggers keep their inner semicolons)."""
    statements, buf = [], []
    for line in sql.splitlines():
        if line.strip().startswith("--") and not buf:
            continue
        buf.append(line)
        candidate = "\n".join(buf).strip()
        if candidate.endswith(";") and sqlite3.complete_statement(candidate):
            statements.append(candidate)
            buf = []
    tail = "\n".join(buf).strip()
    if tail:
        statements.append(tail)
    return statements
