-- Applications as received from the stations, routed to a department.
CREATE TABLE applications (
    id TEXT PRIMARY KEY,                 -- kiosk-made UUID, the idempotency key
    case_number TEXT NOT NULL UNIQUE,    -- official 办件编号
    station TEXT NOT NULL,
    town TEXT NOT NULL,                  -- first 9 digits of the station's division code
    receipt_number TEXT NOT NULL,
    service_code TEXT NOT NULL,
    catalog_version TEXT NOT NULL,
    department TEXT NOT NULL,
    category TEXT,
    applicant_id_number TEXT NOT NULL,
    applicant_name TEXT NOT NULL,
    applicant_phone TEXT NOT NULL,
    applicant_json TEXT NOT NULL,
    form_json TEXT NOT NULL,
    materials_json TEXT NOT NULL,
    proxy_officer_json TEXT,
    filed_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    state INTEGER NOT NULL,              -- latest national lifecycle code
    state_at TEXT NOT NULL,
    supplement_officer TEXT,             -- who asked for the open 补正: the resubmission goes back to them
    assigned_officer TEXT,
    deadline TEXT
);
CREATE INDEX applications_department_state ON applications (department, state, deadline);
CREATE INDEX applications_station ON applications (station, received_at);
CREATE INDEX applications_applicant ON applications (applicant_id_number);

-- Every transition, append-only.
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    application_id TEXT NOT NULL REFERENCES applications (id),
    seq INTEGER NOT NULL,
    code INTEGER NOT NULL,
    action TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    at TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    UNIQUE (application_id, seq)
);
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;

-- Content-addressed document images; the bytes live in files named by their sha256.
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mime TEXT NOT NULL,
    station TEXT NOT NULL,
    stored_at TEXT NOT NULL
);

-- What was refused, with the raw bytes kept for inspection (nothing is silently dropped).
CREATE TABLE rejections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    topic TEXT NOT NULL,
    station TEXT,
    message_id TEXT,
    sha256 TEXT,
    reasons_json TEXT NOT NULL,
    payload BLOB
);
CREATE INDEX rejections_sha256 ON rejections (sha256);

-- Transactional outbox of MQTT messages: written with the state change, sent until the
-- broker acknowledges.
CREATE TABLE outgoing (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL DEFAULT 1,
    retain INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    sent_at TEXT
);
CREATE INDEX outgoing_unsent ON outgoing (id) WHERE sent_at IS NULL;

-- SMS to applicants, sent through the notifier with retries; every attempt counted.
CREATE TABLE sms (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    application_id TEXT REFERENCES applications (id),
    event_seq INTEGER,
    phone TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    sent_at TEXT,
    last_error TEXT
);
CREATE INDEX sms_unsent ON sms (next_attempt_at) WHERE sent_at IS NULL;

CREATE TABLE case_sequences (
    key TEXT PRIMARY KEY,
    last INTEGER NOT NULL
);

-- Station presence and peripheral health as the kiosks report them.
CREATE TABLE stations (
    sid TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    software TEXT NOT NULL DEFAULT '',
    config_version INTEGER,
    outbox_pending INTEGER,
    last_seen TEXT NOT NULL
);
CREATE TABLE device_states (
    sid TEXT NOT NULL,
    device TEXT NOT NULL,
    state TEXT NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (sid, device)
);
