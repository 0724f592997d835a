"""What mutual TLS costs on loopback: the same bulk stream and the same small-RPC loop,
over the mesh's TLS channels (llmesh.common.channels, mesh certificates) and over plaintext.

    python bench/tls_overhead.py [--mib 1024] [--calls 3000] [--repeats 5]

The server runs in its own process (as an agent would); plaintext exists only here,
as the baseline: llmesh itself has no plaintext port. Goals: TLS keeps ≥ 85 % of bulk
throughput and ≥ 75 % of the small-RPC rate. Prints medians of alternating runs.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import grpc  # noqa: E402
from cryptography import x509  # noqa: E402

from llmesh.common import channels, tls  # noqa: E402

CHUNK = 1024 * 1024
SERVICE = "llmesh.bench.Echo"


def _identity(ca_key, ca_cert, name: str) -> tls.Identity:
    key = tls.new_key()
    cert = tls.issue(ca_key, ca_cert, key.public_key(), name,
                     sans=[x509.UniformResourceIdentifier(tls.agent_uri(name)), x509.DNSName(channels.PEER_TLS_NAME)],
                     ttl=datetime.timedelta(hours=1), server=True, client=True)
    return tls.Identity(tls.key_pem(key), tls.cert_pem(cert), tls.cert_pem(ca_cert))


def _handlers():
    payload = os.urandom(CHUNK)

    async def bulk(request: bytes, context):
        for _ in range(int(request)):
            yield payload

    async def echo(request: bytes, context):
        return request

    return grpc.method_handlers_generic_handler(SERVICE, {
        "Bulk": grpc.unary_stream_rpc_method_handler(bulk),
        "Echo": grpc.unary_unary_rpc_method_handler(echo),
    })


def _serve(identity: tls.Identity | None, ready, port_out) -> None:
    async def main():
        server = channels.aio_server()
        server.add_generic_rpc_handlers((_handlers(),))
        if identity is None:
            port = server.add_insecure_port("127.0.0.1:0")
            address = f"127.0.0.1:{port}"
        else:
            address = channels.bind(server, "127.0.0.1:0", identity, require_client_cert=True)
        await server.start()
        port_out.put(address)
        ready.set()
        await server.wait_for_termination()
    asyncio.run(main())


async def _bulk(channel, mib: int) -> float:
    call = channel.unary_stream(f"/{SERVICE}/Bulk")
    started = time.perf_counter()
    received = 0
    async for chunk in call(str(mib).encode()):
        received += len(chunk)
    return received / (time.perf_counter() - started)


async def _small(channel, calls: int) -> float:
    call = channel.unary_unary(f"/{SERVICE}/Echo")
    await call(b"warm-up")
    started = time.perf_counter()
    for _ in range(calls):
        await call(b"x" * 64)
    return calls / (time.perf_counter() - started)


def _channel(address: str, identity: tls.Identity | None):
    options = [("grpc.max_receive_message_length", channels.MAX_MESSAGE_BYTES)]
    if identity is None:
        return grpc.aio.insecure_channel(address, options=options)
    return channels.aio_peer_channel(address, identity)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024, help="MiB per bulk stream")
    parser.add_argument("--calls", type=int, default=3000, help="small RPCs per loop")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    ca_key, ca_cert = tls.make_ca("bench CA")
    server_identity, client_identity = _identity(ca_key, ca_cert, "server"), _identity(ca_key, ca_cert, "client")
    results = {"plain": {"bulk": [], "small": []}, "tls": {"bulk": [], "small": []}}
    context = multiprocessing.get_context("spawn")
    servers = {}
    for mode, identity in (("plain", None), ("tls", server_identity)):
        ready, port_out = context.Event(), context.Queue()
        process = context.Process(target=_serve, args=(identity, ready, port_out), daemon=True)
        process.start()
        ready.wait(30)
        servers[mode] = (process, port_out.get(timeout=30))

    async def measure():
        for _ in range(args.repeats):
            for mode in ("plain", "tls"):  # alternate, so drift hits both alike
                identity = None if mode == "plain" else client_identity
                async with _channel(servers[mode][1], identity) as channel:
                    results[mode]["bulk"].append(await _bulk(channel, args.mib))
                    results[mode]["small"].append(await _small(channel, args.calls))

    try:
        asyncio.run(measure())
    finally:
        for process, _ in servers.values():
            process.terminate()

    def median(mode, kind):
        return statistics.median(results[mode][kind])

    bulk_ratio = median("tls", "bulk") / median("plain", "bulk")
    small_ratio = median("tls", "small") / median("plain", "small")
    print(f"bulk stream, {args.mib} MiB in 1 MiB messages, median of {args.repeats}:")
    print(f"  plaintext {median('plain', 'bulk') / 1e6:8.1f} MB/s")
    print(f"  mTLS      {median('tls', 'bulk') / 1e6:8.1f} MB/s   ratio {bulk_ratio:.2f} "
          f"(TLS costs {100 * (1 - bulk_ratio):.0f} %; goal ≤ 15 %)")
    print(f"small RPCs, {args.calls} sequential 64-byte calls, median of {args.repeats}:")
    print(f"  plaintext {median('plain', 'small'):8.0f} calls/s")
    print(f"  mTLS      {median('tls', 'small'):8.0f} calls/s   ratio {small_ratio:.2f} "
          f"(TLS costs {100 * (1 - small_ratio):.0f} %; goal ≤ 25 %)")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory():
        main()
