"""The ingest benchmark at a small size: every filed application is stored once and acked."""

from __future__ import annotations

import json
import subprocess
import sys

from cunban.processes import ROOT


def test_bench_ingest_prints_one_json_line_with_nothing_lost_or_duplicated():
    out = subprocess.run(
        [sys.executable, "-m", "cunban.cli", "bench", "ingest", "--kiosks", "2",
         "--duration", "2", "--rate", "100", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["sent"] >= 100
    assert result["stored"] == result["acked"] == result["sent"]
    assert result["lost"] == 0 and result["duplicates"] == 0 and result["outbox_left"] == 0
    assert result["baseline_throughput"] > 0 and result["ratio"] > 0
    assert 0 < result["p50_ms"] <= result["p95_ms"] <= result["p99_ms"]
    assert result["hub_peak_rss_mb"] > 0 and result["db_bytes"] > 0
