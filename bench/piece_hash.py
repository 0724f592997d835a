"""What piece verification costs a destination: sha256 against BLAKE3 pieces, in one run.

    python bench/piece_hash.py [--gb 1] [--repeats 3] [--chunk-mib 1] [--piece-mib 64] [--dir D]

Two figures per piece hash, alternating between the two, medians of --repeats runs:
  (a) verify: every piece of --gb GiB hashed in --chunk-mib messages, as PartialBlob.write
      does, and compared with its index (bytes already in memory: the hash alone);
  (b) receive: the same bytes fed to a PartialBlob with the index on record
      (open_partial(index_id=...)): the destination's whole path without the network — piece
      checks, writes, fsync, rename; no whole-file sha256, as in a pull whose ticket names the
      index.
Printed: CPU-s per GB (user + system, all threads) and the ratio blake3 / sha256. CPU time,
not wall time: it moves far less when other work shares the machine.
"""
from __future__ import annotations

import argparse
import mmap
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from factories import write_big_file  # noqa: E402

from llmesh.agent.store.blobs import BlobStore  # noqa: E402
from llmesh.common.hashing import BLAKE3, SHA256, format_piece_hash, new_piece_hasher, piece_hash_available  # noqa: E402
from llmesh.common.pieces import PIECE_SIZE, PieceIndex, compute_piece_index  # noqa: E402

GIB = 1024 ** 3
MiB = 1024 ** 2


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--gb", type=float, default=1.0, help="GiB in the file (default 1)")
    p.add_argument("--repeats", type=int, default=3, help="runs of each (default 3)")
    p.add_argument("--chunk-mib", type=float, default=1.0, help="message size (default 1 MiB)")
    p.add_argument("--piece-mib", type=int, default=PIECE_SIZE // MiB, help="piece size (default 64)")
    p.add_argument("--dir", help="work here (the file system a store would use)")
    return p.parse_args()


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def verify(source: memoryview, index: PieceIndex, chunk: int) -> None:
    for piece in range(index.count):
        start, length = index.piece_range(piece)
        h = new_piece_hasher(index.algorithm)
        for off in range(0, length, chunk):
            h.update(source[start + off:start + min(off + chunk, length)])
        if format_piece_hash(index.algorithm, h.hexdigest()) != index.hashes[piece]:
            raise SystemExit(f"piece {piece} failed verification")


def receive(source: memoryview, store: BlobStore, index: PieceIndex, chunk: int) -> None:
    blob = store.open_partial(index.digest, index.size, index, index_id=index.index_id)
    for piece in range(index.count):
        start, length = index.piece_range(piece)
        for off in range(0, length, chunk):
            blob.write(piece, off, source[start + off:start + min(off + chunk, length)])
        if not blob.finish_piece(piece):
            raise SystemExit(f"piece {piece} failed verification")
    path = blob.complete()
    path.chmod(0o644)
    path.unlink()


def main() -> None:
    args = parse_args()
    if not piece_hash_available(BLAKE3):
        raise SystemExit("the blake3 package is not installed here: nothing to compare")
    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="llmesh-bench-pieces-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        run(args, work)
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)


def run(args, work: Path) -> None:
    size, chunk = int(args.gb * GIB), int(args.chunk_mib * MiB)
    src = work / "source.bin"
    if not (src.exists() and src.stat().st_size == size):
        write_big_file(src, size, seed=42)
    indexes = {a: compute_piece_index(src, args.piece_mib * MiB, algorithm=a) for a in (SHA256, BLAKE3)}
    with open(src, "rb") as f:
        mapped = mmap.mmap(f.fileno(), 0, flags=mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0),
                           prot=mmap.PROT_READ)
    source = memoryview(mapped)
    store = BlobStore(work / "store")
    gb = size / 1e9
    cpu: dict[tuple[str, str], list[float]] = {}
    print(f"piece hash bench: {os.cpu_count()} CPUs, {size / GIB:g} GiB in {args.piece_mib} MiB pieces, "
          f"{args.chunk_mib:g} MiB messages", flush=True)
    for rep in range(args.repeats):
        order = (SHA256, BLAKE3) if rep % 2 == 0 else (BLAKE3, SHA256)
        for what, fn in (("verify", lambda i: verify(source, i, chunk)),
                         ("receive", lambda i: receive(source, store, i, chunk))):
            for algorithm in order:
                before, started = cpu_seconds(), time.perf_counter()
                fn(indexes[algorithm])
                used, wall = cpu_seconds() - before, time.perf_counter() - started
                cpu.setdefault((what, algorithm), []).append(used)
                print(f"  run {rep + 1} {what:7s} {algorithm:6s} cpu {used / gb:5.2f} s/GB  "
                      f"({gb / wall:5.2f} GB/s wall)", flush=True)
    source.release()
    mapped.close()
    print(f"\n== destination CPU per GB, median of {args.repeats} ==")
    for what in ("verify", "receive"):
        sha, blake = (statistics.median(cpu[(what, a)]) / gb for a in (SHA256, BLAKE3))
        print(f"  {what:7s} sha256 {sha:5.2f} cpu-s/GB   blake3 {blake:5.2f} cpu-s/GB   "
              f"ratio {blake / sha:4.2f}   saved {sha - blake:5.2f} cpu-s/GB")


if __name__ == "__main__":
    main()
