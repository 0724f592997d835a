"""Store figures: the receive path of a transfer, without the network, against cp + fsync.

    python bench/store.py [--gb 4] [--repeats 3] [--streams 1,2] [--dir D]

A source file of --gb GiB is written once, and its piece index computed (as a source agent
would). Then, alternating, in the same run:
  (a) `cp SRC DST && sync DST`: the copy a person would make, made durable;
  (b) for each --streams N: N threads, each taking the next piece and feeding it to a
      PartialBlob in ~1 MiB chunks of the source, mapped into memory beforehand (the
      network's own cost comes later): piece verification, then complete() (whole-file
      sha256, fsync, atomic rename into blobs/);
  (c) the same with the index on record (open_partial(index_id=...)): pieces verified against
      an index known to belong to the digest, so complete() skips the second sha256 pass.
Medians of --repeats runs. Goals: the store >= 1.0 GB/s and >= 0.7 of cp + fsync.

Verified receiving costs two sha256 passes over every byte (each piece, and the whole file),
so the machine's sha256 rate bounds it; the figures printed first say what that bound is.
"""
from __future__ import annotations

import argparse
import hashlib
import mmap
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from factories import write_big_file  # noqa: E402

from llmesh.agent.store.blobs import BlobStore  # noqa: E402
from llmesh.common.pieces import PIECE_SIZE, PieceIndex, compute_piece_index  # noqa: E402

GIB = 1024 ** 3
MiB = 1024 ** 2


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--gb", type=float, default=4.0, help="GiB in the file (default 4)")
    p.add_argument("--repeats", type=int, default=3, help="runs of each contender (default 3)")
    p.add_argument("--streams", default="1,2",
                   help="comma-separated numbers of concurrent piece streams (default 1,2)")
    p.add_argument("--chunk-mib", type=float, default=1.0, help="message size (default 1 MiB)")
    p.add_argument("--piece-mib", type=int, default=PIECE_SIZE // MiB, help="piece size")
    p.add_argument("--dir", help="work here (the same file system as a real store would be)")
    return p.parse_args()


# -- the machine's hashing capacity ---------------------------------------------------------------

def sha256_rates(seconds: float = 1.0) -> tuple[float, float]:
    """GB/s of sha256 on one thread, and summed over one thread per CPU."""
    block = os.urandom(64 * MiB)

    def hash_for(counter: list) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            hashlib.sha256(block).digest()
            counter[0] += len(block)

    def rate(threads: int) -> float:
        counters = [[0] for _ in range(threads)]
        workers = [threading.Thread(target=hash_for, args=(c,)) for c in counters]
        started = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        return sum(c[0] for c in counters) / (time.perf_counter() - started) / 1e9

    return rate(1), rate(os.cpu_count() or 1)


# -- contenders -----------------------------------------------------------------------------------

def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (cp, sync), user + system."""
    own, kids = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                     resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def cp_and_sync(src: Path, dst: Path) -> float:
    started = time.perf_counter()
    if shutil.which("cp") and shutil.which("sync"):
        subprocess.run(["cp", str(src), str(dst)], check=True)
        subprocess.run(["sync", str(dst)], check=True)  # coreutils: fsync of that one file
    else:
        shutil.copyfile(src, dst)
        with open(dst, "rb+") as f:
            os.fsync(f.fileno())
    return time.perf_counter() - started


def receive(source: memoryview, store: BlobStore, index: PieceIndex, streams: int,
            chunk: int, on_record: bool) -> float:
    started = time.perf_counter()
    blob = store.open_partial(index.digest, index.size, index,
                              index_id=index.index_id if on_record else None)
    pieces, lock = iter(range(index.count)), threading.Lock()
    errors: list[BaseException] = []

    def stream() -> None:
        try:
            while True:
                with lock:
                    piece = next(pieces, None)
                if piece is None:
                    return
                feed_piece(source, blob, index, piece, chunk)
        except BaseException as e:  # noqa: BLE001 - re-raised on the main thread
            errors.append(e)

    workers = [threading.Thread(target=stream) for _ in range(streams)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise errors[0]
    blob.complete()
    return time.perf_counter() - started


def feed_piece(source: memoryview, blob, index: PieceIndex, piece: int, chunk: int) -> None:
    start, length = index.piece_range(piece)
    for off in range(0, length, chunk):
        blob.write(piece, off, source[start + off:start + min(off + chunk, length)])
    if not blob.finish_piece(piece):
        raise SystemExit(f"piece {piece} failed verification")


def map_source(path: Path) -> mmap.mmap:
    """The source file mapped and faulted in once: messages cost no copy, as if already in RAM
    (cp, for its part, copies in the kernel with copy_file_range)."""
    with open(path, "rb") as f:
        flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
        return mmap.mmap(f.fileno(), 0, flags=flags, prot=mmap.PROT_READ)


def drop_blob(store: BlobStore, digest: str) -> None:
    path = store.blob_path(digest)
    path.chmod(0o644)
    path.unlink()


# -- the run --------------------------------------------------------------------------------------

def main() -> None:
    args = parse_args()
    streams = [int(s) for s in args.streams.split(",")]
    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="llmesh-bench-store-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        run(args, work, streams)
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)


def run(args, work: Path, streams: list[int]) -> None:
    one, all_cpus = sha256_rates()
    print(f"llmesh store bench: {os.cpu_count()} CPUs, python {sys.version.split()[0]}; "
          f"sha256 {one:.2f} GB/s on 1 thread, {all_cpus:.2f} GB/s on {os.cpu_count()}")
    print(f"  bound for a verified receive (2 sha256 passes per byte): "
          f"~{min(all_cpus / 2, one):.2f} GB/s")
    src, dst = work / "source.bin", work / "cp-copy.bin"
    size = int(args.gb * GIB)
    if not (src.exists() and src.stat().st_size == size):
        print(f"writing a {args.gb:g} GiB source file in {work} ...", flush=True)
        write_big_file(src, size, seed=42)
    started = time.perf_counter()
    index = compute_piece_index(src, args.piece_mib * MiB)
    seconds = time.perf_counter() - started
    print(f"  piece index ({index.count} pieces): {seconds:.2f} s, {size / seconds / 1e9:.2f} GB/s",
          flush=True)
    store = BlobStore(work / "store")
    mapped = map_source(src)
    source = memoryview(mapped)
    chunk = int(args.chunk_mib * MiB)
    times: dict[str, list[float]] = {"cp+sync": []}
    for n in streams:
        times.update({f"store x{n}": [], f"store x{n} rec": []})
    cpu: dict[str, list[float]] = {name: [] for name in times}
    for rep in range(args.repeats):
        names = list(times) if rep % 2 == 0 else list(reversed(times))
        for name in names:
            cpu_before = cpu_seconds()
            if name == "cp+sync":
                seconds = cp_and_sync(src, dst)
                dst.unlink()
            else:
                seconds = receive(source, store, index, int(name.split()[1][1:]), chunk,
                                  on_record=name.endswith("rec"))
                drop_blob(store, index.digest)
            times[name].append(seconds)
            cpu[name].append(cpu_seconds() - cpu_before)
            print(f"  run {rep + 1} {name:14s} {seconds:6.2f} s  {size / seconds / 1e9:5.2f} GB/s"
                  f"  cpu {cpu[name][-1] / (size / GIB):5.2f} s/GiB", flush=True)
    source.release()
    mapped.close()
    summary(times, cpu, size, args.repeats)


def summary(times: dict[str, list[float]], cpu: dict[str, list[float]], size: int,
            repeats: int) -> None:
    rates = {name: size / statistics.median(t) / 1e9 for name, t in times.items()}
    print(f"\n== summary: {size / GIB:.2f} GiB, median of {repeats} ==")
    for name, rate in rates.items():
        # CPU per GiB moves far less than wall time when other work shares the machine.
        print(f"  {name:14s} {statistics.median(times[name]):6.2f} s  {rate:5.2f} GB/s  "
              f"cpu {statistics.median(cpu[name]) / (size / GIB):5.2f} s/GiB")
    for name, rate in rates.items():
        if name == "cp+sync":
            continue
        ratio = rate / rates["cp+sync"]
        met = rate >= 1.0 and ratio >= 0.7
        print(f"  {name}: {rate:.2f} GB/s, {ratio:.2f} of cp+sync  (goal >= 1.0 GB/s and "
              f">= 0.7: {'met' if met else 'NOT met'})")


if __name__ == "__main__":
    main()
