"""A scanner module simulated on a pseudo-terminal: "scans" texts and sends them with the
chosen suffix. Faults: garbage bytes, a line split over two writes with a pause between,
silence (`silent`: nothing is sent), unplug/replug. In trigger mode, queued codes are only
sent after the trigger command arrives, as command-mode modules do. Serial menu commands
(scan mode, suffix) are answered and take effect, and are recorded in `settings`, unless
the simulator plays a module without them (`menu=False`: it stays silent).
"""

from __future__ import annotations

import collections
import time

from device_drivers.scanner.protocol import (
    ACK,
    ENQ,
    MENU_PREFIX,
    MENU_STORE,
    MODE_COMMANDS,
    NAK,
    SUFFIX_ADD,
    SUFFIX_CLEAR,
    SUFFIXES,
    TRIGGER_OFF,
    TRIGGER_ON,
    suffix_bytes,
)
from device_drivers.sim.pty import PtySimulator


class ScannerSimulator(PtySimulator):
    """`scan(text)` sends one code; in `trigger` mode it waits for the trigger command."""

    def __init__(
        self,
        suffix: str = "CR",
        *,
        link: str | None = None,
        trigger: bool = False,
        trigger_on: bytes = TRIGGER_ON,
        trigger_off: bytes = TRIGGER_OFF,
        menu: bool = True,
    ) -> None:
        super().__init__(link=link)
        self.suffix = suffix_bytes(suffix)
        self.trigger = trigger
        self.trigger_on = trigger_on
        self.trigger_off = trigger_off
        self.triggers = 0  # trigger commands received
        self.menu = menu
        self.settings: dict[str, str] = {}
        self.armed = False
        self._queue: collections.deque[bytes] = collections.deque()
        self._inbox = b""

    def scan(self, text: str, *, encoding: str = "utf-8", split: float | None = None) -> None:
        """Send `text` + suffix. `split=seconds` sends it in two writes with that pause."""
        self.scan_bytes(text.encode(encoding), split=split)

    def scan_bytes(self, raw: bytes, *, split: float | None = None) -> None:
        """Send raw content + suffix (for content that is not valid text)."""
        line = raw + self.suffix
        if self.trigger:
            if not self.armed:  # command mode: wait for the trigger
                self._queue.append(line)
                return
            self.armed = False  # one code per trigger
        self._write(line, split)

    def inject_garbage(self, data: bytes = b"\xff\xfe\x00\x81") -> None:
        """Line noise on the wire (no suffix of its own)."""
        self._write(data, None)

    def _write(self, line: bytes, split: float | None) -> None:
        if self.silent:
            return
        if split is None:
            self.send(line)
            return
        half = max(1, len(line) // 2)
        self.send(line[:half])
        time.sleep(split)
        self.send(line[half:])

    def _menu(self, request: bytes) -> None:
        """Answer one menu request and apply what it sets."""
        names = {cmd: mode for mode, cmd in MODE_COMMANDS.items()}
        tails = {SUFFIX_ADD + tail.hex().upper(): tail for tail in SUFFIXES.values() if tail}
        answers = []
        for command in request.decode("ascii", "replace").split(";"):
            if command in names:
                self.settings["mode"] = names[command]
                self.trigger = names[command] == "trigger"
                answer = ACK
            elif command == SUFFIX_CLEAR:
                self.suffix = b""
                answer = ACK
            elif command in tails:
                self.suffix += tails[command]
                answer = ACK
            elif command.startswith(SUFFIX_ADD):
                answer = NAK
            else:
                answer = ENQ
            answers.append(command.encode("ascii", "replace") + answer)
        self.settings["suffix"] = next(
            (name for name, tail in SUFFIXES.items() if tail == self.suffix), "?"
        )
        self.send(b";".join(answers) + MENU_STORE)

    def on_bytes(self, data: bytes) -> None:
        self._inbox += data
        while (start := self._inbox.find(MENU_PREFIX)) >= 0:
            end = self._inbox.find(MENU_STORE, start)
            if end < 0:
                return  # the rest of the request is still coming
            request = self._inbox[start + len(MENU_PREFIX) : end]
            self._inbox = self._inbox[:start] + self._inbox[end + 1 :]
            if self.menu:
                self._menu(request)
        while True:
            on = self._inbox.find(self.trigger_on)
            off = self._inbox.find(self.trigger_off)
            hits = [(i, cmd) for i, cmd in ((on, "on"), (off, "off")) if i >= 0]
            if not hits:
                break
            index, cmd = min(hits)
            size = len(self.trigger_on if cmd == "on" else self.trigger_off)
            self._inbox = self._inbox[index + size :]
            if cmd == "on":
                self.triggers += 1
                if self._queue:
                    self._write(self._queue.popleft(), None)
                else:
                    self.armed = True
            else:
                self.armed = False
        self._inbox = self._inbox[-8:]
