from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub.app import create_app
from hub.auth import Accounts, SessionAuth
from hub.blobs import BlobStore
from hub.calendar import WorkCalendar
from hub.catalog import load_catalog
from hub.db import migrate
from hub.db.web import WebStore
from hub.service import ApplicationService
from protocols import messages as m
from protocols.examples import example_submit
from protocols.topics import Kind, Topics

PASSWORD = "correct horse 1"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture(scope="session")
def catalog():
    return load_catalog()


@dataclass
class Hub:
    root: Path
    db: Path
    catalog: object
    calendar: WorkCalendar
    topics: Topics
    blobs: BlobStore
    app: object

    def store(self) -> WebStore:
        return WebStore(self.db)

    def client(self) -> TestClient:
        return TestClient(self.app, follow_redirects=False)

    def user(self, username: str, role: str, **scope) -> str:
        store = self.store()
        try:
            Accounts(store).create_user(username, PASSWORD, role, **scope)
        finally:
            store.close()
        return username

    def file(self, station: str = "411381101201", *, counter: int = 1,
             service_code: str | None = None, at: datetime | None = None,
             id_number: str | None = None) -> dict:
        """Receive an application as the MQTT intake would (blobs stored first)."""
        payload, blobs = example_submit(self.catalog, station, counter=counter,
                                        service_code=service_code, id_number=id_number)
        store = self.store()
        try:
            now = at or datetime.now(UTC)
            with store.transaction():
                for sha, data in blobs.items():
                    self.blobs.put(sha, data)
                    store.insert_blob(sha, len(data), "image/jpeg", station, now.isoformat())
                env = m.decode(Kind.SUBMIT, payload)
                ApplicationService(store, self.catalog, self.calendar, self.topics).receive(
                    station, env, now)
            return store.application(str(env.id))
        finally:
            store.close()


@pytest.fixture
def hub(tmp_path, catalog) -> Hub:
    db = tmp_path / "hub.db"
    migrate(db)
    calendar = WorkCalendar.load()
    topics = Topics()
    blobs = BlobStore(tmp_path / "blobs")
    app = create_app(db_path=db, catalog=catalog, calendar=calendar, topics=topics,
                     authenticate=SessionAuth(db), blobs=blobs)
    return Hub(tmp_path, db, catalog, calendar, topics, blobs, app)


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "page has no CSRF field"
    return found.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD):
    page = client.get("/login")
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf": csrf_of(page.text)})


def logged_in(hub: Hub, username: str) -> TestClient:
    client = hub.client()
    response = login(client, username)
    assert response.status_code == 303, response.text
    return client


