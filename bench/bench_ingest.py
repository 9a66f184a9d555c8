"""Applications per second through the whole path; the same as `cunban bench ingest`.

    .venv/bin/python bench/bench_ingest.py [--kiosks 4] [--rate 0] [--duration 10] [--json]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cunban.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["bench", "ingest", *sys.argv[1:]]))
