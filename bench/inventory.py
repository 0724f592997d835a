"""Inventory figures: first-scan hashing throughput against plain hashlib, and unchanged rescans.

    python bench/inventory.py [--gb 4] [--files 200] [--rescan-files 10000] [--dir D]

1. A root of --gb GiB in --files safetensors-named files spread over several HF model dirs.
   The page cache cannot be dropped without root, so both contenders read the same (warm) files,
   alternating which goes first: (a) sequential `hashlib.file_digest(f, "sha256")` per file,
   (b) `Scanner.scan()` with an empty on-disk HashCache. Goal: scanner/hashlib >= 0.8.
2. A root of --rescan-files small files in model dirs of 100 files: one scan fills the cache,
   then the unchanged rescan is timed. Goal: median <= 0.5 s.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from factories import llama_config, write_big_safetensors  # noqa: E402

from llmesh.agent.inventory.hash_cache import HashCache  # noqa: E402
from llmesh.agent.inventory.scanner import Scanner  # noqa: E402

FILES_PER_MODEL = 25
RESCAN_FILES_PER_MODEL = 100
GIB = 1024 ** 3


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--gb", type=float, default=4.0, help="GiB of model files to hash (default 4)")
    p.add_argument("--files", type=int, default=200, help="number of weight files (default 200)")
    p.add_argument("--rescan-files", type=int, default=10_000, help="files in the rescan root")
    p.add_argument("--repeats", type=int, default=3, help="hash runs of each kind (default 3)")
    p.add_argument("--rescan-repeats", type=int, default=5)
    p.add_argument("--workers", type=int, default=2, help="Scanner hash_workers (default 2)")
    p.add_argument("--dir", help="work here and keep the files (reused when sizes match)")
    return p.parse_args()


# -- building the roots -------------------------------------------------------------------------

def write_model_dir(model_dir: Path, sizes: list[int], seed: int) -> list[Path]:
    model_dir.mkdir(parents=True, exist_ok=True)
    config = model_dir / "config.json"
    if not config.exists():
        import json

        config.write_text(json.dumps(llama_config()))
    paths = []
    for i, size in enumerate(sizes):
        path = model_dir / f"model-{i + 1:05d}-of-{len(sizes):05d}.safetensors"
        if not (path.exists() and path.stat().st_size == size):
            write_big_safetensors(path, size, seed * 100_000 + i)
        paths.append(path)
    return [config] + paths


def build_big_root(root: Path, total: int, files: int) -> list[Path]:
    # Sizes vary 0.5x..1.5x around the mean, as shards and adapters do, and sum to `total`.
    mean = total // files
    sizes = [mean // 2 + (mean * (i % 11)) // 10 for i in range(files)]
    sizes[-1] += total - sum(sizes)
    paths = []
    for m, start in enumerate(range(0, files, FILES_PER_MODEL)):
        paths += write_model_dir(root / f"model-{m:02d}", sizes[start:start + FILES_PER_MODEL], m)
    return paths


def build_rescan_root(root: Path, files: int) -> None:
    for m, start in enumerate(range(0, files, RESCAN_FILES_PER_MODEL)):
        count = min(RESCAN_FILES_PER_MODEL, files - start) - 1  # config.json is one of them
        write_model_dir(root / f"small-{m:04d}", [1024] * max(1, count), 10_000 + m)


# -- measuring ----------------------------------------------------------------------------------

def hashlib_pass(paths: list[Path]) -> float:
    started = time.perf_counter()
    for path in paths:
        with open(path, "rb") as f:
            hashlib.file_digest(f, "sha256")
    return time.perf_counter() - started


def scanner_pass(root: Path, work: Path, workers: int) -> tuple[float, int]:
    db = work / "bench-cache.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    with HashCache(db) as cache:
        started = time.perf_counter()
        result = Scanner([str(root)], cache, hash_workers=workers).scan()
        seconds = time.perf_counter() - started
    if result.problems:
        raise SystemExit(f"scan reported problems: {result.problems[:3]}")
    return seconds, result.files_hashed


def bench_throughput(args, work: Path) -> dict:
    root = work / "big-root"
    total = int(args.gb * GIB)
    print(f"writing {args.gb:g} GiB in {args.files} files under {root} ...", flush=True)
    t0 = time.perf_counter()
    paths = build_big_root(root, total, args.files)
    print(f"  ready in {time.perf_counter() - t0:.1f} s", flush=True)
    size = sum(p.stat().st_size for p in paths)
    plain, scans = [], []
    for rep in range(args.repeats):
        order = ("hashlib", "scanner") if rep % 2 == 0 else ("scanner", "hashlib")
        for contender in order:
            if contender == "hashlib":
                plain.append(hashlib_pass(paths))
                seconds, files = plain[-1], len(paths)
            else:
                seconds, files = scanner_pass(root, work, args.workers)
                scans.append(seconds)
            print(f"  run {rep + 1} {contender:8s} {seconds:6.2f} s  "
                  f"{size / seconds / 1e6:7.0f} MB/s  ({files} files)", flush=True)
    plain_mbs = size / statistics.median(plain) / 1e6
    scan_mbs = size / statistics.median(scans) / 1e6
    return {"bytes": size, "files": len(paths), "hashlib_s": statistics.median(plain),
            "scanner_s": statistics.median(scans), "hashlib_mbs": plain_mbs,
            "scanner_mbs": scan_mbs, "ratio": scan_mbs / plain_mbs}


def bench_rescan(args, work: Path) -> dict:
    root = work / "rescan-root"
    print(f"writing {args.rescan_files} small files under {root} ...", flush=True)
    build_rescan_root(root, args.rescan_files)
    db = work / "rescan-cache.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    with HashCache(db) as cache:
        scanner = Scanner([str(root)], cache, hash_workers=args.workers)
        first = scanner.scan()
        print(f"  first scan {first.seconds:.2f} s, {first.files_hashed} files hashed, "
              f"{len(first.models)} models", flush=True)
    times = []
    with HashCache(db) as cache:  # a restarted agent: cache loaded from disk
        scanner = Scanner([str(root)], cache, hash_workers=args.workers)
        for rep in range(args.rescan_repeats):
            started = time.perf_counter()
            result = scanner.scan()
            times.append(time.perf_counter() - started)
            print(f"  rescan {rep + 1}: {times[-1]:.3f} s  hashed {result.files_hashed}, "
                  f"cached {result.files_cached}", flush=True)
    return {"files": first.files_hashed, "models": len(first.models),
            "first_s": first.seconds, "rescan_s": statistics.median(times),
            "rescan_hashed": result.files_hashed}


def main() -> None:
    args = parse_args()
    keep = args.dir is not None
    work = Path(args.dir) if keep else Path(tempfile.mkdtemp(prefix="llmesh-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"llmesh inventory bench: {os.cpu_count()} CPUs, python {sys.version.split()[0]}, "
          f"hash_workers={args.workers}")
    try:
        through = bench_throughput(args, work)
        rescan = bench_rescan(args, work)
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    print_summary(args, through, rescan)


def print_summary(args, through: dict, rescan: dict) -> None:
    ok_ratio = through["ratio"] >= 0.8
    ok_rescan = rescan["rescan_s"] <= 0.5 and rescan["rescan_hashed"] == 0
    print("\n== summary ==")
    print(f"first scan: {through['bytes'] / GIB:.2f} GiB in {through['files']} files, "
          f"median of {args.repeats}")
    for label, key in (("hashlib sequential", "hashlib"), ("Scanner.scan()    ", "scanner")):
        print(f"  {label} : {through[key + '_s']:6.2f} s  {through[key + '_mbs']:7.0f} MB/s")
    print(f"  ratio scanner/hashlib = {through['ratio']:.2f}  (goal >= 0.8: "
          f"{'met' if ok_ratio else 'NOT met'})")
    print(f"unchanged rescan: {rescan['files']} files in {rescan['models']} models, "
          f"median of {args.rescan_repeats}")
    print(f"  first scan {rescan['first_s']:.2f} s; rescan {rescan['rescan_s']:.3f} s  "
          f"(goal <= 0.5 s: {'met' if ok_rescan else 'NOT met'})")


if __name__ == "__main__":
    main()
