"""SIGHUP reloads configuration and zones all-or-nothing; SIGTERM/SIGINT
stop cleanly.  Answers must not stop while a reload happens."""

import os
import re
import signal
import threading
import time

import dns.exception
import dns.rcode
import dns.rdatatype
import pytest

from conftest import STANDARD_ZONES, copy_zone, wait_until

NET_SOA_SERIAL = 2024010103


def answer_values(msg, rdtype):
    return sorted(rd.to_text() for rrset in msg.answer
                  if rrset.rdtype == rdtype for rd in rrset)


def net_serial(srv):
    r = srv.query("example.net", "SOA")
    if r.rcode() != dns.rcode.NOERROR or not r.answer:
        return None
    return r.answer[0][0].serial


def rewrite(path, edit):
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(edit(text))


def bump_serial(text, serial):
    new, count = re.subn(r"\b%d\b" % NET_SOA_SERIAL, str(serial), text)
    assert count == 1
    return new


class QueryLoop:
    """Queries www.example.com A over UDP in a thread until stopped (at
    most `limit` seconds) and records every failed or wrong answer."""

    def __init__(self, srv, limit=20.0):
        self.srv, self.limit = srv, limit
        self.failures, self.count = [], 0
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        deadline = time.monotonic() + self.limit
        while not self.stop_event.is_set() and time.monotonic() < deadline:
            try:
                r = self.srv.query("www.example.com", "A", timeout=1.0)
                if r.rcode() != dns.rcode.NOERROR or len(r.answer) != 1:
                    self.failures.append("bad answer:\n%s" % r)
            except dns.exception.Timeout:
                self.failures.append("timeout at %.3f" % time.monotonic())
            except Exception as exc:     # noqa: BLE001
                self.failures.append("error %r" % exc)
            self.count += 1
            time.sleep(0.01)

    def __enter__(self):
        self.thread.start()
        time.sleep(0.2)
        return self

    def __exit__(self, *exc):
        time.sleep(0.2)
        self.stop_event.set()
        self.thread.join(self.limit + 5)


@pytest.fixture
def reloadable(make_geodnsd, tmp_path):
    """geodnsd serving tmp copies of the standard zones."""
    zdir = tmp_path / "zones"
    zdir.mkdir()
    zones = [(name, copy_zone(os.path.basename(path), zdir))
             for name, path in STANDARD_ZONES]
    return make_geodnsd(zones=zones)


def zone_path(srv, name):
    return dict(srv.zones)[name]


def test_reload_changed_zone(reloadable):
    srv = reloadable
    path = zone_path(srv, "example.net")
    assert srv.query("new.example.net", "A").rcode() == dns.rcode.NXDOMAIN
    rewrite(path, lambda t: bump_serial(t, NET_SOA_SERIAL + 1)
            + "new 3600 IN A 192.0.2.199\n")
    with QueryLoop(srv) as loop:
        srv.reload(lambda: answer_values(srv.query("new.example.net", "A"),
                                         dns.rdatatype.A) == ["192.0.2.199"])
    assert net_serial(srv) == NET_SOA_SERIAL + 1
    # The log says which serial went live, for the changed zone only.
    assert wait_until(lambda: "zone example.net.: serial %d -> %d, " % (
        NET_SOA_SERIAL, NET_SOA_SERIAL + 1) in srv.stderr, 3), srv.stderr
    assert "zone example.com.: serial" not in srv.stderr, srv.stderr
    assert not loop.failures, "answers stopped during reload (%d of %d):\n%s" \
        % (len(loop.failures), loop.count, "\n".join(loop.failures[:5]))
    assert loop.count > 5
    # Other zones still served.
    assert srv.query("www.example.com", "A").rcode() == dns.rcode.NOERROR


def test_reload_warns_about_serials(reloadable):
    """A serial that goes back (RFC 1982), and content that changes under
    the same serial, are published but warned about: secondaries and
    monitoring compare serials.  Records reordered in the file are not a
    change.  The largest step forward is fine."""
    srv = reloadable
    path = zone_path(srv, "example.net")
    rewrite(path, lambda t: bump_serial(t, NET_SOA_SERIAL - 1))
    srv.reload(lambda: net_serial(srv) == NET_SOA_SERIAL - 1)
    assert wait_until(lambda: "warning: zone example.net.: serial went back "
                      "from %d to %d" % (NET_SOA_SERIAL, NET_SOA_SERIAL - 1)
                      in srv.stderr, 3), srv.stderr
    rewrite(path, lambda t: t + "extra 3600 IN A 192.0.2.198\n")
    srv.reload(lambda: srv.query("extra.example.net", "A").rcode()
               == dns.rcode.NOERROR)
    assert wait_until(lambda: re.search(
        r"warning: zone example\.net\.: content changed under the same "
        r"serial %d \((\d+) records, was (\d+)\)" % (NET_SOA_SERIAL - 1),
        srv.stderr), 3), srv.stderr
    # The same number of records, one address changed: still a change.
    rewrite(path, lambda t: t.replace("192.0.2.198", "192.0.2.199"))
    srv.reload(lambda: srv.query("extra.example.net", "A").answer[0][0]
               .address == "192.0.2.199")
    assert wait_until(lambda: srv.stderr.count("under the same serial") == 2,
                      3), srv.stderr
    # The same records in another order: no change, no warning.
    rewrite(path, lambda t: "\n".join(sorted(
        t.splitlines(), key=lambda l: l.startswith("extra"),
        reverse=True)) + "\n")
    reloads = srv.stderr.count("reload: done")
    srv.reload(lambda: srv.stderr.count("reload: done") > reloads)
    wrapped = (NET_SOA_SERIAL - 1 + 2**31 - 1) % 2**32  # the most RFC 1982 allows
    rewrite(path, lambda t: re.sub(r"\b%d\b" % (NET_SOA_SERIAL - 1),
                                   str(wrapped), t, count=1))
    srv.reload(lambda: net_serial(srv) == wrapped)
    assert srv.stderr.count("serial went back") == 1, srv.stderr
    assert srv.stderr.count("under the same serial") == 2, srv.stderr


def test_reload_broken_zone_keeps_old_data(reloadable):
    srv = reloadable
    path = zone_path(srv, "example.net")
    with open(path) as f:
        bad_line = len(f.read().splitlines()) + 2
    rewrite(path, lambda t: bump_serial(t, NET_SOA_SERIAL + 1)
            + "new 3600 IN A 192.0.2.199\n"
            + "@ 120 IN SOA ns admin 9 3600 900 604800 3600\n")
    pattern = re.compile(r"example\.net\.zone:%d: .*more than one SOA record"
                         % bad_line)
    with QueryLoop(srv) as loop:
        srv.reload(lambda: pattern.search(srv.stderr))
        time.sleep(0.3)
    assert srv.running(), "a broken zone on reload must not stop the server"
    assert not loop.failures, "\n".join(loop.failures[:5])
    assert net_serial(srv) == NET_SOA_SERIAL, "old example.net kept"
    assert srv.query("new.example.net", "A").rcode() == dns.rcode.NXDOMAIN
    assert answer_values(srv.query("host.example.net", "A"),
                         dns.rdatatype.A) == ["192.0.2.154"]
    # Fix it: the next reload takes the new data.
    rewrite(path, lambda t: t.replace(
        "@ 120 IN SOA ns admin 9 3600 900 604800 3600\n", ""))
    srv.reload(lambda: net_serial(srv) == NET_SOA_SERIAL + 1)
    assert answer_values(srv.query("new.example.net", "A"),
                         dns.rdatatype.A) == ["192.0.2.199"]


def test_reload_with_dname(reloadable):
    """A reload that adds a DNAME with data below it (RFC 6672 2.4) is
    rejected whole; once that data is gone, the DNAME is served and names
    below it are substituted (RFC 6672 3.1)."""
    srv = reloadable
    path = zone_path(srv, "example.net")
    with open(path) as f:
        good = f.read()
        bad_line = len(good.splitlines()) + 3
    rewrite(path, lambda t: bump_serial(t, NET_SOA_SERIAL + 1)
            + "new 3600 IN A 192.0.2.199\n"
            + "moved 3600 IN DNAME example.com.\n"
            + "www.moved 3600 IN A 192.0.2.1\n")
    pattern = re.compile(r"example\.net\.zone:%d: 'www\.moved\.example\.net\.' "
                         r"is below the DNAME at 'moved\.example\.net\.'" % bad_line)
    srv.reload(lambda: pattern.search(srv.stderr))
    time.sleep(0.3)
    assert srv.running()
    assert net_serial(srv) == NET_SOA_SERIAL, "old example.net kept"
    assert srv.query("new.example.net", "A").rcode() == dns.rcode.NXDOMAIN
    with open(path, "w") as f:
        f.write(bump_serial(good, NET_SOA_SERIAL + 1)
                + "moved 3600 IN DNAME example.com.\n")
    srv.reload(lambda: net_serial(srv) == NET_SOA_SERIAL + 1)
    r = srv.query("www.moved.example.net", "A")
    assert r.rcode() == dns.rcode.NOERROR, r
    got = [(rr.name.to_text(), dns.rdatatype.to_text(rr.rdtype)) for rr in r.answer]
    assert got == [("moved.example.net.", "DNAME"),
                   ("www.moved.example.net.", "CNAME"),
                   ("www.example.com.", "A")], r


def test_reload_missing_zone_file_keeps_old(reloadable):
    srv = reloadable
    path = zone_path(srv, "example.net")
    os.rename(path, path + ".moved")
    srv.reload(lambda: "cannot open" in srv.stderr and
               "example.net.zone" in srv.stderr)
    time.sleep(0.3)
    assert srv.running()
    assert net_serial(srv) == NET_SOA_SERIAL
    os.rename(path + ".moved", path)


def test_reload_applies_server_options(reloadable):
    """Config changes other than zones take effect on HUP too."""
    srv = reloadable

    def version():
        r = srv.query("version.bind", "TXT", rdclass="CH")
        return b"".join(r.answer[0][0].strings) if r.answer else None

    assert version() == b"geodnsd test"
    srv.server_opts["version"] = "geodnsd reloaded"
    srv.write_config()
    srv.reload(lambda: version() == b"geodnsd reloaded")


def test_reload_names_settings_that_wait_for_a_restart(reloadable):
    """A reload applies what it can and names each start-up setting whose
    change waits for a restart; nothing is said when none changed."""
    srv = reloadable
    srv.server_opts["version"] = "v2"
    srv.write_config()
    before = len(srv.stderr)
    srv.reload(lambda: "reload: done" in srv.stderr[before:])
    assert "restart" not in srv.stderr[before:], srv.stderr[before:]
    srv.server_opts["tcp-idle-timeout"] = 20
    srv.server_opts["workers"] = 3
    srv.server_opts["cookie-secret"] = "00112233445566778899aabbccddeeff"
    srv.write_config()
    before = len(srv.stderr)
    srv.reload(lambda: "reload: done" in srv.stderr[before:])
    log = srv.stderr[before:]
    warning = (r"start-up, which stay until a restart: workers, "
               r"tcp-idle-timeout, cookie-secret$")
    assert re.search(warning, log, re.M), log
    assert srv.query("www.example.com", "A").rcode() == dns.rcode.NOERROR
    # The comparison is with the running process, not the previous file:
    # a second reload still says so, and putting the values back is quiet.
    before = len(srv.stderr)
    srv.reload(lambda: "reload: done" in srv.stderr[before:])
    assert re.search(warning, srv.stderr[before:], re.M), srv.stderr[before:]
    del srv.server_opts["tcp-idle-timeout"]
    del srv.server_opts["workers"]
    del srv.server_opts["cookie-secret"]
    srv.server_opts["tcp-idle-timeout"] = 10
    srv.write_config()
    before = len(srv.stderr)
    srv.reload(lambda: "reload: done" in srv.stderr[before:])
    assert "restart" not in srv.stderr[before:], srv.stderr[before:]
    # The same address written another way is the same setting.
    listen = srv.listen
    srv.listen = ["127.0.0.1@0%d" % srv.port]   # a leading zero
    srv.write_config()
    before = len(srv.stderr)
    srv.reload(lambda: "reload: done" in srv.stderr[before:])
    srv.listen = listen
    assert "restart" not in srv.stderr[before:], srv.stderr[before:]


def test_reload_is_all_or_nothing(reloadable):
    """A good change to one zone is not applied when another zone fails."""
    srv = reloadable
    net = zone_path(srv, "example.net")
    com = zone_path(srv, "example.com")
    rewrite(net, lambda t: bump_serial(t, NET_SOA_SERIAL + 1))
    rewrite(com, lambda t: t + "www CNAME elsewhere\n")   # CNAME and other
    srv.reload(lambda: "CNAME and other data" in srv.stderr)
    time.sleep(0.3)
    assert srv.running()
    assert net_serial(srv) == NET_SOA_SERIAL, \
        "example.net must not change when example.com fails to load"
    assert srv.query("www.example.com", "A").rcode() == dns.rcode.NOERROR


def test_reload_broken_config_keeps_old(reloadable):
    srv = reloadable
    good = srv.config_text()
    srv.write_config(good.replace("server:\n", "server:\n  bogus-key: 1\n", 1))
    srv.reload(lambda: re.search(r"geodnsd\.yaml:\d+: .*unknown key "
                                 r"'bogus-key'", srv.stderr))
    time.sleep(0.3)
    assert srv.running()
    assert srv.query("www.example.com", "A").rcode() == dns.rcode.NOERROR
    assert net_serial(srv) == NET_SOA_SERIAL
    # A YAML syntax error, too.
    srv.write_config(good + "zones: [ oops\n")
    before = srv.stderr
    srv.reload(lambda: len(srv.stderr) > len(before) and
               "geodnsd.yaml:" in srv.stderr[len(before):])
    time.sleep(0.3)
    assert srv.running()
    assert srv.query("www.example.com", "A").rcode() == dns.rcode.NOERROR


def test_reload_add_and_remove_zone(make_geodnsd, tmp_path):
    com = [z for z in STANDARD_ZONES if z[0] == "example.com"]
    net = [z for z in STANDARD_ZONES if z[0] == "example.net"]
    srv = make_geodnsd(zones=com)
    assert re.search(r"zone example\.com\.: loaded, serial \d+, \d+ records",
                     srv.stderr), srv.stderr
    assert srv.query("example.net", "SOA").rcode() == dns.rcode.REFUSED
    srv.zones = com + net
    srv.write_config()
    srv.reload(lambda: net_serial(srv) == NET_SOA_SERIAL)
    assert answer_values(srv.query("host.example.net", "A"),
                         dns.rdatatype.A) == ["192.0.2.154"]
    assert wait_until(lambda: "zone example.net.: added, serial %d, " %
                      NET_SOA_SERIAL in srv.stderr, 3), srv.stderr
    srv.zones = net
    srv.write_config()
    srv.reload(lambda: srv.query("www.example.com", "A").rcode()
               == dns.rcode.REFUSED)
    assert net_serial(srv) == NET_SOA_SERIAL
    assert wait_until(lambda: "zone example.com.: removed" in srv.stderr, 3), \
        srv.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT],
                         ids=["SIGTERM", "SIGINT"])
def test_clean_stop(make_geodnsd, sig):
    srv = make_geodnsd()
    assert srv.query("www.example.com", "A").rcode() == dns.rcode.NOERROR
    srv.stop(sig, expect_rc=0)


def test_stop_with_open_tcp_connection(make_geodnsd):
    """An idle client connection must not hold up a clean SIGTERM exit."""
    from conftest import tcp_connect
    srv = make_geodnsd()
    with tcp_connect(srv.port) as s:
        start = time.monotonic()
        srv.stop(signal.SIGTERM, expect_rc=0)
        assert time.monotonic() - start < 5.0


def test_hup_burst(reloadable):
    """Five HUPs back to back: still serving, then a clean exit."""
    srv = reloadable
    for _ in range(5):
        srv.send_signal(signal.SIGHUP)
        time.sleep(0.02)
    time.sleep(0.5)
    assert wait_until(lambda: srv.query("www.example.com", "A").rcode()
                      == dns.rcode.NOERROR, 5.0)
    assert srv.running()
    srv.stop()


def test_repeated_reloads(reloadable):
    """Several HUPs in a row, with queries running: still serving, still
    one answer for every query, exit 0 afterwards."""
    srv = reloadable
    path = zone_path(srv, "example.net")
    with QueryLoop(srv) as loop:
        for i in range(1, 4):
            rewrite(path, lambda t, i=i: re.sub(
                r"\b%d\b" % (NET_SOA_SERIAL + i - 1), str(NET_SOA_SERIAL + i),
                t, count=1))
            srv.reload(lambda i=i: net_serial(srv) == NET_SOA_SERIAL + i)
    assert not loop.failures, "\n".join(loop.failures[:5])
    srv.stop()
