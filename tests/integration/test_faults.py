"""Nothing is lost when the hub is killed, the broker restarts, or a kiosk dies mid-way."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict

from kiosk.outbox import Outbox
from kiosk.uploader import Uploader
from protocols import messages as m
from protocols.examples import example_id_number, example_submit
from protocols.topics import Kind, Topics
from tests.support import ROOT, HubProcess, Listener

T = Topics()
SID = "411381101202"


def _wait(predicate, timeout=60.0, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def _count(db_path, sql="SELECT count(*) FROM applications"):
    db = sqlite3.connect(db_path)
    try:
        return db.execute(sql).fetchone()[0]
    finally:
        db.close()


def test_kill_9_of_the_hub_mid_burst_loses_nothing_and_stores_each_once(tmp_path, own_broker,
                                                                        catalog):
    hub = HubProcess(tmp_path / "hub", own_broker.url).start()
    filed = [example_submit(catalog, SID, counter=n) for n in range(1, 301)]
    payloads = [p for p, _ in filed]
    ids = {json.loads(p)["id"] for p in payloads}
    cases: dict[str, set[str]] = defaultdict(set)
    with Listener(own_broker.url, [T.station(Kind.ACK, SID)], client_id="plain-station") as st:
        for _, blobs in filed:
            for sha, data in blobs.items():
                st.publish(T.blob(SID, sha), data)
        for i, payload in enumerate(payloads):  # a plain client that never resends
            st.publish(T.station(Kind.SUBMIT, SID), payload)
            if i == 120:
                hub.kill9()
        hub.start()

        def all_acked():
            while not st.messages.empty():
                for ack in m.decode(Kind.ACK, st.messages.get()[1]).data.acks:
                    assert ack.result == m.AckResult.STORED, ack
                    cases[str(ack.application_id)].add(ack.case_number)
            return set(cases) == ids

        assert _wait(all_acked, 90), f"acked {len(cases)} of 300"
    hub.stop()
    assert _count(hub.data / "hub.db") == 300
    assert all(len(c) == 1 for c in cases.values())
    assert _count(hub.data / "hub.db", "SELECT count(DISTINCT case_number) FROM applications") \
        == 300


def _file(outbox, catalog, n, code=None):
    payload, blobs = example_submit(catalog, outbox.station, counter=n, service_code=code)
    data = json.loads(payload)["data"]
    fields = {k: data[k] for k in ("service_code", "catalog_version", "applicant", "category",
                                   "form", "materials")}
    return outbox.file(fields, list(blobs.values()))


def _burst_through_a_broker_fault(tmp_path, broker, catalog, count, fault_at, fault):
    """File `count` applications through a kiosk outbox, hit the broker with `fault` after
    `fault_at` of them, and wait until the outbox is empty; return the hub's data dir."""
    hub = HubProcess(tmp_path / "hub", broker.url).start()
    outbox = Outbox(tmp_path / "kiosk", SID)
    uploader = Uploader(outbox, broker.url, first_retry=1.0).start()
    try:
        for n in range(1, count + 1):
            _file(outbox, catalog, n)
            uploader.nudge()
            if n == fault_at:
                fault()
        assert _wait(lambda: not outbox.pending_ids(), 120), outbox.counts()
    finally:
        uploader.stop()
        hub.stop()
    assert _count(outbox.root / "outbox.db", "SELECT count(*) FROM receipts") == count
    return hub.data


def test_a_broker_restart_mid_burst_loses_nothing_from_the_kiosk_outbox(tmp_path, own_broker,
                                                                        catalog):
    data = _burst_through_a_broker_fault(tmp_path, own_broker, catalog, 40, 20,
                                         own_broker.restart)
    assert _count(data / "hub.db") == 40


def test_a_broker_killed_with_kill_9_is_recovered_from_the_outboxes(tmp_path, own_broker,
                                                                    catalog):
    def kill_and_start():
        own_broker.kill()
        own_broker.start()

    data = _burst_through_a_broker_fault(tmp_path, own_broker, catalog, 30, 30,
                                         kill_and_start)
    assert _count(data / "hub.db") == 30


KILL_AFTER_FILING = """
import os, signal, sys
from kiosk.outbox import Outbox
from protocols import messages as m
from protocols.examples import example_page
import hashlib
outbox = Outbox(sys.argv[1], sys.argv[2])
page = example_page("killed")
sha = hashlib.sha256(page).hexdigest()
fields = dict(service_code=sys.argv[3], applicant=m.Applicant(
    id_number=sys.argv[4], name="张三", phone="13900001111"),
    materials=[m.MaterialRef(code=c, sha256=sha, mime="image/jpeg") for c in sys.argv[5:]])
filed = outbox.file(fields, [page])
print(filed.application_id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # dies before anything is published
"""


def test_a_kiosk_killed_between_outbox_write_and_publish_uploads_on_restart(tmp_path, broker,
                                                                            hub, catalog):
    item = next(i for i in catalog.items if i.status == "active" and not i.categories
                and not any(f.required for f in i.form))
    codes = [x.code for x in catalog.required_materials(item.code) if not x.from_id_card]
    proc = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_FILING, str(tmp_path / "kiosk"), SID, item.code,
         example_id_number(), *codes], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    app_id = proc.stdout.strip()
    assert _count(hub.data / "hub.db") == 0

    kiosk = subprocess.Popen([sys.executable, "-m", "cunban.cli", "kiosk", "run", "--station",
                              SID, "--data", str(tmp_path / "kiosk"), "--mqtt", broker.url],
                             cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert _wait(lambda: _count(tmp_path / "kiosk" / "outbox.db",
                                    "SELECT count(*) FROM outbox") == 0, 60)
    finally:
        kiosk.send_signal(signal.SIGTERM)
        kiosk.wait(20)
    db = sqlite3.connect(hub.data / "hub.db")
    assert db.execute("SELECT count(*) FROM applications WHERE id = ?",
                      [app_id]).fetchone()[0] == 1
    assert os.path.exists(tmp_path / "kiosk" / "outbox.db")
