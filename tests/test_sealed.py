"""Sealed frames (llmesh.common.sealed) on real loopback sockets: what goes in comes out whole and
in order, and an altered, reordered, replayed, oversized or cut stream never hands on a byte it
did not authenticate. The blob socket's use of them, with agents old and new, is in
test_batched_tls.py and test_transfer.py."""
import hashlib
import socket
import threading

import pytest

from llmesh.common import sealed

MAX = 64 * 1024


def payload(size: int, seed: int = 1) -> bytes:
    return hashlib.shake_256(seed.to_bytes(4, "big")).digest(size)


def sealed_bytes(data: bytes, key: bytes, max_frame: int = MAX, pieces=None) -> bytes:
    """What a SealedWriter puts on the wire for ``data`` (written in ``pieces`` sendall calls)."""
    sink = Collect()
    writer = sealed.SealedWriter(sink, key, max_frame)
    at = 0
    for n in pieces or [len(data)]:
        writer.sendall(data[at:at + n])
        at += n
    return bytes(sink.data)


class Collect:
    def __init__(self):
        self.data = bytearray()

    def sendall(self, data) -> None:
        self.data += data


def read_all(wire: bytes, key: bytes, view_size: int, max_frame: int = MAX) -> bytes:
    """Feed ``wire`` through a real socket pair into a SealedReader, reading ``view_size`` at a time."""
    ours, theirs = socket.socketpair()
    writer = threading.Thread(target=lambda: (theirs.sendall(wire), theirs.shutdown(socket.SHUT_WR)))
    writer.start()
    reader, out, buffer = sealed.SealedReader(ours, key, max_frame), bytearray(), bytearray(view_size)
    try:
        while True:
            n = reader.recv_into(buffer)
            if not n:
                return bytes(out)
            out += buffer[:n]
    finally:
        writer.join(30)
        ours.close()
        theirs.close()


@pytest.mark.parametrize("view_size", [MAX, MAX + 1, MAX - 1, 1000, 4 * MAX])
def test_what_is_sealed_opens_whole_and_in_order_whatever_the_buffer(view_size):
    key, data = sealed.new_key(), payload(5 * MAX + 12345)
    wire = sealed_bytes(data, key, pieces=[1, MAX - 1, MAX + 1, 3, 2 * MAX + 7, 10**9])
    assert data not in wire and data[:64] not in wire  # it is not sent in the clear
    assert read_all(wire, key, view_size) == data


def frames(wire: bytes) -> list[bytes]:
    out, at = [], 0
    while at < len(wire):
        length = int.from_bytes(wire[at:at + 4], "big")
        out.append(wire[at:at + 4 + length + sealed.TAG_BYTES])
        at += len(out[-1])
    return out


def test_an_altered_reordered_replayed_or_dropped_frame_fails_to_open_and_hands_nothing_on():
    key, data = sealed.new_key(), payload(3 * MAX)
    wire = sealed_bytes(data, key)
    first, second, third = frames(wire)
    flipped = bytearray(wire)
    flipped[len(first) + 4 + 100] ^= 0x01  # one bit inside the second frame's ciphertext
    for altered in (bytes(flipped), first + third + second, first + first + second, first + third):
        with pytest.raises(ConnectionError, match="failed to open"):
            read_all(altered, key, MAX)
    with pytest.raises(ConnectionError, match="failed to open"):
        read_all(wire, sealed.new_key(), MAX)  # another key


def test_a_length_over_the_frame_limit_is_refused_before_it_is_read():
    key = sealed.new_key()
    wire = sealed_bytes(payload(2 * MAX), key, max_frame=2 * MAX)
    with pytest.raises(ConnectionError, match=f"sealed frame of {2 * MAX} bytes \\(at most {MAX}\\)"):
        read_all(wire, key, MAX, max_frame=MAX)
    with pytest.raises(ConnectionError, match="sealed frame of 0 bytes"):
        read_all(b"\0\0\0\0", key, MAX)


def test_a_stream_cut_in_a_frame_ends_without_its_bytes():
    key, data = sealed.new_key(), payload(3 * MAX)
    wire = sealed_bytes(data, key)
    frame = 4 + MAX + sealed.TAG_BYTES
    for cut, whole in ((10, 0), (frame + 2, 1), (frame + 10, 1), (len(wire) - 1, 2)):
        assert read_all(wire[:cut], key, MAX) == data[:whole * MAX]  # whole frames only


def test_a_request_names_its_key_and_anything_else_means_no_sealing():
    key = sealed.new_key()
    assert sealed.key_of({"seal": sealed.SUITE, "key": sealed.key_text(key)}) == key
    for request in ({}, {"seal": "rot13", "key": sealed.key_text(key)}, {"seal": sealed.SUITE},
                    {"seal": sealed.SUITE, "key": "not base64!"}, {"seal": sealed.SUITE, "key": 7},
                    {"seal": sealed.SUITE, "key": sealed.key_text(key[:16])}):
        assert sealed.key_of(request) is None
