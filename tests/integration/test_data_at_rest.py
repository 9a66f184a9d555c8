"""Personal data at rest: what a stolen hub database or blob directory gives away."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
import time

import pytest

from hub.blobs import BlobStore
from hub.crypto import DataKeyError, FieldCipher, key_path
from protocols import messages as m
from protocols.examples import example_submit
from protocols.topics import Kind, Topics
from tests.support import ROOT, HubProcess, Listener, free_port

SID = "411381101201"
T = Topics()
ID_NUMBER = "41138119791231105X"  # GB 11643 check character X
PHONE = "13912345678"
NAME = "李秀英"


def _file_and_look_up(broker, catalog) -> tuple[dict, dict[str, bytes]]:
    """File one application through MQTT, wait for its SMS to go out, then ask for the
    person's applications by ID number as the station's progress screen does."""
    payload, blobs = example_submit(catalog, SID, id_number=ID_NUMBER, phone=PHONE)
    request = m.encode(m.Request(params={"id_number": ID_NUMBER.lower()}))
    with Listener(broker.url, [f"cunban/station/{SID}/#"]) as station:
        for sha, data in blobs.items():
            station.publish(T.blob(SID, sha), data)
        station.publish(T.station(Kind.SUBMIT, SID), payload)
        station.collect(lambda g: any(t.endswith("/application/ack") for t, _ in g))
        station.publish(T.request(SID, "progress"), request)
        got = station.collect(lambda g: any(t == T.response(SID, "progress") for t, _ in g))
    response = next(json.loads(p)["data"] for t, p in got if t == T.response(SID, "progress"))
    return response, blobs


def _wait_sms_sent(db_path) -> None:
    db = sqlite3.connect(db_path)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not db.execute(
            "SELECT count(*) FROM sms WHERE sent_at IS NOT NULL").fetchone()[0]:
        time.sleep(0.1)
    db.close()


@pytest.mark.parametrize("cipher", ["aes-gcm", "sm4-gcm"])
def test_the_database_and_blobs_hold_no_applicant_data_in_clear_and_lookups_still_work(
        tmp_path, broker, catalog, cipher):
    hub = HubProcess(tmp_path / "hub", broker.url, extra=["--cipher", cipher]).start()
    try:
        response, blobs = _file_and_look_up(broker, catalog)
        _wait_sms_sent(hub.data / "hub.db")
        # while the hub runs, recent writes sit in the WAL: it is searched as well
        files = [hub.data / "hub.db", hub.data / "hub.db-wal"]
        raw = b"".join(p.read_bytes() for p in files if p.exists())
    finally:
        hub.stop()
    raw += (hub.data / "hub.db").read_bytes()

    # the lookup by ID number found the application (through the keyed index)
    apps = response["data"]["applications"]
    assert response["status"] == "ok" and len(apps) == 1
    assert apps[0]["applicant_id_number"] == ID_NUMBER[:4] + "*" * 10 + ID_NUMBER[-4:]
    # the SMS went to the right phone, decrypted only to be sent
    spool = [json.loads(x) for x in (hub.data / "sms" / "outbox.jsonl").read_text().splitlines()]
    assert [s["to"] for s in spool] == [PHONE]

    for secret in (ID_NUMBER, ID_NUMBER[:17], PHONE, NAME):
        for encoding in ("utf-8", "utf-16-le"):
            assert secret.encode(encoding) not in raw, f"{secret!r} in clear in the database"
    db = sqlite3.connect(hub.data / "hub.db")
    stored = db.execute("SELECT applicant_id_number, applicant_id_index FROM applications"
                        ).fetchone()
    assert stored[0].startswith("a1:" if cipher == "aes-gcm" else "s1:")
    assert len(stored[1]) == 64 and hashlib.sha256(ID_NUMBER.encode()).hexdigest() != stored[1]

    key = key_path(hub.data)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert json.loads(key.read_text())["algorithm"] == cipher
    store = BlobStore(hub.data / "blobs", FieldCipher.load(key))
    for sha, data in blobs.items():
        on_disk = store.path(sha).read_bytes()
        assert data not in on_disk and not on_disk.startswith(b"\xff\xd8")
        assert store.read(sha) == data


def test_a_hub_started_with_another_key_refuses_to_run_and_says_why(tmp_path, broker,
                                                                    catalog):
    hub = HubProcess(tmp_path / "hub", broker.url).start()
    try:
        _file_and_look_up(broker, catalog)
    finally:
        hub.stop()
    key = key_path(hub.data)
    original = key.read_bytes()
    key.unlink()
    FieldCipher.load(key)  # a fresh key: what a lost key file replaced in haste looks like
    proc = subprocess.run(
        [sys.executable, "-m", "cunban.cli", "hub", "--data", str(hub.data), "--mqtt",
         broker.url, "--http", f"127.0.0.1:{free_port()}"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.returncode == 4
    assert "数据密钥文件与数据库" in proc.stderr and "备份" in proc.stderr
    assert "Traceback" not in proc.stderr

    # the blobs refuse the wrong key too, with a sentence instead of a crash deep inside
    sha = next(p.name for p in (hub.data / "blobs").rglob("*") if p.is_file())
    with pytest.raises(DataKeyError, match="密钥"):
        BlobStore(hub.data / "blobs", FieldCipher.load(key)).read(sha)
    key.write_bytes(original)
    assert BlobStore(hub.data / "blobs", FieldCipher.load(key)).read(sha).startswith(b"\xff\xd8")


def test_ciphertext_changed_by_one_bit_is_refused():
    cipher = FieldCipher(os.urandom(32))
    token = cipher.encrypt(ID_NUMBER)
    assert cipher.decrypt(token) == ID_NUMBER and token != cipher.encrypt(ID_NUMBER)
    raw = bytearray(cipher.encrypt_bytes(b"\xff\xd8 page \xff\xd9"))
    raw[-1] ^= 1
    with pytest.raises(DataKeyError):
        cipher.decrypt_bytes(bytes(raw))
    assert cipher.index(ID_NUMBER.lower()) == cipher.index(ID_NUMBER)
    assert FieldCipher(os.urandom(32)).index(ID_NUMBER) != cipher.index(ID_NUMBER)


def test_applications_stored_before_encryption_are_sealed_and_found_by_id_number(tmp_path):
    from hub.db.repositories import Store

    store = Store.open(tmp_path / "hub.db")
    # a row as the hub wrote it before migration 0005: everything in clear, no index
    store.db.execute(
        "INSERT INTO applications (id, case_number, station, town, receipt_number, "
        "service_code, catalog_version, department, applicant_id_number, applicant_name, "
        "applicant_phone, applicant_json, form_json, materials_json, filed_at, received_at, "
        "state, state_at) VALUES ('a', 'C1', ?, '411381101', 'R1', 'X', 'v', 'D', ?, ?, ?, "
        "'{}', '{}', '[]', 't', 't', 1, 't')", [SID, ID_NUMBER, NAME, PHONE])
    store.db.execute("INSERT INTO sms (application_id, phone, text, created_at, "
                     "next_attempt_at) VALUES ('a', ?, 'x', 't', 't')", [PHONE])

    def insert_sealed(app_id: str, n: int) -> None:
        store.insert_application({
            "id": app_id, "case_number": f"C{n}", "station": SID, "town": "411381101",
            "receipt_number": f"R{n}", "service_code": "X", "catalog_version": "v",
            "department": "D", "applicant_id_number": ID_NUMBER, "applicant_name": NAME,
            "applicant_phone": PHONE, "applicant_json": "{}", "form_json": "{}",
            "materials_json": "[]", "filed_at": "t", "received_at": "t", "state": 1,
            "state_at": "t"})

    # and one sealed earlier that only lacks its lookup index
    insert_sealed("b", 2)
    store.db.execute("UPDATE applications SET applicant_id_index = NULL WHERE id = 'b'")

    # and one as the revision before wrote it: the applicant sealed and indexed, the
    # form's answers and the proxy officer in clear
    form = '{"child_name": "王小明", "disability": "视力残疾"}'
    proxy = '{"officer_id": "gzry-01", "name": "李建国", "phone": "13900139000"}'
    insert_sealed("c", 3)
    store.db.execute("UPDATE applications SET form_json = ?, proxy_officer_json = ? "
                     "WHERE id = 'c'", [form, proxy])

    assert store.seal_plaintext_rows() == 3
    assert store.seal_plaintext_rows() == 0
    raw = str(store.db.execute("SELECT * FROM applications").fetchall()) + \
        str(store.db.execute("SELECT * FROM sms").fetchall())
    assert ID_NUMBER not in raw and NAME not in raw and PHONE not in raw
    assert "王小明" not in raw and "视力残疾" not in raw and "李建国" not in raw
    assert "13900139000" not in raw
    c = store.application("c")
    assert (c["form_json"], c["proxy_officer_json"]) == (form, proxy)
    assert store.application("a")["proxy_officer_json"] is None
    rows = store.applications_at_station(SID, id_number=ID_NUMBER)
    assert sorted(r["id"] for r in rows) == ["a", "b", "c"]
    assert {(r["applicant_name"], r["applicant_phone"]) for r in rows} == {(NAME, PHONE)}
    assert [s["phone"] for s in store.sms_for("a")] == [PHONE]
    store.close()
