"""A pseudo-terminal that a simulator answers on, byte for byte.

The driver under test opens `sim.port` exactly as it would open `/dev/ttyUSB0`; the
simulator reads what the driver writes from the master side and writes its replies back.
Fault injection common to every device lives here:

- `silent = True`: the device swallows input and answers nothing (timeouts);
- `unplug()`: the pty is torn down, so an open driver sees EIO like a pulled USB cable,
  and the port path disappears; `replug()` makes a fresh pty appear at the same path.
  For a stable path give `link`, a symlink the simulator keeps pointing at its current
  pty (as udev does with `/dev/serial/by-id/…`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import tty

logger = logging.getLogger(__name__)


class PtySimulator:
    """Subclass and implement `on_bytes(data)`; call `send(data)` to answer.

    A subclass with faults of its own names them in `FAULTS` (with "silent" and "unplug")
    and keeps each as a boolean attribute of that name, so `set_fault` switches it on.
    """

    device = "device"  # named in the error for an unknown fault
    FAULTS: tuple[str, ...] = ("silent", "unplug")

    def __init__(self, link: str | None = None) -> None:
        self.link = link
        self.silent = False
        self.unplugged = False
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._master = self._slave = -1
        self._open_pty()
        self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)

    @property
    def port(self) -> str:
        """The path a driver opens: the stable link if given, else the pty itself."""
        return self.link or self._slave_name

    # lifecycle -------------------------------------------------------------------------
    def start(self) -> PtySimulator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self._close_pty()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # faults ----------------------------------------------------------------------------
    def unplug(self) -> None:
        """The device vanishes: open handles fail with EIO and the path is gone."""
        with self._lock:
            self.unplugged = True
            self._close_pty()

    def replug(self) -> None:
        """A fresh device appears (at `link` when one was given)."""
        with self._lock:
            self._open_pty()
            self.unplugged = False

    def set_fault(self, fault: str) -> None:
        """Switch one fault on by name (see `FAULTS`)."""
        if fault not in self.FAULTS:
            raise ValueError(
                f"unknown {self.device} fault {fault!r}; one of {', '.join(self.FAULTS)}"
            )
        if fault == "unplug":
            self.unplug()
        elif fault == "silent":
            self.silent = True
        else:
            self._switch_on(fault)

    def _switch_on(self, fault: str) -> None:
        setattr(self, fault, True)

    # I/O -------------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        """Write bytes to the driver side (nothing while unplugged)."""
        with self._lock:
            if self.unplugged or not data:
                return
            view = memoryview(data)
            while view:
                n = os.write(self._master, view)
                view = view[n:]

    def on_bytes(self, data: bytes) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # internals -------------------------------------------------------------------------
    def _open_pty(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._master)
        tty.setraw(self._slave)
        self._slave_name = os.ttyname(self._slave)
        if self.link:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.link)
            os.symlink(self._slave_name, self.link)

    def _close_pty(self) -> None:
        if self.link:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.link)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._master = self._slave = -1

    def _run(self) -> None:
        while not self._stop.is_set():
            master = self._master
            if master < 0:
                self._stop.wait(0.05)
                continue
            try:
                ready, _, _ = select.select([master], [], [], 0.05)
                if not ready:
                    continue
                data = os.read(master, 65536)
            except (OSError, ValueError):
                self._stop.wait(0.02)
                continue
            if self.silent or self.unplugged:
                continue
            try:
                self.on_bytes(data)
            except Exception:  # a simulator bug must not kill the port thread
                logger.exception("simulator failed handling %d bytes", len(data))
