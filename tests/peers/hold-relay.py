#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A TCP relay that holds a TLS handshake at an exact point, so a test can change something (a
Configure) between two steps of it.

  hold-relay.py --target PORT --port-file FILE [--hold server|client|server-flight]

Listens on 127.0.0.1 (port 0; the port goes to --port-file) and relays every connection to
127.0.0.1:PORT. On the first connection only:

  --hold server         once the client has answered the server's first flight (its Finished),
                        the server's bytes after that (TLS 1.3 NewSessionTicket messages) are
                        held;
  --hold client         once the server has answered the ClientHello, the client's bytes after
                        that (its Finished) are held;
  --hold server-flight  the server's bytes are held from the first (its whole first flight).

Decided by the order of the flights, not by timing: a TLS client cannot send its Finished before
it has the server's whole first flight, and a server sends no ticket before the client's
Finished. When the first held bytes arrive the relay prints "held" on stdout.

Commands on stdin, one per line:
  fill     stop accepting and fill the listen queue with a connection of our own: the kernel then
           drops the next client's SYNs, so its TCP connect stays pending (a client retries after
           1 s, 3 s...). Prints "filled".
  release  sends the held bytes on and ends the hold; after "fill", drops our connection and
           accepts again (the pending client gets in with its next SYN).
"""
import argparse
import os
import select
import socket
import sys


class Pair:
    def __init__(self, client, server, hold):
        self.client = client
        self.server = server
        self.hold = hold              # one of the --hold modes, or None
        self.server_spoke = False     # server bytes were relayed
        self.client_answered = False  # client bytes came after the server spoke
        self.held = b""
        self.closed = False

    def holds(self, from_client):
        if self.hold == "server":
            return not from_client and self.client_answered
        if self.hold == "server-flight":
            return not from_client
        if self.hold == "client":
            return from_client and self.server_spoke
        return False

    def release(self):
        if self.held and not self.closed:
            (self.server if self.hold == "client" else self.client).sendall(self.held)
        self.held = b""
        self.hold = None

    def close(self):
        self.closed = True
        self.client.close()
        self.server.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", type=int, required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--hold", choices=["server", "client", "server-flight"])
    args = ap.parse_args()

    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(16)
    port = lsock.getsockname()[1]
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(port))
    os.rename(tmp, args.port_file)

    pairs = []
    first = True
    filler = None   # our connection in the listen queue
    paused = False  # not accepting: the queue stays full
    while True:
        rlist = [sys.stdin] + ([] if paused else [lsock])
        for p in pairs:
            rlist += [p.client, p.server]
        r, _, _ = select.select(rlist, [], [])
        if sys.stdin in r:
            line = sys.stdin.readline()
            if not line:
                return  # the test is gone
            if line.strip() == "fill" and not filler:
                # Backlog 0: one connection waiting to be accepted fills the queue.
                paused = True
                lsock.listen(0)
                filler = socket.create_connection(("127.0.0.1", port))
                print("filled", flush=True)
            elif line.strip() == "release":
                for p in pairs:
                    p.release()
                if paused:
                    lsock.listen(16)
                    paused = False
            continue
        if lsock in r:
            c, addr = lsock.accept()
            if filler and addr == filler.getsockname():
                c.close()
                filler.close()
                filler = None
                continue
            s = socket.create_connection(("127.0.0.1", args.target))
            pairs.append(Pair(c, s, args.hold if first else None))
            first = False
        for p in pairs:
            for src, dst, from_client in ((p.client, p.server, True),
                                          (p.server, p.client, False)):
                if p.closed or src not in r:
                    continue
                try:
                    data = src.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    p.close()
                    continue
                if p.holds(from_client):
                    if not p.held:
                        print("held", flush=True)
                    p.held += data
                    continue
                try:
                    dst.sendall(data)
                except OSError:
                    p.close()
                    continue
                if from_client and p.server_spoke:
                    p.client_answered = True
                if not from_client:
                    p.server_spoke = True
        pairs = [p for p in pairs if not p.closed]


if __name__ == "__main__":
    main()
