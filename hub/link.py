"""The hub's MQTT connection, in a process of its own.

paho does every packet's work in Python: it reads the header, decodes the PUBLISH, builds
the message, writes the PUBACK, and matches each PUBACK to what it confirms. Inside the hub
that work took turns with the intake under one interpreter lock. In a second process it
runs beside the intake, on the other core.

The link process owns an ordinary `MqttEndpoint`, so presence, resubscription, manual
ack and the persistent session work as before. The hub talks to it over one socket pair
(`multiprocessing.connection` framing):

- from the link to the hub: batches of received messages, `up` / `down` when the
  connection comes and goes, and batches of publish confirmations (or of publishes the
  link could not send);
- from the hub to the link: publishes, each with a token its confirmation will name, and
  acks, a batch at a time after each commit.

The link dies with the hub: on `PR_SET_PDEATHSIG` and, failing that, at the end of its
socket. It exits without a clean disconnect, so the broker sends the hub's Last Will and
later delivers again whatever was not acked. Nothing is acked before the hub has
committed it.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection

from hub.intake import Prepared, Preparer, PreparerSpec
from protocols.memory import freeze_startup_objects, keep_freed_memory
from protocols.mqtt import BrokerUrl, MqttEndpoint

logger = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
# Received payload bytes the link holds before paho's thread waits for the forwarder.
HELD_BYTES = 8 * 2**20
# Photos (payloads this large) are prepared on `PHOTO_PREPARERS` threads side by side.
PHOTO_FROM = 64 * 1024
PHOTO_PREPARERS = 2


@dataclass(slots=True)
class Received:
    """A PUBLISH the link received, as the intake reads it."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    retain: bool
    prepared: Prepared | None = None  # a submission's or a photo's preparation (`hub.intake`)


class LinkEndpoint:
    """Stands in for `MqttEndpoint` in the hub: the same calls, carried out by the link
    process. Callbacks run on this side's reader thread."""

    def __init__(self, url: str, client_id: str, *,
                 on_message: Callable[[Received], None],
                 on_connected: Callable[[], None] | None = None,
                 on_disconnected: Callable[[], None] | None = None,
                 preparer: PreparerSpec | None = None,
                 **endpoint_options) -> None:
        """`endpoint_options` are `MqttEndpoint`'s keyword arguments (presence,
        subscriptions, manual_ack, …); they must pickle. With `preparer`, the link
        prepares each submission and photo it receives (`Received.prepared`)."""
        self.broker = BrokerUrl.parse(url)
        self.client_id = client_id
        self.connected = threading.Event()
        self._options = {"url": url, "client_id": client_id, **endpoint_options}
        self._preparer = preparer
        self._on_message = on_message
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected
        self._tokens = itertools.count(1)
        self._confirm: dict[int, Callable[[], None]] = {}
        self._lock = threading.Lock()  # one sender at a time; guards _confirm
        self._conn: Connection | None = None
        self._proc: subprocess.Popen | None = None
        self._supervisor: threading.Thread | None = None
        self._started = threading.Event()
        self._stopping = threading.Event()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    # lifecycle -------------------------------------------------------------------------
    def start(self) -> LinkEndpoint:
        """Start the link process, and start another whenever one ends unasked."""
        # One long-lived thread starts every link and reads from it: the link's death
        # signal is tied to the thread that started it, not to the process.
        self._supervisor = threading.Thread(target=self._supervise, name="hub-mqtt-link",
                                            daemon=True)
        self._supervisor.start()
        self._started.wait(10)
        return self

    def wait_connected(self, timeout: float = 10.0) -> bool:
        return self.connected.wait(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """The link says `stopped`, disconnects cleanly and exits."""
        self._stopping.set()
        proc = self._proc
        if proc is None:
            return
        with contextlib.suppress(OSError, AttributeError):
            self._send(("stop", None))
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.warning("the MQTT link did not stop in %.0f s; killing it", timeout)
            proc.kill()
            proc.wait()
        if self._supervisor is not None:
            self._supervisor.join(timeout)
        self.connected.clear()

    # the endpoint's calls --------------------------------------------------------------
    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False,
                on_confirm: Callable[[], None] | None = None) -> bool:
        """Queue a message; `on_confirm` runs once the broker has acknowledged it.
        Returns False when not connected: the caller keeps the message and retries."""
        if not self.connected.is_set():
            return False
        with self._lock:
            token = next(self._tokens)
            if on_confirm is not None and qos > 0:
                self._confirm[token] = on_confirm
                on_confirm = None
            try:
                self._conn.send(("publish", (token, topic, payload, qos, retain)))
            except OSError:
                self._confirm.pop(token, None)
                return False
        if on_confirm is not None:
            on_confirm()
        return True

    def ack_many(self, received: list[tuple[int, int]]) -> None:
        """Acknowledge received PUBLISHes (after their commit), in one message."""
        wanted = [(mid, qos) for mid, qos in received if qos > 0]
        if wanted:
            with contextlib.suppress(OSError):
                self._send(("ack", wanted))

    # inside -----------------------------------------------------------------------------
    def _send(self, message: tuple) -> None:
        with self._lock:
            self._conn.send(message)

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            ours, theirs = socket.socketpair()
            proc = subprocess.Popen(
                [sys.executable, "-m", "hub.link", str(theirs.fileno()), str(os.getpid())],
                pass_fds=[theirs.fileno()], close_fds=True)
            theirs.close()
            conn = Connection(ours.detach())
            with self._lock:
                self._proc, self._conn = proc, conn
                conn.send(("options", self._options, self._preparer,
                           logging.getLogger().getEffectiveLevel()))
                if self._stopping.is_set():  # stop() came while this one was starting
                    conn.send(("stop", None))
            self._started.set()
            self._read(conn)
            conn.close()
            self.connected.clear()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5 if self._stopping.is_set() else 1)  # before this thread ends
            if self._stopping.is_set():
                return
            logger.error("the MQTT link process ended (exit %s); starting another",
                         proc.poll())
            with self._lock:
                self._confirm.clear()  # never to be confirmed: the outbox sends them again
            if self._on_disconnected:
                self._on_disconnected()
            self._stopping.wait(1.0)

    def _read(self, conn: Connection) -> None:
        while True:
            try:
                kind, body = conn.recv()
            except (EOFError, OSError):
                return
            try:
                self._dispatch(kind, body)
            except Exception:
                logger.exception("MQTT link event %s failed", kind)

    def _dispatch(self, kind: str, body) -> None:
        if kind == "messages":
            for item in body:
                self._on_message(Received(*item))
        elif kind == "confirmed":
            with self._lock:
                callbacks = [self._confirm.pop(token, None) for token in body]
            for callback in callbacks:
                if callback is not None:
                    callback()
        elif kind == "unsent":
            with self._lock:
                for token in body:
                    self._confirm.pop(token, None)
        elif kind == "up":
            self.connected.set()
            if self._on_connected:
                self._on_connected()
        elif kind == "down":
            self.connected.clear()
            if self._on_disconnected:
                self._on_disconnected()


# the link process ----------------------------------------------------------------------
class _Link:
    """Runs in the link process: an `MqttEndpoint`, a forwarder thread that sends what
    happened to the hub in batches, and the main thread carrying out the hub's calls.

    paho's thread waits while more than `HELD_BYTES` of received payloads are still to be
    forwarded, and the broker keeps the rest. Otherwise it reads as fast as the broker
    sends, up to the broker's window of 1,000 unacknowledged messages: with photos that
    is 200 MB waiting here. Measured under a photo load, the link grew to 890 MB, every
    new block came as fresh zero-filled pages, and it stored 15 % fewer photos a second.
    """

    _BATCHED = ("messages", "confirmed", "unsent")

    def __init__(self, conn: Connection, options: dict, preparer: Preparer | None = None):
        self.conn = conn
        self.preparer = preparer
        self._events: list[tuple[str, object]] = []
        self._wake = threading.Condition()
        self._room = threading.Condition(self._wake)
        self._held = 0  # payload bytes received and not yet forwarded
        self._closing = False
        self.endpoint = MqttEndpoint(
            **options, on_message=self._received,
            on_connected=lambda: self._emit("up", None),
            on_disconnected=lambda: self._emit("down", None))
        self._forwarder = threading.Thread(target=self._forward, name="link-forward",
                                           daemon=True)
        self._photos = (ThreadPoolExecutor(PHOTO_PREPARERS, thread_name_prefix="link-photo")
                        if preparer is not None else None)

    def _received(self, msg) -> None:
        with self._wake:
            while self._held > HELD_BYTES and not self._closing:
                self._room.wait()
            self._held += len(msg.payload)
            self._events.append(("messages", (msg.topic, msg.payload, msg.mid, msg.qos,
                                              msg.retain)))
            self._wake.notify()

    def _emit(self, kind: str, item) -> None:
        with self._wake:
            self._events.append((kind, item))
            self._wake.notify()

    def _forward(self) -> None:
        while True:
            with self._wake:
                while not self._events and not self._closing:
                    self._wake.wait()
                events, self._events = self._events, []
                closing = self._closing
            try:
                for kind, body in _runs(events, self._BATCHED):
                    if kind == "messages" and self.preparer is not None:
                        body = self._prepared(body)
                    self.conn.send((kind, body))
            except OSError:
                os._exit(3)  # the hub is gone
            held = sum(len(item[1]) for kind, item in events if kind == "messages")
            with self._wake:
                self._held -= held
                self._room.notify_all()
            if closing and not events:
                return

    def _prepared(self, items: list[tuple]) -> list[tuple]:
        """Each message with its preparation, in the order received. A photo's is mostly
        waiting: on the disk for its direct write, or in hashing and sealing, which let go
        of the interpreter lock. With one thread for all, that thread was busy in 98 % of
        the samples taken under a photo load while the machine had 14 % of its CPU idle;
        the photos are now prepared on a pool, the rest here meanwhile."""
        photos: dict[int, Future] = {
            i: self._photos.submit(self._forwarded, *item)
            for i, item in enumerate(items) if len(item[1]) >= PHOTO_FROM}
        return [photos[i].result() if i in photos else self._forwarded(*item)
                for i, item in enumerate(items)]

    def _forwarded(self, topic: str, payload: bytes, mid: int, qos: int, retain: bool):
        prepared = self._prepare(topic, payload)
        if prepared is not None and not prepared.needs_payload:
            payload = b""  # a photo written aside: its bytes need not cross
        return topic, payload, mid, qos, retain, prepared

    def _prepare(self, topic: str, payload: bytes) -> Prepared | None:
        """The message's preparation; None for messages that have none, and for one whose
        preparation failed: the hub then prepares it itself and refuses it with a reason."""
        try:
            return self.preparer.prepare(topic, payload)
        except Exception:
            logger.exception("could not prepare a message on %s", topic)
            return None

    def run(self) -> None:
        self._forwarder.start()
        self.endpoint.start()
        while True:
            try:
                kind, body = self.conn.recv()
            except (EOFError, OSError):
                # The hub died: no goodbye, so the broker sends the will and keeps the
                # unacked messages for the next hub.
                os._exit(3)
            if kind == "publish":
                token, topic, payload, qos, retain = body
                confirm = (lambda t=token: self._emit("confirmed", t)) if qos else None
                if not self.endpoint.publish(topic, payload, qos=qos, retain=retain,
                                             on_confirm=confirm):
                    self._emit("unsent", token)
            elif kind == "ack":
                self.endpoint.ack_many(body)
            elif kind == "stop":
                self.endpoint.stop()
                with self._wake:
                    self._closing = True
                    self._wake.notify_all()
                    self._room.notify_all()
                self._forwarder.join(5)
                return


def _runs(events: list[tuple[str, object]], batched: tuple[str, ...]):
    """Consecutive events of a batched kind become one (kind, [items]); order is kept."""
    for kind, group in itertools.groupby(events, key=lambda e: e[0]):
        if kind in batched:
            yield kind, [item for _, item in group]
        else:
            for _, item in group:
                yield kind, item


def _die_with_parent(parent: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
    if os.getppid() != parent:  # the hub died before the line above
        os._exit(3)


def main(argv: list[str]) -> int:
    fd, parent = int(argv[0]), int(argv[1])
    _die_with_parent(parent)
    keep_freed_memory()
    # Ctrl-C and SIGTERM are for the hub, which stops its link in order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    conn = Connection(fd)
    kind, options, preparer, level = conn.recv()
    if kind != "options":
        return 2
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    link = _Link(conn, options, preparer.build() if preparer else None)
    frozen = freeze_startup_objects()
    logger.info("link: %d objects made at start left out of garbage collection", frozen)
    link.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
