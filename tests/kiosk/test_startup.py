"""Start-up does not wait for the hub's catalog: a kiosk started before the hub has
published one opens on the welcome screen, and the services can be chosen as soon as the
retained catalog arrives, even if it came while the kiosk was still starting."""

from __future__ import annotations

import queue
import time

from firmware_config import KioskConfig
from hub.catalog import load_catalog
from hub.fleet.configs import catalog_payload
from kiosk.bootstrap import build_kiosk
from kiosk.flow.machine import Screen
from protocols.topics import Topics
from tests.kiosk.test_flow import ITEM, SID, Driver, read
from tests.support import Listener


def test_a_kiosk_opens_without_the_catalog_and_offers_the_services_once_it_arrives(
        tmp_path, own_broker):
    config = KioskConfig.model_validate({
        "station": {"id": SID, "name": "前营村"}, "hub": {"url": "http://127.0.0.1"},
        "broker": {"url": own_broker.url}, "devices": {}, "ui": {"voice": False}})
    events: queue.Queue = queue.Queue()
    kiosk = build_kiosk(config, events.put, data_dir=tmp_path / "kiosk")
    try:
        k = Driver(kiosk.flow)
        assert (k.flow.screen, k.flow.catalog) == (Screen.WELCOME, None)
        k.tap("file")
        k(read(0))
        assert k.flow.screen == Screen.CHOOSE and k.flow.items() == []

        catalog = load_catalog()
        with Listener(own_broker.url, []) as hub:
            assert hub.endpoint.publish(Topics().catalog(), catalog_payload(catalog, tmp_path),
                                        qos=1, retain=True)
        # The catalog may reach the kiosk before its runtime starts: it is news all the same.
        assert kiosk.uploader.catalog_received.wait(20)
        kiosk.runtime.start()
        deadline = time.monotonic() + 20
        while k.flow.catalog is None:
            k(events.get(timeout=max(0.1, deadline - time.monotonic())))
        assert k.flow.catalog.hash == catalog.hash
        k.tap("group", "老龄")
        assert ITEM in [item.code for item in k.flow.items()]
        k.tap("item", ITEM)
        assert k.flow.screen == Screen.ITEM and k.flow.item().code == ITEM
    finally:
        kiosk.close()
