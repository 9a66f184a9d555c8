"""Draining a queue through the project's MQTT client against the real broker: every
message once, the acks reach the broker in few writes, and paho is not woken per message.
"""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as paho_client

from protocols.mqtt import MqttEndpoint, unique_client_id

N = 2000


def _fill(url: str, topic: str, count: int) -> None:
    producer = MqttEndpoint(url, unique_client_id("fill")).start()
    try:
        assert producer.wait_connected(10)
        done = threading.Semaphore(0)
        for i in range(count):
            while not producer.publish(topic, b"%06d" % i, on_confirm=done.release):
                time.sleep(0.01)
        for _ in range(count):
            assert done.acquire(timeout=30)
    finally:
        producer.stop()


class Drain:
    """A persistent-session consumer acking in batches of 100 (as the hub does after
    each commit), or not at all."""

    def __init__(self, url: str, client_id: str, topic: str, *, ack: bool) -> None:
        self.got: list[bytes] = []
        self.ack = ack
        self._unacked: list[tuple[int, int]] = []
        self._lock = threading.Lock()
        self.endpoint = MqttEndpoint(url, client_id, subscriptions=[(topic, 1)],
                                     on_message=self._message, manual_ack=True,
                                     persistent_session=True, mqtt311=True)

    def _message(self, msg) -> None:
        with self._lock:
            self.got.append(msg.payload)
            self._unacked.append((msg.mid, msg.qos))
            batch = None
            if self.ack and len(self._unacked) >= 100:
                batch, self._unacked = self._unacked, []
        if batch:
            self.endpoint.ack_many(batch)

    def run_until(self, count: int, timeout: float = 30.0) -> list[bytes]:
        self.endpoint.start()
        deadline = time.monotonic() + timeout
        while len(self.got) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        with self._lock:
            rest, self._unacked = self._unacked, []
        if self.ack and rest:
            self.endpoint.ack_many(rest)
        time.sleep(0.3)  # let the last PUBACKs leave before the clean disconnect
        self.endpoint.stop()
        return self.got


def _register(url: str, client_id: str, topic: str) -> None:
    first = Drain(url, client_id, topic, ack=True)
    first.endpoint.start()
    assert first.endpoint.wait_connected(10)
    time.sleep(0.2)
    first.endpoint.stop()


def test_a_queue_drains_once_and_the_batched_acks_reach_the_broker(broker, monkeypatch):
    topic, cid = "drain/acked", unique_client_id("drain")
    _register(broker.url, cid, topic)
    _fill(broker.url, topic, N)

    selects, sends = [], []
    real_select = paho_client.select.select

    def counting_select(*args, **kwargs):
        selects.append(1)
        return real_select(*args, **kwargs)

    monkeypatch.setattr(paho_client.select, "select", counting_select)
    drain = Drain(broker.url, cid, topic, ack=True)
    real_send = drain.endpoint.client._sock_send
    monkeypatch.setattr(drain.endpoint.client, "_sock_send",
                        lambda buf: sends.append(len(buf)) or real_send(buf))
    got = drain.run_until(N)
    monkeypatch.undo()
    assert got == [b"%06d" % i for i in range(N)]
    # one PUBACK each used to be one send and one wake-up of paho's loop each
    assert sum(sends) >= 4 * N
    assert len(sends) < N / 10, len(sends)
    assert len(selects) < N / 4, len(selects)

    # the same session again: the broker has nothing left to deliver
    again = Drain(broker.url, cid, topic, ack=True)
    assert again.run_until(1, timeout=2) == []


def test_unacked_messages_come_again(broker):
    """The control for the test above: without acks the broker delivers them again."""
    topic, cid = "drain/unacked", unique_client_id("drain")
    _register(broker.url, cid, topic)
    _fill(broker.url, topic, 300)
    assert len(Drain(broker.url, cid, topic, ack=False).run_until(300)) == 300
    assert len(Drain(broker.url, cid, topic, ack=True).run_until(300)) == 300
