"""Sealed frames against TLS for blob bodies: what a body costs in CPU when, after the mutual-TLS
handshake and the request, it travels as AES-GCM frames on the bare connection instead of TLS records.

    python bench/sealed_frames.py [MiB per run, 512] [alternating runs, 5]

A measurement for a design not built yet (docs/transfer-data-path.md, section 7). A server
process serves a page-cached file in two ways, and a receiver in this process blake3-hashes every
byte (as a pull's piece check does; nothing is written):

- "tls (today)": the blob socket as it is: the source sends with an ``ssl.SSLSocket`` (one record
  and one ``send`` per 16 KiB), the destination reads in 1 MiB batches through memory BIOs
  (llmesh.common.batched_tls), AES-256-GCM as TLS 1.3 negotiates it here;
- "sealed frames": the same handshake (BatchedTLS, mesh certificates), the request carries a fresh
  random key inside TLS; once the server has taken it, the client says "go" and the body comes as
  frames of an 8-byte header (length, last-frame flag) and AES-128-GCM ciphertext of up to 1 MiB
  (the header is the associated data, the nonce is the frame's counter), sealed with ``encrypt_into`` straight from
  the read buffer and opened with ``decrypt_into`` into the receiver's buffer: one send and one
  receive per MiB, no copies through OpenSSL's record buffers.

Prints CPU seconds per GB on each side (user and system; the stable figure on a shared machine),
the wall rate, medians of alternating runs, and the ratios of sealed to TLS.
"""
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
import blake3
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from tls_overhead import _identity as identity_for  # noqa: PLC2701  (a bench helper)

from llmesh.common import tls
from llmesh.common.batched_tls import BatchedTLS

MiB = 1 << 20
TOTAL = int(sys.argv[1]) * MiB if len(sys.argv) > 1 else 512 * MiB
REPEATS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
FRAME = MiB
WORK = tempfile.mkdtemp(prefix="sealed-")
SRC = os.path.join(WORK, "src.bin")
HDR = struct.Struct("!II")

def ctx(identity, server):
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    d = tempfile.mkdtemp()
    for name, pem in (("c", identity.cert_pem), ("k", identity.key_pem), ("ca", identity.ca_pem)):
        open(f"{d}/{name}", "wb").write(pem)
    c.load_cert_chain(f"{d}/c", f"{d}/k")
    c.load_verify_locations(f"{d}/ca")
    c.verify_mode = ssl.CERT_REQUIRED
    if not server:
        c.check_hostname = False
    return c

def recv_exactly_raw(sock, view):
    got = 0
    while got < len(view):
        r = sock.recv_into(view[got:])
        if not r:
            raise EOFError
        got += r

def nonce(i): return b"\0\0\0\0" + i.to_bytes(8, "big")

def server(identity, q, src):
    c = ctx(identity, True)
    fd = os.open(src, os.O_RDONLY)
    def serve(conn, sealed):
        if not sealed:
            s = c.wrap_socket(conn, server_side=True)
            n = struct.unpack("!Q", s.recv(8))[0]
            off = 0
            while off < n:
                data = os.pread(fd, min(4 * MiB, n - off), off)
                s.sendall(data)
                off += len(data)
            s.close()
            return
        s = BatchedTLS(conn, c, server_side=True)
        s.do_handshake()
        req = bytearray(8 + 16)
        v = memoryview(req)
        got = 0
        while got < len(req):
            got += s.recv_into(v[got:])
        n = struct.unpack("!Q", req[:8])[0]
        key = bytes(req[8:])
        aead = AESGCM(key)
        s.sendall(b"k")  # the key is taken: the rest is frames, once the client says it read this
        recv_exactly_raw(conn, memoryview(bytearray(1)))
        buf = bytearray(FRAME)
        out = bytearray(HDR.size + FRAME + 16)
        ov = memoryview(out)
        off, i = 0, 0
        while off < n:
            k = os.preadv(fd, [memoryview(buf)[:min(FRAME, n - off)]], off)
            last = off + k >= n
            HDR.pack_into(out, 0, k, last)
            aead.encrypt_into(nonce(i), memoryview(buf)[:k], ov[:HDR.size], ov[HDR.size:HDR.size + k + 16])
            conn.sendall(ov[:HDR.size + k + 16])
            off += k
            i += 1
        conn.close()
    def listen(sealed):
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(8)
        def accept():
            while True:
                conn, _ = ls.accept()
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                threading.Thread(target=serve, args=(conn, sealed), daemon=True).start()
        threading.Thread(target=accept, daemon=True).start()
        return ls.getsockname()[1]
    q.put((listen(False), listen(True)))
    threading.Event().wait()

def connect(port, identity):
    """A batched mutual-TLS connection to the server, and the socket under it."""
    raw = socket.create_connection(("127.0.0.1", port))
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s = BatchedTLS(raw, ctx(identity, False), server_side=False, server_hostname="x")
    s.do_handshake()
    return s, raw


def client_tls(port, identity):
    s, _ = connect(port, identity)
    s.sendall(struct.pack("!Q", TOTAL))
    mv = memoryview(bytearray(4 * MiB))
    h = blake3.blake3()
    got = 0
    while got < TOTAL:
        want, k = min(len(mv), TOTAL - got), 0
        while k < want:
            r = s.recv_into(mv[k:want])
            if not r:
                break
            k += r
        h.update(mv[:k])
        got += k
    s.close()
    return got

def client_sealed(port, identity):
    s, raw = connect(port, identity)
    key = AESGCM.generate_key(bit_length=128)
    s.sendall(struct.pack("!Q", TOTAL) + key)
    assert s.recv(1) == b"k"
    raw.sendall(b"g")
    aead = AESGCM(key)
    ct = bytearray(FRAME + 16)
    cv = memoryview(ct)
    pt = bytearray(FRAME)
    pv = memoryview(pt)
    hdr = bytearray(HDR.size)
    hv = memoryview(hdr)
    h = blake3.blake3()
    got, i = 0, 0
    while True:
        recv_exactly_raw(raw, hv)
        k, last = HDR.unpack(hdr)
        recv_exactly_raw(raw, cv[:k + 16])
        aead.decrypt_into(nonce(i), cv[:k + 16], hv, pv[:k])
        h.update(pv[:k])
        got += k
        i += 1
        if last:
            break
    raw.close()
    return got

def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]), int(f[12])

def main():
    with open(SRC, "wb") as f:
        for _ in range(TOTAL // (64 * MiB)):
            f.write(os.urandom(64 * MiB))
    ca_key, ca_cert = tls.make_ca("b")
    si, ci = identity_for(ca_key, ca_cert, "s"), identity_for(ca_key, ca_cert, "c")
    mp = multiprocessing.get_context("spawn")
    q = mp.Queue()
    p = mp.Process(target=server, args=(si, q, SRC), daemon=True)
    p.start()
    tls_port, sealed_port = q.get(timeout=60)
    tick = os.sysconf("SC_CLK_TCK")
    gb = TOTAL / 1e9
    variants = {"tls (today)": lambda: client_tls(tls_port, ci),
                "sealed frames": lambda: client_sealed(sealed_port, ci)}
    res = {k: [] for k in variants}
    for rep in range(REPEATS):
        for label, run in (list(variants.items()) if rep % 2 == 0 else list(variants.items())[::-1]):
            c0, s0, t0 = os.times(), cpu(p.pid), time.perf_counter()
            assert run() == TOTAL
            c1, s1, t1 = os.times(), cpu(p.pid), time.perf_counter()
            row = ((c1.user - c0.user) / gb, (c1.system - c0.system) / gb, (s1[0] - s0[0]) / tick / gb,
                   (s1[1] - s0[1]) / tick / gb, gb / (t1 - t0))
            res[label].append(row)
            print(f"  {label:14s} recv u {row[0]:.2f} s {row[1]:.2f}  send u {row[2]:.2f} s {row[3]:.2f}  "
                  f"{row[4]:.2f} GB/s", flush=True)
    print("medians CPU-s/GB: recv usr/sys, send usr/sys, total, GB/s")
    for label, rows in res.items():
        m = [statistics.median(r[i] for r in rows) for i in range(5)]
        tot = statistics.median(sum(r[:4]) for r in rows)
        print(f"{label:14s} {m[0]:.2f} {m[1]:.2f} {m[2]:.2f} {m[3]:.2f} total {tot:.2f}  {m[4]:.2f} GB/s")
    tls_total = statistics.median(sum(r[:4]) for r in res["tls (today)"])
    sealed_total = statistics.median(sum(r[:4]) for r in res["sealed frames"])
    rates = [statistics.median(r[4] for r in res[label]) for label in ("sealed frames", "tls (today)")]
    print(f"ratio sealed / tls, CPU per GB: {sealed_total / tls_total:.2f}; wall rate: {rates[0] / rates[1]:.2f}")
    shutil.rmtree(WORK, ignore_errors=True)

if __name__ == "__main__":
    main()
