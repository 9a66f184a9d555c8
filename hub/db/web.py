"""Queries of the hub's web side: officers, sessions, the audit chain, the workbench queue,
public lookups and statistics. Kept beside `repositories.py` so all SQL stays in `hub.db`.
"""

from __future__ import annotations

from collections.abc import Iterator

from hub.db.repositories import Store

# States after which a case leaves the department's queue. The text must match the
# partial index `applications_open_queue` (migration 0002) for SQLite to use it.
CLOSED_STATES_SQL = "state NOT IN (2, 4, 5, 11, 12, 13, 14, 15, 16)"
DEADLINE_SQL = "coalesce(deadline, '9999-12-31')"
SCOPE_COLUMNS = ("department", "town", "station")
FILTER_COLUMNS = ("department", "town", "station", "service_code", "state")


def _where(filters: dict, *, open_only: bool) -> tuple[str, list]:
    where, args = [], []
    for column in FILTER_COLUMNS:
        value = filters.get(column)
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    if open_only:
        where.append(CLOSED_STATES_SQL)
    return (f"WHERE {' AND '.join(where)}" if where else ""), args


class WebStore(Store):
    # officers --------------------------------------------------------------------------
    def insert_officer(self, row: dict) -> None:
        self.db["officers"].insert(row)

    def officer(self, username: str) -> dict | None:
        rows = list(self.db.query("SELECT * FROM officers WHERE username = ?", [username]))
        return rows[0] if rows else None

    def set_officer_password(self, username: str, password_hash: str) -> None:
        self.db.execute("UPDATE officers SET password_hash = ? WHERE username = ?",
                        [password_hash, username])

    def record_failed_login(self, username: str, locked_until: str | None) -> None:
        self.db.execute(
            "UPDATE officers SET failed_logins = failed_logins + 1, "
            "locked_until = coalesce(?, locked_until) WHERE username = ?",
            [locked_until, username])

    def reset_failed_logins(self, username: str) -> None:
        self.db.execute("UPDATE officers SET failed_logins = 0, locked_until = NULL "
                        "WHERE username = ?", [username])

    # sessions --------------------------------------------------------------------------
    def insert_session(self, row: dict) -> None:
        self.db["sessions"].insert(row)

    def session(self, token_hash: str, now: str) -> dict | None:
        rows = list(self.db.query(
            "SELECT s.token_hash, s.csrf, s.expires_at, o.username, o.display_name, "
            "o.role, o.department, o.town, o.station FROM sessions s "
            "JOIN officers o ON o.username = s.username "
            "WHERE s.token_hash = ? AND s.expires_at > ? AND o.active = 1",
            [token_hash, now]))
        return rows[0] if rows else None

    def delete_session(self, token_hash: str) -> None:
        self.db.execute("DELETE FROM sessions WHERE token_hash = ?", [token_hash])

    def delete_expired_sessions(self, now: str) -> None:
        self.db.execute("DELETE FROM sessions WHERE expires_at <= ?", [now])

    # audit -----------------------------------------------------------------------------
    def last_audit_hash(self) -> str | None:
        row = self.db.execute("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
        return row[0] if row else None

    def insert_audit(self, row: dict) -> int:
        return self.db["audit_log"].insert(row).last_pk

    def audit_entries(self) -> Iterator[dict]:
        yield from self.db.query("SELECT * FROM audit_log ORDER BY id")

    def audit_for(self, target: str) -> list[dict]:
        return list(self.db.query("SELECT * FROM audit_log WHERE target = ? ORDER BY id",
                                  [target]))

    # the workbench ---------------------------------------------------------------------
    def queue(self, filters: dict, *, open_only: bool, limit: int, offset: int) -> list[dict]:
        clause, args = _where(filters, open_only=open_only)
        return list(self.db.query(
            f"SELECT * FROM applications {clause} ORDER BY {DEADLINE_SQL}, received_at "
            "LIMIT ? OFFSET ?", [*args, limit, offset]))

    def queue_count(self, filters: dict, *, open_only: bool) -> int:
        clause, args = _where(filters, open_only=open_only)
        return self.db.execute(f"SELECT count(*) FROM applications {clause}", args).fetchone()[0]

    def state_counts(self, scope: dict) -> dict[int, int]:
        clause, args = _where(scope, open_only=False)
        return dict(self.db.execute(
            f"SELECT state, count(*) FROM applications {clause} GROUP BY state", args).fetchall())

    def deadline_counts(self, scope: dict, *, warn_until: str, today: str) -> tuple[int, int]:
        """(running cases due by `warn_until` but not late, cases past `today`), open only.

        Cases paused for 补正 (6) or 特别程序 (9) are not counted: their clock stands still.
        """
        clause, args = _where(scope, open_only=True)
        row = self.db.execute(
            f"SELECT sum(deadline >= ? AND deadline <= ?), sum(deadline < ?) "
            f"FROM applications {clause} AND deadline IS NOT NULL AND state NOT IN (6, 9)",
            [today, warn_until, today, *args]).fetchone()
        return int(row[0] or 0), int(row[1] or 0)

    def distinct_in_scope(self, column: str, scope: dict, limit: int = 1000) -> list[str]:
        if column not in ("town", "station", "service_code"):
            raise ValueError(f"not a filter column: {column}")
        clause, args = _where(scope, open_only=False)
        return [r[0] for r in self.db.execute(
            f"SELECT DISTINCT {column} FROM applications {clause} ORDER BY {column} LIMIT ?",
            [*args, limit])]

    # statistics ------------------------------------------------------------------------
    def stats_cells(self, group: tuple[str, ...], filters: dict, since: str | None,
                    until: str | None) -> list[dict]:
        """Counts from the event log, grouped by month (China time) and `group` columns.

        received = 已接件 (1), accepted = 已受理 (3), completed = 办结 (11, 12, 13); a
        办结 is on time when its China date is not after the deadline the SLA clock
        recorded on the case, overdue otherwise. `since`/`until` are months ('2026-01').
        """
        allowed = {"town": "a.town", "station": "a.station", "department": "a.department",
                   "service_code": "a.service_code"}
        cols = [allowed[g] for g in group]
        where, args = ["e.code IN (1, 3, 11, 12, 13)"], []
        for column, value in filters.items():
            where.append(f"{allowed[column]} = ?")
            args.append(value)
        # China has kept UTC+8 all year since 1991, so a fixed offset is exact here.
        month = "strftime('%Y-%m', e.at, '+8 hours')"
        if since:
            where.append(f"{month} >= ?")
            args.append(since)
        if until:
            where.append(f"{month} <= ?")
            args.append(until)
        select = ", ".join([f"{month} AS month", *[f"{c} AS {g}" for c, g in zip(cols, group,
                                                                                strict=True)]])
        sql = (
            f"SELECT {select}, "
            "sum(e.code = 1) AS received, sum(e.code = 3) AS accepted, "
            "sum(e.code IN (11, 12, 13)) AS completed, "
            "sum(e.code IN (11, 12, 13) AND date(e.at, '+8 hours') <= a.deadline) AS on_time, "
            "sum(e.code IN (11, 12, 13) AND date(e.at, '+8 hours') > a.deadline) AS overdue "
            "FROM events e JOIN applications a ON a.id = e.application_id "
            f"WHERE {' AND '.join(where)} GROUP BY {', '.join(['month', *group])}")
        return list(self.db.query(sql, args))
