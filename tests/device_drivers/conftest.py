"""Shared helpers for driver tests: a place for stable port links and a polling wait."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest


@pytest.fixture
def port_link(tmp_path):
    """A path where a simulator may keep a stable symlink to its current pty."""
    return str(tmp_path / "ttyDEVICE")


def wait_until(predicate: Callable[[], bool], timeout: float = 3.0, step: float = 0.02) -> bool:
    """Poll `predicate` until it is true or `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
