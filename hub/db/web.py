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
        return self._opened(self.db.query(
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
    def refresh_stats(self) -> int:
        """Fold the events recorded since the last call into `stats_cells`; returns how
        many events were read. Call inside a transaction.

        received = 已接件 (1), accepted = 已受理 (3), completed = 办结 (11, 12, 13); a 办结
        is on time when its China date is not after the deadline the SLA clock recorded
        on the case (a stopped clock keeps it), overdue otherwise.
        """
        last = self.db.execute("SELECT last_event_id FROM stats_state").fetchone()[0]
        top = self.db.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]
        if top <= last:
            return 0
        # China has kept UTC+8 all year since 1991, so a fixed offset is exact here.
        self.db.execute(
            "INSERT INTO stats_cells (month, station, town, department, service_code, "
            "received, accepted, completed, on_time, overdue) "
            "SELECT strftime('%Y-%m', e.at, '+8 hours'), a.station, a.town, a.department, "
            "a.service_code, sum(e.code = 1), sum(e.code = 3), sum(e.code IN (11, 12, 13)), "
            "sum(e.code IN (11, 12, 13) AND date(e.at, '+8 hours') <= a.deadline), "
            "sum(e.code IN (11, 12, 13) AND date(e.at, '+8 hours') > a.deadline) "
            "FROM events e JOIN applications a ON a.id = e.application_id "
            "WHERE e.id > ? AND e.id <= ? AND e.code IN (1, 3, 11, 12, 13) "
            "GROUP BY 1, 2, 3, 4, 5 "
            "ON CONFLICT (month, station, service_code, department) DO UPDATE SET "
            "received = received + excluded.received, accepted = accepted + excluded.accepted, "
            "completed = completed + excluded.completed, on_time = on_time + excluded.on_time, "
            "overdue = overdue + excluded.overdue", [last, top])
        self.db.execute("UPDATE stats_state SET last_event_id = ?", [top])
        return top - last

    def stats_cells(self, group: tuple[str, ...], filters: dict, since: str | None,
                    until: str | None) -> list[dict]:
        """Sums of `stats_cells` by month and the `group` columns; `since`/`until` are
        months ('2026-01'), `filters` equalities on town, station, department, item."""
        allowed = ("town", "station", "department", "service_code")
        where, args = ["1"], []
        for column, value in filters.items():
            if column not in allowed:
                raise ValueError(f"not a statistics column: {column}")
            where.append(f"{column} = ?")
            args.append(value)
        if since:
            where.append("month >= ?")
            args.append(since)
        if until:
            where.append("month <= ?")
            args.append(until)
        for column in group:
            if column not in allowed:
                raise ValueError(f"not a statistics column: {column}")
        cols = ", ".join(["month", *group])
        return list(self.db.query(
            f"SELECT {cols}, sum(received) AS received, sum(accepted) AS accepted, "
            "sum(completed) AS completed, sum(on_time) AS on_time, sum(overdue) AS overdue "
            f"FROM stats_cells WHERE {' AND '.join(where)} GROUP BY {cols}", args))
