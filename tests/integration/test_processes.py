"""The test and bench harness's hub process copes with a port taken under it."""

from __future__ import annotations

import re
import socket
import time

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


def test_the_hub_and_its_link_leave_their_start_up_objects_out_of_collection(tmp_path, broker):
    hub = HubProcess(tmp_path / "hub", broker.url).start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = dict(re.findall(r"(hub|link): (\d+) objects made at start left out",
                                    hub.log_since(0)))
            if len(found) == 2:
                break
            time.sleep(0.1)
    finally:
        hub.stop()
    assert set(found) == {"hub", "link"}, hub.log_since(0)[-2000:]
    # the hub has its catalog, schemas and web routes; the link its client and catalog
    assert int(found["hub"]) > 50_000 and int(found["link"]) > 20_000, found
