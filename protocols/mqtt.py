"""The one MQTT transport adapter: paho-mqtt 2.x, MQTT v5, callback API v2.

What every Cunban client gets from `MqttEndpoint`:
- a Last Will (`offline`) and an `online` publish on every connect, and `stopped` on a
  clean exit (the broker does not send the will on a clean disconnect);
- subscriptions made in `on_connect`, so they come back after every reconnect;
- reconnect with exponential backoff (paho's loop thread);
- an optional persistent session (clean_start false + session expiry) and manual ack, so
  a consumer acknowledges a PUBLISH only after it has committed it;
- `publish(..., on_confirm=)`: a callback once the broker has acknowledged a QoS 1 message
  (PUBACK), which is what the outboxes wait for before they mark a row sent.
- paho on a read-buffered socket: many packets per system call and per wake-up of its
  loop, and a batch's PUBACKs in one write (`ack_many`).

QoS is not durability: callers keep their own outbox and resend what is not confirmed.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import struct
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote, urlparse

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

logger = logging.getLogger(__name__)

Message = paho.MQTTMessage


@dataclass(frozen=True)
class BrokerUrl:
    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> BrokerUrl:
        """`mqtt://[user:pass@]host[:port]` (plain) or `mqtts://…` (TLS)."""
        parts = urlparse(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"broker URL must look like mqtt://host:port, got {url!r}")
        tls = parts.scheme == "mqtts"
        return cls(
            host=parts.hostname,
            port=parts.port or (8883 if tls else 1883),
            tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


@dataclass
class Presence:
    """The availability topic with its three payloads (will, on connect, on clean exit)."""

    topic: str
    online: bytes
    offline: bytes
    stopped: bytes


@dataclass
class Tls:
    ca_file: str
    cert_file: str | None = None
    key_file: str | None = None


def unique_client_id(prefix: str) -> str:
    """A client id no other process shares (two clients with one id kick each other off)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@dataclass
class _Pending:
    callbacks: dict[int, Callable[[], None]] = field(default_factory=dict)
    early: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


class MqttEndpoint:
    """A connected MQTT client (v5, or 3.1.1) with presence, resubscription and publish
    confirmation."""

    def __init__(
        self,
        url: str,
        client_id: str,
        *,
        presence: Presence | None = None,
        subscriptions: list[tuple[str, int]] | None = None,
        on_message: Callable[[Message], None] | None = None,
        on_connected: Callable[[], None] | None = None,
        on_disconnected: Callable[[], None] | None = None,
        manual_ack: bool = False,
        persistent_session: bool = False,
        session_expiry: int = 7 * 24 * 3600,
        receive_maximum: int | None = None,
        keepalive: int = 30,
        tls: Tls | None = None,
        username: str | None = None,
        password: str | None = None,
        reconnect_delay: tuple[int, int] = (1, 30),
        mqtt311: bool = False,
    ) -> None:
        """`mqtt311` speaks MQTT 3.1.1 instead of 5: no CONNECT properties, so the session
        lasts as the broker's `persistent_client_expiration` says and the in-flight window
        is the broker's `max_inflight_messages` (`session_expiry`, `receive_maximum` unused).
        """
        self.broker = BrokerUrl.parse(url)
        self.client_id = client_id
        self.presence = presence
        self.subscriptions = list(subscriptions or [])
        self._on_message = on_message
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected
        self.manual_ack = manual_ack
        self.persistent_session = persistent_session
        self.session_expiry = session_expiry
        self.receive_maximum = receive_maximum
        self.keepalive = keepalive
        self.connected = threading.Event()
        self._pending = _Pending()
        self._stopping = False

        self.mqtt311 = mqtt311
        client = _Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv311 if mqtt311 else paho.MQTTv5,
            manual_ack=manual_ack,
            **({"clean_session": not persistent_session} if mqtt311 else {}),
        )
        # paho walks its whole in-flight table on every PUBACK: a window of 100 keeps the
        # pipe full without that walk dominating (1000 was measurably slower).
        client.max_inflight_messages_set(100)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(*reconnect_delay)
        user = username or self.broker.username
        if user:
            client.username_pw_set(user, password or self.broker.password)
        if tls or self.broker.tls:
            if tls is None:
                raise ValueError("mqtts:// needs TLS material (CA file)")
            client.tls_set(
                ca_certs=tls.ca_file, certfile=tls.cert_file, keyfile=tls.key_file,
                cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        if presence:
            client.will_set(presence.topic, presence.offline, qos=1, retain=True)
        client.on_connect = self._handle_connect
        client.on_socket_open = _no_delay
        client.on_disconnect = self._handle_disconnect
        client.on_message = self._handle_message
        client.on_publish = self._handle_publish
        self.client = client

    # lifecycle -------------------------------------------------------------------------
    def start(self) -> MqttEndpoint:
        """Connect in the background; reconnects forever until `stop()`."""
        if self.mqtt311:
            self.client.connect_async(self.broker.host, self.broker.port,
                                      keepalive=self.keepalive)
            self.client.loop_start()
            return self
        props = Properties(PacketTypes.CONNECT)
        if self.persistent_session:
            props.SessionExpiryInterval = self.session_expiry
        if self.receive_maximum:
            props.ReceiveMaximum = self.receive_maximum
        self.client.connect_async(
            self.broker.host, self.broker.port, keepalive=self.keepalive,
            clean_start=not self.persistent_session, properties=props,
        )
        self.client.loop_start()
        return self

    def wait_connected(self, timeout: float = 10.0) -> bool:
        return self.connected.wait(timeout)

    def stop(self, timeout: float = 3.0) -> None:
        """Say `stopped` (when connected), disconnect cleanly, end the loop thread."""
        self._stopping = True
        if self.presence and self.connected.is_set():
            info = self.client.publish(self.presence.topic, self.presence.stopped, qos=1,
                                       retain=True)
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError):
                logger.info("could not confirm the stopped status before exit")
        self.client.disconnect()
        self.client.loop_stop()
        self.connected.clear()

    # publishing ------------------------------------------------------------------------
    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        on_confirm: Callable[[], None] | None = None,
        properties: Properties | None = None,
    ) -> bool:
        """Queue a message; `on_confirm` runs (on the network thread) after the PUBACK.

        Returns False when not connected: the caller keeps the message and retries later.
        """
        if not self.connected.is_set():
            return False
        # paho holds its own lock while it runs on_publish, so ours is never held across
        # client.publish (lock-order inversion); a PUBACK that beats the registration below
        # is remembered in `early` instead.
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return False
        with self._pending.lock:
            confirmed_already = info.mid in self._pending.early
            self._pending.early.discard(info.mid)
            if on_confirm is not None and qos > 0 and not confirmed_already:
                self._pending.callbacks[info.mid] = on_confirm
                on_confirm = None
        if on_confirm is not None:
            on_confirm()
        return True

    def ack(self, mid: int, qos: int) -> None:
        """Acknowledge a received PUBLISH (manual ack mode), after it is committed."""
        if qos > 0:
            self.client.ack(mid, qos)

    def ack_many(self, received: list[tuple[int, int]]) -> None:
        """Acknowledge several received PUBLISHes: (mid, qos) pairs. The QoS 1 ones go to
        the broker in one write."""
        if not self.manual_ack:
            return
        self.client.puback_many([mid for mid, qos in received if qos == 1])
        for mid, qos in received:
            if qos == 2:
                self.client.ack(mid, qos)

    # paho callbacks (never raise) ------------------------------------------------------
    def _handle_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            logger.warning("broker refused connection: %s", reason_code)
            return
        try:
            if self.subscriptions:
                client.subscribe(self.subscriptions)
            if self.presence:
                client.publish(self.presence.topic, self.presence.online, qos=1, retain=True)
            self.connected.set()
            logger.info("connected to %s:%s as %s (session present: %s)", self.broker.host,
                        self.broker.port, self.client_id, flags.session_present)
            if self._on_connected:
                self._on_connected()
        except Exception:
            logger.exception("on_connect handler failed")

    def _handle_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        # Pending confirmations are kept: paho resends in-flight messages after a reconnect.
        self.connected.clear()
        if not self._stopping:
            logger.warning("disconnected from broker (%s); reconnecting", reason_code)
        try:
            if self._on_disconnected:
                self._on_disconnected()
        except Exception:
            logger.exception("on_disconnect handler failed")

    def _handle_message(self, client, userdata, message: Message) -> None:
        try:
            if self._on_message:
                self._on_message(message)
        except Exception:
            logger.exception("message handler failed on %s", message.topic)

    def _handle_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._pending.lock:
            callback = self._pending.callbacks.pop(mid, None)
            if callback is None:
                self._pending.early.add(mid)
        if callback is None:
            return
        try:
            callback()
        except Exception:
            logger.exception("publish confirmation handler failed")


_PUBACK = struct.Struct("!BBH")  # fixed header, remaining length 2, packet id


class _Client(paho.Client):
    """paho's client on a read-buffered socket (`BufferedSocket`)."""

    READ_BURST = 256  # packets handled per wake-up at most, so writes still get their turn

    def _create_socket(self):
        return BufferedSocket(super()._create_socket())

    def puback_many(self, mids: list[int]) -> None:
        """PUBACKs for these QoS 1 messages, queued as one packet run: paho's `ack` wakes
        its loop and makes a `send` per message. Like paho's, they are dropped if the
        connection is lost first, and the broker then delivers the messages again."""
        if mids:
            run = b"".join([_PUBACK.pack(paho.PUBACK, 2, mid) for mid in mids])
            self._packet_queue(paho.PUBACK, run, 0, 1)

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        # paho handles one packet per wake-up when nothing of its own is in flight; a
        # receiver then paid a `select` per message. Go on with what is already buffered.
        rc = super().loop_read(max_packets)
        for _ in range(self.READ_BURST):
            sock = self._sock
            if (rc != MQTTErrorCode.MQTT_ERR_SUCCESS or not isinstance(sock, BufferedSocket)
                    or not sock.pending()):
                break
            rc = super().loop_read(max_packets)
        return rc


class BufferedSocket:
    """A socket whose reads come from one buffer, refilled 64 KiB at a time.

    paho reads each packet as three or more `recv` calls: the first byte, the remaining
    length a byte at a time, then the rest. Each was a system call, and each one that
    found nothing raised an exception. Here one `recv` of the kernel's socket serves many
    packets. `pending()` tells paho's loop what is buffered, so it reads on without
    waiting in `select` (the hook paho has for TLS sockets, which buffer the same way).
    Everything else is the socket's own.
    """

    READ_SIZE = 65536

    __slots__ = ("_sock", "_data", "_pos")

    def __init__(self, sock) -> None:
        self._sock = sock
        self._data = b""
        self._pos = 0

    def recv(self, size: int) -> bytes:
        data, pos = self._data, self._pos
        if pos < len(data):
            chunk = data[pos:pos + size]
            self._pos = pos + len(chunk)
            return chunk
        data = self._sock.recv(max(size, self.READ_SIZE))
        if len(data) <= size:
            return data
        self._data, self._pos = data, size
        return data[:size]

    def pending(self) -> int:
        inner = self._sock.pending() if hasattr(self._sock, "pending") else 0
        return len(self._data) - self._pos + inner

    def __getattr__(self, name):
        return getattr(self._sock, name)


def _no_delay(client, userdata, sock) -> None:
    """Send each packet at once: an ack or a PUBACK must not wait for Nagle's algorithm."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
