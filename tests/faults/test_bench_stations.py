"""The station-fleet probe at a small size: every station connects, every heartbeat sent
is recorded by the hub, and the cost figures are there."""

from __future__ import annotations

import json
import subprocess
import sys

from cunban.processes import ROOT


def test_bench_stations_prints_one_json_line_with_every_heartbeat_recorded():
    out = subprocess.run(
        [sys.executable, "-m", "cunban.cli", "bench", "stations", "--stations", "20",
         "--interval", "1", "--duration", "2", "--idle", "0.5", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    [row] = result["sizes"]
    assert row["stations"] == row["connected"] == row["baseline_connected"] == 20
    assert row["sent"] == 40 and row["recorded"] == row["sent"] == row["puback"]
    assert row["baseline_recorded"] == row["baseline_sent"] == 40
    assert row["dropped"] == 0 and row["connect_failures"] == 0
    for key in ("hub_cores", "hub_idle_cores", "hub_cores_per_1000_hb_min", "broker_cores",
                "baseline_broker_cores", "connect_s", "delay_p50_ms", "fleet_api_ms"):
        assert isinstance(row[key], float), key
    assert row["hub_cpu_s"] > 0 and row["hub_peak_rss_mb"] >= row["hub_rss_mb"] > 0
    assert row["broker_peak_rss_mb"] > 0
    assert result["machine"]["cpus"] >= 1 and len(result["load_before"]) == 3
