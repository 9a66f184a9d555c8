"""The kiosk outbox is one SQLite connection shared by the uploader and the screens: a
screen reading while the uploader writes must not break either."""

from __future__ import annotations

import json
import threading
import time

from hub.catalog import load_catalog
from kiosk.outbox import Outbox
from protocols.examples import example_submit

SID = "411381101201"


def test_screens_reading_while_the_uploader_writes_never_collide(tmp_path):
    outbox = Outbox(tmp_path, SID)
    payload, blobs = example_submit(load_catalog(), SID)
    data = json.loads(payload)["data"]
    filed = outbox.file({k: data[k] for k in ("service_code", "catalog_version", "applicant",
                                              "category", "form", "materials")},
                        list(blobs.values()))
    app_id = str(filed.application_id)
    errors: list[BaseException] = []
    stop = threading.Event()

    def uploader() -> None:  # what the uploader does after every send
        while not stop.is_set():
            try:
                outbox.attempted(app_id)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                return

    def screen() -> None:  # what the station's screens read
        while not stop.is_set():
            try:
                outbox.receipt(app_id)
                outbox.waiting()
                outbox.receipts()
                outbox.statuses(app_id)
                outbox.invalid()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                return

    threads = [threading.Thread(target=uploader), threading.Thread(target=screen)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    stop.set()
    for t in threads:
        t.join(10)
    assert not errors, errors[0]
    [row] = outbox.waiting()
    assert row["attempts"] > 0
