"""Content-addressed storage of document images: one file per sha256, written durably."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import itertools
import mmap
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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


def check_blob(sha256: str, data: bytes) -> str:
    """Verify size, hash and type; return the MIME type or raise BlobRejected."""
    if len(data) > MAX_BLOB_BYTES:
        raise BlobRejected(f"文件太大（{len(data) // 1024} KB，"
                           f"上限 {MAX_BLOB_BYTES // 1024} KB），请降低拍摄分辨率后重试")
    if not data:
        raise BlobRejected("文件是空的，请重新拍摄该材料")
    if hashlib.sha256(data).hexdigest() != sha256:
        raise BlobRejected("文件内容与校验值不符（传输中损坏），请重新上传该材料")
    return sniff_mime(data)


@dataclass(slots=True)
class _Staged:
    path: Path
    rewritable: bool  # written by this store, from bytes the batch still holds


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
        self._staged: dict[str, _Staged] = {}
        self._numbers = itertools.count(1)
        self._files = FileWriter()
        self._executor: ThreadPoolExecutor | None = None

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def put(self, sha256: str, data: bytes) -> None:
        """Write one file atomically and durably (`stage` then `flush`)."""
        self.stage(sha256, data)
        self.flush()

    def write_staged(self, sha256: str, data: bytes) -> Path | None:
        """Seal the bytes into a temporary file beside their place (not yet durable), and
        return its path; None when the blob is stored already. Any process of the hub may
        write one: the MQTT link does, and the intake `adopt`s the file."""
        folder = os.path.join(self.root, sha256[:2])
        target = os.path.join(folder, sha256)
        if os.path.exists(target):
            return None
        tmp = f"{target}.tmp{os.getpid()}-{next(self._numbers)}"
        parts = self.cipher.encrypt_parts(data)
        try:
            try:
                self._files.create(tmp, parts)
            except FileNotFoundError:  # the folder's first file (256 of them)
                os.makedirs(folder, exist_ok=True)
                self._files.create(tmp, parts)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return Path(tmp)

    def stage(self, sha256: str, data: bytes) -> None:
        """Write the bytes to a temporary file beside their place; `flush` makes every
        staged file durable and then visible under its name."""
        if sha256 in self._staged:
            return
        tmp = self.write_staged(sha256, data)
        if tmp is not None:
            self._staged[sha256] = _Staged(tmp, rewritable=True)

    def adopt(self, sha256: str, tmp: Path) -> None:
        """Take a file another process wrote with `write_staged` into the next `flush`.
        A discarded batch forgets it but leaves it on disk: the message that names it is
        handled again, and adopts it again."""
        target = self.path(sha256)
        if tmp.parent != target.parent or not tmp.name.startswith(f"{sha256}.tmp"):
            raise ValueError(f"not a staged file of blob {sha256}: {tmp}")
        if sha256 in self._staged or target.exists():
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()  # the same photo twice: the other copy is (or will be) stored
            return
        if not tmp.exists():
            raise FileNotFoundError(errno.ENOENT, "staged blob file is gone", str(tmp))
        self._staged[sha256] = _Staged(tmp, rewritable=False)

    def flush(self) -> None:
        """fsync the staged files, rename each into place, fsync each directory once.

        The fsyncs of a batch run side by side (they release the interpreter, and the disk
        merges them) instead of two after each file, one file after another. A file is
        renamed only once its bytes are on disk, so a name always means a whole file.
        """
        staged = {sha256: s.path for sha256, s in self._staged.items()}
        if not staged:
            return
        try:
            list(self._pool().map(fsync_path, staged.values()))
            for sha256, tmp in staged.items():
                os.replace(tmp, self.path(sha256))
                del self._staged[sha256]
            list(self._pool().map(fsync_path, {tmp.parent for tmp in staged.values()}))
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        """Forget what is staged (its batch was not committed): the files this store wrote
        are deleted, adopted ones kept for the next try."""
        for staged in self._staged.values():
            if staged.rewritable:
                with contextlib.suppress(FileNotFoundError):
                    staged.path.unlink()
        self._staged.clear()

    def remove_temporaries(self) -> int:
        """Delete the temporary files a stopped hub left (its batch was never committed:
        the broker delivers those photos again). Only at start, before the link writes."""
        removed = 0
        for folder in os.scandir(self.root):
            if not folder.is_dir(follow_symlinks=False):
                continue
            for entry in os.scandir(folder.path):
                if ".tmp" in entry.name:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
                        removed += 1
        return removed

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="blob-fsync")
        return self._executor

    def read(self, sha256: str) -> bytes:
        return self.cipher.decrypt_bytes(self.path(sha256).read_bytes())


DIRECT_ALIGN = 4096  # offsets, lengths and buffer addresses of direct I/O
DIRECT_FROM = 64 * 1024  # smaller files go through the page cache


class FileWriter:
    """Creates files by direct I/O where the filesystem takes it (`O_DIRECT`).

    A photo written through the page cache is first copied into freshly allocated cache
    pages, and on the hub's machine that copy was the largest single cost of storing it.
    By direct I/O the disk reads the bytes from the writer's own buffer: 200 KB files,
    fsynced in batches, took 0.36–0.38 of the CPU and were written 2.2 times as fast
    (`bench/bench_disk.py`). Direct I/O needs aligned buffers, offsets and lengths: the
    bytes are copied into a page-aligned buffer kept by each thread, and its whole blocks
    of `DIRECT_ALIGN` bytes are written from there; the rest of the last block goes
    through the page cache. Where the filesystem refuses direct I/O, the writer uses the
    page cache from then on. Either way a file is durable only once fsynced.
    """

    def __init__(self, direct: bool = True):
        self.direct = direct and hasattr(os, "O_DIRECT")
        self._buffers = threading.local()

    def create(self, path: str, parts: tuple[bytes, ...]) -> None:
        """Create `path`, which must not exist, holding the pieces one after another."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        size = sum(len(part) for part in parts)
        direct = self.direct and size >= DIRECT_FROM
        if direct:
            try:
                fd = os.open(path, flags | os.O_DIRECT, 0o644)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                self.direct = direct = False  # this filesystem has no direct I/O
                fd = os.open(path, flags, 0o644)
        else:
            fd = os.open(path, flags, 0o644)
        try:
            if not direct or not self._write_direct(fd, parts, size):
                write_all(fd, parts)
        finally:
            os.close(fd)

    def _write_direct(self, fd: int, parts: tuple[bytes, ...], size: int) -> bool:
        """Write by direct I/O; False, with nothing written, if the file refused it.

        Only whole blocks go direct. The last piece of a block goes through the page
        cache: written padded and then cut back to length, the file had its last block
        read back from the disk to be cut, which took a third of the writing time."""
        whole = size // DIRECT_ALIGN * DIRECT_ALIGN
        buffer = self._buffer(size)
        offset = 0
        for part in parts:
            buffer[offset:offset + len(part)] = part
            offset += len(part)
        view = memoryview(buffer)
        try:
            try:
                _write_view(fd, view[:whole])
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                self.direct = False  # refused (alignment, or a short write): page cache
                os.ftruncate(fd, 0)
                os.lseek(fd, 0, os.SEEK_SET)
                _buffered(fd)
                return False
            if whole < size:
                _buffered(fd)
                _write_view(fd, view[whole:size])
        finally:
            view.release()
        return True

    def _buffer(self, size: int) -> mmap.mmap:
        buffer = getattr(self._buffers, "buffer", None)
        if buffer is None or len(buffer) < size:
            if buffer is not None:
                buffer.close()
            # Anonymous mappings are page-aligned; room for a 1 MB photo to begin with.
            buffer = mmap.mmap(-1, max(size, 1024 * 1024 + DIRECT_ALIGN))
            self._buffers.buffer = buffer
        return buffer


def _write_view(fd: int, view: memoryview) -> None:
    written = 0
    while written < len(view):
        n = os.write(fd, view[written:])
        if not n:
            raise OSError(errno.EIO, "the file took no bytes")
        written += n


def _buffered(fd: int) -> None:
    """Go on writing this file through the page cache."""
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_DIRECT)


def write_all(fd: int, parts: tuple[bytes, ...]) -> None:
    """Write the pieces one after another with as few system calls as the kernel allows."""
    views = [memoryview(part) for part in parts if part]
    while views:
        written = os.writev(fd, views)
        if not written:
            raise OSError(errno.EIO, "the file took no bytes")
        while views and written >= len(views[0]):
            written -= len(views[0])
            views.pop(0)
        if views and written:
            views[0] = views[0][written:]


def fsync_path(path: Path) -> None:
    """fsync a file or a directory by its path."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
