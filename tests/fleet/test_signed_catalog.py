"""The retained catalog is signed with the county's key; an enrolled kiosk takes only a
snapshot signed with it whose content matches its hash, and otherwise keeps the last good
one."""

from __future__ import annotations

import json
import shutil
import threading

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firmware_config.signing import load_private_key, sign_catalog, sign_config
from hub.catalog import load_catalog as load_hub_catalog
from hub.fleet.configs import catalog_payload
from hub.fleet.pki import PkiPaths, init_pki
from kiosk.catalog_cache import (
    CatalogRefused,
    cache_catalog,
    cached_catalog,
    checked_catalog,
    load_catalog,
)
from protocols import messages as m
from protocols.catalog import CatalogSnapshot
from tests.fleet.conftest import Client
from tests.support import HubProcess

SID = "411381101201"


@pytest.fixture(scope="module")
def catalog():
    return load_hub_catalog()


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    """A hub data directory with the county's PKI, as `cunban pki init` makes it."""
    data = tmp_path_factory.mktemp("hub")
    init_pki(data)
    return data


@pytest.fixture
def station(county, tmp_path):
    """A kiosk data directory holding the signing key as enrolment stores it."""
    shutil.copy(PkiPaths.of(county).signing_pub, tmp_path / "signing.pub")
    return tmp_path


def signed(catalog, county) -> bytes:
    return catalog_payload(catalog, county)


def resealed(payload: bytes, change) -> bytes:
    """`payload` with its snapshot data changed by `change(dict)`, envelope kept."""
    env = json.loads(payload)
    change(env["data"])
    return json.dumps(env, ensure_ascii=False).encode()


def test_the_hub_signs_the_snapshot_with_the_county_key(catalog, county, station):
    snapshot = m.decode(m.Kind.CATALOG, signed(catalog, county)).data
    assert snapshot.signature and snapshot.key_id
    assert cache_catalog(signed(catalog, county), station).hash == catalog.hash
    assert cached_catalog(station).hash == catalog.hash


def test_an_enrolled_kiosk_refuses_an_unsigned_snapshot(catalog, station):
    unsigned = m.encode(CatalogSnapshot.from_catalog(catalog))
    with pytest.raises(CatalogRefused, match="没有签名"):
        cache_catalog(unsigned, station)
    assert cached_catalog(station) is None


def test_changed_content_under_a_valid_signature_is_refused(catalog, county, station):
    def rename(data):
        data["items"][0]["name"] += "（改）"

    with pytest.raises(CatalogRefused, match="哈希不符"):
        cache_catalog(resealed(signed(catalog, county), rename), station)


def test_changed_content_with_a_recomputed_hash_fails_the_signature(catalog, county, station):
    forged = catalog.model_copy(update={"groups": list(reversed(catalog.groups))})
    assert forged.hash != catalog.hash

    def rehash(data):
        data["groups"] = forged.groups
        data["hash"] = forged.hash

    with pytest.raises(CatalogRefused, match="签名不对"):
        cache_catalog(resealed(signed(catalog, county), rehash), station)


def test_a_snapshot_signed_by_another_key_is_refused(catalog, station):
    other = sign_catalog(Ed25519PrivateKey.generate(), CatalogSnapshot.from_catalog(catalog))
    with pytest.raises(CatalogRefused, match="签名不对"):
        cache_catalog(m.encode(other), station)


def test_a_configuration_signature_cannot_be_passed_off_as_a_catalog_one(catalog, county,
                                                                        station):
    key = load_private_key(PkiPaths.of(county).signing_key)
    snapshot = CatalogSnapshot.from_catalog(catalog)
    desired = sign_config(key, SID, 1, {"version": snapshot.version, "hash": snapshot.hash})
    borrowed = snapshot.model_copy(update={"signature": desired.signature,
                                           "key_id": desired.key_id})
    with pytest.raises(CatalogRefused, match="签名不对"):
        cache_catalog(m.encode(borrowed), station)


def test_a_refused_snapshot_leaves_the_last_good_one_in_use(catalog, county, station):
    cache_catalog(signed(catalog, county), station)
    year, month, n = catalog.version.split(".")
    newer = catalog.model_copy(update={"version": f"{year}.{month}.{int(n) + 1}"})
    unsigned = m.encode(CatalogSnapshot.from_catalog(newer))

    class Received:  # what the uploader exposes: the retained payload and an event
        catalog_received = threading.Event()
        catalog_payload = unsigned

    Received.catalog_received.set()
    kept = load_catalog(Received, station, wait=0)
    assert kept is not None and kept.version == catalog.version
    assert cached_catalog(station).version == catalog.version


def test_a_tampered_cache_file_is_not_used(catalog, county, station):
    cache_catalog(signed(catalog, county), station)
    cache = station / "catalog.json"
    cache.write_bytes(resealed(cache.read_bytes(), lambda d: d.update(signature=None)))
    assert cached_catalog(station) is None


def test_a_kiosk_never_enrolled_takes_an_unsigned_snapshot_but_still_checks_the_hash(
        catalog, tmp_path):
    unsigned = m.encode(CatalogSnapshot.from_catalog(catalog))
    assert checked_catalog(unsigned, None).hash == catalog.hash
    with pytest.raises(CatalogRefused, match="哈希不符"):
        cache_catalog(resealed(unsigned, lambda d: d["items"][0].update(name="改")), tmp_path)


def test_a_station_receives_the_signed_catalog_from_a_running_hub(deployment, station,
                                                                  catalog):
    """The hub process signs what it publishes; the station reads it over TLS with its own
    broker account and the key from enrolment accepts it."""
    hub = HubProcess(deployment.data, f"mqtt://127.0.0.1:{deployment.port}", extra=[
        "--mqtt-credentials", str(deployment.out / "hub-credentials.json")]).start()
    creds = deployment.stations[SID]
    client = Client(deployment.tls_port, creds.username, creds.password, ca=deployment.ca)
    try:
        shutil.copy(PkiPaths.of(deployment.data).signing_pub, station / "signing.pub")
        assert client.connect("localhost")
        client.subscribe("cunban/catalog")
        got = [p for t, p in client.drain(3) if t == "cunban/catalog"]
        assert got, "no retained catalog from the hub"
        assert cache_catalog(got[-1], station).hash == catalog.hash
    finally:
        client.close()
        hub.stop()
