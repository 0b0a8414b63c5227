"""Operating geodnsd: the query log (SIGUSR1, config + SIGHUP), log-target,
user/group and the privilege drop, systemd notifications, and `make
install`.  Tests that need root skip with a reason when not run as root."""

import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile

import dns.edns
import dns.rcode
import pytest

from conftest import (GEODNSD, STANDARD_ZONES, Geodnsd, copy_zone, free_port,
                      make_test_mmdbs, run_geodnsd, wait_until)

QUERY_LINE = re.compile(
    r"query: 127\.0\.0\.1#\d+ (udp|tcp) (\S+) (\S+) (\S+) (\S+) (\S+) (\d+)"
    r"(?: ecs (\S+) scope (\d+))?$", re.M)
BUILD_DIR = os.path.dirname(os.path.abspath(GEODNSD))
IS_ROOT = os.geteuid() == 0


def query_lines(srv, name=None):
    """(transport, name, class, type, rcode, flags, size, ecs, scope)
    for every query log line in stderr, optionally only for name."""
    return [m.groups() for m in QUERY_LINE.finditer(srv.stderr)
            if name is None or m.group(2) == name]


def nobody():
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody' on this system")


def reload_done(srv, count):
    return lambda: srv.stderr.count("reload: done") >= count


def world_readable_zones():
    """A fresh directory every user can read, holding copies of the standard
    zones (pytest's own tmp_path is private to the user running it)."""
    d = tempfile.mkdtemp(prefix="geodnsd-ops-")
    os.chmod(d, 0o755)
    zones = [(name, copy_zone(os.path.basename(path), d))
             for name, path in STANDARD_ZONES]
    for _, path in zones:
        os.chmod(path, 0o644)
    os.chmod(os.path.join(d, "example.com.big"), 0o644)
    return d, zones


# ---------------------------------------------------------------- query log

def test_sigusr1_toggles_query_log(make_geodnsd):
    srv = make_geodnsd()
    assert srv.query("www.example.com", "A").rcode() == dns.rcode.NOERROR
    assert query_lines(srv) == [], "query log must start off:\n" + srv.stderr

    srv.send_signal(signal.SIGUSR1)
    assert wait_until(lambda: "query log: on" in srv.stderr, 5), srv.stderr
    ecs = dns.edns.ECSOption("192.0.2.0", 24)
    srv.query("www.example.com", "A", use_edns=0, options=[ecs])
    srv.query("nope.example.com", "AAAA", tcp=True)
    assert wait_until(lambda: len(query_lines(srv)) >= 2, 5), srv.stderr
    udp = query_lines(srv, "www.example.com.")
    assert udp, srv.stderr
    tr, _, cls, typ, rcode, flags, size, subnet, scope = udp[0]
    assert (tr, cls, typ, rcode, flags) == ("udp", "IN", "A", "NOERROR", "aa")
    assert int(size) > 12
    assert subnet == "192.0.2.0/24" and scope is not None
    tcp = query_lines(srv, "nope.example.com.")
    assert tcp and tcp[0][0] == "tcp" and tcp[0][3] == "AAAA" \
        and tcp[0][4] == "NXDOMAIN" and tcp[0][7] is None, srv.stderr

    srv.send_signal(signal.SIGUSR1)
    assert wait_until(lambda: "query log: off" in srv.stderr, 5), srv.stderr
    srv.query("off.example.com", "A")
    srv.query("www.example.com", "A")   # a round trip after the last one
    assert query_lines(srv, "off.example.com.") == [], srv.stderr
    srv.stop()


def test_query_log_config_and_sighup(make_geodnsd):
    srv = make_geodnsd(query_log="false")
    srv.query("a.example.com", "A")
    assert query_lines(srv) == []

    srv.server_opts["query-log"] = "true"
    srv.write_config()
    srv.reload(reload_done(srv, 1))
    srv.query("b.example.com", "A")
    assert wait_until(lambda: query_lines(srv, "b.example.com."), 5), \
        srv.stderr

    srv.server_opts["query-log"] = "false"
    srv.write_config()
    srv.reload(reload_done(srv, 2))
    srv.query("c.example.com", "A")
    srv.query("www.example.com", "A")
    assert query_lines(srv, "c.example.com.") == [], srv.stderr

    # A reload that leaves query-log alone keeps what SIGUSR1 chose.
    srv.send_signal(signal.SIGUSR1)
    assert wait_until(lambda: "query log: on" in srv.stderr, 5)
    srv.reload(reload_done(srv, 3))
    srv.query("d.example.com", "A")
    assert wait_until(lambda: query_lines(srv, "d.example.com."), 5), \
        srv.stderr
    srv.stop()


def test_query_log_bad_value_is_an_error(tmp_path):
    srv = Geodnsd(tmp_path, query_log="sometimes")
    r = run_geodnsd("-c", srv.config_path, "--check")
    assert r.returncode == 1
    assert re.search(r"geodnsd\.yaml:\d+: 'query-log' must be true or false",
                     r.stderr), r.stderr


# ---------------------------------------------------------------- signals

def blocked_signals(pid):
    """The signal numbers blocked by pid's main thread (/proc SigBlk)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("SigBlk:"):
                mask = int(line.split()[1], 16)
                return {n for n in range(1, 65) if mask >> (n - 1) & 1}
    return set()


def test_signals_during_startup_are_queued(tmp_path):
    """SIGHUP, SIGUSR1 and SIGUSR2 while the zones load used to kill the
    daemon (their default action) with nothing logged.  Now a reload and
    the query-log toggle asked for then happen once it is ready, and
    SIGUSR2 is logged and ignored."""
    big = tmp_path / "slow.zone"
    with open(big, "w") as f:
        f.write("$ORIGIN slow.example.\n$TTL 300\n"
                "@ SOA ns1 hostmaster 1 3600 600 86400 300\n@ NS ns1\n"
                "ns1 A 192.0.2.1\n")
        for i in range(200000):
            f.write("h%d A 192.0.2.%d\n" % (i, i % 250 + 1))
    srv = Geodnsd(tmp_path, zones=[("slow.example", str(big))])
    srv.first_zone = "slow.example"
    srv.start(wait=False)
    try:
        pid = srv.proc.pid
        assert wait_until(lambda: srv.proc.poll() is not None
                          or {signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2}
                          <= blocked_signals(pid), 10, interval=0.002), srv.stderr
        assert "ready" not in srv.stderr, "loaded before the signals: test says nothing"
        for sig in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
            srv.send_signal(sig)
        srv.wait_ready(timeout=60)
        assert wait_until(reload_done(srv, 1), 60), srv.stderr
        err = srv.stderr
        ready_at = err.index("ready")
        assert err.index("reload: done") > ready_at, "reload ran before ready"
        assert "query log: on (SIGUSR1)" in err[ready_at:]
        assert "received SIGUSR2: ignored" in err
        assert srv.running()
        # The daemon's own loop takes the signals once it runs: its main
        # thread no longer blocks them (exec probes get an empty mask from
        # posix_spawn, whatever the daemon's).
        assert signal.SIGHUP not in blocked_signals(pid)
        srv.stop()
    finally:
        if srv.running():   # a failed assertion: not left behind
            srv.kill()


# ---------------------------------------------------------------- log-target

def test_journal_prefixes_only_on_the_journal_stream(tmp_path):
    """sd-daemon(3): JOURNAL_STREAM is the device:inode of the journal
    stream.  A shell started from a unit inherits the variable; geodnsd run
    from there to a terminal or file printed '<4>' prefixes, since only the
    variable's presence was checked."""
    # A start that fails at once logs through the logger, then exits.
    srv = Geodnsd(tmp_path, zones=[("example.com", str(tmp_path / "none"))])
    out = tmp_path / "stderr"
    for stream, prefixed in ((None, True), ("1:2", False)):
        with open(out, "w") as f:
            st = os.fstat(f.fileno())
            env = dict(os.environ, JOURNAL_STREAM=stream or
                       "%d:%d" % (st.st_dev, st.st_ino))
            subprocess.run([GEODNSD, "-c", srv.config_path],
                           stdout=subprocess.DEVNULL, stderr=f, env=env,
                           timeout=30)
        text = out.read_text()
        assert text, "nothing logged"
        first = text.splitlines()[0]
        if prefixed:
            assert re.match(r"<\d>", first), first
        else:
            assert first.startswith("geodnsd: "), first


def test_log_target_syslog_starts_and_stops(make_geodnsd):
    # syslog itself cannot be read reliably here: check the server runs,
    # reloads and stops cleanly with it, and logs nothing to stderr after
    # the switch.
    srv = make_geodnsd(log_target="syslog")
    assert srv.query("www.example.com", "A").rcode() == dns.rcode.NOERROR
    srv.send_signal(signal.SIGHUP)
    srv.send_signal(signal.SIGUSR1)
    assert wait_until(lambda: srv.query("www.example.com", "A").rcode()
                      == dns.rcode.NOERROR, 5)
    srv.stop()
    assert "ready" not in srv.stderr, srv.stderr


def test_log_target_bad_value_is_an_error(tmp_path):
    srv = Geodnsd(tmp_path, log_target="file")
    r = run_geodnsd("-c", srv.config_path, "--check")
    assert r.returncode == 1
    assert "'log-target' must be stderr or syslog, not 'file'" in r.stderr


# ---------------------------------------------------------------- user/group

def test_check_with_user_nobody(tmp_path):
    pw = nobody()
    # Files nobody can read: run as root, --check also checks them as
    # nobody (test_check_as_root_checks_files_as_the_user).
    d, zones = world_readable_zones()
    try:
        srv = Geodnsd(d, zones=zones, user=pw.pw_name)
        os.chmod(srv.config_path, 0o644)
        r = run_geodnsd("-c", srv.config_path, "--check")
        assert r.returncode == 0, r.stderr
        assert "OK" in r.stdout
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_check_reports_unknown_user_and_group(tmp_path):
    srv = Geodnsd(tmp_path, user="no-such-user-geodnsd",
                  group="no-such-group-geodnsd")
    r = run_geodnsd("-c", srv.config_path, "--check")
    assert r.returncode == 1
    assert re.search(r"geodnsd\.yaml:\d+: 'user' 'no-such-user-geodnsd': "
                     r"no such user", r.stderr), r.stderr
    assert "'group' 'no-such-group-geodnsd': no such group" in r.stderr


def test_check_group_needs_user(tmp_path):
    srv = Geodnsd(tmp_path, group="root")
    r = run_geodnsd("-c", srv.config_path, "--check")
    assert r.returncode == 1
    assert "'group' needs 'user'" in r.stderr, r.stderr


def proc_ids(pid, field, task=None):
    path = "/proc/%d/%sstatus" % (pid, "task/%s/" % task if task else "")
    with open(path) as f:
        for line in f:
            if line.startswith(field + ":"):
                return [int(x) for x in line.split()[1:]]
    return None


def test_root_drops_to_nobody(make_geodnsd):
    if not IS_ROOT:
        pytest.skip("needs root: geodnsd only drops privileges when started "
                    "as root")
    pw = nobody()
    d, zones = world_readable_zones()
    try:
        srv = make_geodnsd(start=False, zones=zones, user=pw.pw_name,
                           workers=2)
        srv.config_path = os.path.join(d, "geodnsd.yaml")
        srv.write_config()
        os.chmod(srv.config_path, 0o644)
        srv.start()
        pid = srv.proc.pid
        assert proc_ids(pid, "Uid") == [pw.pw_uid] * 4
        assert proc_ids(pid, "Gid") == [pw.pw_gid] * 4
        assert proc_ids(pid, "Groups") in ([pw.pw_gid], [])
        # Every thread, the UDP workers started before the drop included.
        tasks = os.listdir("/proc/%d/task" % pid)
        assert len(tasks) >= 3
        for t in tasks:
            assert proc_ids(pid, "Uid", t) == [pw.pw_uid] * 4, t
        assert "privdrop: now running as user 'nobody'" in srv.stderr
        assert "not readable" not in srv.stderr, srv.stderr
        # Reloads run as nobody and still read everything.
        srv.reload(reload_done(srv, 1))
        assert srv.query("www.example.com", "A").rcode() == dns.rcode.NOERROR
        srv.stop()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_root_drop_warns_about_unreadable_files(make_geodnsd, tmp_path):
    if not IS_ROOT:
        pytest.skip("needs root: geodnsd only drops privileges when started "
                    "as root")
    pw = nobody()
    os.chmod(str(tmp_path), 0o700)     # nobody cannot get in
    srv = make_geodnsd(user=pw.pw_name)
    assert wait_until(lambda: re.search(
        r"privdrop: configuration '.*geodnsd\.yaml' is not readable as "
        r"uid %d .*reloads will fail" % pw.pw_uid, srv.stderr), 5), srv.stderr
    srv.stop()


def test_check_as_root_checks_files_as_the_user(tmp_path):
    """--check run as root reads everything as root, but the daemon reloads
    as its user: a zone file only root can read is an error naming the
    file and the uid (the next reload would fail); an overrides file it
    cannot read is a warning (its changes would not be applied)."""
    if not IS_ROOT:
        pytest.skip("needs root: only root --check can switch to the user")
    pw = nobody()
    d, zones = world_readable_zones()
    try:
        srv = Geodnsd(d, zones=zones, user=pw.pw_name)
        os.chmod(srv.config_path, 0o644)
        r = run_geodnsd("-c", srv.config_path, "--check")
        assert r.returncode == 0 and "0 warnings" in r.stdout, r
        # Started with SIGCHLD ignored (it is inherited), the check process
        # is reaped all the same: no false warning.
        r = subprocess.run(
            [GEODNSD, "-c", srv.config_path, "--check"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            universal_newlines=True, timeout=20, stdin=subprocess.DEVNULL,
            preexec_fn=lambda: signal.signal(signal.SIGCHLD, signal.SIG_IGN))
        assert r.returncode == 0 and "0 warnings" in r.stdout, r
        # A zone file only root can read: the next reload would fail, so
        # --check fails.
        locked = zones[1][1]
        os.chmod(locked, 0o600)
        r = run_geodnsd("-c", srv.config_path, "--check")
        assert r.returncode == 1 and "1 error" in r.stderr, r
        assert re.search(r"error: privdrop: zone file '%s' is not readable as "
                         r"uid %d \(Permission denied\): reloads will fail"
                         % (re.escape(locked), pw.pw_uid), r.stderr), r.stderr
        assert r.stderr.count("not readable") == 1, r.stderr
        # An overrides file only root can read: reloads work, but its
        # changes would not be applied: a warning.
        os.chmod(locked, 0o644)
        overrides = os.path.join(d, "overrides")
        with open(overrides, "w") as f:
            f.write("datacenter fra down m\n")
        os.chmod(overrides, 0o600)
        srv.write_config(srv.config_text() + "healthcheck:\n  state-file: %s\n"
                         % overrides)
        os.chmod(srv.config_path, 0o644)
        r = run_geodnsd("-c", srv.config_path, "--check")
        assert r.returncode == 0 and "1 warning" in r.stdout, r
        assert re.search(r"warning: privdrop: overrides file '%s' is not "
                         r"readable as uid %d \(Permission denied\): changes "
                         r"to it will not be applied"
                         % (re.escape(overrides), pw.pw_uid), r.stderr), r.stderr
        # A GeoIP database only root can read: a reload keeps the loaded
        # one, but a new version would not be read: a warning.
        os.chmod(overrides, 0o644)
        db = os.path.join(d, "GeoIP2-City.mmdb")
        mmdbs = make_test_mmdbs(os.path.join(d, "mmdb"))
        shutil.copy(os.path.join(mmdbs, "city.mmdb"), db)
        os.chmod(db, 0o600)
        srv.write_config(srv.config_text() + "geoip:\n  database: %s\n" % db +
                         "datacenters:\n  fra: { latitude: 50.1, longitude: 8.7 }\n")
        os.chmod(srv.config_path, 0o644)
        r = run_geodnsd("-c", srv.config_path, "--check")
        assert r.returncode == 0 and "1 warning" in r.stdout, r
        assert re.search(r"warning: privdrop: geoip database '%s' is not "
                         r"readable as uid %d \(Permission denied\): a new "
                         r"version of it will not be loaded \(the running one "
                         r"is kept\)" % (re.escape(db), pw.pw_uid),
                         r.stderr), r.stderr
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_check_as_root_checks_start_without_dac(tmp_path):
    """geodnsd.service starts geodnsd as root but without CAP_DAC_OVERRIDE:
    a zone file owned by the service user and not world-readable opens
    for a root shell's --check and for the user's reloads, but not for the
    start from the unit.  --check says so (a warning: outside the unit,
    root reads it)."""
    if not IS_ROOT:
        pytest.skip("needs root: the check drops root's DAC capabilities")
    pw = nobody()
    d, zones = world_readable_zones()
    try:
        srv = Geodnsd(d, zones=zones, user=pw.pw_name)
        os.chmod(srv.config_path, 0o644)
        owned = zones[1][1]
        os.chown(owned, pw.pw_uid, pw.pw_gid)
        os.chmod(owned, 0o600)
        r = run_geodnsd("-c", srv.config_path, "--check")
        assert r.returncode == 0 and "1 warning" in r.stdout, r
        assert re.search(r"warning: privdrop: zone file '%s' is not readable "
                         r"by root without CAP_DAC_OVERRIDE \(Permission "
                         r"denied\): geodnsd.service does not grant it"
                         % re.escape(owned), r.stderr), r.stderr
        assert r.stderr.count("not readable") == 1, r.stderr
        # A reload reads as the user, who can: --check-reload is clean.
        r = run_geodnsd("-c", srv.config_path, "--check-reload")
        assert r.returncode == 0 and "0 warnings" in r.stdout, r
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_root_without_user_warns(make_geodnsd):
    if not IS_ROOT:
        pytest.skip("needs root: the warning is about running as root")
    srv = make_geodnsd()
    assert "privdrop: running as root" in srv.stderr
    srv.stop()


def demote_to_nobody():
    """preexec_fn: become nobody when the tests run as root."""
    if IS_ROOT:
        pw = pwd.getpwnam("nobody")
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)


def test_non_root_needs_its_own_user():
    """Not root: user must be the current user (fine) or start-up fails."""
    if IS_ROOT:
        nobody()
    me = pwd.getpwnam("nobody") if IS_ROOT else pwd.getpwuid(os.geteuid())
    if me.pw_uid == 0:
        pytest.skip("cannot run as a user other than root here")
    d, zones = world_readable_zones()
    try:
        for user, ok in ((me.pw_name, True), ("root", False)):
            srv = Geodnsd(d, zones=zones, user=user)
            os.chmod(srv.config_path, 0o644)
            proc = subprocess.Popen([GEODNSD, "-c", srv.config_path],
                                    stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE,
                                    stdin=subprocess.DEVNULL,
                                    universal_newlines=True,
                                    preexec_fn=demote_to_nobody)
            srv.proc = proc
            try:
                if ok:
                    assert wait_until(lambda: srv.query(
                        "www.example.com", "A", timeout=0.3), 10), \
                        "did not start as its own user"
                    proc.send_signal(signal.SIGTERM)
                    assert proc.wait(10) == 0
                else:
                    # The configured user is not this one: no restart
                    # would help (EX_CONFIG).
                    assert proc.wait(20) == 78
                    err = proc.stderr.read()
                    assert "cannot switch to user 'root'" in err, err
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(5)
                proc.stderr.close()
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------- systemd

def built_with_libsystemd():
    try:
        with open(os.path.join(BUILD_DIR, "config.h")) as f:
            return "#define HAVE_LIBSYSTEMD 1" in f.read()
    except OSError:
        return False


def test_sd_notify_messages(make_geodnsd, monkeypatch):
    if not built_with_libsystemd():
        pytest.skip("built without libsystemd (Debian: libsystemd-dev): "
                    "sd_notify() is a no-op")
    d = tempfile.mkdtemp(prefix="geodnsd-notify-")
    path = os.path.join(d, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.bind(path)
        sock.settimeout(10)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        srv = make_geodnsd()

        def recv():
            return sock.recv(4096).decode()

        first = recv()
        assert first.startswith("READY=1\n"), first
        assert "STATUS=serving 3 zones" in first
        srv.send_signal(signal.SIGHUP)
        assert recv().startswith("RELOADING=1\nMONOTONIC_USEC=")
        again = recv()
        assert again.startswith("READY=1\nSTATUS=serving 3 zones"), again
        srv.send_signal(signal.SIGUSR1)
        assert recv() == "STATUS=serving 3 zones, query log on"
        srv.stop()
        assert recv() == "STOPPING=1"
    finally:
        sock.close()
        shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------- install

def make_env():
    """The environment without the parent make's job server and flags."""
    env = dict(os.environ)
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"):
        env.pop(k, None)
    return env


def test_make_install(tmp_path):
    if not os.path.isfile(os.path.join(BUILD_DIR, "Makefile")):
        pytest.skip("no Makefile next to %s: not a build directory" % GEODNSD)
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    # Never rebuild under other tests' feet: install only a built tree.
    # (all-am with -o config.h: automake's config.h rule always looks stale.)
    q = subprocess.run(["make", "-q", "-o", "config.h", "all-am"],
                       cwd=BUILD_DIR, env=make_env(), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=120)
    if q.returncode != 0:
        pytest.skip("build directory is not up to date (run make first)")
    dest = tmp_path / "dest"
    r = subprocess.run(["make", "install", "DESTDIR=%s" % dest],
                       cwd=BUILD_DIR, env=make_env(), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout[-3000:]
    found = {}
    for root, _, files in os.walk(str(dest)):
        for name in files:
            rel = "/" + os.path.relpath(os.path.join(root, name), str(dest))
            found.setdefault(name, []).append(rel)

    sbin = [p for p in found.get("geodnsd", []) if p.endswith("/sbin/geodnsd")]
    assert sbin, sorted(found)
    assert os.stat(str(dest) + sbin[0]).st_mode & stat.S_IXUSR
    assert any(p.endswith("/man8/geodnsd.8") for p in found.get("geodnsd.8", []))
    assert any(p.endswith("/man5/geodnsd.yaml.5")
               for p in found.get("geodnsd.yaml.5", []))
    for page in ("geodnsd.8", "geodnsd.yaml.5", "geodnsd-force.8"):
        assert any("/man" in p for p in found.get(page, [])), (page, sorted(found))
        with open(str(dest) + found[page][0]) as f:
            assert "@sysconfdir@" not in f.read()
    # The docs keep the source tree's layout: every relative link in an
    # installed document leads to an installed file.
    readme = [p for p in found.get("README.md", []) if "/doc/geodnsd/" in p]
    assert readme, sorted(found)
    docdir = os.path.dirname(str(dest) + readme[0])
    missing, seen = [], set()
    for root, _, files in os.walk(docdir):
        for name in (n for n in files if n.endswith(".md")):
            with open(os.path.join(root, name)) as f:
                for link in re.findall(r"\]\(([^)#]+)", f.read()):
                    if ":" in link:
                        continue        # https://..., mailto:...
                    seen.add(link)
                    if not os.path.exists(os.path.join(root, link)):
                        missing.append("%s: %s" % (os.path.relpath(
                            os.path.join(root, name), docdir), link))
    assert "docs/configuration.md" in seen and "docs/performance.md" in seen
    assert not missing, "links to files not installed: %s" % missing
    # The system account, for systemd-sysusers (unless configured out).
    with open(os.path.join(BUILD_DIR, "Makefile")) as f:
        # configure --with-sysusersdir=no leaves "sysusersdir = " empty.
        sysusers_wanted = re.search(r"^sysusersdir = \S", f.read(), re.M)
    if sysusers_wanted:
        conf = [p for p in found.get("geodnsd.conf", []) if "/sysusers.d/" in p]
        assert conf, sorted(found)
        if shutil.which("systemd-sysusers"):
            r = subprocess.run(["systemd-sysusers", "--dry-run", "--root=%s" % dest,
                                str(dest) + conf[0]], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, universal_newlines=True,
                               timeout=60)
            assert r.returncode == 0 and "Creating user 'geodnsd'" in r.stdout, r.stdout
    # geodnsd-force's defaults are the daemon's configured paths.
    make_vars = {}
    with open(os.path.join(BUILD_DIR, "Makefile")) as f:
        for line in f:
            m = re.match(r"^(prefix|sysconfdir|localstatedir) = (.*)$", line)
            if m:
                make_vars[m.group(1)] = m.group(2).strip()
    etc = make_vars["sysconfdir"].replace("${prefix}", make_vars["prefix"])
    var = make_vars["localstatedir"].replace("${prefix}", make_vars["prefix"])
    force_path = [p for p in found.get("geodnsd-force", []) if "/sbin/" in p]
    assert force_path, sorted(found)
    with open(str(dest) + force_path[0]) as f:
        force_text = f.read()
    assert "\nDEFAULT_CONFIG=%s/geodnsd/geodnsd.yaml\n" % etc in force_text
    assert "\nINSTALLED_GEODNSD=%s\n" % sbin[0] in force_text.replace(str(dest), "")
    assert "%s/lib/geodnsd/overrides" % var in force_text

    with open(os.path.join(BUILD_DIR, "Makefile")) as f:
        unit_wanted = re.search(r"^systemdsystemunit_DATA\s*=", f.read(),
                                re.M) is not None
    if not unit_wanted:
        return      # configured --with-systemdsystemunitdir=no
    units = [p for p in found.get("geodnsd.service", [])
             if "/systemd/system/" in p]
    assert units, sorted(found)
    with open(str(dest) + units[0]) as f:
        unit = f.read()
    # Type=notify only when built with libsystemd: without it no READY=1
    # is ever sent, and systemd would kill the daemon at its start timeout.
    with open(os.path.join(BUILD_DIR, "config.h")) as f:
        notify = re.search(r"^#define HAVE_LIBSYSTEMD 1", f.read(), re.M)
    want = "Type=notify" if notify else "Type=simple"
    assert re.search("^%s$" % want, unit, re.M), unit
    assert "@GD_SERVICE_TYPE@" not in unit
    assert "ExecStart=%s -c " % sbin[0] in unit, unit
    # systemctl reload runs --check-reload first, then sends SIGHUP.
    check = unit.index("ExecReload=%s -c " % sbin[0])
    assert unit.index("--check-reload", check) < unit.index(
        "ExecReload=/bin/kill -HUP $MAINPID"), unit
    assert "@" + "sbindir@" not in unit
    # A configuration that does not load is not restarted (exit 78).
    assert re.search(r"^RestartPreventExitStatus=78$", unit, re.M), unit


# ---------------------------------------------------------------- exit status

def test_exit_status_tells_configuration_from_other_failures(tmp_path):
    """A start that fails on its files exits 78 (EX_CONFIG), which the
    unit does not restart; one that fails on a busy port exits 1, which it
    retries.  --check keeps exit 1 for the same errors."""
    srv = Geodnsd(tmp_path)
    text = srv.config_text()
    srv.write_config(text.replace("zones:", "zonez:", 1))
    r = run_geodnsd("-c", srv.config_path)
    assert r.returncode == 78, r
    assert "unknown key 'zonez'" in r.stderr and "cannot start: 1 error" \
        in r.stderr, r.stderr
    assert run_geodnsd("-c", srv.config_path, "--check").returncode == 1

    # The same, for a zone file that does not load (a copy: the standard
    # zones are shared).
    zdir = tmp_path / "zones"
    zdir.mkdir()
    zpath = copy_zone("example.com.zone", zdir)
    with open(zpath, "a") as f:
        f.write("bad-entry IN A not-an-address\n")
    bad = Geodnsd(tmp_path / "badzone", zones=[("example.com", zpath)])
    r = run_geodnsd("-c", bad.config_path)
    assert r.returncode == 78 and "cannot start: 1 error" in r.stderr, r
    assert "invalid IPv4 address 'not-an-address'" in r.stderr, r.stderr

    # A port in use: not a configuration error.
    srv2 = Geodnsd(tmp_path / "second")
    busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        busy.bind(("127.0.0.1", srv2.port))
        r = run_geodnsd("-c", srv2.config_path)
    finally:
        busy.close()
    assert r.returncode == 1, r
    assert "127.0.0.1" in r.stderr and "in use" in r.stderr, r.stderr


def test_freebind_listens_before_the_address_exists(make_geodnsd):
    """An address that keepalived or an anycast set-up adds later: without
    freebind the start fails (as NSD without ip-freebind); with it geodnsd
    binds and serves its other addresses.  Nothing is sent to 192.0.2.53
    (TEST-NET-1, on no interface here); binding sends nothing."""
    port = free_port()
    listen = ["127.0.0.1@%d" % port, "192.0.2.53@%d" % port]
    srv = make_geodnsd(start=False, listen=listen, port=port)
    srv.start(wait=False)
    assert srv.proc.wait(timeout=20) == 1, srv.stderr
    assert "192.0.2.53@%d" % port in srv.stderr and \
        "Cannot assign requested address" in srv.stderr, srv.stderr
    srv = make_geodnsd(listen=listen, port=port, freebind="true")
    assert srv.query("www.example.com", "A").rcode() == dns.rcode.NOERROR
    assert "listening on 192.0.2.53@%d" % port in srv.stderr, srv.stderr
    srv.stop()
