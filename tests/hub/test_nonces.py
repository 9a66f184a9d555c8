"""The sealing nonces: never the same twice, in one process or across a fork."""

from __future__ import annotations

import base64
import os

from hub import crypto
from hub.crypto import FieldCipher


def _nonce(token: str) -> bytes:
    prefix = next(p for p in crypto._PREFIX.values() if token.startswith(p))
    return base64.b64decode(token[len(prefix):])[:crypto._NONCE]


def test_every_sealed_field_gets_its_own_nonce_across_pool_refills():
    cipher = FieldCipher(os.urandom(32))
    n = crypto._NoncePool.BATCH * 3 + 7
    nonces = {_nonce(cipher.encrypt("13800138000")) for _ in range(n)}
    assert len(nonces) == n
    assert all(len(x) == crypto._NONCE for x in nonces)
    blob = cipher.encrypt_bytes(b"photo")
    assert cipher.decrypt_bytes(blob) == b"photo"


def test_a_forked_child_never_repeats_its_parents_nonces():
    pool = crypto._NoncePool()
    pool.take()  # the parent's pool is drawn
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send the nonces it would use next
        os.write(write, b"".join(pool.take() for _ in range(8)))
        os._exit(0)
    os.close(write)
    child = b""
    while chunk := os.read(read, 4096):
        child += chunk
    os.close(read)
    os.waitpid(pid, 0)
    parent = b"".join(pool.take() for _ in range(8))
    assert len(child) == len(parent) == 8 * crypto._NONCE
    assert child != parent
