"""The hub's writer alone: prepared applications committed in batches, as `Ingest` does
after the link has prepared them, with and without the start-up objects left out of
garbage collection (`protocols.memory.freeze_startup_objects`, which the hub and its
link call). No broker, no link: only the SQL, the commits and the Python around them.

Each round runs both ways in fresh processes, in alternating order; the ratio is of the
medians. Each side also reports its full collections during the commits and how long
they took (they hold the interpreter lock: every thread of the hub waits). Prints one
JSON line.

    .venv/bin/python bench/bench_writer.py [--apps 8000] [--batch 500] [--rounds 5]
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATIONS = [f"4113811010{n:02d}" for n in range(1, 9)]


def drain(apps: int, batch: int, freeze: bool) -> dict:
    """One process's measurement: build a hub's writer, prepare `apps` submissions, time
    their commits."""
    sys.path.insert(0, str(ROOT))
    from hub.app import create_app
    from hub.auth import SessionAuth, TokenAuth
    from hub.blobs import BlobStore
    from hub.calendar import WorkCalendar
    from hub.catalog import load_catalog
    from hub.crypto import FieldCipher, key_path
    from hub.db import migrate
    from hub.db.repositories import Store
    from hub.ingest import Ingest
    from hub.intake import Preparer
    from hub.link import Received
    from hub.service import ApplicationService
    from protocols.examples import example_submit
    from protocols.memory import freeze_startup_objects
    from protocols.topics import Kind, Topics

    root = Path(tempfile.mkdtemp(prefix="cunban-writer-"))
    try:
        migrate(root / "hub.db")
        catalog, topics = load_catalog(), Topics("cunban")
        cipher = FieldCipher.load(key_path(root))
        store = Store(root / "hub.db", cipher)
        blobs = BlobStore(root / "blobs", cipher)
        ingest = Ingest(store, blobs,
                        ApplicationService(store, catalog, WorkCalendar.load(), topics),
                        topics, batch_size=batch)
        preparer = Preparer(catalog, cipher, topics)
        # the hub's web application lives in the same process, and so do its objects
        web = create_app(db_path=root / "hub.db", catalog=catalog,  # noqa: F841
                         calendar=WorkCalendar.load(), topics=topics,
                         authenticate=SessionAuth(root / "hub.db",
                                                  fallback=TokenAuth(root / "tokens.json")),
                         broker_connected=lambda: True, storage_problem=lambda: None)
        if freeze:  # where the hub does it: built, before any message
            freeze_startup_objects()
        messages = []
        for n in range(apps):
            station = STATIONS[n % len(STATIONS)]
            payload, photos = example_submit(catalog, station, counter=n + 1,
                                             application_id=uuid.uuid4())
            for sha, data in photos.items():
                if not blobs.exists(sha):  # the photos arrived before their application
                    blobs.put(sha, data)
                    with store.transaction():
                        store.insert_blob(sha, len(data), "image/jpeg", station,
                                          "2026-11-28T00:00:00+00:00")
            topic = topics.station(Kind.SUBMIT, station)
            messages.append(Received(topic, payload, n + 1, 1, False,
                                     preparer.prepare(topic, payload)))
        full: list[float] = []
        started: list[float] = []

        def timing(phase: str, info: dict) -> None:
            if info["generation"] == 2:
                if phase == "start":
                    started.append(time.perf_counter())
                else:
                    full.append(time.perf_counter() - started.pop())

        gc.callbacks.append(timing)
        wall, cpu = time.perf_counter(), time.process_time()
        for k in range(0, apps, batch):
            ingest._commit(messages[k:k + batch])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        gc.callbacks.remove(timing)
        assert ingest.stats.stored == apps, ingest.stats
        return {"apps_per_s": round(apps / wall, 1), "cpu_us_per_app": round(cpu * 1e6 / apps),
                "full_collections": len(full), "full_collection_ms": round(sum(full) * 1000, 1)}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def measure(apps: int, batch: int, freeze: bool) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--one", "frozen" if freeze else "plain",
         "--apps", str(apps), "--batch", str(batch)],
        capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=8000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--one", choices=["frozen", "plain"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(drain(args.apps, args.batch, args.one == "frozen")))
        return
    rounds = []
    for n in range(args.rounds):
        order = (True, False) if n % 2 == 0 else (False, True)
        got = {freeze: measure(args.apps, args.batch, freeze) for freeze in order}
        rounds.append({"frozen": got[True], "plain": got[False]})

    def median(kind: str, key: str) -> float:
        return statistics.median(r[kind][key] for r in rounds)

    print(json.dumps({
        "apps": args.apps, "batch": args.batch,
        "frozen_apps_per_s": median("frozen", "apps_per_s"),
        "plain_apps_per_s": median("plain", "apps_per_s"),
        "ratio": round(median("frozen", "apps_per_s") / median("plain", "apps_per_s"), 2),
        "rounds": rounds}))


if __name__ == "__main__":
    main()
