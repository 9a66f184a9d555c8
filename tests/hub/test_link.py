"""The hub's MQTT link process, against the real broker: messages in, acks and publishes
out, confirmations back, and a link that dies with its hub."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from types import SimpleNamespace

from hub import link as link_module
from hub.catalog import load_catalog
from hub.crypto import FieldCipher, key_path
from hub.intake import PreparerSpec
from hub.link import LinkEndpoint, _runs
from protocols import messages as m
from protocols.examples import example_submit
from protocols.mqtt import Presence
from protocols.topics import Kind, Topics
from tests.support import ROOT, Listener

STATION = "411381101001"


def _presence(topic: str) -> Presence:
    return Presence(topic, online=b"online", offline=b"offline", stopped=b"stopped")


def _link(url: str, client_id: str, inbox: queue.Queue, base: str) -> LinkEndpoint:
    return LinkEndpoint(url, client_id, presence=_presence(f"{base}/presence"),
                        subscriptions=[(f"{base}/in/#", 1)], on_message=inbox.put,
                        manual_ack=True, persistent_session=True, mqtt311=True)


def _take(inbox: queue.Queue, n: int, timeout: float = 10.0) -> list:
    got, deadline = [], time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        with contextlib.suppress(queue.Empty):
            got.append(inbox.get(timeout=0.1))
    return got


def test_consecutive_events_of_a_batched_kind_travel_together_in_order():
    events = [("messages", 1), ("messages", 2), ("up", None), ("confirmed", 5),
              ("confirmed", 6), ("messages", 3), ("down", None), ("down", None)]
    assert list(_runs(events, ("messages", "confirmed", "unsent"))) == [
        ("messages", [1, 2]), ("up", None), ("confirmed", [5, 6]), ("messages", [3]),
        ("down", None), ("down", None)]


def test_the_link_delivers_confirms_and_leaves_unacked_messages_to_the_broker(broker):
    base = f"linktest/{uuid.uuid4().hex[:8]}"
    client_id = f"link-{uuid.uuid4().hex[:8]}"
    inbox: queue.Queue = queue.Queue()
    with Listener(broker.url, [f"{base}/out", f"{base}/presence"]) as station:
        link = _link(broker.url, client_id, inbox, base).start()
        assert link.wait_connected(10)
        assert link.pid != os.getpid()
        time.sleep(0.3)  # the link's SUBACK
        for n in range(5):
            station.publish(f"{base}/in/{n}", f"m{n}".encode())
        got = _take(inbox, 5)
        assert sorted((r.topic, r.payload) for r in got) == [
            (f"{base}/in/{n}", f"m{n}".encode()) for n in range(5)]
        assert all(r.qos == 1 and r.mid > 0 and not r.retain for r in got)
        got.sort(key=lambda r: r.topic)
        link.ack_many([(r.mid, r.qos) for r in got[:3]])  # the last two stay unacked

        confirmed = threading.Event()
        assert link.publish(f"{base}/out", b"hello", on_confirm=confirmed.set)
        assert confirmed.wait(10), "no confirmation came back from the link"
        seen = station.collect(lambda g: (f"{base}/out", b"hello") in g)
        assert (f"{base}/out", b"hello") in seen
        assert (f"{base}/presence", b"online") in seen

        link.stop()
        assert not link.connected.is_set()
        said = station.collect(lambda g: (f"{base}/presence", b"stopped") in g)
        assert (f"{base}/presence", b"stopped") in said
        assert link._proc.returncode == 0

    # A new link with the same session gets what was not acked, and only that.
    again: queue.Queue = queue.Queue()
    link = _link(broker.url, client_id, again, base).start()
    try:
        assert link.wait_connected(10)
        redelivered = _take(again, 2)
        assert sorted(r.payload for r in redelivered) == [b"m3", b"m4"]
        assert _take(again, 1, timeout=1.0) == []
        link.ack_many([(r.mid, r.qos) for r in redelivered])
    finally:
        link.stop()


HUB_LIKE = """
import sys, time
from hub.link import LinkEndpoint
from protocols.mqtt import Presence
link = LinkEndpoint(sys.argv[1], sys.argv[2], on_message=lambda r: None,
                    presence=Presence(sys.argv[3], online=b"online", offline=b"offline",
                                      stopped=b"stopped"), mqtt311=True).start()
link.wait_connected(10)
print(link.pid, flush=True)
time.sleep(60)
"""


def test_the_link_dies_with_a_killed_hub_and_the_broker_says_offline(broker):
    presence = f"linktest/{uuid.uuid4().hex[:8]}/presence"
    with Listener(broker.url, [presence]) as station:
        hub = subprocess.Popen(
            [sys.executable, "-c", HUB_LIKE, broker.url, f"link-{uuid.uuid4().hex[:8]}",
             presence], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        try:
            link_pid = int(hub.stdout.readline())
            assert (presence, b"online") in station.collect(
                lambda g: (presence, b"online") in g)
            hub.kill()  # kill -9: no goodbye from the hub
            hub.wait(10)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and os.path.exists(f"/proc/{link_pid}"):
                time.sleep(0.05)
            assert not os.path.exists(f"/proc/{link_pid}"), "the link outlived its hub"
            said = station.collect(lambda g: (presence, b"offline") in g, timeout=10)
            assert (presence, b"offline") in said  # the broker sent the Last Will
        finally:
            hub.kill()


def test_a_link_that_dies_alone_is_replaced_and_its_session_carries_on(broker):
    base = f"linktest/{uuid.uuid4().hex[:8]}"
    inbox: queue.Queue = queue.Queue()
    ups, downs = [], []
    link = LinkEndpoint(broker.url, f"link-{uuid.uuid4().hex[:8]}",
                        subscriptions=[(f"{base}/in/#", 1)], on_message=inbox.put,
                        on_connected=lambda: ups.append(1), on_disconnected=lambda: downs.append(1),
                        manual_ack=True, persistent_session=True, mqtt311=True).start()
    try:
        with Listener(broker.url, [f"{base}/out"]) as station:
            assert link.wait_connected(10)
            time.sleep(0.3)
            station.publish(f"{base}/in/a", b"before")
            [first] = _take(inbox, 1)
            assert first.payload == b"before"  # received, not acked

            dead = link.pid
            os.kill(dead, signal.SIGKILL)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not (link.pid != dead and len(ups) >= 2):
                time.sleep(0.05)
            assert link.pid != dead and link.wait_connected(10)
            assert downs, "the hub was not told the link went down"

            redelivered = _take(inbox, 1)
            assert [r.payload for r in redelivered] == [b"before"]
            station.publish(f"{base}/in/b", b"after")
            [later] = _take(inbox, 1)
            assert later.payload == b"after"
            link.ack_many([(r.mid, r.qos) for r in (*redelivered, later)])
            confirmed = threading.Event()
            assert link.publish(f"{base}/out", b"still here", on_confirm=confirmed.set)
            assert confirmed.wait(10)
    finally:
        link.stop()
    assert link._proc.returncode == 0


def test_the_link_prepares_each_submission_it_receives_and_only_submissions(broker, tmp_path):
    root = f"linkprep{uuid.uuid4().hex[:6]}"
    topics, catalog = Topics(root), load_catalog()
    cipher = FieldCipher.load(key_path(tmp_path))  # the hub's key, which the link reads
    inbox: queue.Queue = queue.Queue()
    link = LinkEndpoint(broker.url, f"link-{uuid.uuid4().hex[:8]}",
                        subscriptions=[(t, 1) for t in topics.hub_subscriptions()],
                        on_message=inbox.put, manual_ack=True, mqtt311=True,
                        preparer=PreparerSpec(catalog, str(key_path(tmp_path)), root)).start()
    payload, _ = example_submit(catalog, STATION)
    status = m.encode(m.StationStatus(state="online", software="t"))
    try:
        assert link.wait_connected(10)
        time.sleep(0.3)
        with Listener(broker.url, []) as station:
            station.publish(topics.station(Kind.SUBMIT, STATION), payload)
            station.publish(topics.station(Kind.SUBMIT, STATION), b"{not json")
            station.publish(topics.station(Kind.STATION_STATUS, STATION), status)
            got = {r.payload: r for r in _take(inbox, 3)}
        good, bad, other = got[payload], got[b"{not json"], got[status]
        link.ack_many([(r.mid, r.qos) for r in got.values()])
    finally:
        link.stop()
    assert other.prepared is None
    assert bad.prepared.unreadable and bad.prepared.application_id is None
    p = good.prepared
    assert (p.station, p.application_id, p.errors) == (STATION, json.loads(payload)["id"], ())
    assert p.service_code and len(p.hashes) >= 1
    # sealed in the link with the hub's key: the hub can open them, nobody else can read them
    assert cipher.decrypt(p.columns["applicant_name"]) == "李秀英"
    assert cipher.decrypt(p.columns["applicant_phone"]) == "13800138000"
    assert p.columns["applicant_id_index"] == cipher.index(
        json.loads(payload)["data"]["applicant"]["id_number"])


class _GatedPreparer:
    """Prepares nothing, and not before the test opens the gate."""

    def __init__(self) -> None:
        self.gate = threading.Event()

    def prepare(self, topic: str, payload: bytes) -> None:
        assert self.gate.wait(20), "the test never opened the gate"
        return None


class _CountingLink(link_module._Link):
    """Counts the payload bytes paho's thread has handed over."""

    received = 0

    def _received(self, msg) -> None:
        super()._received(msg)
        self.received += len(msg.payload)


def test_a_link_that_cannot_forward_leaves_what_it_cannot_hold_with_the_broker(
        broker, monkeypatch):
    """A slow forwarder holds paho's thread back: the link keeps a bounded number of
    payload bytes, the broker keeps the rest, and every message still comes through."""
    monkeypatch.setattr(link_module, "HELD_BYTES", 2**20)
    base = f"linkheld/{uuid.uuid4().hex[:8]}"
    size, count = 512 * 2**10, 12
    ours, theirs = multiprocessing.Pipe()
    preparer = _GatedPreparer()
    link = _CountingLink(theirs, {
        "url": broker.url, "client_id": f"link-{uuid.uuid4().hex[:8]}",
        "subscriptions": [(f"{base}/in/#", 1)], "manual_ack": True, "mqtt311": True},
        preparer)
    runner = threading.Thread(target=link.run, daemon=True)
    runner.start()
    payloads = [bytes([n]) * size for n in range(count)]
    try:
        assert link.endpoint.wait_connected(10)
        time.sleep(0.3)  # the link's SUBACK
        with Listener(broker.url, []) as station:
            for n, payload in enumerate(payloads):
                station.publish(f"{base}/in/{n}", payload)
            time.sleep(1.5)  # the gate is shut: nothing is forwarded
            held = link.received
            assert size <= held <= 2**20 + size, f"the link took in {held} bytes"
            preparer.gate.set()
            got: list[tuple] = []
            deadline = time.monotonic() + 20
            while len(got) < count and time.monotonic() < deadline:
                if ours.poll(0.2):
                    kind, body = ours.recv()
                    if kind == "messages":
                        got.extend(body)
        assert [(topic, payload) for topic, payload, *_ in got] == [
            (f"{base}/in/{n}", payloads[n]) for n in range(count)]
    finally:
        preparer.gate.set()
        ours.send(("stop", None))
        runner.join(10)


class _PhotoPreparer:
    """Each photo waits until another is being prepared at the same time."""

    def __init__(self) -> None:
        self.side_by_side = threading.Barrier(2, timeout=10)
        self.threads: dict[str, str] = {}

    def prepare(self, topic: str, payload: bytes) -> SimpleNamespace:
        self.threads[topic] = threading.current_thread().name
        if len(payload) >= link_module.PHOTO_FROM:
            self.side_by_side.wait()  # raises after 10 s alone: the preparation fails
        return SimpleNamespace(topic=topic, needs_payload=True)


def test_the_photos_of_a_batch_are_prepared_side_by_side_and_forwarded_in_order(broker):
    preparer = _PhotoPreparer()
    ours, theirs = multiprocessing.Pipe()
    link = link_module._Link(theirs, {"url": broker.url, "client_id": "link-photos"},
                             preparer)
    photo = bytes(link_module.PHOTO_FROM)
    items = [(f"in/{n}", photo if n in (1, 3) else b"{}", n, 1, False) for n in range(5)]
    forwarded = link._prepared(items)
    assert [(topic, mid, prepared and prepared.topic)
            for topic, _, mid, _, _, prepared in forwarded] == [
        (f"in/{n}", n, f"in/{n}") for n in range(5)]
    assert [payload for _, payload, *_ in forwarded] == [b"{}", photo, b"{}", photo, b"{}"]
    me = threading.current_thread().name
    assert {topic for topic, name in preparer.threads.items() if name == me} == {
        "in/0", "in/2", "in/4"}  # the small ones here, while the photos were prepared
