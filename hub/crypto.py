"""Personal data at rest: field and blob encryption with a key kept outside the database.

ID numbers, names and phone numbers of applicants, and the document images, are stored
encrypted (AES-256-GCM, or SM4-GCM — GB/T 32907 — as the national-standard option; both
through the `cryptography` package). ID numbers are looked up through a keyed
HMAC-SHA256: a plain hash of an 18-character ID number is brute-forced in seconds, since
its birth date and check digit leave only a few million candidates per county.

The key file (`DATA/keys/data.key`, mode 0600) holds one random secret; the encryption key
and the index key are derived from it with HKDF, so neither can be computed from the other.
Each ciphertext names its algorithm, so a store written with one keeps reading after the
county switches the other on for new data.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

AES_GCM = "aes-gcm"
SM4_GCM = "sm4-gcm"
ALGORITHMS = (AES_GCM, SM4_GCM)
# Text fields carry a short prefix naming the algorithm; blobs a magic header.
_PREFIX = {AES_GCM: "a1:", SM4_GCM: "s1:"}
_MAGIC = {AES_GCM: b"CBA1", SM4_GCM: b"CBS1"}
_NONCE = 12
_TAG = 16
_WRONG_KEY = ("数据密钥与数据不匹配（密钥文件被换过或数据被改动），"
              "无法解密；请从备份恢复原来的密钥文件")


class DataKeyError(RuntimeError):
    """The data key is missing, unreadable or not the one the data was written with."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _derive(secret: bytes, label: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None,
                info=b"cunban " + label).derive(secret)


class FieldCipher:
    """Encrypts text fields and blobs, and computes the keyed lookup index."""

    def __init__(self, secret: bytes, algorithm: str = AES_GCM):
        if algorithm not in ALGORITHMS:
            raise DataKeyError(f"不支持的加密算法 {algorithm}，可选：{'、'.join(ALGORITHMS)}")
        if len(secret) < 32:
            raise DataKeyError("数据密钥太短（至少 32 字节），请重新生成密钥文件")
        self.algorithm = algorithm
        self._keys = {AES_GCM: _derive(secret, b"aes-256-gcm", 32),
                      SM4_GCM: _derive(secret, b"sm4-gcm", 16)}
        self._index_key = _derive(secret, b"index hmac-sha256", 32)
        # AES-GCM through the one-call AEAD interface (same bytes: nonce, body, tag);
        # SM4-GCM has no AEAD class and goes through Cipher.
        self._aead = AESGCM(self._keys[AES_GCM])
        self.fingerprint = hmac.new(self._index_key, b"cunban key check",
                                    hashlib.sha256).hexdigest()[:16]

    @classmethod
    def load(cls, path: Path | str, *, algorithm: str = AES_GCM) -> FieldCipher:
        """The cipher of the key file at `path`, creating the file (0600) on first start.

        `algorithm` applies only when the file is created; afterwards the file says which
        algorithm new data is written with.
        """
        path = Path(path)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            body = json.dumps({"version": 1, "algorithm": algorithm,
                               "secret": base64.b64encode(os.urandom(32)).decode()})
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process of this hub created it just now
                return cls.load(path)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(body)
                fh.flush()
                os.fsync(fh.fileno())
        try:
            spec = json.loads(path.read_text(encoding="utf-8"))
            secret = base64.b64decode(spec["secret"], validate=True)
            chosen = spec.get("algorithm", AES_GCM)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataKeyError(f"数据密钥文件 {path} 无法读取或已损坏（{exc}）；"
                               "请从备份恢复该文件") from exc
        return cls(secret, chosen)

    # text fields -----------------------------------------------------------------------
    def encrypt(self, text: str) -> str:
        return _PREFIX[self.algorithm] + base64.b64encode(
            self._seal(text.encode("utf-8"), self.algorithm)).decode("ascii")

    def decrypt(self, token: str) -> str:
        for algorithm, prefix in _PREFIX.items():
            if token.startswith(prefix):
                raw = base64.b64decode(token[len(prefix):])
                return self._open(raw, algorithm).decode("utf-8")
        raise DataKeyError("数据库中的个人信息不是加密格式，无法读取；请管理员检查数据库")

    @staticmethod
    def is_sealed(token: str) -> bool:
        return token.startswith(tuple(_PREFIX.values()))

    def index(self, text: str) -> str:
        """The lookup key of a value (ID numbers are compared upper-case: X check digit)."""
        return hmac.new(self._index_key, text.strip().upper().encode("utf-8"),
                        hashlib.sha256).hexdigest()

    # blobs -----------------------------------------------------------------------------
    def encrypt_bytes(self, data: bytes) -> bytes:
        return b"".join(self.encrypt_parts(data))

    def encrypt_parts(self, data: bytes) -> tuple[bytes, ...]:
        """`encrypt_bytes` in the pieces it is made of, for a writer that takes a list
        (`os.writev`): joining them would copy a photo's bytes twice more."""
        return (_MAGIC[self.algorithm], *self._seal_parts(data, self.algorithm))

    def decrypt_bytes(self, data: bytes) -> bytes:
        for algorithm, magic in _MAGIC.items():
            if data.startswith(magic):
                return self._open(data[len(magic):], algorithm)
        raise DataKeyError("材料文件不是加密格式，无法读取；请管理员检查材料目录")

    # -----------------------------------------------------------------------------------
    def _cipher(self, algorithm: str, mode) -> Cipher:
        key = self._keys[algorithm]
        algo = algorithms.AES(key) if algorithm == AES_GCM else algorithms.SM4(key)
        return Cipher(algo, mode)

    def _seal(self, data: bytes, algorithm: str) -> bytes:
        return b"".join(self._seal_parts(data, algorithm))

    def _seal_parts(self, data: bytes, algorithm: str) -> tuple[bytes, ...]:
        """nonce, ciphertext and tag, as few pieces as the cipher gives them."""
        nonce = _nonces.take()
        if algorithm == AES_GCM:
            return nonce, self._aead.encrypt(nonce, data, None)
        enc = self._cipher(algorithm, modes.GCM(nonce)).encryptor()
        return nonce, enc.update(data), enc.finalize(), enc.tag

    def _open(self, raw: bytes, algorithm: str) -> bytes:
        if len(raw) < _NONCE + _TAG:
            raise DataKeyError("加密数据不完整，无法解密；请管理员检查数据")
        if algorithm == AES_GCM:
            try:
                return self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], None)
            except InvalidTag:
                raise DataKeyError(_WRONG_KEY) from None
        nonce, body, tag = raw[:_NONCE], raw[_NONCE:-_TAG], raw[-_TAG:]
        dec = self._cipher(algorithm, modes.GCM(nonce, tag)).decryptor()
        try:
            return dec.update(body) + dec.finalize()
        except InvalidTag:
            raise DataKeyError(_WRONG_KEY) from None


class _NoncePool:
    """Random nonces from the system's generator, drawn a thousand at a time.

    `os.urandom` lets go of the interpreter lock for its system call, and taking it back
    waits for whichever thread holds it (up to a switch interval). Sealing four fields of
    every application one call each made the MQTT link's preparing thread queue behind its
    network thread four times per application. The bytes are the same; they come in fewer
    calls. A forked child draws afresh: it must never repeat its parent's nonces.
    """

    BATCH = 1024

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = -1
        self._pool = b""
        self._at = 0

    def take(self) -> bytes:
        with self._lock:
            if self._at >= len(self._pool) or self._pid != os.getpid():
                self._pool, self._at, self._pid = os.urandom(_NONCE * self.BATCH), 0, os.getpid()
            nonce = self._pool[self._at:self._at + _NONCE]
            self._at += _NONCE
            return nonce


_nonces = _NoncePool()


def key_path(data_root: Path | str) -> Path:
    """Where a hub's data key lives: beside the database, never inside it."""
    return Path(data_root) / "keys" / "data.key"
