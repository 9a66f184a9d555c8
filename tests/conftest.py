from __future__ import annotations

import pytest

from tests.support import Broker


@pytest.fixture(scope="session")
def broker(tmp_path_factory) -> Broker:
    """The session's own Mosquitto on a free port (never the system one)."""
    b = Broker(tmp_path_factory.mktemp("broker")).start()
    yield b
    b.stop()


@pytest.fixture
def own_broker(tmp_path) -> Broker:
    """A broker for one test that kills or restarts it."""
    b = Broker(tmp_path / "broker").start()
    yield b
    b.kill()
