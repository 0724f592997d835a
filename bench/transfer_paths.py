"""Which data path for blob bodies: gRPC streams or a plain mutual-TLS socket, by numbers.

    python bench/transfer_paths.py [--mib 512]

A sender process serves a page-cached file over (a) the mesh's gRPC channel (llmesh.common.channels,
1 MiB messages, as the Peer service's ReadBlob) and (b) a plain TLS socket with the same mesh
certificates (4 MiB reads, sendall). The receiver writes (pwrite) and hashes (sha256) every byte, as
a pull does, on 1 and 4 concurrent streams. Printed: wall rate, and CPU seconds per GB on each side
(the robust figure on a shared machine: wall rates swing with other load, CPU per byte does not).
"""
import asyncio
import hashlib
import multiprocessing
import os
import shutil
import socket
import ssl
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

MiB = 1 << 20
MODE = 'wh'
TOTAL = int(sys.argv[sys.argv.index("--mib") + 1]) * MiB if "--mib" in sys.argv else 512 * MiB
WORK = tempfile.mkdtemp(prefix="llmesh-paths-")
SRC = os.path.join(WORK, "src.bin")
if not os.path.exists(SRC) or os.path.getsize(SRC) != TOTAL:
    with open(SRC, "wb") as f: f.write(os.urandom(TOTAL))
def ctx(identity, server):
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    d = tempfile.mkdtemp()
    open(f"{d}/c", "wb").write(identity.cert_pem); open(f"{d}/k", "wb").write(identity.key_pem); open(f"{d}/ca", "wb").write(identity.ca_pem)
    c.load_cert_chain(f"{d}/c", f"{d}/k"); c.load_verify_locations(f"{d}/ca"); c.verify_mode = ssl.CERT_REQUIRED
    if not server: c.check_hostname = False
    return c
def sock_server(identity, q):
    c = ctx(identity, True); ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(16); q.put(ls.getsockname()[1])
    fd = os.open(SRC, os.O_RDONLY)
    def serve(conn):
        s = c.wrap_socket(conn, server_side=True)
        off, n = struct.unpack("!QQ", s.recv(16)); buf = bytearray(4 * MiB); end = off + n
        while off < end:
            k = os.preadv(fd, [memoryview(buf)[:min(len(buf), end - off)]], off); s.sendall(memoryview(buf)[:k]); off += k
        s.close()
    while True:
        conn, _ = ls.accept(); threading.Thread(target=serve, args=(conn,), daemon=True).start()
def grpc_server(identity, q):
    fd = os.open(SRC, os.O_RDONLY)
    async def bulk(req, context):
        off, n = struct.unpack("!QQ", req); end = off + n
        while off < end:
            data = await asyncio.to_thread(os.pread, fd, min(MiB, end - off), off); yield data; off += len(data)
    async def main():
        s = channels.aio_server()
        s.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {"Bulk": grpc.unary_stream_rpc_method_handler(bulk)}),))
        a = channels.bind(s, "127.0.0.1:0", identity, require_client_cert=True); await s.start(); q.put(a); await s.wait_for_termination()
    asyncio.run(main())
def sock_client(port, identity, streams, out):
    c = ctx(identity, False); share = TOTAL // streams
    def one(i):
        s = c.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="x")
        s.sendall(struct.pack("!QQ", i * share, share)); buf = bytearray(4 * MiB); mv = memoryview(buf); h = hashlib.sha256(); off = i * share; got = 0
        while got < share:
            want = min(len(buf), share - got); k = 0
            while k < want:
                r = s.recv_into(mv[k:want])
                if not r: break
                k += r
            if not k: break
            globals()['MODE'] in ('w','wh') and os.pwrite(out, mv[:k], off + got); globals()['MODE'] in ('h','wh') and h.update(mv[:k]); got += k
        s.close()
    ts = [threading.Thread(target=one, args=(i,)) for i in range(streams)]
    t = time.perf_counter(); [x.start() for x in ts]; [x.join() for x in ts]; return TOTAL / (time.perf_counter() - t)
async def grpc_client(addr, identity, streams, out, pool):
    ch = channels.aio_peer_channel(addr, identity); call = ch.unary_stream(f"/{SERVICE}/Bulk"); share = TOTAL // streams
    loop = asyncio.get_running_loop()
    def sink(h, off, data): os.pwrite(out, data, off); h.update(data)
    async def one(i):
        h = hashlib.sha256(); off = i * share; w = None
        async for chunk in call(struct.pack("!QQ", off, share)):
            if w: await w
            w = loop.run_in_executor(pool, sink, h, off, chunk); off += len(chunk)
        if w: await w
    t = time.perf_counter(); await asyncio.gather(*[one(i) for i in range(streams)]); r = TOTAL / (time.perf_counter() - t); await ch.close(); return r
if __name__ == "__main__":
    import concurrent.futures
    ca_key, ca_cert = tls.make_ca("b"); si, ci = identity_for(ca_key, ca_cert, "s"), identity_for(ca_key, ca_cert, "c")
    mp = multiprocessing.get_context("spawn"); q1, q2 = mp.Queue(), mp.Queue()
    p1 = mp.Process(target=sock_server, args=(si, q1), daemon=True); p2 = mp.Process(target=grpc_server, args=(si, q2), daemon=True); p1.start(); p2.start()
    port, addr = q1.get(30), q2.get(30)
    out = os.open(os.path.join(WORK, "dst.bin"), os.O_RDWR | os.O_CREAT); pool = concurrent.futures.ThreadPoolExecutor(8)
    h = hashlib.sha256(); b = os.urandom(64 * MiB); t = time.perf_counter(); h.update(b); h.update(b); print(f"sha256 one core {128*MiB/(time.perf_counter()-t)/1e9:.2f} GB/s")
    try:
        from blake3 import blake3
        h = blake3(); t = time.perf_counter(); h.update(b); h.update(b); print(f"blake3 one thread {128*MiB/(time.perf_counter()-t)/1e9:.2f} GB/s")
    except ImportError: pass
    def cpu(pid):
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split(); return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    def mine():
        r = os.times(); return r.user + r.system
    def measure(label, fn, server_pid):
        c0, s0 = mine(), cpu(server_pid); rate = fn(); c1, s1 = mine(), cpu(server_pid)
        gb = TOTAL / 1e9
        print(f"{label:28s} {rate/1e9:5.2f} GB/s wall   cpu-s per GB: receiver {(c1-c0)/gb:4.2f}  sender {(s1-s0)/gb:4.2f}  total {(c1-c0+s1-s0)/gb:4.2f}", flush=True)
    for rep in range(2):
        for n in (1, 4):
            globals()['MODE'] = 'wh'
            measure(f"grpc {n} streams", lambda: asyncio.run(grpc_client(addr, ci, n, out, pool)), p2.pid)
            measure(f"tls socket {n} conns", lambda: sock_client(port, ci, n, out), p1.pid)
        globals()['MODE'] = ''
        measure("tls socket 4 conns, no hash/write", lambda: sock_client(port, ci, 4, out), p1.pid)
    p1.terminate(); p2.terminate()
    shutil.rmtree(WORK, ignore_errors=True)
