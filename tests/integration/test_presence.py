"""Availability: the Last Will says `offline` on a crash, a clean exit says `stopped`."""

from __future__ import annotations

from protocols import messages as m
from protocols.topics import Kind
from tests.support import HubProcess, Listener


def _states(got):
    return [m.decode(Kind.HUB_STATUS, p).data.state for _, p in got]


def test_the_hub_is_offline_after_a_crash_and_stopped_after_a_clean_exit(tmp_path, broker):
    hub = HubProcess(tmp_path / "hub", broker.url).start()
    with Listener(broker.url, ["cunban/hub/status"]) as watcher:
        assert _states(watcher.collect(lambda g: g)) == [m.Availability.ONLINE]
        hub.kill9()
        assert _states(watcher.collect(lambda g: g)) == [m.Availability.OFFLINE]
        hub.start()
        assert _states(watcher.collect(lambda g: g)) == [m.Availability.ONLINE]
        hub.stop()
        assert _states(watcher.collect(lambda g: g)) == [m.Availability.STOPPED]


def test_small_messages_leave_at_once_on_both_sides_of_the_broker(broker):
    """Nagle's algorithm would hold an ack behind the peer's delayed ACK (40 ms): the
    project's clients and its broker configuration both switch it off."""
    import socket

    from protocols.mqtt import MqttEndpoint, unique_client_id

    endpoint = MqttEndpoint(broker.url, unique_client_id("nodelay")).start()
    try:
        assert endpoint.wait_connected(10)
        sock = endpoint.client.socket()
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        endpoint.stop()
    assert "set_tcp_nodelay true" in broker.conf.read_text().splitlines()
