"""ID-card read time over the simulator against the wire-time floor.

The simulator paces its answers at the configured baud rate (8N1, ten bit times per byte),
so the floor is what a real 115200 baud SAM module needs to move the bytes: 1295 bytes of
the read answer ≈ 112 ms, or ≈ 118 ms for the whole find → select → read exchange.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from device_drivers.idcard.driver import SamReader
from device_drivers.idcard.protocol import READ_FRAME_SIZE, Command, encode_request
from device_drivers.idcard.sim import IdCardSimulator

# Bytes on the wire for one full read: three requests and their answers.
EXCHANGE_BYTES = 3 * len(encode_request(Command.FIND_CARD)) + 15 + 19 + READ_FRAME_SIZE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baud", type=int, default=115200)
    parser.add_argument("--reads", type=int, default=20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        link = str(Path(tmp) / "ttyID")
        with (
            IdCardSimulator(link=link, baudrate=args.baud) as sim,
            SamReader(sim.port, baudrate=args.baud) as reader,
        ):
            reader.read_card()  # warm-up: open the port
            full, read_only = [], []
            for _ in range(args.reads):
                start = time.perf_counter()
                card = reader.read_card()
                full.append(time.perf_counter() - start)
                assert card is not None
                start = time.perf_counter()
                reader.transact(Command.READ_BASE)
                read_only.append(time.perf_counter() - start)

    per_byte = 10 / args.baud
    floor_read = READ_FRAME_SIZE * per_byte
    floor_full = EXCHANGE_BYTES * per_byte
    med_full, med_read = statistics.median(full), statistics.median(read_only)
    print(
        json.dumps(
            {
                "bench": "idcard_read",
                "baud": args.baud,
                "reads": args.reads,
                "read_cmd_ms_median": round(med_read * 1000, 1),
                "read_cmd_floor_ms": round(floor_read * 1000, 1),
                "read_cmd_ratio": round(med_read / floor_read, 3),
                "read_card_ms_median": round(med_full * 1000, 1),
                "read_card_ms_max": round(max(full) * 1000, 1),
                "read_card_floor_ms": round(floor_full * 1000, 1),
                "read_card_ratio": round(med_full / floor_full, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
