"""The photo baseline of `cunban bench ingest` (an echo that stores every photo durably)
and the summary of a profile of the hub, against a real broker and hand-made stacks."""

from __future__ import annotations

import hashlib
import multiprocessing

from hub.bench import run_store
from hub.bench_profile import summarize
from hub.catalog import load_catalog
from protocols import messages as m
from protocols.examples import example_submit
from protocols.topics import Kind, Topics
from tests.support import Listener

T = Topics()
STATION = "411381101001"


def test_the_store_baseline_acks_a_submit_only_once_the_photos_before_it_are_files(
        own_broker, tmp_path):
    spawn = multiprocessing.get_context("spawn")
    stop, ready = spawn.Event(), spawn.Event()
    root = tmp_path / "store"
    store = spawn.Process(target=run_store, args=(own_broker.url, str(root), stop, ready),
                          daemon=True)
    store.start()
    try:
        assert ready.wait(20), "the store did not connect"
        payload, _ = example_submit(load_catalog(), STATION)
        submit = m.decode(Kind.SUBMIT, payload)
        photos = [b"\xff\xd8\xff" + bytes([i]) * 100_000 + b"\xff\xd9" for i in range(3)]
        with Listener(own_broker.url, [T.station(Kind.ACK, STATION)]) as listener:
            for data in photos:
                listener.publish(T.blob(STATION, hashlib.sha256(data).hexdigest()), data)
            listener.publish(T.station(Kind.SUBMIT, STATION), payload)
            got = listener.collect(lambda got: got, timeout=20)
            # what is on disk the moment the ack has arrived
            on_disk = {p.name: p.read_bytes() for p in root.rglob("*") if p.is_file()}
        assert got, "no ack"
        acks = m.decode(Kind.ACK, got[0][1]).data.acks
        assert [(a.application_id, a.result) for a in acks] == [
            (submit.id, m.AckResult.STORED)]
        assert acks[0].receipt_number == submit.data.receipt_number
        assert on_disk == {hashlib.sha256(d).hexdigest(): d for d in photos}
        for data in photos:
            sha = hashlib.sha256(data).hexdigest()
            assert (root / sha[:2] / sha).read_bytes() == data
    finally:
        stop.set()
        store.join(20)
        if store.is_alive():
            store.kill()
    assert store.exitcode == 0


HUB = 'process 10:"python -m cunban.cli hub --data d"'
LINK = f'{HUB};process 11:"python -m hub.link 12 10"'
BOOT = "Thread._bootstrap (threading.py:1002);Thread.run (threading.py:982)"


def test_a_profile_is_summed_per_process_into_what_its_threads_were_doing(tmp_path):
    lines = [
        # the hub: an fsync worker, the intake in SQLite, a pool thread waiting for work
        f"{HUB};thread (0x1);{BOOT};_worker (concurrent/futures/thread.py:58);"
        "fsync_path (hub/blobs.py:188) 60",
        f"{HUB};thread (0x2);{BOOT};Ingest._run (hub/ingest.py:110);"
        "Store.transaction (hub/db/repositories.py:133) 30",
        f"{HUB};thread (0x2);{BOOT};Ingest._run (hub/ingest.py:110);"
        "ApplicationService._transition (hub/service.py:224) 10",
        f"{HUB};thread (0x3);{BOOT};_worker (concurrent/futures/thread.py:81) 500",
        # the link: writing a sealed photo, hashing one, reading the socket
        f"{LINK};thread (0x4);{BOOT};_Link._prepare (hub/link.py:301);"
        "BlobStore.write_staged (hub/blobs.py:101) 50",
        f"{LINK};thread (0x4);{BOOT};_Link._prepare (hub/link.py:301);"
        "BlobStore.write_staged (hub/blobs.py:101);FieldCipher._seal (hub/crypto.py:143) 10",
        f"{LINK};thread (0x4);{BOOT};Preparer.prepare (hub/intake.py:115);"
        "check_blob (hub/blobs.py:51) 20",
        f"{LINK};thread (0x5);{BOOT};Client._packet_read (paho/mqtt/client.py:3137);"
        "BufferedSocket.recv (protocols/mqtt.py:363) 20",
        "not a stack line",
    ]
    path = tmp_path / "hub.collapsed"
    path.write_text("\n".join(lines) + "\n")
    summary = summarize(path)
    assert summary["hub"] == {"samples": 100, "disk_fsync": 0.6, "disk_write": 0.0,
                              "check": 0.0, "seal": 0.0, "database": 0.3, "network": 0.0,
                              "pipe": 0.0, "python": 0.1, "io": 0.6}
    assert summary["link"] == {"samples": 100, "disk_fsync": 0.0, "disk_write": 0.5,
                               "check": 0.2, "seal": 0.1, "database": 0.0, "network": 0.2,
                               "pipe": 0.0, "python": 0.0, "io": 0.7}


def test_cpu_per_application_is_what_each_process_spent_over_the_applications_acked():
    from hub.bench import _consumer_ms, per_application

    spent = {"hub": (1.2, 0.8), "hub_link": (2.0, 3.0), "broker": (0.1, 0.9)}
    cpu = {"per_app_ms": per_application(spent, 500)}
    # 2 s over 500 applications: 4 ms each, 1.6 of them in the kernel
    assert cpu["per_app_ms"]["hub"] == [4.0, 1.6]
    assert cpu["per_app_ms"]["hub_link"] == [10.0, 6.0]
    assert _consumer_ms(cpu, ("hub", "hub_link")) == [14.0, 7.6]
    assert _consumer_ms(cpu, ("store",)) is None
    assert per_application(spent, 0) == {}
