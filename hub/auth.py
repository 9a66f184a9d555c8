"""Who is calling the hub: officer accounts, browser sessions, CSRF, roles and scopes.

Officers log in with a password (argon2id hashes, `cunban admin create-user`) and get a
session cookie (HttpOnly, SameSite=Lax; only its sha256 is stored, in the hub database)
with a CSRF token that every form must carry. Repeated failed logins lock the account for
a while. Machine clients may still use bearer tokens (`cunban hub token add`, stored as
sha256 hashes in `DATA/api-tokens.json`): `SessionAuth(fallback=TokenAuth(...))`.

`create_app` takes any callable `Request -> Actor` as its API authenticator.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import HTTPException, Request

from hub.db.web import WebStore
from hub.service import Actor

# officer/head: one department; town: one town's stations; station: one station;
# technician: the fleet, no applications; admin: accounts, every case masked, no decisions.
ROLES = ("officer", "head", "town", "station", "technician", "admin")
SESSION_COOKIE = "cunban_session"
LOGIN_COOKIE = "cunban_login"  # double-submit CSRF token of the login form
SESSION_HOURS = 10
MAX_FAILED_LOGINS = 5
LOCKOUT_MINUTES = 15

_hasher = PasswordHasher()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_scope_args(role: str, department: str | None, town: str | None,
                     station: str | None) -> None:
    """Raise ValueError (a plain sentence) when a role lacks or has a wrong scope."""
    if role not in ROLES:
        raise ValueError(f"角色只能是：{', '.join(ROLES)}")
    if role in ("officer", "head") and not department:
        raise ValueError("部门人员需要 --department（部门编码）")
    if role == "town" and not (town and town.isdigit() and len(town) == 9):
        raise ValueError("乡镇人员需要 --town（乡镇区划代码，9位数字）")
    if role == "station" and not (station and station.isdigit() and len(station) >= 12):
        raise ValueError("服务站人员需要 --station（村级区划代码，12位数字）")


def scope_of(actor: Actor) -> dict | None:
    """The applications an actor may see, as column filters; None: no applications at all."""
    if actor.role in ("officer", "head"):
        return {"department": actor.department} if actor.department else None
    if actor.role == "town":
        return {"town": actor.town} if actor.town else None
    if actor.role == "station":
        return {"station": actor.station} if actor.station else None
    if actor.role in ("admin", "system"):
        return {}
    return None


def in_scope(row: dict, actor: Actor) -> bool:
    scope = scope_of(actor)
    return scope is not None and all(row.get(k) == v for k, v in scope.items())


def may_reveal(actor: Actor) -> bool:
    """Whether the actor may open full personal data (a logged action)."""
    return actor.role in ("officer", "head", "station")


class LoginRefused(Exception):
    """`key` names the message in the strings catalogue."""

    def __init__(self, key: str, minutes: int = 0):
        super().__init__(key)
        self.key = key
        self.minutes = minutes


@dataclass(frozen=True)
class Session:
    token: str
    csrf: str
    actor: Actor


def actor_from_officer(row: dict) -> Actor:
    return Actor(name=row["username"], role=row["role"], department=row.get("department"),
                 town=row.get("town"), station=row.get("station"))


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat()


class Accounts:
    """Officer accounts and their sessions, on a `WebStore`."""

    def __init__(self, store: WebStore):
        self.store = store

    def create_user(self, username: str, password: str, role: str, *,
                    department: str | None = None, town: str | None = None,
                    station: str | None = None, display_name: str | None = None,
                    now: datetime | None = None) -> None:
        check_scope_args(role, department, town, station)
        if not username or len(username) > 64 or not username.isprintable():
            raise ValueError("用户名应为1到64个可见字符")
        if len(password) < 8:
            raise ValueError("密码至少8个字符")
        if self.store.officer(username) is not None:
            raise ValueError(f"用户名 {username} 已存在")
        with self.store.transaction():
            self.store.insert_officer({
                "username": username, "display_name": display_name or username,
                "password_hash": hash_password(password), "role": role,
                "department": department if role in ("officer", "head") else None,
                "town": town if role == "town" else None,
                "station": station if role == "station" else None,
                "active": 1, "failed_logins": 0, "locked_until": None,
                "created_at": _iso(now or datetime.now(UTC)),
            })

    def login(self, username: str, password: str, now: datetime) -> Session:
        """Check the password; raise LoginRefused('login_failed' | 'login_locked')."""
        row = self.store.officer(username)
        if row is None or not row["active"]:
            verify_password(_DUMMY_HASH, password)  # same cost either way: no user probing
            raise LoginRefused("login_failed")
        if row["locked_until"] and row["locked_until"] > _iso(now):
            left = datetime.fromisoformat(row["locked_until"]) - now
            raise LoginRefused("login_locked", minutes=max(1, int(left.total_seconds() // 60)
                                                            + 1))
        if not verify_password(row["password_hash"], password):
            with self.store.transaction():
                lock = None
                if row["failed_logins"] + 1 >= MAX_FAILED_LOGINS:
                    lock = _iso(now + timedelta(minutes=LOCKOUT_MINUTES))
                self.store.record_failed_login(username, lock)
            if lock:
                raise LoginRefused("login_locked", minutes=LOCKOUT_MINUTES)
            raise LoginRefused("login_failed")
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self.store.transaction():
            self.store.reset_failed_logins(username)
            self.store.delete_expired_sessions(_iso(now))
            self.store.insert_session({
                "token_hash": _digest(token), "username": username, "csrf": csrf,
                "created_at": _iso(now),
                "expires_at": _iso(now + timedelta(hours=SESSION_HOURS)),
            })
        return Session(token, csrf, actor_from_officer(row))

    def session(self, token: str | None, now: datetime) -> Session | None:
        if not token:
            return None
        row = self.store.session(_digest(token), _iso(now))
        if row is None:
            return None
        return Session(token, row["csrf"], actor_from_officer(row))

    def logout(self, token: str) -> None:
        with self.store.transaction():
            self.store.delete_session(_digest(token))


_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def csrf_ok(expected: str | None, given: str | None) -> bool:
    return bool(expected and given) and secrets.compare_digest(expected, given)


class SessionAuth:
    """The API authenticator: the officer's session cookie, else an optional fallback
    (bearer tokens for machine clients). 401 without either."""

    def __init__(self, db_path: Path | str,
                 fallback: Callable[[Request], Actor] | None = None):
        self.db_path = Path(db_path)
        self.fallback = fallback

    def __call__(self, request: Request) -> Actor:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            store = WebStore(self.db_path)
            try:
                session = Accounts(store).session(token, datetime.now(UTC))
            finally:
                store.close()
            if session is not None:
                if request.method not in ("GET", "HEAD", "OPTIONS") and not csrf_ok(
                        session.csrf, request.headers.get("x-csrf-token")):
                    raise HTTPException(403, "请求缺少有效的防伪令牌，请刷新页面后重试")
                return session.actor
        if self.fallback is not None and request.headers.get("authorization"):
            return self.fallback(request)
        raise HTTPException(401, "请先登录", headers={"WWW-Authenticate": "Bearer"})


class TokenAuth:
    def __init__(self, path: Path | str):
        self.path = Path(path)

    def _load(self) -> dict[str, dict]:
        if not self.path.exists():
            return {}
        return json.loads(self.path.read_text(encoding="utf-8"))

    def issue(self, name: str, role: str, department: str | None = None) -> str:
        """Create a token for an actor; only its hash is kept. Returns the token once."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if role in ("officer", "head") and not department:
            raise ValueError("department officers need --department")
        token = secrets.token_urlsafe(32)
        tokens = self._load()
        tokens[_digest(token)] = {"name": name, "role": role, "department": department}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(tokens, fh, ensure_ascii=False, indent=1)
        os.replace(tmp, self.path)
        return token

    def __call__(self, request: Request) -> Actor:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise HTTPException(401, "请先登录", headers={"WWW-Authenticate": "Bearer"})
        entry = self._load().get(_digest(token.strip()))
        if entry is None:
            raise HTTPException(401, "登录凭据无效或已撤销，请重新登录",
                                headers={"WWW-Authenticate": "Bearer"})
        return Actor(name=entry["name"], role=entry["role"], department=entry.get("department"))
