"""The station registry: broker accounts, one-time enrolment tokens, revocation.

The hub keeps only hashes. A station's MQTT password is shown once when the station is
added; for the kiosk to fetch it at enrolment, it is also sealed (AES-GCM) under a key
derived from the enrolment token, whose sha256 is all the hub stores. Enrolment opens the
seal, hands the password over and forgets the seal; a second use of the token fails.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hub.db.fleet import FleetStore
from protocols.topics import TopicError, check_station_id

HUB_USERNAME = "cunban-hub"
ENROL_VALID = timedelta(days=7)
# Mosquitto's password file format `$7$`: PBKDF2-HMAC-SHA512 with a 12-byte salt
# (mosquitto_passwd, src/password_mosq.c). The passwords are 144-bit random strings, so
# the iteration count guards little; it is kept moderate because the broker hashes on
# every connect.
PBKDF2_ITERATIONS = 1000


class FleetError(ValueError):
    """A fleet operation refused; the message is for the technician."""


def mosquitto_hash(
    password: str, *, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS
) -> str:
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_mosquitto_hash(password: str, stored: str) -> bool:
    try:
        _, seven, iterations, salt, digest = stored.split("$")
    except ValueError:
        return False
    if seven != "7":
        return False
    mine = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt), int(iterations))
    return hmac.compare_digest(mine, base64.b64decode(digest))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _seal_key(token: str) -> AESGCM:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"cunban enrolment seal"
    ).derive(token.encode())
    return AESGCM(key)


def seal(token: str, sid: str, secret: str) -> str:
    nonce = secrets.token_bytes(12)
    return base64.b64encode(
        nonce + _seal_key(token).encrypt(nonce, secret.encode(), sid.encode())
    ).decode()


def unseal(token: str, sid: str, sealed: str) -> str:
    raw = base64.b64decode(sealed)
    return _seal_key(token).decrypt(raw[:12], raw[12:], sid.encode()).decode()


def new_password() -> str:
    return secrets.token_urlsafe(18)


def station_username(sid: str) -> str:
    return f"station-{sid}"


@dataclass(frozen=True)
class Credentials:
    sid: str
    username: str
    password: str


@dataclass(frozen=True)
class NewStation:
    sid: str
    name: str
    username: str
    password: str
    enrolment_token: str
    expires_at: str


class Registry:
    def __init__(self, store: FleetStore, clock=lambda: datetime.now(UTC)):
        self.store = store
        self.clock = clock

    def add_station(self, sid: str, name: str | None = None) -> NewStation:
        try:
            check_station_id(sid)
        except TopicError as exc:
            raise FleetError(
                f"站点编号 {sid!r} 不对：应为村的12位统计用区划代码（可加后缀，如 411381101201-2）"
            ) from exc
        now = self.clock()
        username = station_username(sid)
        password = new_password()
        token = secrets.token_urlsafe(24)
        expires = (now + ENROL_VALID).isoformat()
        with self.store.transaction() as tx:
            if tx.fleet_station(sid):
                raise FleetError(f"站点 {sid} 已登记；要换账号请先吊销（cunban fleet revoke）")
            tx.upsert_account(username, "station", mosquitto_hash(password), now.isoformat())
            tx.insert_fleet_station(
                {
                    "sid": sid,
                    "name": name or sid,
                    "town": sid[:9],
                    "username": username,
                    "enrol_token_hash": token_hash(token),
                    "enrol_sealed_password": seal(token, sid, password),
                    "enrol_expires_at": expires,
                    "created_at": now.isoformat(),
                }
            )
        return NewStation(sid, name or sid, username, password, token, expires)

    def reissue(self, sid: str) -> NewStation:
        """A new password and enrolment token for a registered station (a lost or expired
        token, a kiosk replaced): the old password stops working at the next broker reload."""
        now = self.clock()
        password = new_password()
        token = secrets.token_urlsafe(24)
        expires = (now + ENROL_VALID).isoformat()
        with self.store.transaction() as tx:
            row = tx.fleet_station(sid)
            if row is None or row["revoked_at"]:
                raise FleetError(f"站点 {sid} 没有登记或已吊销；请用 cunban fleet add-station 登记")
            tx.upsert_account(row["username"], "station", mosquitto_hash(password), now.isoformat())
            tx.set_enrolment(sid, token_hash(token), seal(token, sid, password), expires)
        return NewStation(sid, row["name"], row["username"], password, token, expires)

    def enroll(self, token: str) -> Credentials:
        """Spend a one-time token: the station's credentials, or FleetError."""
        now = self.clock()
        with self.store.transaction() as tx:
            row = tx.fleet_station_by_token(token_hash(token))
            if row is None or row["revoked_at"] or not row["enrol_sealed_password"]:
                raise FleetError("登记码无效或已用过；请技术员在平台上重新生成登记码")
            if row["enrol_expires_at"] < now.isoformat():
                raise FleetError("登记码已过期；请技术员在平台上重新生成登记码")
            try:
                password = unseal(token, row["sid"], row["enrol_sealed_password"])
            except InvalidTag as exc:
                raise FleetError("登记码无效；请技术员在平台上重新生成登记码") from exc
            tx.mark_enrolled(row["sid"], now.isoformat())
        return Credentials(row["sid"], row["username"], password)

    def revoke(self, sid: str) -> None:
        with self.store.transaction() as tx:
            row = tx.fleet_station(sid)
            if row is None:
                raise FleetError(f"没有登记站点 {sid}")
            tx.revoke_fleet_station(sid, self.clock().isoformat())

    def hub_account(self) -> Credentials:
        """A fresh password for the hub's own broker account (only its hash is kept)."""
        password = new_password()
        with self.store.transaction() as tx:
            tx.upsert_account(
                HUB_USERNAME, "hub", mosquitto_hash(password), self.clock().isoformat()
            )
        return Credentials("", HUB_USERNAME, password)
