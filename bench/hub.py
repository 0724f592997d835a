"""Hub pull figures against a local OCI registry (Debian's docker-registry on loopback).

    python bench/hub.py [--gb 2] [--piece-mib 64] [--dir D]

1. Throughput: a --gb GiB model blob (plus a small config and template) pushed as an Ollama model;
   then, in the same run and alternating which goes first, (a) `curl` of the same blobs to files
   (and `sha256sum` of them, as any verified download needs), (b) llmesh's piecewise, verified,
   resumable pull into a fresh store (RegistryBlobFetch). Goal: llmesh/curl >= 0.8.
2. Fan-out: `meshctl models pull REF --to h1,h2,h3` on a real mesh (a coordinator and three
   agents on loopback, each with its own store): the bytes fetched from the registry, counted by
   the bench's proxy in front of it (the first host pulls from the registry, the others from it,
   agent to agent). Goal: 1x the model's size. --no-mesh measures it at the store level instead.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from harness import Mesh, wait_for  # noqa: E402
from oci_registry import REGISTRY_BINARY, WHY_NO_REGISTRY, FaultProxy, LocalRegistry  # noqa: E402

from llmesh.agent.hubs import fetch as hubfetch  # noqa: E402
from llmesh.agent.hubs.oci import Registry  # noqa: E402
from llmesh.agent.hubs.push import PushFile, push_files  # noqa: E402
from llmesh.agent.store.blobs import BlobStore  # noqa: E402
from llmesh.common.refs import parse_hub_ref  # noqa: E402

GIB = 1024 ** 3
MIB = 1024 ** 2


def write_model(path: Path, size: int) -> str:
    """A GGUF the agents register (its header, one F32 tensor) whose data is filler: ~``size`` bytes."""
    import gguf
    import numpy as np

    elements = max(1, size // 4)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("bench")
    writer.add_tensor_info("token_embd.weight", [elements], np.dtype(np.float32), elements * 4)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    writer.close()
    h = hashlib.sha256(path.read_bytes())
    block = hashlib.sha256(b"seed").digest() * (MIB // 32)
    with open(path, "ab") as f:
        pad = b"\0" * ((-path.stat().st_size) % 32)  # tensor data starts at the default alignment
        f.write(pad)
        h.update(pad)
        left = elements * 4
        while left:
            chunk = block[:min(len(block), left)]
            f.write(chunk)
            h.update(chunk)
            left -= len(chunk)
    return "sha256:" + h.hexdigest()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--gb", type=float, default=2.0, help="GiB of model blob (default 2)")
    p.add_argument("--piece-mib", type=int, default=64, help="piece size in MiB (default 64)")
    p.add_argument("--dir", default="", help="work folder (default: a temporary one)")
    p.add_argument("--no-mesh", action="store_true", help="fan-out at the store level, without agents")
    args = p.parse_args()
    if REGISTRY_BINARY is None or not shutil.which("curl"):
        sys.exit(WHY_NO_REGISTRY if REGISTRY_BINARY is None else "curl is needed for the comparison")
    base = Path(args.dir or tempfile.mkdtemp(prefix="llmesh-bench-hub-"))
    reg = LocalRegistry(base / "registry")
    proxy = FaultProxy(reg.address)
    try:
        size = int(args.gb * GIB)
        model = base / "model.gguf"
        digest = write_model(model, size)
        size = model.stat().st_size
        ref = parse_hub_ref(f"{reg.address}/library/bench:latest", insecure=True)
        push_files(Registry(ref), [PushFile("model.gguf", model, digest, size)], {"name": "bench"})
        manifest = Registry(ref).manifest()
        blobs = manifest.blobs
        total = sum(b["size"] for b in blobs)

        def curl() -> float:
            out = base / "curl"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            start = time.perf_counter()
            for b in blobs:
                target = out / b["digest"].replace(":", "-")
                subprocess.run(["curl", "-sSf", "-o", str(target),
                                f"http://{reg.address}/v2/library/bench/blobs/{b['digest']}"], check=True)
                subprocess.run(["sha256sum", str(target)], check=True, capture_output=True)
            return time.perf_counter() - start

        def llmesh(store_dir: Path, address: str) -> float:
            shutil.rmtree(store_dir, ignore_errors=True)
            store = BlobStore(store_dir)
            start = time.perf_counter()
            hubfetch.pull_manifest_blobs(store, Registry(parse_hub_ref(f"{address}/library/bench", insecure=True)),
                                         manifest, piece_size=args.piece_mib * MIB)
            return time.perf_counter() - start

        times = {"curl": [], "llmesh": []}
        for rnd in range(2):
            order = ["curl", "llmesh"] if rnd % 2 == 0 else ["llmesh", "curl"]
            for who in order:
                times[who].append(curl() if who == "curl" else llmesh(base / "store", reg.address))
        best = {k: min(v) for k, v in times.items()}
        print(f"1. pull of {total / GIB:.2f} GiB from a local registry ({args.piece_mib} MiB pieces):")
        for who in ("curl", "llmesh"):
            print(f"   {who:7} {best[who]:7.2f} s  {total / best[who] / MIB:8.1f} MiB/s")
        ratio = best["curl"] / best["llmesh"]
        print(f"   llmesh/curl throughput {ratio:.2f} (goal >= 0.8): {'ok' if ratio >= 0.8 else 'BELOW GOAL'}")

        proxy.requests.clear()
        if args.no_mesh:
            first = base / "fan-1"
            llmesh(first, proxy.address)
            for i in (2, 3):  # the other hosts: from the first, not the registry (what the mesh pull does)
                other = BlobStore(base / f"fan-{i}")
                for b in blobs:
                    other.adopt(BlobStore(first).blob_path(b["digest"]), b["digest"], verify=True)
            how, elapsed = "store level", 0.0
        else:
            elapsed = fan_out(base / "mesh", f"{proxy.address}/library/bench:latest", args.piece_mib * MIB)
            how = "3 agents, one `meshctl models pull --to`"
        ranges = proxy.ranges()  # every byte the registry sent came in one of these ranges
        from_registry = sum(int(r.split("-")[1]) - int(r[6:].split("-")[0]) + 1 for r in ranges)
        print(f"2. fan-out to 3 hosts ({how}): {len(ranges)} range requests to the registry, "
              f"{from_registry / total:.2f}x the model's bytes fetched from it (goal 1x)"
              + (f"; all 3 verified in {elapsed:.1f} s" if elapsed else ""))
    finally:
        proxy.stop()
        reg.stop()
        if not args.dir:
            shutil.rmtree(base, ignore_errors=True)


def fan_out(base: Path, ref: str, piece_size: int) -> float:
    """One ref to three agents; seconds until all three hold it verified."""
    mesh = Mesh(base)
    hosts = ("h1", "h2", "h3")
    try:
        mesh.start_coordinator(extra=["--piece-size", str(piece_size)])
        for h in hosts:
            (base / f"root-{h}").mkdir(parents=True, exist_ok=True)
            mesh.start_agent(h, [base / f"root-{h}"])
        for h in hosts:
            mesh.wait_host(h)
        start = time.perf_counter()
        job = json.loads(mesh.meshctl("models", "pull", ref, "--to", ",".join(hosts), "--insecure", "--wait",
                                      "--json", timeout=7200).stdout)
        if job["state"] != "done":
            sys.exit(f"the hub pull failed: {job.get('error')}")
        wait_for(lambda: {c["host"] for c in mesh.json("models", "info", job["ref"])["copies"]
                          if c["state"] == "verified"} == set(hosts), 7200, "all three hosts verified", interval=1)
        return time.perf_counter() - start
    finally:
        mesh.close()


if __name__ == "__main__":
    main()
