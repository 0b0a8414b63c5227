"""The HTTP endpoint: Prometheus /metrics and JSON /status reflect queries,
geo answers, probes and overrides.  Loopback only; bounded waits."""

import json
import re
import signal
import socket
import time
import urllib.request

import dns.rcode
import pytest

from conftest import (WEB_GEO_ZONE, Geodnsd, free_port, metric, require_geodnsd,
                      start_web_geo,
                      wait_until, yaml_str)


def get(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=3) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


@pytest.fixture
def server(tmp_path):
    require_geodnsd()
    mport = free_port()
    zone = tmp_path / "example.com.zone"
    zone.write_text(WEB_GEO_ZONE)
    overrides = tmp_path / "overrides"
    srv = Geodnsd(tmp_path / "srv", zones=[])
    srv.write_config("""server:
  listen: [ "127.0.0.1@%d" ]
metrics:
  listen: 127.0.0.1@%d
healthcheck:
  state-file: %s
datacenters:
  fra: { latitude: 50.11, longitude: 8.68 }
  iad: { latitude: 38.95, longitude: -77.45 }
services:
  web:
    datacenters:
      fra: [ 192.0.2.10 ]
      iad: [ 198.51.100.10 ]
    check: { type: exec, command: [ "true" ], interval: 0.2, timeout: 0.1, rise: 1, fall: 1 }
routing:
  default: [ fra, iad ]
zones:
  - name: example.com
    file: %s
""" % (srv.port, mport, yaml_str(str(overrides)), yaml_str(str(zone))))
    srv.first_zone = "example.com"
    srv.start()
    srv.metrics_port = mport
    srv.overrides = overrides
    yield srv
    srv.kill()


def test_metrics_count_queries_answers_and_probes(server):
    for _ in range(5):
        assert server.query("www.example.com", "A").answer
    server.query("nope.example.com", "A")
    server.query("www.example.com", "TXT")
    for qtype in ("AXFR", "IXFR", "ANY"):
        server.query("example.com", qtype, tcp=True)
    # Probes run every 0.2 s: wait until every target has two results.
    def probed_twice():
        t = get(server.metrics_port, "/metrics")[2]
        return all((metric(t, "geodnsd_probe_ok_total", lbl) or 0) >= 2 for lbl in (
            'service="web",datacenter="fra",address="192.0.2.10"',
            'service="web",datacenter="iad",address="198.51.100.10"'))
    assert wait_until(probed_twice, 5), "probes never counted"
    status, ctype, text = get(server.metrics_port, "/metrics")
    assert status == 200 and ctype.startswith("text/plain")
    assert metric(text, "geodnsd_responses_total", 'rcode="NOERROR"') >= 6
    assert metric(text, "geodnsd_responses_total", 'rcode="NXDOMAIN"') == 1
    assert metric(text, "geodnsd_queries_total", 'qtype="A"') >= 6
    assert metric(text, "geodnsd_queries_total", 'qtype="TXT"') == 1
    for qtype in ("AXFR", "IXFR", "ANY"):     # named, not TYPE252
        assert metric(text, "geodnsd_queries_total", 'qtype="%s"' % qtype) == 1, text
    assert metric(text, "geodnsd_responses_total", 'rcode="REFUSED"') == 2
    # Every rcode geodnsd sends has a series from the start, at 0.
    for rcode in ("SERVFAIL", "FORMERR", "NOTIMP", "YXDOMAIN", "BADVERS",
                  "BADCOOKIE"):
        assert metric(text, "geodnsd_responses_total",
                      'rcode="%s"' % rcode) == 0, text
    assert metric(text, "geodnsd_responses_total", 'rcode="NOTAUTH"') is None
    assert metric(text, "geodnsd_geo_answers_total", 'service="web",datacenter="fra"') == 5
    assert metric(text, "geodnsd_geo_answers_total", 'service="web",datacenter="iad"') == 0
    fra = 'service="web",datacenter="fra",address="192.0.2.10"'
    assert metric(text, "geodnsd_target_up", fra) == 1
    assert metric(text, "geodnsd_probe_failed_total", fra) == 0
    assert metric(text, "geodnsd_probe_duration_seconds_count", fra) >= 2
    assert metric(text, "geodnsd_datacenter_up", 'service="web",datacenter="fra"') == 1
    assert metric(text, "geodnsd_service_all_down",
                  'service="web",policy="fail-open"') == 0
    assert metric(text, "geodnsd_dataset_generation") == 1
    assert "# TYPE geodnsd_target_up gauge" in text


def test_status_is_utf8_when_a_reason_is_cut_inside_a_character(server):
    """A reason is kept to 159 octets, which can end inside a multi-octet
    character: /status then was not UTF-8, and a JSON parser rejected the
    whole document.  Such an octet is sent as U+FFFD."""
    server.overrides.write_bytes(("address 198.51.100.10 down " + "x" * 158 +
                                  "\u2013 and more\n").encode())

    def forced():
        t = get(server.metrics_port, "/metrics")[2]
        return metric(t, "geodnsd_target_forced",
                      'service="web",datacenter="iad",address="198.51.100.10"') == 2
    assert wait_until(forced, 5), get(server.metrics_port, "/metrics")[2]
    with urllib.request.urlopen("http://127.0.0.1:%d/status" % server.metrics_port,
                                timeout=3) as r:
        raw = r.read()
    st = json.loads(raw.decode("utf-8"))   # strict: fails on a stray octet
    t = [t for t in st["targets"] if t["address"] == "198.51.100.10"][0]
    assert t["forced_reason"] == "x" * 158 + "\ufffd", t["forced_reason"]


def test_overrides_show_in_metrics_and_status(server):
    server.overrides.write_text("datacenter fra down maintenance window\n"
                                "address 198.51.100.10 up trusted\n")
    fra_dc = 'service="web",datacenter="fra"'
    iad = 'service="web",datacenter="iad",address="198.51.100.10"'

    def applied():
        # Both lines in force, and iad's target probed at least once.
        t = get(server.metrics_port, "/metrics")[2]
        return (metric(t, "geodnsd_datacenter_up", fra_dc) == 0 and
                metric(t, "geodnsd_target_forced", iad) == 1 and
                (metric(t, "geodnsd_probe_ok_total", iad) or 0) >= 1)
    assert wait_until(applied, 5), get(server.metrics_port, "/metrics")[2]
    r = server.query("www.example.com", "A")
    assert [rr.address for rr in r.answer[0]] == ["198.51.100.10"]
    text = get(server.metrics_port, "/metrics")[2]
    assert metric(text, "geodnsd_target_forced", iad) == 1
    # A datacenter override applies to its targets: the HELP text says
    # "overrides applied", and fra's address is not answered.
    fra = 'service="web",datacenter="fra",address="192.0.2.10"'
    assert metric(text, "geodnsd_target_up", fra) == 0, text
    assert metric(text, "geodnsd_target_forced", fra) == 2, text
    assert metric(text, "geodnsd_target_up", iad) == 1
    status, ctype, body = get(server.metrics_port, "/status")
    assert status == 200 and ctype == "application/json"
    st = json.loads(body)
    assert st["generation"] == 1
    web = [s for s in st["services"] if s["name"] == "web"][0]
    dcs = {d["name"]: d for d in web["datacenters"]}
    assert dcs["fra"]["up"] is False and dcs["iad"]["up"] is True
    t = [t for t in st["targets"] if t["address"] == "198.51.100.10"][0]
    assert t["forced"] == "up" and t["forced_reason"] == "trusted"
    assert t["forced_by"] == "address"
    assert t["up"] is True and t["probes_ok"] >= 1
    t = [t for t in st["targets"] if t["address"] == "192.0.2.10"][0]
    assert (t["up"], t["probes_say_up"], t["forced"], t["forced_by"]) == (
        False, True, "down", "datacenter"), t
    assert t["forced_reason"] == "datacenter fra: maintenance window", t
    # Cleared: back to what the probes say.
    server.overrides.write_text("")
    ok = wait_until(lambda: metric(get(server.metrics_port, "/metrics")[2],
                                   "geodnsd_target_up", fra) == 1, 5)
    assert ok, "target still down after the override was cleared"
    text = get(server.metrics_port, "/metrics")[2]
    assert metric(text, "geodnsd_target_forced", fra) == 0
    t = [t for t in json.loads(get(server.metrics_port, "/status")[2])[
        "targets"] if t["address"] == "192.0.2.10"][0]
    assert (t["up"], t["forced"], t["forced_by"]) == (True, "none", None), t


def test_reload_counted(server):
    server.send_signal(__import__("signal").SIGHUP)
    ok = wait_until(lambda: metric(get(server.metrics_port, "/metrics")[2],
                                   "geodnsd_reloads_total", 'result="ok"') == 1, 5)
    assert ok
    assert metric(get(server.metrics_port, "/metrics")[2], "geodnsd_dataset_generation") == 2


def test_zone_serials_and_the_last_reload(server, tmp_path):
    """Each zone's serial and record count, whether the last reload
    failed, and when the data served was loaded: what an alert on a stale
    or broken deployment needs."""
    def scrape():
        return get(server.metrics_port, "/metrics")[2]
    z = 'zone="example.com."'
    t = scrape()
    assert metric(t, "geodnsd_zone_serial", z) == 1, t
    assert metric(t, "geodnsd_zone_records", z) == 3, t   # SOA, NS, A
    assert metric(t, "geodnsd_reload_last_failed") == 0, t
    loaded = metric(t, "geodnsd_reload_last_success_timestamp_seconds")
    assert abs(loaded - time.time()) < 60, t
    zone = tmp_path / "example.com.zone"
    time.sleep(1.1)    # whole seconds
    zone.write_text(WEB_GEO_ZONE.replace(" 1 7200", " 2 7200")
                    + "extra A 192.0.2.7\n")
    server.send_signal(signal.SIGHUP)
    assert wait_until(lambda: metric(scrape(), "geodnsd_zone_serial", z) == 2, 5)
    t = scrape()
    assert metric(t, "geodnsd_zone_records", z) == 4, t
    assert metric(t, "geodnsd_reload_last_success_timestamp_seconds") > loaded
    loaded = metric(t, "geodnsd_reload_last_success_timestamp_seconds")
    zone.write_text(WEB_GEO_ZONE.replace(" 1 7200", " 3 7200")
                    + "broken A 192.0.2.999\n")
    server.send_signal(signal.SIGHUP)
    assert wait_until(lambda: metric(scrape(), "geodnsd_reload_last_failed") == 1, 5)
    t = scrape()
    assert metric(t, "geodnsd_zone_serial", z) == 2, t
    assert metric(t, "geodnsd_reload_last_success_timestamp_seconds") == loaded


def geo_config(port, mport, zone, dcs, services, default):
    """A configuration with datacenters and services in the given order
    (the order is what moves counter positions around)."""
    coords = {"fra": (50.11, 8.68), "iad": (38.95, -77.45),
              "sin": (1.35, 103.99)}
    addrs = {"fra": "192.0.2.10", "iad": "198.51.100.10",
             "sin": "203.0.113.10"}
    text = ["server:", '  listen: [ "127.0.0.1@%d" ]' % port,
            "metrics:", "  listen: 127.0.0.1@%d" % mport, "datacenters:"]
    text += ["  %s: { latitude: %s, longitude: %s }" % ((dc,) + coords[dc])
             for dc in dcs]
    text.append("services:")
    for name, members in services:
        text += ["  %s:" % name, "    datacenters:"]
        text += ["      %s: [ %s ]" % (dc, addrs[dc]) for dc in members]
    text += ["routing:", "  default: [ %s ]" % ", ".join(default),
             "zones:", "  - name: example.com", "    file: %s" % yaml_str(zone)]
    return "\n".join(text) + "\n"


def test_geo_answer_counters_follow_names_across_reloads(tmp_path):
    """Counters belong to a (service, datacenter) name pair: a reload that
    reorders the datacenters and services, and adds new ones in front,
    leaves every pair's count where it was and counts on from there."""
    require_geodnsd()
    mport = free_port()
    zone = tmp_path / "example.com.zone"
    zone.write_text(WEB_GEO_ZONE + "api  60 IN GEO api\n")
    srv = Geodnsd(tmp_path / "srv", zones=[])
    srv.write_config(geo_config(srv.port, mport, str(zone), ["fra", "iad"],
                                [("web", ["fra", "iad"]), ("api", ["iad"])],
                                ["fra", "iad"]))
    srv.first_zone = "example.com"
    srv.start()
    try:
        for _ in range(5):
            assert srv.query("www.example.com", "A").answer
        for _ in range(2):
            assert srv.query("api.example.com", "A").answer
        text = get(mport, "/metrics")[2]
        web_fra = 'service="web",datacenter="fra"'
        web_iad = 'service="web",datacenter="iad"'
        api_iad = 'service="api",datacenter="iad"'
        assert metric(text, "geodnsd_geo_answers_total", web_fra) == 5
        assert metric(text, "geodnsd_geo_answers_total", api_iad) == 2
        # New order: sin first, services swapped, iad preferred.
        srv.write_config(geo_config(
            srv.port, mport, str(zone), ["sin", "iad", "fra"],
            [("api", ["sin", "iad"]), ("web", ["iad", "fra", "sin"])],
            ["iad", "fra", "sin"]))
        srv.reload(lambda: metric(get(mport, "/metrics")[2],
                                  "geodnsd_dataset_generation") == 2)
        for _ in range(3):
            r = srv.query("www.example.com", "A")
            assert [rr.address for rr in r.answer[0]] == ["198.51.100.10"]
        text = get(mport, "/metrics")[2]
        assert metric(text, "geodnsd_geo_answers_total", web_fra) == 5, text
        assert metric(text, "geodnsd_geo_answers_total", web_iad) == 3, text
        assert metric(text, "geodnsd_geo_answers_total", api_iad) == 2, text
        assert metric(text, "geodnsd_geo_answers_total",
                      'service="api",datacenter="sin"') == 0, text
        assert metric(text, "geodnsd_geo_answers_total",
                      'service="web",datacenter="sin"') == 0, text
    finally:
        srv.kill()


def test_rejected_overrides_file_is_visible(server):
    """A typo makes the whole overrides file rejected (the previous
    overrides stay): not only in the log, but in status.geodnsd, /metrics
    and /status, until a good file is read."""
    server.overrides.write_text("datacenter fra down maint\n")
    fra = 'service="web",datacenter="fra",address="192.0.2.10"'
    assert wait_until(lambda: metric(get(server.metrics_port, "/metrics")[2],
                                     "geodnsd_target_forced", fra) == 2, 5)
    assert metric(get(server.metrics_port, "/metrics")[2],
                  "geodnsd_overrides_rejected") == 0
    server.overrides.write_text("datacenter fra down maint\n"
                                "address 198.51.100.10 donw typo\n")
    assert wait_until(lambda: metric(get(server.metrics_port, "/metrics")[2],
                                     "geodnsd_overrides_rejected") == 1, 5)
    r = server.query("status.geodnsd", "TXT", rdclass="CH", tcp=True)
    lines = [b"".join(rd.strings).decode() for s in r.answer for rd in s]
    bad = [l for l in lines if "NOT APPLIED" in l]
    assert len(bad) == 1 and ("%s:2: " % server.overrides) in bad[0] and \
        bad[0].endswith("; the overrides before it stay"), lines
    rejected = json.loads(get(server.metrics_port, "/status")[2])[
        "overrides_rejected"]
    assert rejected["error"].startswith("%s:2: " % server.overrides), rejected
    # The previous overrides still apply.
    assert metric(get(server.metrics_port, "/metrics")[2],
                  "geodnsd_target_forced", fra) == 2
    server.overrides.write_text("")
    assert wait_until(lambda: metric(get(server.metrics_port, "/metrics")[2],
                                     "geodnsd_overrides_rejected") == 0, 5)
    assert json.loads(get(server.metrics_port, "/status")[2])[
        "overrides_rejected"] is None


def test_ready_line_counts_the_probed_targets(server):
    assert re.search(r"geodnsd \S+ ready: 1 zone, 2 health targets",
                     server.stderr), server.stderr


def test_all_down_is_logged_for_any_service(tmp_path):
    """The all-down log covers every service, not the first 256 only."""
    lines = ["datacenters:", "  fra: { latitude: 50.11, longitude: 8.68 }",
             "services:"]
    for i in range(300):
        lines += ["  s%03d:" % i, "    datacenters:",
                  "      fra: [ 192.0.2.%d ]" % (i % 250 + 1)]
    lines += ['    check: { type: exec, command: [ "false" ], interval: 0.2, '
              "timeout: 0.1, rise: 1, fall: 1 }",
              "  web:", "    datacenters:", "      fra: [ 192.0.2.10 ]"]
    srv = start_web_geo(tmp_path, "\n".join(lines) + "\n")
    try:
        assert wait_until(lambda: "service s299: every datacenter is down"
                          in srv.stderr, 5), srv.stderr[-2000:]
    finally:
        srv.kill()


def test_metrics_port_in_use_names_the_reason(tmp_path):
    """A metrics address already taken fails the start with the reason,
    as the DNS listeners do."""
    require_geodnsd()
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        zone = tmp_path / "example.com.zone"
        zone.write_text(WEB_GEO_ZONE)
        srv = Geodnsd(tmp_path / "srv", zones=[])
        srv.write_config("""server:
  listen: [ "127.0.0.1@%d" ]
metrics:
  listen: 127.0.0.1@%d
datacenters:
  fra: { latitude: 50.11, longitude: 8.68 }
services:
  web:
    datacenters:
      fra: [ 192.0.2.10 ]
zones:
  - name: example.com
    file: %s
""" % (srv.port, taken.getsockname()[1], yaml_str(str(zone))))
        srv.start(wait=False)
        assert srv.proc.wait(timeout=20) == 1, srv.stderr
        assert "metrics: cannot listen on 127.0.0.1@%d: Address already in " \
            "use" % taken.getsockname()[1] in srv.stderr, srv.stderr
    finally:
        taken.close()
