"""The service catalog at the station: the hub's retained `cunban/catalog` message, cached
in the kiosk's data directory so applications can be filed while the link is down.

An enrolled kiosk holds the county's signing key (`signing.pub`, from enrolment) and takes
a snapshot only if it is signed with that key and its content matches its hash; anything
else is refused and the last good copy stays in use. A kiosk with no key (a training or
demonstration kiosk that was never enrolled, so it cannot log in to a county broker
either) takes any snapshot whose content matches its hash.
"""

from __future__ import annotations

import logging
from pathlib import Path

from firmware_config.signing import (
    Ed25519PublicKey,
    SignatureError,
    load_public_key,
    verify_catalog,
)
from protocols import messages as m
from protocols.catalog import Catalog, CatalogError
from protocols.topics import Kind

logger = logging.getLogger(__name__)

CACHE_NAME = "catalog.json"
KEY_NAME = "signing.pub"


class CatalogRefused(m.MessageError):
    """A catalog snapshot that is unsigned, wrongly signed, or does not match its hash."""

    def __init__(self, reason: str):
        super().__init__([m.FieldError(field="catalog", reason=reason)])
        self.reason = reason


def station_key(data_dir: Path) -> Ed25519PublicKey | None:
    """The county's signing key stored at enrolment in the kiosk's data directory."""
    path = Path(data_dir) / KEY_NAME
    return load_public_key(path) if path.exists() else None


def checked_catalog(payload: bytes, key: Ed25519PublicKey | None) -> Catalog:
    """The catalog a `cunban/catalog` payload carries, after its signature (when the kiosk
    has a key) and its hash are checked; raises `CatalogRefused` (a `MessageError`)."""
    snapshot = m.decode(Kind.CATALOG, payload).data
    try:
        if key is not None:
            verify_catalog(key, snapshot)
        return snapshot.to_catalog()
    except SignatureError as exc:
        raise CatalogRefused(str(exc)) from None
    except CatalogError as exc:
        raise CatalogRefused("；".join(exc.problems)) from None


def cache_catalog(payload: bytes, data_dir: Path, key: Ed25519PublicKey | None = None) -> Catalog:
    """Check a received catalog payload and keep it (atomically) as the offline copy.

    `key` defaults to the one stored at enrolment. A refused payload raises
    `CatalogRefused` and leaves the cached copy as it was."""
    catalog = checked_catalog(payload, key if key is not None else station_key(data_dir))
    cache = Path(data_dir) / CACHE_NAME
    tmp = cache.with_suffix(".tmp")
    tmp.write_bytes(payload)
    tmp.replace(cache)
    return catalog


def cached_catalog(data_dir: Path, key: Ed25519PublicKey | None = None) -> Catalog | None:
    """The last good catalog this kiosk received, or None before the first one (or if the
    file on disk no longer passes the checks it passed when it was stored)."""
    cache = Path(data_dir) / CACHE_NAME
    if not cache.exists():
        return None
    try:
        return checked_catalog(
            cache.read_bytes(), key if key is not None else station_key(data_dir)
        )
    except m.MessageError as exc:
        logger.error("cached catalog %s refused: %s", cache, exc)
        return None


def load_catalog(
    uploader, data_dir: Path, wait: float, key: Ed25519PublicKey | None = None
) -> Catalog | None:
    """The catalog the hub publishes (waiting up to `wait` seconds), else the cached one."""
    if uploader.catalog_received.wait(wait) and uploader.catalog_payload:
        try:
            return cache_catalog(uploader.catalog_payload, data_dir, key)
        except m.MessageError as exc:
            logger.error("catalog from the hub refused, keeping the last good one: %s", exc)
    return cached_catalog(data_dir, key)
