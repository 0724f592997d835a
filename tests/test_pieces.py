"""Piece math and piece indexes (llmesh.common.pieces), against plain hashlib on real files."""
from __future__ import annotations

import hashlib
import itertools
import os

import blake3
import pytest

from llmesh.common import hashing, pieces
from llmesh.common.errors import FailedPrecondition, InvalidArgument
from llmesh.common.pieces import (
    PIECE_SIZE,
    PIECE_SIZES,
    PieceIndex,
    check_piece_size,
    compute_piece_index,
    piece_count,
    piece_index_of_file,
    piece_range,
)

MIB = 1024 * 1024


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write(tmp_path, size: int, name: str = "f.bin") -> tuple:
    data = os.urandom(size)
    path = tmp_path / name
    path.write_bytes(data)
    return path, data


def b3(data: bytes) -> str:
    return "blake3:" + blake3.blake3(data).hexdigest()


def expected_hashes(data: bytes, piece_size: int, algorithm: str = "blake3") -> tuple[str, ...]:
    """By default what this host makes: blake3 is installed here (a dependency)."""
    of = b3 if algorithm == "blake3" else sha
    return tuple(of(data[i:i + piece_size]) for i in range(0, len(data), piece_size))


# -- piece math ----------------------------------------------------------------------------------

@pytest.mark.parametrize("size, piece_size, count", [
    (0, 1000, 0), (1, 1000, 1), (999, 1000, 1), (1000, 1000, 1), (1001, 1000, 2),
    (3000, 1000, 3), (3500, 1000, 4), (4 * 1024**3, PIECE_SIZE, 64),
])
def test_piece_count(size, piece_size, count):
    assert piece_count(size, piece_size) == count


def test_piece_size_defaults_to_64_mib():
    assert PIECE_SIZE == 64 * 1024 * 1024
    assert piece_count(PIECE_SIZE + 1) == 2


def test_piece_range_of_an_exact_multiple_ends_with_a_full_piece():
    assert [piece_range(i, 3000, 1000) for i in range(3)] == [(0, 1000), (1000, 1000),
                                                               (2000, 1000)]


def test_piece_range_of_a_short_last_piece():
    assert piece_range(0, 3500, 1000) == (0, 1000)
    assert piece_range(3, 3500, 1000) == (3000, 500)


@pytest.mark.parametrize("index, size", [(-1, 3500), (4, 3500), (0, 0)])
def test_piece_range_out_of_range_is_refused(index, size):
    with pytest.raises(InvalidArgument, match="out of range"):
        piece_range(index, size, 1000)


@pytest.mark.parametrize("size, piece_size", [(10, 0), (10, -1), (-1, 10)])
def test_bad_geometry_is_refused(size, piece_size):
    with pytest.raises(InvalidArgument):
        piece_count(size, piece_size)


def test_transfers_use_piece_sizes_from_a_fixed_set():
    assert PIECE_SIZES[0] == MIB and PIECE_SIZES[-1] == 256 * MIB and PIECE_SIZE in PIECE_SIZES
    assert all(b == 2 * a for a, b in itertools.pairwise(PIECE_SIZES))
    for size in PIECE_SIZES:
        assert check_piece_size(size) == size
    for bad in (0, 1, 1000, MIB - 1, 3 * MIB, 512 * MIB, -MIB):
        with pytest.raises(InvalidArgument, match=rf"invalid piece size {bad}: must be one of 1 MiB, "
                                                  r"2 MiB, .*, 256 MiB$"):
            check_piece_size(bad)


def test_an_index_from_an_open_file_is_the_index_from_its_path(tmp_path):
    path, _ = write(tmp_path, 3500)
    with open(path, "rb", buffering=0) as f:
        assert piece_index_of_file(f, 1000) == compute_piece_index(path, 1000)


# -- computing an index --------------------------------------------------------------------------

def test_index_of_an_empty_file_has_no_pieces(tmp_path):
    path, _ = write(tmp_path, 0)
    index = compute_piece_index(path, 1000)
    assert index == PieceIndex(0, 1000, (), sha(b""), "blake3")
    assert index.count == 0


@pytest.mark.parametrize("algorithm", ["blake3", "sha256"])
@pytest.mark.parametrize("size", [1, 999, 1000, 3000, 3500])
def test_index_hashes_match_the_reference_hashes(tmp_path, size, algorithm):
    path, data = write(tmp_path, size)
    index = compute_piece_index(path, 1000, algorithm=algorithm)
    assert index.size == size and index.piece_size == 1000 and index.algorithm == algorithm
    assert index.hashes == expected_hashes(data, 1000, algorithm)
    assert index.digest == sha(data)  # the file's digest is sha256 whatever hashes its pieces


def test_pieces_are_blake3_where_it_imports(tmp_path):
    path, data = write(tmp_path, 3500)
    assert compute_piece_index(path, 1000).hashes == expected_hashes(data, 1000, "blake3")


def test_without_blake3_pieces_are_sha256(tmp_path, monkeypatch):
    # The flag common/hashing.py sets when `import blake3` fails (use_blake3(False) sets it too).
    monkeypatch.setattr(hashing, "BLAKE3_AVAILABLE", False)
    path, data = write(tmp_path, 3500)
    index = compute_piece_index(path, 1000)
    assert index.algorithm == "sha256" and index.hashes == expected_hashes(data, 1000, "sha256")
    assert hashing.piece_hashes_accepted() == ["sha256"]
    with pytest.raises(FailedPrecondition, match="cannot verify BLAKE3"):
        hashing.new_piece_hasher("blake3")
    with pytest.raises(FailedPrecondition, match="cannot verify BLAKE3"):
        compute_piece_index(path, 1000, algorithm="blake3")


def test_index_with_several_reads_per_piece_on_the_helper_thread(tmp_path, monkeypatch):
    # Small reads and no size threshold: the double-buffered, threaded path on a tiny file.
    monkeypatch.setattr(pieces, "READ_SIZE", 64)
    monkeypatch.setattr(pieces, "THREADED_HASH_MIN_SIZE", 0)
    path, data = write(tmp_path, 10_000 + 37)
    for algorithm in ("blake3", "sha256"):
        index = compute_piece_index(path, 1000, algorithm=algorithm)
        assert index.hashes == expected_hashes(data, 1000, algorithm)
        assert index.digest == sha(data)


def test_index_of_a_file_over_the_threading_threshold(tmp_path):
    size = pieces.THREADED_HASH_MIN_SIZE + 12345
    path, data = write(tmp_path, size)
    index = compute_piece_index(path, 8 * 1024 * 1024)
    assert index.hashes == expected_hashes(data, 8 * 1024 * 1024)
    assert index.digest == sha(data)


def test_index_of_a_missing_file_raises_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        compute_piece_index(tmp_path / "nope")


# -- the index as data ---------------------------------------------------------------------------

def test_to_dict_round_trips(tmp_path):
    path, _ = write(tmp_path, 3500)
    index = compute_piece_index(path, 1000)
    d = index.to_dict()
    assert d["pieces"] == list(index.hashes) and d["digest"] == index.digest
    assert PieceIndex.from_dict(d) == index
    assert piece_range(3, 3500, 1000) == index.piece_range(3)


def test_from_dict_refuses_a_wrong_number_of_hashes(tmp_path):
    path, _ = write(tmp_path, 3500)
    d = compute_piece_index(path, 1000).to_dict()
    d["pieces"] = d["pieces"][:-1]
    with pytest.raises(InvalidArgument, match="needs 4 hashes, got 3"):
        PieceIndex.from_dict(d)


@pytest.mark.parametrize("damage", [
    lambda d: d.pop("digest"),
    lambda d: d.update(size="big"),
    lambda d: d.update(pieces=None),
    lambda d: d["pieces"].__setitem__(0, "md5:abc"),
    lambda d: d.update(digest="sha256:XYZ"),
    lambda d: d.update(hash="md5"),
    lambda d: d.pop("hash"),  # blake3 hashes relabelled as sha256 ones
    lambda d: d["pieces"].__setitem__(0, sha(b"x")),  # a sha256 hash in a blake3 index
    lambda d: d["pieces"].__setitem__(0, d["pieces"][0][:-1]),  # 63 hex digits
    lambda d: d["pieces"].__setitem__(0, d["pieces"][0].upper()),
    lambda d: d.update(digest=b3(b"x")),  # the file's digest must be sha256
])
def test_from_dict_refuses_malformed_indexes(tmp_path, damage):
    path, _ = write(tmp_path, 3500)
    d = compute_piece_index(path, 1000).to_dict()
    damage(d)
    with pytest.raises(InvalidArgument):
        PieceIndex.from_dict(d)


def test_index_id_names_the_whole_index(tmp_path):
    path, _ = write(tmp_path, 3500)
    index = compute_piece_index(path, 1000)
    assert index.index_id == PieceIndex.from_dict(index.to_dict()).index_id
    assert index.index_id.startswith("sha256:") and len(index.index_id) == 71
    other = PieceIndex(index.size, index.piece_size, (b3(b"x"), *index.hashes[1:]), index.digest, "blake3")
    assert other.index_id != index.index_id
    assert compute_piece_index(path, 500).index_id != index.index_id


def test_sha256_index_ids_are_those_made_before_blake3(tmp_path):
    # Pinned from the code before BLAKE3 piece hashes: the ids an agent reported, the registry
    # bound and partial .state files name stay valid.
    path = tmp_path / "f.bin"
    path.write_bytes(bytes(range(256)) * 14)
    index = compute_piece_index(path, 1000, algorithm="sha256")
    assert "hash" not in index.to_dict()
    assert index.index_id == "sha256:ceada2501e72a2f4a2525bb5543d1944b5e75f4c15f6558a39220f4e0a251e5c"


def test_the_index_id_covers_the_piece_hash(tmp_path):
    path, _ = write(tmp_path, 3500)
    blake, sha256 = (compute_piece_index(path, 1000, algorithm=a) for a in ("blake3", "sha256"))
    assert blake.digest == sha256.digest and blake.index_id != sha256.index_id
    assert blake.to_dict()["hash"] == "blake3"
    assert PieceIndex.from_dict(blake.to_dict()) == blake
    # The same files, as 0-byte ones: no hashes to tell the two apart, only the id.
    empty, _ = write(tmp_path, 0, "empty.bin")
    assert (compute_piece_index(empty, 1000, algorithm="blake3").index_id
            != compute_piece_index(empty, 1000, algorithm="sha256").index_id)


def test_an_index_refuses_an_unknown_piece_hash():
    with pytest.raises(InvalidArgument, match="unknown piece hash 'md5'"):
        PieceIndex(0, 1000, (), sha(b""), "md5")
