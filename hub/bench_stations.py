"""`cunban bench stations`: what a fleet of connected stations costs the hub and the broker.

For each fleet size a fresh Mosquitto and a fresh hub are started; N stations connect as
real MQTT clients — their own client id, the kiosk's Last Will (`offline`, retained), the
`online` status on connect, the kiosk's subscriptions (so each receives the retained
catalogue, as a kiosk does) — and then publish the kiosk's heartbeat (the retained station
status) every `interval` seconds, spread evenly over the interval. The stations are
registered in the hub's fleet registry first, so its availability monitor walks them.

Measured over the steady window (after every station has connected): the hub's CPU
seconds (utime + stime of its process, all threads) divided by the wall time — the cores
it uses —, its resident set and peak (VmHWM), the same for the broker, heartbeats sent,
and heartbeats the hub recorded (each change of a station's `heartbeat_at` in the hub's
database, polled read-only).

The baseline runs first with the same stations and the same load against a fresh broker
with no hub: a bare paho client subscribes to what the hub subscribes to, publishes the
same retained catalogue snapshot and counts the heartbeats. It separates the broker's cost
of the fleet from the hub's.

Thousands of paho clients with a thread each would measure the simulator, not the hub: a
few worker processes each drive some hundreds to thousands of clients from one selector
loop with paho's non-threaded API (`loop_read`, `loop_write`, `loop_misc`).
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import json
import math
import multiprocessing as mp
import os
import resource
import selectors
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from cunban.processes import Broker, HubProcess
from protocols import messages as m
from protocols.mqtt import BrokerUrl, unique_client_id
from protocols.topics import Kind, Topics

T = Topics()
SOFTWARE = "cunban-kiosk 0.1.0"  # what the kiosk's heartbeat says (kiosk.uploader.SOFTWARE)
KEEPALIVE = 30  # the kiosk's MQTT keep-alive (protocols.mqtt.MqttEndpoint default)
CONNECT_BATCH = 50  # TCP connects issued before the loop reads CONNACKs again
CONNECT_TIMEOUT = 120.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


def station_ids(n: int) -> list[str]:
    """Village codes of one county: 200 villages in each of up to 50 towns (411381101 …)."""
    if n > 50 * 200:
        raise ValueError("at most 10,000 stations")
    return [f"411381{101 + i // 200:03d}{i % 200 + 1:03d}" for i in range(n)]


def raise_fd_limit(need: int) -> tuple[int, int]:
    """Raise the soft limit on open files towards `need` (up to the hard limit): the broker
    started from here inherits it and holds one socket per station."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = need if hard == resource.RLIM_INFINITY else min(need, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        soft = want
    return soft, hard


# /proc figures ------------------------------------------------------------------------------
def cpu_split(pid: int) -> tuple[float, float]:
    """(utime, stime) of a process (all its threads), in seconds: in its own code, and in
    the kernel on its behalf (system calls: sockets, file writes, fsync)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    return sum(cpu_split(pid))


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in KiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def machine() -> dict:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = 0
    with contextlib.suppress(OSError, ValueError):
        mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024
    return {"cpus": os.cpu_count(), "cpu_model": model, "memory_mb": mem}


# the stations ---------------------------------------------------------------------------------
def heartbeat_payload() -> bytes:
    """The kiosk's heartbeat (kiosk.bootstrap: status()), a fresh envelope each time."""
    return m.encode(m.StationStatus(state=m.Availability.ONLINE, software=SOFTWARE,
                                    config_version=None, outbox_pending=0, disk_free_mb=51200))


@dataclass
class _Station:
    sid: str
    client: paho.Client
    offset: float  # seconds into each interval at which this station beats
    connected: bool = False


def _station_worker(url: str, sids: list[str], offsets: list[float], interval: float,
                    conn) -> None:
    """Drive `sids` from one selector loop until told to stop; report over `conn`.

    Messages in: ("go", t0, duration) starts the heartbeats at wall time t0; ("stop",)
    disconnects. Out: ("connected", n, first_connect, last_connack, failures), then
    ("done", sent, acked, received, dropped).
    """
    broker = BrokerUrl.parse(url)
    sel = selectors.DefaultSelector()
    sel.register(conn.fileno(), selectors.EVENT_READ, None)
    counts = {"connected": 0, "acked": 0, "received": 0, "failures": 0, "dropped": 0}
    stations: list[_Station] = []
    last_connack = 0.0

    def on_connect(client, st, flags, reason_code, properties):
        nonlocal last_connack
        if reason_code.is_failure:
            counts["failures"] += 1
            return
        client.subscribe([(t, 1) for t in T.station_subscriptions(st.sid)])
        client.publish(T.station(Kind.STATION_STATUS, st.sid),
                       m.encode(m.StationStatus(state=m.Availability.ONLINE, software=SOFTWARE)),
                       qos=1, retain=True)
        if not st.connected:
            st.connected = True
            counts["connected"] += 1
            last_connack = time.time()

    def on_publish(client, st, mid, reason_code, properties):
        counts["acked"] += 1

    def on_message(client, st, msg):
        counts["received"] += 1

    def service(timeout: float) -> list:
        """One pass of the loop: read what arrived, flush what is waiting; return any
        commands from the parent."""
        commands = []
        for key, _ in sel.select(timeout):
            if key.data is None:
                commands.append(conn.recv())
                continue
            if key.data.client.loop_read() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                sel.unregister(key.fileobj)  # the broker closed it: counted as dropped
                counts["dropped"] += 1
        for st in stations:
            if st.client.want_write():
                st.client.loop_write()
        return commands

    first_connect = time.time()
    offline = m.encode(m.StationStatus(state=m.Availability.OFFLINE, software=SOFTWARE))
    for i, (sid, offset) in enumerate(zip(sids, offsets, strict=True)):
        client = paho.Client(CallbackAPIVersion.VERSION2,
                             client_id=unique_client_id(f"kiosk-{sid}"), protocol=paho.MQTTv5)
        st = _Station(sid, client, offset)
        client.user_data_set(st)
        client.will_set(T.station(Kind.STATION_STATUS, sid), offline, qos=1, retain=True)
        client.on_connect, client.on_publish, client.on_message = on_connect, on_publish, on_message
        try:
            client.connect(broker.host, broker.port, keepalive=KEEPALIVE)
        except OSError:
            counts["failures"] += 1
            continue
        stations.append(st)
        sel.register(client.socket(), selectors.EVENT_READ, st)
        if i % CONNECT_BATCH == CONNECT_BATCH - 1:
            service(0)
    deadline = time.monotonic() + CONNECT_TIMEOUT
    while (counts["connected"] + counts["failures"] < len(sids)
           and time.monotonic() < deadline):
        service(0.05)
    conn.send(("connected", counts["connected"], first_connect, last_connack,
               len(sids) - counts["connected"]))

    sent = 0
    schedule: list[tuple[float, int]] = []
    stop_at = None
    last_misc = 0.0
    while True:
        now = time.time()
        timeout = 0.2
        if schedule:
            timeout = max(0.0, min(timeout, schedule[0][0] - now))
        for cmd in service(timeout):
            if cmd[0] == "go":
                t0, duration = cmd[1], cmd[2]
                stop_at = t0 + duration
                beats = max(1, int(duration // interval))
                schedule = [(t0 + st.offset + k * interval, i)
                            for i, st in enumerate(stations) for k in range(beats)]
                heapq.heapify(schedule)
            elif cmd[0] == "stop":
                for st in stations:
                    with contextlib.suppress(Exception):
                        st.client.disconnect()
                conn.close()
                return
        now = time.time()
        while schedule and schedule[0][0] <= now:
            _, i = heapq.heappop(schedule)
            st = stations[i]
            info = st.client.publish(T.station(Kind.STATION_STATUS, st.sid),
                                     heartbeat_payload(), qos=1, retain=True)
            if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                sent += 1
        if now - last_misc >= 1.0:  # keep-alive pings
            last_misc = now
            for st in stations:
                st.client.loop_misc()
        if stop_at is not None and not schedule and now >= stop_at:
            # the last PUBACKs: give them a moment, then report
            settle = time.monotonic() + 5
            while counts["acked"] < sent + counts["connected"] and time.monotonic() < settle:
                service(0.05)
            conn.send(("done", sent, counts["acked"] - counts["connected"],
                       counts["received"], counts["dropped"]))
            stop_at = None


class Fleet:
    """N stations spread over a few worker processes."""

    def __init__(self, url: str, n: int, interval: float, workers: int):
        self.sids = station_ids(n)
        self.interval = interval
        ctx = mp.get_context("spawn")
        self.procs = []
        self.conns = []
        # Offsets spread the beats evenly over the interval, across all workers.
        offsets = [interval * i / n for i in range(n)]
        for w in range(workers):
            parent, child = ctx.Pipe()
            p = ctx.Process(target=_station_worker, daemon=True,
                            args=(url, self.sids[w::workers], offsets[w::workers], interval,
                                  child))
            p.start()
            child.close()
            self.procs.append(p)
            self.conns.append(parent)

    def wait_connected(self) -> dict:
        replies = [c.recv() for c in self.conns]
        return {"connected": sum(r[1] for r in replies),
                "connect_s": round(max(r[3] for r in replies) - min(r[2] for r in replies), 2),
                "connect_failures": sum(r[4] for r in replies)}

    def go(self, t0: float, duration: float) -> None:
        for c in self.conns:
            c.send(("go", t0, duration))

    def wait_done(self, timeout: float) -> dict:
        out = {"sent": 0, "puback": 0, "received": 0, "dropped": 0}
        for c in self.conns:
            if not c.poll(timeout):
                raise TimeoutError("a station worker did not finish")
            for key, value in zip(out, c.recv()[1:], strict=True):
                out[key] += value
        return out

    def stop(self) -> None:
        for c in self.conns:
            with contextlib.suppress(OSError):
                c.send(("stop",))
        for p in self.procs:
            p.join(10)
            if p.is_alive():
                p.kill()
                p.join(5)


# the consumers ------------------------------------------------------------------------------
class BareConsumer:
    """The baseline: a paho client on the hub's subscriptions that counts heartbeats and
    publishes the hub's retained catalogue snapshot, nothing else."""

    def __init__(self, url: str, catalog_snapshot: bytes):
        self.heartbeats = 0  # live station statuses: the `online` on connect, then beats
        self.ready = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2,
                                  client_id=unique_client_id("bench-bare"),
                                  protocol=paho.MQTTv5)

        def on_connect(c, userdata, flags, reason_code, properties):
            c.subscribe([(t, 1) for t in T.hub_subscriptions()])
            c.publish(T.catalog(), catalog_snapshot, qos=1, retain=True)
            self.ready.set()

        def on_message(c, userdata, msg):
            if not msg.retain and msg.topic.endswith("/status"):
                self.heartbeats += 1

        self.client.on_connect = on_connect
        self.client.on_message = on_message
        broker = BrokerUrl.parse(url)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        if not self.ready.wait(10):
            raise RuntimeError("the baseline consumer could not connect")

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class HeartbeatTally:
    """Heartbeats the hub recorded: each change of a station's `heartbeat_at` in its
    database, polled read-only from another thread (WAL readers do not block the hub).
    With each the hub's `clock_skew_s` (its time of recording minus the heartbeat's
    envelope time; one clock here) is the heartbeat's delay, station → broker → hub."""

    def __init__(self, db_path: Path, poll: float):
        self.db_path = db_path
        self.poll = poll
        self.seen: dict[str, str] = {}
        self.recorded = 0
        self.delays: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._db = None

    def _read(self) -> list[tuple[str, str, float | None]]:
        if self._db is None:
            self._db = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True,
                                       check_same_thread=False)
        return self._db.execute("SELECT sid, heartbeat_at, clock_skew_s FROM stations"
                                " WHERE heartbeat_at IS NOT NULL").fetchall()

    def start(self) -> HeartbeatTally:
        """From now on every change counts."""
        self.seen = {sid: at for sid, at, _ in self._read()}
        self._thread.start()
        return self

    def _count(self) -> None:
        for sid, at, delay in self._read():
            if self.seen.get(sid) != at:
                self.seen[sid] = at
                self.recorded += 1
                if delay is not None:
                    self.delays.append(delay)

    def _run(self) -> None:
        while not self._stop.wait(self.poll):
            self._count()

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(10)
        self._count()
        self._db.close()
        return self.recorded


def register_stations(data: Path, sids: list[str]) -> None:
    """Register the stations in a fresh hub data directory, as `cunban fleet add-station`
    does for each (broker account, one-time enrolment token)."""
    from hub.db import migrate
    from hub.db.fleet import FleetStore
    from hub.fleet.registry import Registry

    data.mkdir(parents=True, exist_ok=True)
    migrate(data / "hub.db")
    store = FleetStore(data / "hub.db")
    try:
        registry = Registry(store)
        for sid in sids:
            registry.add_station(sid)
    finally:
        store.close()


def _catalog_snapshot(work: Path) -> bytes:
    from hub.catalog import load_catalog
    from hub.fleet.configs import catalog_payload

    return catalog_payload(load_catalog(), work)


# one probe ----------------------------------------------------------------------------------
def _window(pids: dict[str, int], fleet: Fleet, duration: float,
            interval: float) -> tuple[dict, dict, float]:
    """Start the heartbeats, return (cpu seconds per process over the window, worker
    tallies, wall seconds)."""
    t0 = time.time() + 0.5
    fleet.go(t0, duration)
    time.sleep(max(0.0, t0 - time.time()))
    cpu0 = {k: cpu_seconds(p) for k, p in pids.items()}
    w0 = time.perf_counter()
    time.sleep(duration)
    cpu1 = {k: cpu_seconds(p) for k, p in pids.items()}
    wall = time.perf_counter() - w0
    done = fleet.wait_done(interval + 30)
    return {k: cpu1[k] - cpu0[k] for k in pids}, done, wall


def _mb(kb: int) -> float:
    return round(kb / 1024, 1)


def probe(n: int, mode: str, args, work: Path, snapshot: bytes) -> dict:
    """One fleet size against a fresh broker, with the hub (`hub`) or without (`bare`)."""
    run = work / f"{mode}-{n}"
    broker = Broker(run / "broker")
    if args.broker_save_on_changes:
        _save_on_changes(broker.conf, args.broker_save_on_changes)
    broker.start()
    hub = bare = tally = spy = None
    fleet = None
    out: dict = {}
    try:
        pids = {"broker": broker.proc.pid}
        if mode == "hub":
            if not args.no_register:
                register_stations(run / "hub", station_ids(n))
            hub = HubProcess(run / "hub", broker.url).start()
            pids["hub"] = hub.proc.pid
            time.sleep(1.0)  # start-up settles before the idle figure
            c0, w0 = cpu_seconds(hub.proc.pid), time.perf_counter()
            time.sleep(args.idle)
            out["hub_idle_cores"] = round((cpu_seconds(hub.proc.pid) - c0)
                                          / (time.perf_counter() - w0), 4)
            out["hub_rss_before_mb"] = _mb(memory_kb(hub.proc.pid)["VmRSS"])
        else:
            bare = BareConsumer(broker.url, snapshot)
        before = {k: cpu_seconds(p) for k, p in pids.items()}
        fleet = Fleet(broker.url, n, args.interval_s, args.workers or _workers(n))
        out.update(fleet.wait_connected())
        # the `online` of every station reaches the hub (or the bare consumer) first
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (
                _recorded_stations(run / "hub") if hub else bare.heartbeats) < n:
            time.sleep(0.2)
        connect_cpu = {k: cpu_seconds(p) - before[k] for k, p in pids.items()}
        if mode == "hub":
            tally = HeartbeatTally(run / "hub" / "hub.db",
                                   poll=min(1.0, args.interval_s / 4)).start()
            if args.profile:
                spy = _profile(hub.proc.pid, args.duration, Path(args.profile) / f"hub-{n}.txt")
        else:
            onlines = bare.heartbeats
        cpu, done, wall = _window(pids, fleet, args.duration, args.interval_s)
        if mode == "hub":
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and tally.recorded < done["sent"]:
                time.sleep(0.2)
            recorded = tally.stop()
            delays = sorted(tally.delays)
            if delays:
                out["delay_p50_ms"] = round(delays[len(delays) // 2] * 1000, 1)
                out["delay_max_ms"] = round(delays[-1] * 1000, 1)
            tally = None
            out["fleet_api_ms"] = _fleet_api_ms(hub)
        else:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and bare.heartbeats - onlines < done["sent"]:
                time.sleep(0.1)
            recorded = bare.heartbeats - onlines
        out.update({
            "sent": done["sent"], "puback": done["puback"], "recorded": recorded,
            "dropped": done["dropped"],
            "window_s": round(wall, 1),
            "broker_cores": round(cpu["broker"] / wall, 4),
            "broker_connect_cpu_s": round(connect_cpu["broker"], 2),
        })
        bmem = memory_kb(broker.proc.pid)
        out.update({"broker_rss_mb": _mb(bmem["VmRSS"]), "broker_peak_rss_mb": _mb(bmem["VmHWM"])})
        if mode == "hub":
            hmem = memory_kb(hub.proc.pid)
            out.update({
                "hub_cores": round(cpu["hub"] / wall, 4),
                "hub_cpu_s": round(cpu["hub"], 2),
                "hub_connect_cpu_s": round(connect_cpu["hub"], 2),
                "hub_rss_mb": _mb(hmem["VmRSS"]), "hub_peak_rss_mb": _mb(hmem["VmHWM"]),
                "hub_ms_per_heartbeat": (round(cpu["hub"] * 1000 / recorded, 3)
                                         if recorded else None),
            })
        return out
    finally:
        if tally is not None:
            tally.stop()
        if spy is not None:
            spy.wait(args.duration + 30)
        if fleet is not None:
            fleet.stop()
        if bare is not None:
            bare.stop()
        if hub is not None:
            hub.stop()
        broker.stop()


def _fleet_api_ms(hub: HubProcess) -> float | None:
    """One `GET /api/fleet` (every station, as the technicians' fleet page reads it)."""
    from hub.auth import TokenAuth
    from hub.runner import DataDir

    token = TokenAuth(DataDir(hub.data).tokens).issue("bench", "technician")
    hub.get("/api/fleet", token)  # first call: imports and caches warm up
    start = time.perf_counter()
    status, _ = hub.get("/api/fleet", token)
    return round((time.perf_counter() - start) * 1000, 1) if status == 200 else None


def _save_on_changes(conf: Path, changes: int) -> None:
    """Make the broker save its whole persistence file after every `changes` changes
    (Mosquitto's `autosave_on_changes`) instead of on the project's timer; each retained
    heartbeat is a change."""
    lines = conf.read_text(encoding="utf-8").splitlines()
    lines = [f"autosave_interval {changes}" if line.startswith("autosave_interval ")
             else "autosave_on_changes true" if line.startswith("autosave_on_changes ")
             else line for line in lines]
    conf.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _recorded_stations(data: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{data / 'hub.db'}?mode=ro", uri=True)) as db:
        return db.execute("SELECT count(*) FROM stations").fetchone()[0]


def _profile(pid: int, seconds: float, out: Path) -> subprocess.Popen | None:
    from hub.bench import _profile as spy

    out.parent.mkdir(parents=True, exist_ok=True)
    return spy(pid, seconds, out)


def _workers(n: int) -> int:
    return max(1, min(4, math.ceil(n / 1500)))


def _ratio(a, b) -> float | None:
    """a / b; None when either is not positive (a net figure lost in the idle one's noise:
    /proc counts CPU in ticks of 10 ms)."""
    return round(a / b, 2) if a and b and a > 0 and b > 0 else None


def _size(n: int, args, work: Path, snapshot: bytes) -> dict:
    """One fleet size: the baseline, then the hub, and the per-heartbeat figures."""
    row: dict = {"stations": n, "heartbeats_per_min": round(n * 60 / args.interval_s, 1),
                 "stated_heartbeats_per_min": round(n * 60 / args.interval, 1)}
    if not args.no_baseline:
        base = probe(n, "bare", args, work, snapshot)
        row.update({f"baseline_{k}": v for k, v in base.items()})
    row.update(probe(n, "hub", args, work, snapshot))
    per_k = row["heartbeats_per_min"] / 1000
    row["hub_cores_per_1000_hb_min"] = round(row["hub_cores"] / per_k, 4)
    row["hub_net_cores_per_1000_hb_min"] = round(
        max(0.0, row["hub_cores"] - row["hub_idle_cores"]) / per_k, 4)
    if "baseline_broker_cores" in row:
        row["broker_cores_added_by_hub"] = round(
            row["broker_cores"] - row["baseline_broker_cores"], 4)
    return row


def bench_stations(args) -> dict:
    sizes = [int(s) for s in str(args.stations).split(",") if s.strip()]
    args.interval_s = args.interval * args.heartbeat_scale
    if args.duration is None:
        args.duration = 3 * args.interval_s
    soft, hard = raise_fd_limit(2 * max(sizes) + 1024)
    work = Path(tempfile.mkdtemp(prefix="cunban-bench-stations-"))
    snapshot = _catalog_snapshot(work / "catalog")
    result: dict = {
        "interval_s": args.interval, "heartbeat_scale": args.heartbeat_scale,
        "broker_save_on_changes": args.broker_save_on_changes or None,
        "beat_every_s": args.interval_s, "duration_s": args.duration,
        "machine": machine(), "nofile": [soft, hard],
        "load_before": [round(x, 2) for x in os.getloadavg()],
        "catalog_bytes": len(snapshot), "sizes": [],
    }
    try:
        for n in sizes:
            result["sizes"].append(_size(n, args, work, snapshot))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = result["sizes"]
    result["growth"] = [
        {"from": a["stations"], "to": b["stations"],
         "stations": _ratio(b["stations"], a["stations"]),
         "hub_cores": _ratio(b["hub_cores"], a["hub_cores"]),
         "hub_net_cores": _ratio(b["hub_cores"] - b["hub_idle_cores"],
                                 a["hub_cores"] - a["hub_idle_cores"]),
         "hub_peak_rss": _ratio(b["hub_peak_rss_mb"], a["hub_peak_rss_mb"]),
         "broker_cores": _ratio(b["broker_cores"], a["broker_cores"]),
         "broker_peak_rss": _ratio(b["broker_peak_rss_mb"], a["broker_peak_rss_mb"]),
         "connect_s": _ratio(b["connect_s"], a["connect_s"])}
        for a, b in zip(rows, rows[1:], strict=False)]
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    return result


def register(bsub: argparse._SubParsersAction) -> None:
    q = bsub.add_parser("stations", help="hub and broker cost of N connected stations "
                                         "sending heartbeats")
    q.add_argument("--stations", default="100,1000,5000",
                   help="fleet sizes, comma-separated; each runs against a fresh broker and hub")
    q.add_argument("--interval", type=float, default=30.0,
                   help="the stated heartbeat interval of a station, seconds")
    q.add_argument("--heartbeat-scale", type=float, default=1.0,
                   help="multiply the interval by this for a quicker run (0.1: every 3 s); "
                        "figures are reported per heartbeat and per 1,000 heartbeats/min")
    q.add_argument("--duration", type=float, default=None,
                   help="seconds of the steady window (default: three intervals)")
    q.add_argument("--idle", type=float, default=3.0,
                   help="seconds the hub's idle CPU is measured before stations connect")
    q.add_argument("--workers", type=int, default=0,
                   help="station processes (0: one per 1,500 stations, at most 4)")
    q.add_argument("--broker-save-on-changes", type=int, default=0,
                   help="the broker saves its persistence after every N changes instead of "
                        "on the project's timer (0: the project's configuration)")
    q.add_argument("--no-register", action="store_true",
                   help="do not register the stations in the hub's fleet registry")
    q.add_argument("--no-baseline", action="store_true",
                   help="skip the run against the broker with no hub")
    q.add_argument("--profile", help="directory for the hub's py-spy samples (collapsed)")
    q.add_argument("--json", action="store_true", help="print one JSON line only")
    q.set_defaults(func=_cmd_stations)


def _cmd_stations(args) -> int:
    result = bench_stations(args)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for row in result["sizes"]:
            print(json.dumps(row, ensure_ascii=False))
        for g in result["growth"]:
            print(json.dumps(g, ensure_ascii=False))
    ok = all(r["connected"] == r["stations"] and r["recorded"] >= r["sent"] > 0
             for r in result["sizes"])
    return 0 if ok else 1
