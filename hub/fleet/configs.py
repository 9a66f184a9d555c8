"""Desired configurations: validated, versioned, signed, and published retained on
`station/{sid}/config` through the hub's transactional `outgoing` table (the row and the
message are written in one transaction, so a crash delays the message, never loses it)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

from firmware_config import KioskConfig, parse_config
from firmware_config.signing import (
    Ed25519PrivateKey,
    canonical,
    load_private_key,
    sign_catalog,
    sign_config,
)
from hub.db.fleet import FleetStore
from hub.fleet.pki import PkiPaths
from hub.fleet.registry import FleetError
from protocols.catalog import Catalog, CatalogSnapshot
from protocols.messages import ConfigDesired, encode
from protocols.topics import Kind, Topics

logger = logging.getLogger(__name__)


def config_data(config: KioskConfig) -> dict:
    """The JSON form that is signed and sent (defaults written out, so the kiosk applies
    exactly what the hub validated)."""
    return json.loads(canonical(config.model_dump(mode="json")))


def push_config(
    store: FleetStore,
    key: Ed25519PrivateKey,
    topics: Topics,
    sid: str,
    raw: dict,
    *,
    catalog=None,
    by: str = "",
    now: datetime | None = None,
) -> ConfigDesired:
    """Validate `raw` for station `sid`, sign it as the next version and queue it."""
    config = parse_config(raw, catalog=catalog)
    if config.station.id != sid:
        raise FleetError(f"配置里的 station.id 是 {config.station.id}，不是站点 {sid}")
    data = config_data(config)
    at = (now or datetime.now(UTC)).isoformat()
    with store.transaction() as tx:
        row = tx.fleet_station(sid)
        if row is None or row["revoked_at"]:
            raise FleetError(f"站点 {sid} 没有登记或已吊销")
        latest = tx.latest_config(sid)
        version = (latest["version"] if latest else 0) + 1
        desired = sign_config(key, sid, version, data)
        tx.insert_config(
            {
                "sid": sid,
                "version": version,
                "config": canonical(data).decode(),
                "signature": desired.signature,
                "key_id": desired.key_id,
                "created_at": at,
                "created_by": by,
            }
        )
        tx.queue_outgoing(topics.station(Kind.CONFIG, sid), encode(desired), retain=True, at=at)
    return desired


def current_config(store: FleetStore, sid: str) -> ConfigDesired | None:
    row = store.latest_config(sid)
    if row is None:
        return None
    return ConfigDesired(
        version=row["version"],
        config=json.loads(row["config"]),
        signature=row["signature"],
        key_id=row["key_id"],
    )


def catalog_payload(catalog: Catalog, data_dir: Path | str) -> bytes:
    """The retained `cunban/catalog` payload, signed with the county's key when the hub's
    data directory has one (`cunban pki init`). Without it the snapshot goes unsigned, and
    every enrolled kiosk refuses it: that is only for demonstrations."""
    snapshot = CatalogSnapshot.from_catalog(catalog)
    key_file = PkiPaths.of(data_dir).signing_key
    if key_file.exists():
        snapshot = sign_catalog(load_private_key(key_file), snapshot)
    else:
        logger.warning("no signing key at %s: the catalog goes out unsigned and enrolled "
                       "kiosks will refuse it (run cunban pki init)", key_file)
    return encode(snapshot)
