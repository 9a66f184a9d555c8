"""`cunban bench ingest`: applications per second through the whole intake path.

N simulated stations — each a real MQTT client with its own on-disk outbox
(`kiosk.outbox.Outbox`) — file valid applications at a given rate; the hub validates,
group-commits and acks after the commit; the station deletes the row on the ack. Latency
is measured from the outbox write to the ack arriving at the station.

The baseline runs first with the same stations and payloads, against a bare echo (in a
process of its own, like the hub) instead of the hub: a paho client that receives on the
submit topic and publishes an ack, nothing else. It is the ceiling a Python hub can reach
on the machine.

With photos (`--blobs`), a second baseline runs: the echo that also writes every photo to
a file of its own and makes it durable before the ack (`run_store`). It is the ceiling of
any hub that stores the photos, set by the broker and the disk; `store_ratio` says how
near the hub comes to it, and `cpu.kernel` how much of each process's CPU was the
kernel's (file writes, sockets).

Stations run their outboxes with `synchronous=NORMAL` (WAL, durable across a process
crash): a real kiosk fsyncs its own disk, and here they would share the hub's.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import multiprocessing
import os
import queue
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from cunban.processes import Broker, HubProcess
from hub.bench_stations import cpu_seconds, cpu_split
from kiosk.outbox import Outbox
from protocols import messages as m
from protocols.memory import keep_freed_memory
from protocols.mqtt import BrokerUrl, MqttEndpoint, unique_client_id
from protocols.topics import Kind, Topics

T = Topics()
COUNTY_TOWN = "411381101"  # Dengzhou, Rangdong town: stations 411381101001 …
RESEND_AFTER = 10.0  # seconds before a station publishes an unacked row again
STORE_WRITERS = 2  # threads of the storing baseline writing photo files
STORE_PENDING = 64  # photos received and not yet written that it holds at most


def station_ids(n: int) -> list[str]:
    return [f"{COUNTY_TOWN}{i + 1:03d}" for i in range(n)]


def _template(catalog) -> tuple[dict, dict[str, bytes], list[str], bytes]:
    """Submit fields for `Outbox.file`, the example blobs, the item's material codes, and
    the example envelope itself."""
    from protocols.examples import example_submit

    payload, blobs = example_submit(catalog, "411381101001")
    submit = m.decode(Kind.SUBMIT, payload).data
    fields = {k: getattr(submit, k) for k in type(submit).model_fields
              if k not in ("receipt_number", "filed_at")}
    codes = [ref.code for ref in submit.materials]
    return fields, blobs, codes, payload


class FreshPhotos:
    """JPEG-shaped blobs of `size` bytes (SOI … EOI) that no other application shares, at
    little cost to the stations: one random body per station, and 16 random bytes of its
    own in each photo's tail. The body's hash state is taken once and copied, so a photo's
    sha256 costs the tail only. Drawing and hashing 200 KB per photo took half of the
    simulated stations' CPU, on the cores the hub under test runs on."""

    HEAD, END, UNIQUE = b"\xff\xd8\xff", b"\xff\xd9\x00", 16

    def __init__(self, size: int, rng: random.Random):
        self.rng = rng
        body = rng.randbytes(max(0, size - len(self.HEAD) - self.UNIQUE - len(self.END)))
        self.prefix = self.HEAD + body
        self._hashed = hashlib.sha256(self.prefix)

    def make(self) -> tuple[str, bytes]:
        """(sha256, bytes) of a new photo."""
        tail = self.rng.randbytes(self.UNIQUE) + self.END
        digest = self._hashed.copy()
        digest.update(tail)
        return digest.hexdigest(), self.prefix + tail


class KioskOutbox:
    """The kiosk's own outbox (`kiosk.outbox.Outbox`): pydantic envelopes, receipts table."""

    def __init__(self, root: Path, sid: str):
        self.outbox = Outbox(root, sid)
        self.outbox.db.conn.execute("PRAGMA synchronous=NORMAL")

    def file(self, fields: dict, blobs: list[bytes]) -> tuple[str, bytes]:
        filed = self.outbox.file(fields, blobs)
        return str(filed.application_id), filed.payload

    def acked(self, payload: bytes) -> list[str | None]:
        """The ids a message acked as stored (None for any other ack)."""
        out: list[str | None] = []
        for ack in m.decode(Kind.ACK, payload).data.acks:
            stored = ack.result == m.AckResult.STORED
            if stored:
                self.outbox.on_ack(ack)
            out.append(str(ack.application_id) if stored else None)
        return out

    def pending(self) -> list[tuple[str, bytes, list[bytes]]]:
        out = []
        for item in self.outbox.pending(limit=1000):
            paths = [self.outbox.blob_path(sha) for sha in self.outbox.blobs_of(item.id)]
            out.append((item.id, item.payload, [p.read_bytes() for p in paths if p.exists()]))
        return out

    def left(self) -> int:
        return sum(self.outbox.counts().values())

    def close(self) -> None:
        self.outbox.close()


class LightOutbox:
    """Outbox semantics at a fraction of the kiosk's CPU, so the stations are not what
    limits the run: the row is on disk (SQLite WAL) before the publish and is deleted when
    the `stored` ack arrives; envelopes are built from a validated template."""

    def __init__(self, root: Path, sid: str, template: bytes):
        root.mkdir(parents=True, exist_ok=True)
        self.sid = sid
        self.template = json.loads(template)
        self.counter = 0
        self.blobs: dict[str, list[bytes]] = {}
        self.db = sqlite3.connect(str(root / "outbox.db"), isolation_level=None,
                                  check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("CREATE TABLE outbox (id TEXT PRIMARY KEY, payload BLOB NOT NULL)")
        self._lock = threading.Lock()

    def file(self, fields: dict, blobs: list[bytes]) -> tuple[str, bytes]:
        app_id = str(m.new_application_id())
        with self._lock:
            self.counter += 1
            data = {**self.template["data"], "receipt_number": f"{self.sid}-{self.counter}"}
            if blobs:
                data["materials"] = [ref.model_dump() for ref in fields["materials"]]
            payload = json.dumps({**self.template, "id": app_id, "data": data},
                                 ensure_ascii=False, separators=(",", ":")).encode()
            self.db.execute("INSERT INTO outbox VALUES (?, ?)", (app_id, payload))
            if blobs:
                self.blobs[app_id] = blobs
        return app_id, payload

    def acked(self, payload: bytes) -> list[str | None]:
        """The ids a message acked as stored (None for any other ack)."""
        ids = [ack["application_id"] if ack["result"] == "stored" else None
               for ack in json.loads(payload)["data"]["acks"]]
        with self._lock:
            self.db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids if i])
            for i in ids:
                self.blobs.pop(i, None)
        return ids

    def pending(self) -> list[tuple[str, bytes, list[bytes]]]:
        with self._lock:
            rows = self.db.execute("SELECT id, payload FROM outbox LIMIT 1000").fetchall()
            return [(r[0], r[1], self.blobs.get(r[0], [])) for r in rows]

    def left(self) -> int:
        with self._lock:
            return self.db.execute("SELECT count(*) FROM outbox").fetchone()[0]

    def close(self) -> None:
        self.db.close()


class Station:
    """A simulated station: outbox on disk, publishes submits, deletes rows on `stored`."""

    def __init__(self, sid: str, url: str, workdir: Path, fields: dict,
                 shared: dict[str, bytes], codes: list[str], *, blobs: int, blob_size: int,
                 window: int, light: bool, template: bytes):
        self.sid = sid
        self.outbox = (LightOutbox(workdir / sid, sid, template) if light
                       else KioskOutbox(workdir / sid, sid))
        self.fields, self.shared, self.codes = fields, shared, codes
        self.blobs, self.blob_size, self.window = blobs, blob_size, window
        self.rng = random.Random(sid)
        self.photos = FreshPhotos(blob_size, self.rng) if blobs else None
        self.filed: dict[str, float] = {}  # application id → perf_counter at outbox write
        self.sent_at: dict[str, float] = {}
        self.acked: dict[str, float] = {}
        self.latencies: list[float] = []
        self.other_acks = 0
        self.published = self.broker_has = 0  # publishes, and those the broker PUBACKed
        self._acks: queue.Queue[bytes | None] = queue.Queue()
        self._room = threading.Semaphore(window)
        self._lock = threading.Lock()
        self.endpoint = MqttEndpoint(
            url, unique_client_id(f"bench-{sid}"),
            subscriptions=[(T.station(Kind.ACK, sid), 1)],
            on_message=lambda msg: self._acks.put(bytes(msg.payload)))
        self._worker = threading.Thread(target=self._ack_loop, daemon=True)

    def start(self) -> Station:
        self._worker.start()
        self.endpoint.start()
        if not self.endpoint.wait_connected(10):
            raise RuntimeError(f"station {self.sid} could not connect")
        for sha, data in self.shared.items():
            self._publish(T.blob(self.sid, sha), data)
        return self

    def stop(self) -> None:
        self._acks.put(None)
        self._worker.join(10)
        self.endpoint.stop()
        self.outbox.close()

    def _publish(self, topic: str, payload: bytes) -> None:
        with self._lock:
            self.published += 1
        while not self.endpoint.publish(topic, payload, on_confirm=self._confirmed):
            time.sleep(0.01)

    def _confirmed(self) -> None:
        with self._lock:
            self.broker_has += 1

    # filing -----------------------------------------------------------------------------
    def file_one(self) -> None:
        self._room.acquire()
        photos = [self.photos.make() for _ in range(self.blobs)] if self.photos else []
        fields = self.fields
        if photos:
            refs = [m.MaterialRef(code=self.codes[i % len(self.codes)], sha256=sha,
                                  mime="image/jpeg")
                    for i, (sha, _) in enumerate(photos)]
            # materials the photos do not cover keep the example's (uploaded once)
            refs += list(fields["materials"])[len(refs):]
            fields = {**fields, "materials": refs}
        app_id, payload = self.outbox.file(fields, [d for _, d in photos])
        now = time.monotonic()
        with self._lock:
            self.filed[app_id] = now
            self.sent_at[app_id] = now
        for sha, d in photos:
            self._publish(T.blob(self.sid, sha), d)
        self._publish(T.station(Kind.SUBMIT, self.sid), payload)

    def resend_stale(self) -> int:
        """Publish again what waited too long for its ack (the uploader's retry)."""
        now = time.monotonic()
        count = 0
        for app_id, payload, blobs in self.outbox.pending():
            with self._lock:
                if now - self.sent_at.get(app_id, 0.0) < RESEND_AFTER:
                    continue
                self.sent_at[app_id] = now
            for d in blobs:
                self._publish(T.blob(self.sid, hashlib.sha256(d).hexdigest()), d)
            self._publish(T.station(Kind.SUBMIT, self.sid), payload)
            count += 1
        return count

    def _ack_loop(self) -> None:
        while (payload := self._acks.get()) is not None:
            at = time.monotonic()
            for app_id in self.outbox.acked(payload):
                if app_id is None:
                    self.other_acks += 1
                    continue
                with self._lock:
                    if app_id in self.acked or app_id not in self.filed:
                        continue
                    self.acked[app_id] = at
                    self.latencies.append(at - self.filed[app_id])
                self._room.release()


def _machine_ticks() -> tuple[int, int, int]:
    """(all, idle, iowait) CPU ticks of the whole machine since boot."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return sum(ticks), ticks[3], ticks[4]


class CpuMeter:
    """Cores each process (or group of processes) used over a window, the share of that
    spent in the kernel on its behalf (`kernel`), and the machine's idle and iowait
    shares."""

    def __init__(self, pids: dict[str, int | list[int] | None]):
        self.pids = {name: pid if isinstance(pid, list) else [pid]
                     for name, pid in pids.items() if pid}
        self._first = self._read()

    def _read(self) -> tuple[float, dict[str, tuple[float, float]], tuple[int, int, int]]:
        used = {}
        for name, pids in self.pids.items():
            with contextlib.suppress(OSError):
                splits = [cpu_split(pid) for pid in pids]
                used[name] = (sum(u for u, _ in splits), sum(k for _, k in splits))
        return time.monotonic(), used, _machine_ticks()

    def spent(self) -> dict[str, tuple[float, float]]:
        """(user, kernel) CPU seconds of each process still running, since the start."""
        _, c0, _ = self._first
        _, c1, _ = self._read()
        return {name: (c1[name][0] - c0[name][0], c1[name][1] - c0[name][1])
                for name in c1 if name in c0}

    def stop(self) -> dict:
        (w0, c0, m0), (w1, c1, m1) = self._first, self._read()
        out: dict = {}
        kernel = {}
        for name in c1:
            if name not in c0:
                continue
            user, system = (c1[name][i] - c0[name][i] for i in (0, 1))
            out[name] = round((user + system) / (w1 - w0), 2)
            if user + system > 0:
                kernel[name] = round(system / (user + system), 2)
        ticks = (m1[0] - m0[0]) or 1
        out["machine_idle"] = round((m1[1] - m0[1]) / ticks, 3)
        out["machine_iowait"] = round((m1[2] - m0[2]) / ticks, 3)
        out["kernel"] = kernel
        return out


class CpuSampler:
    """The hub's CPU time (its own process and its children's: the MQTT link) sampled
    every 10 ms, to charge a stretch of wall time to it."""

    def __init__(self, pid: int, children: Callable[[], list[int]] = list):
        self.pid = pid
        self.children = children
        self.samples: list[tuple[float, float]] = []
        self._sample()  # one before anything is timed, one at the stop: always bracketed
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        with contextlib.suppress(OSError):
            pids = [self.pid, *self.children()]
            self.samples.append((time.monotonic(), sum(map(cpu_seconds, pids))))

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self._sample()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._sample()

    def between(self, t0: float, t1: float) -> float | None:
        """CPU seconds the process used from about `t0` to about `t1`."""
        before = [cpu for at, cpu in self.samples if at <= t0]
        after = [cpu for at, cpu in self.samples if at >= t1]
        if not before or not after:
            return None
        return after[0] - before[-1]


def per_application(spent: dict[str, tuple[float, float]], acked: int) -> dict:
    """Milliseconds of CPU each process spent per application, from the first filing to
    the last ack, and how many of them in the kernel: {name: [all, kernel]}. Over the
    filing alone, a hub that acks seconds late would be charged for work it had not yet
    been credited with."""
    if not acked:
        return {}
    return {name: [round((user + kernel) * 1000 / acked, 2), round(kernel * 1000 / acked, 2)]
            for name, (user, kernel) in spent.items()}


def run_load(url: str, workdir: Path, catalog, args,
             pids: dict[str, int | None] | None = None) -> dict:
    """File for `args.duration` seconds from stations spread over `args.station_procs`
    processes (one interpreter would be what limits a fast consumer), then wait for the
    last acks. `pids` are the processes whose CPU is measured over the filing."""
    sids = station_ids(args.kiosks)
    procs = max(1, min(args.station_procs, len(sids)))
    spawn = multiprocessing.get_context("spawn")
    go, start_at, out = spawn.Event(), spawn.Value("d", 0.0), spawn.Queue()
    parts = _template(catalog)
    workers = [spawn.Process(target=_load_worker, daemon=True,
                             args=(url, workdir, sids[i::procs], parts, args, go, start_at,
                                   out))
               for i in range(procs)]
    for worker in workers:
        worker.start()
    try:
        for _ in workers:
            kind, detail = out.get(timeout=120)
            if kind != "ready":
                raise RuntimeError(f"a station process failed: {detail}")
        time.sleep(0.5)  # subscriptions and shared blobs settle before the clock starts
        start_at.value = start = time.monotonic() + 0.2
        go.set()
        time.sleep(max(0.0, start - time.monotonic()))
        meter = CpuMeter({**(pids or {}), "stations": [w.pid for w in workers]})
        time.sleep(args.duration)
        cpu = meter.stop()  # over the filing, not the drain
        done = []
        for _ in workers:
            kind, detail = out.get(timeout=args.drain + 120)
            if kind != "done":
                raise RuntimeError(f"a station process failed: {detail}")
            done.append(detail)
        spent = meter.spent()  # through the drain: every application acked by now
    finally:
        for worker in workers:
            worker.join(30)
            if worker.is_alive():
                worker.kill()
    acks = [at for d in done for at in d["acks"]]
    end = max(acks) if acks else time.monotonic()
    cpu["per_app_ms"] = per_application(spent, len(acks))
    return {"sent": sum(d["sent"] for d in done), "acked": len(acks), "seconds": end - start,
            "rate": len(acks) / (end - start) if acks else 0.0,
            "latencies": sorted(x for d in done for x in d["latencies"]),
            "ids": {i for d in done for i in d["ids"]},
            "outbox_left": sum(d["outbox_left"] for d in done),
            "refused": sum(d["refused"] for d in done), "cpu": cpu}


def _load_worker(url: str, workdir: Path, sids: list[str], parts, args, go, start_at,
                 out) -> None:
    """One station process of `run_load`: its stations file from `start_at` on."""
    keep_freed_memory()
    try:
        out.put(("done", _file_from(url, workdir, sids, parts, args, go, start_at, out)))
    except Exception as exc:  # the parent reports it
        out.put(("failed", repr(exc)))


def _file_from(url: str, workdir: Path, sids: list[str], parts, args, go, start_at,
               out) -> dict:
    fields, shared, codes, template = parts
    stations = [Station(sid, url, workdir, fields,
                        shared if args.blobs < len(codes) else {}, codes,
                        blobs=args.blobs, blob_size=args.blob_kb * 1024, window=args.window,
                        light=args.station == "light", template=template)
                .start() for sid in sids]
    out.put(("ready", os.getpid()))
    if not go.wait(120):
        raise RuntimeError("no start signal")
    start = start_at.value
    stop_at = start + args.duration
    time.sleep(max(0.0, start - time.monotonic()))

    def filer(station: Station) -> None:
        per_station = args.rate / args.kiosks if args.rate else 0.0
        n = 0
        while (now := time.monotonic()) < stop_at:
            if per_station:
                due = start + n / per_station
                if due > now:
                    time.sleep(min(due - now, stop_at - now))
                    continue
            station.file_one()
            n += 1

    threads = [threading.Thread(target=filer, args=(s,), daemon=True) for s in stations]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    deadline = time.monotonic() + args.drain
    while time.monotonic() < deadline:
        if all(len(s.acked) >= len(s.filed) for s in stations):
            break
        for s in stations:
            s.resend_stale()
        time.sleep(0.2)
    result = {"sent": sum(len(s.filed) for s in stations),
              "acks": [at for s in stations for at in s.acked.values()],
              "latencies": [x for s in stations for x in s.latencies],
              "ids": {(s.sid, i) for s in stations for i in s.filed},
              "outbox_left": sum(s.outbox.left() for s in stations),
              "refused": sum(s.other_acks for s in stations)}
    for s in stations:
        s.stop()
    return result


def run_backlog(work: Path, catalog, args, batch_size: int,
                profile: Path | None = None) -> dict:
    """Backlog catch-up: the hub is down while the stations file `args.backlog`
    applications (the broker keeps them in the hub's persistent session); then the hub
    starts and the clock runs from its first ack to the last. With `profile`, py-spy
    samples the hub and its link until the last ack."""
    broker = Broker(work / "broker").start()
    data = work / "hub"
    try:
        hub = HubProcess(data, broker.url, extra=["--batch-size", str(batch_size)]).start()
        hub.stop()  # subscribed once: its session stays on the broker and queues for it
        fields, shared, codes, template = _template(catalog)
        per_station = -(-args.backlog // args.kiosks)
        stations = [Station(sid, broker.url, work, fields, shared, codes, blobs=0,
                            blob_size=0, window=per_station + 1,
                            light=args.station == "light", template=template).start()
                    for sid in station_ids(args.kiosks)]
        try:
            for station in stations:
                for _ in range(per_station):
                    station.file_one()
            deadline = time.monotonic() + 120
            while (any(s.broker_has < s.published for s in stations)
                   and time.monotonic() < deadline):
                time.sleep(0.05)
            queued = sum(s.broker_has for s in stations)
            started = time.monotonic()
            hub = HubProcess(data, broker.url, extra=["--batch-size", str(batch_size)])
            hub.start(wait=False)
            sampler = CpuSampler(hub.proc.pid, hub.link_pids)
            spy = _profile(hub.proc.pid, args.drain, profile) if profile else None
            try:
                deadline = time.monotonic() + args.drain
                while (any(len(s.acked) < len(s.filed) for s in stations)
                       and time.monotonic() < deadline):
                    time.sleep(0.05)
                peak = hub.peak_rss()
            finally:
                sampler.stop()
                if spy is not None:  # py-spy writes what it has on SIGINT
                    spy.send_signal(signal.SIGINT)
                    spy.wait(30)
                hub.stop()
            acks = sorted(at for s in stations for at in s.acked.values())
            ids = {(s.sid, i) for s in stations for i in s.filed}
        finally:
            for station in stations:
                station.stop()
    finally:
        broker.stop()
    tally = _tally(data / "hub.db", ids)
    drain = acks[-1] - acks[0] if len(acks) > 1 else None
    cpu = sampler.between(acks[0], acks[-1]) if drain else None
    return {"batch_size": batch_size, "filed": len(ids), "queued_at_broker": queued,
            "acked": len(acks), **tally,
            "rate": round((len(acks) - 1) / drain, 1) if drain else 0.0,
            "hub_rate": _commit_rate(data / "hub.db"),
            "first_ack_s": round(acks[0] - started, 2) if acks else None,
            "drain_s": round(drain, 2) if drain else None,
            # the hub's CPU while it drained: per application, and in cores (≈ 1: bound by
            # its interpreter rather than by the disk's syncs)
            "hub_cpu_ms_per_app": (round(cpu * 1000 / (len(acks) - 1), 3)
                                   if cpu is not None else None),
            "hub_cores": round(cpu / drain, 2) if cpu is not None else None,
            "hub_peak_rss_mb": round(peak / 2**20, 1) if peak else None}


def _commit_rate(db_path: Path) -> float | None:
    """Applications the hub committed per second while catching up, from its own
    `received_at` stamps (one per transaction): those stored before the last transaction
    began, over the time from the first transaction to the last."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        stamps = sorted(datetime.fromisoformat(r[0]) for r in
                        db.execute("SELECT received_at FROM applications"))
    finally:
        db.close()
    if len(stamps) < 2 or stamps[-1] == stamps[0]:
        return None
    before_last = sum(1 for t in stamps if t < stamps[-1])
    return round(before_last / (stamps[-1] - stamps[0]).total_seconds(), 1)


def bench_backlog(args) -> dict:
    """The same backlog drained by a group-committing hub and a one-commit-per-message hub,
    `args.rounds` times, in alternating order. The ratios are of the medians over the
    rounds: a drain of a few thousand takes about a second, and on a shared machine one
    second can be a quarter slower than the next."""
    from hub.catalog import load_catalog

    catalog = load_catalog()
    work = Path(tempfile.mkdtemp(prefix="cunban-bench-"))
    profile = Path(args.profile) if args.profile else None
    groups, singles = [], []
    modes = [("group", args.batch_size, groups), ("single", 1, singles)]
    try:
        for r in range(max(1, args.rounds)):
            for name, batch_size, runs in modes if r % 2 == 0 else modes[::-1]:
                runs.append(run_backlog(work / f"{name}{r}", catalog, args, batch_size,
                                        profile if r == 0 and runs is groups else None))
    finally:
        _remove(work, photos=args.blobs > 0)

    def median(runs: list[dict], key: str) -> float | None:
        values = [run[key] for run in runs if run[key]]
        return statistics.median(values) if values else None

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 2) if a and b else None

    return {"backlog_ratio": ratio(median(groups, "rate"), median(singles, "rate")),
            "backlog_commit_ratio": ratio(median(groups, "hub_rate"),
                                          median(singles, "hub_rate")),
            # what the commit ratio would be if each hub were bound by its own CPU time
            "backlog_cpu_ratio": ratio(median(singles, "hub_cpu_ms_per_app"),
                                       median(groups, "hub_cpu_ms_per_app")),
            "backlog": args.backlog, "kiosks": args.kiosks, "cpus": os.cpu_count(),
            "rounds": [{"group_rate": g["rate"], "single_rate": s["rate"],
                        "ratio": ratio(g["rate"], s["rate"])}
                       for g, s in zip(groups, singles, strict=True)],
            "group": groups[0], "single": singles[0],
            "lost": sum(run["lost"] for run in groups + singles),
            "duplicates": sum(run["duplicates"] for run in groups + singles)}


def run_echo(url: str, stop, ready) -> None:
    """The baseline consumer: bare paho, receive a submit, publish an ack, nothing else.
    Its process keeps freed memory as the hub's do (`protocols.memory`)."""
    keep_freed_memory()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=unique_client_id("bench-echo"),
                         protocol=paho.MQTTv311)  # as the hub's own connection
    client.max_inflight_messages_set(100)

    def on_connect(c, userdata, flags, reason_code, properties):
        c.subscribe([(t, 1) for t in T.hub_subscriptions()[:2]])  # submit and blobs
        ready.set()

    def on_message(c, userdata, msg):
        topic = T.parse(msg.topic)
        if topic.kind != Kind.SUBMIT:
            return
        env = json.loads(msg.payload)
        station = topic.station
        ack = m.ApplicationAck(application_id=env["id"], result=m.AckResult.STORED,
                               case_number="ECHO",
                               receipt_number=env["data"]["receipt_number"])
        c.publish(T.station(Kind.ACK, station), m.encode(m.ApplicationAcks(acks=[ack])), qos=1)

    client.on_connect = on_connect
    client.on_message = on_message
    broker = BrokerUrl.parse(url)
    client.connect(broker.host, broker.port)
    client.loop_start()
    stop.wait()
    client.disconnect()
    client.loop_stop()


def run_store(url: str, root: str, stop, ready) -> None:
    """The baseline with photos: the echo, and every photo written to a file of its own
    (`root/ab/abcdef…`, through a temporary name) and made durable before the ack that
    follows it. It is what any store of the photos must do, and nothing more: no hash
    checked, nothing sealed, no database. A submit is acked once the photos that arrived
    before it are on disk, in groups, as the hub acks after its commit.

    The files are written by `STORE_WRITERS` threads, at most `STORE_PENDING` photos
    waiting for them: one writer, paho's own thread, stored 30–40 % fewer photos a
    second on two cores (it was busy in the kernel 0.95 of the time). They are written
    as the hub's blob store writes them (`FileWriter`: direct I/O where the filesystem
    takes it), so that the baseline is not slowed by a way of writing the hub avoids."""
    keep_freed_memory()
    from concurrent.futures import Future, ThreadPoolExecutor

    from hub.blobs import FileWriter, fsync_path

    base = Path(root)
    for i in range(256):
        (base / f"{i:02x}").mkdir(parents=True, exist_ok=True)
    wake = threading.Condition()
    writers = ThreadPoolExecutor(max_workers=STORE_WRITERS)
    room = threading.Semaphore(STORE_PENDING)
    files: list[tuple[str, str, Future]] = []  # (temporary, final, its write)
    acks: dict[str, list[m.ApplicationAck]] = {}
    numbers = itertools.count(1)
    creator = FileWriter()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=unique_client_id("bench-store"),
                         protocol=paho.MQTTv311)
    client.max_inflight_messages_set(100)

    def on_connect(c, userdata, flags, reason_code, properties):
        c.subscribe([(t, 1) for t in T.hub_subscriptions()[:2]])
        ready.set()

    def on_message(c, userdata, msg):
        topic = T.parse(msg.topic)
        if topic.kind == Kind.BLOB:
            final = base / topic.sha256[:2] / topic.sha256
            tmp = f"{final}.tmp{next(numbers)}"
            room.acquire()
            written = writers.submit(write, tmp, msg.payload)
            with wake:
                files.append((tmp, str(final), written))
            return
        if topic.kind != Kind.SUBMIT:
            return
        env = json.loads(msg.payload)
        ack = m.ApplicationAck(application_id=env["id"], result=m.AckResult.STORED,
                               case_number="STORE",
                               receipt_number=env["data"]["receipt_number"])
        with wake:
            acks.setdefault(topic.station, []).append(ack)
            wake.notify()

    def write(path: str, data: bytes) -> None:
        try:
            creator.create(path, (data,))
        finally:
            room.release()

    def flusher() -> None:
        pool = ThreadPoolExecutor(max_workers=8)  # as the hub's BlobStore
        while True:
            with wake:
                wake.wait_for(lambda: acks or stop.is_set(), timeout=0.5)
                if stop.is_set() and not acks:
                    return
                batch, done = list(files), dict(acks)
                files.clear()
                acks.clear()
            for _, _, written in batch:
                written.result()
            list(pool.map(fsync_path, [tmp for tmp, _, _ in batch]))
            for tmp, final, _ in batch:
                os.replace(tmp, final)
            list(pool.map(fsync_path, {os.path.dirname(final) for _, final, _ in batch}))
            for station, station_acks in done.items():
                for message in m.ack_messages(station_acks):
                    client.publish(T.station(Kind.ACK, station), message, qos=1)

    client.on_connect = on_connect
    client.on_message = on_message
    broker = BrokerUrl.parse(url)
    client.connect(broker.host, broker.port)
    client.loop_start()
    worker = threading.Thread(target=flusher, daemon=True)
    worker.start()
    stop.wait()
    with wake:
        wake.notify()
    worker.join(30)
    client.disconnect()
    client.loop_stop()


def _settle() -> None:
    """Write out what a finished run left dirty, so that the next run does not pay for
    its writeback. Its files stay until the end: creating files just after many were
    deleted is slower on ext4, which passes over the inodes it freed last."""
    os.sync()


DELETED_MARK = "cunban-bench-deleted"  # in the temporary folder: when photos were last deleted
RECENTCY = 65.0  # seconds ext4 without a journal passes over a freed inode, and a margin


def _remove(work: Path, *, photos: bool = False) -> None:
    """Delete a benchmark's files (with photos, gigabytes) and write the deletion out.

    On ext4 without a journal, a new file does not take an inode freed in the last minute,
    or in the last five while the inode's table block is still unwritten; finding a free
    one reads past each of them. A photo run started just after another deleted its files
    spent up to half its link's CPU in that search (perf: `find_inode_bit`,
    `recently_deleted`). Writing the deletion out keeps that to a minute; the time is left
    in the temporary folder for the next photo run to wait out (`_wait_for_deletions`)."""
    shutil.rmtree(work, ignore_errors=True)
    os.sync()
    if photos:
        with contextlib.suppress(OSError):
            (Path(tempfile.gettempdir()) / DELETED_MARK).write_text(f"{time.time():.3f}")


def _wait_for_deletions() -> float:
    """Sleep until the last photo run's deletion is `RECENTCY` seconds old; the seconds
    slept."""
    try:
        deleted = float((Path(tempfile.gettempdir()) / DELETED_MARK).read_text())
    except (OSError, ValueError):
        return 0.0
    wait = min(RECENTCY, deleted + RECENTCY - time.time())
    if wait <= 0:
        return 0.0
    print(f"waiting {wait:.0f} s: the last photo run deleted its files {RECENTCY - wait:.0f} s "
          "ago, and new files would be slow to create until then", file=sys.stderr)
    time.sleep(wait)
    return wait


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 1)


def _tally(db_path: Path, ids: set[tuple[str, str]]) -> dict:
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT id, station, receipt_number FROM applications").fetchall()
    finally:
        db.close()
    stored_ids = {(r[1], r[0]) for r in rows}
    receipts = [(r[1], r[2]) for r in rows]
    return {"stored": len(ids & stored_ids), "lost": len(ids - stored_ids),
            "duplicates": len(receipts) - len(set(receipts))}


def _db_size(data: Path) -> int:
    return sum(p.stat().st_size for p in data.glob("hub.db*"))


def _profile(pid: int, seconds: float, out: Path) -> subprocess.Popen | None:
    """Sample the hub and its link process with py-spy (collapsed stacks, each rooted at
    its process) while the load runs, if installed."""
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        return None
    return subprocess.Popen([str(spy), "record", "--pid", str(pid), "--duration",
                             str(max(1, int(seconds))), "--format", "raw", "--nonblocking",
                             "--subprocesses", "-o", str(out)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _baseline(name: str, consumer: Callable, extra: tuple, url: str, load_dir: Path, catalog,
              args, broker_pid: int | None) -> dict:
    """`run_load` against a baseline consumer (`run_echo`, `run_store`) in a process of its
    own, as the hub is: sharing the stations' interpreter would make it a lower ceiling
    than the machine allows."""
    spawn = multiprocessing.get_context("spawn")
    stop, ready = spawn.Event(), spawn.Event()
    proc = spawn.Process(target=consumer, args=(url, *extra, stop, ready), daemon=True)
    proc.start()
    ready.wait(10)
    time.sleep(0.3)
    try:
        return run_load(url, load_dir, catalog, args, {name: proc.pid, "broker": broker_pid})
    finally:
        stop.set()
        proc.join(30)
        _settle()


def _figures(prefix: str, run: dict, consumer: str) -> dict:
    """A baseline's throughput, p99, CPU and CPU per application, under `prefix`."""
    return {f"{prefix}_throughput": round(run["rate"], 1),
            f"{prefix}_p99_ms": _percentile(run["latencies"], 0.99),
            f"{prefix}_cpu": run["cpu"],
            f"{prefix}_cpu_ms_per_app": _consumer_ms(run["cpu"], (consumer,))}


def _consumer_ms(cpu: dict, names: tuple[str, ...]) -> list[float] | None:
    """[all, kernel] milliseconds of CPU per application of the consumer's processes."""
    parts = [cpu["per_app_ms"][name] for name in names if name in cpu.get("per_app_ms", {})]
    if not parts:
        return None
    return [round(sum(p[0] for p in parts), 2), round(sum(p[1] for p in parts), 2)]


def _over(rate: float, baseline: float | None) -> float | None:
    return round(rate / baseline, 3) if baseline else None


def bench_ingest(args) -> dict:
    from hub.catalog import load_catalog

    catalog = load_catalog()
    waited = _wait_for_deletions() if args.blobs else 0.0
    work = Path(tempfile.mkdtemp(prefix="cunban-bench-"))
    broker = None
    url = args.mqtt
    if url is None:
        broker = Broker(work / "broker").start()
        url = broker.url
    result: dict = {"station": args.station, "kiosks": args.kiosks, "rate": args.rate,
                    "duration": args.duration,
                    "blobs": args.blobs, "blob_kb": args.blob_kb if args.blobs else 0,
                    "cpus": os.cpu_count(), "waited_s": round(waited, 1)}
    try:
        if not args.no_baseline and args.hub_db is None:
            pid = broker and broker.proc.pid
            result.update(_figures("baseline", _baseline(
                "echo", run_echo, (), url, work / "baseline", catalog, args, pid), "echo"))
            if args.blobs:
                result.update(_figures("store", _baseline(
                    "store", run_store, (str(work / "store"),), url, work / "store-load",
                    catalog, args, pid), "store"))
        hub = None
        db_path = Path(args.hub_db) if args.hub_db else work / "hub" / "hub.db"
        if args.hub_db is None:
            hub = HubProcess(work / "hub", url,
                             extra=["--batch-size", str(args.batch_size)]).start()
        spy = None
        if args.profile and hub is not None:
            spy = _profile(hub.proc.pid, args.duration, Path(args.profile))
        try:
            measured = run_load(url, work / "load", catalog, args,
                                {"hub": hub and hub.hub_pid(),
                                 "hub_link": hub and hub.link_pids(),
                                 "broker": broker and broker.proc.pid})
            peak = hub.peak_rss() if hub else None
        finally:
            if spy is not None:
                spy.wait(args.duration + 30)
            if hub is not None:
                hub.stop()
        tally = _tally(db_path, measured["ids"])
        if spy is not None and Path(args.profile).exists():
            from hub.bench_profile import summarize

            result["profile"] = summarize(args.profile)
        lat = measured["latencies"]
        result.update({
            "throughput": round(measured["rate"], 1),
            "ratio": _over(measured["rate"], result.get("baseline_throughput")),
            "store_ratio": _over(measured["rate"], result.get("store_throughput")),
            "p50_ms": _percentile(lat, 0.50), "p95_ms": _percentile(lat, 0.95),
            "p99_ms": _percentile(lat, 0.99),
            "mean_ms": round(statistics.fmean(lat) * 1000, 1) if lat else None,
            "sent": measured["sent"], "acked": measured["acked"], **tally,
            "outbox_left": measured["outbox_left"], "refused": measured["refused"],
            "cpu": measured["cpu"],
            "cpu_ms_per_app": _consumer_ms(measured["cpu"], ("hub", "hub_link")),
            "hub_peak_rss_mb": round(peak / 2**20, 1) if peak else None,
            "db_bytes": _db_size(db_path.parent),
        })
        keys = ["throughput", "baseline_throughput", "ratio"]
        if args.blobs and result.get("store_throughput"):
            keys += ["store_throughput", "store_ratio"]
        return {**{k: result.get(k) for k in keys}, **result}
    finally:
        if broker is not None:
            broker.stop()
        _remove(work, photos=args.blobs > 0)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure the system under load")
    bsub = p.add_subparsers(dest="bench", required=True)
    q = bsub.add_parser("ingest", help="applications per second, station outbox → hub → ack")
    q.add_argument("--kiosks", type=int, default=4, help="simulated stations")
    q.add_argument("--rate", type=float, default=0.0,
                   help="applications per second over all stations (0: as fast as acked)")
    q.add_argument("--duration", type=float, default=10.0, help="seconds of filing")
    q.add_argument("--blobs", type=int, default=0,
                   help="fresh photos per application (0: the example's, uploaded once)")
    q.add_argument("--blob-kb", type=int, default=200, help="size of each fresh photo")
    q.add_argument("--station", choices=["light", "kiosk"], default="light",
                   help="station outbox: a lean SQLite one, or the kiosk's own Outbox")
    q.add_argument("--station-procs", type=int, default=os.cpu_count() or 2,
                   help="processes the simulated stations are spread over")
    q.add_argument("--window", type=int, default=200,
                   help="unacked applications a station keeps in flight")
    q.add_argument("--drain", type=float, default=60.0,
                   help="seconds to wait for the last acks after filing stops")
    q.add_argument("--batch-size", type=int, default=500, help="the hub's group commit size")
    q.add_argument("--mqtt", help="use this broker instead of starting one")
    q.add_argument("--hub-db", help="a running hub's database: no hub is started")
    q.add_argument("--no-baseline", action="store_true", help="skip the echo baseline")
    q.add_argument("--profile", help="write the hub's py-spy samples (collapsed) here, and "
                   "say in the result where its threads were (with --backlog: the samples "
                   "of the group-committing hub's drain only)")
    q.add_argument("--backlog", type=int, default=0,
                   help="instead of a load: file this many while the hub is down, then time "
                        "its catch-up with group commit and with one commit per message")
    q.add_argument("--rounds", type=int, default=1,
                   help="with --backlog: drain it this many times with each hub, alternately; "
                        "the ratios are of the medians")
    q.add_argument("--json", action="store_true", help="print one JSON line only")
    q.set_defaults(func=_cmd_ingest)
    from hub.bench_stations import register as register_stations

    register_stations(bsub)


def _cmd_ingest(args) -> int:
    result = bench_backlog(args) if args.backlog else bench_ingest(args)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for key, value in result.items():
            print(f"{key:>20}: {value}")
    return 0 if result.get("lost") == 0 and result.get("duplicates") == 0 else 1
