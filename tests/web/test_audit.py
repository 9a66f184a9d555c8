"""The audit hash chain detects an edited, a deleted and a reordered entry."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from hub import audit
from hub.service import Actor

WANG = Actor("wang", "officer", "RSJ")


def _fill(hub, n: int = 5) -> None:
    store = hub.store()
    with store.transaction():
        for i in range(n):
            audit.append(store, WANG, "reveal_personal_data", f"CASE{i}", {"i": i})
    store.close()


def _tamper(hub, *statements: str) -> None:
    """What someone with the database file could do: drop the guards, then change rows."""
    conn = sqlite3.connect(hub.db)
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("DROP TRIGGER audit_no_delete")
    for sql in statements:
        conn.execute(sql)
    conn.commit()
    conn.close()


def test_an_intact_chain_verifies(hub):
    _fill(hub)
    count, broken = audit.verify(hub.store())
    assert (count, broken) == (5, None)


def test_the_table_refuses_updates_and_deletes(hub):
    _fill(hub, 1)
    conn = sqlite3.connect(hub.db)
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("UPDATE audit_log SET actor = 'x'")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("DELETE FROM audit_log")


def test_an_edited_entry_is_found(hub):
    _fill(hub)
    _tamper(hub, "UPDATE audit_log SET target = 'OTHER' WHERE id = 3")
    _, broken = audit.verify(hub.store())
    assert broken.entry_id == 3 and "改动" in broken.reason


def test_a_deleted_entry_is_found_at_the_next_one(hub):
    _fill(hub)
    _tamper(hub, "DELETE FROM audit_log WHERE id = 2")
    _, broken = audit.verify(hub.store())
    assert broken.entry_id == 3 and broken.position == 2 and "删除" in broken.reason


def test_reordered_entries_are_found(hub):
    _fill(hub)
    cols = "at, actor, role, action, target, detail_json, prev_hash, hash"
    _tamper(hub,
            f"CREATE TEMP TABLE swap AS SELECT id, {cols} FROM audit_log WHERE id IN (2, 4)",
            *[f"UPDATE audit_log SET {c} = (SELECT {c} FROM swap WHERE swap.id = "
              f"6 - audit_log.id) WHERE id IN (2, 4)" for c in cols.split(", ")])
    _, broken = audit.verify(hub.store())
    assert broken.entry_id == 2


def test_the_verify_command_reports_the_first_broken_link(hub, tmp_path):
    _fill(hub)
    cmd = [sys.executable, "-m", "cunban.cli", "audit", "verify", "--data", str(hub.root)]
    ok = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "5 条记录" in ok.stdout
    _tamper(hub, "UPDATE audit_log SET detail_json = '{}' WHERE id = 4")
    bad = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "第 4 条" in bad.stderr and "id 4" in bad.stderr


def test_create_user_refuses_an_unknown_department_and_a_missing_town(tmp_path):
    base = [sys.executable, "-m", "cunban.cli", "admin", "create-user", "--data",
            str(tmp_path / "hub"), "--password-stdin", "--username", "u"]
    bad_dept = subprocess.run([*base, "--role", "officer", "--department", "NOPE"],
                              input="long-enough-1\n", capture_output=True, text=True,
                              timeout=60)
    assert bad_dept.returncode == 2 and "NOPE" in bad_dept.stderr
    no_town = subprocess.run([*base, "--role", "town"], input="long-enough-1\n",
                             capture_output=True, text=True, timeout=60)
    assert no_town.returncode == 2 and "--town" in no_town.stderr
