"""Applications per second through the whole path: station client → Mosquitto → hub
(validate, group commit, ack after commit) → ack back at the station.

Baseline in the same run: a bare echo (a paho client that receives on the submit topic and
publishes an ack, nothing else) through the same broker with the same payloads.

    .venv/bin/python bench/bench_ingest.py [--count 3000]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hub.catalog import load_catalog  # noqa: E402
from protocols import messages as m  # noqa: E402
from protocols.examples import example_submit  # noqa: E402
from protocols.mqtt import MqttEndpoint, unique_client_id  # noqa: E402
from protocols.topics import Kind, Topics  # noqa: E402
from tests.support import Broker, HubProcess  # noqa: E402

SID = "411381101201"
T = Topics()


def payloads(count: int):
    template, blobs = example_submit(load_catalog(), SID)
    env = json.loads(template)
    out = []
    for n in range(count):
        env["id"] = str(uuid.uuid4())
        env["data"]["receipt_number"] = f"{SID}-{n + 1}"
        out.append(json.dumps(env, ensure_ascii=False).encode())
    return out, blobs


def run_station(url: str, items: list[bytes], blobs: dict[str, bytes]) -> dict:
    done = threading.Event()
    acked: set[str] = set()

    def on_message(msg):
        ack = json.loads(msg.payload)["data"]
        if ack["result"] == "stored":
            acked.add(ack["application_id"])
        if len(acked) >= len(items):
            done.set()

    station = MqttEndpoint(url, unique_client_id("bench-station"),
                           subscriptions=[(T.station(Kind.ACK, SID), 1)], on_message=on_message)
    station.start()
    station.wait_connected(10)
    time.sleep(0.3)
    for sha, data in blobs.items():
        station.publish(T.blob(SID, sha), data)
    time.sleep(0.5)
    start = time.perf_counter()
    for p in items:
        while not station.publish(T.station(Kind.SUBMIT, SID), p):
            time.sleep(0.01)
    done.wait(300)
    elapsed = time.perf_counter() - start
    station.stop()
    return {"acked": len(acked), "seconds": elapsed, "rate": len(acked) / elapsed}


def echo(url: str, stop: threading.Event) -> None:
    client: MqttEndpoint

    def on_message(msg):
        env = json.loads(msg.payload)
        ack = m.ApplicationAck(application_id=env["id"], result=m.AckResult.STORED,
                               case_number="ECHO")
        client.publish(T.station(Kind.ACK, SID), m.encode(ack))

    client = MqttEndpoint(url, unique_client_id("bench-echo"),
                          subscriptions=[("cunban/station/+/application/submit", 1)],
                          on_message=on_message)
    client.start()
    stop.wait()
    client.stop()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=3000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    broker = Broker(work / "broker").start()
    try:
        items, blobs = payloads(args.count)
        stop = threading.Event()
        t = threading.Thread(target=echo, args=(broker.url, stop), daemon=True)
        t.start()
        time.sleep(1.0)
        baseline = run_station(broker.url, items, {})
        stop.set()
        t.join(10)

        items, blobs = payloads(args.count)
        hub = HubProcess(work / "hub", broker.url).start()
        try:
            measured = run_station(broker.url, items, blobs)
        finally:
            hub.stop()
        db = sqlite3.connect(work / "hub" / "hub.db")
        stored = db.execute("SELECT count(*) FROM applications").fetchone()[0]
        db.close()
        print(json.dumps({
            "count": args.count,
            "throughput": round(measured["rate"], 1),
            "baseline_throughput": round(baseline["rate"], 1),
            "ratio": round(measured["rate"] / baseline["rate"], 3),
            "acked": measured["acked"], "stored": stored,
        }))
    finally:
        broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
