"""Quantization through llama.cpp's own quantizer (`llama_model_quantize`, llama-cpp-python),
e.g. an F16 GGUF to Q4_K_M, in a child process: a GGML abort in the quantizer must not take the
agent down with it.

    quantize(in_gguf, out, "Q4_K_M", progress=...)
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from llmesh.agent.convert.gguf_writer import Progress, check_space
from llmesh.common.errors import FailedPrecondition, InvalidArgument
from llmesh.common.files import replacing
from llmesh.common.names import LLAMA_CPP_QUANTS, check_quant

# Bits per weight, for the free-space estimate of a quantized file.
_BITS = {"Q4_0": 4.5, "Q4_1": 5.0, "Q5_0": 5.5, "Q5_1": 6.0, "Q8_0": 8.5, "Q2_K": 3.4,
         "Q3_K_S": 3.5, "Q3_K_M": 3.9, "Q3_K_L": 4.3, "Q4_K_S": 4.6, "Q4_K_M": 4.9,
         "Q5_K_S": 5.5, "Q5_K_M": 5.7, "Q6_K": 6.6, "IQ4_NL": 4.5, "IQ4_XS": 4.3}


def normalize_quant(quant: str) -> str:
    """The canonical name of a quantization (InvalidArgument for an unknown one)."""
    return check_quant(quant)


# Runs in a child process: a GGML abort in the quantizer must not take the agent down with it.
_QUANTIZE_CHILD = """
import ctypes, sys, llama_cpp
params = llama_cpp.llama_model_quantize_default_params()
params.ftype = getattr(llama_cpp, "LLAMA_FTYPE_MOSTLY_" + sys.argv[3])
params.nthread = int(sys.argv[4])
sys.exit(0 if llama_cpp.llama_model_quantize(sys.argv[1].encode(), sys.argv[2].encode(),
                                             ctypes.byref(params)) == 0 else 3)
"""
_TENSOR_LINE = re.compile(rb"\[\s*(\d+)/\s*(\d+)\]")


def quantize(in_gguf, out_path, quant: str, threads: int | None = None,
             progress: Progress | None = None) -> dict:
    """Quantize a GGUF with llama.cpp's `llama_model_quantize` (llama-cpp-python), e.g. Q4_K_M.

    Raises InvalidArgument (unknown quantization), FailedPrecondition (llama-cpp-python missing,
    or llama.cpp refused the input), ResourceExhausted (disk). Nothing is left on failure.
    """
    src, out = Path(in_gguf), Path(out_path)
    quant = normalize_quant(quant)
    if quant not in LLAMA_CPP_QUANTS:
        raise InvalidArgument(f"{quant} is not a llama.cpp quantization: convert with "
                              f"out_type={quant!r} instead")
    if not src.is_file():
        raise FailedPrecondition(f"{src} does not exist")
    require_llama_cpp()
    out.parent.mkdir(parents=True, exist_ok=True)
    check_space(out.parent, int(src.stat().st_size * _BITS[quant] / 16) + 2**20, out)
    with replacing(out, suffix=".partial") as tmp:  # no output file unless llama.cpp succeeded
        log = _run_quantizer(src, tmp, quant, threads or os.cpu_count() or 1, progress)
    return {"path": str(out), "quantization": quant, "size": out.stat().st_size,
            "input_size": src.stat().st_size, "log_tail": log[-2000:]}


def require_llama_cpp() -> None:
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is None:
        raise FailedPrecondition("llama.cpp backend missing on this host: install "
                                 "llama-cpp-python (pip install 'llmesh[serve]')")


def _run_quantizer(src: Path, tmp: Path, quant: str, threads: int,
                   progress: Progress | None) -> str:
    proc = subprocess.Popen([sys.executable, "-c", _QUANTIZE_CHILD, str(src), str(tmp), quant,
                             str(threads)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            match = _TENSOR_LINE.search(line)
            if match and progress:
                progress("quantize", int(match.group(1)), int(match.group(2)))
        rc = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    log = b"".join(lines).decode(errors="replace")
    if rc != 0 or not tmp.is_file():
        last = [ln for ln in log.splitlines() if ln.strip()][-1:] or ["no output"]
        raise FailedPrecondition(f"llama.cpp could not quantize {src.name} to {quant}: "
                                 f"{last[0].strip()}")
    return log
