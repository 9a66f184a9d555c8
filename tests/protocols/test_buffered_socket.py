"""The read-buffered socket under paho: many packets per system call, nothing lost."""

from __future__ import annotations

import select
import socket
import struct
import threading

import pytest

from protocols.mqtt import BufferedSocket


class CountingSocket:
    """A real socket that counts its `recv` calls."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.recvs = 0

    def recv(self, size: int) -> bytes:
        self.recvs += 1
        return self.sock.recv(size)

    def __getattr__(self, name):
        return getattr(self.sock, name)


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


def _publish(topic: bytes, mid: int, payload: bytes) -> bytes:
    body = struct.pack("!H", len(topic)) + topic + struct.pack("!H", mid) + payload
    length, remaining = bytearray(), len(body)
    while True:
        byte, remaining = remaining % 128, remaining // 128
        length.append(byte | (128 if remaining else 0))
        if not remaining:
            return bytes([0x32]) + bytes(length) + body


def _read_like_paho(sock) -> bytes:
    """One packet read as paho reads it: the first byte, the remaining length byte by
    byte, then the rest in as many calls as it takes."""
    first = sock.recv(1)
    length, mult, head = 0, 1, bytearray(first)
    while True:
        byte = sock.recv(1)[0]
        head.append(byte)
        length += (byte & 127) * mult
        mult *= 128
        if not byte & 128:
            break
    body = bytearray()
    while len(body) < length:
        body += sock.recv(length - len(body))
    return bytes(head + body)


def test_many_packets_come_out_of_one_read_in_order(pair):
    a, b = pair
    packets = [_publish(b"t/%d" % i, i + 1, b"x" * (i * 37 % 300)) for i in range(200)]
    a.sendall(b"".join(packets))
    inner = CountingSocket(b)
    select.select([b], [], [], 5)
    sock = BufferedSocket(inner)
    got = [_read_like_paho(sock) for _ in packets]
    assert got == packets
    # the plain socket took one call per header byte at least: 3 per packet here
    assert inner.recvs <= 2
    assert sock.pending() == 0
    with pytest.raises(BlockingIOError):
        sock.recv(1)


def test_pending_counts_what_is_buffered_and_select_still_works(pair):
    a, b = pair
    sock = BufferedSocket(b)
    assert sock.pending() == 0
    a.sendall(b"abcdef")
    assert select.select([sock], [], [], 5)[0] == [sock]  # fileno() is the socket's
    assert sock.recv(2) == b"ab"
    assert sock.pending() == 4
    assert sock.recv(10) == b"cdef"  # a short read, as a socket may give
    assert sock.pending() == 0


def test_a_large_read_is_handed_over_whole(pair):
    a, b = pair
    payload = bytes(range(256)) * 4000  # more than the socket pair holds
    sender = threading.Thread(target=a.sendall, args=(payload,))
    sender.start()
    sock = BufferedSocket(b)
    got = bytearray()
    while len(got) < len(payload):
        select.select([sock], [], [], 5)
        got += sock.recv(len(payload) - len(got))
    sender.join(5)
    assert bytes(got) == payload
    assert sock.pending() == 0


def test_an_end_of_stream_reads_empty(pair):
    a, b = pair
    a.sendall(b"z")
    a.close()
    sock = BufferedSocket(b)
    select.select([sock], [], [], 5)
    assert sock.recv(1) == b"z"
    assert sock.recv(1) == b""


def test_everything_else_is_the_socket_s_own(pair):
    _, b = pair
    sock = BufferedSocket(b)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    assert b.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    assert sock.fileno() == b.fileno()
    sock.close()
    assert b.fileno() == -1
