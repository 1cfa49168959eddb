#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""D-Bus client for tests/test-dbus.sh: drives tlsd's org.tlsd1 API over one bus connection.

Run with Debian's /usr/bin/python3 (python3-dbus, python3-gi). Prints one "PASS: ..." or
"FAIL: ..." line per check (test-dbus.sh counts them), and exits 1 if any failed.

Modes:
  suite      every operation as one client: Manager methods, client sessions (strict,
             app-decides), connections in stream and message mode, signals, Adopt, a server
             session with a listener and an openssl s_client, errors
  dtls       DTLS over D-Bus: a DTLS server session and listener and a DTLS client session
             and connection in this tlsd, one message per Send/Receive, the oversize-message
             error and signal, Connection IDs, the Timeout signal and Retry against a UDP port
             that never answers, the idle timeout, invalid DTLS options
  tickets    session tickets over D-Bus against an openssl s_server -tls1_3 -num_tickets 2:
             automatic resumption (the Resumed property), GetTicket, ConnectWithTicket,
             Manager.TicketStats, Resume=false; another uid (--other-uid, run through
             setpriv as mode ticket-intruder) gets NotFound for the ticket and sees no entries
  ticket-intruder  (run as another uid in group tlsd) tries --ticket, checks its TicketStats
  limits     oversize strings and byte arrays (CA, Certificate, Key, KeyPassword, ServerName,
             ALPN, Connect's host and SNI, Adopt's SNI) are refused with InvalidArgument naming
             the Unix protocol's limit; tlsd goes on serving
  owner      (run as a uid in group tlsd) makes a session and a connection, prints their paths
             and "ready", then holds them until stdin is closed
  intruder   (run as another uid in group tlsd) tries to use the owner's objects
  outsider   (run as a uid outside group tlsd) is refused by the bus
  xml-merge FILE...       the org.tlsd1.* interfaces of introspection XML files, as one document
  xml-normalize FILE      interface, member names and signatures of the org.tlsd1.* interfaces
"""
import argparse
import os
import select
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True  # no __pycache__ left in the source tree by the import below
import dbuskit  # noqa: E402 (tests/, beside this file)
from dbuskit import SLOW, connect, error_of, iface, options, prop, report, slurp  # noqa: E402


# ---- introspection XML (no bus needed) ----

def tlsd_interfaces(path):
    root = ET.parse(path).getroot()
    return [i for i in root.findall("interface") if i.get("name", "").startswith("org.tlsd1.")]


def xml_merge(files):
    seen = {}
    for f in files:
        for i in tlsd_interfaces(f):
            seen.setdefault(i.get("name"), i)
    node = ET.Element("node")
    node.text = "\n "
    for n, name in enumerate(seen):  # in the order of the files: Manager, Session, ...
        i = seen[name]
        node.append(i)
        i.tail = "\n" if n == len(seen) - 1 else "\n "
    ET.indent(node, space=" ")
    body = ET.tostring(node, encoding="unicode")
    print('<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"\n'
          '"https://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">\n'
          "<!-- SPDX-License-Identifier: LGPL-2.1-or-later -->\n"
          "<!--\n"
          "  The org.tlsd1 D-Bus API: org.tlsd1.Manager (/org/tlsd1), org.tlsd1.Session\n"
          "  (/org/tlsd1/session/N), org.tlsd1.Connection (/org/tlsd1/connection/N) and\n"
          "  org.tlsd1.Listener (/org/tlsd1/listener/N).\n"
          "  Generated from a live tlsd, not written by hand: `busctl introspect org.tlsd1 PATH`\n"
          "  with the option xml-interface, on /org/tlsd1 and on a live session, connection and\n"
          "  listener; the org.tlsd1.* interfaces kept and merged by `tests/dbus-client.py\n"
          "  xml-merge`.\n"
          "  tests/test-dbus.sh checks that the daemon still matches it; to regenerate, run it as\n"
          "  root with TLSD_DBUS_WRITE_XML=dbus/org.tlsd1.xml.\n"
          "-->")
    print(body)


def xml_normalize(path):
    lines = []
    for i in tlsd_interfaces(path):
        name = i.get("name")
        lines.append("interface %s" % name)
        for m in i.findall("method"):
            args = m.findall("arg")
            sig_in = "".join(a.get("type") for a in args if a.get("direction", "in") == "in")
            sig_out = "".join(a.get("type") for a in args if a.get("direction") == "out")
            lines.append("%s method %s(%s) -> (%s)" % (name, m.get("name"), sig_in, sig_out))
        for p in i.findall("property"):
            lines.append("%s property %s %s %s" % (name, p.get("name"), p.get("type"),
                                                   p.get("access")))
        for s in i.findall("signal"):
            lines.append("%s signal %s(%s)" % (name, s.get("name"),
                                              "".join(a.get("type") for a in s.findall("arg"))))
    print("\n".join(sorted(lines)))


# ---- bus helpers ----

class Signals:
    """Every signal from tlsd addressed to us, in order."""

    def __init__(self, bus):
        self.got = []
        bus.add_signal_receiver(self.on_signal, sender_keyword="sender", path_keyword="path",
                                interface_keyword="iface", member_keyword="member",
                                byte_arrays=True)

    def on_signal(self, *args, sender=None, path=None, iface=None, member=None):
        self.got.append((str(path), str(iface), str(member), args))

    def find(self, path, member, iface=None):
        for s in self.got:
            if s[0] == path and s[2] == member and (iface is None or s[1] == iface):
                return s
        return None

    def wait(self, path, member, timeout=10, iface=None):
        """The first `member` signal on `path`, waiting up to timeout seconds."""
        found = []

        def check():
            s = self.find(path, member, iface)
            if s:
                found.append(s)
            return bool(s)

        pump(check, timeout)
        return found[0] if found else None

    def forget(self, path, member):
        self.got = [s for s in self.got if not (s[0] == path and s[2] == member)]


def pump(predicate, timeout):
    """Runs the GLib main loop until predicate() holds or timeout seconds (scaled by SLOW)
    passed."""
    return dbuskit.pump(predicate, timeout * SLOW)


def error_name(call):
    """The D-Bus error name call() fails with, or None when it succeeds."""
    return error_of(call)[0]


def expect_error(what, call, name):
    got = error_name(call)
    return report(got == name, "%s: %s" % (what, name), "got %s" % got)


def read_until(fd_or_sock, want, timeout=10):
    """Reads from a socket/pipe until `want` arrived or EOF/timeout; returns what was read."""
    got = b""
    deadline = time.monotonic() + timeout * SLOW
    fd = fd_or_sock if isinstance(fd_or_sock, int) else fd_or_sock.fileno()
    while want not in got:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        got += chunk
    return got


def tcp_established():
    """The established IPv4 TCP connections of this machine: ((local ip, port), (remote ip,
    port)) pairs, from /proc/net/tcp (both ends of a loopback connection are listed)."""
    def endpoint(hexaddr):
        ip, port = hexaddr.split(":")
        return (socket.inet_ntoa(int(ip, 16).to_bytes(4, "little")), int(port, 16))

    pairs = []
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[3] == "01":  # TCP_ESTABLISHED
                pairs.append((endpoint(fields[1]), endpoint(fields[2])))
    return pairs


def session_logged(log, path):
    """Whether tlsd's log has the debug line of session path's creation."""
    want = "session %s created by uid %u" % (str(path).rsplit("/", 1)[1], os.getuid())
    return want in slurp(log).decode(errors="replace")


# ---- suite ----

def suite(a):
    import dbus

    U = dbus.UInt32
    B = dbus.ByteArray
    bus = connect(a.address)
    sig = Signals(bus)
    mgr = iface(bus, "/org/tlsd1", "org.tlsd1.Manager")
    ca = slurp(os.path.join(a.pki, "ca.pem"))
    chain = slurp(os.path.join(a.pki, "server-ecdsa-chain.pem"))
    key = slurp(os.path.join(a.pki, "server-ecdsa.key"))
    CONN = "org.tlsd1.Connection"

    # -- Manager --
    v = mgr.GetVersion()
    report(len(v) == 3 and v[0] != "" and v[1] >= 1 and "wolfSSL" in v[2],
           "Manager.GetVersion: %s, protocol %u, %s" % tuple(v), v)
    payload = b"\x00ping\xff" * 10
    report(bytes(mgr.Ping(B(payload), byte_arrays=True)) == payload,
           "Manager.Ping echoes its payload")
    expect_error("Manager.Ping with 5000 bytes", lambda: mgr.Ping(B(b"x" * 5000)),
                 "org.tlsd1.Error.InvalidArgument")
    who = tuple(int(x) for x in mgr.WhoAmI())
    report(who == (os.getuid(), os.getgid(), os.getpid()),
           "Manager.WhoAmI: the caller's uid, gid and pid", "%s != %s" % (
               who, (os.getuid(), os.getgid(), os.getpid())))
    stats = mgr.Stats()
    report(set(stats) == {"HandshakesOk", "HandshakesFailed", "Clients", "Sessions",
                          "Connections", "Listeners"} and stats["Clients"] >= 1,
           "Manager.Stats: counters", dict(stats))
    # SetLogLevel: tlsd logs a session's creation at level debug, so whether that line appears
    # shows the level in force.
    mgr.SetLogLevel("info")
    quiet = mgr.CreateSession(U(0), options())
    mgr.SetLogLevel("debug")
    loud = mgr.CreateSession(U(0), options())
    if a.log is None:
        report(False, "Manager.SetLogLevel: no --log to see its effect in")
    else:
        report(not session_logged(a.log, quiet) and session_logged(a.log, loud) and
               b"log level set to info over D-Bus" in slurp(a.log),
               "Manager.SetLogLevel info, then debug (root): the debug line of a session's "
               "creation is logged only after the second",
               (session_logged(a.log, quiet), session_logged(a.log, loud)))
    iface(bus, quiet, "org.tlsd1.Session").Destroy()
    iface(bus, loud, "org.tlsd1.Session").Destroy()
    expect_error("Manager.SetLogLevel with an unknown level", lambda: mgr.SetLogLevel("loud"),
                 "org.tlsd1.Error.InvalidArgument")
    try:
        mgr.SetLogLevel("loud")
        msg = ""
    except Exception as e:  # dbus.exceptions.DBusException
        msg = e.get_dbus_message() if hasattr(e, "get_dbus_message") else str(e)
    report("debug, info, notice, warning, err, crit, alert, emerg" in msg,
           "Manager.SetLogLevel with an unknown level lists the valid ones", msg)

    # -- client session --
    s = mgr.CreateSession(U(0), options(CA=B(ca)))
    report(str(s).startswith("/org/tlsd1/session/"), "Manager.CreateSession (client, CA): " + s)
    sess = iface(bus, s, "org.tlsd1.Session")
    # TLS 1.2 only for the first connection (the peer speaks 1.3 too): its Version shows that
    # Configure took effect
    sess.Configure(options(HandshakeTimeout=U(10000), VersionMin=U(0x0303),
                           VersionMax=U(0x0303)))
    report(prop(bus, s, "org.tlsd1.Session", "Role") == "client" and
           prop(bus, s, "org.tlsd1.Session", "Owner") == os.getuid(),
           "Session properties Role=client, Owner=uid")
    report(s in mgr.ListSessions(), "Manager.ListSessions lists it")

    # -- connection in stream mode --
    c1 = sess.CreateConnection(U(socket.AF_INET))
    report(str(c1).startswith("/org/tlsd1/connection/"), "Session.CreateConnection: " + c1)
    conn1 = iface(bus, c1, CONN)
    # another loopback address than the one connect() would pick: the peer sees where it came from
    conn1.Bind("127.0.0.2", U(0))
    conn1.Connect("localhost", U(a.rev1), "")
    done = sig.wait(c1, "HandshakeDone")
    if report(done is not None, "Connection.Connect: HandshakeDone signal", sig.got):
        report(str(done[3][0]) == "TLSv1.2" and done[3][4] == "/CN=localhost",
               "HandshakeDone: %s %s, group %s, peer %s (Session.Configure VersionMax=TLS 1.2 "
               "took effect)" % tuple(done[3][:3] + (done[3][4],)), done[3])
        to_peer = [loc for loc, rem in tcp_established() if rem == ("127.0.0.1", a.rev1)]
        report([loc for loc in to_peer if loc[0] == "127.0.0.2"] and
               all(loc[0] == "127.0.0.2" for loc in to_peer),
               "Connection.Bind 127.0.0.2:0: the connection to the peer comes from %s" % to_peer,
               to_peer)
    report(prop(bus, c1, CONN, "State") == "operating" and
           prop(bus, c1, CONN, "Verification") == "ok" and
           prop(bus, c1, CONN, "Session") == s and
           prop(bus, c1, CONN, "PeerSubject") == "/CN=localhost",
           "Connection properties State=operating, Verification=ok, Session, PeerSubject")
    inv = sig.wait(c1, "PropertiesChanged", 5, "org.freedesktop.DBus.Properties")
    report(inv is not None and "State" in inv[3][2],
           "PropertiesChanged (State invalidated) sent to the owner", sig.got)
    report(prop(bus, s, "org.tlsd1.Session", "Connections") == 1,
           "Session property Connections=1")
    report(c1 in mgr.ListConnections(), "Manager.ListConnections lists it")
    fd = conn1.OpenStream().take()
    stream = socket.socket(fileno=fd)
    stream.sendall(b"hello stream\n")
    got = read_until(stream, b"\n")
    report(got == b"maerts olleh\n", "Connection.OpenStream: the fd carries the line both ways",
           got)
    expect_error("Connection.OpenStream a second time", conn1.OpenStream,
                 "org.tlsd1.Error.InvalidState")
    conn1.Disconnect()
    dis = sig.wait(c1, "Disconnected")
    report(dis is not None and dis[3][0] == "local",
           "Connection.Disconnect: Disconnected signal (reason local)", dis)
    report(prop(bus, c1, CONN, "State") == "closed", "after Disconnect: State=closed")
    report(read_until(stream, b"\n", 5) == b"", "after Disconnect: the stream reads EOF")
    stream.close()
    conn1.Destroy()
    expect_error("Connection.Destroy: its properties are gone",
                 lambda: prop(bus, c1, CONN, "State"), "org.tlsd1.Error.NotFound")

    # -- a failed Connect leaves its error in LastError/LastErrorName (issue 15) --
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    cf = sess.CreateConnection(U(0))
    connf = iface(bus, cf, CONN)
    report(prop(bus, cf, CONN, "LastError") == "" and prop(bus, cf, CONN, "LastErrorName") == "",
           "LastError and LastErrorName are empty before anything failed")
    connf.Connect("127.0.0.1", U(closed_port), "")
    failed = sig.wait(cf, "HandshakeFailed")
    report(failed is not None and failed[3][0] == "ConnectFailed",
           "Connect to a closed port: HandshakeFailed ConnectFailed", sig.got)
    last = prop(bus, cf, CONN, "LastError")
    report("Connection refused" in last and prop(bus, cf, CONN, "LastErrorName") == "ConnectFailed",
           "after the failed Connect: LastError '%s', LastErrorName ConnectFailed" % last, last)
    inv = sig.wait(cf, "PropertiesChanged", 5, "org.freedesktop.DBus.Properties")
    report(inv is not None and "LastError" in inv[3][2] and "LastErrorName" in inv[3][2],
           "PropertiesChanged invalidates LastError and LastErrorName", sig.got)
    connf.Destroy()

    # -- connection in message mode: Send, DataReady, Receive --
    sess.Configure(options(VersionMax=U(0x0304)))
    c2 = sess.CreateConnection(U(0))
    conn2 = iface(bus, c2, CONN)
    conn2.Connect("127.0.0.1", U(a.rev2), "")
    report(sig.wait(c2, "HandshakeDone") is not None, "Connect by IP: HandshakeDone")
    report(prop(bus, c2, CONN, "Version") == "TLSv1.3",
           "Session.Configure VersionMax=TLS 1.3 again: the next connection is TLSv1.3",
           prop(bus, c2, CONN, "Version"))
    n = conn2.Send(B(b"message mode\n"))
    report(n == 13, "Connection.Send writes 13 bytes", n)
    data, eof = b"", False
    for _ in range(20):
        if sig.wait(c2, "DataReady", 5) is None:
            break
        sig.forget(c2, "DataReady")
        chunk, eof = conn2.Receive(U(4096), byte_arrays=True)
        data += bytes(chunk)
        if b"\n" in data or eof:
            break
    report(data == b"edom egassem\n" and not eof,
           "DataReady signal, then Connection.Receive returns the reversed line", (data, eof))
    report(prop(bus, c2, CONN, "BytesOut") >= 13 and prop(bus, c2, CONN, "BytesIn") >= 13,
           "Connection properties BytesIn, BytesOut count the line")
    # the clean end of what Send wrote: close_notify, which s_server answers with its own
    conn2.Shutdown()
    dis = sig.wait(c2, "Disconnected")
    report(dis is not None and dis[3][0] == "close_notify",
           "Connection.Shutdown in message mode: the peer answers our close_notify, "
           "Disconnected (close_notify)", dis)
    chunk, eof = conn2.Receive(U(4096), byte_arrays=True)
    report(bytes(chunk) == b"" and bool(eof), "Connection.Receive after Shutdown: eof",
           (chunk, eof))
    conn2.Destroy()

    # -- app decides: CertificateIndication, CertificateResponse --
    s2 = mgr.CreateSession(U(0), options(CA=B(ca), VerifyMode=U(1)))
    c3 = iface(bus, s2, "org.tlsd1.Session").CreateConnection(U(0))
    conn3 = iface(bus, c3, CONN)
    conn3.Connect("localhost", U(a.selfsigned), "")
    ind = sig.wait(c3, "CertificateIndication")
    if report(ind is not None and ind[3][0] == "self-signed" and
              b"BEGIN CERTIFICATE" in bytes(ind[3][1]),
              "app-decides: CertificateIndication (self-signed, with the chain as PEM)", ind):
        report(prop(bus, c3, CONN, "State") == "cert-pending", "app-decides: State=cert-pending")
        conn3.CertificateResponse(True)
        report(sig.wait(c3, "HandshakeDone") is not None,
               "Connection.CertificateResponse(true): HandshakeDone")
    conn3.Disconnect()

    # -- a failed handshake --
    c4 = sess.CreateConnection(U(0))
    iface(bus, c4, CONN).Connect("localhost", U(a.wronghost), "")
    fail = sig.wait(c4, "HandshakeFailed")
    report(fail is not None and fail[3][3] == "hostname-mismatch",
           "wrong host: HandshakeFailed signal (%s: %s, verification %s)" % (
               (fail[3][0], fail[3][1], fail[3][3]) if fail else ("-", "-", "-")), fail)

    # -- Adopt: a TCP socket the client connected --
    tcp = socket.create_connection(("127.0.0.1", a.rev3))
    c5 = sess.Adopt(dbus.types.UnixFd(tcp), "localhost", "")
    tcp.close()
    report(sig.wait(c5, "HandshakeDone") is not None, "Session.Adopt(h): HandshakeDone")
    fd = iface(bus, c5, CONN).OpenStream().take()
    with socket.socket(fileno=fd) as st:
        st.sendall(b"adopted\n")
        got = read_until(st, b"\n")
    report(got == b"detpoda\n", "Adopt: the stream carries the line both ways", got)
    iface(bus, c5, CONN).Disconnect()

    # -- server role: Listen, Accepted, OpenStream of the accepted connection --
    s3 = mgr.CreateSession(U(1), options(Certificate=B(chain), Key=B(key)))
    srv = iface(bus, s3, "org.tlsd1.Session")
    report(prop(bus, s3, "org.tlsd1.Session", "Role") == "server",
           "Manager.CreateSession (server, Certificate, Key): Role=server")
    lpath, port = srv.Listen("127.0.0.1", U(0), U(0), U(0))
    report(str(lpath).startswith("/org/tlsd1/listener/") and port > 0,
           "Session.Listen 127.0.0.1:0: %s on port %u" % (lpath, port))
    LST = "org.tlsd1.Listener"
    report(prop(bus, lpath, LST, "Address") == "127.0.0.1" and
           prop(bus, lpath, LST, "Port") == port,
           "Listener properties Address, Port")
    client = subprocess.Popen(
        ["openssl", "s_client", "-connect", "127.0.0.1:%u" % port, "-servername", "localhost",
         "-CAfile", os.path.join(a.pki, "ca.pem"), "-verify_return_error", "-quiet"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        acc = sig.wait(lpath, "Accepted")
        if report(acc is not None and acc[3][1] == "127.0.0.1" and acc[3][3] == "localhost",
                  "openssl s_client connects: Accepted signal on the listener (%s from %s:%s, "
                  "SNI %s, %s)" % ((acc[3][0], acc[3][1], acc[3][2], acc[3][3], acc[3][4])
                                   if acc else ("-",) * 5), acc):
            fd = iface(bus, acc[3][0], CONN).OpenStream().take()
            with socket.socket(fileno=fd) as st:
                client.stdin.write(b"from s_client\n")
                client.stdin.flush()
                got = read_until(st, b"\n")
                st.sendall(b"from tlsd\n")
                back = read_until(client.stdout, b"\n")
            report(got == b"from s_client\n" and back == b"from tlsd\n",
                   "accepted connection: OpenStream carries data both ways", (got, back))
            report(prop(bus, lpath, LST, "Accepted") == 1, "Listener property Accepted=1")
    finally:
        client.kill()
        client.wait()
    # A client that sends no TLS: HandshakeFailed on the listener, naming it and the reason.
    with socket.create_connection(("127.0.0.1", int(port))) as bad:
        bad_port = bad.getsockname()[1]
        bad.sendall(b"GET / HTTP/1.0\r\n\r\n")
        hf = sig.wait(lpath, "HandshakeFailed", iface=LST)
    report(hf is not None and hf[3][0] == "127.0.0.1" and hf[3][1] == bad_port and
           hf[3][2] == "HandshakeFailed" and len(hf[3][3]) > 0 and hf[3][6] == 0,
           "a client that sends no TLS: Listener.HandshakeFailed (%s port %s: %s: %s)" %
           ((hf[3][0], hf[3][1], hf[3][2], hf[3][3]) if hf else ("-",) * 4), hf)
    report(prop(bus, lpath, LST, "Failed") == 1, "Listener property Failed=1")
    iface(bus, lpath, LST).Close()
    expect_error("Listener.Close: the listener is gone", lambda: iface(bus, lpath, LST).Close(),
                 "org.tlsd1.Error.NotFound")
    probe = socket.socket()
    report(probe.connect_ex(("127.0.0.1", port)) != 0, "Listener.Close: the port is closed")
    probe.close()

    # -- errors --
    expect_error("a method on a connection that does not exist",
                 iface(bus, "/org/tlsd1/connection/987654321", CONN).Disconnect,
                 "org.tlsd1.Error.NotFound")
    expect_error("a method on a session that does not exist",
                 lambda: iface(bus, "/org/tlsd1/session/987654321",
                               "org.tlsd1.Session").CreateConnection(U(0)),
                 "org.tlsd1.Error.NotFound")
    expect_error("CreateSession with Ciphers=RC4-SHA",
                 lambda: mgr.CreateSession(U(0), options(Ciphers="RC4-SHA")),
                 "org.tlsd1.Error.RefusedByPolicy")
    expect_error("CreateSession with an unknown option",
                 lambda: mgr.CreateSession(U(0), options(NoSuchOption=U(1))),
                 "org.tlsd1.Error.InvalidArgument")
    expect_error("Session.Configure with Persistent (CreateSession only)",
                 lambda: sess.Configure(options(Persistent=dbus.Boolean(True))),
                 "org.tlsd1.Error.InvalidArgument")
    expect_error("Connection.Send before a handshake",
                 lambda: iface(bus, sess.CreateConnection(U(0)), CONN).Send(B(b"x")),
                 "org.tlsd1.Error.InvalidState")
    expect_error("Connection.Shutdown before a handshake",
                 lambda: iface(bus, sess.CreateConnection(U(0)), CONN).Shutdown(),
                 "org.tlsd1.Error.InvalidState")

    stats = mgr.Stats()
    report(stats["HandshakesOk"] >= 5 and stats["HandshakesFailed"] >= 1,
           "Manager.Stats counts the handshakes", dict(stats))

    # -- Destroy --
    sess.Destroy()
    report(s not in mgr.ListSessions() and c4 not in mgr.ListConnections(),
           "Session.Destroy: the session and its connections are gone")
    # s2 and s3 are left to go with this bus connection; test-dbus.sh checks that.
    print("leftover %s %s" % (s2, s3), flush=True)
    bus.close()


# ---- DTLS ----

def receive_message(conn, timeout=10, max_size=4096):
    """One Receive that returned something (a message, or eof), polling until timeout."""
    import dbus

    deadline = time.monotonic() + timeout * SLOW
    while True:
        data, eof = conn.Receive(dbus.UInt32(max_size), byte_arrays=True)
        if len(data) or eof or time.monotonic() >= deadline:
            return bytes(data), bool(eof)
        pump(lambda: False, 0.02)  # signals keep arriving meanwhile


def drain_udp(sock):
    """How many datagrams wait on sock (read and dropped)."""
    n = 0
    while True:
        try:
            sock.recv(65536, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return n
        n += 1


def dtls(a):
    import dbus

    U = dbus.UInt32
    B = dbus.ByteArray
    T = dbus.Boolean
    bus = connect(a.address)
    sig = Signals(bus)
    mgr = iface(bus, "/org/tlsd1", "org.tlsd1.Manager")
    ca = slurp(os.path.join(a.pki, "ca.pem"))
    chain = slurp(os.path.join(a.pki, "server-ecdsa-chain.pem"))
    key = slurp(os.path.join(a.pki, "server-ecdsa.key"))
    CONN = "org.tlsd1.Connection"
    SESS = "org.tlsd1.Session"
    INVALID = "org.tlsd1.Error.InvalidArgument"
    sessions = []

    def session(role, **kw):
        path = mgr.CreateSession(U(role), options(Transport=U(1), **kw))
        sessions.append(path)
        return path, iface(bus, path, SESS)

    # -- a DTLS server session and its listener (one UDP socket) --
    ss, srv = session(1, Certificate=B(chain), Key=B(key))
    report(prop(bus, ss, SESS, "Transport") == "dtls" and prop(bus, ss, SESS, "Role") == "server",
           "CreateSession (server, Transport=1): Session property Transport=dtls")
    lpath, port = srv.Listen("127.0.0.1", U(0), U(0), U(0))
    report(port > 0, "DTLS Session.Listen 127.0.0.1:0: %s on UDP port %u" % (lpath, port))

    # -- a DTLS client session and connection in the same tlsd --
    cs, cli = session(0, CA=B(ca), DtlsTimeoutInitial=U(200), IdleTimeout=U(60000))
    c = cli.CreateConnection(U(socket.AF_INET))
    conn = iface(bus, c, CONN)
    report(prop(bus, c, CONN, "Transport") == "dtls" and prop(bus, c, CONN, "MaxMessage") == 0,
           "DTLS connection before the handshake: Transport=dtls, MaxMessage=0")
    conn.Connect("localhost", U(port), "")
    done = sig.wait(c, "HandshakeDone")
    acc = sig.wait(lpath, "Accepted")
    if not report(done is not None and acc is not None,
                  "DTLS Connect to the DTLS listener: HandshakeDone on the client, Accepted on "
                  "the listener (%s)" % (done[3][0] if done else "-"), sig.got):
        return
    sc = str(acc[3][0])
    sconn = iface(bus, sc, CONN)
    cmax = int(prop(bus, c, CONN, "MaxMessage"))
    smax = int(prop(bus, sc, CONN, "MaxMessage"))
    version = str(prop(bus, c, CONN, "Version"))
    report(version.startswith("DTLS") and prop(bus, sc, CONN, "Version") == version,
           "DTLS connection properties: Version=%s on both ends" % version)
    report(prop(bus, c, CONN, "Transport") == "dtls" and prop(bus, sc, CONN, "Transport") == "dtls"
           and 0 < cmax <= 16384 and 0 < smax <= 16384,
           "DTLS connection properties: Transport=dtls, MaxMessage=%u (client), %u (server)" %
           (cmax, smax))
    report(not prop(bus, c, CONN, "CidInUse") and not prop(bus, sc, CONN, "CidInUse"),
           "DTLS connection property CidInUse=false without DtlsCid")
    report(acc[3][1] == "127.0.0.1" and acc[3][3] == "localhost",
           "DTLS Accepted signal: peer 127.0.0.1 port %s, SNI %s" % (acc[3][2], acc[3][3]))

    # -- Send is one message, Receive returns one message --
    msgs = [b"one\n", b"two, a little longer\n", b"three\n"]
    sent = [int(conn.Send(B(m))) for m in msgs]
    report(sent == [len(m) for m in msgs], "DTLS Send: each call is one message (%s)" % sent)
    got = [receive_message(sconn) for _ in msgs]
    report(sorted(g[0] for g in got) == sorted(msgs) and not any(g[1] for g in got),
           "DTLS Receive: one whole message per call, no concatenation", got)
    n = int(sconn.Send(B(b"reply")))
    report(n == 5 and receive_message(conn) == (b"reply", False),
           "DTLS Send on the accepted connection, Receive on the client")
    # a message larger than Receive's max stays queued, whole
    sig.forget(c, "DataReady")
    sconn.Send(B(b"x" * 100))
    report(sig.wait(c, "DataReady") is not None, "DTLS: DataReady on the client for the 100-byte "
           "message", sig.got)
    expect_error("DTLS Receive with max below the next message's size",
                 lambda: conn.Receive(U(10), byte_arrays=True), INVALID)
    data, eof = receive_message(conn, max_size=100)
    report(data == b"x" * 100 and not eof,
           "DTLS Receive after that: the 100-byte message, whole", (len(data), eof))
    # the record limit: MaxMessage bytes go, MaxMessage + 1 are refused, never cut
    n = int(conn.Send(B(b"m" * cmax)))
    data, _ = receive_message(sconn, max_size=65536)
    report(n == cmax and data == b"m" * cmax,
           "DTLS Send of MaxMessage (%u) bytes arrives as one message" % cmax, (n, len(data)))
    expect_error("DTLS Send of MaxMessage + 1 bytes: an error reply, nothing sent",
                 lambda: conn.Send(B(b"m" * (cmax + 1))), INVALID)
    report(sig.find(c, "MessageTooLarge") is None,
           "DTLS Send of MaxMessage + 1 bytes: no MessageTooLarge signal (the reply said it)")
    expect_error("Connection.Retry on an established connection (no Timeout pending)",
                 conn.Retry, "org.tlsd1.Error.InvalidState")

    # -- the fd from OpenStream: SOCK_SEQPACKET, oversize writes dropped with a signal --
    fd = conn.OpenStream().take()
    with socket.socket(fileno=fd) as st:
        report(st.type == socket.SOCK_SEQPACKET, "DTLS OpenStream: the fd is SOCK_SEQPACKET",
               st.type)
        st.send(b"b" * (cmax + 1))
        big = sig.wait(c, "MessageTooLarge")
        report(big is not None and int(big[3][0]) == cmax + 1 and int(big[3][1]) == cmax,
               "DTLS: a message over MaxMessage written to the stream: MessageTooLarge signal "
               "(size %s, max %s)" % ((big[3][0], big[3][1]) if big else ("-", "-")), sig.got)
        st.send(b"after the big one\n")
        got = receive_message(sconn)
        report(got == (b"after the big one\n", False),
               "DTLS: the oversize message was dropped, never cut; the next one arrives", got)
        sconn.Send(B(b"to the stream"))
        st.settimeout(10)
        report(st.recv(65536) == b"to the stream", "DTLS: the stream reads one message")
        st.shutdown(socket.SHUT_WR)  # close_notify
        got = receive_message(sconn)
        report(got == (b"", True), "DTLS: shutdown of the stream: the server side reads eof", got)
    sconn.Disconnect()
    dis = sig.wait(sc, "Disconnected")
    report(dis is not None, "DTLS server Disconnect: Disconnected (%s)" % (dis[3][0] if dis
                                                                           else "-"), sig.got)
    conn.Destroy()

    # -- Connection ID (DTLS 1.3) --
    ss2, srv2 = session(1, Certificate=B(chain), Key=B(key), DtlsCid=T(True))
    l2, port2 = srv2.Listen("127.0.0.1", U(0), U(0), U(0))
    cs2, cli2 = session(0, CA=B(ca), DtlsCid=T(True), VersionMin=U(0xfefc),
                        VersionMax=U(0xfefc), Mtu=U(1200))
    c2 = cli2.CreateConnection(U(socket.AF_INET))
    iface(bus, c2, CONN).Connect("localhost", U(port2), "")
    acc2 = sig.wait(l2, "Accepted")
    if report(sig.wait(c2, "HandshakeDone") is not None and acc2 is not None,
              "DTLS 1.3 with DtlsCid on both ends: HandshakeDone, Accepted", sig.got):
        report(prop(bus, c2, CONN, "CidInUse") and prop(bus, c2, CONN, "Version") == "DTLSv1.3",
               "DTLS 1.3 with DtlsCid: CidInUse=true on the client")
        report(bool(prop(bus, acc2[3][0], CONN, "CidInUse")),
               "DTLS 1.3 with DtlsCid: CidInUse=true on the accepted connection")
        m2 = int(prop(bus, c2, CONN, "MaxMessage"))
        report(0 < m2 < cmax, "Mtu=1200: a smaller MaxMessage (%u < %u)" % (m2, cmax))
        c2conn = iface(bus, c2, CONN)
        c2conn.Send(B(b"with a cid"))
        report(receive_message(iface(bus, acc2[3][0], CONN)) == (b"with a cid", False),
               "DTLS 1.3 with a Connection ID carries a message")
        c2conn.Disconnect()

    # -- the idle timeout --
    cs3, cli3 = session(0, CA=B(ca), IdleTimeout=U(300))
    c3 = cli3.CreateConnection(U(socket.AF_INET))
    iface(bus, c3, CONN).Connect("localhost", U(port), "")
    if report(sig.wait(c3, "HandshakeDone") is not None, "IdleTimeout=300: HandshakeDone"):
        dis = sig.wait(c3, "Disconnected", 5)
        report(dis is not None and dis[3][0] == "timeout",
               "IdleTimeout=300: a silent connection ends with Disconnected (timeout)", dis)

    # -- Timeout and Retry: a UDP port that never answers --
    # DTLS 1.2 here (test-dtls covers the 1.3 schedule; stock wolfSSL 5.7.2 would send DTLS 1.3
    # retransmissions at most once a second, which scripts/setup's build removes).
    mute = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    mute.bind(("127.0.0.1", 0))
    cs4, cli4 = session(0, CA=B(ca), VersionMax=U(0xfefd), DtlsTimeoutInitial=U(100),
                        DtlsTimeoutMax=U(200), DtlsRetries=U(2))
    c4 = cli4.CreateConnection(U(socket.AF_INET))
    conn4 = iface(bus, c4, CONN)
    t0 = time.monotonic()
    conn4.Connect("127.0.0.1", U(mute.getsockname()[1]), "")
    to = sig.wait(c4, "Timeout", 10)
    t1 = time.monotonic()
    n1 = drain_udp(mute)
    report(to is not None and int(to[3][0]) == 2 and str(to[3][1]) != "",
           "DtlsTimeoutInitial=100, DtlsTimeoutMax=200, DtlsRetries=2 against a silent port: "
           "Timeout signal (retries %s: %s)" % ((to[3][0], to[3][1]) if to else ("-", "-")),
           sig.got)
    report(n1 == 3, "Timeout: the first flight and 2 retransmissions reached the port "
           "(%u datagrams)" % n1)
    # 100 ms, then 200 ms twice (the maximum): the third expiry reports
    report(to is not None and 0.45 <= t1 - t0,
           "Timeout: not before the schedule, 100 + 200 + 200 ms, ran (%.3f s)" % (t1 - t0))
    report(prop(bus, c4, CONN, "State") == "handshake",
           "after Timeout the connection waits (State=handshake), nothing dropped")
    pump(lambda: False, 0.5)
    report(drain_udp(mute) == 0 and sig.find(c4, "HandshakeFailed") is None,
           "after Timeout: no more retransmissions, no HandshakeFailed until the app decides")
    sig.forget(c4, "Timeout")
    t0 = time.monotonic()
    conn4.Retry()  # its effect: the flight and the Timeout signal again, checked below
    expect_error("Connection.Retry while the schedule runs again", conn4.Retry,
                 "org.tlsd1.Error.InvalidState")
    to = sig.wait(c4, "Timeout", 10)
    t1 = time.monotonic()
    n2 = drain_udp(mute)
    report(to is not None and int(to[3][0]) == 2 and 0.45 <= t1 - t0 and n2 == 3,
           "after Retry: the flight again, 2 retransmissions, the Timeout signal again (retries "
           "%s after %.3f s, %u datagrams)" % (to[3][0] if to else "-", t1 - t0, n2), sig.got)
    conn4.Destroy()
    mute.close()

    # -- invalid DTLS options --
    expect_error("CreateSession DTLS with Mtu=10", lambda: mgr.CreateSession(
        U(0), options(Transport=U(1), Mtu=U(10))), INVALID)
    expect_error("CreateSession DTLS with DtlsRetries=0", lambda: mgr.CreateSession(
        U(0), options(Transport=U(1), DtlsRetries=U(0))), INVALID)
    expect_error("CreateSession DTLS with DtlsTimeoutMax below DtlsTimeoutInitial",
                 lambda: mgr.CreateSession(U(0), options(Transport=U(1),
                                                         DtlsTimeoutInitial=U(2000),
                                                         DtlsTimeoutMax=U(1000))), INVALID)
    expect_error("CreateSession TLS with DtlsCid", lambda: mgr.CreateSession(
        U(0), options(DtlsCid=T(True))), INVALID)
    expect_error("CreateSession TLS with Mtu", lambda: mgr.CreateSession(
        U(0), options(Transport=U(0), Mtu=U(1400))), INVALID)
    expect_error("CreateSession with Transport=2", lambda: mgr.CreateSession(
        U(0), options(Transport=U(2))), INVALID)
    expect_error("CreateSession with Transport of type b", lambda: mgr.CreateSession(
        U(0), options(Transport=T(True))), INVALID)
    expect_error("Session.Configure with Transport (CreateSession only)",
                 lambda: cli.Configure(options(Transport=U(1))), INVALID)
    expect_error("Session.Configure DTLS with DtlsRetries=65",
                 lambda: cli.Configure(options(DtlsRetries=U(65))), INVALID)
    cli.Configure(options(DtlsRetries=U(3), Mtu=U(1300), DtlsTimeoutMax=U(5000)))
    # the Mtu shows in the next connection's MaxMessage
    c6 = cli.CreateConnection(U(socket.AF_INET))
    iface(bus, c6, CONN).Connect("localhost", U(port), "")
    if report(sig.wait(c6, "HandshakeDone") is not None,
              "Session.Configure DTLS with DtlsRetries, Mtu=1300, DtlsTimeoutMax: HandshakeDone",
              sig.find(c6, "HandshakeFailed")):
        m6 = int(prop(bus, c6, CONN, "MaxMessage"))
        report(0 < m6 < 1300 and m6 < cmax,
               "Session.Configure Mtu=1300 took effect: MaxMessage %u (%u before)" % (m6, cmax))
    iface(bus, c6, CONN).Destroy()

    for path in sessions:
        iface(bus, path, SESS).Destroy()
    mine = {c, sc, c2, c3, c4} | ({str(acc2[3][0])} if acc2 else set())
    report(not set(sessions) & set(mgr.ListSessions()) and
           not mine & set(str(x) for x in mgr.ListConnections()),
           "the DTLS sessions, listeners and connections are gone after Destroy")
    bus.close()


# ---- session tickets ----

def echo_line(sig, conn, path, line, timeout=10):
    """Sends line to a -rev server in message mode, returns what came back up to the newline
    (reading it is what brings a TLS 1.3 server's tickets in)."""
    import dbus

    conn.Send(dbus.ByteArray(line))
    data = b""
    deadline = time.monotonic() + timeout * SLOW
    while b"\n" not in data and time.monotonic() < deadline:
        if sig.wait(path, "DataReady", max(0.1, (deadline - time.monotonic()) / SLOW)) is None:
            break
        sig.forget(path, "DataReady")
        chunk, eof = conn.Receive(dbus.UInt32(4096), byte_arrays=True)
        data += bytes(chunk)
        if eof:
            break
    return data


def wait_ticket(conn, timeout=5):
    """GetTicket, retried while it says NotFound (the ticket may trail the data a little)."""
    import dbus

    deadline = time.monotonic() + timeout * SLOW
    while True:
        try:
            return int(conn.GetTicket())
        except dbus.exceptions.DBusException as e:
            if e.get_dbus_name() != "org.tlsd1.Error.NotFound" or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def tickets(a):
    import dbus

    U = dbus.UInt32
    bus = connect(a.address)
    sig = Signals(bus)
    mgr = iface(bus, "/org/tlsd1", "org.tlsd1.Manager")
    ca = dbus.ByteArray(slurp(os.path.join(a.pki, "ca.pem")))
    CONN = "org.tlsd1.Connection"
    keys = {"Entries", "Stored", "Hits", "Misses", "Expired", "Evicted", "Rejected"}

    st0 = {str(k): int(v) for k, v in mgr.TicketStats().items()}
    report(set(st0) == keys, "Manager.TicketStats: counters %s" % sorted(st0), st0)

    s = mgr.CreateSession(U(0), options(CA=ca))
    sess = iface(bus, s, "org.tlsd1.Session")

    def connection(session, ticket=None):
        c = session.CreateConnection(U(0))
        conn = iface(bus, c, CONN)
        if ticket is None:
            conn.Connect("localhost", U(a.tls13), "")
        else:
            conn.ConnectWithTicket("localhost", U(a.tls13), "", dbus.UInt64(ticket))
        done = sig.wait(c, "HandshakeDone")
        if not report(done is not None, "tickets: %s: HandshakeDone" % c,
                      sig.find(c, "HandshakeFailed")):
            return c, conn, None
        got = echo_line(sig, conn, c, b"tickets\n")
        report(got == b"stekcit\n", "tickets: %s: data both ways" % c, got)
        return c, conn, bool(prop(bus, c, CONN, "Resumed"))

    c1, conn1, r1 = connection(sess)
    report(r1 is False, "tickets: the first connection makes a full handshake (Resumed=false)",
           r1)
    t1 = wait_ticket(conn1)
    report(t1 != 0, "Connection.GetTicket after data was read: ticket %u" % t1)
    st1 = {str(k): int(v) for k, v in mgr.TicketStats().items()}
    report(st1["Stored"] > st0["Stored"] and st1["Entries"] >= 1,
           "Manager.TicketStats: Stored and Entries count the ticket", (st0, st1))
    conn1.Destroy()

    c2, conn2, r2 = connection(sess)
    report(r2 is True, "tickets: the second connection resumes automatically (Resumed=true)", r2)
    t2 = wait_ticket(conn2)
    report(t2 != 0 and t2 != t1, "Connection.GetTicket on the resumed connection: ticket %u" % t2,
           (t1, t2))
    conn2.Destroy()

    if a.other_uid is not None:
        out = subprocess.run(
            ["setpriv", "--reuid=%d" % a.other_uid, "--regid=%d" % a.other_uid,
             "--groups=%d" % a.other_gid, sys.executable, os.path.abspath(__file__),
             "ticket-intruder", "--address=" + a.address, "--tls13=%d" % a.tls13,
             "--ticket=%d" % t2], capture_output=True, text=True, timeout=60 * SLOW)
        sys.stdout.write(out.stdout)
        sys.stdout.flush()
        report(out.returncode == 0, "tickets: ticket-intruder as uid %d" % a.other_uid,
               out.stderr)

    c3, conn3, r3 = connection(sess, t2)
    report(r3 is True, "Connection.ConnectWithTicket with GetTicket's id resumes", r3)
    conn3.Destroy()
    expect_error("Connection.ConnectWithTicket with a used TLS 1.3 ticket",
                 lambda: iface(bus, sess.CreateConnection(U(0)), CONN).ConnectWithTicket(
                     "localhost", U(a.tls13), "", dbus.UInt64(t2)), "org.tlsd1.Error.NotFound")
    st2 = {str(k): int(v) for k, v in mgr.TicketStats().items()}
    report(st2["Hits"] >= st1["Hits"] + 2 and st2["Stored"] >= st1["Stored"] + 2,
           "Manager.TicketStats: Hits and Stored grew with the resumptions", (st1, st2))

    # Resume=false: no ticket offered although the cache has one (a later connection of the
    # resuming session shows it was there).
    sn = mgr.CreateSession(U(0), options(CA=ca, Resume=dbus.Boolean(False)))
    c4, conn4, r4 = connection(iface(bus, sn, "org.tlsd1.Session"))
    report(r4 is False, "CreateSession Resume=false: no resumption", r4)
    expect_error("Resume=false: GetTicket keeps no ticket", conn4.GetTicket,
                 "org.tlsd1.Error.NotFound")
    conn4.Destroy()  # s_server serves one connection at a time
    c5, conn5, r5 = connection(sess)
    report(r5 is True, "tickets: the Resume=true session still resumes with the cached ticket",
           r5)
    conn5.Destroy()
    iface(bus, sn, "org.tlsd1.Session").Destroy()
    sess.Destroy()
    bus.close()


def ticket_intruder(a):
    import dbus

    bus = connect(a.address)
    mgr = iface(bus, "/org/tlsd1", "org.tlsd1.Manager")
    me = "uid %u" % os.getuid()
    st = {str(k): int(v) for k, v in mgr.TicketStats().items()}
    report(st.get("Entries") == 0 and st.get("Stored") == 0 and st.get("Hits") == 0,
           "%s: Manager.TicketStats shows its own (no) tickets, not root's" % me, st)
    s = mgr.CreateSession(dbus.UInt32(0), options(SystemTrust=dbus.Boolean(True)))
    c = iface(bus, s, "org.tlsd1.Session").CreateConnection(dbus.UInt32(0))
    expect_error("%s: Connection.ConnectWithTicket with root's ticket id" % me,
                 lambda: iface(bus, c, "org.tlsd1.Connection").ConnectWithTicket(
                     "localhost", dbus.UInt32(a.tls13), "", dbus.UInt64(a.ticket)),
                 "org.tlsd1.Error.NotFound")
    bus.close()


def limits(a):
    """Every string and byte-array option over D-Bus has the Unix protocol's size limit."""
    import dbus

    U = dbus.UInt32
    B = dbus.ByteArray
    bus = connect(a.address)
    mgr = iface(bus, "/org/tlsd1", "org.tlsd1.Manager")
    INVALID = "org.tlsd1.Error.InvalidArgument"

    def refused(what, call, limit):
        try:
            call()
        except dbus.exceptions.DBusException as e:
            ok = e.get_dbus_name() == INVALID and str(limit) in e.get_dbus_message()
            return report(ok, "%s: %s naming the limit (%s)" % (what, INVALID,
                                                                 e.get_dbus_message()),
                          "%s: %s" % (e.get_dbus_name(), e.get_dbus_message()))
        return report(False, "%s: refused" % what, "accepted")

    big_name = "a" * 70000  # over what the wire's u16 lengths (and DNS) can hold
    refused("CreateSession with a 65001-byte CA",
            lambda: mgr.CreateSession(U(0), options(CA=B(b"x" * 65001))), 65000)
    refused("CreateSession with a 70000-byte ServerName",
            lambda: mgr.CreateSession(U(0), options(ServerName=big_name)), 253)
    refused("CreateSession with a 2000-byte KeyPassword",
            lambda: mgr.CreateSession(U(0), options(KeyPassword="p" * 2000)), 1023)
    s = mgr.CreateSession(U(0), options(CA=B(slurp(os.path.join(a.pki, "ca.pem")))))
    session = iface(bus, s, "org.tlsd1.Session")
    refused("Session.Configure with a 70000-byte Certificate",
            lambda: session.Configure(options(Certificate=B(b"x" * 70000),
                                              Key=B(b"y" * 100))), 65000)
    refused("Session.Configure with a 20000-byte Key",
            lambda: session.Configure(options(Certificate=B(b"x" * 100),
                                              Key=B(b"y" * 20000))), 16384)
    refused("Session.Configure with a 5000-byte ALPN list",
            lambda: session.Configure(options(ALPN="h" * 5000)), 1023)
    c = session.CreateConnection(U(0))
    refused("Connection.Connect with a 70000-byte SNI",
            lambda: iface(bus, c, "org.tlsd1.Connection").Connect("localhost", U(1), big_name),
            253)
    c = session.CreateConnection(U(0))
    refused("Connection.Connect with a 300-byte host",
            lambda: iface(bus, c, "org.tlsd1.Connection").Connect("h" * 300, U(1), ""), 253)
    left, right = socket.socketpair()
    refused("Session.Adopt with a 70000-byte SNI",
            lambda: session.Adopt(dbus.types.UnixFd(left), "localhost", big_name), 253)
    left.close()
    right.close()
    payload = b"still serving"
    report(bytes(mgr.Ping(B(payload), byte_arrays=True)) == payload,
           "after the refusals tlsd still answers Manager.Ping")
    session.Destroy()
    bus.close()


# ---- other uids ----

def owner(a):
    import dbus

    bus = connect(a.address)
    mgr = iface(bus, "/org/tlsd1", "org.tlsd1.Manager")
    who = mgr.WhoAmI()
    report(int(who[0]) == os.getuid(), "uid %u in group tlsd: Manager.WhoAmI is allowed" %
           os.getuid(), who)
    s = mgr.CreateSession(dbus.UInt32(0), options(SystemTrust=dbus.Boolean(True)))
    c = iface(bus, s, "org.tlsd1.Session").CreateConnection(dbus.UInt32(0))
    report(s in mgr.ListSessions() and c in mgr.ListConnections() and
           prop(bus, s, "org.tlsd1.Session", "Owner") == os.getuid(),
           "uid %u: CreateSession, CreateConnection: listed, owned by the caller" % os.getuid())
    expect_error("uid %u: CreateSession with Persistent (root only)" % os.getuid(),
                 lambda: mgr.CreateSession(dbus.UInt32(0),
                                           options(Persistent=dbus.Boolean(True))),
                 "org.tlsd1.Error.PermissionDenied")
    expect_error("uid %u: SetLogLevel (root only)" % os.getuid(),
                 lambda: mgr.SetLogLevel("debug"), "org.tlsd1.Error.PermissionDenied")
    st = {str(k): int(v) for k, v in mgr.Stats().items()}
    report(st.get("Sessions") == 1 and st.get("Connections") == 1 and st.get("Clients") == 1
           and st.get("Listeners") == 0 and st.get("HandshakesOk") == 0,
           "uid %u: Manager.Stats counts its own objects only" % os.getuid(), st)
    print("session %s\nconnection %s\nready" % (s, c), flush=True)
    sys.stdin.read()  # hold the objects until test-dbus.sh closes our stdin


def intruder(a):
    import dbus

    bus = connect(a.address)
    mgr = iface(bus, "/org/tlsd1", "org.tlsd1.Manager")
    me = "uid %u" % os.getuid()
    report(a.session not in mgr.ListSessions() and a.connection not in mgr.ListConnections(),
           "%s: ListSessions and ListConnections do not show another uid's objects" % me)
    expect_error("%s: Session.Destroy on another uid's session" % me,
                 iface(bus, a.session, "org.tlsd1.Session").Destroy, "org.tlsd1.Error.NotFound")
    expect_error("%s: Session.CreateConnection on another uid's session" % me,
                 lambda: iface(bus, a.session, "org.tlsd1.Session").CreateConnection(
                     dbus.UInt32(0)),
                 "org.tlsd1.Error.NotFound")
    expect_error("%s: Connection.Connect on another uid's connection" % me,
                 lambda: iface(bus, a.connection, "org.tlsd1.Connection").Connect(
                     "localhost", dbus.UInt32(1), ""), "org.tlsd1.Error.NotFound")
    expect_error("%s: reading another uid's connection property" % me,
                 lambda: prop(bus, a.connection, "org.tlsd1.Connection", "State"),
                 "org.tlsd1.Error.NotFound")
    expect_error("%s: reading another uid's session property" % me,
                 lambda: prop(bus, a.session, "org.tlsd1.Session", "Owner"),
                 "org.tlsd1.Error.NotFound")
    objs = iface(bus, "/org/tlsd1", "org.freedesktop.DBus.ObjectManager").GetManagedObjects()
    report(a.session not in objs and a.connection not in objs,
           "%s: GetManagedObjects does not show another uid's objects" % me, list(objs))
    xml = iface(bus, "/org/tlsd1/session", "org.freedesktop.DBus.Introspectable").Introspect()
    report('name="%s"' % a.session.rsplit("/", 1)[1] not in xml,
           "%s: introspection does not list another uid's objects" % me, xml)
    st = {str(k): int(v) for k, v in mgr.Stats().items()}
    report(st.get("Sessions") == 0 and st.get("Connections") == 0 and st.get("Listeners") == 0
           and st.get("Clients") == 1 and st.get("HandshakesOk") == 0
           and st.get("HandshakesFailed") == 0,
           "%s: Manager.Stats shows its own uid's counters, not the other uid's or root's" % me,
           st)
    bus.close()


def outsider(a):
    import dbus

    bus = connect(a.address)
    me = "uid %u (not in group tlsd)" % os.getuid()
    expect_error("%s: Manager.GetVersion is denied by the bus" % me,
                 iface(bus, "/org/tlsd1", "org.tlsd1.Manager").GetVersion,
                 "org.freedesktop.DBus.Error.AccessDenied")
    expect_error("%s: Manager.CreateSession is denied by the bus" % me,
                 lambda: iface(bus, "/org/tlsd1", "org.tlsd1.Manager").CreateSession(
                     dbus.UInt32(0), options()), "org.freedesktop.DBus.Error.AccessDenied")
    expect_error("%s: reading properties is denied by the bus" % me,
                 lambda: prop(bus, a.connection, "org.tlsd1.Connection", "State"),
                 "org.freedesktop.DBus.Error.AccessDenied")
    xml = iface(bus, "/org/tlsd1", "org.freedesktop.DBus.Introspectable").Introspect()
    report("org.tlsd1.Manager" in xml, "%s: may introspect /org/tlsd1" % me)
    xml = iface(bus, "/org/tlsd1/session", "org.freedesktop.DBus.Introspectable").Introspect()
    report('name="%s"' % a.session.rsplit("/", 1)[1] not in xml,
           "%s: introspection lists no one's objects" % me, xml)
    bus.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode")
    p.add_argument("files", nargs="*")
    p.add_argument("--address")
    p.add_argument("--pki")
    p.add_argument("--log")
    for port in ("rev1", "rev2", "rev3", "selfsigned", "wronghost"):
        p.add_argument("--" + port, type=int)
    p.add_argument("--session")
    p.add_argument("--connection")
    p.add_argument("--tls13", type=int)
    p.add_argument("--ticket", type=int)
    p.add_argument("--other-uid", type=int)
    p.add_argument("--other-gid", type=int)
    a = p.parse_args()
    if a.mode == "xml-merge":
        xml_merge(a.files)
        return 0
    if a.mode == "xml-normalize":
        xml_normalize(a.files[0])
        return 0
    import dbus

    modes = {"suite": suite, "dtls": dtls, "tickets": tickets, "ticket-intruder": ticket_intruder,
             "limits": limits, "owner": owner, "intruder": intruder, "outsider": outsider}
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
