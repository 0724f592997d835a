"""The agent's blob store (agent/store.py): receiving, resuming, materialising, gc. Real files."""
from __future__ import annotations

import errno
import hashlib
import os
import random
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import llmesh.agent.store.partial as partial_mod
from llmesh.agent.inventory.scanner import FileEntry
from llmesh.agent.store.blobs import BlobStore, DigestMismatch
from llmesh.common import platform
from llmesh.common.errors import (
    AlreadyExists,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
)
from llmesh.common.pieces import PieceIndex, compute_piece_index
from llmesh.common.units import human_size

PIECE = 1000
CHUNK = 256  # several chunks per piece, the last one short


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def store(tmp_path) -> BlobStore:
    return BlobStore(tmp_path / "store")


def make_file(tmp_path: Path, size: int = 3500, name: str = "src.bin", algorithm: str | None = None):
    """A source file of random bytes and its piece index (pieces of 1000 bytes; blake3 ones
    unless ``algorithm`` says: blake3 is installed here)."""
    data = os.urandom(size)
    path = tmp_path / name
    path.write_bytes(data)
    return path, data, compute_piece_index(path, PIECE, algorithm=algorithm)


@pytest.fixture(params=["blake3", "sha256"])
def algorithm(request):
    """Pieces hashed either way: sha256 indexes (older agents, cached ones) still work."""
    return request.param


def send_piece(blob, index: PieceIndex, data: bytes, piece: int, *, corrupt: bool = False,
               kind=bytes):
    """Send one piece in CHUNK-sized messages of type ``kind``; True if it verified."""
    start, length = index.piece_range(piece)
    for off in range(0, length, CHUNK):
        chunk = data[start + off:start + min(off + CHUNK, length)]
        if corrupt and off == 0:
            chunk = bytes([chunk[0] ^ 0xFF]) + chunk[1:]
        blob.write(piece, off, kind(chunk))
    return blob.finish_piece(piece)


def receive(store: BlobStore, data: bytes, index: PieceIndex, order=None) -> Path:
    blob = store.open_partial(index.digest, index.size, index)
    for piece in (order if order is not None else range(index.count)):
        assert send_piece(blob, index, data, piece)
    return blob.complete()


def tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def entry(path: str, data: bytes) -> FileEntry:
    return FileEntry(path, len(data), sha(data))


# -- receiving ----------------------------------------------------------------------------------

def test_received_blob_lands_in_blobs_verified_and_read_only(store, tmp_path):
    _, data, index = make_file(tmp_path)
    assert store.missing([index.digest, index.digest]) == [index.digest]
    path = receive(store, data, index)
    assert path == store.blob_path(index.digest)
    assert path.name == "sha256-" + index.digest[7:]
    assert path.read_bytes() == data
    assert not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert store.has(index.digest) and store.missing([index.digest]) == []
    assert tree(store.tmp_dir) == []


@pytest.mark.parametrize("order", [[3, 2, 1, 0], [2, 0, 3, 1]])
def test_pieces_may_arrive_in_any_order(store, tmp_path, order):
    _, data, index = make_file(tmp_path)
    assert receive(store, data, index, order).read_bytes() == data


@pytest.mark.parametrize("direct", [True, False], ids=["past the page cache", "no direct I/O here"])
def test_aligned_batches_may_go_past_the_page_cache_and_land_the_same(store, tmp_path, monkeypatch, direct):
    """Blob-socket batches come in page-aligned buffers and may be written with O_DIRECT; the tail of
    the file is written buffered; where there is no direct I/O (Windows, macOS, tmpfs) all of it is."""
    if not direct:
        monkeypatch.setattr(partial_mod, "open_direct", lambda path, flags: None)
    else:
        probe = platform.open_direct(tmp_path / "probe", os.O_RDWR | os.O_CREAT)
        if probe is None:
            pytest.skip("no direct I/O on this file system (or OS): only the buffered case applies")
        os.close(probe)
    size, piece_size = 3 * 1024 * 1024 + 12345, 1024 * 1024  # a short last piece, off the alignment
    path = tmp_path / "src.bin"
    data = os.urandom(size)
    path.write_bytes(data)
    index = compute_piece_index(path, piece_size)
    blob = store.open_partial(index.digest, index.size, index)
    batch = platform.direct_buffer(256 * 1024)
    for piece in reversed(range(index.count)):
        start, length = index.piece_range(piece)
        for off in range(0, length, len(batch)):
            n = min(len(batch), length - off)
            batch[:n] = data[start + off:start + off + n]
            blob.write(piece, off, batch[:n], aligned=True)
        assert blob.finish_piece(piece)
    assert (blob._direct >= 0) == direct  # the path this case is about ran
    assert blob.complete().read_bytes() == data


@pytest.mark.parametrize("size", [0, 1, 1000])
def test_empty_and_single_piece_blobs(store, tmp_path, size, algorithm):
    _, data, index = make_file(tmp_path, size, algorithm=algorithm)
    assert receive(store, data, index).read_bytes() == data
    assert tree(store.tmp_dir) == []


def wait_until_hashed(blob, offset: int) -> None:
    """White-box: until the whole-file hash has taken in bytes up to ``offset`` (from memory)."""
    with blob._changed:
        while blob._whole._hashed_to < offset:
            blob._changed.wait(1)


def test_a_corrupt_chunk_fails_only_its_piece(store, tmp_path, algorithm):
    _, data, index = make_file(tmp_path, algorithm=algorithm)
    blob = store.open_partial(index.digest, index.size, index)
    results = [send_piece(blob, index, data, p, corrupt=(p == 2)) for p in range(4)]
    assert results == [True, True, False, True]
    assert blob.missing_pieces() == [2]
    assert blob.written(2) == 0
    assert send_piece(blob, index, data, 2)
    assert blob.complete().read_bytes() == data


def test_a_bad_piece_already_in_the_whole_file_hash_makes_it_start_over(store, tmp_path):
    _, data, index = make_file(tmp_path)
    blob = store.open_partial(index.digest, index.size, index)
    send_piece(blob, index, data, 0)
    start, length = index.piece_range(1)
    blob.write(1, 0, b"\xff" + data[start + 1:start + length])
    wait_until_hashed(blob, start + length)  # the bad bytes are in the hash now
    assert not blob.finish_piece(1)
    for piece in (1, 2, 3):
        assert send_piece(blob, index, data, piece)
    assert blob.complete().read_bytes() == data


def test_a_bad_piece_kept_in_memory_is_forgotten(store, tmp_path):
    # Piece 2 fails while the hash still waits for piece 0; sent again in a mutable buffer it
    # is read back from the file, so any chunk of the bad copy left in memory would be used.
    _, data, index = make_file(tmp_path)
    blob = store.open_partial(index.digest, index.size, index)
    assert not send_piece(blob, index, data, 2, corrupt=True)
    assert send_piece(blob, index, data, 2, kind=bytearray)
    for piece in (0, 1, 3):
        assert send_piece(blob, index, data, piece)
    assert blob.complete().read_bytes() == data


def test_a_piece_can_go_on_from_where_it_stopped_or_restart(store, tmp_path):
    _, data, index = make_file(tmp_path)
    blob = store.open_partial(index.digest, index.size, index)
    blob.write(1, 0, data[1000:1300])
    assert blob.written(1) == 300
    blob.write(1, 300, data[1300:2000])
    assert blob.finish_piece(1)
    blob.write(0, 0, b"x" * 500)       # a holder that went bad mid-piece...
    wait_until_hashed(blob, 500)
    blob.write(0, 0, data[0:1000])     # ...and the piece fetched again from the start
    assert blob.finish_piece(0)
    assert blob.missing_pieces() == [2, 3]
    send_piece(blob, index, data, 2)
    send_piece(blob, index, data, 3)
    assert blob.complete().read_bytes() == data


@pytest.mark.parametrize("action, error, match", [
    (lambda b, d: b.write(0, 10, d[10:20]), InvalidArgument, "offset 10, expected 0"),
    (lambda b, d: b.write(3, 0, d[3000:3501] + b"x"), InvalidArgument, "is 500 bytes"),
    (lambda b, d: b.write(4, 0, b"x"), InvalidArgument, "out of range"),
    (lambda b, d: (b.write(0, 0, d[:10]), b.finish_piece(0)), InvalidArgument, "incomplete"),
    (lambda b, d: b.complete(), FailedPrecondition, "4 of 4 pieces missing"),
])
def test_misuse_is_refused_with_one_line(store, tmp_path, action, error, match):
    _, data, index = make_file(tmp_path)
    blob = store.open_partial(index.digest, index.size, index)
    with pytest.raises(error, match=match) as exc:
        action(blob, data)
    assert "\n" not in str(exc.value)
    blob.abort()


def test_a_verified_piece_cannot_be_written_again(store, tmp_path):
    _, data, index = make_file(tmp_path)
    blob = store.open_partial(index.digest, index.size, index)
    assert send_piece(blob, index, data, 0)
    with pytest.raises(InvalidArgument, match="already verified"):
        blob.write(0, 0, data[:10])
    assert blob.finish_piece(0)  # finishing twice is harmless
    blob.abort()


def test_open_partial_checks_its_arguments(store, tmp_path):
    _, data, index = make_file(tmp_path)
    with pytest.raises(InvalidArgument, match="piece index is for"):
        store.open_partial(index.digest, index.size + 1, index)
    with pytest.raises(InvalidArgument, match="piece index is for"):
        store.open_partial(sha(b"other"), index.size, index)
    with pytest.raises(InvalidArgument, match="invalid digest"):
        store.has("sha256:../../etc")


def test_one_receiver_per_blob_and_none_for_a_blob_held(store, tmp_path):
    _, data, index = make_file(tmp_path)
    blob = store.open_partial(index.digest, index.size, index)
    with pytest.raises(FailedPrecondition, match="already being received"):
        store.open_partial(index.digest, index.size, index)
    for piece in range(4):
        send_piece(blob, index, data, piece)
    blob.complete()
    with pytest.raises(AlreadyExists, match="already in the store"):
        store.open_partial(index.digest, index.size, index)
    with pytest.raises(FailedPrecondition, match="has ended"):
        blob.write(0, 0, b"x")


def test_concurrent_writers_on_different_pieces(store, tmp_path):
    _, data, index = make_file(tmp_path, 64 * 1000 + 17)
    blob = store.open_partial(index.digest, index.size, index)
    pieces = list(range(index.count))
    random.Random(7).shuffle(pieces)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda p: send_piece(blob, index, data, p), pieces))
    assert all(results) and blob.missing_pieces() == []
    assert blob.complete().read_bytes() == data


def test_concurrent_opens_of_one_blob_let_exactly_one_through(store, tmp_path):
    _, _, index = make_file(tmp_path)
    barrier = threading.Barrier(6)

    def attempt():
        barrier.wait()
        try:
            return store.open_partial(index.digest, index.size, index)
        except FailedPrecondition:
            return None

    with ThreadPoolExecutor(6) as pool:
        opened = [b for b in pool.map(lambda _: attempt(), range(6)) if b is not None]
    assert len(opened) == 1
    opened[0].abort()


def test_abort_waits_for_a_write_in_progress_and_refuses_later_ones(store, tmp_path,
                                                                   monkeypatch):
    # A cancelled job's stream may be mid-write: the file must not be closed under it.
    _, data, index = make_file(tmp_path)
    blob = store.open_partial(index.digest, index.size, index)
    in_write, release, real_pwrite = threading.Event(), threading.Event(), os.pwrite

    def slow_pwrite(fd, buf, offset):
        in_write.set()
        release.wait()
        return real_pwrite(fd, buf, offset)

    monkeypatch.setattr(os, "pwrite", slow_pwrite)
    writer = threading.Thread(target=blob.write, args=(0, 0, data[:CHUNK]))
    writer.start()
    in_write.wait()
    aborter = threading.Thread(target=blob.abort)
    aborter.start()
    aborter.join(0.2)
    assert aborter.is_alive()  # still waiting for the writer
    release.set()
    writer.join()
    aborter.join()
    assert tree(store.tmp_dir) == []
    with pytest.raises(FailedPrecondition, match="has ended"):
        blob.write(0, CHUNK, data[CHUNK:2 * CHUNK])


# -- the whole-file check ----------------------------------------------------------------------

@pytest.mark.parametrize("size", [0, 900, 3500])
def test_complete_refuses_a_wrong_whole_file_digest(store, tmp_path, size, algorithm):
    # Pieces that match their index, an index whose digest is another file's: the index lies.
    # (One blake3 piece says nothing of the sha256: that file is hashed whole.)
    _, data, honest = make_file(tmp_path, size, algorithm=algorithm)
    index = PieceIndex(honest.size, PIECE, honest.hashes, sha(b"something else"), algorithm)
    blob = store.open_partial(index.digest, index.size, index)
    for piece in range(index.count):
        assert send_piece(blob, index, data, piece)
    with pytest.raises(DigestMismatch, match="piece index is wrong") as exc:
        blob.complete()
    assert exc.value.bad_pieces == []
    assert tree(store.blobs_dir) == [] and tree(store.tmp_dir) == []
    assert not store.has(index.digest)


@pytest.mark.parametrize("kind", [bytes, bytearray, lambda b: memoryview(bytearray(b))])
def test_pieces_sent_in_mutable_buffers_are_read_back_for_the_whole_file_hash(store, tmp_path,
                                                                               kind):
    _, data, index = make_file(tmp_path)
    blob = store.open_partial(index.digest, index.size, index)
    for piece in range(index.count):
        assert send_piece(blob, index, data, piece, kind=kind)
    assert blob.complete().read_bytes() == data


def test_the_whole_file_hash_falls_back_to_the_file_past_its_memory_limit(store, tmp_path,
                                                                         monkeypatch):
    monkeypatch.setattr(partial_mod, "WHOLE_HASH_MEMORY", 3 * CHUNK)
    _, data, index = make_file(tmp_path, 20_500)
    assert receive(store, data, index).read_bytes() == data


def test_bytes_corrupted_on_disk_are_found_and_only_their_piece_fetched_again(store, tmp_path, algorithm):
    # A mutable buffer: its whole-file hash is read back from the file, which the disk spoils.
    _, data, index = make_file(tmp_path, algorithm=algorithm)
    blob = store.open_partial(index.digest, index.size, index)
    send_piece(blob, index, data, 0)
    start, length = index.piece_range(1)
    blob.write(1, 0, bytearray(data[start:start + length]))
    with open(blob.path, "r+b") as f:  # the disk disagrees with what was written
        f.seek(start + 5)
        f.write(b"\x00\x01")
    assert blob.finish_piece(1)  # the stream was fine...
    send_piece(blob, index, data, 2)
    send_piece(blob, index, data, 3)
    with pytest.raises(DigestMismatch, match=r"1 piece\(s\) corrupt on disk \(1\)") as exc:
        blob.complete()  # ...the whole-file check reads back what is on disk
    assert exc.value.bad_pieces == [1] and blob.missing_pieces() == [1]
    assert not store.has(index.digest)
    assert send_piece(blob, index, data, 1)
    assert blob.complete().read_bytes() == data


def test_an_index_on_record_saves_the_second_pass(store, tmp_path, monkeypatch, algorithm):
    # Mutable buffers would make the whole-file hash read the file back: it must not run.
    _, data, index = make_file(tmp_path, algorithm=algorithm)

    def no_read_back(*args):
        raise AssertionError("the whole file was hashed again")

    monkeypatch.setattr(partial_mod, "hash_range", no_read_back)
    blob = store.open_partial(index.digest, index.size, index, index_id=index.index_id)
    assert not send_piece(blob, index, data, 1, corrupt=True)  # pieces are still checked
    for piece in range(index.count):
        if piece in blob.missing_pieces():
            assert send_piece(blob, index, data, piece, kind=bytearray)
    assert blob.complete().read_bytes() == data


def test_an_index_that_is_not_the_one_on_record_is_refused(store, tmp_path):
    path, _, index = make_file(tmp_path)
    other = compute_piece_index(path, 500)
    with pytest.raises(InvalidArgument, match="not the one on record"):
        store.open_partial(index.digest, index.size, index, index_id=other.index_id)
    assert tree(store.tmp_dir) == []


# -- resuming -----------------------------------------------------------------------------------

def test_resume_after_a_kill_keeps_verified_pieces_and_distrusts_the_rest(tmp_path, algorithm):
    _, data, index = make_file(tmp_path, algorithm=algorithm)
    root = tmp_path / "store"
    blob = BlobStore(root).open_partial(index.digest, index.size, index)
    send_piece(blob, index, data, 0)
    send_piece(blob, index, data, 2)
    blob.sync()
    blob.write(1, 0, data[1000:1500])  # unverified: must not be trusted after the restart
    del blob                           # "killed": no close, no complete

    again = BlobStore(root).open_partial(index.digest, index.size, index)
    assert again.missing_pieces() == [1, 3]
    assert again.written(1) == 0
    with pytest.raises(InvalidArgument, match="expected 0"):
        again.write(1, 500, data[1500:2000])
    send_piece(again, index, data, 1)
    send_piece(again, index, data, 3)
    assert again.complete().read_bytes() == data
    assert tree(root / "tmp") == []


def test_a_restart_clears_what_a_kill_left_that_nothing_resumes(tmp_path):
    """kill -9 can land between writing a state file's temporary and renaming it, during an
    adoption's copy, between publishing a blob and deleting its state, or while a model dir is
    built: the store, opened again, removes those and keeps only what a job resumes from."""
    _, data, index = make_file(tmp_path)
    _, done_data, done_index = make_file(tmp_path, name="done.bin")
    root = tmp_path / "store"
    first = BlobStore(root)
    resumable = first.open_partial(index.digest, index.size, index)
    send_piece(resumable, index, data, 0)
    resumable.sync()
    with first.open_partial(done_index.digest, done_index.size, done_index) as blob:
        for piece in range(done_index.count):
            send_piece(blob, done_index, done_data, piece)
        blob.complete()
    tmp, hexes = root / "tmp", (index.digest.split(":")[1], done_index.digest.split(":")[1])
    leftovers = [tmp / f"sha256-{hexes[0]}.state.0a1b2c3d.tmp",   # a state write cut short
                 tmp / f"sha256-{hexes[1]}.adopt-0a1b2c3d",      # an adoption cut short
                 tmp / f"sha256-{hexes[1]}.state",               # published, state not yet deleted
                 tmp / f"sha256-{'0' * 64}.state"]               # a state whose partial is gone
    for path in leftovers:
        path.write_text("{}")
    (root / "models" / ".tmp-0a1b2c3d" / "v1").mkdir(parents=True)  # a build cut short
    del resumable  # "killed"

    again = BlobStore(root)
    assert tree(tmp) == sorted([f"sha256-{hexes[0]}.partial", f"sha256-{hexes[0]}.state"])
    assert not list((root / "models").glob(".tmp-*"))
    assert again.open_partial(index.digest, index.size, index).missing_pieces() == [1, 2, 3]
    assert again.has(done_index.digest)


def test_close_keeps_verified_pieces_for_later(store, tmp_path):
    _, data, index = make_file(tmp_path)
    with store.open_partial(index.digest, index.size, index) as blob:
        send_piece(blob, index, data, 3)
    again = store.open_partial(index.digest, index.size, index)
    assert again.missing_pieces() == [0, 1, 2]
    again.abort()
    assert tree(store.tmp_dir) == []


def test_state_for_another_index_is_not_trusted(store, tmp_path):
    path, data, index = make_file(tmp_path)
    blob = store.open_partial(index.digest, index.size, index)
    send_piece(blob, index, data, 0)
    blob.close()
    other = compute_piece_index(path, 500)  # same file, other pieces
    again = store.open_partial(other.digest, other.size, other)
    assert again.missing_pieces() == list(range(7))
    again.abort()


def test_pieces_verified_with_one_piece_hash_are_not_resumed_under_the_other(store, tmp_path):
    # Same file, same pieces, other hash (an agent upgraded mid-pull, or another source's index):
    # the state names the index id, which covers the hash, so nothing carries over unchecked.
    path, data, sha_index = make_file(tmp_path, algorithm="sha256")
    blob = store.open_partial(sha_index.digest, sha_index.size, sha_index)
    send_piece(blob, sha_index, data, 0)
    send_piece(blob, sha_index, data, 1)
    blob.close()
    blake = compute_piece_index(path, PIECE, algorithm="blake3")
    again = store.open_partial(blake.digest, blake.size, blake, index_id=blake.index_id)
    assert again.missing_pieces() == [0, 1, 2, 3]
    assert not send_piece(again, blake, data, 2, corrupt=True)  # checked with blake3 now
    for piece in range(blake.count):
        if piece in again.missing_pieces():
            assert send_piece(again, blake, data, piece)
    assert again.complete().read_bytes() == data


def test_progress_is_recorded_only_after_its_bytes_are_synced(store, tmp_path, monkeypatch):
    _, data, index = make_file(tmp_path)
    events = []
    real_fdatasync, real_write_state = os.fdatasync, partial_mod.PartialBlob._write_state
    monkeypatch.setattr(os, "fdatasync", lambda fd: (events.append("sync"), real_fdatasync(fd)))
    monkeypatch.setattr(partial_mod.PartialBlob, "_write_state",
                        lambda self, durable: (events.append(sorted(durable)),
                                               real_write_state(self, durable)))
    blob = store.open_partial(index.digest, index.size, index)
    send_piece(blob, index, data, 1)
    blob.sync()
    assert events and events[0] == "sync" and events[-1] == [1]
    assert all(e == "sync" for e in events[:-1:2])
    blob.abort()


# -- disks that fail ------------------------------------------------------------------------------

def test_ensure_space_refuses_what_cannot_fit(store):
    store.ensure_space(1024)
    with pytest.raises(ResourceExhausted) as exc:
        store.ensure_space(2**60)
    message = str(exc.value)
    assert message.startswith("destination disk too small: need 1048576.0 TiB")
    assert "free on" in message and str(store.root) in message and "\n" not in message


def test_space_needed_counts_what_is_neither_held_nor_preallocated(store, tmp_path):
    _, data, index = make_file(tmp_path)
    held_file, _, held_index = make_file(tmp_path, 2000, "held.bin")
    store.adopt(held_file, held_index.digest)
    files = [(index.digest, index.size), (held_index.digest, held_index.size),
             (sha(b"new"), 5000)]
    assert store.space_needed(files) == index.size + 5000
    blob = store.open_partial(index.digest, index.size, index)  # preallocated now
    assert store.space_needed(files) <= 5000
    blob.abort()


@pytest.mark.parametrize("code, error, words", [
    (errno.ENOSPC, ResourceExhausted, "disk full while receiving"),
    (errno.EIO, Internal, "I/O error while receiving"),
])
def test_a_failing_write_is_one_clear_error_and_nothing_escapes_tmp(store, tmp_path,
                                                                     monkeypatch, code, error,
                                                                     words):
    _, data, index = make_file(tmp_path)
    blob = store.open_partial(index.digest, index.size, index)
    send_piece(blob, index, data, 0)

    def failing_pwrite(fd, buf, offset):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "pwrite", failing_pwrite)
    with pytest.raises(error, match=words) as exc:
        blob.write(1, 0, data[1000:1256])
    assert "\n" not in str(exc.value)
    assert tree(store.blobs_dir) == [] and tree(store.models_dir) == []
    assert blob.path.exists() and blob.written(1) == 0
    monkeypatch.undo()
    blob.write(1, 0, data[1000:1256])  # the space came back: the same chunk again
    blob.abort()
    assert tree(store.tmp_dir) == []


def test_a_disk_too_full_to_preallocate_fails_before_the_first_byte(store, tmp_path,
                                                                      monkeypatch):
    _, _, index = make_file(tmp_path)

    def no_space(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", no_space, raising=False)
    with pytest.raises(ResourceExhausted, match="disk full while creating"):
        store.open_partial(index.digest, index.size, index)
    assert tree(store.tmp_dir) == []
    monkeypatch.undo()
    store.open_partial(index.digest, index.size, index).abort()  # not left "being received"


def test_human_size():
    assert [human_size(n) for n in (0, 1023, 1024, 5 * 1024**3)] == [
        "0 B", "1023 B", "1.0 KiB", "5.0 GiB"]


# -- adopting local files -----------------------------------------------------------------------

def test_adopt_links_a_local_file(store, tmp_path):
    path, data, index = make_file(tmp_path)
    blob = store.adopt(path, index.digest)
    assert blob.stat().st_ino == path.stat().st_ino
    assert store.adopt(path, index.digest) == blob  # idempotent


def test_adopt_copies_where_links_fail(store, tmp_path, monkeypatch):
    path, data, index = make_file(tmp_path)

    def no_links(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    blob = store.adopt(path, index.digest)
    assert blob.stat().st_ino != path.stat().st_ino and blob.read_bytes() == data
    assert tree(store.tmp_dir) == []


def test_adopt_can_verify(store, tmp_path):
    path, data, _ = make_file(tmp_path)
    with pytest.raises(DigestMismatch, match="not sha256:"):
        store.adopt(path, sha(b"other"), verify=True)
    assert tree(store.blobs_dir) == []
    with pytest.raises(NotFound):
        store.adopt(tmp_path / "gone", sha(b"x"))


# -- model directories ---------------------------------------------------------------------------

def held(store: BlobStore, tmp_path: Path, **files: bytes) -> list[FileEntry]:
    """Blobs in the store for each file (keyword = path with '__' for '/'), as FileEntries."""
    entries = []
    for name, data in files.items():
        src = tmp_path / f"held-{name}"
        src.write_bytes(data)
        store.adopt(src, sha(data))
        src.unlink()  # the store's link is the only one left
        entries.append(entry(name.replace("__", "/"), data))
    return entries


def test_materialize_builds_a_directory_of_hard_links(store, tmp_path):
    files = held(store, tmp_path, config_json=b"{}", sub__model_bin=os.urandom(3000))
    path = store.materialize("org/llama", 3, files)
    assert path == store.models_dir / "org" / "llama" / "v3"
    assert tree(path) == ["config_json", "sub", "sub/model_bin"]
    linked = path / "sub" / "model_bin"
    assert linked.stat().st_ino == store.blob_path(files[1].digest).stat().st_ino
    assert [p.name for p in store.models_dir.rglob(".tmp-*")] == []


def test_materialize_is_idempotent(store, tmp_path):
    files = held(store, tmp_path, a=b"aaa")
    first = store.materialize("m", 1, files)
    inode = (first / "a").stat().st_ino
    assert store.materialize("m", 1, files) == first
    assert (first / "a").stat().st_ino == inode
    (first / "a").unlink()  # damaged: rebuilt
    assert (store.materialize("m", 1, files) / "a").read_bytes() == b"aaa"


def test_materialize_copies_where_links_fail(store, tmp_path, monkeypatch):
    files = held(store, tmp_path, a=b"aaa")

    def no_links(src, dst):
        raise OSError(errno.EMLINK, "Too many links")

    monkeypatch.setattr(os, "link", no_links)
    path = store.materialize("m", 1, files)
    assert (path / "a").read_bytes() == b"aaa"
    assert (path / "a").stat().st_ino != store.blob_path(files[0].digest).stat().st_ino
    assert store.gc(fresh_grace_s=0) == (0, 0)  # its manifest still references the blob


@pytest.mark.parametrize("bad", ["../evil", "a/../../evil", "/etc/passwd", "a//b", "./a",
                                 "C:/x", "a\\..\\b", ""])
def test_materialize_refuses_paths_that_leave_the_directory(store, tmp_path, bad):
    files = held(store, tmp_path, a=b"aaa")
    with pytest.raises(InvalidArgument, match="invalid file path"):
        store.materialize("m", 1, [FileEntry(bad, 3, files[0].digest)])
    assert tree(store.models_dir) == []


@pytest.mark.parametrize("name", ["../evil", "/abs", "a/b/c", "org/v2", ".hidden"])
def test_materialize_refuses_names_that_escape_or_collide(store, tmp_path, name):
    files = held(store, tmp_path, a=b"aaa")
    with pytest.raises(InvalidArgument):
        store.materialize(name, 1, files)
    assert tree(store.models_dir) == []


def test_materialize_refuses_duplicates_missing_blobs_and_other_content(store, tmp_path):
    files = held(store, tmp_path, a=b"aaa", b=b"bbb")
    with pytest.raises(InvalidArgument, match="appears twice"):
        store.materialize("m", 1, [files[0], files[0]])
    with pytest.raises(NotFound, match="1 blob"):
        store.materialize("m", 1, [*files, entry("c", b"not held")])
    assert tree(store.models_dir) == []
    store.materialize("m", 1, files[:1])
    with pytest.raises(AlreadyExists, match="different files"):
        store.materialize("m", 1, files)


def test_remove_model_deletes_the_copy_but_not_its_blobs(store, tmp_path):
    files = held(store, tmp_path, a=b"aaa")
    store.materialize("org/m", 2, files)
    assert store.remove_model("org/m", 2) is True
    assert tree(store.models_dir) == []
    assert store.has(files[0].digest)
    assert store.remove_model("org/m", 2) is False


# -- garbage collection ---------------------------------------------------------------------------

def test_gc_removes_orphans_and_keeps_what_is_referenced(store, tmp_path):
    used, named, orphan = held(store, tmp_path, used=b"u" * 10, named=b"n" * 20,
                               orphan=b"o" * 30)
    store.materialize("m", 1, [used])
    assert store.gc({named.digest}, fresh_grace_s=0) == (1, 30)
    assert store.has(used.digest) and store.has(named.digest)
    assert not store.has(orphan.digest)
    store.remove_model("m", 1)
    assert store.gc(fresh_grace_s=0) == (2, 30)
    assert tree(store.blobs_dir) == []


def test_gc_leaves_fresh_blobs_alone_until_a_version_links_them(store, tmp_path):
    # A transfer's first files are complete before the version is materialised.
    _, data, index = make_file(tmp_path)
    (adopted,) = held(store, tmp_path, adopted=b"a")
    receive(store, data, index)
    assert store.gc() == (0, 0)
    store.materialize("m", 1, [adopted, FileEntry("w.bin", index.size, index.digest)])
    store.remove_model("m", 1)
    assert store.gc() == (2, index.size + 1)  # removed copies' blobs go at once


def test_gc_keeps_blobs_that_share_an_inode_with_another_file(store, tmp_path):
    path, _, index = make_file(tmp_path)
    store.adopt(path, index.digest)
    assert store.gc(fresh_grace_s=0) == (0, 0)


def test_gc_removes_stale_partials_but_not_open_or_fresh_ones(store, tmp_path):
    _, data, index = make_file(tmp_path)
    _, data2, index2 = make_file(tmp_path, 2500, "other.bin")
    stale = store.open_partial(index.digest, index.size, index)
    send_piece(stale, index, data, 0)
    stale.close()
    open_now = store.open_partial(index2.digest, index2.size, index2)
    old = time.time() - 3 * 24 * 3600
    for path in store.tmp_dir.iterdir():
        os.utime(path, (old, old))
    removed, _ = store.gc()
    assert removed == 2  # the closed partial and its state file
    assert [p.name for p in store.tmp_dir.iterdir()] == [open_now.path.name]
    open_now.abort()


def test_ending_a_partial_twice_leaves_a_later_claim_on_its_digest_alone(store, tmp_path):
    _, _, index = make_file(tmp_path)
    first = store.open_partial(index.digest, index.size, index)
    first.abort()
    second = store.open_partial(index.digest, index.size, index)  # another job receives it now
    first.close()  # a late second ending of the first (a cleanup that ran twice)
    with pytest.raises(FailedPrecondition, match="already being received"):
        store.open_partial(index.digest, index.size, index)
    second.close()


def test_discard_partial_spares_one_being_received(store, tmp_path):
    _, data, index = make_file(tmp_path)
    blob = store.open_partial(index.digest, index.size, index)
    assert send_piece(blob, index, data, 0)
    blob.sync()
    assert store.discard_partial(index.digest) is False and blob.path.exists()
    blob.close()
    assert blob.path.exists() and blob.state_path.exists()  # kept for resuming
    assert store.discard_partial(index.digest) is True
    assert not blob.path.exists() and not blob.state_path.exists()
