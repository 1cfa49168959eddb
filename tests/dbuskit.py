# SPDX-License-Identifier: LGPL-2.1-or-later
"""What the D-Bus clients of the tests (tests/dbus-client.py, tests/dbus-more.py) share: the
PASS/FAIL lines their shell script counts (tests/lib.sh's count_client), a bus connection whose
signals a GLib main loop delivers, a loop that runs it until a condition holds, and shorthands for
org.tlsd1's objects, properties, options and errors.

Needs Debian's python3-dbus and python3-gi; they are imported where used, so that the parts that
need no bus (dbus-client.py's xml-merge) run without them.
"""
import os
import time

# Waits are this many times longer with tlsd under valgrind (~50x slower; they are generous).
SLOW = 20 if "valgrind" in os.environ.get("TLSD_TEST_WRAPPER", "") else 1

# FAIL lines printed so far: the client exits 1 if there was one.
failures = 0


def report(ok, what, detail=""):
    """One "PASS: what" or "FAIL: what: detail" line; returns ok."""
    global failures
    if ok:
        print("PASS: " + what, flush=True)
    else:
        failures += 1
        print("FAIL: " + what + (": " + str(detail) if detail != "" else ""), flush=True)
    return ok


def connect(address):
    import dbus
    import dbus.mainloop.glib

    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    return dbus.bus.BusConnection(address)


def pump(predicate, timeout):
    """Runs the GLib main loop until predicate() holds (True) or timeout seconds passed
    (False)."""
    from gi.repository import GLib

    ctx = GLib.MainContext.default()
    deadline = time.monotonic() + timeout
    tick = GLib.timeout_add(20, lambda: True)  # wakes the loop up to look at the clock
    try:
        while not predicate():
            if time.monotonic() >= deadline:
                return False
            ctx.iteration(True)
        return True
    finally:
        GLib.source_remove(tick)


def iface(bus, path, name):
    import dbus

    return dbus.Interface(bus.get_object("org.tlsd1", path, introspect=False), name)


def prop(bus, path, interface, name):
    return iface(bus, path, "org.freedesktop.DBus.Properties").Get(interface, name)


def error_of(call):
    """(D-Bus error name, message) call() fails with, or (None, None) when it succeeds."""
    import dbus

    try:
        call()
    except dbus.exceptions.DBusException as e:
        return e.get_dbus_name(), e.get_dbus_message()
    return None, None


def options(**kw):
    import dbus

    return dbus.Dictionary(kw, signature="sv")


def slurp(path):
    with open(path, "rb") as f:
        return f.read()
