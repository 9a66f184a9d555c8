"""Sends the outbox to the hub: blobs first, then the application, per item with backoff.

Each row has its own retry time (kept on the monotonic clock, so a kiosk clock that is
hours wrong does not stall it), so one poisoned or slow item never blocks the others.
After every (re)connect the station asks the hub what became of its pending applications
(`request/sync`), so acks lost with a broker restart are recovered at once.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable

from kiosk.outbox import Outbox
from protocols import messages as m
from protocols.mqtt import Message, MqttEndpoint, Presence, Tls, unique_client_id
from protocols.topics import Kind, TopicError, Topics

logger = logging.getLogger(__name__)

SOFTWARE = "cunban-kiosk 0.1.0"


def backoff(attempts: int, first: float = 5.0, cap: float = 300.0) -> float:
    return min(cap, first * 2 ** max(0, attempts - 1))


class Uploader:
    def __init__(self, outbox: Outbox, mqtt_url: str, *, topics: Topics | None = None,
                 client_id: str | None = None, first_retry: float = 5.0,
                 username: str | None = None, password: str | None = None,
                 tls: Tls | None = None):
        self.outbox = outbox
        self.station = outbox.station
        self.topics = topics or Topics()
        self.first_retry = first_retry
        self.catalog_payload: bytes | None = None
        self.catalog_received = threading.Event()
        self._events: queue.Queue[tuple[str, object]] = queue.Queue()
        self._hooks: dict[str, Callable[[bytes], None]] = {}
        self._due: dict[str, float] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kiosk-uploader", daemon=True)
        sid = self.station

        def status(state: m.Availability) -> bytes:
            return m.encode(m.StationStatus(state=state, software=SOFTWARE))

        self.endpoint = MqttEndpoint(
            mqtt_url, client_id or unique_client_id(f"kiosk-{sid}"),
            presence=Presence(self.topics.station(Kind.STATION_STATUS, sid),
                              online=status(m.Availability.ONLINE),
                              offline=status(m.Availability.OFFLINE),
                              stopped=status(m.Availability.STOPPED)),
            subscriptions=[(t, 1) for t in self.topics.station_subscriptions(sid)],
            on_message=self._on_message, on_connected=self._on_connected,
            username=username, password=password, tls=tls,
        )

    # lifecycle -------------------------------------------------------------------------
    def start(self) -> Uploader:
        self._thread.start()
        self.endpoint.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)
        self.endpoint.stop()

    def on(self, kind: Kind, handler: Callable[[bytes], None]) -> None:
        """Hand every hub message of `kind` (e.g. `response`, `config`) to `handler`, on
        the uploader's thread: the station keeps one connection for all of its traffic."""
        self._hooks[kind.value] = handler

    def nudge(self) -> None:
        """Something new was filed: look at the outbox now."""
        self._wake.set()

    # network thread: queue only ----------------------------------------------------------
    def _on_connected(self) -> None:
        self._events.put(("connected", None))
        self._wake.set()

    def _on_message(self, msg: Message) -> None:
        try:
            topic = self.topics.parse(msg.topic)
        except TopicError:
            return
        if topic.kind == Kind.CATALOG:
            self.catalog_payload = bytes(msg.payload)
            self.catalog_received.set()
            return
        self._events.put((topic.kind.value, bytes(msg.payload)))
        self._wake.set()

    # the loop --------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._drain_events()
                self._send_due()
            except Exception:
                logger.exception("uploader error; continuing")
            self._wake.wait(0.5)
            self._wake.clear()

    def _drain_events(self) -> None:
        while True:
            try:
                kind, payload = self._events.get_nowait()
            except queue.Empty:
                return
            try:
                if kind == "connected":
                    self._due.clear()  # everything pending is due again
                    self._sync()
                elif kind == Kind.ACK.value:
                    for ack in m.decode(Kind.ACK, payload).data.acks:
                        self.outbox.on_ack(ack)
                        if ack.result == m.AckResult.MISSING_BLOBS:
                            self._due[str(ack.application_id)] = 0.0
                        else:
                            self._due.pop(str(ack.application_id), None)
                elif kind == Kind.STATUS.value:
                    self.outbox.on_status(m.decode(Kind.STATUS, payload).data)
                elif kind in self._hooks:
                    self._hooks[kind](payload)
            except m.MessageError as exc:
                logger.warning("ignored a malformed %s from the hub: %s", kind, exc)

    def _sync(self) -> None:
        ids = self.outbox.pending_ids()[:1000]
        if not ids:
            return
        request = m.Request(params={"application_ids": ids})
        self.endpoint.publish(self.topics.request(self.station, "sync"),
                              m.encode(request, message_id=uuid.uuid4()))

    def _send_due(self) -> None:
        if not self.endpoint.connected.is_set():
            return
        clock = time.monotonic()
        not_due = {i for i, due in self._due.items() if due > clock}
        for item in self.outbox.pending(limit=200, exclude=not_due):
            hashes = self.outbox.blobs_of(item.id)
            if item.resend_blobs is not None:
                hashes = [h for h in hashes if h in set(item.resend_blobs)]
            for sha in hashes:
                try:
                    data = self.outbox.blob_path(sha).read_bytes()
                except FileNotFoundError:
                    logger.error("blob %s of %s is gone from the kiosk", sha[:12],
                                 item.receipt_number)
                    continue
                if not self.endpoint.publish(self.topics.blob(self.station, sha), data):
                    return
            if not self.endpoint.publish(self.topics.station(Kind.SUBMIT, self.station),
                                         item.payload):
                return
            self.outbox.attempted(item.id)
            self._due[item.id] = clock + backoff(item.attempts + 1, self.first_retry)
