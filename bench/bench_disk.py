"""How many photo-sized files this disk takes per second, written the way the hub's blob
store writes a batch: each file written aside, the batch fsynced in parallel (8 threads),
renamed into place, each directory fsynced once. The ceiling the disk alone sets for
intake with photos; prints one JSON line.

Each batch size runs twice, alternately: with the files written through the page cache
(the baseline) and by direct I/O (`hub.blobs.FileWriter`, as the hub writes them).
`cpu_us_per_file` is this process's CPU (all threads, kernel included) per file, and
`direct_over_cache` the ratios of direct I/O to the page cache in the same run.

    .venv/bin/python bench/bench_disk.py [--dir DIR] [--seconds 5] [--kb 200]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hub.blobs import FileWriter, fsync_path


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(root: Path, seconds: float, size: int, batch: int, direct: bool) -> dict:
    root = root / ("direct" if direct else "cache") / str(batch)  # new files, new folders
    root.mkdir(parents=True)
    data = os.urandom(size)
    files = FileWriter(direct=direct)
    written = 0
    with ThreadPoolExecutor(8) as pool:
        cpu = _cpu()
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            staged = []
            for _ in range(batch):
                folder = root / f"{written % 256:02x}"
                folder.mkdir(exist_ok=True)
                tmp = folder / f"{written}.tmp"
                files.create(str(tmp), (data,))
                staged.append(tmp)
                written += 1
            list(pool.map(fsync_path, staged))
            for tmp in staged:
                os.replace(tmp, tmp.with_suffix(".blob"))
            list(pool.map(fsync_path, {tmp.parent for tmp in staged}))
        elapsed = time.perf_counter() - start
        cpu = _cpu() - cpu
    return {"batch": batch, "direct": files.direct, "files_per_s": round(written / elapsed, 1),
            "mb_per_s": round(written * size / elapsed / 1e6, 1),
            "cpu_us_per_file": round(cpu / written * 1e6)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", help="where to write (default: a temporary directory)")
    parser.add_argument("--seconds", type=float, default=5.0, help="per batch size")
    parser.add_argument("--kb", type=int, default=200, help="size of each file")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cunban-disk-", dir=args.dir))
    try:
        runs = [run(root, args.seconds, args.kb * 1000, batch, direct)
                for batch in (30, 90, 300) for direct in (False, True)]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    ratios = [{"batch": cache["batch"],
               "files_per_s": round(direct["files_per_s"] / cache["files_per_s"], 2),
               "cpu_per_file": round(direct["cpu_us_per_file"] / cache["cpu_us_per_file"], 2)}
              for cache, direct in zip(runs[::2], runs[1::2], strict=True)]
    print(json.dumps({"kb": args.kb, "runs": runs, "direct_over_cache": ratios}))


if __name__ == "__main__":
    main()
