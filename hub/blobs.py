"""Content-addressed storage of document images: one file per sha256, written durably."""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

from hub.crypto import FieldCipher, key_path
from protocols.messages import MAX_BLOB_BYTES


class BlobRejected(ValueError):
    """A blob refused; `reason` is a plain sentence the station can show."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def sniff_mime(data: bytes) -> str:
    """The type the bytes really are, checked down to a complete file (no truncated images)."""
    if data.startswith(b"\xff\xd8\xff"):
        # A JPEG ends with EOI; phones and cameras may append padding after it.
        if b"\xff\xd9" not in data[-1024:]:
            raise BlobRejected("图片不完整（JPEG 文件被截断），请重新拍摄该材料")
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        if b"IEND" not in data[-16:]:
            raise BlobRejected("图片不完整（PNG 文件被截断），请重新拍摄该材料")
        return "image/png"
    if data.startswith(b"%PDF-"):
        if b"%%EOF" not in data[-1024:]:
            raise BlobRejected("PDF 文件不完整，请重新上传该材料")
        return "application/pdf"
    raise BlobRejected("不是可识别的图片或 PDF 文件，请重新拍摄该材料")


class BlobStore:
    """Files under `root/ab/abcdef…`; a file exists only once its bytes are on disk.

    The files hold the images encrypted (hub/crypto.py); the name stays the sha256 of the
    plaintext, which is what stations and applications refer to.
    """

    def __init__(self, root: Path | str, cipher: FieldCipher | None = None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        # The key file lives in the data directory (DATA/keys/data.key) unless the
        # composition root passes the cipher in.
        self.cipher = cipher or FieldCipher.load(key_path(self.root.parent))

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def check(self, sha256: str, data: bytes) -> str:
        """Verify size, hash and type; return the MIME type or raise BlobRejected."""
        if len(data) > MAX_BLOB_BYTES:
            raise BlobRejected(f"文件太大（{len(data) // 1024} KB，"
                               f"上限 {MAX_BLOB_BYTES // 1024} KB），请降低拍摄分辨率后重试")
        if not data:
            raise BlobRejected("文件是空的，请重新拍摄该材料")
        if hashlib.sha256(data).hexdigest() != sha256:
            raise BlobRejected("文件内容与校验值不符（传输中损坏），请重新上传该材料")
        return sniff_mime(data)

    def put(self, sha256: str, data: bytes) -> None:
        """Write atomically and durably: temp file, fsync, rename, fsync the directory."""
        target = self.path(sha256)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        try:
            with open(tmp, "wb") as fh:
                fh.write(self.cipher.encrypt_bytes(data))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self, sha256: str) -> bytes:
        return self.cipher.decrypt_bytes(self.path(sha256).read_bytes())
