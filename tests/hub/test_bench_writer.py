"""The writer benchmark runs the hub's own commit path both ways and reports both."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support import ROOT


def test_the_writer_benchmark_commits_every_application_both_ways():
    out = subprocess.run(
        [sys.executable, "bench/bench_writer.py", "--apps", "600", "--batch", "200",
         "--rounds", "1"], capture_output=True, text=True, check=True, cwd=ROOT, timeout=300)
    got = json.loads(out.stdout.splitlines()[-1])
    (only,) = got["rounds"]
    assert set(only) == {"frozen", "plain"}
    for side in only.values():  # each side asserted its 600 were stored
        assert side["apps_per_s"] > 0 and side["cpu_us_per_app"] > 0
    assert got["ratio"] == round(got["frozen_apps_per_s"] / got["plain_apps_per_s"], 2)
