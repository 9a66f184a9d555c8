"""A valid example of every message, for `cunban protocol example` and docs/protocol.md.

The `application.submit` example is built against a real catalog (passed in), so a
running hub accepts it: a real item, every required material present as a small JPEG whose
bytes are returned alongside (`blobs`), a GB 11643-valid ID number.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from protocols import messages as m
from protocols.catalog import Catalog, CatalogSnapshot
from protocols.identity import check_character

EXAMPLE_TIME = datetime(2026, 11, 27, 2, 30, tzinfo=UTC)


def example_id_number(region: str = "411381", born: date = date(1956, 3, 8),
                      sequence: int = 2) -> str:
    """A syntactically valid, fictional resident ID number (GB 11643)."""
    first17 = f"{region}{born:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)


def example_page(text: str) -> bytes:
    """A small but real JPEG standing in for a photographed page."""
    import cv2
    import numpy as np

    page = np.full((420, 300, 3), 250, np.uint8)
    cv2.rectangle(page, (20, 20), (280, 400), (40, 40, 40), 2)
    for i, y in enumerate(range(60, 380, 28)):
        cv2.line(page, (40, y), (260 - (i * 13) % 90, y), (60, 60, 60), 3)
    cv2.putText(page, text[:18], (36, 48), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
    ok, buf = cv2.imencode(".jpg", page, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise RuntimeError("could not encode the example page")
    return buf.tobytes()


def example_submit(catalog: Catalog, station: str, *, counter: int = 1,
                   service_code: str | None = None,
                   application_id: uuid.UUID | None = None,
                   id_number: str | None = None,
                   phone: str = "13800138000") -> tuple[bytes, dict[str, bytes]]:
    """An `application.submit` payload and the blobs it names (sha256 → bytes)."""
    items = [i for i in catalog.items if i.status == "active"]
    item = (catalog.item(service_code) if service_code
            else next(i for i in items if not i.categories and not
                      any(f.required for f in i.form)))
    category = item.categories[0].code if item.categories else None
    blobs: dict[str, bytes] = {}
    refs = []
    for material in catalog.required_materials(item.code, category):
        if material.from_id_card:
            continue
        data = example_page(f"{item.code} {material.code} {counter}")
        sha = hashlib.sha256(data).hexdigest()
        blobs[sha] = data
        refs.append(m.MaterialRef(code=material.code, sha256=sha, mime="image/jpeg"))
    form = {f.key: (f.options[0] if f.type == "choice" else "示例") for f in item.form
            if f.required}
    submit = m.ApplicationSubmit(
        service_code=item.code, catalog_version=catalog.version,
        receipt_number=f"{station}-{counter}", filed_at=EXAMPLE_TIME,
        applicant=m.Applicant(id_number=id_number or example_id_number(), name="李秀英",
                              gender="2", nation="汉", birth_date=date(1956, 3, 8),
                              address="河南省邓州市穰东镇穰西社区", phone=phone),
        category=category, form=form, materials=refs,
    )
    payload = m.encode(submit, message_id=application_id or m.new_application_id(), ts=EXAMPLE_TIME)
    return payload, blobs


def _data_examples(catalog: Catalog | None, station: str) -> dict[str, Callable[[], object]]:
    app_id = uuid.UUID("6f1c2a4e-8d3b-4c5a-9e7f-0a1b2c3d4e5f")
    return {
        "hub.status": lambda: m.HubStatus(state=m.Availability.ONLINE, software="cunban-hub"),
        "catalog": lambda: CatalogSnapshot.from_catalog(catalog),
        "station.status": lambda: m.StationStatus(state=m.Availability.ONLINE,
                                                  software="cunban-kiosk", config_version=3,
                                                  outbox_pending=0),
        "device.state": lambda: m.DeviceState(state="warning", code="paper_near_end",
                                              message="打印纸快用完了，请准备更换"),
        "application.ack": lambda: m.ApplicationAcks(acks=[m.ApplicationAck(
            application_id=app_id, result=m.AckResult.STORED,
            case_number="XK000120004113812026112700001", receipt_number=f"{station}-1")]),
        "application.status": lambda: m.ApplicationStatus(
            application_id=app_id, case_number="XK000120004113812026112700001", seq=3,
            code=6, label="补正（开始）", at=EXAMPLE_TIME, note="户口簿复印件不清晰",
            materials=["户口簿复印件"], deadline=date(2026, 12, 11)),
        "config": lambda: m.ConfigDesired(version=3, config={"station": {"id": station}},
                                          signature="BASE64-ED25519-SIGNATURE", key_id="hub-1"),
        "config.state": lambda: m.ConfigReported(version=3, state="applied"),
        "request": lambda: m.Request(params={"application_ids": [str(app_id)]}),
        "response": lambda: m.Response(
            request_id=uuid.UUID("0d4c6a1e-2f3b-4a5c-8d7e-9f0a1b2c3d4e"), status="ok",
            data={"applications": [], "unknown": [str(app_id)]}),
    }


EXAMPLES = ("hub.status", "catalog", "station.status", "device.state", "application.submit",
            "application.ack", "application.status", "config", "config.state", "request",
            "response")


def example(name: str, *, catalog: Catalog, station: str = "411381101201",
            blobs_dir: Path | str | None = None, fixed_id: bool = False) -> bytes:
    """The example payload for a message name; raises KeyError for an unknown name.

    A submit example gets a fresh application id unless `fixed_id` (for documentation).
    """
    if name == "application.submit":
        app_id = uuid.UUID(int=EXAMPLES.index(name) + 1) if fixed_id else None
        payload, blobs = example_submit(catalog, station, application_id=app_id)
        if blobs_dir:
            out = Path(blobs_dir)
            out.mkdir(parents=True, exist_ok=True)
            for sha, data in blobs.items():
                (out / f"{sha}.jpg").write_bytes(data)
        return payload
    data = _data_examples(catalog, station)[name]()
    return m.encode(data, message_id=uuid.UUID(int=EXAMPLES.index(name) + 1), ts=EXAMPLE_TIME)
