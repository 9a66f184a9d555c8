"""Every MQTT topic of the wire contract is built and parsed here, and nowhere else.

Layout (root `cunban` by default, see docs/protocol.md):

    {root}/hub/status                                   hub → all, retained
    {root}/catalog                                      hub → all, retained
    {root}/station/{sid}/status                         kiosk → hub, retained
    {root}/station/{sid}/device/{device}/state          kiosk → hub, retained
    {root}/station/{sid}/blob/{sha256}                  kiosk → hub
    {root}/station/{sid}/application/submit             kiosk → hub
    {root}/station/{sid}/application/ack                hub → kiosk
    {root}/station/{sid}/application/status             hub → kiosk
    {root}/station/{sid}/config                         hub → kiosk, retained
    {root}/station/{sid}/config/state                   kiosk → hub, retained
    {root}/station/{sid}/request/{action}               kiosk → hub (RPC)
    {root}/station/{sid}/response/{action}              hub → kiosk (RPC)

`{sid}` is the village's 12-digit statistical division code (统计用区划代码), optionally with
a kiosk suffix (`411381101201-2`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

DEFAULT_ROOT = "cunban"

STATION_ID = re.compile(r"^\d{12}(?:-[0-9a-z]{1,8})?$")
DEVICE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
ACTION_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ROOT = re.compile(r"^[A-Za-z0-9_\-]+(?:/[A-Za-z0-9_\-]+)*$")


class TopicError(ValueError):
    """A topic or topic part that does not belong to the contract."""


class Kind(StrEnum):
    HUB_STATUS = "hub.status"
    CATALOG = "catalog"
    STATION_STATUS = "station.status"
    DEVICE_STATE = "device.state"
    BLOB = "blob"
    SUBMIT = "application.submit"
    ACK = "application.ack"
    STATUS = "application.status"
    CONFIG = "config"
    CONFIG_STATE = "config.state"
    REQUEST = "request"
    RESPONSE = "response"


# Suffix after `station/{sid}/` for the fixed per-station topics.
_STATION_SUFFIX = {
    Kind.STATION_STATUS: "status",
    Kind.SUBMIT: "application/submit",
    Kind.ACK: "application/ack",
    Kind.STATUS: "application/status",
    Kind.CONFIG: "config",
    Kind.CONFIG_STATE: "config/state",
}
_SUFFIX_KIND = {v: k for k, v in _STATION_SUFFIX.items()}


@dataclass(frozen=True)
class Topic:
    """A parsed topic: its kind and the variable parts it carries."""

    kind: Kind
    station: str | None = None
    device: str | None = None
    sha256: str | None = None
    action: str | None = None


def check_station_id(sid: str) -> str:
    if not isinstance(sid, str) or not STATION_ID.match(sid):
        raise TopicError(f"station id must be 12 digits with an optional -suffix, got {sid!r}")
    return sid


def _check(pattern: re.Pattern, value: str, what: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise TopicError(f"invalid {what}: {value!r}")
    return value


class Topics:
    """Builds and parses the topics under one root."""

    def __init__(self, root: str = DEFAULT_ROOT):
        self.root = _check(_ROOT, root, "topic root")
        self._depth = root.count("/") + 1

    # hub-wide -------------------------------------------------------------------------
    def hub_status(self) -> str:
        return f"{self.root}/hub/status"

    def catalog(self) -> str:
        return f"{self.root}/catalog"

    # per station ----------------------------------------------------------------------
    def station(self, kind: Kind, sid: str) -> str:
        """One of the fixed per-station topics (status, submit, ack, config …)."""
        try:
            suffix = _STATION_SUFFIX[kind]
        except KeyError:
            raise TopicError(f"{kind} is not a fixed per-station topic") from None
        return f"{self.root}/station/{check_station_id(sid)}/{suffix}"

    def device_state(self, sid: str, device: str) -> str:
        device = _check(DEVICE_NAME, device, "device name")
        return f"{self.root}/station/{check_station_id(sid)}/device/{device}/state"

    def blob(self, sid: str, sha256: str) -> str:
        sha256 = _check(SHA256, sha256, "sha256")
        return f"{self.root}/station/{check_station_id(sid)}/blob/{sha256}"

    def request(self, sid: str, action: str) -> str:
        action = _check(ACTION_NAME, action, "action")
        return f"{self.root}/station/{check_station_id(sid)}/request/{action}"

    def response(self, sid: str, action: str) -> str:
        action = _check(ACTION_NAME, action, "action")
        return f"{self.root}/station/{check_station_id(sid)}/response/{action}"

    # subscriptions --------------------------------------------------------------------
    def hub_subscriptions(self) -> list[str]:
        """What the hub consumes: everything stations send."""
        s = f"{self.root}/station/+"
        return [
            f"{s}/application/submit",
            f"{s}/blob/+",
            f"{s}/status",
            f"{s}/device/+/state",
            f"{s}/config/state",
            f"{s}/request/+",
        ]

    def hub_shared_subscriptions(self, group: str) -> list[str]:
        """The same, as MQTT v5 shared subscriptions for several hub workers."""
        return [f"$share/{group}/{t}" for t in self.hub_subscriptions()]

    def station_subscriptions(self, sid: str) -> list[str]:
        """What a kiosk consumes: its own hub→kiosk topics plus the hub-wide ones."""
        return [
            self.station(Kind.ACK, sid),
            self.station(Kind.STATUS, sid),
            self.station(Kind.CONFIG, sid),
            f"{self.root}/station/{check_station_id(sid)}/response/+",
            self.catalog(),
            self.hub_status(),
        ]

    # parsing --------------------------------------------------------------------------
    def parse(self, topic: str) -> Topic:
        """Parse a concrete topic (no wildcards); raise TopicError if it is not ours."""
        if not isinstance(topic, str) or "+" in topic or "#" in topic:
            raise TopicError(f"not a concrete topic: {topic!r}")
        prefix = self.root + "/"
        if not topic.startswith(prefix):
            raise TopicError(f"topic outside root {self.root!r}: {topic!r}")
        parts = topic[len(prefix):].split("/")
        if parts == ["hub", "status"]:
            return Topic(Kind.HUB_STATUS)
        if parts == ["catalog"]:
            return Topic(Kind.CATALOG)
        if len(parts) < 3 or parts[0] != "station":
            raise TopicError(f"unknown topic: {topic!r}")
        sid = check_station_id(parts[1])
        rest = parts[2:]
        suffix = "/".join(rest)
        if suffix in _SUFFIX_KIND:
            return Topic(_SUFFIX_KIND[suffix], station=sid)
        if len(rest) == 3 and rest[0] == "device" and rest[2] == "state":
            device = _check(DEVICE_NAME, rest[1], "device name")
            return Topic(Kind.DEVICE_STATE, station=sid, device=device)
        if len(rest) == 2 and rest[0] == "blob":
            return Topic(Kind.BLOB, station=sid, sha256=_check(SHA256, rest[1], "sha256"))
        if len(rest) == 2 and rest[0] in ("request", "response"):
            kind = Kind.REQUEST if rest[0] == "request" else Kind.RESPONSE
            return Topic(kind, station=sid, action=_check(ACTION_NAME, rest[1], "action"))
        raise TopicError(f"unknown topic: {topic!r}")
