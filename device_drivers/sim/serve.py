"""`cunban sim …`: run a simulator for a technician until SIGTERM or Ctrl-C.

Every pty simulator command does the same: start the simulator, print the port it answers
on (the one line a caller waits for before opening it), take commands typed on standard
input, show now and then what the simulator saw, and stop cleanly on SIGTERM (a service
manager or a test) or Ctrl-C (a technician at the terminal).
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable

from device_drivers.sim.pty import PtySimulator


def serve(
    sim: PtySimulator,
    *,
    on_line: Callable[[str], None] | None = None,
    tick: Callable[[], None] | None = None,
    every: float = 0.5,
) -> int:
    """Run `sim` until SIGTERM or Ctrl-C, then stop it; returns the exit status (0).

    Each non-blank line typed on standard input goes to `on_line` (without its line end,
    on a worker thread); `tick()` runs every `every` seconds on this thread.
    """
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with sim:
            print(sim.port, flush=True)
            if on_line is not None:
                threading.Thread(
                    target=_typed_lines,
                    args=(on_line,),
                    name=f"{type(sim).__name__}-stdin",
                    daemon=True,
                ).start()
            while not stop.wait(every):
                if tick is not None:
                    tick()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


def _typed_lines(on_line: Callable[[str], None]) -> None:
    for line in sys.stdin:
        if line.strip():
            on_line(line.rstrip("\r\n"))
