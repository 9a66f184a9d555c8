"""How many photo-sized files this disk takes per second, written the way the hub's blob
store writes a batch: each file written aside, the batch fsynced in parallel (8 threads),
renamed into place, each directory fsynced once. The ceiling the disk alone sets for
intake with photos; prints one JSON line.

    .venv/bin/python bench/bench_disk.py [--dir DIR] [--seconds 5] [--kb 200]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hub.blobs import fsync_path


def run(root: Path, seconds: float, size: int, batch: int) -> dict:
    data = os.urandom(size)
    written = 0
    with ThreadPoolExecutor(8) as pool:
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            staged = []
            for _ in range(batch):
                folder = root / f"{written % 256:02x}"
                folder.mkdir(exist_ok=True)
                tmp = folder / f"{written}.tmp"
                tmp.write_bytes(data)
                staged.append(tmp)
                written += 1
            list(pool.map(fsync_path, staged))
            for tmp in staged:
                os.replace(tmp, tmp.with_suffix(".blob"))
            list(pool.map(fsync_path, {tmp.parent for tmp in staged}))
        elapsed = time.perf_counter() - start
    return {"batch": batch, "files_per_s": round(written / elapsed, 1),
            "mb_per_s": round(written * size / elapsed / 1e6, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", help="where to write (default: a temporary directory)")
    parser.add_argument("--seconds", type=float, default=5.0, help="per batch size")
    parser.add_argument("--kb", type=int, default=200, help="size of each file")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cunban-disk-", dir=args.dir))
    try:
        runs = [run(root, args.seconds, args.kb * 1000, batch) for batch in (30, 90, 300)]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps({"kb": args.kb, "runs": runs}))


if __name__ == "__main__":
    main()
