-- Personal data at rest (hub/crypto.py): applicant_id_number, applicant_name,
-- applicant_phone, applicant_json and sms.phone hold ciphertext from now on; ID numbers
-- are found through a keyed HMAC-SHA256 of the number.
ALTER TABLE applications ADD COLUMN applicant_id_index TEXT;
DROP INDEX applications_applicant;
CREATE INDEX applications_applicant_index ON applications (applicant_id_index);

-- The fingerprint of the data key the rows were written with: a hub started with another
-- key refuses to run instead of failing on the first row it reads.
CREATE TABLE data_key (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    fingerprint TEXT NOT NULL,
    created_at TEXT NOT NULL
);
