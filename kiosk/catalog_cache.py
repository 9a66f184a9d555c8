"""The service catalog at the station: the hub's retained `cunban/catalog` message, cached
in the kiosk's data directory so applications can be filed while the link is down."""

from __future__ import annotations

from pathlib import Path

from protocols import messages as m
from protocols.catalog import Catalog
from protocols.topics import Kind

CACHE_NAME = "catalog.json"


def cache_catalog(payload: bytes, data_dir: Path) -> Catalog:
    """Check a received catalog payload and keep it (atomically) as the offline copy."""
    catalog = m.decode(Kind.CATALOG, payload).data.to_catalog()
    cache = Path(data_dir) / CACHE_NAME
    tmp = cache.with_suffix(".tmp")
    tmp.write_bytes(payload)
    tmp.replace(cache)
    return catalog


def cached_catalog(data_dir: Path) -> Catalog | None:
    """The last catalog this kiosk received, or None before the first one."""
    cache = Path(data_dir) / CACHE_NAME
    if not cache.exists():
        return None
    return m.decode(Kind.CATALOG, cache.read_bytes()).data.to_catalog()


def load_catalog(uploader, data_dir: Path, wait: float) -> Catalog | None:
    """The catalog the hub publishes (waiting up to `wait` seconds), else the cached one."""
    if uploader.catalog_received.wait(wait) and uploader.catalog_payload:
        return cache_catalog(uploader.catalog_payload, data_dir)
    return cached_catalog(data_dir)
