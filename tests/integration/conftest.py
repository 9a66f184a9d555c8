from __future__ import annotations

import pytest

from hub.catalog import load_catalog
from tests.support import HubProcess


@pytest.fixture(scope="session")
def catalog():
    return load_catalog()


@pytest.fixture
def hub(tmp_path, broker):
    h = HubProcess(tmp_path / "hub", broker.url).start()
    yield h
    h.stop()
