"""Hub and broker cost of a connected station fleet; the same as `cunban bench stations`.

    .venv/bin/python bench/bench_stations.py [--stations 100,1000,5000] [--interval 30]
        [--duration S] [--heartbeat-scale X] [--json]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cunban.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["bench", "stations", *sys.argv[1:]]))
