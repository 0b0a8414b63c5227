"""Differential test: geodnsd's geo routing against gdnsd 3's geoip plugin.

Both servers get the same test GeoIP2 City database (tools/make-test-mmdb),
the same three datacenters and the same geo-routed name, www.example.com.
Every network in the database (16 named ones, 400 IPv4 /24s, 50 IPv6 /48s),
a few addresses outside it, IPv4-mapped and 6to4 clients and clients given
only by the packet source address are asked for www.example.com A, and the
answer address tells which datacenter each server chose.

What is checked:
- gdnsd agrees with the reference model in this file (nearest datacenter by
  great-circle distance, ties and clients without coordinates to the first
  datacenter in declared order).  This proves the harness and the database
  before geodnsd is compared with anything.
- geodnsd chooses the same datacenter as gdnsd for every client, except
  those in DELIBERATE_DIFFERENCES (with the reason: ECS source prefix 0)
  and near-ties (two datacenters within NEAR_TIE_KM, where rounding may
  decide; the database has none).
- geodnsd's ECS scope is the prefix length of the MMDB network that matched
  (its specification).  gdnsd does not do this: it returns the widest
  supernet with the same datacenter list (see GDNSD_BEHAVIOUR.md), so scopes
  are not compared between the two.

Each check runs twice: with the datacenters declared fra, iad, sin and
reversed, so that "declared order" and "nearest to (0, 0)" (which is fra)
cannot be confused.  What gdnsd does is described in GDNSD_BEHAVIOUR.md next
to this file.  Traffic goes to 127.0.0.1 only; ECS addresses are data.
"""

import collections
import csv
import ipaddress
import math
import os
import time

import dns.edns
import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from conftest import (make_test_mmdbs, skip_without_mmdb_writer,
                      GEODNSD, QUERY_TIMEOUT, DnsServer,
                      require_geodnsd, yaml_str)

GDNSD = os.environ.get("GDNSD") or "/usr/sbin/gdnsd"


if not (os.path.isfile(GDNSD) and os.access(GDNSD, os.X_OK)):
    pytest.skip("gdnsd not installed (%s; apt-get install gdnsd): geo "
                "differential test skipped" % GDNSD, allow_module_level=True)
skip_without_mmdb_writer()

QNAME = "www.example.com."

# name, latitude, longitude, the address the service answers there.
DATACENTERS = {
    "fra": (50.11, 8.68, "192.0.2.10"),
    "iad": (38.95, -77.45, "198.51.100.10"),
    "sin": (1.35, 103.99, "203.0.113.10"),
}
ADDR2DC = {v[2]: k for k, v in DATACENTERS.items()}
ORDERS = {
    "declared": ("fra", "iad", "sin"),
    "reversed": ("sin", "iad", "fra"),
}

# Two datacenters closer than this to a client's second choice count as a
# near-tie: another correct implementation may round the other way.
NEAR_TIE_KM = 1.0
EARTH_RADIUS_KM = 6371.0

# The only tolerated differences in the chosen datacenter, by case label
# (see cases()), and why.  Clients without coordinates need no entry:
# gdnsd 3.8.1 sends them to the declared order, as geodnsd's spec does.
ECS_ZERO = ("ECS source prefix 0: geodnsd takes it as 'no tailoring' "
            "(RFC 7871 7.1.2) and answers in the default order with scope "
            "0; gdnsd looks up the packet source address instead (also "
            "scope 0).  Checked by test_geodnsd_ecs_source_zero.")
DELIBERATE_DIFFERENCES = {
    "ecs 0.0.0.0/0 from 127.0.3.1": ECS_ZERO,
    "ecs 0.0.0.0/0 from 127.0.6.1": ECS_ZERO,
}

# Scopes geodnsd need not match: cases whose client is not a native network
# of the database.  Keyed by case kind.
SCOPE_NOT_SPECIFIED = {
    "missing": "no MMDB network: the spec does not say which scope to use",
    "mapped": "IPv4-mapped ECS (family 2): the scope is in IPv6 bits",
    "6to4": "6to4 ECS: the scope is in IPv6 bits",
    "source": "no ECS option in the query, so none in the answer",
    "ecs0": "ECS source /0: scope 0, see test_geodnsd_ecs_source_zero",
}


# ---------------------------------------------------------------- model

def great_circle_km(lat1, lon1, lat2, lon2):
    """Haversine distance (what gdnsd's libgdmaps/dclists.c uses)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dlat, dlon = p2 - p1, math.radians(lon2 - lon1)
    a = (math.sin(dlat / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(dlon / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * math.atan2(math.sqrt(a), math.sqrt(1 - a))


def expected_dc(location, order):
    """(datacenter, near_tie) for a client: the nearest datacenter, ties to
    the earlier one in declared order; without coordinates, the first."""
    if location is None:
        return order[0], False
    dists = [(great_circle_km(location[0], location[1], *DATACENTERS[n][:2]),
              i, n) for i, n in enumerate(order)]
    dists.sort()
    return dists[0][2], dists[1][0] - dists[0][0] < NEAR_TIE_KM


# ---------------------------------------------------------------- cases

Case = collections.namedtuple(
    "Case", "label kind ecs source plen location")
# kind: "net" (a native database network), "missing" (not in the database),
# "mapped", "6to4", "source" (no ECS: the packet source address decides),
# "ecs0" (ECS source prefix 0).  ecs: (address, source prefix) or None.
# plen: prefix length of the matching MMDB network, None if none.


def read_manifest(path):
    """Rows of city-networks.tsv as (network, location or None)."""
    out = []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            loc = None
            if row["latitude"]:
                loc = (float(row["latitude"]), float(row["longitude"]))
            out.append((ipaddress.ip_network(row["network"]), loc))
    return out


def cases(manifest):
    """Every query of the test, in a fixed order."""
    out = []
    by_net = dict(manifest)

    def loc_of(addr):
        ip = ipaddress.ip_address(addr)
        hits = [n for n in by_net if n.version == ip.version and ip in n]
        return (hits[0].prefixlen, by_net[hits[0]]) if hits else (None, None)

    for net, loc in manifest:
        src = max(net.prefixlen, 24 if net.version == 4 else 48)
        addr = str(net.network_address)
        out.append(Case("ecs %s/%d" % (addr, src), "net", (addr, src),
                        "127.0.0.1", net.prefixlen, loc))
    for addr, src in (("100.127.255.0", 24), ("100.64.0.0", 10),
                      ("127.0.6.7", 32), ("198.51.100.200", 32)):
        plen, loc = loc_of(addr)
        out.append(Case("ecs %s/%d" % (addr, src), "net", (addr, src),
                        "127.0.0.1", plen, loc))
    for addr, src in (("127.0.0.0", 24), ("127.0.8.0", 24),
                      ("127.255.255.0", 24), ("192.0.3.0", 24),
                      ("2001:db8:5::", 48), ("2001:db8:ffff::", 48)):
        assert loc_of(addr) == (None, None), addr
        out.append(Case("ecs %s/%d" % (addr, src), "missing", (addr, src),
                        "127.0.0.1", None, None))
    for v4, src in (("127.0.1.0", 24), ("127.0.3.0", 24), ("127.0.4.0", 24),
                    ("127.0.0.0", 24), ("192.0.2.0", 24),
                    ("198.51.100.128", 25)):
        plen, loc = loc_of(v4)
        out.append(Case("ecs ::ffff:%s/%d" % (v4, 96 + src), "mapped",
                        ("::ffff:" + v4, 96 + src), "127.0.0.1", plen, loc))
        packed = ipaddress.ip_address(v4).packed
        six = ipaddress.ip_address(b"\x20\x02" + packed + bytes(10))
        out.append(Case("ecs %s/%d" % (six, 16 + src), "6to4",
                        (str(six), 16 + src), "127.0.0.1", plen, loc))
    for i in range(0, 9):
        src = "127.0.%d.1" % i
        plen, loc = loc_of(src)
        out.append(Case("source %s" % src, "source", None, src, plen, loc))
    for src in ("127.0.3.1", "127.0.6.1"):
        plen, loc = loc_of(src)
        out.append(Case("ecs 0.0.0.0/0 from %s" % src, "ecs0",
                        ("0.0.0.0", 0), src, plen, loc))
    return out


# ---------------------------------------------------------------- servers

Reply = collections.namedtuple("Reply", "rcode addrs scope")


class Gdnsd(DnsServer):
    """gdnsd 3 with plugin_geoip in city-auto mode, in the foreground."""

    name = "gdnsd"

    def __init__(self, workdir, mmdb, order):
        super().__init__(workdir)
        self.confdir = os.path.join(self.workdir, "etc")
        os.makedirs(os.path.join(self.confdir, "zones"), exist_ok=True)
        coords = "\n".join("          %s => [ %r, %r ]"
                           % (n, DATACENTERS[n][0], DATACENTERS[n][1])
                           for n in order)
        dcmap = "\n".join("          %s => %s" % (n, DATACENTERS[n][2])
                          for n in order)
        config = """options => {
  listen => [ 127.0.0.1:%(port)d ]
  run_dir => %(dir)s/run
  state_dir => %(dir)s/state
  udp_threads => 1
  tcp_threads => 1
  edns_client_subnet => true
}
plugins => {
  geoip => {
    maps => {
      geo => {
        geoip2_db => %(mmdb)s
        datacenters => [ %(order)s ]
        auto_dc_coords => {
%(coords)s
        }
      }
    }
    resources => {
      web => {
        map => geo
        dcmap => {
%(dcmap)s
        }
      }
    }
  }
}
""" % {"port": self.port, "dir": self.workdir, "mmdb": mmdb,
       "order": ", ".join(order), "coords": coords, "dcmap": dcmap}
        with open(os.path.join(self.confdir, "config"), "w") as f:
            f.write(config)
        with open(os.path.join(self.confdir, "zones", "example.com"),
                  "w") as f:
            f.write(ZONE_HEAD + "www 60 DYNA geoip!web\n")

    def argv(self):
        return [GDNSD, "-c", self.confdir, "start"]


class GeoGeodnsd(DnsServer):
    """geodnsd with a geo-routed service (the syntax being implemented)."""

    name = "geodnsd"

    def __init__(self, workdir, mmdb, order):
        super().__init__(workdir)
        self.config_path = os.path.join(self.workdir, "geodnsd.yaml")
        lines = ["server:",
                 '  listen: [ "127.0.0.1@%d" ]' % self.port,
                 "geoip:",
                 "  database: %s" % yaml_str(mmdb),
                 "datacenters:"]
        lines += ["  %s: { latitude: %r, longitude: %r }"
                  % (n, DATACENTERS[n][0], DATACENTERS[n][1]) for n in order]
        lines += ["services:", "  web:", "    datacenters:"]
        lines += ["      %s: [ %s ]" % (n, DATACENTERS[n][2]) for n in order]
        lines += ["zones:", "  - name: example.com",
                  "    file: example.com.zone"]
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines) + "\n")
        with open(os.path.join(self.workdir, "example.com.zone"), "w") as f:
            f.write("$ORIGIN example.com.\n" + ZONE_HEAD
                    + "www 60 IN GEO web\n")

    def argv(self):
        return [GEODNSD, "-c", self.config_path]


ZONE_HEAD = """$TTL 300
@   IN SOA ns1.example.com. hostmaster.example.com. 1 7200 3600 1209600 300
@   IN NS ns1.example.com.
@   IN NS ns2.example.com.
ns1 IN A 127.0.0.1
ns2 IN A 127.0.0.2
"""


def ask(server, case, timeout=QUERY_TIMEOUT):
    """One A query for QNAME as the case describes; a Reply."""
    options = []
    if case.ecs is not None:
        options.append(dns.edns.ECSOption(case.ecs[0], case.ecs[1], 0))
    q = dns.message.make_query(QNAME, "A", use_edns=0, payload=1232,
                               options=options, flags=0)
    r = dns.query.udp(q, server.host, port=server.port, timeout=timeout,
                      source=case.source, ignore_unexpected=True)
    addrs = sorted(rd.address for rrset in r.answer
                   if rrset.rdtype == dns.rdatatype.A for rd in rrset)
    scope = None
    for opt in r.options:
        if opt.otype == dns.edns.ECS:
            scope = opt.scopelen
    return Reply(dns.rcode.to_text(r.rcode()), tuple(addrs), scope)


def ask_all(server, all_cases, budget=120.0):
    """Replies to every case, by label.  Bounded: a timeout is retried once,
    three timeouts in a row or the time budget end the run with a failure."""
    replies, misses = {}, 0
    deadline = time.monotonic() + budget
    for case in all_cases:
        for attempt in (1, 2):
            try:
                replies[case.label] = ask(server, case)
                misses = 0
                break
            except dns.exception.Timeout:
                misses += 1
                if misses >= 3 or not server.running():
                    pytest.fail("%s stopped answering at %r; stderr:\n%s"
                                % (server.name, case.label, server.stderr))
        else:
            pytest.fail("%s: no reply to %r" % (server.name, case.label))
        if time.monotonic() > deadline:
            pytest.fail("%s: %d queries took over %.0f s"
                        % (server.name, len(all_cases), budget))
    return replies


def chosen_dc(reply):
    """The datacenter an answer names, or a description of what is wrong."""
    if reply.rcode != "NOERROR":
        return "rcode %s" % reply.rcode
    dcs = {ADDR2DC.get(a, "unknown address " + a) for a in reply.addrs}
    if len(dcs) != 1:
        return "answer %s" % (list(reply.addrs) or "empty")
    return dcs.pop()


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def mmdb_dir(tmp_path_factory):
    """The test databases, generated by tools/make-test-mmdb."""
    return make_test_mmdbs(tmp_path_factory.mktemp("mmdb"))


@pytest.fixture(scope="module")
def all_cases(mmdb_dir):
    return cases(read_manifest(os.path.join(mmdb_dir, "city-networks.tsv")))


@pytest.fixture(scope="module", params=sorted(ORDERS))
def order(request):
    """The datacenter declaration order both servers get."""
    return ORDERS[request.param]


def start_server(cls, tmp_path_factory, mmdb_dir, order):
    srv = cls(tmp_path_factory.mktemp(cls.name),
              os.path.join(mmdb_dir, "city.mmdb"), order)
    srv.start(wait=False)
    return srv


@pytest.fixture(scope="module")
def gdnsd_replies(tmp_path_factory, mmdb_dir, order, all_cases):
    """gdnsd's reply to every case, by label."""
    srv = start_server(Gdnsd, tmp_path_factory, mmdb_dir, order)
    try:
        srv.wait_ready()
        yield ask_all(srv, all_cases)
    finally:
        srv.kill()


@pytest.fixture(scope="module")
def geodnsd_replies(tmp_path_factory, mmdb_dir, order, all_cases):
    """geodnsd's reply to every case, by label.  Fails (never skips) when
    geodnsd does not start with the geo configuration."""
    require_geodnsd()
    srv = start_server(GeoGeodnsd, tmp_path_factory, mmdb_dir, order)
    try:
        try:
            srv.wait_ready()
        except AssertionError as e:
            with open(srv.config_path) as f:
                config = f.read()
            pytest.fail("geodnsd did not serve the geo configuration (geo "
                        "routing not implemented yet?):\n%s\nconfig:\n%s"
                        % (e, config))
        yield ask_all(srv, all_cases)
    finally:
        srv.kill()


# ---------------------------------------------------------------- tests

def test_cases_cover_the_database(all_cases):
    kinds = collections.Counter(c.kind for c in all_cases)
    assert kinds["net"] >= 466, kinds
    assert len({c.label for c in all_cases}) == len(all_cases)
    located = [c for c in all_cases if c.location is not None]
    assert {expected_dc(c.location, ORDERS["declared"])[0]
            for c in located} == set(DATACENTERS)
    labels = {c.label for c in all_cases}
    for label, reason in DELIBERATE_DIFFERENCES.items():
        assert label in labels, "stale exception %r" % label
        assert len(reason) > 20, "give a reason for %r" % label


def test_model_ties_go_to_declared_order():
    assert expected_dc(None, ("sin", "iad", "fra")) == ("sin", False)
    assert expected_dc((50.11, 8.68), ("sin", "iad", "fra"))[0] == "fra"
    assert great_circle_km(0, 0, 0, 180) == pytest.approx(
        math.pi * EARTH_RADIUS_KM)


def test_gdnsd_matches_model(gdnsd_replies, all_cases, order):
    """gdnsd picks the nearest datacenter; no coordinates -> declared order.
    Checks the harness, the database and GDNSD_BEHAVIOUR.md."""
    wrong = []
    for c in all_cases:
        want, near = expected_dc(c.location, order)
        got = chosen_dc(gdnsd_replies[c.label])
        if got != want and not near:
            wrong.append("%s: gdnsd %s, model %s" % (c.label, got, want))
    assert not wrong, "\n".join(wrong)


def test_gdnsd_scope_is_not_the_mmdb_prefix(gdnsd_replies, all_cases):
    """gdnsd's scope is the widest supernet with the same datacenter list:
    never narrower than the MMDB network, often wider."""
    wider, problems = 0, []
    for c in all_cases:
        if c.kind != "net" or c.plen is None:
            continue
        scope = gdnsd_replies[c.label].scope
        if scope is None or scope > c.plen:
            problems.append("%s: scope %s, MMDB /%d" % (c.label, scope,
                                                        c.plen))
        elif scope < c.plen:
            wider += 1
    assert not problems, "\n".join(problems)
    assert wider > 0


def test_same_datacenter_as_gdnsd(gdnsd_replies, geodnsd_replies, all_cases,
                                  order):
    wrong, near_ties = [], []
    for c in all_cases:
        if c.label in DELIBERATE_DIFFERENCES:
            continue
        theirs = chosen_dc(gdnsd_replies[c.label])
        ours = chosen_dc(geodnsd_replies[c.label])
        if expected_dc(c.location, order)[1]:
            near_ties.append(c.label)
            continue
        if ours != theirs:
            wrong.append("%s: geodnsd %s, gdnsd %s (location %s)"
                         % (c.label, ours, theirs, c.location))
    assert not wrong, "%d of %d clients differ (%d near-ties not compared):" \
        "\n%s" % (len(wrong), len(all_cases), len(near_ties),
                  "\n".join(wrong))


def test_geodnsd_scope_matches_gdnsd(geodnsd_replies, gdnsd_replies,
                                     all_cases):
    """Both merge neighbouring networks whose complete datacenter lists
    are equal (empty space has the default list): for every native network
    of the database the scopes agree, and none is narrower than the
    network (GDNSD_BEHAVIOUR.md)."""
    wrong, wider = [], 0
    for c in all_cases:
        if c.kind in SCOPE_NOT_SPECIFIED:
            continue
        ours, theirs = geodnsd_replies[c.label].scope, gdnsd_replies[c.label].scope
        if ours != theirs or ours is None or ours > c.plen:
            wrong.append("%s: geodnsd scope %s, gdnsd %s, MMDB network /%s"
                         % (c.label, ours, theirs, c.plen))
        wider += ours is not None and ours < c.plen
    assert not wrong, "\n".join(wrong)
    assert wider > 0


def test_geodnsd_ecs_source_zero(geodnsd_replies, all_cases, order):
    """DELIBERATE_DIFFERENCES: an ECS source prefix of 0 gets the default
    order (not the packet source's datacenter) and scope 0."""
    checked = 0
    for c in all_cases:
        if c.kind == "ecs0":
            reply = geodnsd_replies[c.label]
            assert (chosen_dc(reply), reply.scope) == (order[0], 0), c.label
            checked += 1
    assert checked == 2
