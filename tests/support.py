"""Real parts for tests: a Mosquitto on a free port, a hub process, an MQTT listener."""

from __future__ import annotations

import contextlib
import queue
import time

from cunban.processes import ROOT, Broker, HubProcess, free_port, wait_port
from protocols.mqtt import MqttEndpoint, unique_client_id

__all__ = ["ROOT", "Broker", "HubProcess", "Listener", "free_port", "wait_port"]


class Listener:
    """A plain MQTT client collecting what arrives on some topics."""

    def __init__(self, url: str, topics: list[str], *, client_id: str | None = None):
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.endpoint = MqttEndpoint(
            url, client_id or unique_client_id("test"), subscriptions=[(t, 1) for t in topics],
            on_message=lambda msg: self.messages.put((msg.topic, bytes(msg.payload))),
            persistent_session=client_id is not None)

    def __enter__(self) -> Listener:
        self.endpoint.start()
        assert self.endpoint.wait_connected(10), "listener could not connect"
        time.sleep(0.2)  # let the SUBACK land before the test publishes
        return self

    def __exit__(self, *exc) -> None:
        self.endpoint.stop()

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        deadline = time.monotonic() + 10
        while not self.endpoint.publish(topic, payload, qos=qos):
            if time.monotonic() > deadline:
                raise TimeoutError("could not publish")
            time.sleep(0.05)

    def collect(self, until, timeout: float = 20.0) -> list[tuple[str, bytes]]:
        """Gather messages until `until(collected)` is true or the timeout passes."""
        got: list[tuple[str, bytes]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not until(got):
            with contextlib.suppress(queue.Empty):
                got.append(self.messages.get(timeout=0.1))
        return got
