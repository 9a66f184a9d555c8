"""Keep freed memory for the next large message instead of handing it back at once.

glibc serves an allocation above its mmap threshold (128 KiB to start) with fresh pages
from the kernel, and gives them back on free; it raises that threshold as such blocks are
freed, but returns the top of the heap again as soon as more than twice the threshold is
free there. A 600 KiB photo message is copied a few times as it is read (paho's decoder
alone makes three copies), and with two copies alive at once each one came as fresh,
zero-filled pages: measured, paho decoded such a message in 750 µs instead of 66 µs.

Fixing both thresholds keeps messages up to 16 MiB on the heap, and up to 64 MiB of freed
heap in the process for reuse. One arena for all threads keeps paho's network thread on
that heap too: its own arena was still faulting in fresh pages (the hub's link process,
receiving photos, went from about 27,000 page faults a second to 8,000). The interpreter
lock already serialises most allocations, so the threads lose little by sharing it.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

MMAP_THRESHOLD = 16 * 2**20
TRIM_THRESHOLD = 64 * 2**20


def keep_freed_memory() -> bool:
    """Set this process's glibc thresholds (above). False where there is no glibc."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                    and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
                    and libc.mallopt(M_ARENA_MAX, 1))
    return False


def freeze_startup_objects() -> int:
    """Move every object alive now out of the garbage collector's reach; returns how many.

    Call it once a process has built what it keeps for its whole life (modules, catalog,
    web routes, schemas). CPython's full collection walks every tracked object and holds
    the interpreter lock while it does, so every thread of the process waits. The hub
    starts with about 110,000 objects; under a steady intake a full collection came about
    once per 8,000 applications and took 67–145 ms, and 10–32 ms with those objects left
    out (`bench/bench_writer.py`). The objects made before this call are never garbage.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
