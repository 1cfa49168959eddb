#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""D-Bus client for tests/test-dbus-more.sh: the parts of org.tlsd1 that tests/dbus-client.py
does not reach. Run with Debian's /usr/bin/python3 (python3-dbus, python3-gi). Prints one
"PASS: ..." or "FAIL: ..." line per check and exits 1 if any failed.

Modes:
  dtls-tickets     DTLS 1.2 and 1.3 resumption over D-Bus, a DTLS listener and client in one
                   tlsd: Resumed=false then true, GetTicket, ConnectWithTicket, TicketStats
  listener-counts  a listener's Failed and Refused properties: a client without the required
                   certificate (Failed), a client over the listener's max_connections (Refused)
  policy           Compression != 0, VersionMin below TLS 1.2 and a CBC suite without Legacy are
                   RefusedByPolicy with the reason; with Legacy the CBC suite is negotiated with
                   openssl s_server (--legacy-port)
  signal-owner     (as uid A) a connection's life with every signal it brings; prints how many
  signal-watch     (as uid B) listens to every signal tlsd sends on the bus while A's connection
                   lives, then checks that none reached it, and that its own objects' do
"""
import argparse
import os
import select
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ left in the source tree by the import below
import dbuskit  # noqa: E402 (tests/, beside this file)
from dbuskit import connect, error_of, iface, options, prop, pump, report, slurp  # noqa: E402


def drain():
    """Handles every message already received (signals queued behind a blocking call)."""
    from gi.repository import GLib

    ctx = GLib.MainContext.default()
    for _ in range(100):
        if not ctx.pending():
            return
        ctx.iteration(False)


class Signals:
    """Every signal tlsd's connection sends that reaches us, in order."""

    def __init__(self, bus):
        self.got = []
        bus.add_signal_receiver(self.on_signal, bus_name="org.tlsd1", path_keyword="path",
                                interface_keyword="iface", member_keyword="member",
                                byte_arrays=True)

    def on_signal(self, *args, path=None, iface=None, member=None):
        self.got.append((str(path), str(iface), str(member), args))

    def find(self, path, member):
        for s in self.got:
            if s[0] == path and s[2] == member:
                return s
        return None

    def wait(self, path, member, timeout=10):
        pump(lambda: self.find(path, member) is not None, timeout)
        return self.find(path, member)

    def forget(self, path, member):
        self.got = [s for s in self.got if not (s[0] == path and s[2] == member)]


CONN = "org.tlsd1.Connection"
SESS = "org.tlsd1.Session"
LST = "org.tlsd1.Listener"


def receive(conn, timeout=10):
    """One whole message (DTLS) or what is there (TLS), polling Receive until timeout."""
    import dbus

    deadline = time.monotonic() + timeout
    while True:
        data, eof = conn.Receive(dbus.UInt32(4096), byte_arrays=True)
        if len(data) or eof or time.monotonic() >= deadline:
            return bytes(data), bool(eof)
        pump(lambda: False, 0.02)


def wait_ticket(conn, timeout=10):
    """GetTicket, asked again while NotFound (a 1.3 ticket trails the handshake)."""
    import dbus

    deadline = time.monotonic() + timeout
    while True:
        try:
            return int(conn.GetTicket())
        except dbus.exceptions.DBusException as e:
            if e.get_dbus_name() != "org.tlsd1.Error.NotFound" or time.monotonic() > deadline:
                raise
            pump(lambda: False, 0.05)


# ---- DTLS tickets ----

def dtls_tickets(a):
    import dbus

    U = dbus.UInt32
    B = dbus.ByteArray
    bus = connect(a.address)
    sig = Signals(bus)
    mgr = iface(bus, "/org/tlsd1", "org.tlsd1.Manager")
    ca = slurp(os.path.join(a.pki, "ca.pem"))
    chain = slurp(os.path.join(a.pki, "server-ecdsa-chain.pem"))
    key = slurp(os.path.join(a.pki, "server-ecdsa.key"))

    ss = mgr.CreateSession(U(1), options(Transport=U(1), Certificate=B(chain), Key=B(key)))
    lpath, port = iface(bus, ss, SESS).Listen("127.0.0.1", U(0), U(0), U(0))
    n_accepted = 0
    for version, name in ((0xfefd, "DTLSv1.2"), (0xfefc, "DTLSv1.3")):
        cs = mgr.CreateSession(U(0), options(Transport=U(1), CA=B(ca), VersionMin=U(version),
                                             VersionMax=U(version)))
        cli = iface(bus, cs, SESS)
        st0 = {str(k): int(v) for k, v in mgr.TicketStats().items()}

        def connection(ticket=None):
            nonlocal n_accepted
            c = cli.CreateConnection(U(socket.AF_INET))
            conn = iface(bus, c, CONN)
            if ticket is None:
                conn.Connect("localhost", U(port), "")
            else:
                conn.ConnectWithTicket("localhost", U(port), "", dbus.UInt64(ticket))
            done = sig.wait(c, "HandshakeDone")
            if not report(done is not None and str(done[3][0]) == name,
                          "%s over D-Bus: HandshakeDone (%s)" % (name, done[3][0] if done else
                                                                 "-"),
                          sig.find(c, "HandshakeFailed")):
                return c, conn, None
            # the server side: the Accepted connection echoes one message
            pump(lambda: sum(1 for s in sig.got if s[0] == str(lpath) and
                             s[2] == "Accepted") > n_accepted, 10)
            acc = [s for s in sig.got if s[0] == str(lpath) and s[2] == "Accepted"]
            if not report(len(acc) > n_accepted, "%s: the listener's Accepted signal" % name):
                return c, conn, None
            srv = iface(bus, acc[n_accepted][3][0], CONN)
            n_accepted += 1
            conn.Send(B(b"ticket please"))
            got, _ = receive(srv)
            srv.Send(B(got))
            back, _ = receive(conn)
            report(back == b"ticket please", "%s: one message each way" % name, back)
            return c, conn, bool(prop(bus, c, CONN, "Resumed"))

        c1, conn1, r1 = connection()
        report(r1 is False, "%s: the first connection is a full handshake (Resumed=false)" % name,
               r1)
        t1 = wait_ticket(conn1)
        report(t1 != 0, "%s: GetTicket after the exchange: ticket %u" % (name, t1))
        conn1.Destroy()
        c2, conn2, r2 = connection()
        report(r2 is True, "%s: the second connection resumes automatically (Resumed=true)" %
               name, r2)
        t2 = wait_ticket(conn2)
        conn2.Destroy()
        # DTLS 1.3 tickets are single-use and the automatic resumption may have taken t1
        ticket = t1 if version == 0xfefd else t2
        c3, conn3, r3 = connection(ticket)
        report(r3 is True, "%s: ConnectWithTicket resumes (Resumed=true)" % name, r3)
        conn3.Destroy()
        st1 = {str(k): int(v) for k, v in mgr.TicketStats().items()}
        report(st1["Hits"] >= st0["Hits"] + 2 and st1["Stored"] > st0["Stored"],
               "%s: TicketStats count the stored tickets and the hits" % name, (st0, st1))
        cli.Destroy()
    iface(bus, ss, SESS).Destroy()
    bus.close()


# ---- a listener's Failed and Refused ----

def s_client(port, pki, cert=False, hold=False):
    args = ["openssl", "s_client", "-connect", "127.0.0.1:%u" % port, "-servername",
            "localhost", "-CAfile", os.path.join(pki, "ca.pem"), "-verify_return_error",
            "-tls1_2"]
    if cert:
        args += ["-cert", os.path.join(pki, "client.pem"), "-key", os.path.join(pki, "client.key")]
    return subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


def listener_counts(a):
    import dbus

    U = dbus.UInt32
    B = dbus.ByteArray
    bus = connect(a.address)
    sig = Signals(bus)
    mgr = iface(bus, "/org/tlsd1", "org.tlsd1.Manager")
    ca = slurp(os.path.join(a.pki, "ca.pem"))
    chain = slurp(os.path.join(a.pki, "server-ecdsa-chain.pem"))
    key = slurp(os.path.join(a.pki, "server-ecdsa.key"))
    ss = mgr.CreateSession(U(1), options(Certificate=B(chain), Key=B(key), CA=B(ca),
                                         ClientAuth=U(2)))
    # at most one connection at a time
    lpath, port = iface(bus, ss, SESS).Listen("127.0.0.1", U(0), U(0), U(1))

    def counts():
        return tuple(int(prop(bus, lpath, LST, p)) for p in ("Accepted", "Failed", "Refused"))

    report(counts() == (0, 0, 0), "a new listener: Accepted, Failed, Refused are 0", counts())

    # no client certificate where one is required: the handshake fails
    p = s_client(port, a.pki)
    out, _ = p.communicate(b"", timeout=30)
    pump(lambda: counts()[1] >= 1, 10)
    report(p.returncode != 0 and counts() == (0, 1, 0),
           "a client without the required certificate: Failed=1 (Accepted, Refused 0)",
           (p.returncode, counts(), out[-300:]))

    # a client with a certificate is accepted and held ...
    held = s_client(port, a.pki, cert=True)
    acc = sig.wait(lpath, "Accepted", 20)
    report(acc is not None and counts() == (1, 1, 0), "a client with a certificate: Accepted=1",
           counts())
    # ... so the next one is over max_connections=1: closed at once, counted as refused
    p = s_client(port, a.pki, cert=True)
    out, _ = p.communicate(b"", timeout=30)
    pump(lambda: counts()[2] >= 1, 10)
    report(p.returncode != 0 and counts() == (1, 1, 1),
           "a client over the listener's max_connections=1: Refused=1 (not accepted, not failed)",
           (p.returncode, counts(), out[-300:]))
    held.stdin.close()
    held.kill()
    held.wait()
    iface(bus, lpath, LST).Close()
    iface(bus, ss, SESS).Destroy()
    bus.close()


# ---- policy over D-Bus ----

def policy(a):
    import dbus

    U = dbus.UInt32
    B = dbus.ByteArray
    T = dbus.Boolean
    bus = connect(a.address)
    sig = Signals(bus)
    mgr = iface(bus, "/org/tlsd1", "org.tlsd1.Manager")
    ca = slurp(os.path.join(a.pki, "ca.pem"))
    REFUSED = "org.tlsd1.Error.RefusedByPolicy"

    for role in (0, 1):
        name, msg = error_of(lambda: mgr.CreateSession(U(role), options(Compression=U(1))))
        report(name == REFUSED and "compression is refused" in msg,
               "CreateSession (role %u) Compression=1: RefusedByPolicy, 'compression is refused'"
               % role, (name, msg))
    s = mgr.CreateSession(U(0), options(CA=B(ca), Compression=U(0)))
    report(str(s).startswith("/org/tlsd1/session/"), "CreateSession Compression=0 is accepted")
    name, msg = error_of(lambda: iface(bus, s, SESS).Configure(options(Compression=U(1))))
    report(name == REFUSED and "compression is refused" in msg,
           "Session.Configure Compression=1: RefusedByPolicy", (name, msg))
    for vmin in (0x0301, 0x0302):
        name, msg = error_of(lambda: mgr.CreateSession(U(0), options(VersionMin=U(vmin))))
        report(name == REFUSED and "before 1.2 are refused" in msg,
               "CreateSession VersionMin=0x%04x: RefusedByPolicy, naming TLS < 1.2" % vmin,
               (name, msg))
    name, msg = error_of(lambda: mgr.CreateSession(
        U(0), options(CA=B(ca), Ciphers="ECDHE-ECDSA-AES128-SHA256")))
    report(name == REFUSED and "legacy opt-in" in msg,
           "CreateSession with a CBC suite, no Legacy: RefusedByPolicy, naming the opt-in",
           (name, msg))

    # Legacy=true: the CBC suite is negotiated with openssl s_server -tls1_2
    s2 = mgr.CreateSession(U(0), options(CA=B(ca), Legacy=T(True),
                                         Ciphers="ECDHE-ECDSA-AES128-SHA256"))
    c = iface(bus, s2, SESS).CreateConnection(U(socket.AF_INET))
    iface(bus, c, CONN).Connect("localhost", U(a.legacy_port), "")
    done = sig.wait(c, "HandshakeDone")
    report(done is not None and prop(bus, c, CONN, "Cipher") ==
           "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256" and prop(bus, c, CONN, "Version") ==
           "TLSv1.2", "Legacy=true: TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256 with openssl s_server",
           sig.find(c, "HandshakeFailed") or (done and done[3]))
    iface(bus, c, CONN).Destroy()
    bus.close()


# ---- signals go to the owner only ----

def signal_owner(a):
    """Runs a connection's life (HandshakeDone, PropertiesChanged, DataReady, Disconnected) and
    prints how many of its signals reached us, the owner."""
    import dbus

    U = dbus.UInt32
    bus = connect(a.address)
    sig = Signals(bus)
    props = []
    bus.add_signal_receiver(lambda *x, **k: props.append(k.get("path")),
                            dbus_interface="org.freedesktop.DBus.Properties",
                            signal_name="PropertiesChanged", bus_name="org.tlsd1",
                            path_keyword="path")
    mgr = iface(bus, "/org/tlsd1", "org.tlsd1.Manager")
    s = mgr.CreateSession(U(0), options(CA=dbus.ByteArray(slurp(os.path.join(a.pki,
                                                                               "ca.pem")))))
    c = iface(bus, s, SESS).CreateConnection(U(socket.AF_INET))
    conn = iface(bus, c, CONN)
    conn.Connect("localhost", U(a.rev_port), "")
    ok = report(sig.wait(c, "HandshakeDone") is not None,
                "uid %u: its connection's HandshakeDone signal reaches it" % os.getuid())
    if ok:
        conn.Send(dbus.ByteArray(b"owner\n"))
        report(sig.wait(c, "DataReady") is not None,
               "uid %u: the DataReady signal reaches it" % os.getuid())
        got, _ = receive(conn)
        conn.Disconnect()
        report(sig.wait(c, "Disconnected") is not None,
               "uid %u: the Disconnected signal reaches it" % os.getuid())
    pump(lambda: c in props, 5)
    report(c in props, "uid %u: PropertiesChanged of its connection reaches it" % os.getuid())
    print("owner-signals %u connection %s" % (len(sig.got) + len(props), c), flush=True)
    iface(bus, s, SESS).Destroy()
    bus.close()


def signal_watch(a):
    """Listens to every signal from org.tlsd1 (and every PropertiesChanged) until a line
    "check" arrives on stdin; then none of another uid's must have reached us."""
    import dbus

    U = dbus.UInt32
    bus = connect(a.address)
    seen = []
    bus.add_signal_receiver(lambda *x, **k: seen.append((str(k.get("path")), k.get("member"))),
                            sender_keyword="sender", path_keyword="path",
                            member_keyword="member")
    mgr = iface(bus, "/org/tlsd1", "org.tlsd1.Manager")
    # a round trip through the bus: our match rules are in place from here on
    bus.get_name_owner("org.tlsd1")
    print("ready", flush=True)

    line = ""
    while not line.startswith("check"):
        r, _, _ = select.select([sys.stdin], [], [], 0.05)
        if r:
            line = sys.stdin.readline()
            if not line:
                break
        drain()
    owner_path = line.split()[1] if len(line.split()) > 1 else None
    # a round trip through tlsd: every signal tlsd sent before its reply has been routed
    mgr.Ping(dbus.ByteArray(b""))
    drain()
    tlsd_signals = [s for s in seen if s[0].startswith("/org/tlsd1")]
    report(tlsd_signals == [],
           "uid %u listening to every signal saw none of another uid's connection (%s)" %
           (os.getuid(), owner_path), tlsd_signals)

    # the match rule works: our own connection's signals do reach us
    s = mgr.CreateSession(U(0), options(CA=dbus.ByteArray(slurp(os.path.join(a.pki,
                                                                               "ca.pem")))))
    c = iface(bus, s, SESS).CreateConnection(U(socket.AF_INET))
    iface(bus, c, CONN).Connect("localhost", U(a.rev_port), "")
    pump(lambda: (c, "HandshakeDone") in seen or (c, "HandshakeFailed") in seen, 20)
    report((c, "HandshakeDone") in seen,
           "uid %u: the same match rule gets its own connection's HandshakeDone" % os.getuid(),
           seen)
    iface(bus, s, SESS).Destroy()
    bus.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode")
    p.add_argument("--address")
    p.add_argument("--pki")
    p.add_argument("--legacy-port", type=int)
    p.add_argument("--rev-port", type=int)
    a = p.parse_args()
    import dbus

    modes = {"dtls-tickets": dtls_tickets, "listener-counts": listener_counts, "policy": policy,
             "signal-owner": signal_owner, "signal-watch": signal_watch}
    try:
        modes[a.mode](a)
    except dbus.exceptions.DBusException as e:
        report(False, "%s: unexpected D-Bus error" % a.mode, "%s: %s" % (
            e.get_dbus_name(), e.get_dbus_message()))
    except Exception as e:  # a failed step must not hide the others' report
        import traceback

        traceback.print_exc()
        report(False, "%s: unexpected %s" % (a.mode, type(e).__name__), e)
    return 1 if dbuskit.failures else 0


if __name__ == "__main__":
    sys.exit(main())
