"""Conversion figures: safetensors -> GGUF F16 against plain read + write of the same bytes, and
Q4_K_M quantization time through llama.cpp.

    python bench/convert.py [--hidden 2048] [--layers 12] [--vocab 32000] [--repeats 3] [--dir D]

The script makes a llama-shaped model with random float16 weights (about 1.2 GB with the
defaults, in two safetensors shards), then alternates, --repeats times:
  (a) read + write: every byte of the safetensors files read in 64 MiB chunks and written to one
      new file, fsync'd: what any converter must at least do;
  (b) convert_to_gguf(..., out_type="F16"): the real conversion (q/k rows permuted, norms widened
      to F32, tokenizer metadata), fsync'd and renamed.
Medians; the ratio is (a)'s time over (b)'s (goal >= 0.7). Then one Q4_K_M quantization of the
F16 GGUF with all cores. Both contenders read from the page cache when the model fits in memory.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from factories import make_hf_model  # noqa: E402

from llmesh.agent.convert.model import convert_to_gguf  # noqa: E402
from llmesh.agent.convert.quantize import quantize  # noqa: E402

CHUNK = 64 * 1024 * 1024
GB = 1e9


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--hidden", type=int, default=2048)
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--vocab", type=int, default=32000)
    p.add_argument("--shards", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-quantize", action="store_true", help="skip the Q4_K_M figure")
    p.add_argument("--dir", help="work here (default: a temporary directory)")
    return p.parse_args()


def read_and_write(sources: list[Path], out: Path) -> None:
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with open(out, "wb") as dst:
        for src in sources:
            with open(src, "rb", buffering=0) as f:
                while n := f.readinto(buf):
                    dst.write(view[:n])
        dst.flush()
        os.fsync(dst.fileno())


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(work: Path, args: argparse.Namespace) -> None:
    model = work / "model"
    t = timed(lambda: make_hf_model(model, hidden=args.hidden, layers=args.layers,
                                    vocab=args.vocab, shards=args.shards, seed=1))
    sources = sorted(model.glob("*.safetensors"))
    size = sum(p.stat().st_size for p in sources)
    print(f"model: hidden {args.hidden}, {args.layers} layers, vocab {args.vocab}: "
          f"{size / GB:.2f} GB float16 in {len(sources)} shards (made in {t:.1f}s)")
    if size < 1e9:
        print("warning: the model is under 1 GB; the figures mean less")

    copy_out, gguf_out = work / "copy.bin", work / "model.F16.gguf"
    copies, converts = [], []
    for i in range(args.repeats):
        copies.append(timed(lambda: read_and_write(sources, copy_out)))
        copy_out.unlink()
        # Like the copy's, the previous output's unlink stays outside the timing.
        gguf_out.unlink(missing_ok=True)
        converts.append(timed(lambda: convert_to_gguf(model, gguf_out, out_type="F16")))
        print(f"  run {i + 1}: read+write {copies[-1]:.2f}s  convert {converts[-1]:.2f}s")
    t_copy, t_convert = statistics.median(copies), statistics.median(converts)
    print(f"read + write : {t_copy:.2f}s  {size / t_copy / GB:.2f} GB/s (median of {args.repeats})")
    print(f"convert F16  : {t_convert:.2f}s  {size / t_convert / GB:.2f} GB/s "
          f"(median of {args.repeats})")
    print(f"ratio        : {t_copy / t_convert:.2f} of read + write (goal >= 0.7)")

    if not args.no_quantize:
        q_out = work / "model.Q4_K_M.gguf"
        t_q = timed(lambda: quantize(gguf_out, q_out, "Q4_K_M"))
        print(f"Q4_K_M       : {t_q:.1f}s with {os.cpu_count()} threads, "
              f"{gguf_out.stat().st_size / GB:.2f} GB -> {q_out.stat().st_size / GB:.2f} GB "
              f"({gguf_out.stat().st_size / t_q / GB:.2f} GB/s of F16 input)")


def main() -> None:
    args = parse_args()
    if args.dir:
        work = Path(args.dir)
        work.mkdir(parents=True, exist_ok=True)
        run(work, args)
    else:
        with tempfile.TemporaryDirectory(prefix="llmesh-bench-convert-") as tmp:
            run(Path(tmp), args)


if __name__ == "__main__":
    main()
