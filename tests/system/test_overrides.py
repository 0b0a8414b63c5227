"""The operator overrides file (docs/health.md, "Operator overrides") and
tools/geodnsd-force, without GeoIP or real probes: two datacenters, one
service whose addresses are checked with `true`, default routing fra, iad.

What is covered:
 1. a line naming no configured datacenter or address is reported once per
    read (file:line, the name, a same-name-but-case hint), shown in
    CH TXT status.geodnsd, /status and /metrics, reported again after a
    reload that still lacks it, and applied after a reload that adds it;
    `geodnsd --check-overrides` and `geodnsd-force --config` refuse it;
 2. geodnsd-force replaces the file by a rename and keeps its mode, owner
    and group (a new file is 0644 whatever the umask), so a daemon that
    runs as another user can still read it.
Loopback only; every wait is bounded.
"""

import json
import os
import pathlib
import pwd
import shutil
import stat
import subprocess
import tempfile
import time
import urllib.request

import dns.message
import dns.query
import dns.rcode
import dns.rdataclass
import pytest

from conftest import (GEODNSD, TOP_SRCDIR, WEB_GEO_ZONE, Geodnsd, free_port, metric,
                      require_geodnsd, run_geodnsd, start_web_geo, wait_until,
                      yaml_str)

FORCE = os.path.join(TOP_SRCDIR, "tools", "geodnsd-force")

# geodnsd writes "<N>" instead of "geodnsd: LEVEL:" under journald.
os.environ.pop("JOURNAL_STREAM", None)


DCS = {"fra": (50.11, 8.68), "iad": (38.95, -77.45), "ams": (52.37, 4.90)}
ADDRS = {"fra": "192.0.2.10", "iad": "198.51.100.10", "ams": "203.0.113.10"}


def config(port, mport, state, zone, dcs=("fra", "iad"), user=None,
           probe="true"):
    text = ["server:", '  listen: [ "127.0.0.1@%d" ]' % port]
    if user is not None:
        text.append("  user: %s" % user)
    text += [
            "metrics:", "  listen: 127.0.0.1@%d" % mport,
            "healthcheck:", "  state-file: %s" % yaml_str(state),
            "datacenters:"]
    text += ["  %s: { latitude: %s, longitude: %s }" % ((dc,) + DCS[dc])
             for dc in dcs]
    text += ["services:", "  web:", "    datacenters:"]
    text += ["      %s: [ %s ]" % (dc, ADDRS[dc]) for dc in dcs]
    text += [('    check: { type: exec, command: [ "%s" ], interval: 0.2, '
              "timeout: 0.1, rise: 1, fall: 1 }") % probe,
             "routing:", "  default: [ %s ]" % ", ".join(dcs),
             "zones:", "  - name: example.com", "    file: %s" % yaml_str(zone)]
    return "\n".join(text) + "\n"


class Server(Geodnsd):
    def __init__(self, tmp_path, user=None, probe="true"):
        self.user = user
        self.probe = probe
        super().__init__(tmp_path / "srv", zones=[])
        self.first_zone = "example.com"
        self.mport = free_port()
        self.zone = str(tmp_path / "example.com.zone")
        self.state = str(tmp_path / "overrides")
        with open(self.zone, "w") as f:
            f.write(WEB_GEO_ZONE)
        self.configure(("fra", "iad"))

    def configure(self, dcs):
        self.write_config(config(self.port, self.mport, self.state,
                                 self.zone, dcs, self.user, self.probe))

    def http(self, path):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (
                self.mport, path), timeout=3) as r:
            return r.read().decode()

    def status_lines(self):
        q = dns.message.make_query("status.geodnsd.", "TXT", "CH")
        r = dns.query.tcp(q, "127.0.0.1", port=self.port, timeout=3)
        return [b"".join(rd.strings).decode() for s in r.answer for rd in s
                if s.rdclass == dns.rdataclass.CH]

    def answer(self):
        r = self.query("www.example.com", "A")
        return sorted(rr.address for s in r.answer for rr in s)


@pytest.fixture
def server(tmp_path):
    require_geodnsd()
    srv = Server(tmp_path)
    srv.start()
    yield srv
    srv.kill()


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def force(*args, env=None, umask=None):
    return subprocess.run(["sh", FORCE] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=20, stdin=subprocess.DEVNULL, env=env,
                          preexec_fn=None if umask is None else
                          (lambda: os.umask(umask)))


# ------------------------------------------------- 1. names that match nothing

UNKNOWN = ("datacenter Fra down maint\n"
           "datacenter nosuch down x\n"
           "address 192.0.2.99 down x\n"
           "address 198.51.100.10 down real one\n")


def unknown_warnings(srv):
    p = srv.state
    return ["geodnsd: warning: healthcheck: %s:1: no datacenter 'Fra' in the "
            "configuration (did you mean 'fra'?); line ignored" % p,
            "geodnsd: warning: healthcheck: %s:2: no datacenter 'nosuch' in "
            "the configuration; line ignored" % p,
            "geodnsd: warning: healthcheck: %s:3: no address '192.0.2.99' in "
            "any service; line ignored" % p]


def test_fail_open_never_answers_what_the_operator_forced_down(tmp_path):
    """Every probe fails, so the default all-down policy fails open: as if
    the probes said up, but not past the operator.  A datacenter or an
    address forced down is left out; when nothing is left, SERVFAIL."""
    require_geodnsd()
    srv = Server(tmp_path, probe="false")
    srv.start()
    try:
        assert wait_until(lambda: "ALL DOWN" in " ".join(srv.status_lines()),
                          5), srv.status_lines()
        assert metric(srv.http("/metrics"), "geodnsd_service_all_down",
                      'service="web",policy="fail-open"') == 1
        assert srv.answer() == ["192.0.2.10"]               # fra, first
        write(srv.state, "datacenter fra down drained\n")
        assert wait_until(lambda: srv.answer() == ["198.51.100.10"], 5), \
            srv.stderr
        q = dns.message.make_query("www.example.com.explain.geodnsd.", "TXT",
                                   "CH")
        r = dns.query.tcp(q, "127.0.0.1", port=srv.port, timeout=3)
        lines = [b"".join(rd.strings).decode() for s in r.answer for rd in s]
        assert any(l.startswith("answer A: iad, fail-open (every datacenter "
                                "down; the first one not forced down")
                   for l in lines), lines
        write(srv.state, "datacenter fra down drained\n"
                         "address 198.51.100.10 down broken\n")
        assert wait_until(lambda: srv.query("www.example.com", "A").rcode()
                          == dns.rcode.SERVFAIL, 5), srv.stderr
        write(srv.state, "")
        assert wait_until(lambda: srv.answer() == ["192.0.2.10"], 5), \
            srv.stderr
    finally:
        srv.kill()


def test_unknown_names_are_reported_not_ignored(server):
    write(server.state, UNKNOWN)
    applied = "(forced by operator: real one)"
    # The warnings follow the line that applies the file: wait for them
    # all (reading the log between two of them made this test flaky).
    assert wait_until(lambda: applied in server.stderr and all(
        w in server.stderr for w in unknown_warnings(server)), 5), server.stderr
    log = server.stderr
    for w in unknown_warnings(server):
        assert log.count(w) == 1, (w, log)
    # Nothing was forced by them: fra still answers.
    assert server.answer() == ["192.0.2.10"]
    st = server.status_lines()
    assert ("override %s:1: no datacenter 'Fra' in the configuration (did "
            "you mean 'fra'?); line ignored" % server.state) in st, st
    assert ("override %s:3: no address '192.0.2.99' in any service; line "
            "ignored" % server.state) in st, st
    js = json.loads(server.http("/status"))
    assert [(u["line"], u["kind"], u["name"]) for u in js["overrides_ignored"]] \
        == [(1, "datacenter", "Fra"), (2, "datacenter", "nosuch"),
            (3, "address", "192.0.2.99")], js
    assert js["overrides_ignored"][0]["file"] == server.state
    assert metric(server.http("/metrics"), "geodnsd_overrides_ignored") == 3
    # Fixing the file clears the report.
    write(server.state, "datacenter fra down maint\n")
    assert wait_until(lambda: server.answer() == ["198.51.100.10"], 5)
    assert wait_until(lambda: json.loads(server.http("/status"))[
        "overrides_ignored"] == [], 3)
    assert metric(server.http("/metrics"), "geodnsd_overrides_ignored") == 0
    assert not any(l.startswith("override ") for l in server.status_lines())


def test_ipv6_override_matches_any_spelling(tmp_path):
    """An address override names the address, not its text: upper case and
    spelled-out zeros match the configured 2001:db8::10."""
    require_geodnsd()
    srv = Server(tmp_path)
    srv.write_config(config(srv.port, srv.mport, srv.state, srv.zone).replace(
        "[ 192.0.2.10 ]", '[ 192.0.2.10, "2001:db8::10" ]'))
    srv.start()
    try:
        write(srv.state, "address 2001:DB8:0:0::10 down spelled out\n")
        lbl = "web/fra 2001:db8::10 (exec): DOWN (forced by operator: " \
            "spelled out)"
        assert wait_until(lambda: lbl in srv.stderr, 5), srv.stderr
        assert "line ignored" not in srv.stderr
    finally:
        srv.kill()


def test_not_an_address_is_an_error(server):
    write(server.state, "address 198.51.100.10 down fine\n"
                        "address web1.example.com down not an address\n")
    msg = ("geodnsd: error: healthcheck: %s:2: 'web1.example.com' is not an "
           "IPv4 or IPv6 address" % server.state)
    assert wait_until(lambda: msg in server.stderr, 5), server.stderr
    assert "healthcheck: %s: not applied" % server.state in server.stderr
    assert server.answer() == ["192.0.2.10"]


def test_reload_reports_again_and_applies_what_it_adds(server):
    write(server.state, "datacenter ams down not built yet\n"
                        "datacenter nosuch down never\n")
    ams = ("healthcheck: %s:1: no datacenter 'ams' in the configuration; "
           "line ignored" % server.state)
    nosuch = ("healthcheck: %s:2: no datacenter 'nosuch' in the "
              "configuration; line ignored" % server.state)
    assert wait_until(lambda: nosuch in server.stderr, 5), server.stderr
    assert server.stderr.count(ams) == 1
    # A reload that does not add them says so again.
    server.reload(lambda: server.stderr.count(nosuch) == 2)
    assert server.stderr.count(ams) == 2
    # A reload that adds ams applies its line at once.
    server.configure(("fra", "iad", "ams"))
    server.reload(lambda: "healthcheck: datacenter ams: forced DOWN: not "
                  "built yet" in server.stderr)
    assert server.stderr.count(ams) == 2
    assert server.stderr.count(nosuch) == 3
    js = json.loads(server.http("/status"))
    assert [u["name"] for u in js["overrides_ignored"]] == ["nosuch"], js


def test_check_overrides_option(server, tmp_path):
    bad = tmp_path / "bad"
    bad.write_text(UNKNOWN)
    res = run_geodnsd("-c", server.config_path, "--check-overrides", str(bad))
    assert res.returncode == 1, res
    assert "%s:1: no datacenter 'Fra' in the configuration (did you mean " \
        "'fra'?)" % bad in res.stderr, res.stderr
    assert "%s:3: no address '192.0.2.99' in any service" % bad in res.stderr
    assert "line ignored" not in res.stderr
    good = tmp_path / "good"
    good.write_text("datacenter fra down x\naddress 198.51.100.10 up y\n")
    res = run_geodnsd("-c", server.config_path, "--check-overrides", str(good))
    assert (res.returncode, res.stderr) == (0, ""), res
    res = run_geodnsd("-c", server.config_path, "--check-overrides",
                      str(tmp_path / "missing"))
    assert res.returncode == 0, res


def test_force_tool_checks_names_with_config(server):
    env = dict(os.environ, GEODNSD=GEODNSD)
    cfg = server.config_path
    res = force("-c", cfg, "-f", server.state, "datacenter", "Fra", "down",
                "maint", env=env)
    assert res.returncode == 1, res
    assert "no datacenter 'Fra' in the configuration (did you mean 'fra'?)" \
        in res.stderr, res.stderr
    assert not os.path.exists(server.state)
    res = force("--config", cfg, "-f", server.state, "address",
                "192.0.2.99", "down", "x", env=env)
    assert res.returncode == 1 and "no address '192.0.2.99' in any service" \
        in res.stderr, res
    assert not os.path.exists(server.state)
    res = force("-c", cfg, "-f", server.state, "datacenter", "fra", "down",
                "maint", env=env)
    assert (res.returncode, res.stderr) == (0, ""), res
    with open(server.state) as f:
        assert f.read() == "datacenter fra down maint\n"
    # GEODNSD_CONFIG does the same as --config.
    env["GEODNSD_CONFIG"] = cfg
    res = force("-f", server.state, "datacenter", "nosuch", "down", env=env)
    assert res.returncode == 1 and "no datacenter 'nosuch'" in res.stderr, res
    # Clearing needs no check: a misspelt line must be removable.
    write(server.state, "datacenter Fra down maint\n")
    res = force("-f", server.state, "clear", "datacenter", "Fra", env=env)
    assert res.returncode == 0, res
    with open(server.state) as f:
        assert f.read() == ""


def test_force_with_config_edits_the_file_it_names(server, tmp_path):
    """With -c the file is the configuration's state-file: no -f needed,
    and a different -f (or GEODNSD_STATE_FILE) is refused rather than
    written where geodnsd never reads it."""
    env = dict(os.environ, GEODNSD=GEODNSD)
    env.pop("GEODNSD_STATE_FILE", None)
    cfg = server.config_path
    res = subprocess.run([GEODNSD, "-c", cfg, "--state-file"],
                         stdout=subprocess.PIPE, universal_newlines=True,
                         timeout=20)
    assert (res.returncode, res.stdout) == (0, server.state + "\n"), res
    res = force("-c", cfg, "datacenter", "fra", "down", "maint", env=env)
    assert (res.returncode, res.stderr) == (0, ""), res
    with open(server.state) as f:
        assert f.read() == "datacenter fra down maint\n"
    wrong = str(tmp_path / "wrong.overrides")
    for args, extra in ((["-f", wrong], {}),
                        ([], {"GEODNSD_STATE_FILE": wrong})):
        res = force(*(["-c", cfg] + args + ["datacenter", "iad", "down"]),
                    env=dict(env, **extra))
        assert res.returncode == 1, res
        assert "%s reads its overrides from %s, not %s; nothing changed" % (
            cfg, server.state, wrong) in res.stderr, res.stderr
        assert not os.path.exists(wrong)
    res = force("-c", cfg, "clear", "datacenter", "fra", env=env)
    assert res.returncode == 0, res
    with open(server.state) as f:
        assert f.read() == ""


def force_with_default_config(tmp_path, default_config):
    """The tool as 'make install' writes it, with the daemon's default
    configuration at default_config (and its state directory beside)."""
    with open(FORCE) as f:
        text = f.read()
    assert "DEFAULT_CONFIG=/etc/geodnsd/geodnsd.yaml\n" in text
    path = tmp_path / "geodnsd-force"
    path.write_text(text.replace("/etc/geodnsd/geodnsd.yaml", default_config)
                    .replace("/var/lib/geodnsd", str(tmp_path / "varlib")))
    return str(path)


def test_force_without_options_edits_the_daemons_file(server, tmp_path):
    """Without -c and -f the tool reads the daemon's own configuration
    when it exists (geodnsd's default), so the edit lands where geodnsd
    reads; one that names no overrides file is an error, not a file
    written where nothing reads it.  Without that configuration the
    default file's directory must exist."""
    env = dict(os.environ, GEODNSD=GEODNSD)
    for k in ("GEODNSD_STATE_FILE", "GEODNSD_CONFIG"):
        env.pop(k, None)
    tool = force_with_default_config(tmp_path, server.config_path)
    run = lambda *a: subprocess.run(  # noqa: E731
        ["sh", tool] + list(a), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        universal_newlines=True, timeout=20, env=env, stdin=subprocess.DEVNULL)
    res = run("datacenter", "fra", "down", "maint")
    assert (res.returncode, res.stderr) == (0, ""), res
    with open(server.state) as f:
        assert f.read() == "datacenter fra down maint\n"
    res = run("datacenter", "Fra", "down")
    assert res.returncode == 1 and "did you mean 'fra'?" in res.stderr, res
    res = run("list")
    assert res.stdout == "datacenter fra down maint\n", res

    no_state = tmp_path / "no-state.yaml"
    with open(server.config_path) as f:
        no_state.write_text("".join(l for l in f if "state-file" not in l))
    tool = force_with_default_config(tmp_path, str(no_state))
    res = run("datacenter", "fra", "up")
    assert res.returncode == 1, res
    assert "%s names no overrides file, so geodnsd reads none; nothing " \
        "changed" % no_state in res.stderr, res.stderr

    tool = force_with_default_config(tmp_path, str(tmp_path / "absent.yaml"))
    res = run("datacenter", "fra", "down")
    assert res.returncode == 1, res
    assert res.stderr == ("geodnsd-force: directory %s does not exist (the "
                          "geodnsd unit creates it when it first starts); "
                          "nothing changed\n" % (tmp_path / "varlib")), res.stderr
    assert not (tmp_path / "varlib").exists()


def test_force_with_a_broken_config_says_so(tmp_path):
    """A configuration that does not load was reported as one that
    'names no overrides file', after geodnsd's own errors."""
    bad = tmp_path / "bad.yaml"
    bad.write_text('server:\n  listen: [ "nowhere" ]\nzones: []\n')
    res = force("-c", str(bad), "datacenter", "fra", "down",
                env=dict(os.environ, GEODNSD=GEODNSD))
    assert res.returncode == 1, res
    assert res.stderr.startswith("geodnsd-force: cannot read %s; nothing "
                                 "changed:\n" % bad), res.stderr
    assert "%s:2: 'listen' entry 'nowhere'" % bad in res.stderr
    assert "names no overrides file" not in res.stderr


def test_force_help_and_usage():
    res = force("--help")
    assert res.returncode == 0 and res.stderr == "", res
    assert res.stdout.startswith("geodnsd-force: force a datacenter"), res
    assert "geodnsd-force [-f FILE] list" in res.stdout
    res = force("-x")
    assert res.returncode == 2 and res.stdout == "", res
    assert "geodnsd-force [-f FILE] list" in res.stderr


# ------------------------------------------------- 2. the file the tool writes

IS_ROOT = os.geteuid() == 0


def mode_owner(path):
    st = os.stat(path)
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid


def test_force_writes_the_reason_verbatim_on_one_line(server):
    """Backslashes in a reason are text (dash's echo would expand \\n and
    \\c, splitting the line and making the whole file invalid); a line
    break in a reason is refused before anything is written."""
    reason = r"ticket C:\new maint \c end"
    res = force("-f", server.state, "datacenter", "fra", "down", reason)
    assert (res.returncode, res.stderr) == (0, ""), res
    with open(server.state) as f:
        assert f.read() == "datacenter fra down %s\n" % reason
    # Applied: fra is drained, so the answer moves to iad.
    assert wait_until(lambda: server.answer() == ["198.51.100.10"], 5), \
        server.stderr
    assert "expected 'datacenter" not in server.stderr, server.stderr
    for bad in ("two\nlines", "carriage\rreturn"):
        res = force("-f", server.state, "datacenter", "iad", "down", bad)
        assert res.returncode == 2 and "one line" in res.stderr, res
    with open(server.state) as f:
        assert f.read() == "datacenter fra down %s\n" % reason


def test_force_clear_compares_names_as_text(tmp_path):
    """awk would compare numeric-looking fields as numbers: clearing '010'
    must not remove the line for '10'."""
    state = str(tmp_path / "overrides")
    write(state, "datacenter 10 down x\n")
    res = force("-f", state, "clear", "datacenter", "010")
    assert res.returncode == 1, res
    with open(state) as f:
        assert f.read() == "datacenter 10 down x\n"


def test_force_compares_addresses_as_addresses(tmp_path):
    """geodnsd matches an address line however the address is written, so
    the tool must too: clearing or re-forcing 2001:DB8:0::10 replaces the
    line written 2001:db8::10, and nothing else."""
    state = str(tmp_path / "overrides")
    write(state, "address 2001:db8::10 down a\n"
                 "address 2001:db8::1:0:0:10 down b\n"
                 "address 192.0.2.1 down c\n"
                 "address 192.0.2.10 down d\n"
                 "address ::ffff:192.0.2.5 down e\n"
                 "datacenter 2001:db8::10 down f\n")
    res = force("-f", state, "clear", "address", "2001:DB8:0:0:0:0:0:10")
    assert res.returncode == 0, res
    res = force("-f", state, "clear", "address", "::FFFF:c000:205")
    assert res.returncode == 0, res
    res = force("-f", state, "address", "192.0.2.1", "up", "g")
    assert res.returncode == 0, res
    res = force("-f", state, "address", "2001:0db8:0000::0001:0:0:0010",
                "up", "h")
    assert res.returncode == 0, res
    with open(state) as f:
        assert f.read() == ("address 192.0.2.10 down d\n"
                            "datacenter 2001:db8::10 down f\n"
                            "address 192.0.2.1 up g\n"
                            "address 2001:0db8:0000::0001:0:0:0010 up h\n")


def test_force_does_not_take_text_that_is_no_address(tmp_path):
    """Malformed text is not brought to an address (1::2::3 is not
    1:0:0:0:0:2:0:3), so clearing it removes nothing but its own text, and
    forcing it is refused before the file is touched (geodnsd would reject
    the whole file)."""
    state = str(tmp_path / "overrides")
    lines = ("address 1:0:0:0:0:2:0:3 down a\n"
             "address 1:2:3:4:5:6:7:8 down b\n"
             "address 0:1::2 down c\n"
             "address 10.0.0.1 down d\n")
    write(state, lines)
    for bad in ("1::2::3", "::1:2:3:4:5:6:7:8", ":1::2", "010.0.0.1"):
        res = force("-f", state, "clear", "address", bad)
        assert res.returncode == 1, res     # no such line
        res = force("-f", state, "address", bad, "up", "x")
        assert res.returncode == 2, res
        assert "'%s' is not an IPv4 or IPv6 address" % bad in res.stderr
    with open(state) as f:
        assert f.read() == lines


def test_force_clear_of_nothing_fails_and_says_what_there_is(tmp_path):
    """A typo in 'clear' during an incident must not look like success
    while the override stays in force."""
    state = str(tmp_path / "overrides")
    lines = "datacenter fra down m\ndatacenter sin up u\naddress 192.0.2.1 down x\n"
    write(state, lines)
    res = force("-f", state, "clear", "datacenter", "Fra")
    assert res.returncode == 1, res
    assert "geodnsd-force: no override for datacenter 'Fra' in %s (there " \
        "is: fra, sin); nothing changed" % state in res.stderr, res.stderr
    res = force("-f", state, "clear", "address", "192.0.2.2")
    assert res.returncode == 1 and "(there is: 192.0.2.1)" in res.stderr, res
    with open(state) as f:
        assert f.read() == lines
    assert os.listdir(str(tmp_path)) == ["overrides"]   # no temporary left
    res = force("-f", state, "clear", "datacenter", "fra")
    assert res.returncode == 0 and res.stderr == "", res
    missing = str(tmp_path / "none")
    res = force("-f", missing, "clear", "datacenter", "fra")
    assert res.returncode == 1 and "there is" not in res.stderr, res
    assert not os.path.exists(missing)
    # A last line without its newline counts like any other.
    write(state, "datacenter fra down x\ndatacenter sin down y")
    res = force("-f", state, "clear", "datacenter", "nope")
    assert res.returncode == 1, res
    res = force("-f", state, "clear", "datacenter", "sin")
    assert res.returncode == 0, res
    with open(state) as f:
        assert f.read() == "datacenter fra down x\n"


def test_force_new_file_is_0644_whatever_the_umask(tmp_path):
    state = str(tmp_path / "overrides")
    res = force("-f", state, "datacenter", "fra", "down", "test", umask=0o077)
    assert (res.returncode, res.stderr) == (0, ""), res
    assert mode_owner(state) == (0o644, os.geteuid(), os.getegid())
    assert os.listdir(str(tmp_path)) == ["overrides"]


def test_force_keeps_mode_owner_and_group(tmp_path):
    state = str(tmp_path / "overrides")
    write(state, "address 192.0.2.10 down disk\n")
    os.chmod(state, 0o640)
    want = (0o640, os.geteuid(), os.getegid())
    if IS_ROOT:
        pw = pwd.getpwnam("nobody")
        os.chown(state, pw.pw_uid, pw.pw_gid)
        want = (0o640, pw.pw_uid, pw.pw_gid)
    for args in (("datacenter", "fra", "down", "test"),
                 ("clear", "address", "192.0.2.10"),
                 ("clear", "datacenter", "fra")):
        ino = os.stat(state).st_ino
        res = force("-f", state, *args, umask=0o077)
        assert (res.returncode, res.stderr) == (0, ""), (args, res)
        assert mode_owner(state) == want, args
        # Replaced by a rename (readers see the old or the new file, never
        # half of one), and no temporary file is left behind.
        assert os.stat(state).st_ino != ino, args
        assert os.listdir(str(tmp_path)) == ["overrides"], args
    with open(state) as f:
        assert f.read() == ""


def as_nobody():
    """preexec_fn: become nobody (the tests may run as root, who reads
    every file)."""
    pw = pwd.getpwnam("nobody")
    os.setgroups([])
    os.setgid(pw.pw_gid)
    os.setuid(pw.pw_uid)


def test_force_fails_without_touching_what_it_cannot_read():
    """An overrides file the tool cannot read is not replaced by one that
    holds only the new line (the other overrides would be lost)."""
    d = tempfile.mkdtemp(prefix="geodnsd-ovr-")
    try:
        state = os.path.join(d, "overrides")
        write(state, "datacenter iad down keep me\n")
        os.chmod(state, 0o200)
        demote = None
        if IS_ROOT:
            pw = pwd.getpwnam("nobody")
            os.chown(d, pw.pw_uid, pw.pw_gid)
            os.chown(state, pw.pw_uid, pw.pw_gid)
            demote = as_nobody
        res = subprocess.run(["sh", FORCE, "-f", state, "datacenter", "fra",
                              "down", "x"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, universal_newlines=True,
                             timeout=20, stdin=subprocess.DEVNULL,
                             preexec_fn=demote)
        os.chmod(state, 0o644)
        assert res.returncode != 0, res
        with open(state) as f:
            assert f.read() == "datacenter iad down keep me\n"
        assert os.listdir(d) == ["overrides"]
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_daemon_as_nobody_reads_what_root_wrote_with_umask_077():
    """The operator's report: geodnsd runs as nobody, root runs
    geodnsd-force under umask 077; the override must apply."""
    if not IS_ROOT:
        pytest.skip("needs root: geodnsd only drops privileges as root")
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody'")
    require_geodnsd()
    d = tempfile.mkdtemp(prefix="geodnsd-ovr-")
    os.chmod(d, 0o755)
    srv = Server(pathlib.Path(d), user="nobody")
    for path in (srv.zone, srv.config_path):
        os.chmod(path, 0o644)
    try:
        srv.start()
        assert "privdrop: now running as user 'nobody'" in srv.stderr
        res = force("-f", srv.state, "datacenter", "fra", "down", "test",
                    umask=0o077)
        assert res.returncode == 0, res
        assert wait_until(lambda: srv.answer() == ["198.51.100.10"], 5), \
            srv.stderr
        assert "cannot open" not in srv.stderr
    finally:
        srv.kill()
        shutil.rmtree(d, ignore_errors=True)


def test_all_down_policy_changed_by_reload_is_logged(tmp_path):
    """Still all down, but a reload changes what that answers: the last
    log line said otherwise, so a new one says what is answered now."""
    require_geodnsd()
    srv = Server(tmp_path, probe="false")
    srv.start()
    try:
        assert wait_until(lambda: "every datacenter is down; answering "
                          "fail-open" in srv.stderr, 5), srv.stderr
        text = config(srv.port, srv.mport, srv.state, srv.zone, ("fra", "iad"),
                      None, "false")
        srv.write_config(text.replace("  web:\n", "  web:\n    all-down: servfail\n"))
        srv.reload(lambda: srv.query("www.example.com", "A").rcode()
                   == dns.rcode.SERVFAIL)
        assert wait_until(lambda: "service web: every datacenter is down; now "
                          "answering SERVFAIL (all-down changed by the reload)"
                          in srv.stderr, 3), srv.stderr
    finally:
        srv.kill()


def test_fail_open_prefers_live_addresses_below_up_min(tmp_path):
    """Every datacenter is below up-min (all down), but iad still has a live
    address: fail-open answers that one, not fra's dead one 'as if up'."""
    srv = start_web_geo(tmp_path, """datacenters:
  fra: { latitude: 50.11, longitude: 8.68 }
  iad: { latitude: 38.95, longitude: -77.45 }
services:
  web:
    datacenters:
      fra: [ 192.0.2.10 ]
      iad: [ 198.51.100.10, 198.51.100.11 ]
    up-min: 2
    check: { type: exec, command: [ "sh", "-c", "test %a = 198.51.100.10" ],
             interval: 0.2, timeout: 0.1, rise: 1, fall: 1 }
routing:
  default: [ fra, iad ]
""")
    try:
        def answer():
            r = srv.query("www.example.com", "A")
            return sorted(rr.address for s in r.answer for rr in s)
        assert wait_until(lambda: answer() == ["198.51.100.10"], 5), \
            (answer(), srv.stderr[-2000:])
        assert wait_until(lambda: "service web: every datacenter is down"
                          in srv.stderr, 3), srv.stderr
        q = dns.message.make_query("www.example.com.explain.geodnsd.", "TXT",
                                   "CH")
        r = dns.query.tcp(q, "127.0.0.1", port=srv.port, timeout=3)
        lines = [b"".join(rd.strings).decode() for s in r.answer for rd in s]
        assert any(l.startswith("answer A: iad, fail-open (every datacenter "
                                "down; the first with addresses up, fewer "
                                "than up-min: those)") for l in lines), lines
    finally:
        srv.kill()


def test_one_family_down_is_logged_and_shown(tmp_path):
    """Every IPv6 load balancer fails its probe while IPv4 is fine: AAAA
    queries get the all-down policy's answer.  Say so in the log and in
    status.geodnsd, not just 'serving'; and again when it comes back."""
    flag = tmp_path / "v6-down"
    flag.write_text("")
    srv = start_web_geo(tmp_path, """datacenters:
  fra: { latitude: 50.11, longitude: 8.68 }
  iad: { latitude: 38.95, longitude: -77.45 }
services:
  web:
    datacenters:
      fra: [ 192.0.2.10, "2001:db8::10" ]
      iad: [ 198.51.100.10, "2001:db8::20" ]
    check: { type: exec, interval: 0.2, timeout: 0.1, rise: 1, fall: 1,
             command: [ "sh", "-c", "case $0 in *:*) test ! -e %s ;; esac", "%%a" ] }
routing:
  default: [ fra, iad ]
""" % flag)

    def status_line():
        q = dns.message.make_query("web.status.geodnsd.", "TXT", "CH")
        r = dns.query.tcp(q, "127.0.0.1", port=srv.port, timeout=3)
        return [b"".join(rd.strings).decode() for s in r.answer for rd in s][0]
    try:
        assert wait_until(lambda: "service web: no datacenter is up for AAAA; "
                          "AAAA answers fail-open" in srv.stderr, 5), \
            srv.stderr[-2000:]
        assert status_line().endswith(
            "serving; AAAA ALL DOWN: answering fail-open"), status_line()
        assert "every datacenter is down" not in srv.stderr
        flag.unlink()
        assert wait_until(lambda: "service web: up again for AAAA"
                          in srv.stderr, 5), srv.stderr[-2000:]
        assert status_line().endswith(" serving"), status_line()
    finally:
        srv.kill()


def test_check_warns_about_a_state_file_directory_that_is_missing(server):
    """The overrides file may be missing (no overrides), but not its
    directory: geodnsd-force could not create the file there."""
    cfg = server.config_path
    with open(cfg) as f:
        text = f.read()
    missing = os.path.join(os.path.dirname(server.state), "no-such-dir",
                           "overrides")
    with open(cfg, "w") as f:
        f.write(text.replace(server.state, missing))
    res = subprocess.run([GEODNSD, "-c", cfg, "--check"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, timeout=20)
    assert res.returncode == 0 and "1 warning" in res.stdout, res
    assert "warning: state-file '%s': '%s' does not exist, so geodnsd-force " \
        "cannot create the file" % (missing, os.path.dirname(missing)) \
        in res.stderr, res.stderr
    with open(cfg, "w") as f:
        f.write(text)
    res = subprocess.run([GEODNSD, "-c", cfg, "--check"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, timeout=20)
    assert res.returncode == 0 and "state-file" not in res.stderr, res


# ------------------------------------------------- 4. files geodnsd must not misread

IAD = 'service="web",datacenter="iad",address="198.51.100.10"'


def forced(srv, labels=IAD):
    return metric(srv.http("/metrics"), "geodnsd_target_forced", labels)


def test_long_lines_and_hash_in_a_reason(server):
    """Lines were read in 1,024-octet pieces: a long reason or comment
    made the rest of it a line of its own, and the whole file was refused.
    A '#' anywhere ended the line, cutting 'see #4711' to 'see '.  Now a
    comment is a line that starts with '#'."""
    write(server.state, "# " + "c" * 3000 + "\n"
          "address 198.51.100.10 down see #4711, do not undo " + "r" * 3000 + "\n"
          "   # an indented comment\n")
    assert wait_until(lambda: forced(server) == 2, 5), server.stderr
    assert "not applied" not in server.stderr, server.stderr
    st = json.loads(server.http("/status"))
    t = [t for t in st["targets"] if t["address"] == "198.51.100.10"][0]
    assert t["forced_reason"] == ("see #4711, do not undo " + "r" * 3000)[:159]


def test_a_directory_is_not_an_empty_overrides_file(server):
    """fopen() opens a directory and reading it fails: the file read as
    empty, and every override was cleared mid-maintenance."""
    write(server.state, "address 198.51.100.10 down maintenance\n")
    assert wait_until(lambda: forced(server) == 2, 5), server.stderr
    os.unlink(server.state)
    os.mkdir(server.state)
    assert wait_until(lambda: "%s: is a directory, not a file" % server.state
                      in server.stderr, 5), server.stderr
    time.sleep(1.5)
    assert forced(server) == 2, "the override did not stay:\n" + server.stderr
    os.rmdir(server.state)
    assert wait_until(lambda: forced(server) == 0, 5), server.stderr


def test_a_mode_change_alone_is_noticed(server):
    """The watch compared inode, size and mtime: a chmod that makes an
    unreadable file readable again changes only the ctime, and the file
    was never read again."""
    write(server.state, "address 198.51.100.10 down maintenance\n")
    assert wait_until(lambda: forced(server) == 2, 5), server.stderr
    n = server.stderr.count("changed, reading it")
    time.sleep(1.1)   # a ctime the watch has not seen
    os.chmod(server.state, 0o640)
    assert wait_until(lambda: server.stderr.count("changed, reading it") > n,
                      5), server.stderr


def test_rejected_file_keeps_overrides_of_targets_a_reload_remakes(tmp_path):
    """A changed check makes new targets, which start with no override;
    while the file is refused, nothing applied the old ones to them: a
    host drained by the operator came back on a reload, and status still
    said the previous overrides stay."""
    require_geodnsd()
    srv = Server(tmp_path)
    srv.start()
    try:
        write(srv.state, "address 198.51.100.10 down bad NIC\n")
        assert wait_until(lambda: forced(srv) == 2, 5), srv.stderr
        with open(srv.state, "a") as f:
            f.write("address 192.0.2.10 donw typo\n")
        assert wait_until(lambda: "not applied" in srv.stderr, 5), srv.stderr
        srv.probe = "/bin/true"   # another check: new targets
        srv.configure(("fra", "iad"))
        srv.reload(lambda: srv.stderr.count("reload: done") >= 1)
        assert forced(srv) == 2, srv.http("/metrics")
        srv.configure(("iad",))   # iad alone: a forced-down address is not served
        srv.reload(lambda: srv.stderr.count("reload: done") >= 2)
        assert forced(srv) == 2, srv.http("/metrics")
    finally:
        srv.kill()


def test_removing_the_state_file_setting_clears_overrides(server):
    write(server.state, "datacenter fra down maintenance\n")
    fra = 'service="web",datacenter="fra",address="192.0.2.10"'
    assert wait_until(lambda: forced(server, fra) == 2, 5), server.stderr
    with open(server.config_path) as f:
        text = f.read()
    server.write_config("".join(l + "\n" for l in text.splitlines()
                                if "state-file" not in l and
                                l != "healthcheck:"))
    server.reload(lambda: "reload: done" in server.stderr)
    assert wait_until(lambda: forced(server, fra) == 0, 5), server.stderr
    assert "no 'state-file' configured any more: every override is " \
        "cleared" in server.stderr
    assert "192.0.2.10" in server.answer()


def test_probe_verdicts_under_an_override_are_logged(tmp_path):
    """Forced up, a target whose probes failed logged nothing; clearing
    the override then said only 'DOWN (override cleared)'."""
    require_geodnsd()
    flag = tmp_path / "iad-up"
    flag.write_text("")
    probe = tmp_path / "probe.sh"
    probe.write_text("#!/bin/sh\ntest -e %s\n" % flag)
    probe.chmod(0o755)
    srv = Server(tmp_path, probe=str(probe))
    srv.start()
    try:
        write(srv.state, "address 198.51.100.10 up trusted\n")
        assert wait_until(lambda: forced(srv) == 1, 5), srv.stderr
        flag.unlink()
        label = "web/iad 198.51.100.10"
        assert wait_until(lambda: "%s (exec): probes say DOWN (1 failure: " % label
                          in srv.stderr, 5), srv.stderr
        assert "forced up by the operator, so answered as up" in srv.stderr
        write(srv.state, "")
        assert wait_until(lambda: "DOWN (override cleared; probes say down, "
                          "last FAIL: " in srv.stderr, 5), srv.stderr
    finally:
        srv.kill()


def test_force_refuses_a_name_geodnsd_would_refuse(tmp_path):
    """A datacenter name with a space split the line, and geodnsd refused
    the whole file, the lines before it included."""
    state = str(tmp_path / "overrides")
    res = force("-f", state, "datacenter", "fra iad", "down", "x")
    assert res.returncode == 2, res
    assert "'fra iad' is not a datacenter name (1-63 letters, digits, '-' " \
        "or '_')" in res.stderr
    assert not os.path.exists(state)
    res = force("-f", state, "datacenter", "fra_1-b", "down", "see", "#4711")
    assert res.returncode == 0, res
    with open(state) as f:
        assert f.read() == "datacenter fra_1-b down see #4711\n"


def test_a_fifo_neither_blocks_nor_clears(server):
    """fopen() on a FIFO blocks until a writer comes: the event loop,
    and with it every TCP answer, metric and probe, stopped."""
    write(server.state, "address 198.51.100.10 down maintenance\n")
    assert wait_until(lambda: forced(server) == 2, 5), server.stderr
    os.unlink(server.state)
    os.mkfifo(server.state)
    assert wait_until(lambda: "%s: is not a regular file (a FIFO" % server.state
                      in server.stderr, 5), server.stderr
    assert server.query("www.example.com", "A", tcp=True).rcode() == dns.rcode.NOERROR
    assert forced(server) == 2
    os.unlink(server.state)


def test_check_overrides_reads_stdin_and_refuses_huge_lines(server, tmp_path):
    res = subprocess.run([GEODNSD, "-c", server.config_path, "--check-overrides",
                          "/dev/stdin"], input="datacenter fra down maint\n",
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, timeout=20)
    assert res.returncode == 0, res.stderr
    huge = tmp_path / "huge"
    huge.write_text("datacenter fra down " + "x" * 70000 + "\n")
    res = subprocess.run([GEODNSD, "-c", server.config_path, "--check-overrides",
                          str(huge)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, timeout=20)
    assert res.returncode == 1, res
    assert "%s: line 1 is longer than 65536 octets" % huge in res.stderr, res.stderr
    # A line that never ends is not read into memory first: /dev/zero is
    # refused at once (it had grown until memory ran out).
    res = subprocess.run([GEODNSD, "-c", server.config_path, "--check-overrides",
                          "/dev/zero"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, timeout=20)
    assert res.returncode == 1, res
    assert "/dev/zero: line 1 is longer than 65536 octets" in res.stderr, res.stderr
    # A NUL byte would hide the rest of its line from the parser.
    nul = tmp_path / "nul"
    nul.write_bytes(b"datacenter fra down maint\ndatacenter iad down a\0b\n")
    res = subprocess.run([GEODNSD, "-c", server.config_path, "--check-overrides",
                          str(nul)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, timeout=20)
    assert res.returncode == 1, res
    assert "%s:2: NUL byte in the line" % nul in res.stderr, res.stderr
