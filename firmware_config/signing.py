"""Ed25519 signatures over desired configurations and catalog snapshots (RFC 8032, through
`cryptography`), both made with the county's one signing key (`pki/signing.key`).

What is signed for a configuration is the station id, the version and the canonical JSON
of the configuration (keys sorted, no whitespace, UTF-8), after a fixed label, so a
signature made for one station or one version cannot be presented for another. For a
catalog snapshot it is another label, the version and the content hash
(`CatalogSnapshot.signed_bytes`).
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from protocols.catalog import CatalogSnapshot
from protocols.messages import ConfigDesired

LABEL = b"cunban station config v1\n"


class SignatureError(ValueError):
    """A signature that does not verify, or a key that is not Ed25519."""


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _message(sid: str, version: int, config: dict) -> bytes:
    return LABEL + f"{sid}\n{version}\n".encode() + canonical(config)


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_private_key(path: Path | str) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"{path} 不是 Ed25519 私钥")
    return key


def load_public_key(data: bytes | str | Path) -> Ed25519PublicKey:
    pem = (
        Path(data).read_bytes()
        if isinstance(data, Path)
        else (data.encode() if isinstance(data, str) else data)
    )
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise SignatureError("签名公钥不是 Ed25519 公钥")
    return key


def sign_config(private: Ed25519PrivateKey, sid: str, version: int, config: dict) -> ConfigDesired:
    signature = private.sign(_message(sid, version, config))
    return ConfigDesired(
        version=version,
        config=config,
        signature=base64.b64encode(signature).decode(),
        key_id=key_id(private.public_key()),
    )


def verify_config(public: Ed25519PublicKey, sid: str, desired: ConfigDesired) -> None:
    """Raise SignatureError unless `desired` was signed for `sid` by `public`'s key."""
    try:
        signature = base64.b64decode(desired.signature, validate=True)
        public.verify(signature, _message(sid, desired.version, desired.config))
    except (InvalidSignature, ValueError) as exc:
        raise SignatureError("配置签名不对：不是本县平台签发的，或在传输中被改动") from exc


def sign_catalog(private: Ed25519PrivateKey, snapshot: CatalogSnapshot) -> CatalogSnapshot:
    """`snapshot` with the county's signature over its version and content hash."""
    signature = private.sign(snapshot.signed_bytes())
    return snapshot.model_copy(
        update={
            "signature": base64.b64encode(signature).decode(),
            "key_id": key_id(private.public_key()),
        }
    )


def verify_catalog(public: Ed25519PublicKey, snapshot: CatalogSnapshot) -> None:
    """Raise SignatureError unless `snapshot` carries a signature by `public`'s key over its
    version and hash. The content itself is checked against the hash by `to_catalog()`."""
    if not snapshot.signature:
        raise SignatureError("事项目录没有签名：不是本县平台发布的，已不采用")
    try:
        signature = base64.b64decode(snapshot.signature, validate=True)
        public.verify(signature, snapshot.signed_bytes())
    except (InvalidSignature, ValueError) as exc:
        raise SignatureError("事项目录签名不对：不是本县平台发布的，或在传输中被改动") from exc
