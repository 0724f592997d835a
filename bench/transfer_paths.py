"""Which data path for blob bodies, and how the blob socket drives TLS, by numbers.

    python bench/transfer_paths.py [--mib 512] [--repeats 5] [--grpc] [--mode none|hash|write]
                                   [--only "sslsocket 1 conn|batched recv, sslsocket send"]

A sender process serves a page-cached file over a plain mutual-TLS socket with the mesh's
certificates, (a) as an ``ssl.SSLSocket`` does it (one syscall per 16 KiB TLS record: the blob
socket before issue 13's batching) and (b) batched through memory BIOs
(llmesh.common.batched_tls: what the blob socket's destination does now; its source keeps the
SSLSocket), and with ``--grpc`` (c) over the
mesh's gRPC channel (1 MiB messages, as the Peer service's ReadBlob). The receiver fills 4 MiB
buffers, as the blob client does, and with ``--mode hash`` sha256-hashes every byte, with
``--mode write`` also pwrites it. The variants run alternately, ``--repeats`` times; printed: the
median CPU seconds per GB on each side (the robust figure on a shared machine: wall rates swing
with other load, CPU per byte does not), the median wall rate, and the ratios to (a).
"""
import asyncio
import hashlib
import multiprocessing
import os
import shutil
import socket
import ssl
import statistics
import struct
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import grpc
from tls_overhead import SERVICE
from tls_overhead import _identity as identity_for  # noqa: PLC2701  (a bench helper)

from llmesh.common import channels, tls
from llmesh.common.batched_tls import BatchedTLS


def arg(name, default):
    return type(default)(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


MiB = 1 << 20
TOTAL = arg("--mib", 512) * MiB
REPEATS = arg("--repeats", 5)
MODE = arg("--mode", "none")
BUFFER = 4 * MiB
WORK = tempfile.mkdtemp(prefix="llmesh-paths-")
SRC = os.path.join(WORK, "src.bin")
with open(SRC, "wb") as f:
    for _ in range(TOTAL // (64 * MiB) or 1):
        f.write(os.urandom(min(TOTAL, 64 * MiB)))

# The sender's ways of reading the file: pread into a new bytes (the blob server's reader), or
# preadv into one reused buffer.
READ_PREAD, READ_PREADV = 0, 1
# Before and after: the blob socket as it was, and as it is (the destination batched).
DEFAULT_ROWS = ["sslsocket 1 conn", "batched recv, sslsocket send",
                "sslsocket 4 conns", "batched recv 4 conns, sslsocket send"]


def ctx(identity, server):
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    d = tempfile.mkdtemp()
    for name, pem in (("c", identity.cert_pem), ("k", identity.key_pem), ("ca", identity.ca_pem)):
        with open(f"{d}/{name}", "wb") as out:
            out.write(pem)
    c.load_cert_chain(f"{d}/c", f"{d}/k")
    c.load_verify_locations(f"{d}/ca")
    c.verify_mode = ssl.CERT_REQUIRED
    if not server:
        c.check_hostname = False
    return c


def wrap(context, raw, batched, server, **sizes):
    if batched:
        s = BatchedTLS(raw, context, server_side=server, server_hostname=None if server else "x", **sizes)
        s.do_handshake()
        return s
    return context.wrap_socket(raw, server_side=True) if server else context.wrap_socket(raw, server_hostname="x")


def recv_exactly(s, n):
    data = b""
    while len(data) < n:
        data += s.recv(n - len(data))
    return data


def sock_server(identity, q):
    c = ctx(identity, True)
    fd = os.open(SRC, os.O_RDONLY)

    def serve(conn, batched, sizes):
        s = wrap(c, conn, batched, True, **sizes)
        off, n, how = struct.unpack("!QQB", recv_exactly(s, 17))
        end, buf = off + n, bytearray(BUFFER)
        while off < end:
            if how == READ_PREADV:
                k = os.preadv(fd, [memoryview(buf)[:min(len(buf), end - off)]], off)
                data = memoryview(buf)[:k]
            else:
                data = os.pread(fd, min(BUFFER, end - off), off)
                k = len(data)
            s.sendall(data)
            off += k
        s.close()

    def listen(batched, nodelay=True, **sizes):
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(16)

        def accept():
            while True:
                conn, _ = ls.accept()
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(nodelay))
                threading.Thread(target=serve, args=(conn, batched, sizes), daemon=True).start()
        threading.Thread(target=accept, daemon=True).start()
        return ls.getsockname()[1]
    q.put((listen(False), listen(True), listen(False, nodelay=False), listen(True, send_block=64 * 1024)))
    threading.Event().wait()


def grpc_server(identity, q):
    fd = os.open(SRC, os.O_RDONLY)

    async def bulk(req, context):
        off, n = struct.unpack("!QQ", req)
        end = off + n
        while off < end:
            data = await asyncio.to_thread(os.pread, fd, min(MiB, end - off), off)
            yield data
            off += len(data)

    async def main():
        s = channels.aio_server()
        s.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            SERVICE, {"Bulk": grpc.unary_stream_rpc_method_handler(bulk)}),))
        a = channels.bind(s, "127.0.0.1:0", identity, require_client_cert=True)
        await s.start()
        q.put(a)
        await s.wait_for_termination()
    asyncio.run(main())


def consume(out, h, view, at):
    if MODE == "write":
        os.pwrite(out, view, at)
    if MODE in ("hash", "write"):
        h.update(view)


def sock_client(port, identity, streams, out, batched, how=READ_PREAD, rcvbuf=0, **sizes):
    c, share = ctx(identity, False), TOTAL // streams

    def one(i):
        raw = socket.create_connection(("127.0.0.1", port))
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if rcvbuf:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s = wrap(c, raw, batched, False, **sizes)
        s.sendall(struct.pack("!QQB", i * share, share, how))
        mv = memoryview(bytearray(BUFFER))
        h, got = hashlib.sha256(), 0
        while got < share:
            want, k = min(len(mv), share - got), 0
            while k < want:
                r = s.recv_into(mv[k:want])
                if not r:
                    break
                k += r
            if not k:
                break
            consume(out, h, mv[:k], i * share + got)
            got += k
        s.close()
    ts = [threading.Thread(target=one, args=(i,)) for i in range(streams)]
    t = time.perf_counter()
    [x.start() for x in ts]
    [x.join() for x in ts]
    return TOTAL / (time.perf_counter() - t)


async def grpc_client(addr, identity, streams, out, pool):
    ch = channels.aio_peer_channel(addr, identity)
    call, share = ch.unary_stream(f"/{SERVICE}/Bulk"), TOTAL // streams
    loop = asyncio.get_running_loop()

    async def one(i):
        h, off, w = hashlib.sha256(), i * share, None
        async for chunk in call(struct.pack("!QQ", off, share)):
            if w:
                await w
            w = loop.run_in_executor(pool, consume, out, h, chunk, off)
            off += len(chunk)
        if w:
            await w
    t = time.perf_counter()
    await asyncio.gather(*[one(i) for i in range(streams)])
    r = TOTAL / (time.perf_counter() - t)
    await ch.close()
    return r


def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]), int(f[12]))


def mine():
    r = os.times()
    return (r.user, r.system)


def main():
    import concurrent.futures
    ca_key, ca_cert = tls.make_ca("b")
    si, ci = identity_for(ca_key, ca_cert, "s"), identity_for(ca_key, ca_cert, "c")
    mp = multiprocessing.get_context("spawn")
    q1, q2 = mp.Queue(), mp.Queue()
    p1 = mp.Process(target=sock_server, args=(si, q1), daemon=True)
    p1.start()
    plain_port, batched_port, nagle_port, small_block_port = q1.get(timeout=60)
    out = os.open(os.path.join(WORK, "dst.bin"), os.O_RDWR | os.O_CREAT)
    pool = concurrent.futures.ThreadPoolExecutor(8)
    tick = os.sysconf("SC_CLK_TCK")

    variants = {  # label: (run, server pid)
        "sslsocket 1 conn": (lambda: sock_client(plain_port, ci, 1, out, False), p1.pid),
        "batched 1 conn": (lambda: sock_client(batched_port, ci, 1, out, True), p1.pid),
        "batched recv, sslsocket send": (lambda: sock_client(plain_port, ci, 1, out, True), p1.pid),
        "batched recv, sslsocket send, preadv":
            (lambda: sock_client(plain_port, ci, 1, out, True, READ_PREADV), p1.pid),
        "batched recv, sslsocket send, nagle": (lambda: sock_client(nagle_port, ci, 1, out, True), p1.pid),
        "batched recv 256K, sslsocket send":
            (lambda: sock_client(plain_port, ci, 1, out, True, recv_batch=256 * 1024), p1.pid),
        "batched recv 4M, sslsocket send":
            (lambda: sock_client(plain_port, ci, 1, out, True, recv_batch=4 * MiB), p1.pid),
        "batched recv 256K, send 64K":
            (lambda: sock_client(small_block_port, ci, 1, out, True, recv_batch=256 * 1024), p1.pid),
        "batched 1 conn, preadv": (lambda: sock_client(batched_port, ci, 1, out, True, READ_PREADV), p1.pid),
        "batched 1 conn, rcvbuf 4M": (lambda: sock_client(batched_port, ci, 1, out, True, rcvbuf=4 * MiB), p1.pid),
        "sslsocket 4 conns": (lambda: sock_client(plain_port, ci, 4, out, False), p1.pid),
        "batched recv 4 conns, sslsocket send": (lambda: sock_client(plain_port, ci, 4, out, True), p1.pid),
        "batched 4 conns": (lambda: sock_client(batched_port, ci, 4, out, True), p1.pid),
    }
    keep = DEFAULT_ROWS
    if "--only" in sys.argv:
        keep = sys.argv[sys.argv.index("--only") + 1].split("|")
    if "--all" not in sys.argv:
        variants = {k: v for k, v in variants.items() if k in keep}
    if "--grpc" in sys.argv:
        p2 = mp.Process(target=grpc_server, args=(si, q2), daemon=True)
        p2.start()
        addr = q2.get(timeout=60)
        variants["grpc 1 stream"] = (lambda: asyncio.run(grpc_client(addr, ci, 1, out, pool)), p2.pid)
        variants["grpc 4 streams"] = (lambda: asyncio.run(grpc_client(addr, ci, 4, out, pool)), p2.pid)

    h, b = hashlib.sha256(), os.urandom(64 * MiB)
    t = time.perf_counter()
    h.update(b)
    h.update(b)
    print(f"sha256 one core {128 * MiB / (time.perf_counter() - t) / 1e9:.2f} GB/s; "
          f"{TOTAL // MiB} MiB per run, receiver mode {MODE!r}, {REPEATS} alternating runs", flush=True)

    gb = TOTAL / 1e9
    results = {label: [] for label in variants}
    for rep in range(REPEATS):
        order = list(variants.items())
        if rep % 2:
            order.reverse()
        for label, (run, server_pid) in order:
            c0, s0 = mine(), cpu(server_pid)
            rate = run()
            c1, s1 = mine(), cpu(server_pid)
            row = ((c1[0] - c0[0]) / gb, (c1[1] - c0[1]) / gb,
                   (s1[0] - s0[0]) / tick / gb, (s1[1] - s0[1]) / tick / gb, rate / 1e9)
            results[label].append(row)
            print(f"  run {rep + 1} {label:28s} recv u {row[0]:4.2f} s {row[1]:4.2f}  send u {row[2]:4.2f} "
                  f"s {row[3]:4.2f}  {row[4]:4.2f} GB/s", flush=True)

    print("\nmedians, CPU-s per GB (user+system), wall GB/s; ratios to the SSLSocket row of as many conns")
    print(f"{'variant':28s} {'recv usr':>8s} {'recv sys':>8s} {'send usr':>8s} {'send sys':>8s} "
          f"{'recv':>6s} {'send':>6s} {'total':>6s} {'GB/s':>5s}  ratios recv/send/total")
    medians = {}
    for label, rows in results.items():
        m = [statistics.median(r[i] for r in rows) for i in range(5)]
        recv, send = statistics.median(r[0] + r[1] for r in rows), statistics.median(r[2] + r[3] for r in rows)
        total = statistics.median(r[0] + r[1] + r[2] + r[3] for r in rows)
        medians[label] = (recv, send, total)
        base = medians.get("sslsocket 4 conns" if "4 conns" in label else "sslsocket 1 conn")
        ratios = f"  {recv / base[0]:.2f} / {send / base[1]:.2f} / {total / base[2]:.2f}" if base else ""
        print(f"{label:28s} {m[0]:8.2f} {m[1]:8.2f} {m[2]:8.2f} {m[3]:8.2f} {recv:6.2f} {send:6.2f} "
              f"{total:6.2f} {m[4]:5.2f}{ratios}")
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
