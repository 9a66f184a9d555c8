"""The hub's MQTT intake: group commit, ack after commit, and the transactional outbox.

One worker thread owns the writes. Messages arrive from the MQTT link process (`hub.link`)
and are only queued; the link has already done what needs no database (`hub.intake`:
submissions decoded, checked and sealed, photos written aside), so the worker is left with
the SQL and the fsyncs. The worker takes a batch (everything waiting, up to `batch_size`),
handles its messages in one transaction (each in its own savepoint when one of them
fails), commits once, and only then acknowledges every PUBLISH of the batch to the broker
(manual ack) and publishes what the batch queued in the `outgoing` table. A crash before
the commit means the broker redelivers (the hub's session is persistent); a crash after it
means the outgoing rows are sent on the next start.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub.blobs import BlobStore
from hub.db import StorageError
from hub.db import fleet as fleet_db
from hub.db.repositories import Store
from hub.intake import Prepared, PreparedBlob, PreparedSubmit
from hub.link import LinkEndpoint
from hub.service import ActionRefused, ApplicationService
from protocols import messages as m
from protocols.mqtt import Message, MqttEndpoint
from protocols.topics import Kind, Topic, TopicError, Topics

logger = logging.getLogger(__name__)

RESEND_AFTER = 30.0  # seconds an unconfirmed outgoing message waits before it is sent again
SENT_KEPT = timedelta(days=7)  # how long a sent outgoing message stays in the table
PRUNE_EVERY = 60.0  # seconds between two prunings of sent outgoing messages
PRUNE_CHUNK = 2000  # rows deleted per pruning transaction


@dataclass
class IngestStats:
    batches: int = 0
    messages: int = 0
    stored: int = 0
    rejected: int = 0
    storage_errors: int = 0


class _Isolate(Exception):
    """A message raised in a batch run without savepoints."""


class Ingest:
    def __init__(self, store: Store, blobs: BlobStore, service: ApplicationService,
                 topics: Topics, *, batch_size: int = 500, clock=None):
        self.store = store
        self.blobs = blobs
        self.service = service
        self.topics = topics
        self.batch_size = batch_size
        self.endpoint: MqttEndpoint | LinkEndpoint | None = None
        self.stats = IngestStats()
        self.storage_problem: str | None = None
        self._now = clock or (lambda: datetime.now(UTC))
        self._inbox: queue.Queue[Message] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hub-ingest", daemon=True)
        self._confirmed: list[int] = []
        self._confirmed_lock = threading.Lock()
        self._inflight: dict[int, float] = {}
        self._high_water = 0
        self._last_sweep = 0.0
        self._last_prune = float("-inf")

    # wiring -----------------------------------------------------------------------------
    def attach(self, endpoint: MqttEndpoint | LinkEndpoint) -> None:
        self.endpoint = endpoint

    def on_message(self, message: Message) -> None:
        """Called as a message arrives (the link's reader thread): queue only."""
        self._inbox.put(message)

    def on_reconnected(self) -> None:
        """After a reconnect everything unconfirmed is due again."""
        self._inflight.clear()
        self._high_water = 0

    def start(self) -> Ingest:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    # the loop ---------------------------------------------------------------------------
    def _run(self) -> None:
        pending: list[Message] = []
        while not self._stop.is_set():
            try:
                if not pending:
                    pending = self._take_batch()
                if pending or self._has_confirmed():
                    self._commit(pending)
                    if self.endpoint and pending:
                        self.endpoint.ack_many([(msg.mid, msg.qos) for msg in pending])
                    pending = []
                self._publish_outgoing()
                self._prune_outgoing()
            except StorageError as exc:
                # Nothing is acked: the batch is kept and tried again when the disk recovers.
                self.stats.storage_errors += 1
                if self.storage_problem != exc.message:
                    logger.error("cannot store incoming messages: %s (%s)", exc.message,
                                 exc.detail)
                self.storage_problem = exc.message
                self._stop.wait(1.0)
            except Exception:
                logger.exception("ingest loop error; retrying")
                self._stop.wait(0.5)

    def _take_batch(self) -> list[Message]:
        batch: list[Message] = []
        try:
            batch.append(self._inbox.get(timeout=0.05))
        except queue.Empty:
            return batch
        while len(batch) < self.batch_size:
            try:
                batch.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        return batch

    def _has_confirmed(self) -> bool:
        with self._confirmed_lock:
            return bool(self._confirmed)

    def _commit(self, batch: list[Message]) -> None:
        """One transaction for the batch. Messages run without savepoints first (two
        statements fewer each, and almost every batch is clean); if one raises, the whole
        transaction is rolled back and the batch runs again with one savepoint per message,
        so that only the failing message is refused."""
        now = self._now()
        stats = dataclasses.replace(self.stats)
        try:
            self._transaction(batch, now, isolate=False)
        except _Isolate:
            self.stats = stats  # what the undone pass counted
            self._transaction(batch, now, isolate=True)
        if self.storage_problem:
            logger.warning("storage recovered")
            self.storage_problem = None
        self.stats.batches += 1
        self.stats.messages += len(batch)

    def _transaction(self, batch: list[Message], now: datetime, *, isolate: bool) -> None:
        with self._confirmed_lock:
            confirmed, self._confirmed = self._confirmed, []
        try:
            with self.store.transaction():
                if confirmed:
                    self.store.mark_outgoing_sent(confirmed, now.isoformat())
                for msg in batch:
                    self._handle(msg, now, isolate)
                self._flush_blobs()  # the batch's photos are on disk before its commit
        except BaseException:
            self.blobs.discard()
            with self._confirmed_lock:
                self._confirmed[:0] = confirmed
            raise

    def _flush_blobs(self) -> None:
        try:
            self.blobs.flush()
        except OSError as exc:
            if _is_disk_error(exc):
                raise _disk_failed(exc) from exc
            raise

    # one message ----------------------------------------------------------------------
    def _handle(self, msg: Message, now: datetime, isolate: bool = True) -> None:
        prepared: Prepared | None = getattr(msg, "prepared", None)
        if prepared is not None:  # prepared by the link (`hub.intake`)
            station = prepared.station
            work = functools.partial(
                self._submit if isinstance(prepared, PreparedSubmit) else self._blob,
                prepared, msg, now)
        else:
            try:
                topic = self.topics.parse(msg.topic)
            except TopicError as exc:
                self._reject(msg, None, None, [("topic", str(exc))], now)
                return
            station = topic.station
            work = functools.partial(self._dispatch, topic, msg, now)
        try:
            if isolate:
                with self.store.savepoint():
                    work()
            else:
                work()
        except StorageError:
            raise
        except Exception as exc:
            if _is_disk_error(exc):
                raise _disk_failed(exc) from exc
            if not isolate:
                raise _Isolate() from exc  # its writes are not separable: redo the batch
            logger.exception("could not handle a message on %s", msg.topic)
            self._reject(msg, station, None, [("payload", f"hub error: {exc}")], now)

    def _dispatch(self, topic: Topic, msg: Message, now: datetime) -> None:
        if topic.kind == Kind.BLOB:
            self._blob(self.service.preparer.blob(topic.station, topic.sha256,
                                                  bytes(msg.payload)), msg, now)
        elif topic.kind == Kind.SUBMIT:
            self._submit(self.service.preparer.from_payload(topic.station, bytes(msg.payload)),
                         msg, now)
        elif topic.kind == Kind.STATION_STATUS:
            env = m.decode(Kind.STATION_STATUS, msg.payload)
            data: m.StationStatus = env.data
            self.store.upsert_station(topic.station, data.state, data.software,
                                      data.config_version, data.outbox_pending, now.isoformat())
            # A retained copy (delivered on subscribe) is old news, not a heartbeat.
            skew = (now - env.ts).total_seconds() if env.ts.tzinfo else None
            fleet_db.record_status(self.store, topic.station, data.state, now.isoformat(),
                                   skew, heartbeat=not msg.retain,
                                   disk_free_mb=data.disk_free_mb)
        elif topic.kind == Kind.DEVICE_STATE:
            env = m.decode(Kind.DEVICE_STATE, msg.payload)
            d: m.DeviceState = env.data
            self.store.upsert_device_state(topic.station, topic.device, d.state, d.code,
                                           d.message, now.isoformat())
        elif topic.kind == Kind.REQUEST:
            self._request(topic, msg, now)
        elif topic.kind == Kind.CONFIG_STATE:
            r: m.ConfigReported = m.decode(Kind.CONFIG_STATE, msg.payload).data
            fleet_db.record_config_report(self.store, topic.station, r.version, r.state,
                                          r.errors, now.isoformat())
        else:
            self._reject(msg, topic.station, None, [("topic", "not a topic stations send")],
                         now)

    def _blob(self, p: PreparedBlob, msg: Message, now: datetime) -> None:
        if p.reason is not None:
            self._reject(msg, p.station, None, [("blob", p.reason)], now, sha256=p.sha256)
            return
        if p.staged is not None:
            self.blobs.adopt(p.sha256, Path(p.staged))
        elif not p.stored:  # not written aside: the bytes came along
            self.blobs.stage(p.sha256, bytes(msg.payload))
        self.store.insert_blob(p.sha256, p.size, p.mime, p.station, now.isoformat())

    def _submit(self, p: PreparedSubmit, msg: Message, now: datetime) -> None:
        if p.unreadable:
            self._reject(msg, p.station, p.application_id, p.unreadable, now)
            if p.application_id:
                ack = m.ApplicationAck(application_id=p.application_id,
                                       result=m.AckResult.INVALID, errors=p.field_errors())
                self.service.queue_ack(p.station, ack, now)
            return
        ack = self.service.receive_prepared(p, now)
        if ack.result == m.AckResult.STORED:
            self.stats.stored += 1
        elif ack.result == m.AckResult.INVALID:
            self._reject(msg, p.station, p.application_id,
                         [(e.field, e.reason) for e in ack.errors], now)

    def _request(self, topic: Topic, msg: Message, now: datetime) -> None:
        try:
            env = m.decode(Kind.REQUEST, msg.payload)
        except m.MessageError as exc:
            self._reject(msg, topic.station, exc.message_id,
                         [(e.field, e.reason) for e in exc.errors], now)
            return
        params = env.data.params
        handlers = {
            "sync": lambda: self.service.sync(
                topic.station, [str(i) for i in params.get("application_ids", [])][:1000], now),
            "progress": lambda: self.service.progress(topic.station, params),
            "supplement": lambda: self.service.supplement(topic.station, params, now),
            "deliver": lambda: self.service.deliver(topic.station, params, now),
        }
        handler = handlers.get(topic.action)
        if handler is None:
            response = m.Response(request_id=env.id, status="error",
                                  error=f"unknown request {topic.action!r}")
        else:
            try:
                # A refused request undoes only its own writes.
                with self.store.savepoint():
                    data = handler()
                response = m.Response(request_id=env.id, status="ok", data=data)
            except ActionRefused as exc:
                response = m.Response(request_id=env.id, status="error", error=exc.reason)
        self.store.queue_outgoing(self.topics.response(topic.station, topic.action),
                                  m.encode(response), at=now.isoformat())

    def _reject(self, msg: Message, station: str | None, message_id, reasons, now: datetime,
                sha256: str | None = None) -> None:
        self.stats.rejected += 1
        logger.warning("refused a message on %s: %s", msg.topic,
                       "; ".join(f"{f}: {r}" for f, r in reasons)[:300])
        self.store.insert_rejection(
            at=now.isoformat(), topic=msg.topic[:300], station=station,
            message_id=str(message_id) if message_id else None, sha256=sha256,
            reasons=[{"field": f, "reason": r} for f, r in reasons],
            payload=bytes(msg.payload))

    # the outbox -------------------------------------------------------------------------
    def _publish_outgoing(self) -> None:
        endpoint = self.endpoint
        if endpoint is None or not endpoint.connected.is_set():
            return
        clock = time.monotonic()
        sweep = clock - self._last_sweep > 5.0
        after = 0 if sweep else self._high_water
        if sweep:
            self._last_sweep = clock
        while True:
            rows = self.store.unsent_outgoing(after_id=after, limit=1000)
            if not rows:
                return
            for row in rows:
                after = row["id"]
                sent_at = self._inflight.get(row["id"])
                if sent_at is not None and clock - sent_at < RESEND_AFTER:
                    continue
                ok = endpoint.publish(row["topic"], row["payload"], qos=row["qos"],
                                      retain=bool(row["retain"]),
                                      on_confirm=self._confirmer(row["id"]))
                if not ok:
                    return
                self._inflight[row["id"]] = clock
                self._high_water = max(self._high_water, row["id"])

    def _prune_outgoing(self) -> None:
        """Now and then, delete sent messages older than `SENT_KEPT`: the table would
        otherwise grow by every ack and status the hub ever sent. A chunk per transaction,
        so intake never waits long behind it."""
        clock = time.monotonic()
        if clock - self._last_prune < PRUNE_EVERY:
            return
        self._last_prune = clock
        before = (self._now() - SENT_KEPT).isoformat()
        while not self._stop.is_set():
            with self.store.transaction():
                deleted = self.store.prune_sent_outgoing(before, PRUNE_CHUNK)
            if deleted:
                logger.info("pruned %d sent outgoing messages", deleted)
            if deleted < PRUNE_CHUNK or not self._inbox.empty():
                return

    def _confirmer(self, row_id: int):
        def confirm() -> None:
            with self._confirmed_lock:
                self._confirmed.append(row_id)
            self._inflight.pop(row_id, None)
        return confirm


def _is_disk_error(exc: Exception) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS,
                                                      errno.EIO)


def _disk_failed(exc: OSError) -> StorageError:
    return StorageError("中心数据盘写入失败，请管理员检查磁盘空间", str(exc))
