-- Fleet: the station registry with broker accounts and enrolment, signed configurations,
-- what each kiosk reported of them, and station availability history.

-- Broker accounts: one per station plus the hub's own. Only hashes are kept:
-- `password_hash` is the line Mosquitto's password file holds (PBKDF2-SHA512, `$7$`).
CREATE TABLE broker_accounts (
    username TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('hub', 'station')),
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE fleet_stations (
    sid TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    town TEXT NOT NULL,                  -- first 9 digits of the division code
    username TEXT NOT NULL UNIQUE REFERENCES broker_accounts (username),
    -- One-time enrolment: sha256 of the token; the station's MQTT password sealed with a
    -- key derived from the token (AES-GCM), so only the token's holder can open it.
    enrol_token_hash TEXT,
    enrol_sealed_password TEXT,
    enrol_expires_at TEXT,
    enrolled_at TEXT,
    revoked_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX fleet_stations_town ON fleet_stations (town);
CREATE UNIQUE INDEX fleet_stations_token ON fleet_stations (enrol_token_hash);

-- Desired configurations, signed, append-only: the highest version is the current one.
CREATE TABLE station_configs (
    sid TEXT NOT NULL REFERENCES fleet_stations (sid),
    version INTEGER NOT NULL,
    config TEXT NOT NULL,                -- canonical JSON that was signed
    signature TEXT NOT NULL,
    key_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (sid, version)
);

-- The kiosk's report on `config/state`.
CREATE TABLE config_reports (
    sid TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    state TEXT NOT NULL,
    errors TEXT NOT NULL,                -- JSON list
    at TEXT NOT NULL
);

-- Heartbeat facts beside the presence row of 0001 (`stations`).
ALTER TABLE stations ADD COLUMN heartbeat_at TEXT;
ALTER TABLE stations ADD COLUMN clock_skew_s REAL;

-- Availability changes (online, late, offline, crashed, stopped), for a station's history.
CREATE TABLE station_history (
    id INTEGER PRIMARY KEY,
    sid TEXT NOT NULL,
    at TEXT NOT NULL,
    availability TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX station_history_sid ON station_history (sid, id);
