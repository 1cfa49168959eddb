#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A raw client of tlsd's control socket for tests/test-fairness.sh (the wire format of
common/proto.h, written with struct: no library between the test and the daemon).

  flood     CLIENTS connections, each creates a client session and then sends REQUESTS
            (ROUNDS times) Configure requests with the system trust store back to back (pipelined: all are
            written before the first reply is read, --start-file is created just before);
            every request must be answered. Prints "flood: N/M answered, K ok, T ms".
  ping      Pings one at a time until --stop-file exists, timing each round trip once
            --start-file exists (at least --min of them); prints "ready" when the first ping
            was answered and at the end "ping: n=N p50=X ms p99=Y ms max=Z ms".
  sessions  creates COUNT client sessions with the system trust store on one connection,
            prints "ready" and holds them until --hold-file exists.
  trust-cap adds CA certificates to one session until the daemon refuses, and checks that the
            refusal names the limit (MaxTrustAnchorsPerSession=, MaxTrustBytesPerSession=)
            and that the daemon still answers a ping.

Each check prints a PASS:/FAIL:/SKIP: line the shell test counts; the exit status is 1 when
any FAIL was printed.
"""
import argparse
import os
import socket
import ssl
import struct
import sys
import time

MAGIC = 0x64736C74
VERSION = 1
F_REPLY, F_ERROR = 1, 2
MSG_PING, MSG_SESSION_CREATE, MSG_SESSION_CONFIGURE = 2, 4, 5
A_ERROR, A_ERRNO, A_MESSAGE = 1, 2, 3
A_SESSION_ID, A_ROLE, A_CA, A_SYSTEM_TRUST, A_PAYLOAD = 12, 14, 25, 26, 7

failed = False


def report(kind, text):
    global failed
    if kind == "FAIL":
        failed = True
    print("%s: %s" % (kind, text), flush=True)


def attr(atype, value):
    n = 4 + len(value)
    return struct.pack("=HH", n, atype) + value + b"\0" * ((4 - n % 4) % 4)


def u32(atype, v):
    return attr(atype, struct.pack("=I", v))


def u64(atype, v):
    return attr(atype, struct.pack("=Q", v))


def message(mtype, mid, *attrs):
    payload = b"".join(attrs)
    return struct.pack("=IBBHII", MAGIC, VERSION, 0, mtype, mid, len(payload)) + payload


def parse(packet):
    """(type, flags, id, {attr: bytes}) of a reply."""
    magic, version, flags, mtype, mid, length = struct.unpack_from("=IBBHII", packet)
    if magic != MAGIC or version != VERSION or length != len(packet) - 16:
        raise ValueError("malformed reply")
    attrs, off = {}, 16
    while off < len(packet):
        n, atype = struct.unpack_from("=HH", packet, off)
        attrs[atype] = packet[off + 4:off + n]
        off += (n + 3) & ~3
    return mtype, flags, mid, attrs


def error_text(attrs):
    return attrs.get(A_MESSAGE, b"").rstrip(b"\0").decode("utf-8", "replace")


class Client:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.connect(path)
        self.next_id = 1

    def send(self, mtype, *attrs):
        mid = self.next_id
        self.next_id += 1
        self.sock.sendall(message(mtype, mid, *attrs))
        return mid

    def recv(self, timeout=120):
        """The next reply (events are skipped)."""
        self.sock.settimeout(timeout)
        while True:
            packet = self.sock.recv(256 * 1024)
            if not packet:
                raise ConnectionError("tlsd hung up")
            reply = parse(packet)
            if reply[1] & F_REPLY:
                return reply

    def call(self, mtype, *attrs):
        mid = self.send(mtype, *attrs)
        reply = self.recv()
        if reply[2] != mid:
            raise ValueError("reply id %d for request %d" % (reply[2], mid))
        return reply

    def create_session(self):
        _, flags, _, attrs = self.call(MSG_SESSION_CREATE, u32(A_ROLE, 0))
        if flags & F_ERROR:
            raise RuntimeError("CreateSession: " + error_text(attrs))
        return struct.unpack("=Q", attrs[A_SESSION_ID])[0]


def flood(args):
    clients = [Client(args.socket) for _ in range(args.clients)]
    sessions = [c.create_session() for c in clients]
    if args.start_file:
        open(args.start_file, "w").close()
    start = time.monotonic()
    answered = ok = 0
    first_error = None
    for _ in range(args.rounds):
        sent = {}
        for _ in range(args.requests):
            for c, s in zip(clients, sessions):
                mid = c.send(MSG_SESSION_CONFIGURE, u64(A_SESSION_ID, s), u32(A_SYSTEM_TRUST, 1))
                sent.setdefault(c, []).append(mid)
        for c in clients:
            for mid in sent[c]:
                try:
                    _, flags, rid, attrs = c.recv()
                except (OSError, ConnectionError, ValueError) as e:
                    first_error = first_error or str(e)
                    break
                if rid != mid:
                    first_error = first_error or "reply id %d for request %d" % (rid, mid)
                    continue
                answered += 1
                if flags & F_ERROR:
                    first_error = first_error or error_text(attrs)
                else:
                    ok += 1
    took = time.monotonic() - start
    total = args.clients * args.requests * args.rounds
    print("flood: %d/%d answered, %d ok, %.0f ms" % (answered, total, ok, took * 1000),
          flush=True)
    if first_error and "system trust store" in first_error:
        report("SKIP", "flood: the daemon has no usable system trust store: " + first_error)
        return
    if answered == total and ok == total:
        report("PASS", "flood: all %d pipelined Configure(SystemTrust) requests of %d clients "
               "(%d rounds of %d each) answered ok" % (total, args.clients, args.rounds,
                                                        args.requests))
    else:
        report("FAIL", "flood: %d/%d answered, %d ok (%s)" % (answered, total, ok, first_error))


def sessions(args):
    c = Client(args.socket)
    for _ in range(args.count):
        s = c.create_session()
        _, flags, _, attrs = c.call(MSG_SESSION_CONFIGURE, u64(A_SESSION_ID, s),
                                    u32(A_SYSTEM_TRUST, 1))
        if flags & F_ERROR:
            report("FAIL", "sessions: Configure(SystemTrust): " + error_text(attrs))
            return
    print("ready", flush=True)
    deadline = time.monotonic() + 120
    while not os.path.exists(args.hold_file) and time.monotonic() < deadline:
        time.sleep(0.01)
    report("PASS", "sessions: %d client sessions with the system trust store" % args.count)


def ping(args):
    c = Client(args.socket)
    times = []
    bad = 0
    n = 0
    while not (os.path.exists(args.stop_file) and len(times) >= args.min):
        payload = struct.pack("=d", time.monotonic())
        measure = not args.start_file or os.path.exists(args.start_file)
        start = time.monotonic()
        _, flags, _, attrs = c.call(MSG_PING, attr(A_PAYLOAD, payload))
        if measure:
            times.append((time.monotonic() - start) * 1000)
        if flags & F_ERROR or attrs.get(A_PAYLOAD) != payload:
            bad += 1
        n += 1
        if n == 1:
            print("ready", flush=True)
        time.sleep(0.002)
    times.sort()

    def pct(p):
        return times[min(len(times) - 1, int(len(times) * p / 100))]

    print("ping: n=%d p50=%.1f ms p99=%.1f ms max=%.1f ms" % (len(times), pct(50), pct(99),
                                                            times[-1]), flush=True)
    if bad == 0:
        report("PASS", "ping: all %d pings of the other uid answered with their payload" % n)
    else:
        report("FAIL", "ping: %d of %d pings failed or came back wrong" % (bad, n))


def trust_cap(args):
    with open(args.ca, "rb") as f:
        pem = f.read()
    der = ssl.PEM_cert_to_DER_cert(pem.decode())
    c = Client(args.socket)

    # One DER certificate per Configure: the anchor cap is reached first.
    s = c.create_session()
    accepted, refusal = 0, None
    for _ in range(args.anchors + 1):
        _, flags, _, attrs = c.call(MSG_SESSION_CONFIGURE, u64(A_SESSION_ID, s), attr(A_CA, der))
        if flags & F_ERROR:
            refusal = error_text(attrs)
            break
        accepted += 1
    if accepted == args.anchors and refusal and "MaxTrustAnchorsPerSession=%d" % args.anchors \
            in refusal:
        report("PASS", "trust cap: %d CA certificates accepted, the next refused: %s"
               % (accepted, refusal))
    else:
        report("FAIL", "trust cap: %d CA certificates accepted (cap %d), refusal: %s"
               % (accepted, args.anchors, refusal))

    # One PEM bundle over the byte cap (fewer certificates than the anchor cap).
    if args.bytes:
        s = c.create_session()
        copies = args.bytes // len(pem) + 1
        bundle = pem * copies
        _, flags, _, attrs = c.call(MSG_SESSION_CONFIGURE, u64(A_SESSION_ID, s),
                                    attr(A_CA, bundle))
        refusal = error_text(attrs) if flags & F_ERROR else None
        if copies <= args.anchors and refusal and "MaxTrustBytesPerSession=%d" % args.bytes \
                in refusal:
            report("PASS", "trust cap: a %d-byte bundle of %d certificates refused: %s"
                   % (len(bundle), copies, refusal))
        else:
            report("FAIL", "trust cap: a %d-byte bundle of %d certificates (byte cap %d): %s"
                   % (len(bundle), copies, args.bytes, refusal or "accepted"))

        # The refused Configure left the session as it was: it still takes a certificate.
        _, flags, _, attrs = c.call(MSG_SESSION_CONFIGURE, u64(A_SESSION_ID, s),
                                    attr(A_CA, der))
        if not flags & F_ERROR:
            report("PASS", "trust cap: after the refusal the session takes a certificate")
        else:
            report("FAIL", "trust cap: after the refusal: %s" % error_text(attrs))

    _, flags, _, _ = c.call(MSG_PING)
    if not flags & F_ERROR:
        report("PASS", "trust cap: the daemon still answers")
    else:
        report("FAIL", "trust cap: ping after the refusals failed")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("flood")
    f.add_argument("--socket", required=True)
    f.add_argument("--clients", type=int, default=16)
    f.add_argument("--requests", type=int, default=40)
    f.add_argument("--rounds", type=int, default=1, help="the pipeline, again and again")
    f.add_argument("--start-file", help="created when the pipelined requests start")
    h = sub.add_parser("sessions")
    h.add_argument("--socket", required=True)
    h.add_argument("--count", type=int, required=True)
    h.add_argument("--hold-file", required=True)
    p = sub.add_parser("ping")
    p.add_argument("--socket", required=True)
    p.add_argument("--stop-file", required=True)
    p.add_argument("--min", type=int, default=20, help="pings measured at least")
    p.add_argument("--start-file", help="measure only once this file exists")
    t = sub.add_parser("trust-cap")
    t.add_argument("--socket", required=True)
    t.add_argument("--ca", required=True)
    t.add_argument("--anchors", type=int, required=True)
    t.add_argument("--bytes", type=int, required=True)
    args = ap.parse_args()
    try:
        {"flood": flood, "sessions": sessions, "ping": ping,
         "trust-cap": trust_cap}[args.cmd](args)
    except (OSError, ConnectionError, ValueError, RuntimeError) as e:
        report("FAIL", "%s: %s" % (args.cmd, e))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
