"""Notes in each station's history when its heartbeats turn late or stop, and logs it.

Availability itself is computed whenever it is asked for (`hub.fleet.health`); this loop
only records the transitions nobody reports — a station that falls silent sends nothing —
so a station's history reads online → late → offline → online with times.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from hub.db.fleet import FleetStore
from hub.fleet.health import Thresholds, station_view

logger = logging.getLogger(__name__)

SILENT = ("late", "offline")


class FleetMonitor:
    def __init__(
        self,
        store: FleetStore,
        *,
        limits: Thresholds | None = None,
        check_interval: float = 5.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.limits = limits or Thresholds()
        self.check_interval = check_interval
        self.clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hub-fleet", daemon=True)

    def start(self) -> FleetMonitor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def check(self) -> list[tuple[str, str]]:
        """Record every station that turned late or offline since the last check.

        The whole fleet is judged from one read outside any transaction, so the write lock
        (which the intake's commits wait for) is held only to append the changes; a
        station heard from in between is left alone.
        """
        now = self.clock()
        due = []
        for row in self.store.availability_facts():
            now_is = station_view(row, [], now, self.limits)["availability"]
            if now_is in SILENT and row["recorded"] != now_is:
                due.append(
                    (
                        row["sid"],
                        row["last_seen"],
                        now_is,
                        f"最后心跳 {row['heartbeat_at'] or row['last_seen']}",
                    )
                )
        changed = []
        if due:
            with self.store.transaction() as tx:
                changed = [
                    (sid, now_is)
                    for sid, heard, now_is, detail in due
                    if tx.note_silence(sid, heard, now.isoformat(), now_is, detail)
                ]
        for sid, state in changed:
            logger.warning("station %s is %s (no heartbeat)", sid, state)
        return changed

    def _run(self) -> None:
        while not self._stop.wait(self.check_interval):
            try:
                self.check()
            except Exception:  # the loop must outlive a bad check (disk full, locked)
                logger.exception("fleet check failed; continuing")
