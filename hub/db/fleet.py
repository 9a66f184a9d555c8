"""Queries of the fleet: station registry, broker accounts, enrolment, signed
configurations and their reports, availability history. Beside `repositories.py` so all
SQL stays in `hub.db`."""

from __future__ import annotations

import json

from hub.db.repositories import Store


class FleetStore(Store):
    # broker accounts --------------------------------------------------------------------
    def upsert_account(self, username: str, role: str, password_hash: str, at: str) -> None:
        self.db["broker_accounts"].upsert(
            {
                "username": username,
                "role": role,
                "password_hash": password_hash,
                "created_at": at,
            },
            pk="username",
        )

    def account(self, username: str) -> dict | None:
        rows = list(self.db.query("SELECT * FROM broker_accounts WHERE username = ?", [username]))
        return rows[0] if rows else None

    def active_accounts(self) -> list[dict]:
        """Accounts that may log in: the hub's and every station not revoked."""
        return list(
            self.db.query(
                "SELECT a.username, a.role, a.password_hash, f.sid FROM broker_accounts a"
                " LEFT JOIN fleet_stations f ON f.username = a.username"
                " WHERE a.role = 'hub' OR (f.sid IS NOT NULL AND f.revoked_at IS NULL)"
                " ORDER BY a.role, a.username"
            )
        )

    # registry ---------------------------------------------------------------------------
    def insert_fleet_station(self, row: dict) -> None:
        self.db["fleet_stations"].insert(row)

    def fleet_station(self, sid: str) -> dict | None:
        rows = list(self.db.query("SELECT * FROM fleet_stations WHERE sid = ?", [sid]))
        return rows[0] if rows else None

    def fleet_station_by_token(self, token_hash: str) -> dict | None:
        rows = list(
            self.db.query("SELECT * FROM fleet_stations WHERE enrol_token_hash = ?", [token_hash])
        )
        return rows[0] if rows else None

    def set_enrolment(self, sid: str, token_hash: str, sealed: str, expires_at: str) -> None:
        self.db.execute(
            "UPDATE fleet_stations SET enrol_token_hash = ?, enrol_sealed_password = ?,"
            " enrol_expires_at = ? WHERE sid = ?",
            [token_hash, sealed, expires_at, sid],
        )

    def mark_enrolled(self, sid: str, at: str) -> None:
        self.db.execute(
            "UPDATE fleet_stations SET enrolled_at = ?, enrol_token_hash = NULL,"
            " enrol_sealed_password = NULL, enrol_expires_at = NULL WHERE sid = ?",
            [at, sid],
        )

    def revoke_fleet_station(self, sid: str, at: str) -> None:
        self.db.execute(
            "UPDATE fleet_stations SET revoked_at = ?, enrol_token_hash = NULL,"
            " enrol_sealed_password = NULL WHERE sid = ?",
            [at, sid],
        )

    def latest_config(self, sid: str) -> dict | None:
        rows = list(
            self.db.query(
                "SELECT * FROM station_configs WHERE sid = ? ORDER BY version DESC LIMIT 1", [sid]
            )
        )
        return rows[0] if rows else None

    def insert_config(self, row: dict) -> None:
        self.db["station_configs"].insert(row)

    def config_report(self, sid: str) -> dict | None:
        rows = list(self.db.query("SELECT * FROM config_reports WHERE sid = ?", [sid]))
        return rows[0] if rows else None

    # availability -----------------------------------------------------------------------
    def fleet_overview(self, town: str | None = None) -> list[dict]:
        where, args = ("WHERE f.town = ?", [town]) if town else ("", [])
        return list(
            self.db.query(
                "SELECT f.sid, f.name, f.town, f.enrolled_at, f.revoked_at,"
                " s.state, s.software, s.config_version, s.outbox_pending, s.last_seen,"
                " s.heartbeat_at, s.clock_skew_s, s.disk_free_mb,"
                " c.version AS desired_version, r.state AS config_state,"
                " r.version AS reported_version,"
                " r.errors AS config_errors,"
                " (SELECT json_extract(config, '$.broker.heartbeat_interval')"
                "    FROM station_configs WHERE sid = f.sid ORDER BY version DESC LIMIT 1)"
                "   AS heartbeat_interval"
                " FROM fleet_stations f"
                " LEFT JOIN stations s ON s.sid = f.sid"
                " LEFT JOIN (SELECT sid, max(version) AS version FROM station_configs"
                "   GROUP BY sid) c"
                "   ON c.sid = f.sid"
                " LEFT JOIN config_reports r ON r.sid = f.sid"
                f" {where} ORDER BY f.sid",
                args,
            )
        )

    def availability_facts(self) -> list[dict]:
        """What the availability monitor judges, for every station heard from that is not
        revoked, in one statement: its last status and heartbeat, the heartbeat interval
        of its current configuration, and the availability its history recorded last
        (`recorded`)."""
        return list(
            self.db.query(
                "SELECT f.sid, f.name, f.town, s.state, s.last_seen, s.heartbeat_at,"
                " (SELECT json_extract(config, '$.broker.heartbeat_interval')"
                "    FROM station_configs WHERE sid = f.sid ORDER BY version DESC LIMIT 1)"
                "   AS heartbeat_interval,"
                " (SELECT availability FROM station_history WHERE sid = f.sid"
                "    ORDER BY id DESC LIMIT 1) AS recorded"
                " FROM fleet_stations f JOIN stations s ON s.sid = f.sid"
                " WHERE f.revoked_at IS NULL"
            )
        )

    def note_silence(
        self, sid: str, heard_at: str, at: str, availability: str, detail: str
    ) -> bool:
        """Append `availability` (late, offline) to the station's history unless it was
        heard from after it was judged (its `last_seen` is no longer `heard_at`); True
        when appended."""
        cur = self.db.execute(
            "INSERT INTO station_history (sid, at, availability, detail)"
            " SELECT ?, ?, ?, ? WHERE EXISTS"
            " (SELECT 1 FROM stations WHERE sid = ? AND last_seen = ?)",
            [sid, at, availability, detail, sid, heard_at],
        )
        return cur.rowcount == 1

    def device_states_by_station(self, town: str | None = None) -> dict[str, list[dict]]:
        """Every station's device states (of one town), in one statement, by station."""
        join, args = (
            (" JOIN fleet_stations f ON f.sid = d.sid WHERE f.town = ?", [town])
            if town
            else ("", [])
        )
        out: dict[str, list[dict]] = {}
        for row in self.db.query(
            "SELECT d.sid, d.device, d.state, d.code, d.message, d.updated_at"
            f" FROM device_states d{join} ORDER BY d.sid, d.device",
            args,
        ):
            out.setdefault(row.pop("sid"), []).append(row)
        return out

    def device_states(self, sid: str) -> list[dict]:
        return list(
            self.db.query(
                "SELECT device, state, code, message, updated_at FROM device_states"
                " WHERE sid = ? ORDER BY device",
                [sid],
            )
        )

    def append_history(self, sid: str, at: str, availability: str, detail: str = "") -> None:
        self.db["station_history"].insert(
            {"sid": sid, "at": at, "availability": availability, "detail": detail}
        )

    def history(self, sid: str, limit: int = 100) -> list[dict]:
        return list(
            self.db.query(
                "SELECT at, availability, detail FROM station_history WHERE sid = ?"
                " ORDER BY id DESC LIMIT ?",
                [sid, limit],
            )
        )


# Used by the hub's intake on its own `Store` (inside its group-commit transaction).
def record_status(
    store: Store,
    sid: str,
    availability: str,
    at: str,
    skew: float | None,
    heartbeat: bool,
    disk_free_mb: int | None = None,
) -> None:
    """A station status message: a heartbeat (live) or a retained copy (not a heartbeat);
    an availability change is appended to the station's history (a Last Will's `offline`
    is a crash). A Last Will carries no disk figure, so the last one reported is kept."""
    availability = "crashed" if availability == "offline" else availability
    if heartbeat:
        store.db.execute(
            "UPDATE stations SET heartbeat_at = ?, clock_skew_s = ? WHERE sid = ?", [at, skew, sid]
        )
    if disk_free_mb is not None:
        store.db.execute(
            "UPDATE stations SET disk_free_mb = ? WHERE sid = ?", [disk_free_mb, sid]
        )
    row = store.db.execute(
        "SELECT availability FROM station_history WHERE sid = ? ORDER BY id DESC LIMIT 1", [sid]
    ).fetchone()
    if (row[0] if row else None) != availability:
        store.db.execute(
            "INSERT INTO station_history (sid, at, availability, detail) VALUES (?, ?, ?, '')",
            [sid, at, availability],
        )


def record_config_report(
    store: Store, sid: str, version: int, state: str, errors: list[str], at: str
) -> None:
    store.db.execute(
        "INSERT INTO config_reports (sid, version, state, errors, at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (sid) DO UPDATE SET version = excluded.version, state = excluded.state,"
        " errors = excluded.errors, at = excluded.at",
        [sid, version, state, json.dumps(errors, ensure_ascii=False), at],
    )
