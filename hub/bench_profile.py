"""Where the hub's threads were while a load ran: py-spy's collapsed stacks (`--profile`),
summed per process (the hub, its MQTT link) into what the stack was doing.

py-spy leaves out most threads that sleep and keeps those running or blocked in the kernel:
a thread inside `fsync` counts, and is waiting on the disk. Some sleeps it cannot see as
such (a pool thread waiting for work, a condition variable): a stack whose innermost frame
is one of `IDLE` is left out here. Each other stack is charged to the first of its frames,
from the innermost out, that a rule below names; the rest is the hub's own Python.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

# (what, fragments of a frame that mean it), checked in this order for each frame
RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("disk_fsync", ("fsync_path", "os.fsync", "SpoolNotifier.send")),
    ("disk_write", ("BlobStore.", "Path.mkdir", "Path.stat", "Path.exists", "os.replace")),
    ("check", ("check_blob", "sniff_mime", "hashlib")),
    ("seal", ("hub/crypto.py",)),
    ("database", ("sqlite_utils/", "hub/db/", "sqlite3")),
    ("network", ("paho/", "protocols/mqtt.py", "socket.py")),
    ("pipe", ("multiprocessing/connection.py", "multiprocessing/reduction.py")),
)
IDLE = ("futures/thread.py:81)", "Condition.wait ", "Event.wait ", "selectors.py", "queue.py")
KINDS = tuple(kind for kind, _ in RULES) + ("python",)
# Moving the bytes, which any store of the photos does (`run_store`), against the hub's
# own work on them.
IO = ("disk_fsync", "disk_write", "network")


def classify(frames: list[str]) -> str:
    """The kind of work a stack (outermost frame first) was doing."""
    for frame in reversed(frames):
        for kind, fragments in RULES:
            if any(fragment in frame for fragment in fragments):
                return kind
    return "python"


def summarize(path: Path | str) -> dict[str, dict]:
    """{process: {"samples": n, kind: share, …, "io": share}} for "hub" and "link"; `io`
    is the disk and network kinds together. The file is py-spy's raw format, run with
    --subprocesses: each stack starts with its process, the link's with the hub's and then
    its own."""
    counts: dict[str, Counter[str]] = {}
    for line in Path(path).read_text(errors="replace").splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack or not number.isdigit():
            continue
        frames = stack.split(";")
        processes = [f for f in frames if f.startswith("process ")]
        if not processes:
            continue
        who = "link" if "hub.link" in processes[-1] else "hub"
        work = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not work or any(idle in work[-1] for idle in IDLE):
            continue
        counts.setdefault(who, Counter())[classify(work)] += int(number)
    out = {}
    for who, counter in counts.items():
        total = sum(counter.values())
        out[who] = {"samples": total,
                    **{kind: round(counter[kind] / total, 3) for kind in KINDS},
                    "io": round(sum(counter[kind] for kind in IO) / total, 3)}
    return out
