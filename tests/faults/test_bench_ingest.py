"""The ingest benchmark at a small size: every filed application is stored once and acked."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

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
    assert result["refused"] == 0
    assert result["baseline_throughput"] > 0 and result["ratio"] > 0
    assert 0 < result["p50_ms"] <= result["p95_ms"] <= result["p99_ms"]
    assert result["hub_peak_rss_mb"] > 0 and result["db_bytes"] > 0
    # where the CPU went while filing: each process measured, the machine's idle share
    assert result["cpu"]["hub"] > 0 and result["cpu"]["stations"] > 0
    assert result["baseline_cpu"]["echo"] > 0 and "hub" not in result["baseline_cpu"]
    assert 0 <= result["cpu"]["machine_idle"] <= 1


def test_bench_ingest_with_photos_measures_a_storing_baseline_and_profiles_the_hub(tmp_path):
    profile = tmp_path / "hub.collapsed"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    out = subprocess.run(
        [sys.executable, "-m", "cunban.cli", "bench", "ingest", "--kiosks", "2",
         "--duration", "3", "--rate", "20", "--blobs", "2", "--blob-kb", "50",
         "--profile", str(profile), "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
        env={**os.environ, "TMPDIR": str(scratch)})
    assert out.returncode == 0, out.stderr[-2000:]
    # its photos, outboxes and databases are gone; the time it deleted them is left
    assert [p.name for p in scratch.iterdir()] == ["cunban-bench-deleted"]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["waited_s"] == 0
    assert result["lost"] == 0 and result["duplicates"] == 0
    assert result["stored"] == result["acked"] == result["sent"] >= 40
    assert result["refused"] == 0  # two photos, the third material the example's own
    # the second baseline stored the same photos, and the hub is measured against it
    assert result["store_throughput"] > 0 and result["store_p99_ms"] > 0
    assert abs(result["store_ratio"] - result["throughput"] / result["store_throughput"]) < 0.01
    assert result["store_cpu"]["store"] > 0 and "echo" not in result["store_cpu"]
    # how much of each process's CPU the kernel spent for it
    for name in ("hub", "hub_link", "stations"):
        assert 0 <= result["cpu"]["kernel"][name] <= 1
    assert 0 <= result["store_cpu"]["kernel"]["store"] <= 1
    # milliseconds of CPU per application, of which the kernel's: the hub's two processes
    # together, and the storing baseline
    for spent, kernel in (result["cpu_ms_per_app"], result["store_cpu_ms_per_app"]):
        assert 0 < kernel < spent
    per_app = result["cpu"]["per_app_ms"]
    assert result["cpu_ms_per_app"][0] == pytest.approx(
        per_app["hub"][0] + per_app["hub_link"][0], abs=0.02)
    # where the hub's and the link's threads were: shares of what py-spy sampled
    for who in ("hub", "link"):
        summary = result["profile"][who]
        assert summary["samples"] > 0
        shares = [v for k, v in summary.items() if k not in ("samples", "io")]
        assert abs(sum(shares) - 1) < 0.01
        io = summary["disk_fsync"] + summary["disk_write"] + summary["network"]
        assert summary["io"] == pytest.approx(io, abs=0.002)
    # the samples behind it, the link's among them (what each kind of frame counts as is
    # tested on stacks made by hand: a light load gives too few samples to say)
    assert "hub.link" in profile.read_text()


def test_bench_backlog_drains_a_queue_twice_and_charges_each_hub_its_cpu(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "cunban.cli", "bench", "ingest", "--kiosks", "2",
         "--backlog", "600", "--rounds", "2", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
        env={**os.environ, "TMPDIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert not list(tmp_path.iterdir())  # every round's hub and stations are gone
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["lost"] == 0 and result["duplicates"] == 0
    for mode, batch in (("group", 500), ("single", 1)):
        run = result[mode]
        assert run["batch_size"] == batch
        assert run["filed"] == run["acked"] == run["stored"] == 600
        assert run["rate"] > 0 and run["hub_rate"] > 0
        assert run["hub_cpu_ms_per_app"] > 0 and 0 < run["hub_cores"] <= 2.5
    assert result["backlog_ratio"] > 0 and result["backlog_cpu_ratio"] > 0
    assert len(result["rounds"]) == 2
    assert all(r["group_rate"] > 0 and r["single_rate"] > 0 for r in result["rounds"])


def test_the_stations_fresh_photos_are_distinct_whole_jpegs_with_their_own_hash():
    import hashlib
    import random

    from hub.bench import FreshPhotos
    from hub.blobs import check_blob

    photos = FreshPhotos(200 * 1024, random.Random("411381101001"))
    made = [photos.make() for _ in range(50)]
    assert len({sha for sha, _ in made}) == 50
    for sha, data in made:
        assert len(data) == 200 * 1024
        assert hashlib.sha256(data).hexdigest() == sha
        assert check_blob(sha, data) == "image/jpeg"
    other = FreshPhotos(200 * 1024, random.Random("411381101002")).make()
    assert other[0] not in {sha for sha, _ in made}


def test_a_photo_run_waits_out_the_last_ones_deletion(tmp_path, monkeypatch):
    """ext4 without a journal passes over inodes freed in the last minute: a photo run just
    after another would measure that search, so it waits until the minute is over."""
    import tempfile
    import time

    from hub import bench

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    slept: list[float] = []
    monkeypatch.setattr(bench.time, "sleep", slept.append)
    assert bench._wait_for_deletions() == 0 and slept == []  # no photo run before

    (tmp_path / bench.DELETED_MARK).write_text(f"{time.time() - 20:.3f}")
    waited = bench._wait_for_deletions()
    assert bench.RECENTCY - 21 < waited <= bench.RECENTCY - 19 and slept == [waited]

    (tmp_path / bench.DELETED_MARK).write_text(f"{time.time() - 300:.3f}")
    assert bench._wait_for_deletions() == 0 and len(slept) == 1

    work = tmp_path / "cunban-bench-x"
    (work / "blobs").mkdir(parents=True)
    (work / "blobs" / "photo").write_bytes(b"x")
    bench._remove(work, photos=True)
    assert not work.exists()
    assert time.time() - float((tmp_path / bench.DELETED_MARK).read_text()) < 5
