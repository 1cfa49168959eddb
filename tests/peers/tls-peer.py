#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A real TLS server peer for the integration tests (Python's ssl module, i.e. OpenSSL).

Modes, one connection each, --count connections in a row:
  stream   send --bytes of the deterministic stream while receiving the client's stream;
           check every received byte against the expected stream; close with close_notify
           after both directions are done. Prints one JSON line per connection.
  abort    send --bytes, then drop the TCP connection without close_notify (truncation).
  hold     complete the handshake and keep the connection open until the client goes; the
           connections are held side by side (what a client sends is read and dropped).
  starttls a plaintext line protocol first: expects "STARTTLS", answers "OK", then runs the TLS
           server handshake on the same socket and echoes lines until the client closes.

The deterministic stream is the 1 MiB block SHA-256(seed || counter) for counter 0..32767,
repeated; the C side builds the same block (tests/test-tls.c).
"""
import argparse
import hashlib
import json
import os
import select
import socket
import ssl
import sys

BLOCK = 1 << 20


def make_block(seed: bytes) -> bytes:
    return b"".join(hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(BLOCK // 32))


def drain(held, lsock):
    """Reads (and drops) what the held connections send, closing those whose client went,
    until lsock has a connection to accept; with lsock None, until every client went."""
    while held or lsock is not None:
        ready, _, _ = select.select(held + ([lsock] if lsock is not None else []), [], [])
        for c in ready:
            if c is lsock:
                continue
            try:
                gone = not c.recv(65536)
                while not gone and c.pending():
                    gone = not c.recv(65536)
            except ssl.SSLWantReadError:
                continue
            except (ssl.SSLError, OSError):
                gone = True
            if gone:
                c.close()
                held.remove(c)
        if lsock is not None and lsock in ready:
            return


def serve_stream(conn, nbytes, out_block, in_block, in_bytes):
    conn.setblocking(False)
    sent = received = 0
    mismatch = None
    read_eof = False
    while sent < nbytes or not read_eof:
        want_w = [conn] if sent < nbytes else []
        r, w, _ = select.select([conn], want_w, [], 60)
        if not r and not w:
            raise TimeoutError("stalled: sent %d received %d" % (sent, received))
        if r or conn.pending():
            try:
                data = conn.recv(262144)
                if not data:
                    read_eof = True
                else:
                    off = received % BLOCK
                    view = memoryview(data)
                    pos = 0
                    while pos < len(view) and mismatch is None:
                        n = min(len(view) - pos, BLOCK - off)
                        if view[pos:pos + n] != in_block[off:off + n]:
                            mismatch = received + pos
                        pos += n
                        off = 0
                    received += len(data)
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLWantWriteError:
                pass
            except (ssl.SSLZeroReturnError, ConnectionResetError):
                read_eof = True
        if sent < nbytes:
            off = sent % BLOCK
            chunk = out_block[off:off + min(65536, nbytes - sent, BLOCK - off)]
            try:
                sent += conn.send(chunk)
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                pass
    conn.setblocking(True)
    try:
        conn.unwrap()
    except (ssl.SSLError, OSError):
        pass
    ok = mismatch is None and received == in_bytes
    return {"sent": sent, "received": received, "mismatch": mismatch, "ok": ok}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--mode", choices=["stream", "abort", "hold", "starttls"], default="stream")
    ap.add_argument("--bytes", type=int, default=1 << 20, help="bytes this side sends")
    ap.add_argument("--expect", type=int, default=None, help="bytes expected from the client")
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--client-seed", default="client")
    ap.add_argument("--server-seed", default="server")
    args = ap.parse_args()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(16)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(lsock.getsockname()[1]))
    os.rename(tmp, args.port_file)

    out_block = make_block(args.server_seed.encode())
    in_block = make_block(args.client_seed.encode())
    expect = args.bytes if args.expect is None else args.expect
    held = []
    for _ in range(args.count):
        if args.mode == "hold":
            drain(held, lsock)
        raw, _ = lsock.accept()
        if args.mode == "starttls":
            f = raw.makefile("rb", buffering=0)
            line = b""
            while not line.endswith(b"\n"):
                ch = f.read(1)
                if not ch:
                    break
                line += ch
            if line.strip() != b"STARTTLS":
                raw.sendall(b"ERR\n")
                raw.close()
                continue
            raw.sendall(b"OK\n")
        try:
            conn = ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError) as e:
            print(json.dumps({"handshake_error": str(e)}), flush=True)
            raw.close()
            continue
        if args.mode == "stream":
            print(json.dumps(serve_stream(conn, args.bytes, out_block, in_block, expect)), flush=True)
            conn.close()
        elif args.mode == "abort":
            conn.sendall(out_block[:args.bytes])
            # RST-free drop without close_notify: shut the TCP socket under the TLS layer.
            raw_fd = conn.detach() if hasattr(conn, "detach") else None
            s = socket.socket(fileno=raw_fd) if raw_fd is not None else raw
            s.shutdown(socket.SHUT_RDWR)
            s.close()
            print(json.dumps({"aborted_after": args.bytes}), flush=True)
        elif args.mode == "starttls":
            try:
                while True:
                    data = conn.recv(65536)
                    if not data:
                        break
                    conn.sendall(data)
                conn.unwrap()
            except (ssl.SSLError, OSError):
                pass
            conn.close()
            print(json.dumps({"starttls": "done"}), flush=True)
        else:
            conn.setblocking(False)
            held.append(conn)
    drain(held, None)
    lsock.close()


if __name__ == "__main__":
    sys.exit(main())
