from __future__ import annotations

import pytest

from tests.support import HubProcess


@pytest.fixture
def hub(tmp_path, broker):
    h = HubProcess(tmp_path / "hub", broker.url).start()
    yield h
    h.stop()
