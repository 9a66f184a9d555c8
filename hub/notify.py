"""SMS to applicants: a notifier interface, a spool-file notifier, and the dispatcher.

The `sms` table is the outbox: rows are written in the same transaction as the state change
they announce, and the dispatcher sends them through a `Notifier` (the GSM modem driver, an
HTTP gateway, or the spool file) with retries and backoff, counting every attempt.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from hub.db.repositories import Store
from protocols.identity import mask_phone

logger = logging.getLogger(__name__)
MARK_EVERY = 0.5  # seconds a sent SMS may wait to be marked sent


class Notifier(Protocol):
    def send(self, to: str, text: str) -> None:
        """Deliver one SMS (split by the transport if long); raise on failure."""
        ...


class SpoolNotifier:
    """Appends each SMS as one JSON line to a spool file (mode 0600) that a gateway picks up.

    Used where no modem is attached (demos, tests, a county that uses an SMS platform
    reading the spool).
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def send(self, to: str, text: str) -> None:
        line = json.dumps({"to": to, "text": text, "at": datetime.now(UTC).isoformat()},
                          ensure_ascii=False)
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
                fh.flush()
                os.fsync(fh.fileno())

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(x) for x in self.path.read_text(encoding="utf-8").splitlines() if x]


class SmsDispatcher:
    """Sends due SMS rows; failures are retried with exponential backoff (30 s … 1 h)."""

    def __init__(self, store: Store, notifier: Notifier, *, interval: float = 0.5):
        self.store = store
        self.notifier = notifier
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hub-sms", daemon=True)

    def start(self) -> SmsDispatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def run_once(self) -> int:
        """Send what is due; returns how many were sent.

        Sent rows are marked together, at most `MARK_EVERY` seconds after their sending:
        one transaction, not one per SMS — at an intake peak those commits would queue
        with the hub's intake for the write lock. A crash in that window sends those few
        again; none is lost.
        """
        now = datetime.now(UTC)
        sent: list[int] = []
        total = 0
        marked = time.monotonic()
        try:
            for row in self.store.due_sms(now.isoformat()):
                if self._send(row, now):
                    sent.append(row["id"])
                    total += 1
                if sent and time.monotonic() - marked > MARK_EVERY:
                    self._mark(sent)
                    marked = time.monotonic()
        finally:
            self._mark(sent)
        return total

    def _send(self, row: dict, now: datetime) -> bool:
        try:
            self.notifier.send(row["phone"], row["text"])
        except Exception as exc:
            delay = min(3600, 30 * 2 ** min(row["attempts"], 7))
            retry = (now + timedelta(seconds=delay)).isoformat()
            message = getattr(exc, "message", None) or str(exc)
            logger.warning("SMS to %s failed (attempt %d): %s", mask_phone(row["phone"]),
                           row["attempts"] + 1, message)
            with self.store.transaction():
                self.store.sms_failed(row["id"], message, retry)
            return False
        return True

    def _mark(self, ids: list[int]) -> None:
        if ids:
            with self.store.transaction():
                self.store.sms_sent_many(ids, datetime.now(UTC).isoformat())
            ids.clear()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:
                logger.exception("SMS dispatcher error; retrying")
            self._stop.wait(self.interval)
