"""Who is calling the hub's API.

Until officer sessions exist, the API is reached with bearer tokens issued by the hub
(`cunban hub token add`) and stored only as sha256 hashes in `DATA/api-tokens.json`.
`create_app` takes any callable `Request -> Actor`, so a session-based authenticator
replaces this one without touching routes.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path

from fastapi import HTTPException, Request

from hub.service import Actor

ROLES = ("officer", "head", "station", "technician", "admin")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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
