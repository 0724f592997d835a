"""Receiving one blob: a PartialBlob in the store's tmp/, verified piece by piece.

A PartialBlob writes a blob's pieces into ``tmp/sha256-<hex>.partial`` (preallocated to the
full size), checks each piece against its piece index as it lands, keeps ``.state`` (the pieces
verified and durable) so a restarted agent resumes from them, and at the end checks the whole
file against its digest, fsyncs it and hands it to the store, which renames it atomically into
``blobs/``. Unverified bytes never leave tmp/.

A PartialBlob knows nothing of the store beyond two callables it is given: ``publish`` (move a
verified, fsynced file into blobs/) and ``release`` (this digest is no longer being received).
"""
from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import threading
from pathlib import Path
from typing import Callable

from llmesh.agent.store.blob_io import DigestMismatch, hash_range, os_error, read_json
from llmesh.common.errors import FailedPrecondition, InvalidArgument, MeshError
from llmesh.common.files import atomic_write
from llmesh.common.hashing import SHA256, format_digest, format_piece_hash, new_piece_hasher
from llmesh.common.pieces import PieceIndex
from llmesh.common.platform import DIRECT_ALIGN, binary_flags, fdatasync, open_direct, pread, preallocate, pwrite
from llmesh.common.units import short_digest as short

log = logging.getLogger("llmesh.agent")

STATE_SUFFIX = ".state"
STATE_VERSION = 1
# In-memory chunks the whole-file hasher may hold before it falls back to reading the file.
WHOLE_HASH_MEMORY = 256 * 1024 * 1024

Publish = Callable[[str, Path], Path]   # (digest, verified file) -> the blob's path in blobs/


# -- receiving one blob -------------------------------------------------------------------------

class _Piece:
    """A piece being written: its bytes so far, in order, and their running hash."""

    __slots__ = ("lock", "written", "hasher")

    def __init__(self, algorithm: str):
        self.lock = threading.Lock()
        self.written = 0
        self.hasher = new_piece_hasher(algorithm)


class PartialBlob:
    """A blob being received into tmp/, piece by piece, verified as it lands.

    ``write`` may be called from several threads at once for different pieces; within a piece
    the data must come in order (it is hashed as it arrives, on the calling thread: hashlib
    releases the GIL, so pieces written from different threads hash in parallel; an asyncio
    caller should call it through an executor). A background thread computes the whole-file
    hash in file order: from the chunks themselves when they arrive in order and are immutable
    (bytes, read-only views: these are kept until hashed, up to WHOLE_HASH_MEMORY), else by
    reading verified pieces back. Another thread makes verified pieces durable (fdatasync,
    then the state file), so a restarted agent resumes from them. Use it as a context manager,
    or end it with ``complete``, ``close`` (keep for resuming) or ``abort``; ending waits for
    writes in progress on other threads (a cancelled job's streams), later writes are refused.
    """

    def __init__(self, digest: str, index: PieceIndex, path: Path, *, publish: Publish,
                 release: Callable[[str], None], trusted_index: bool = False):
        self.digest, self.index = digest, index
        self.trusted_index = trusted_index
        self.size = index.size
        self.path = path
        self._publish_blob, self._release = publish, release
        self.state_path = self.path.with_suffix(STATE_SUFFIX)
        self._changed = threading.Condition()
        self._pieces: dict[int, _Piece] = {}
        self._verified: set[int] = set()
        self._durable: set[int] = set()
        self._closed = False
        self._released = False
        self._writers = 0  # write() calls in progress: the file is not closed under them
        self._fd = -1
        self._direct = -1  # the same file, written past the page cache (see write), where it can be
        self._open_file()
        self._whole = _WholeHasher(self) if index.count > 1 and not trusted_index else None
        self._committer = _Committer(self) if index.count > 1 else None

    # -- state on disk --------------------------------------------------------------------------

    def _open_file(self) -> None:
        resumed = self._load_state() if self.path.exists() else None
        try:
            self._fd = os.open(self.path, binary_flags(os.O_RDWR | os.O_CREAT),
                               0o644)
            if resumed is None or os.fstat(self._fd).st_size != self.size:
                resumed = set()
                self.state_path.unlink(missing_ok=True)
                os.ftruncate(self._fd, 0)
                preallocate(self._fd, self.size)
        except OSError as e:
            if self._fd >= 0:
                os.close(self._fd)
            self._discard_files()
            raise os_error(e, f"creating {self.path}") from None
        self._verified = set(resumed)
        self._durable = set(resumed)
        direct = open_direct(self.path, binary_flags(os.O_RDWR))
        self._direct = -1 if direct is None else direct

    def _load_state(self) -> set[int] | None:
        """The pieces a previous run verified and made durable, if its state is for this index."""
        state = read_json(self.state_path)
        if not state or state.get("version") != STATE_VERSION \
                or state.get("index") != self.index.index_id:
            return None
        bits = int(state.get("verified", "0"), 16)
        return {i for i in range(self.index.count) if bits >> i & 1}

    def _write_state(self, durable: set[int]) -> None:
        bits = sum(1 << i for i in durable)
        atomic_write(self.state_path, json.dumps({
            "version": STATE_VERSION, "digest": self.digest, "index": self.index.index_id,
            "verified": format(bits, "x")}, sort_keys=True))

    # -- receiving ------------------------------------------------------------------------------

    def missing_pieces(self) -> list[int]:
        with self._changed:
            return [i for i in range(self.index.count) if i not in self._verified]

    def verified_pieces(self) -> list[int]:
        with self._changed:
            return sorted(self._verified)

    def read_verified(self, offset: int, length: int) -> bytes:
        """Bytes of verified pieces only (what a swarm member may serve while it still receives);
        FailedPrecondition for a range that reaches into a piece not verified here."""
        if length <= 0 or offset < 0 or offset + length > self.size:
            raise InvalidArgument(f"range {offset}+{length} is outside {short(self.digest)}")
        first, last = offset // self.index.piece_size, (offset + length - 1) // self.index.piece_size
        with self._changed:
            self._check_open()
            if any(p not in self._verified for p in range(first, last + 1)):
                raise FailedPrecondition(f"pieces {first}-{last} of {short(self.digest)} are not verified here")
            self._writers += 1  # the file stays open while it is read
        try:
            return pread(self._fd, length, offset)
        except OSError as e:
            raise os_error(e, f"reading {self.path}") from None
        finally:
            with self._changed:
                self._writers -= 1
                self._changed.notify_all()

    def written(self, piece: int) -> int:
        """Bytes of ``piece`` written so far in order: where a fetch of it can go on from."""
        self.index.piece_range(piece)
        with self._changed:
            if piece in self._verified:
                return self.index.piece_range(piece)[1]
            state = self._pieces.get(piece)
            return state.written if state else 0

    def write(self, piece: int, offset_in_piece: int, data, aligned: bool = False) -> None:
        """Write ``data`` at ``offset_in_piece``, which must be where the piece's data so far
        ends; offset 0 restarts the piece (e.g. from another holder). ``aligned``: ``data`` starts
        on a page (platform.direct_buffer): its bytes may go to the disk past the page cache."""
        start, length = self.index.piece_range(piece)
        data = memoryview(data).cast("B")
        state = self._begin_write(piece)
        try:
            self._write_locked(state, piece, start, length, offset_in_piece, data, aligned)
        finally:
            with self._changed:
                self._writers -= 1
                self._changed.notify_all()

    def _write_locked(self, state: _Piece, piece: int, start: int, length: int,
                      offset_in_piece: int, data: memoryview, aligned: bool = False) -> None:
        with state.lock:
            if offset_in_piece == 0 and state.written:
                state.written, state.hasher = 0, new_piece_hasher(self.index.algorithm)
                self._replacing(piece)
            if offset_in_piece != state.written:
                raise InvalidArgument(f"piece {piece} of {short(self.digest)}: data at offset "
                                      f"{offset_in_piece}, expected {state.written}")
            if offset_in_piece + len(data) > length:
                raise InvalidArgument(f"piece {piece} of {short(self.digest)} is {length} "
                                      f"bytes; data ends at {offset_in_piece + len(data)}")
            self._pwrite_all(data, start + offset_in_piece, aligned)
            state.hasher.update(data)
            state.written += len(data)
            if self._whole is not None:
                with self._changed:
                    self._whole.offer_locked(start + offset_in_piece, data)

    def _begin_write(self, piece: int) -> _Piece:
        with self._changed:
            self._check_open()
            if piece in self._verified:
                raise InvalidArgument(f"piece {piece} of {short(self.digest)} is already "
                                      "verified")
            self._writers += 1
            state = self._pieces.get(piece)
            if state is None:
                state = self._pieces[piece] = _Piece(self.index.algorithm)
            return state

    def _replacing(self, piece: int) -> None:
        if self._whole is not None:
            with self._changed:
                self._whole.invalidate_locked(piece)

    def _pwrite_all(self, view: memoryview, offset: int, aligned: bool = False) -> None:
        try:
            if aligned and self._direct >= 0 and offset % DIRECT_ALIGN == 0:
                view, offset = self._write_direct(view, offset)
            while view:
                n = pwrite(self._fd, view, offset)
                view, offset = view[n:], offset + n
        except OSError as e:
            raise os_error(e, f"receiving {short(self.digest)} into {self.path}") from None

    def _write_direct(self, view: memoryview, offset: int) -> tuple[memoryview, int]:
        """Write the aligned head of ``view`` past the page cache; what is left to write buffered.
        Copying bulk data into the page cache can cost more CPU than receiving it (perf on a VM:
        over half the destination's CPU), and these bytes are on the disk when this returns.
        A file system that refuses (EINVAL) gets buffered writes from then on."""
        head = view[:len(view) - len(view) % DIRECT_ALIGN]
        while head:
            try:
                n = pwrite(self._direct, head, offset)
            except OSError as e:
                if e.errno != errno.EINVAL:
                    raise
                self._close_direct()
                break
            head, view, offset = head[n:], view[n:], offset + n
            if n % DIRECT_ALIGN:
                break  # a short write off the alignment: the rest goes buffered
        return view, offset

    def _close_direct(self) -> None:
        fd, self._direct = self._direct, -1
        if fd >= 0:
            os.close(fd)

    def finish_piece(self, piece: int) -> bool:
        """Check a fully written piece against the index. True: verified. False: its bytes are
        discarded and the piece is missing again, to be fetched anew."""
        _, length = self.index.piece_range(piece)
        with self._changed:
            self._check_open()
            if piece in self._verified:
                return True
            state = self._pieces.get(piece) or _Piece(self.index.algorithm)
        with state.lock:
            if state.written != length:
                raise InvalidArgument(f"piece {piece} of {short(self.digest)} is incomplete: "
                                      f"{state.written} of {length} bytes")
            good = format_piece_hash(self.index.algorithm, state.hasher.hexdigest()) == self.index.hashes[piece]
        with self._changed:
            self._pieces.pop(piece, None)
            if good:
                self._verified.add(piece)
                self._changed.notify_all()
            elif self._whole is not None:
                self._whole.invalidate_locked(piece)
        if not good:
            log.warning("piece %d of %s failed verification; it will be fetched again",
                        piece, short(self.digest))
        return good

    # -- ending ---------------------------------------------------------------------------------

    def sync(self) -> None:
        """Make every verified piece durable now (the background thread does it anyway)."""
        if self._committer is not None:
            self._committer.commit()

    def complete(self) -> Path:
        """Check the whole file, fsync it and rename it into blobs/; returns the blob's path."""
        with self._changed:
            self._check_open()
        missing = self.missing_pieces()
        if missing:
            raise FailedPrecondition(f"{short(self.digest)} is not complete: {len(missing)} "
                                     f"of {self.index.count} pieces missing")
        self._check_whole()
        if self._committer is not None:
            self._committer.stop(commit=False)
        try:
            os.fsync(self._fd)
        except OSError as e:
            raise os_error(e, f"flushing {self.path}") from None
        return self._publish()

    def _check_whole(self) -> None:
        if self.trusted_index:
            return  # every piece matched an index known to belong to this digest
        if self.index.count > 1:
            actual = self._whole.result()
        elif self.index.count == 1 and self.index.algorithm == SHA256:
            actual = self.index.hashes[0]  # the one piece, already verified, is the whole file
        elif self.index.count == 1:
            actual = hash_range(self._fd, 0, self.size)  # its one piece's hash is not a sha256
        else:
            actual = format_digest(hashlib.sha256().hexdigest())
        if actual == self.digest:
            return
        bad = self._find_bad_pieces()
        if bad:
            raise DigestMismatch(f"{short(self.digest)} failed its whole-file check: "
                                 f"{len(bad)} piece(s) corrupt on disk ({_list(bad)}), "
                                 "missing again", bad)
        self.abort()
        raise DigestMismatch(f"{short(self.digest)} failed its whole-file check although every "
                             "piece matched its index: the piece index is wrong; partial "
                             "discarded", [])

    def _find_bad_pieces(self) -> list[int]:
        bad = []
        for piece in range(self.index.count):
            start, length = self.index.piece_range(piece)
            if hash_range(self._fd, start, length, algorithm=self.index.algorithm) != self.index.hashes[piece]:
                bad.append(piece)
        with self._changed:
            self._verified.difference_update(bad)
            self._durable.difference_update(bad)
        if bad and self._whole is not None:
            self._whole.restart()
        if bad and self._committer is not None:
            with self._committer.io:  # never interleaved with a commit of the old set
                self._write_state(set(self._durable))
        return bad

    def _publish(self) -> Path:
        self._close_direct()
        os.close(self._fd)
        self._fd = -1
        target = self._publish_blob(self.digest, self.path)
        self.state_path.unlink(missing_ok=True)
        self._end()
        return target

    def close(self) -> None:
        """Stop receiving but keep the verified pieces for a later open_partial to resume."""
        if self._committer is not None:
            self._committer.stop(commit=True)
        self._end()

    def abort(self) -> None:
        """Stop receiving and delete everything received (nothing is left outside tmp/)."""
        if self._committer is not None:
            self._committer.stop(commit=False)
        self._end()
        self._discard_files()

    def _end(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
            while self._writers:
                self._changed.wait()
        if self._whole is not None:
            self._whole.stop()
        self._close_direct()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if not self._released:  # once: a later holder of the digest keeps its claim
            self._released = True
            self._release(self.digest)

    def _discard_files(self) -> None:
        self.path.unlink(missing_ok=True)
        self.state_path.unlink(missing_ok=True)

    def _check_open(self) -> None:
        if self._closed:
            raise FailedPrecondition(f"receiving {short(self.digest)} has ended")

    def __enter__(self) -> "PartialBlob":
        return self

    def __exit__(self, *exc) -> None:
        if not self._closed:
            self.close()


class _WholeHasher:
    """The whole-file sha256, computed in file order while the pieces arrive.

    Fast path: immutable chunks (bytes, read-only views) that land at or after the point the
    hash has reached are kept (up to WHOLE_HASH_MEMORY) and hashed from memory when the hash
    gets there, with no read and no copy; that covers pieces in flight on several streams at
    once. Bytes not kept (a mutable buffer, a resume, memory full) are read back from the file
    once their piece is verified, from the page cache as a rule. A piece that fails or restarts
    after some of its bytes were hashed makes the hash start over from the file. The file's
    bytes are pinned by the piece checks; this hash checks that the index matches the digest.
    """

    def __init__(self, blob: PartialBlob):
        self.blob = blob
        self._error: OSError | None = None
        self._stopped = False
        self._reset_locked()
        self._thread = threading.Thread(target=self._run, name="llmesh-whole-hash", daemon=True)
        self._thread.start()

    # -- called by the blob, with blob._changed held --------------------------------------------

    def _reset_locked(self) -> None:
        self._generation = getattr(self, "_generation", 0) + 1
        self._hash = hashlib.sha256()
        self._hashed_to = 0               # bytes [0, hashed_to) are in the hash
        self._claimed_to = 0              # ... or being hashed by the thread
        self._memory: dict[int, memoryview] = {}   # offset -> chunk not hashed yet
        self._memory_bytes = 0

    def offer_locked(self, offset: int, view: memoryview) -> None:
        if (offset >= self._claimed_to and view.readonly and view.nbytes
                and self._memory_bytes + view.nbytes <= WHOLE_HASH_MEMORY):
            replaced = self._memory.get(offset)
            self._memory_bytes += view.nbytes - (replaced.nbytes if replaced else 0)
            self._memory[offset] = view
            if offset == self._claimed_to:
                self.blob._changed.notify_all()

    def invalidate_locked(self, piece: int) -> None:
        """The piece's bytes are being replaced: forget what was kept or hashed of them."""
        start, length = self.blob.index.piece_range(piece)
        if start < self._claimed_to:
            self._reset_locked()
            self.blob._changed.notify_all()
            return
        for offset in [o for o in self._memory if start <= o < start + length]:
            self._memory_bytes -= self._memory.pop(offset).nbytes

    # -- the thread -----------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                work = self._next_work()
                if work is None:
                    return
                generation, h, offset, view = work
                if isinstance(view, memoryview):
                    h.update(view)
                    n = view.nbytes
                else:  # a length to read back from the file
                    n = view
                    hash_range(self.blob._fd, offset, n, h)
                with self.blob._changed:
                    if generation == self._generation:
                        self._hashed_to = offset + n
                        self.blob._changed.notify_all()
        except OSError as e:
            self._error = e

    def _next_work(self):
        """(generation, hash, offset, chunk or length to read back); None once stopped.

        The thread lives until stopped, not until the end of the file: a piece found bad
        after everything was hashed makes it start over.
        """
        blob = self.blob
        with blob._changed:
            while not self._stopped:
                offset = self._hashed_to
                if offset < blob.size:
                    work = self._work_at_locked(offset)
                    if work is not None:
                        self._claimed_to = offset + (work if isinstance(work, int)
                                                     else work.nbytes)
                        return self._generation, self._hash, offset, work
                blob._changed.wait()
            return None

    def _work_at_locked(self, offset: int):
        view = self._memory.pop(offset, None)
        if view is not None:
            self._memory_bytes -= view.nbytes
            return view
        piece = offset // self.blob.index.piece_size
        if piece not in self.blob._verified:
            return None
        start, length = self.blob.index.piece_range(piece)
        kept = [o for o in self._memory if offset < o < start + length]
        return min(kept, default=start + length) - offset  # read back up to the next kept chunk

    def restart(self) -> None:
        with self.blob._changed:
            self._reset_locked()
            self.blob._changed.notify_all()

    def result(self) -> str:
        """The digest once every byte is hashed (call only when every piece is verified)."""
        with self.blob._changed:
            while self._hashed_to < self.blob.size and self._error is None \
                    and self._thread.is_alive():
                self.blob._changed.wait(0.5)
            digest = format_digest(self._hash.hexdigest())
        if self._error is not None:
            raise os_error(self._error, f"reading back {self.blob.path}")
        return digest

    def stop(self) -> None:
        with self.blob._changed:
            self._stopped = True
            self.blob._changed.notify_all()
        self._thread.join()


class _Committer:
    """Makes verified pieces durable: fdatasync the partial, then record them in the state file.

    The state lists only pieces verified before the fdatasync began, so after a crash it never
    vouches for bytes that were still only in the page cache. Syncs batch naturally: pieces
    verified during one sync are recorded by the next.
    """

    def __init__(self, blob: PartialBlob):
        self.blob = blob
        self._stopped = False
        self.io = threading.Lock()  # one sync at a time (the thread's, or sync()'s)
        self._thread = threading.Thread(target=self._run, name="llmesh-commit", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        blob = self.blob
        while True:
            with blob._changed:
                while not self._stopped and blob._verified <= blob._durable:
                    blob._changed.wait()
                if self._stopped:
                    return
            try:
                if not self.commit():
                    return  # the file is closed: nothing more to record
            except MeshError as e:
                # Only resumability suffers; complete() does its own fsync and reports.
                log.warning("%s", e)
                return

    def commit(self) -> bool:
        """Record the verified pieces durably; False if the file is already closed."""
        blob = self.blob
        with self.io:
            with blob._changed:
                pending = set(blob._verified)
                if blob._fd < 0:
                    return False
                if pending <= blob._durable:
                    return True
                fd = blob._fd
            try:
                fdatasync(fd)
                with blob._changed:
                    durable = pending & blob._verified  # not those found bad meanwhile
                blob._write_state(durable)
                with blob._changed:
                    blob._durable = durable
            except OSError as e:
                raise os_error(e, f"recording progress of {short(blob.digest)}") from None
        return True

    def stop(self, commit: bool) -> None:
        with self.blob._changed:
            self._stopped = True
            self.blob._changed.notify_all()
        self._thread.join()
        if commit:
            try:
                self.commit()
            except MeshError as e:
                log.warning("%s", e)


# -- helpers ------------------------------------------------------------------------------------


def _list(items: list[int], limit: int = 8) -> str:
    text = ", ".join(map(str, items[:limit]))
    return text + (f" and {len(items) - limit} more" if len(items) > limit else "")
