"""Blob files of a batch: written aside, on disk before the commit, visible only after it."""

from __future__ import annotations

import errno
import hashlib
import os

import pytest

from hub import blobs
from hub.blobs import BlobStore, FileWriter
from hub.crypto import FieldCipher, key_path


def _jpeg(n: int) -> bytes:
    return b"\xff\xd8\xff" + bytes([n]) * 5000 + b"\xff\xd9"


@pytest.fixture
def store(tmp_path):
    return BlobStore(tmp_path / "blobs", FieldCipher.load(key_path(tmp_path)))


def test_staged_files_appear_only_after_the_flush_and_read_back_whole(store):
    blobs = {hashlib.sha256(_jpeg(n)).hexdigest(): _jpeg(n) for n in range(5)}
    for sha, data in blobs.items():
        store.stage(sha, data)
        store.stage(sha, data)  # the same photo twice in a batch is written once
    assert not any(store.exists(sha) for sha in blobs)
    store.flush()
    assert all(store.read(sha) == data for sha, data in blobs.items())
    assert not list(store.root.rglob("*.tmp*"))


def test_a_failed_flush_leaves_no_file_and_no_temporary(store, monkeypatch):
    data = _jpeg(9)
    sha = hashlib.sha256(data).hexdigest()
    store.stage(sha, data)

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError):
        store.flush()
    monkeypatch.undo()
    assert not store.exists(sha) and not list(store.root.rglob("*.tmp*"))
    store.put(sha, data)  # and the next try writes it
    assert store.read(sha) == data


def test_a_discarded_batch_leaves_nothing_behind(store):
    data = _jpeg(7)
    sha = hashlib.sha256(data).hexdigest()
    store.stage(sha, data)
    store.discard()
    store.flush()
    assert not store.exists(sha) and not [p for p in store.root.rglob("*") if p.is_file()]


def test_temporaries_a_stopped_hub_left_are_removed_and_stored_files_kept(store):
    kept, left = _jpeg(1), _jpeg(2)
    kept_sha, left_sha = (hashlib.sha256(d).hexdigest() for d in (kept, left))
    store.put(kept_sha, kept)
    store.write_staged(left_sha, left)  # written aside by a link, never committed
    store.stage(kept_sha + "0", kept)  # and one of the hub's own
    assert len(list(store.root.rglob("*.tmp*"))) == 2
    assert store.remove_temporaries() == 2
    assert not list(store.root.rglob("*.tmp*"))
    assert store.read(kept_sha) == kept and not store.exists(left_sha)


def test_a_photo_is_written_whole_when_the_kernel_takes_it_a_few_bytes_at_a_time(
        store, monkeypatch):
    """`os.writev` may write less than it was given; the rest must still reach the file,
    in order. (Through the page cache: big enough to split, too small for direct I/O.)"""
    monkeypatch.setattr(blobs, "DIRECT_FROM", 1 << 30)
    data = _jpeg(7) * 40
    sha = hashlib.sha256(data).hexdigest()
    real = os.writev
    calls = []

    def short(fd, buffers):
        calls.append(len(buffers))
        joined = b"".join(bytes(b) for b in buffers)
        return real(fd, [joined[:4093]])  # an odd size, to split a piece in the middle

    monkeypatch.setattr(os, "writev", short)
    tmp = store.write_staged(sha, data)
    monkeypatch.undo()
    assert len(calls) > len(data) // 4093  # it really came in short writes
    assert store.cipher.decrypt_bytes(tmp.read_bytes()) == data
    store.adopt(sha, tmp)
    store.flush()
    assert store.read(sha) == data


def test_a_photo_is_written_into_a_folder_made_on_demand_even_one_removed_meanwhile(store):
    first, second = _jpeg(1), _jpeg(2)
    sha1 = hashlib.sha256(first).hexdigest()
    sha2 = sha1[:2] + "f" * 62  # the same folder (the store checks no hash: the link does)
    assert not (store.root / sha1[:2]).exists()
    tmp = store.write_staged(sha1, first)
    assert tmp.parent == store.root / sha1[:2]
    tmp.unlink()
    (store.root / sha1[:2]).rmdir()  # an operator tidied the store while the hub ran
    again = store.write_staged(sha2, second)
    assert again.parent == store.root / sha1[:2]
    assert store.cipher.decrypt_bytes(again.read_bytes()) == second


# direct I/O -------------------------------------------------------------------------------
def _photo(n: int, size: int = 200 * 1024) -> bytes:
    body = hashlib.shake_256(bytes([n])).digest(size - 5)
    return b"\xff\xd8\xff" + body + b"\xff\xd9"


@pytest.fixture
def opened(monkeypatch):
    """The flags of every file `os.open` created."""
    real, flags = os.open, []

    def spy(path, how, *args, **kwargs):
        fd = real(path, how, *args, **kwargs)
        if how & os.O_CREAT:
            flags.append(how)
        return fd

    monkeypatch.setattr(os, "open", spy)
    return flags


def test_a_photo_is_written_by_direct_io_and_read_back_whole_at_its_own_length(
        store, opened):
    big, small = _photo(1, 300 * 1024 + 7), _photo(2, 150 * 1024 + 3)
    for data in (big, small):  # the smaller after the bigger: the buffer is reused
        sha = hashlib.sha256(data).hexdigest()
        tmp = store.write_staged(sha, data)
        assert os.path.getsize(tmp) == len(store.cipher.encrypt_bytes(data))
        store.adopt(sha, tmp)
        store.flush()
        assert store.read(sha) == data
    assert len(opened) == 2 and all(flag & os.O_DIRECT for flag in opened)
    assert store._files.direct


def test_a_small_photo_goes_through_the_page_cache(store, opened):
    data = _jpeg(3)
    store.put(hashlib.sha256(data).hexdigest(), data)
    assert opened and not opened[0] & os.O_DIRECT
    assert store.read(hashlib.sha256(data).hexdigest()) == data


def test_a_filesystem_without_direct_io_gets_the_page_cache_from_then_on(
        tmp_path, monkeypatch, opened):
    real = os.open

    def refuse(path, how, *args, **kwargs):
        if how & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(path, how, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    writer = FileWriter()
    for n in range(2):
        data = _photo(n)
        writer.create(str(tmp_path / f"f{n}"), (data[:10], data[10:]))
        assert (tmp_path / f"f{n}").read_bytes() == data
    assert not writer.direct


@pytest.mark.parametrize("first, stays_direct", [(8192, True), (1000, False)])
def test_a_direct_write_the_kernel_takes_in_part_or_refuses_still_makes_the_whole_file(
        tmp_path, monkeypatch, first, stays_direct):
    """The first write is forced short. 8 KB: the rest goes on by direct I/O from where
    it stopped. 1,000 bytes, an unaligned length: the kernel itself refuses it (EINVAL),
    and the file is written again from its start, through the page cache."""
    real, calls = os.write, []

    def short(fd, data):
        calls.append(len(data))
        return real(fd, data[:first]) if len(calls) == 1 else real(fd, data)

    monkeypatch.setattr(os, "write", short)
    writer = FileWriter()
    data = _photo(4)
    writer.create(str(tmp_path / "f"), (data,))
    whole = len(data) // 4096 * 4096
    # refused: written again by `os.writev`, which this test does not count
    assert calls[:2] == ([whole, whole - first] if stays_direct else [whole])
    assert (tmp_path / "f").read_bytes() == data
    assert writer.direct is stays_direct


def test_a_full_disk_during_a_direct_write_is_raised_and_leaves_no_temporary(
        store, monkeypatch):
    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    data = _photo(5)
    with pytest.raises(OSError) as raised:
        store.write_staged(hashlib.sha256(data).hexdigest(), data)
    assert raised.value.errno == errno.ENOSPC
    assert not list(store.root.rglob("*.tmp*"))
    assert store._files.direct  # the disk was full; direct I/O is still right for it
