-- Officer accounts: argon2 password hashes, one role each, scoped to a department, a town
-- (first 9 digits of a station id) or a station.
CREATE TABLE officers (
    username TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    department TEXT,
    town TEXT,
    station TEXT,
    active INTEGER NOT NULL DEFAULT 1,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until TEXT,
    created_at TEXT NOT NULL
);

-- Browser sessions: only the sha256 of the cookie value is kept, with its CSRF token.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL REFERENCES officers (username),
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX sessions_username ON sessions (username);

-- Audit trail: every officer action and every view of full personal data, each entry
-- carrying the hash of the one before it (hub/audit.py); `cunban audit verify` walks it.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail_json TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

-- The workbench queue: open cases of a department by deadline (a partial index, so
-- closed cases are never scanned), and the filters by town, station and item.
CREATE INDEX applications_open_queue ON applications
    (department, coalesce(deadline, '9999-12-31'), received_at)
    WHERE state NOT IN (2, 4, 5, 11, 12, 13, 14, 15, 16);
CREATE INDEX applications_department_town ON applications (department, town, state);
CREATE INDEX applications_department_item ON applications (department, service_code, state);
CREATE INDEX applications_department_station ON applications (department, station);
CREATE INDEX applications_town_queue ON applications
    (town, coalesce(deadline, '9999-12-31'), received_at);
CREATE INDEX applications_station_queue ON applications
    (station, coalesce(deadline, '9999-12-31'), received_at);

-- Statistics read the event log by code.
CREATE INDEX events_code_at ON events (code, at, application_id);

-- Statistics: monthly counts per station and item folded in from the event log up to
-- `stats_state.last_event_id`; a request folds in only the events after it (events are
-- append-only, so the cells are always the sums over a prefix of the log).
CREATE TABLE stats_cells (
    month TEXT NOT NULL,                 -- China-time month of the event, 2026-01
    station TEXT NOT NULL,
    town TEXT NOT NULL,
    department TEXT NOT NULL,
    service_code TEXT NOT NULL,
    received INTEGER NOT NULL,
    accepted INTEGER NOT NULL,
    completed INTEGER NOT NULL,
    on_time INTEGER NOT NULL,
    overdue INTEGER NOT NULL,
    PRIMARY KEY (month, station, service_code, department)
);
CREATE INDEX stats_cells_town ON stats_cells (town, month);
CREATE INDEX stats_cells_department ON stats_cells (department, month);
CREATE TABLE stats_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_event_id INTEGER NOT NULL
);
INSERT INTO stats_state (id, last_event_id) VALUES (1, 0);
