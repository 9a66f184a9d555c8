"""Workbench queue page and /stats response times on a large hub database.

Generates 200,000 applications and about 1,000,000 events directly into SQLite
(tests/web/history.py), serves the real app with uvicorn on a free loopback port, logs an
officer in and times, over HTTP, the department queue (default, filtered by state, by
town, a later page), one application page, and /stats (all time, one town's villages,
one department's items). Baseline in the same run: a route that returns a constant.

    .venv/bin/python bench/bench_web.py [--applications 200000] [--rounds 40]
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from fastapi.responses import PlainTextResponse  # noqa: E402

from hub.app import create_app  # noqa: E402
from hub.auth import Accounts, SessionAuth  # noqa: E402
from hub.calendar import WorkCalendar  # noqa: E402
from hub.catalog import load_catalog  # noqa: E402
from hub.db import migrate  # noqa: E402
from hub.db.web import WebStore  # noqa: E402
from protocols.topics import Topics  # noqa: E402
from tests.support import free_port  # noqa: E402
from tests.web.history import generate  # noqa: E402

PASSWORD = "bench-password-1"


def timed(client: httpx.Client, url: str, rounds: int) -> dict:
    client.get(url)  # warm the page cache and templates
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - start) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{url}: {response.status_code}")
    samples.sort()
    return {"p50": statistics.median(samples),
            "p95": samples[min(len(samples) - 1, int(round(0.95 * len(samples))) - 1)],
            "max": samples[-1]}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--applications", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--db", help="keep the generated database here and reuse it")
    args = parser.parse_args()
    catalog, calendar = load_catalog(), WorkCalendar.load()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(args.db or Path(tmp) / "hub.db")
        reuse = db.exists()
        migrate(db)
        start = time.perf_counter()
        if not reuse:
            generate(db, catalog, calendar, args.applications, supplement_rate=0.75,
                     supplement_rounds=2)
        conn = sqlite3.connect(db)
        conn.execute("ANALYZE")
        events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        conn.execute("DELETE FROM sessions")
        # Statistics start cold: the first /stats folds the whole event log.
        conn.execute("DELETE FROM stats_cells")
        conn.execute("UPDATE stats_state SET last_event_id = 0")
        conn.commit()
        dept, dept_count = conn.execute(
            "SELECT department, count(*) FROM applications GROUP BY department "
            "ORDER BY 2 DESC LIMIT 1").fetchone()
        town = conn.execute("SELECT town FROM applications LIMIT 1").fetchone()[0]
        one = conn.execute("SELECT id FROM applications WHERE department = ? AND state = 3 "
                           "LIMIT 1", [dept]).fetchone()[0]
        conn.close()
        print(f"{'reused' if reuse else 'generated'} {args.applications} applications, "
              f"{events} events in "
              f"{time.perf_counter() - start:.0f} s; largest department {dept} has "
              f"{dept_count}")
        store = WebStore(db)
        if store.officer("bench") is None:
            Accounts(store).create_user("bench", PASSWORD, "officer", department=dept)
        store.close()

        app = create_app(db_path=db, catalog=catalog, calendar=calendar, topics=Topics(),
                         authenticate=SessionAuth(db))
        app.get("/baseline")(lambda: PlainTextResponse("ok"))
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                               log_level="warning", access_log=False))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30) as client:
            csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)[1]
            client.post("/login", data={"username": "bench", "password": PASSWORD,
                                        "csrf": csrf})
            pages = {
                "baseline (constant route)": "/baseline",
                "queue: open cases by deadline": "/workbench",
                "queue: state 已受理": "/workbench?state=3",
                "queue: one town": f"/workbench?town={town}",
                "queue: page 40": "/workbench?page_no=40",
                "application page": f"/workbench/applications/{one}",
                "/stats all months": "/stats",
                "/stats one town's villages": f"/stats?town={town}",
                "/stats one department's items": f"/stats?department={dept}",
                "/stats 2026-01..2026-06": "/stats?since=2026-01&until=2026-06",
            }
            start = time.perf_counter()
            client.get("/stats")
            cold = (time.perf_counter() - start) * 1000
            results = {}
            for name, url in pages.items():
                rounds = args.rounds if "stats" not in name else max(10, args.rounds // 4)
                results[name] = timed(client, url, rounds)
        server.should_exit = True
        thread.join(10)
    print(f"first /stats after start (folds all {events} events): {cold:.0f} ms")
    baseline = results["baseline (constant route)"]["p95"]
    print(f"{'page':34} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'p95/baseline':>13}")
    for name, r in results.items():
        print(f"{name:34} {r['p50']:8.1f} {r['p95']:8.1f} {r['max']:8.1f} "
              f"{r['p95'] / baseline:13.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
