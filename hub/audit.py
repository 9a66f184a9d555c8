"""The audit trail: a hash chain of officer actions and views of full personal data.

Each entry's hash is sha256 over the previous entry's hash and the entry's own fields in a
canonical JSON form, so editing, deleting or reordering any entry breaks the chain at that
point (等保 level 3: audit records protected against tampering). The table also refuses
UPDATE and DELETE through triggers; the chain catches what bypasses them.

Append inside the caller's transaction (`BEGIN IMMEDIATE` serialises writers, so two
entries never share a predecessor).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from hub.db.web import WebStore
from hub.service import Actor

GENESIS = "0" * 64
FIELDS = ("at", "actor", "role", "action", "target", "detail_json")


def entry_hash(prev_hash: str, entry: dict) -> str:
    body = json.dumps({k: entry[k] for k in FIELDS}, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":"))
    return hashlib.sha256((prev_hash + "\n" + body).encode()).hexdigest()


def append(store: WebStore, actor: Actor, action: str, target: str, detail: dict,
           now: datetime | None = None) -> int:
    """Add one entry after the current last one. Call inside a transaction."""
    prev = store.last_audit_hash() or GENESIS
    entry = {
        "at": (now or datetime.now(UTC)).astimezone(UTC).isoformat(),
        "actor": actor.name, "role": actor.role, "action": action, "target": target,
        "detail_json": json.dumps(detail, ensure_ascii=False, sort_keys=True,
                                  separators=(",", ":"), default=str),
    }
    return store.insert_audit({**entry, "prev_hash": prev, "hash": entry_hash(prev, entry)})


@dataclass(frozen=True)
class Broken:
    """The first entry where the chain does not hold, and why (a plain sentence)."""

    entry_id: int
    position: int  # 1-based position in id order
    reason: str


def verify(store: WebStore) -> tuple[int, Broken | None]:
    """Walk the chain in id order: (entries checked, first broken link or None)."""
    prev = GENESIS
    count = 0
    for count, row in enumerate(store.audit_entries(), start=1):
        if row["prev_hash"] != prev:
            return count, Broken(row["id"], count,
                                 "记录中的“上一条哈希”与上一条记录不符：之前的记录被删除、"
                                 "插入或调换了顺序")
        if entry_hash(prev, row) != row["hash"]:
            return count, Broken(row["id"], count, "记录内容与它的哈希不符：这条记录被改动过")
        prev = row["hash"]
    return count, None
