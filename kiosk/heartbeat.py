"""Heartbeats: the station's status republished every `interval` seconds.

The hub decides online → late → offline from these, not from MQTT keep-alives (a kiosk
whose process hangs can keep its connection alive for a long time). The status carries the
software and applied configuration version, the outbox backlog and the free space on the
data disk (`disk_free_mb`); the envelope's timestamp lets the hub measure the kiosk's
clock skew.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable

from protocols import messages as m
from protocols.mqtt import MqttEndpoint
from protocols.topics import Kind, Topics

logger = logging.getLogger(__name__)


def disk_free_mb(path) -> int | None:
    """Free space (MiB) on the disk holding `path`, for the heartbeat; None if unknown."""
    try:
        return shutil.disk_usage(path).free // (1024 * 1024)
    except OSError:
        return None


class Heartbeat:
    def __init__(
        self,
        endpoint: MqttEndpoint,
        sid: str,
        status: Callable[[], m.StationStatus],
        *,
        interval: float = 30.0,
        topics: Topics | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.topic = (topics or Topics()).station(Kind.STATION_STATUS, sid)
        self.status = status
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kiosk-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def beat(self) -> bool:
        """Publish one heartbeat now; False when not connected."""
        if not self.endpoint.connected.is_set():
            return False
        return self.endpoint.publish(self.topic, m.encode(self.status()), qos=1, retain=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.beat()
            except Exception:  # the loop must outlive one bad beat
                logger.exception("heartbeat failed; continuing")
