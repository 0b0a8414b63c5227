"""Broken zones and configurations: `geodnsd --check` must name the file,
the line and the problem; the daemon must refuse to start with them.

Fixtures live in tests/data/badzones/ and tests/data/badconf/.  In them, the
line a problem must be reported at carries the marker "ERROR" (or
"WARNING"); a "FIRST" marker is the earlier line the message must cite
("first at line N"); "ALSO" marks another acceptable line.
"""

import os
import re

import pytest

from conftest import DATA_DIR, ZONES_DIR, run_geodnsd

BADZONES = os.path.join(DATA_DIR, "badzones")
BADCONF = os.path.join(DATA_DIR, "badconf")


def marker_lines(path, marker):
    with open(path) as f:
        return [i for i, line in enumerate(f, 1) if marker in line]


def find_report(stderr, path, message, lines=None, warning=False):
    """The stderr line reporting `message` for `path` ("file:line: ..."),
    at one of `lines` if given.  Returns (line_number, text) or fails."""
    base = re.escape(os.path.basename(path))
    pat = re.compile(r"%s:(\d+): (warning: )?.*%s" % (base, re.escape(message)),
                     re.I)
    candidates = []
    for text in stderr.splitlines():
        m = pat.search(text)
        if not m:
            continue
        candidates.append(text)
        line = int(m.group(1))
        if lines and line not in lines:
            continue
        if bool(m.group(2)) != warning:
            continue
        return line, text
    pytest.fail("expected '%s:%s: %s%s' on stderr;%s got:\n%s" % (
        os.path.basename(path), "/".join(map(str, lines or ["LINE"])),
        "warning: " if warning else "", message,
        " near misses: %r;" % candidates if candidates else "", stderr))


def find_report_any(stderr, paths, message):
    for path in paths:
        base = re.escape(os.path.basename(path))
        pat = re.compile(r"%s:(\d+): .*%s" % (base, re.escape(message)), re.I)
        for text in stderr.splitlines():
            m = pat.search(text)
            if m:
                return int(m.group(1)), text
    pytest.fail("expected 'FILE:LINE: ...%s' (FILE one of %s) on stderr; "
                "got:\n%s" % (message, ", ".join(os.path.basename(p)
                                                  for p in paths), stderr))


def problem_reports(stderr):
    """Lines of stderr that report a problem at a file position."""
    return [l for l in stderr.splitlines() if re.search(r"\S:\d+: ", l)]


def check_config(make_geodnsd, zone_path, name="example.com"):
    srv = make_geodnsd(start=False, zones=[(name, zone_path)])
    return srv, run_geodnsd("-c", srv.config_path, "--check")


# (fixture, message substring); "" = only file:line is checked (ldns text).
ZONE_ERRORS = [
    ("no-soa.zone", "no SOA record at the zone apex"),
    ("two-soa.zone", "more than one SOA record"),
    ("soa-not-apex.zone", "SOA record not at the zone apex"),
    ("no-ns.zone", "no NS records at the zone apex"),
    ("outside.zone", "outside the zone"),
    ("include-missing.zone", "cannot open"),
    ("class-ch.zone", "class CH is not supported"),
    ("class-ch-rdata.zone", "class CH is not supported"),
    ("syntax.zone", "invalid IPv4 address '192.0.2.999'"),
    ("bad-aaaa.zone", "invalid IPv6 address '2001:db8::g'"),
    ("bad-ttl-sign.zone", "invalid TTL '-5'"),
    ("ttl-overflow.zone", "TTL '99999999999' does not fit in 32 bits"),
    ("dname-below.zone", "is below the DNAME at 'dn.example.com.'"),
    ("nul.zone", "NUL byte in line"),
]


@pytest.mark.parametrize("fixture,message", ZONE_ERRORS,
                         ids=[z[0] for z in ZONE_ERRORS])
def test_bad_zone_check(make_geodnsd, fixture, message):
    path = os.path.join(BADZONES, fixture)
    srv, res = check_config(make_geodnsd, path)
    assert res.returncode == 1, "--check exit %d for %s; stderr:\n%s" % (
        res.returncode, fixture, res.stderr)
    lines = marker_lines(path, "ERROR") + marker_lines(path, "ALSO")
    if lines:
        line, text = find_report(res.stderr, path, message, lines)
    else:
        # A whole-zone problem (nothing at the apex) has no line of its
        # own: "zonefile:N: ..." (any N) or the zone's entry in the config
        # ("geodnsd.yaml:N: ...") are both acceptable, a bare "file:" is not.
        line, text = find_report_any(res.stderr, [path, srv.config_path],
                                     message)
    first = marker_lines(path, "FIRST")
    if first:
        assert "first at line %d" % first[0] in text, (
            "expected 'first at line %d' in: %s" % (first[0], text))
    if fixture == "include-missing.zone":
        assert "does-not-exist.inc" in text, text


def test_cname_and_other_data_either_line(make_geodnsd):
    """Reported at the conflicting record's line or at the CNAME's line."""
    path = os.path.join(BADZONES, "cname-and-other.zone")
    srv, res = check_config(make_geodnsd, path)
    assert res.returncode == 1
    find_report(res.stderr, path, "CNAME and other data",
                marker_lines(path, "ERROR") + marker_lines(path, "FIRST"))


def test_missing_glue_is_a_warning(make_geodnsd):
    path = os.path.join(BADZONES, "missing-glue.zone")
    srv, res = check_config(make_geodnsd, path)
    assert res.returncode == 0, "a warning must not fail --check:\n%s" % (
        res.stderr)
    find_report(res.stderr, path, "missing glue",
                marker_lines(path, "WARNING"), warning=True)


def test_duplicate_record_is_a_warning_and_served_once(make_geodnsd):
    """RFC 2181 5: servers should suppress duplicates; Knot and NSD load
    such a zone.  geodnsd refused it, and with it the start or reload."""
    path = os.path.join(BADZONES, "duplicate.zone")
    srv, res = check_config(make_geodnsd, path)
    assert res.returncode == 0, "a warning must not fail --check:\n%s" % (
        res.stderr)
    line, text = find_report(res.stderr, path, "duplicate record",
                             marker_lines(path, "WARNING"), warning=True)
    assert "(first at line %d); served once" % marker_lines(
        path, "FIRST")[0] in text, text
    srv.start()
    r = srv.query("www.example.com", "A")
    assert sorted(rr.address for rrset in r.answer for rr in rrset) == [
        "192.0.2.80", "192.0.2.81"]


def test_missing_zone_file(make_geodnsd, tmp_path):
    missing = str(tmp_path / "no-such-file.zone")
    srv, res = check_config(make_geodnsd, missing)
    assert res.returncode == 1, res.stderr
    # Reported at the line of the configuration that names the file, with
    # the zone.
    with open(srv.config_path) as f:
        line = next(i for i, l in enumerate(f, 1) if "no-such-file.zone" in l)
    assert "%s:%d: zone 'example.com.': file '%s': cannot open: No such " \
        "file or directory" % (srv.config_path, line, missing) \
        in res.stderr, res.stderr


def test_directory_as_zone_file(make_geodnsd, tmp_path):
    zdir = tmp_path / "dir.zone"
    zdir.mkdir()
    srv, res = check_config(make_geodnsd, str(zdir))
    assert res.returncode == 1, res.stderr
    assert "zone 'example.com.': file '%s': is a directory, not a file" \
        % zdir in res.stderr, res.stderr
    assert "no SOA record" not in res.stderr, res.stderr


def fra_config(path, sections):
    """A configuration at path: a listener, the datacenter fra, the given
    YAML sections and the good zone; returns --check's result."""
    path.write_text('server:\n  listen: [ "127.0.0.1@5399" ]\n' + sections +
                    "datacenters:\n  fra: { latitude: 50.1, longitude: 8.7 }\n"
                    "zones:\n  - name: example.com\n    file: %s\n"
                    % os.path.join(BADZONES, "good.zone"))
    return run_geodnsd("-c", str(path), "--check")


def test_special_files_are_refused_not_read(make_geodnsd, tmp_path):
    """A FIFO as a zone file, an $INCLUDE, the networks-file or the GeoIP
    database blocked --check (and a reload) for ever; /dev/zero as a zone
    file grew without bound; /dev/urandom as a networks-file printed
    errors without end; a directory as the networks-file read as empty."""
    fifo = tmp_path / "fifo"
    os.mkfifo(str(fifo))
    srv, res = check_config(make_geodnsd, str(fifo))
    assert res.returncode == 1, res.stderr
    assert "file '%s': is not a regular file (a FIFO, socket or device)" % fifo \
        in res.stderr, res.stderr
    srv, res = check_config(make_geodnsd, "/dev/zero")
    assert res.returncode == 1 and "file '/dev/zero': is not a regular file" \
        in res.stderr, res.stderr
    inc = tmp_path / "inc.zone"
    inc.write_text("$ORIGIN example.com.\n@ 3600 SOA ns1 h 1 2 3 4 5\n@ NS ns1\n"
                   "ns1 A 192.0.2.1\n$INCLUDE %s\n" % fifo)
    srv, res = check_config(make_geodnsd, str(inc))
    assert res.returncode == 1 and "is not a regular file" in res.stderr, res.stderr
    for nets, what in ((str(fifo), "is not a regular file (a FIFO"),
                       ("/dev/urandom", "is not a regular file"),
                       (str(tmp_path), "is a directory, not a file")):
        cfg = tmp_path / "nets.yaml"
        res = fra_config(cfg, "routing:\n  networks-file: %s\n" % nets)
        assert res.returncode == 1, (nets, res.stderr)
        assert "%s:4: 'networks-file' '%s': %s" % (cfg, nets, what) in res.stderr, \
            res.stderr
        assert len(res.stderr) < 2000, "a flood of messages"
    res = fra_config(cfg, "geoip:\n  database: %s\n" % fifo)
    assert res.returncode == 1, res.stderr
    assert "geoip database '%s': is not a regular file" % fifo in res.stderr, res.stderr


def test_good_zone_passes_check(make_geodnsd):
    path = os.path.join(BADZONES, "good.zone")
    srv, res = check_config(make_geodnsd, path)
    assert res.returncode == 0, res.stderr
    assert not problem_reports(res.stderr), res.stderr


def test_standard_zones_pass_check(make_geodnsd):
    srv = make_geodnsd(start=False)
    res = run_geodnsd("-c", srv.config_path, "--check")
    assert res.returncode == 0, res.stderr
    assert not problem_reports(res.stderr), (
        "the standard zones are clean: %s" % res.stderr)
    res = run_geodnsd("-c", srv.config_path, "-t")
    assert res.returncode == 0, "-t is --check:\n%s" % res.stderr


def test_daemon_refuses_to_start_with_bad_zone(make_geodnsd):
    path = os.path.join(BADZONES, "two-soa.zone")
    srv = make_geodnsd(start=False, zones=[("example.com", path)])
    try:
        res = run_geodnsd("-c", srv.config_path, timeout=10)
    except Exception as exc:    # noqa: BLE001 - TimeoutExpired
        pytest.fail("daemon kept running with a broken zone: %s" % exc)
    assert res.returncode != 0, res.stderr
    find_report(res.stderr, path, "more than one SOA record",
                marker_lines(path, "ERROR"))


# ---------------------------------------------------------------- configs

CONF_ERRORS = [
    ("unknown-key.yaml", "unknown key 'foo'"),
    ("wrong-type.yaml", "must be an integer"),
    ("missing-file.yaml", "missing required key 'file'"),
    ("yaml-syntax.yaml", ""),
]


@pytest.mark.parametrize("fixture,message", CONF_ERRORS,
                         ids=[c[0] for c in CONF_ERRORS])
def test_bad_config_check(fixture, message):
    path = os.path.join(BADCONF, fixture)
    res = run_geodnsd("-c", path, "--check")
    assert res.returncode == 1, "--check exit %d for %s:\n%s" % (
        res.returncode, fixture, res.stderr)
    find_report(res.stderr, path, message,
                marker_lines(path, "ERROR") + marker_lines(path, "ALSO"))


def test_bad_config_daemon_exits(tmp_path):
    path = os.path.join(BADCONF, "unknown-key.yaml")
    res = run_geodnsd("-c", path, timeout=10)
    assert res.returncode != 0
    find_report(res.stderr, path, "unknown key 'foo'",
                marker_lines(path, "ERROR"))


def test_missing_config_file(tmp_path):
    missing = str(tmp_path / "nope.yaml")
    for args in (["-c", missing, "--check"], ["-c", missing]):
        res = run_geodnsd(*args, timeout=10)
        assert res.returncode != 0, args
        assert any("cannot open" in l and "nope.yaml" in l
                   for l in res.stderr.splitlines()), res.stderr


def test_good_config_relative_paths():
    """Zone paths are resolved relative to the config file's directory,
    whatever the working directory."""
    res = run_geodnsd("-c", os.path.join(BADCONF, "good.yaml"), "--check")
    assert res.returncode == 0, res.stderr
    assert not problem_reports(res.stderr), res.stderr


def test_version_and_help():
    res = run_geodnsd("--version")
    assert res.returncode == 0
    assert "geodnsd" in (res.stdout + res.stderr).lower()
    res = run_geodnsd("--help")
    assert res.returncode == 0
    assert "-c" in res.stdout + res.stderr


def test_networks_file_reads_long_lines_whole(tmp_path):
    """Read in 4,095-octet pieces, a long comment's tail was parsed as a
    rule of its own (and line numbers after it were off)."""
    nets = tmp_path / "nets.txt"
    nets.write_text("#" + " " * 5000 + "10.0.0.0/8 nosuch\n10.1.0.0/16 bad-dc\n")
    res = fra_config(tmp_path / "g.yaml", "routing:\n  networks-file: %s\n" % nets)
    assert res.returncode == 1, res.stderr
    assert "nosuch" not in res.stderr, res.stderr
    assert "%s:2: unknown datacenter 'bad-dc'" % nets in res.stderr, res.stderr


def test_empty_or_foreign_geoip_file_is_named_as_such(tmp_path):
    for content, what in ((b"", "is an empty file, not a MaxMind database"),
                          (b"just some text\n" * 100,
                           "is not a MaxMind database (no valid metadata at its end)")):
        db = tmp_path / "x.mmdb"
        db.write_bytes(content)
        res = fra_config(tmp_path / "g.yaml", "geoip:\n  database: %s\n" % db)
        assert res.returncode == 1, res.stderr
        assert "geoip database '%s': %s" % (db, what) in res.stderr, res.stderr


def test_geoip_without_datacenters_is_not_passed_over(tmp_path):
    """A geoip database with no datacenters is never read: --check said
    'OK' with only a warning that blamed CAP_DAC_OVERRIDE for a file that
    does not exist."""
    cfg = tmp_path / "g.yaml"
    cfg.write_text('server:\n  listen: [ "127.0.0.1@5399" ]\n'
                   "geoip:\n  database: /nonexistent/GeoIP2-City.mmdb\n"
                   "zones:\n  - name: example.com\n    file: %s\n"
                   % os.path.join(BADZONES, "good.zone"))
    res = run_geodnsd("-c", str(cfg), "--check")
    assert res.returncode == 0, res.stderr
    assert "%s:4: warning: 'geoip' is not used: there are no 'datacenters', so " \
        "the database is not read" % cfg in res.stderr, res.stderr
    assert "CAP_DAC_OVERRIDE" not in res.stderr, res.stderr


def test_an_entry_ldns_would_cut_is_an_error(make_geodnsd, tmp_path):
    """ldns copies an entry's data into a 65,535-character buffer and drops
    the rest: a TXT record of 30,000 strings passed --check and was served
    with 10,922 of them."""
    zone = tmp_path / "big-txt.zone"
    zone.write_text("$ORIGIN example.com.\n$TTL 3600\n@ SOA ns1 h 1 2 3 4 5\n"
                    "@ NS ns1\nns1 A 192.0.2.1\nt TXT " + " ".join(['"abc"'] * 30000)
                    + "\n")
    srv, res = check_config(make_geodnsd, str(zone))
    assert res.returncode == 1, res.stderr
    assert "%s:6: entry of 180005 characters: longer than the 65534 the zone file " \
        "reader takes" % zone in res.stderr, res.stderr


def test_a_datacenter_with_no_addresses_is_an_error(tmp_path):
    """'fra: []' in a service was accepted: a datacenter that is always
    down, whether a mistake or one meant to be left out."""
    res = fra_config(tmp_path / "g.yaml", "services:\n  web:\n    datacenters:\n"
                     "      fra: []\n")
    assert res.returncode == 1, res.stderr
    assert "g.yaml:6: service 'web', datacenter 'fra': no addresses; give some, or " \
        "leave the datacenter out" in res.stderr, res.stderr


def test_a_datacenter_listed_twice_in_an_order_is_a_warning(tmp_path):
    """'default: [iad, iad, fra]' was accepted in silence; the second iad is
    most likely a typo for another datacenter."""
    res = fra_config(tmp_path / "g.yaml", "routing:\n  default: [ fra, fra ]\n")
    assert res.returncode == 0, res.stderr
    assert "g.yaml:4: warning: 'default': datacenter 'fra' is listed twice; the " \
        "second is ignored" in res.stderr, res.stderr


def test_a_refused_last_resort_address_is_one_error(tmp_path):
    """'last-resort: [nope]' also said the service 'needs last-resort
    addresses', for the same mistake."""
    res = fra_config(tmp_path / "g.yaml",
                     "services:\n  web:\n    datacenters:\n      fra: [ 192.0.2.1 ]\n"
                     "    all-down: last-resort\n    last-resort: [ nope ]\n")
    assert res.returncode == 1, res.stderr
    assert "g.yaml:8: service 'web': 'last-resort' 'nope': not an IPv4 or IPv6 " \
        "address" in res.stderr, res.stderr
    assert "needs 'last-resort' addresses" not in res.stderr, res.stderr
    assert "1 error" in res.stdout + res.stderr
