"""Schemathesis against the hub's `/openapi.json`: no request makes the hub fail (5xx)."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import schemathesis
from hypothesis import settings
from schemathesis.checks import not_a_server_error

from hub.app import create_app
from hub.auth import TokenAuth
from hub.calendar import WorkCalendar
from hub.catalog import load_catalog
from hub.db.repositories import Store
from hub.service import ApplicationService
from protocols import messages as m
from protocols.examples import example_submit
from protocols.topics import Kind, Topics

SID = "411381101201"


def _hub_app():
    """A hub app over a fresh database holding one application, and an officer's token."""
    tmp = Path(tempfile.mkdtemp(prefix="cunban-openapi-"))
    store = Store.open(tmp / "hub.db")
    catalog = load_catalog()
    payload, blobs = example_submit(catalog, SID)
    now = datetime.now(UTC)
    with store.transaction():
        for sha, data in blobs.items():
            store.insert_blob(sha, len(data), "image/jpeg", SID, now.isoformat())
        ack = ApplicationService(store, catalog, WorkCalendar.load(), Topics()).receive(
            SID, m.decode(Kind.SUBMIT, payload), now)
    department = store.application(str(ack.application_id))["department"]
    store.close()
    auth = TokenAuth(tmp / "tokens.json")
    token = auth.issue("王科员", "officer", department)
    app = create_app(db_path=tmp / "hub.db", catalog=catalog, calendar=WorkCalendar.load(),
                     topics=Topics(), authenticate=auth, broker_connected=lambda: True)
    return app, token


# Built at collection: schemathesis makes one test per operation from the schema.
APP, TOKEN = _hub_app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=15, deadline=None)
def test_no_generated_request_makes_the_hub_fail(case):
    case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"},
                           checks=[not_a_server_error])
