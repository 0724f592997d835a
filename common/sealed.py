"""Sealed frames: a blob body as AES-GCM frames on the bare connection, after mutual TLS.

TLS hands a bulk body to the peer in 16 KiB records, each copied through OpenSSL's buffers and,
at the source, sent with a syscall of its own. Once the blob socket's mutual-TLS session has
carried the request, the destination's fresh key and the source's answer, the body no longer
needs TLS records: the source seals each chunk with AES-256-GCM straight from its read buffer and
the destination opens it straight into its own (``cryptography``'s ``encrypt_into`` and
``decrypt_into``). That costs 0.61x the CPU per byte of the TLS path (bench/sealed_frames.py,
docs/transfer-data-path.md section 7).

Security rests on the TLS session: only the authenticated peer learns the key, which is made
for one connection and one direction. Each frame is a 4-byte length (checked before anything
is read into a buffer) and the ciphertext with its tag; the length is the associated data and
the frame's number the nonce, so an altered, reordered, replayed or dropped frame fails to open,
and a frame that fails to open ends the read with an error before any of its bytes is handed on.
A stream cut short shows as fewer bytes than asked, as with TLS.
"""
from __future__ import annotations

import base64
import binascii
import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SUITE = "aes-256-gcm"
KEY_BYTES = 32
TAG_BYTES = 16
GO = b"\x01"  # the destination read the answer: frames may come (none sits in its TLS buffers)
_LENGTH = struct.Struct("!I")


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def key_text(key: bytes) -> str:
    return base64.b64encode(key).decode()


def key_of(request: dict) -> bytes | None:
    """The key a request asks the body to be sealed with, or None (an agent that does not seal,
    or a suite this agent does not know: the body goes in TLS, as before)."""
    if request.get("seal") != SUITE or not isinstance(request.get("key"), str):
        return None
    try:
        key = base64.b64decode(request["key"], validate=True)
    except (binascii.Error, ValueError):
        return None
    return key if len(key) == KEY_BYTES else None


def _nonce(number: int) -> bytes:
    return number.to_bytes(12, "big")


class SealedWriter:
    """The source's end: ``sendall`` seals its bytes in frames of at most ``max_frame``."""

    def __init__(self, sock, key: bytes, max_frame: int):
        self._sock, self._aead, self._max = sock, AESGCM(key), max_frame
        self._frame = bytearray(_LENGTH.size + max_frame + TAG_BYTES)
        self._number = 0

    def sendall(self, data) -> None:
        view, frame = memoryview(data).cast("B"), memoryview(self._frame)
        for start in range(0, len(view), self._max):
            block = view[start:start + self._max]
            end = _LENGTH.size + len(block) + TAG_BYTES
            _LENGTH.pack_into(self._frame, 0, len(block))
            self._aead.encrypt_into(_nonce(self._number), block, frame[:_LENGTH.size], frame[_LENGTH.size:end])
            self._number += 1
            self._sock.sendall(frame[:end])


class SealedReader:
    """The destination's end: ``recv_into`` opens frames into the caller's buffer (a frame larger
    than it is opened aside and handed out in parts); 0 at the end of the stream."""

    def __init__(self, sock, key: bytes, max_frame: int):
        self._sock, self._aead, self._max = sock, AESGCM(key), max_frame
        self._sealed = bytearray(max_frame + TAG_BYTES)
        self._aside: bytearray | None = None
        self._left = memoryview(b"")
        self._number = 0

    def recv_into(self, buffer, nbytes: int = 0) -> int:
        view = memoryview(buffer).cast("B")[:nbytes or len(buffer)]
        if self._left:
            n = min(len(view), len(self._left))
            view[:n] = self._left[:n]
            self._left = self._left[n:]
            return n
        header = bytearray(_LENGTH.size)
        if not self._read_exactly(memoryview(header)):
            return 0
        (length,) = _LENGTH.unpack(header)
        if not 0 < length <= self._max:
            raise ConnectionError(f"a sealed frame of {length} bytes (at most {self._max}): the stream is corrupt")
        sealed = memoryview(self._sealed)[:length + TAG_BYTES]
        if not self._read_exactly(sealed):
            return 0  # cut in the middle of a frame: its bytes are not handed on
        aside = length > len(view)
        if aside and self._aside is None:
            self._aside = bytearray(self._max)
        target = memoryview(self._aside)[:length] if aside else view[:length]
        try:
            self._aead.decrypt_into(_nonce(self._number), sealed, header, target)
        except InvalidTag:
            raise ConnectionError("a sealed frame failed to open: the stream was altered in transit") from None
        self._number += 1
        if not aside:
            return length
        view[:] = target[:len(view)]
        self._left = target[len(view):]
        return len(view)

    def _read_exactly(self, view: memoryview) -> bool:
        """Fill ``view``; False if the stream ended first."""
        got = 0
        while got < len(view):
            n = self._sock.recv_into(view[got:])
            if not n:
                return False
            got += n
        return True
