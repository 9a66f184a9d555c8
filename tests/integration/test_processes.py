"""The test and bench harness's hub process copes with a port taken under it."""

from __future__ import annotations

import socket

from tests.support import HubProcess


def test_a_hub_whose_http_port_was_taken_meanwhile_starts_on_another(tmp_path, broker):
    hub = HubProcess(tmp_path / "hub", broker.url)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        hub.http_port = taken.getsockname()[1]  # as if another process bound it just now
        hub.start()
        assert hub.http_port != taken.getsockname()[1]
        assert "address already in use" in hub.log_since(0)
    finally:
        hub.stop()
        taken.close()
