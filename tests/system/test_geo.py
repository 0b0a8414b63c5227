"""System tests for geo routing: the real geodnsd with a test GeoIP2 database.

The databases come from tools/make-test-mmdb (tests/data/geo/README.md lists
every network in them).  Datacenters fra (50.11, 8.68), iad (38.95, -77.45)
and sin (1.35, 103.99); service 'web' has IPv4 and IPv6 in fra and iad (two
IPv4 addresses in fra) and IPv4 only in sin.  www.example.com and *.cdn are
GEO names beside static records.

What is covered (docs/geo.md, docs/configuration.md):
- the nearest datacenter for ECS clients (IPv4, IPv6, IPv4-mapped) and for
  clients given by the packet source address on 127.0.0.0/8;
- network (inline and networks-file), country and continent rules and their
  precedence, the default order for clients with no location;
- exact ECS scopes, including scopes longer than the source prefix, scopes
  narrowed by a rule inside a database network, and scope 0 for answers
  that do not depend on the client;
- A/AAAA selection (a datacenter without the family is skipped, NODATA for
  a service without it, every address of the chosen datacenter);
- malformed ECS options (FORMERR) and ECS source prefix 0;
- explain queries and explain-acl;
- database reload on SIGHUP and on rename (as geoipupdate does), a corrupt
  replacement that changes nothing, a missing database at start-up;
- configuration errors reported by --check;
- a Country-only database.

Distance ranking over the whole database is compared with gdnsd in
test_gdnsd_diff.py and is not repeated here.  Traffic goes to 127.0.0.1
only; ECS addresses are data.
"""

import csv
import ipaddress
import math
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import time
import urllib.request

import dns.edns
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import pytest

from conftest import (make_test_mmdbs, skip_without_mmdb_writer,
                      GEODNSD, DnsServer, UdpLoad, free_port, metric,
                      require_geodnsd,
                      wait_until, yaml_str)

TIMEOUT = 2.0
EARTH_RADIUS_KM = 6371.0


skip_without_mmdb_writer()

# ---------------------------------------------------------------- the setup

DCS = {                         # configuration order: fra, iad, sin
    "fra": (50.11, 8.68),
    "iad": (38.95, -77.45),
    "sin": (1.35, 103.99),
}
DC_ORDER = ("fra", "iad", "sin")

SERVICES = {
    "web": {
        "fra": ["192.0.2.10", "192.0.2.11", "2001:db8:f::10"],
        "iad": ["198.51.100.10", "2001:db8:a::10"],
        "sin": ["203.0.113.10"],
    },
    "v4only": {                 # no IPv6 anywhere: AAAA is NODATA
        "fra": ["192.0.2.20"],
        "iad": ["198.51.100.20"],
        "sin": ["203.0.113.20"],
    },
    "one6": {                   # IPv6 in fra only: AAAA does not depend on
        "fra": ["192.0.2.30", "2001:db8:f::30"],    # the client (scope 0)
        "iad": ["198.51.100.30"],
        "sin": ["203.0.113.30"],
    },
    "duo": {                    # two datacenters of the three
        "fra": ["192.0.2.40"],
        "sin": ["203.0.113.40"],
    },
}
ADDR2DC = {a: dc for svc in SERVICES.values() for dc, addrs in svc.items()
           for a in addrs}


def addrs_of(service, dc, family):
    return sorted(a for a in SERVICES[service][dc]
                  if (":" in a) == (family == 6))


# Where the named test networks are (tests/data/geo/README.md).
LOCATIONS = {
    "Frankfurt": (50.11, 8.68),
    "London": (51.51, -0.13),
    "New York": (40.71, -74.01),
    "Chicago": (41.88, -87.63),
    "Los Angeles": (34.05, -118.24),
    "Singapore": (1.35, 103.82),
    "Mumbai": (19.08, 72.88),
    "Sydney": (-33.87, 151.21),
    "Sao Paulo": (-23.55, -46.63),
    "Paris": (48.86, 2.35),
}

ZONE = """$ORIGIN example.com.
$TTL 300
@       IN SOA ns1.example.com. hostmaster.example.com. 1 7200 3600 1209600 300
@       IN NS  ns1.example.com.
ns1     IN A   127.0.0.1
www  60 IN GEO web
www     IN TXT "v=1"
static  IN A   192.0.2.99
alias   IN CNAME www
*.cdn 30 IN GEO web
v4only  IN GEO v4only
one6    IN GEO one6
duo  45 IN GEO duo
"""

# The plain server: no rules, only a default order that differs from the
# configuration order (fra, iad, sin), so "default" cannot be mistaken for
# "first configured".
PLAIN_DEFAULT = ("iad", "sin", "fra")

# The rules server: each rule points away from what distance would choose.
#   127.0.1.0/24 Frankfurt   network -> sin   (distance fra, continent EU iad)
#   192.0.2.0/25 London      network -> fra   (country GB sin, continent iad)
#   192.0.2.128/25 London    country GB -> sin (continent EU iad, dist. fra)
#   100.64.1.0/24 (Paris /10) network -> sin; the rest of the /10: EU -> iad
#   127.0.5.0/24 Sao Paulo   networks-file -> sin (distance iad)
#   2001:db8:2::/48 New York networks-file -> fra (distance iad)
#   127.0.6.0/24 Sydney      continent OC -> fra (distance sin)
#   127.0.7.0/24 AF only     continent AF -> sin (else default)
#   127.0.4.0/24 Tokyo       no JP or AS rule, no coordinates -> default
RULES_DEFAULT = ("iad", "fra", "sin")
RULES_YAML = """routing:
  networks:
    - { network: 127.0.1.0/24, datacenters: [ sin ] }
    - { network: 192.0.2.0/25, datacenters: [ fra ] }
    - { network: 100.64.1.0/24, datacenters: [ sin ] }
  networks-file: %(rules_file)s
  countries:
    GB: [ sin ]
  continents:
    EU: [ iad ]
    OC: [ fra ]
    AF: [ sin ]
  default: [ iad, fra, sin ]
"""
RULES_FILE = """# network rules read from a file
127.0.5.0/24     sin

2001:db8:2::/48  fra   # New York over IPv6
"""


def config_text(port, database, routing=None, geoip_extra="",
                services=SERVICES, datacenters=None, zone_file="example.zone",
                extra=""):
    lines = ["server:",
             '  listen: [ "127.0.0.1@%d" ]' % port,
             "  identity: geo.test",
             "geoip:"]
    if database is not None:
        lines.append("  database: %s" % yaml_str(database))
    if geoip_extra:
        lines.append(geoip_extra)
    lines.append("datacenters:")
    for name, (lat, lon) in (datacenters or
                             [(n, DCS[n]) for n in DC_ORDER]):
        lines.append("  %s: { latitude: %s, longitude: %s }" % (name, lat,
                                                                 lon))
    lines.append("services:")
    for svc, dcs in services.items():
        lines.append("  %s:" % svc)
        lines.append("    datacenters:")
        for dc, addrs in dcs.items():
            lines.append("      %s: [ %s ]" % (dc, ", ".join(
                yaml_str(a) for a in addrs)))
    if routing:
        lines.append(routing.rstrip("\n"))
    if extra:
        lines.append(extra.rstrip("\n"))
    lines += ["zones:", "  - name: example.com",
              "    file: %s" % yaml_str(zone_file)]
    return "\n".join(lines) + "\n"


def line_of(text, needle):
    """1-based number of the first line of text containing needle."""
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError("%r not in:\n%s" % (needle, text))


class GeoServer(DnsServer):
    """geodnsd serving example.com with the geo configuration above."""

    name = "geodnsd"

    def __init__(self, workdir, database, routing=None, geoip_extra="",
                 rules_file=False, extra=""):
        super().__init__(workdir)
        self.config_path = os.path.join(self.workdir, "geodnsd.yaml")
        self.rules_path = os.path.join(self.workdir, "rules.txt")
        with open(os.path.join(self.workdir, "example.zone"), "w") as f:
            f.write(ZONE)
        if rules_file:
            with open(self.rules_path, "w") as f:
                f.write(RULES_FILE)
        self.database = database
        self.routing = routing
        self.geoip_extra = geoip_extra
        self.extra = extra
        self.write_config()

    def write_config(self):
        routing = self.routing
        if routing is not None:
            routing = routing % {"rules_file": yaml_str(self.rules_path)}
        self.config = config_text(self.port, self.database, routing,
                                  self.geoip_extra, extra=self.extra)
        with open(self.config_path, "w") as f:
            f.write(self.config)

    def argv(self):
        return [GEODNSD, "-c", self.config_path]


# ---------------------------------------------------------------- queries

def ask(srv, qname, rdtype="A", ecs=None, source=None, rdclass="IN",
        options=None, timeout=TIMEOUT):
    """One UDP query with EDNS; ecs is "addr/len" (an ECS option with scope
    0) or None; source is the local address to send from."""
    opts = list(options or [])
    if ecs is not None:
        addr, plen = ecs.split("/")
        opts.append(dns.edns.ECSOption(addr, int(plen), 0))
    q = dns.message.make_query(qname, rdtype, rdclass, use_edns=0,
                               payload=1232, options=opts, flags=0)
    return dns.query.udp(q, srv.host, port=srv.port, timeout=timeout,
                         source=source, ignore_unexpected=True)


def rrsets(r, rdtype, section="answer"):
    return [s for s in getattr(r, section)
            if s.rdtype == dns.rdatatype.from_text(rdtype)]


def addresses(r, rdtype="A"):
    return sorted(rd.address for s in rrsets(r, rdtype) for rd in s)


def ecs_scope(r):
    """The SCOPE PREFIX-LENGTH of the response's ECS option, None if none."""
    found = [o for o in r.options if o.otype == dns.edns.ECS]
    assert len(found) <= 1, r
    return found[0].scopelen if found else None


def chosen(r, rdtype="A"):
    """(rcode, datacenter, scope) of a geo answer."""
    rcode = dns.rcode.to_text(r.rcode())
    addrs = addresses(r, rdtype)
    dcs = {ADDR2DC.get(a, "?" + a) for a in addrs}
    dc = dcs.pop() if len(dcs) == 1 else (sorted(dcs) or None)
    return rcode, dc, ecs_scope(r)


def haversine_km(lat1, lon1, lat2, lon2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dlat, dlon = p2 - p1, math.radians(lon2 - lon1)
    a = (math.sin(dlat / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(dlon / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(a, 1.0)))


def by_distance(city, family=4, service="web"):
    """Datacenters of service nearest first from city, keeping only those
    with addresses of the family (ties: configuration order)."""
    lat, lon = LOCATIONS[city]
    dcs = sorted(DC_ORDER, key=lambda n: (haversine_km(lat, lon, *DCS[n]),
                                          DC_ORDER.index(n)))
    return [d for d in dcs if addrs_of(service, d, family)]


# ---- the ECS scope a server should send, computed from the database's list
# of networks (city-networks.tsv), independently of the server's tree walk.

# Where an IPv6 tree with alias_ipv6_to_ipv4 holds IPv4 space (the IPv4
# subtree itself, and the aliases that point to it): a prefix reaching into
# them reaches every IPv4 network.
V4_IN_V6 = [ipaddress.ip_network(n) for n in
            ("::/96", "::ffff:0:0/96", "2002::/16", "2001::/32")]


def full_order(row, default):
    """A record's datacenter order in a configuration without rules: every
    datacenter by distance (ties: configuration order), or the default
    order when the record has no coordinates."""
    if not row["latitude"]:
        return tuple(default)
    lat, lon = f32(float(row["latitude"])), f32(float(row["longitude"]))
    return tuple(sorted(DC_ORDER, key=lambda n: (haversine_km(lat, lon, *DCS[n]),
                                                 DC_ORDER.index(n))))


def merged_scope(rows, addr, default):
    """The shortest prefix around addr inside which every address, empty
    space included, gets addr's datacenter order: the scope of an answer
    when neighbouring networks that rank alike are merged (docs/geo.md)."""
    ip = ipaddress.ip_address(addr)
    nets = [(ipaddress.ip_network(r["network"]), full_order(r, default))
            for r in rows]
    same = [(n, o) for n, o in nets if n.version == ip.version]
    want = next((o for n, o in same if ip in n), tuple(default))
    for plen in range(ip.max_prefixlen + 1):
        p = ipaddress.ip_network("%s/%d" % (addr, plen), strict=False)
        if p.version == 6 and any(p.overlaps(a) for a in V4_IN_V6):
            continue        # holds all of IPv4: never one order here
        inside = [(n, o) for n, o in same if n.overlaps(p)]
        if any(o != want for n, o in inside):
            continue
        covered = sum(min(n.num_addresses, p.num_addresses) for n, o in inside)
        if covered < p.num_addresses and tuple(default) != want:
            continue        # empty space, which gets the default order
        return plen
    raise AssertionError("no prefix for %s" % addr)


_ROWS = {}


def db_rows(mmdb_dir):
    path = os.path.join(mmdb_dir, "city-networks.tsv")
    if path not in _ROWS:
        with open(path, encoding="utf-8") as f:
            _ROWS[path] = list(csv.DictReader(f, delimiter="\t"))
    return _ROWS[path]


def plain_scope(mmdb_dir, ecs):
    """The scope the plain server sends for an ECS subnet."""
    return merged_scope(db_rows(mmdb_dir), ecs.split("/")[0], PLAIN_DEFAULT)


def explain_lines(srv, name, ecs=None, source=None):
    r = ask(srv, name + ".explain.geodnsd.", "TXT", rdclass="CH", ecs=ecs,
            source=source)
    assert r.rcode() == dns.rcode.NOERROR, r
    lines = []
    for s in r.answer:
        assert s.rdtype == dns.rdatatype.TXT and \
            s.rdclass == dns.rdataclass.CH, s
        lines += [b"".join(rd.strings).decode() for rd in s]
    return lines


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def mmdb_dir(tmp_path_factory):
    return make_test_mmdbs(tmp_path_factory.mktemp("mmdb"))


def _module_server(tmp_path_factory, **kwargs):
    require_geodnsd()
    srv = GeoServer(tmp_path_factory.mktemp("geodnsd"), **kwargs)
    try:
        srv.start()
    except AssertionError:
        srv.kill()
        raise
    return srv


@pytest.fixture(scope="module")
def plain(tmp_path_factory, mmdb_dir):
    """City database, no rules, default order iad, sin, fra."""
    srv = _module_server(
        tmp_path_factory, database=os.path.join(mmdb_dir, "city.mmdb"),
        routing="routing:\n  default: [ %s ]\n" % ", ".join(PLAIN_DEFAULT))
    yield srv
    srv.kill()


@pytest.fixture(scope="module")
def rules(tmp_path_factory, mmdb_dir):
    """City database with every kind of rule; explain only from
    127.0.9.0/24."""
    srv = _module_server(
        tmp_path_factory, database=os.path.join(mmdb_dir, "city.mmdb"),
        routing=RULES_YAML, rules_file=True,
        geoip_extra='  explain-acl: [ "127.0.9.0/24" ]')
    yield srv
    srv.kill()


@pytest.fixture
def server_factory(tmp_path):
    """Servers owned by one test (they get reloaded or mutated)."""
    require_geodnsd()
    servers = []

    def factory(start=True, **kwargs):
        srv = GeoServer(tmp_path / ("srv%d" % len(servers)), **kwargs)
        servers.append(srv)
        if start:
            srv.start()
        return srv

    yield factory
    for srv in servers:
        srv.kill()


# ---------------------------------------------------------------- 1. ECS

@pytest.mark.parametrize("ecs, city, scope", [
    ("127.0.1.0/24", "Frankfurt", 24),
    ("192.0.2.0/24", "London", 24),
    ("127.0.2.0/24", "New York", 24),
    ("198.51.100.0/24", "Chicago", 25),
    ("198.51.100.128/25", "Los Angeles", 25),
    ("127.0.3.0/24", "Singapore", 24),
    ("203.0.113.0/24", "Mumbai", 24),
    ("127.0.6.0/24", "Sydney", 24),
    ("127.0.5.0/24", "Sao Paulo", 24),
    ("100.64.0.0/24", "Paris", 10),
    ("2001:db8:1::/48", "Frankfurt", 48),
    ("2001:db8:2::/48", "New York", 48),
    ("2001:db8:3::/48", "Singapore", 48),
])
def test_ecs_client_gets_nearest(plain, mmdb_dir, ecs, city, scope):
    """scope is the database network's prefix; the answer's scope may be
    wider where neighbouring networks rank the datacenters alike."""
    r = ask(plain, "www.example.com", ecs=ecs)
    want = by_distance(city)[0]
    merged = plain_scope(mmdb_dir, ecs)
    assert merged <= scope
    assert chosen(r) == ("NOERROR", want, merged), (ecs, city)
    assert addresses(r) == addrs_of("web", want, 4)
    assert r.flags & dns.flags.AA
    assert [s.ttl for s in r.answer] == [60]


def test_nearest_matches_the_expected_geography():
    """The model agrees with the brief's geography (and with the README's
    distances), so the parametrised test above is not vacuous."""
    want = {"Frankfurt": "fra", "London": "fra", "Paris": "fra",
            "New York": "iad", "Chicago": "iad", "Los Angeles": "iad",
            "Sao Paulo": "iad", "Singapore": "sin", "Mumbai": "sin"}
    for city, dc in want.items():
        assert by_distance(city)[0] == dc, city
    # Sydney: computed, not assumed (the README gives sin at 6292 km).
    syd = LOCATIONS["Sydney"]
    dists = {n: haversine_km(syd[0], syd[1], *DCS[n]) for n in DC_ORDER}
    assert by_distance("Sydney")[0] == min(dists, key=dists.get)
    assert round(dists["sin"]) == 6292


def test_ecs_beats_source_address(plain):
    r = ask(plain, "www.example.com", ecs="192.0.2.0/24", source="127.0.3.1")
    assert chosen(r) == ("NOERROR", "fra", 24)


@pytest.mark.parametrize("ecs", ["127.0.4.0/24", "127.0.7.0/24",
                                 "2001:db8:4::/48", "127.0.0.0/24"])
def test_ecs_client_without_location_gets_default(plain, mmdb_dir, ecs):
    """Tokyo (no coordinates), continent-only, IPv6 Tokyo, not in the
    database: the default order's first datacenter."""
    r = ask(plain, "www.example.com", ecs=ecs)
    rcode, dc, scope = chosen(r)
    assert (rcode, dc) == ("NOERROR", PLAIN_DEFAULT[0]), ecs
    assert scope == plain_scope(mmdb_dir, ecs), ecs


# ---------------------------------------------------------------- 2. source

@pytest.mark.parametrize("source, want", [
    ("127.0.1.1", "fra"),
    ("127.0.2.1", "iad"),
    ("127.0.3.1", "sin"),
    ("127.0.0.1", PLAIN_DEFAULT[0]),    # no record
    ("127.0.4.1", PLAIN_DEFAULT[0]),    # Tokyo, no coordinates
    ("127.0.7.1", PLAIN_DEFAULT[0]),    # continent only
])
def test_source_address_client(plain, source, want):
    r = ask(plain, "www.example.com", source=source)
    # No ECS in the query: none in the response.
    assert chosen(r) == ("NOERROR", want, None), source
    assert addresses(r) == addrs_of("web", want, 4)


def test_source_address_aaaa(plain):
    r = ask(plain, "www.example.com", "AAAA", source="127.0.2.1")
    assert chosen(r, "AAAA") == ("NOERROR", "iad", None)
    assert addresses(r, "AAAA") == ["2001:db8:a::10"]


# ---------------------------------------------------------------- 3. rules

@pytest.mark.parametrize("ecs, want, scope, why", [
    ("127.0.1.0/24", "sin", 24, "network rule beats distance and continent"),
    ("192.0.2.0/25", "fra", 25, "network rule beats country and continent"),
    ("192.0.2.0/24", "fra", 25, "the /25 rule holds 192.0.2.0: scope 25"),
    ("192.0.2.128/25", "sin", 25, "country GB beats continent EU; the /25 "
                                  "rule beside it narrows the scope"),
    ("2001:db8:1::/48", "iad", 47, "continent EU beats distance (Frankfurt); "
                                   "iad, fra, sin is also the default order of "
                                   "the empty 2001:db8::/48 beside it: /47"),
    ("127.0.6.0/24", "fra", 24, "continent OC beats distance (Sydney)"),
    ("127.0.7.0/24", "sin", 24, "continent AF on a continent-only record"),
    ("127.0.5.0/24", "sin", 24, "networks-file rule (Sao Paulo)"),
    ("2001:db8:2::/48", "fra", 48, "networks-file IPv6 rule (New York)"),
    ("127.0.4.0/24", RULES_DEFAULT[0], 24, "Tokyo: no rule, no coordinates"),
    ("198.51.100.0/24", "iad", 6, "Chicago: no rule, distance: iad, fra, "
                                  "sin, as Los Angeles and the default order "
                                  "for the empty rest of 196.0.0.0/6"),
    ("203.0.113.0/24", "sin", 24, "Mumbai: no rule, distance"),
    ("100.64.1.0/24", "sin", 24, "network rule inside the Paris /10"),
    ("100.64.1.128/25", "sin", 24, "inside the /24 rule: its scope"),
])
def test_rules(rules, ecs, want, scope, why):
    r = ask(rules, "www.example.com", ecs=ecs)
    assert chosen(r) == ("NOERROR", want, scope), why


def test_rule_by_source_address(rules):
    r = ask(rules, "www.example.com", source="127.0.1.1")
    assert chosen(r) == ("NOERROR", "sin", None)
    r = ask(rules, "www.example.com", source="127.0.6.1")
    assert chosen(r) == ("NOERROR", "fra", None)
    r = ask(rules, "www.example.com", source="127.0.0.1")
    assert chosen(r) == ("NOERROR", RULES_DEFAULT[0], None)


def test_rule_narrows_database_scope(rules):
    """100.64.0.0/10 is one database network; the rule 100.64.1.0/24 inside
    it makes the answer for 100.64.2.0/24 hold only as far as the two
    addresses agree, plus one bit."""
    a = int.from_bytes(bytes([100, 64, 2, 0]), "big")
    b = int.from_bytes(bytes([100, 64, 1, 0]), "big")
    common = 32 - (a ^ b).bit_length()
    assert common + 1 == 23
    r = ask(rules, "www.example.com", ecs="100.64.2.0/24")
    assert chosen(r) == ("NOERROR", "iad", common + 1)   # EU -> iad
    # Elsewhere in the /10 the answer holds down to where the address
    # leaves the rule's path: 100.127.255.0 and 100.64.1.0 share 10 bits,
    # so scope 11 (the whole /10 would include the rule).
    c = int.from_bytes(bytes([100, 127, 255, 0]), "big")
    assert 32 - (c ^ b).bit_length() + 1 == 11
    r = ask(rules, "www.example.com", ecs="100.127.255.0/24")
    assert chosen(r) == ("NOERROR", "iad", 11)
    # A /10 source is the address 100.64.0.0, which shares 23 bits with
    # the rule: scope 24, longer than the source prefix.
    r = ask(rules, "www.example.com", ecs="100.64.0.0/10")
    assert chosen(r) == ("NOERROR", "iad", 24)


def test_network_rule_rest_follows_distance(rules):
    """docs/geo.md: datacenters a rule does not list follow by distance when
    the client's location is known.  Frankfurt's rule lists only sin, which
    has no IPv6: AAAA must go to the nearest with IPv6 (fra), not to the
    default order's first (iad)."""
    r = ask(rules, "www.example.com", "AAAA", ecs="127.0.1.0/24")
    assert chosen(r, "AAAA") == ("NOERROR", by_distance("Frankfurt", 6)[0],
                                 24)


def test_country_rule_rest_follows_distance(rules):
    """GB -> [sin]; AAAA for London goes to the nearest with IPv6: fra."""
    r = ask(rules, "www.example.com", "AAAA", ecs="192.0.2.128/25")
    assert chosen(r, "AAAA") == ("NOERROR", "fra", 25)
    assert addresses(r, "AAAA") == ["2001:db8:f::10"]


# ---------------------------------------------------------------- 4. scope

def test_scope_zero_for_answers_that_do_not_depend_on_the_client(plain):
    ecs = "192.0.2.0/24"
    # Static records: TXT beside the GEO record, a static A.
    r = ask(plain, "www.example.com", "TXT", ecs=ecs)
    assert r.rcode() == dns.rcode.NOERROR
    assert [b"".join(rd.strings) for s in r.answer for rd in s] == [b"v=1"]
    assert ecs_scope(r) == 0
    r = ask(plain, "static.example.com", "A", ecs=ecs)
    assert addresses(r) == ["192.0.2.99"] and ecs_scope(r) == 0
    # NODATA for another type at the GEO name.
    r = ask(plain, "www.example.com", "MX", ecs=ecs)
    assert (r.rcode(), r.answer, ecs_scope(r)) == (dns.rcode.NOERROR, [], 0)
    assert rrsets(r, "SOA", "authority")
    # NXDOMAIN.
    r = ask(plain, "nope.example.com", "A", ecs=ecs)
    assert (r.rcode(), ecs_scope(r)) == (dns.rcode.NXDOMAIN, 0)
    # A service with a single datacenter for the family.
    r = ask(plain, "one6.example.com", "AAAA", ecs=ecs)
    assert addresses(r, "AAAA") == ["2001:db8:f::30"] and ecs_scope(r) == 0
    r = ask(plain, "one6.example.com", "AAAA", ecs="127.0.3.0/24")
    assert addresses(r, "AAAA") == ["2001:db8:f::30"] and ecs_scope(r) == 0
    # ... while its A answer does depend on the client.
    r = ask(plain, "one6.example.com", "A", ecs="127.0.3.0/24")
    assert chosen(r) == ("NOERROR", "sin", 24)


def test_scope_echoes_family_source_and_address(plain):
    r = ask(plain, "www.example.com", ecs="192.0.2.0/24")
    (opt,) = [o for o in r.options if o.otype == dns.edns.ECS]
    assert (opt.family, opt.srclen, opt.scopelen, opt.address) == \
        (1, 24, 24, "192.0.2.0")


@pytest.mark.parametrize("ecs, want, scope", [
    ("198.51.100.200/32", "iad", 24),       # two /25s that both rank iad first
    ("100.127.255.0/24", "fra", 10),
    ("192.0.2.77/32", "fra", 24),
    ("2001:db8:1:ff00::/56", "fra", 48),
    ("2001:db8:2:1:2:3:4:5/128", "iad", 48),
])
def test_scope_is_the_database_network(plain, mmdb_dir, ecs, want, scope):
    """The scope is the database network, or wider where neighbouring
    networks rank the datacenters alike (Chicago's and Los Angeles' /25s),
    and never longer than the network when the source is."""
    assert plain_scope(mmdb_dir, ecs) == scope
    assert chosen(ask(plain, "www.example.com", ecs=ecs)) == \
        ("NOERROR", want, scope)


def test_scope_merges_neighbours_that_answer_alike(plain, mmdb_dir):
    """Every network of the database, and random subnets: the server's
    scope is the reference's (the widest prefix that ranks alike), and an
    address inside that prefix gets the same datacenter."""
    rows = db_rows(mmdb_dir)
    subnets = [r["network"] for r in rows]
    rng = random.Random(7)
    subnets += ["%d.%d.%d.0/24" % (rng.choice((127, 192, 198, 100, 203, 10)),
                                   rng.randrange(256), rng.randrange(256))
                for _ in range(40)]
    for ecs in subnets:
        got = chosen(ask(plain, "www.example.com", ecs=ecs))
        want = plain_scope(mmdb_dir, ecs)
        assert got[2] == want, (ecs, got, want)
        # The far end of the merged prefix answers the same.
        net = ipaddress.ip_network("%s/%d" % (ecs.split("/")[0], want),
                                   strict=False)
        far = "%s/%d" % (net[-1], net.max_prefixlen)
        assert chosen(ask(plain, "www.example.com", ecs=far))[1] == got[1], \
            (ecs, far)


def empty_part_prefix(addr, networks):
    """The prefix of the largest network around addr that holds no database
    network: the depth where addr's path leaves the tree, plus one."""
    ip = ipaddress.ip_address(addr)
    same = [n for n in networks if n.version == ip.version]
    for plen in range(ip.max_prefixlen + 1):
        net = ipaddress.ip_network("%s/%d" % (addr, plen), strict=False)
        if not any(net.overlaps(n) for n in same):
            return plen
    raise AssertionError("%s is in the database" % addr)


@pytest.mark.parametrize("ecs", [
    "127.0.0.0/24", "127.0.8.0/24", "127.255.255.0/24", "192.0.3.0/24",
    "8.8.8.0/24", "10.255.255.0/24", "2001:db8:5::/48", "2001:db8:ffff::/48",
])
def test_scope_outside_the_database(plain, mmdb_dir, ecs):
    """A client in no database network: the default order, and the scope of
    the empty part of the tree (docs/geo.md), computed from the list of the
    database's networks (city-networks.tsv)."""
    with open(os.path.join(mmdb_dir, "city-networks.tsv"),
              encoding="utf-8") as f:
        networks = [ipaddress.ip_network(row["network"])
                    for row in csv.DictReader(f, delimiter="\t")]
    empty = empty_part_prefix(ecs.split("/")[0], networks)
    assert 0 < empty <= int(ecs.split("/")[1])
    # Merged with neighbouring networks without coordinates (which get the
    # default order too), it can only be wider.
    want = plain_scope(mmdb_dir, ecs)
    assert want <= empty
    r = ask(plain, "www.example.com", ecs=ecs)
    assert chosen(r) == ("NOERROR", PLAIN_DEFAULT[0], want)


def test_ipv4_mapped_ecs(plain):
    r = ask(plain, "www.example.com", ecs="::ffff:127.0.3.0/120")
    assert chosen(r) == ("NOERROR", "sin", 96 + 24)
    r = ask(plain, "www.example.com", ecs="::ffff:192.0.2.0/120")
    assert chosen(r) == ("NOERROR", "fra", 96 + 24)
    r = ask(plain, "www.example.com", ecs="::ffff:198.51.100.0/120")
    assert chosen(r) == ("NOERROR", "iad", 96 + 24)


@pytest.mark.parametrize("ecs, want, scope", [
    ("::7f00:300/120", "sin", 96 + 24),                 # IPv4-compatible
    ("2002:7f00:300::/40", "sin", 16 + 24),             # 6to4
    ("2002:c000:200::/40", "fra", 16 + 24),
    # Teredo: the client 127.0.3.0 inverted in the last 32 bits.
    ("2001:0:4136:e378:8000:63bf:80ff:fcff/128", "sin", 96 + 24),
])
def test_embedded_ipv4_ecs(plain, ecs, want, scope):
    assert chosen(ask(plain, "www.example.com", ecs=ecs)) == \
        ("NOERROR", want, scope)


def test_teredo_prefix_without_client_bits(plain):
    """A Teredo prefix is routed by its client bits even when it holds none
    of them (those decode as ones): its answer is the one for
    255.255.255.255, and the scope, longer than the source, covers only
    the clients that get it.  Before, the database's alias routed such a
    /56 by the Teredo server (London: fra) with scope /56, while a client
    inside it (Singapore) got sin: a resolver caching the /56 answer served
    London's to Singapore."""
    inside = chosen(ask(plain, "www.example.com",
                        ecs="2001:0:c000:201::80ff:fcff/128"))
    assert inside == ("NOERROR", "sin", 96 + 24)
    v4 = chosen(ask(plain, "www.example.com", ecs="255.255.255.255/32"))
    for ecs in ("2001:0:c000:201::/56", "2001:0:c000:201::/64",
                "2001:0:c000::/48", "2001::/32"):
        got = chosen(ask(plain, "www.example.com", ecs=ecs))
        assert got == ("NOERROR", v4[1], 96 + v4[2]), (ecs, got, v4)
        assert got[2] > 96


def test_ipv4_mapped_ecs_follows_network_rule(rules):
    r = ask(rules, "www.example.com", ecs="::ffff:127.0.1.0/120")
    assert chosen(r) == ("NOERROR", "sin", 96 + 24)
    r = ask(rules, "www.example.com", ecs="::ffff:192.0.2.128/121")
    assert chosen(r) == ("NOERROR", "sin", 96 + 25)


def test_ecs_over_tcp(plain):
    q = dns.message.make_query(
        "www.example.com", "A", use_edns=0, payload=1232, flags=0,
        options=[dns.edns.ECSOption("203.0.113.0", 24, 0)])
    r = dns.query.tcp(q, plain.host, port=plain.port, timeout=TIMEOUT)
    assert chosen(r) == ("NOERROR", "sin", 24)


def test_cname_and_wildcard_geo(plain):
    r = ask(plain, "alias.example.com", "A", ecs="127.0.3.0/24")
    cn = rrsets(r, "CNAME")
    assert len(cn) == 1 and cn[0][0].target.to_text() == "www.example.com."
    assert addresses(r) == ["203.0.113.10"] and ecs_scope(r) == 24
    r = ask(plain, "x.cdn.example.com", "A", ecs="198.51.100.128/25")
    assert chosen(r) == ("NOERROR", "iad", 24)
    assert [(s.name.to_text(), s.ttl) for s in r.answer] == \
        [("x.cdn.example.com.", 30)]
    r = ask(plain, "a.b.cdn.example.com", "AAAA", ecs="2001:db8:1::/48")
    assert chosen(r, "AAAA") == ("NOERROR", "fra", 48)


# ---------------------------------------------------------------- 5. A/AAAA

def test_aaaa_skips_datacenter_without_ipv6(plain):
    for ecs in ("127.0.3.0/24", "203.0.113.0/24", "2001:db8:3::/48"):
        city = "Mumbai" if ecs.startswith("203.") else "Singapore"
        want = by_distance(city, 6)[0]
        assert want != "sin"
        r = ask(plain, "www.example.com", "AAAA", ecs=ecs)
        assert chosen(r, "AAAA") == ("NOERROR", want,
                                     int(ecs.split("/")[1])), ecs
        assert addresses(r, "AAAA") == addrs_of("web", want, 6)


def test_service_without_ipv6_is_nodata(plain):
    r = ask(plain, "v4only.example.com", "AAAA", ecs="192.0.2.0/24")
    assert r.rcode() == dns.rcode.NOERROR and r.answer == []
    soa = rrsets(r, "SOA", "authority")
    assert len(soa) == 1 and soa[0].name.to_text() == "example.com."
    assert ecs_scope(r) == 0
    r = ask(plain, "v4only.example.com", "A", ecs="192.0.2.0/24")
    assert chosen(r) == ("NOERROR", "fra", 24)
    assert addresses(r) == ["192.0.2.20"]


def test_every_address_of_the_chosen_datacenter(plain):
    r = ask(plain, "www.example.com", "A", ecs="192.0.2.0/24")
    assert addresses(r) == ["192.0.2.10", "192.0.2.11"]
    assert len(r.answer) == 1 and len(r.answer[0]) == 2
    r = ask(plain, "www.example.com", "AAAA", ecs="192.0.2.0/24")
    assert addresses(r, "AAAA") == ["2001:db8:f::10"]


# ---------------------------------------------------------------- 6. bad ECS

def raw_ecs(family, source, scope, address):
    return dns.edns.GenericOption(
        dns.edns.ECS, struct.pack("!HBB", family, source, scope) + address)


def send_options(srv, options, source=None):
    q = dns.message.make_query("www.example.com", "A", use_edns=0,
                               payload=1232, options=options, flags=0)
    return dns.query.udp(q, srv.host, port=srv.port, timeout=TIMEOUT,
                         source=source, ignore_unexpected=True)


MALFORMED_ECS = {
    "family 3": [raw_ecs(3, 24, 0, bytes([192, 0, 2]))],
    "family 0": [raw_ecs(0, 0, 0, b"")],
    "IPv4 source prefix 33": [raw_ecs(1, 33, 0, bytes([192, 0, 2, 0, 0]))],
    "IPv6 source prefix 129": [raw_ecs(2, 129, 0, bytes(17))],
    "address longer than the prefix needs": [
        raw_ecs(1, 24, 0, bytes([192, 0, 2, 0]))],
    "address shorter than the prefix needs": [
        raw_ecs(1, 24, 0, bytes([192, 0]))],
    "bits set past the source prefix": [
        raw_ecs(1, 20, 0, bytes([192, 0, 2]))],
    "bits set past an IPv6 source prefix": [
        raw_ecs(2, 47, 0, bytes([0x20, 0x01, 0x0d, 0xb8, 0, 1]))],
    "non-zero scope in the query": [raw_ecs(1, 24, 16, bytes([192, 0, 2]))],
    "two ECS options": [raw_ecs(1, 24, 0, bytes([192, 0, 2])),
                        raw_ecs(1, 24, 0, bytes([127, 0, 3]))],
    "option shorter than its fixed part": [
        dns.edns.GenericOption(dns.edns.ECS, b"\x00\x01\x18")],
}


# What the FORMERR's Extended DNS Error (RFC 8914, INFO-CODE 0) says.
MALFORMED_ECS_WHY = {
    "family 3": "ECS FAMILY is not 1 (IPv4) or 2 (IPv6)",
    "family 0": "ECS FAMILY is not 1 (IPv4) or 2 (IPv6)",
    "IPv4 source prefix 33": "ECS SOURCE PREFIX-LENGTH is longer than the address",
    "IPv6 source prefix 129": "ECS SOURCE PREFIX-LENGTH is longer than the address",
    "address longer than the prefix needs":
        "ECS ADDRESS is not SOURCE PREFIX-LENGTH rounded up to octets",
    "address shorter than the prefix needs":
        "ECS ADDRESS is not SOURCE PREFIX-LENGTH rounded up to octets",
    "bits set past the source prefix":
        "ECS ADDRESS has bits set past SOURCE PREFIX-LENGTH",
    "bits set past an IPv6 source prefix":
        "ECS ADDRESS has bits set past SOURCE PREFIX-LENGTH",
    "non-zero scope in the query": "ECS SCOPE PREFIX-LENGTH is not 0 in a query",
    "two ECS options": "two ECS options",
    "option shorter than its fixed part": "ECS option shorter than 4 octets",
}


@pytest.mark.parametrize("label", sorted(MALFORMED_ECS))
def test_malformed_ecs_is_formerr(plain, label):
    """FORMERR, with our OPT (the query's was valid) carrying an Extended
    DNS Error that says what was wrong: a resolver operator cannot guess
    which of RFC 7871's rules the option broke."""
    r = send_options(plain, MALFORMED_ECS[label])
    assert dns.rcode.to_text(r.rcode()) == "FORMERR", label
    assert r.answer == [], label
    assert r.edns == 0, label       # the query's OPT was valid: ours is sent
    assert ecs_scope(r) is None, label
    assert r.question and r.question[0].name.to_text() == "www.example.com."
    ede = [(o.code, o.text) for o in r.options if o.otype == dns.edns.EDE]
    assert ede == [(0, MALFORMED_ECS_WHY[label])], (label, ede)


def test_server_answers_after_malformed_ecs(plain):
    for label in sorted(MALFORMED_ECS):
        send_options(plain, MALFORMED_ECS[label])
    assert plain.running(), plain.stderr
    r = ask(plain, "www.example.com", ecs="127.0.3.0/24")
    assert chosen(r) == ("NOERROR", "sin", 24)


def test_ecs_source_prefix_zero(plain):
    """No tailoring: the default order's answer and scope 0, whatever the
    packet source."""
    for opt, source in ((dns.edns.ECSOption("0.0.0.0", 0, 0), "127.0.3.1"),
                        (dns.edns.ECSOption("::", 0, 0), "127.0.1.1"),
                        (raw_ecs(1, 0, 0, b""), "127.0.6.1")):
        r = send_options(plain, [opt], source=source)
        assert chosen(r) == ("NOERROR", PLAIN_DEFAULT[0], 0), (opt, source)


# ---------------------------------------------------------------- 7. explain

def expected_dc_line(rank, dc, dist_km, service="web"):
    """Nothing is probed here, so every datacenter is up with all its
    addresses."""
    n = len(SERVICES[service][dc])
    return "#%d dc %s: %s; up (%d/%d up); %s" % (rank, dc, dist_km, n, n,
                                                " ".join(addrs_of(service, dc, 4) +
                                                         addrs_of(service, dc, 6)))


def f32(x):
    """The server keeps database coordinates as C floats."""
    return struct.unpack("f", struct.pack("f", x))[0]


def km(city, dc):
    lat, lon = LOCATIONS[city]
    return "%.0f km" % haversine_km(f32(lat), f32(lon), *DCS[dc])


def test_explain_distance(plain):
    lines = explain_lines(plain, "www.example.com", ecs="192.0.2.0/24")
    order = by_distance("London", 4)
    assert lines == [
        "client 192.0.2.0/24 from EDNS Client Subnet; service web",
        "location: London, country GB, continent EU, lat 51.51 lon -0.13",
        "rule: none; nearest by great-circle distance",
    ] + [expected_dc_line(i + 1, dc, km("London", dc))
         for i, dc in enumerate(order)] + [
        "answer A: fra, ttl 60, ecs scope /24",
        "answer AAAA: fra, ttl 60, ecs scope /24",
    ]


def test_explain_singapore_aaaa(plain):
    lines = explain_lines(plain, "www.example.com", ecs="127.0.3.0/24")
    assert lines[-2:] == ["answer A: sin, ttl 60, ecs scope /24",
                          "answer AAAA: %s, ttl 60, ecs scope /24"
                          % by_distance("Singapore", 6)[0]]
    assert lines[3] == expected_dc_line(1, "sin", km("Singapore", "sin"))


def test_explain_source_address_and_default(plain):
    lines = explain_lines(plain, "www.example.com", source="127.0.0.1")
    assert lines[0] == ("client 127.0.0.1/32 from the query's source "
                        "address; service web")
    assert lines[1] == "location: unknown (not in the geoip database)"
    assert lines[2] == "rule: none; no location: default order"
    assert [l.split(":")[0] for l in lines[3:6]] == \
        ["#%d dc %s" % (i + 1, dc) for i, dc in enumerate(PLAIN_DEFAULT)]
    assert "distance unknown" in lines[3]
    assert lines[6].startswith("answer A: %s, ttl 60" % PLAIN_DEFAULT[0])
    lines = explain_lines(plain, "www.example.com", ecs="127.0.4.0/24")
    assert lines[1] == "location: country JP, continent AS, no coordinates"
    assert lines[-2] == "answer A: %s, ttl 60, ecs scope /24" \
        % PLAIN_DEFAULT[0]


def test_explain_service_parts(plain):
    """A datacenter the service has no addresses in is named as such, not
    as DOWN; NODATA names the SOA's negative TTL, not the GEO record's;
    without ECS in the explain query the scope is marked as what an ECS
    query would get (the real answer then carries no ECS option)."""
    lines = explain_lines(plain, "duo.example.com", ecs="192.0.2.0/24")
    iad = [l for l in lines if l.startswith("#") and " dc iad:" in l]
    assert iad == ["#2 dc iad: %s; not in this service (no addresses)"
                   % km("London", "iad")], lines
    assert lines[-2] == "answer A: fra, ttl 45, ecs scope /24"
    assert lines[-1] == ("answer AAAA: none (NODATA, the zone's SOA at its "
                         "negative TTL), ecs scope /0")
    r = ask(plain, "duo.example.com", "AAAA", ecs="192.0.2.0/24")
    assert r.rcode() == dns.rcode.NOERROR and not r.answer
    assert r.authority[0].ttl == 300   # min(SOA TTL, MINIMUM), not 45
    lines = explain_lines(plain, "duo.example.com", source="127.0.0.1")
    assert lines[-2].startswith("answer A: "), lines
    assert lines[-2].endswith(" (to a query with ECS)"), lines


def test_query_log_names_the_datacenter(plain):
    """With the query log on, a GEO answer's line ends with the datacenter
    it came from; other answers have none."""
    n = plain.stderr.count("query log: on")
    plain.send_signal(signal.SIGUSR1)
    try:
        assert wait_until(lambda: plain.stderr.count("query log: on") > n, 5)
        ask(plain, "www.example.com", ecs="127.0.3.0/24")
        ask(plain, "static.example.com", ecs="127.0.3.0/24")
        geo = re.compile(r"query: \S+ udp www\.example\.com\. IN A NOERROR aa "
                         r"\d+ ecs 127\.0\.3\.0/24 scope 24 dc sin$", re.M)
        static = re.compile(r"query: \S+ udp static\.example\.com\. IN A "
                            r"NOERROR aa \d+ ecs 127\.0\.3\.0/24 scope 0$",
                            re.M)
        assert wait_until(lambda: geo.search(plain.stderr)
                          and static.search(plain.stderr), 5), plain.stderr
    finally:
        m = plain.stderr.count("query log: off")
        plain.send_signal(signal.SIGUSR1)
        assert wait_until(lambda: plain.stderr.count("query log: off") > m, 5)


def test_explain_wildcard_geo(plain):
    lines = explain_lines(plain, "x.cdn.example.com", ecs="127.0.2.0/24")
    assert lines[0] == "x.cdn.example.com.: from the wildcard *.cdn.example.com."
    assert lines[1] == "client 127.0.2.0/24 from EDNS Client Subnet; " \
        "service web"
    assert lines[-2] == "answer A: iad, ttl 30, ecs scope /24"


def test_explain_follows_cnames(plain):
    """A name that CNAMEs into a geo-routed one (the usual set-up) is
    explained as an A query answers it: the CNAME, then the target's
    decision, which matches the real answer."""
    lines = explain_lines(plain, "alias.example.com", ecs="127.0.3.0/24")
    assert lines[0] == "alias.example.com.: CNAME to www.example.com.; " \
        "following it"
    assert lines[1] == "client 127.0.3.0/24 from EDNS Client Subnet; " \
        "service web"
    assert lines[-2] == "answer A: sin, ttl 60, ecs scope /24"
    r = ask(plain, "alias.example.com", ecs="127.0.3.0/24")
    assert chosen(r) == ("NOERROR", "sin", 24)


def test_explain_static_and_missing(plain):
    lines = explain_lines(plain, "static.example.com", ecs="192.0.2.0/24")
    assert lines == ["static.example.com.: static records; the same for "
                     "every client, ecs scope /0"]
    lines = explain_lines(plain, "nope.example.com")
    assert lines == ["nope.example.com.: does not exist (NXDOMAIN); ecs "
                     "scope /0"]
    lines = explain_lines(plain, "www.example.org")
    assert lines == ["www.example.org.: not in any zone served here "
                     "(REFUSED)"]


def test_explain_rules(rules):
    cfg, rf = rules.config_path, rules.rules_path
    cases = [
        ("127.0.1.0/24", "rule: network rule 127.0.1.0/24 (%s:%d)"
         % (cfg, line_of(rules.config, "network: 127.0.1.0/24")),
         "answer A: sin"),
        ("127.0.5.0/24", "rule: network rule 127.0.5.0/24 (%s:2)" % rf,
         "answer A: sin"),
        ("192.0.2.128/25", "rule: country rule GB (%s:%d)"
         % (cfg, line_of(rules.config, "GB:")), "answer A: sin"),
        ("127.0.6.0/24", "rule: continent rule OC (%s:%d)"
         % (cfg, line_of(rules.config, "OC:")), "answer A: fra"),
    ]
    for ecs, rule_line, answer in cases:
        lines = explain_lines(rules, "www.example.com", ecs=ecs,
                              source="127.0.9.1")
        assert lines[2] == rule_line, ecs
        assert lines[-2].startswith(answer + ","), (ecs, lines)
    lines = explain_lines(rules, "www.example.com", ecs="127.0.6.0/24",
                          source="127.0.9.1")
    assert lines[1] == ("location: Sydney, country AU, continent OC, "
                        "lat -33.87 lon 151.21")
    assert [l.split(":")[0] for l in lines[3:6]] == \
        ["#1 dc fra", "#2 dc sin", "#3 dc iad"]


def test_explain_network_rule_shows_location(rules):
    """Explain names "the location found" and each datacenter's distance
    (docs/geo.md).  Frankfurt's 127.0.1.0/24 is in the database even though
    a network rule decides its answer."""
    lines = explain_lines(rules, "www.example.com", ecs="127.0.1.0/24",
                          source="127.0.9.1")
    assert lines[1] == ("location: Frankfurt, country DE, continent EU, "
                        "lat 50.11 lon 8.68")
    assert lines[3] == expected_dc_line(1, "sin", km("Frankfurt", "sin"))


def test_explain_acl(rules):
    q = "www.example.com.explain.geodnsd."
    r = ask(rules, q, "TXT", rdclass="CH", ecs="192.0.2.0/24")
    assert r.rcode() == dns.rcode.REFUSED and r.answer == []
    assert [(o.code, o.text) for o in r.options if o.otype == dns.edns.EDE] \
        == [(18, "source not in explain-acl")], r
    r = ask(rules, q, "TXT", rdclass="CH", source="127.0.10.1")
    assert r.rcode() == dns.rcode.REFUSED and r.answer == []
    lines = explain_lines(rules, "www.example.com", ecs="192.0.2.0/24",
                          source="127.0.9.1")
    assert lines[-2] == "answer A: fra, ttl 60, ecs scope /25"
    # The default ACL (127.0.0.0/8, ::1) lets 127.0.0.1 ask the plain server.


# ---------------------------------------------------------------- 8. reload

def dc_for(srv, ecs):
    return chosen(ask(srv, "www.example.com", ecs=ecs, timeout=1.0))


DEFAULT_IAD = "routing:\n  default: [ iad, sin, fra ]\n"


def test_ipv6_scope_stays_out_of_embedded_ipv4(server_factory, mmdb_dir):
    """6to4, Teredo and IPv4-mapped clients are routed by their IPv4
    address (and IPv4 rules).  A native IPv6 answer's scope must not cover
    them: here every record ranks the same (a Country database, no country
    rules), so the IPv6 tree alone would say scope 0 for 2600:1::/48, while
    the 6to4 and Teredo clients of 192.0.2.0/24 get fra by a network rule."""
    srv = server_factory(
        database=os.path.join(mmdb_dir, "country.mmdb"),
        routing="routing:\n  networks:\n    - { network: 192.0.2.0/24, "
                "datacenters: [ fra ] }\n  default: [ iad, fra, sin ]\n")
    native = chosen(ask(srv, "www.example.com", ecs="2600:1::/48"))
    assert native[:2] == ("NOERROR", "iad"), native
    six = chosen(ask(srv, "www.example.com", ecs="2002:c000:200::/48"))
    teredo = chosen(ask(srv, "www.example.com",
                        ecs="2001:0:4136:e378:8000:63bf:3fff:fdff/128"))
    assert six[:2] == teredo[:2] == ("NOERROR", "fra"), (six, teredo)
    # 2600:: and 2002:: (and 2001::) part at bit 5: the scope stops at 6.
    assert native[2] == 6, native
    for ecs, want in (("2600:1::/48", 6), ("2001:db8:1::/48", 21),
                      ("2002:c000:200::/48", 16 + 24)):
        got = chosen(ask(srv, "www.example.com", ecs=ecs))[2]
        assert got == want, (ecs, got)
        # An address at the far end of that scope is no embedded one.
        net = ipaddress.ip_network("%s/%d" % (ecs.split("/")[0], got),
                                   strict=False)
        for embedded in ("::/96", "::ffff:0:0/96", "2002::/16", "2001::/32"):
            if not ecs.startswith("2002"):
                assert not net.overlaps(ipaddress.ip_network(embedded)), \
                    (ecs, got, embedded)


def test_rule_scope_keeps_the_database_network(server_factory, mmdb_dir):
    """A network rule's datacenters come first and the rest follow the
    record's own order: by distance where it has coordinates (Singapore),
    the default order where not (Tokyo).  Inside a /16 rule the two differ,
    so the scope is each record's /24, not the rule's /16."""
    srv = server_factory(
        database=os.path.join(mmdb_dir, "city.mmdb"),
        routing="routing:\n  networks:\n    - { network: 127.0.0.0/16, "
                "datacenters: [ fra ] }\n  default: [ iad, fra, sin ]\n")
    assert chosen(ask(srv, "www.example.com", ecs="127.0.4.0/24")) == \
        ("NOERROR", "fra", 24)
    assert chosen(ask(srv, "www.example.com", ecs="127.0.3.0/24")) == \
        ("NOERROR", "fra", 24)
    tokyo = explain_lines(srv, "www.example.com", ecs="127.0.4.0/24")
    singapore = explain_lines(srv, "www.example.com", ecs="127.0.3.0/24")
    order = [[l.split(":")[0].split()[-1] for l in lines if l.startswith("#")]
             for lines in (tokyo, singapore)]
    assert order == [["fra", "iad", "sin"], ["fra", "sin", "iad"]], order


def test_sighup_swaps_database(server_factory, mmdb_dir):
    srv = server_factory(database=os.path.join(mmdb_dir, "city.mmdb"),
                         routing=DEFAULT_IAD)
    assert dc_for(srv, "127.0.1.0/24") == ("NOERROR", "fra", 24)
    assert dc_for(srv, "192.0.2.0/24") == ("NOERROR", "fra", 24)
    srv.database = os.path.join(mmdb_dir, "country.mmdb")
    srv.write_config()
    srv.send_signal(signal.SIGHUP)
    # No coordinates in a Country database: the default order.
    ok = wait_until(lambda: dc_for(srv, "127.0.1.0/24")[1] == "iad"
                    or None, 8.0, 0.1)
    assert ok, "no change 8 s after SIGHUP:\n" + srv.stderr
    # Every record now gets the default order: the answer no longer
    # depends on the client, and its scope says so.
    assert dc_for(srv, "127.0.1.0/24") == ("NOERROR", "iad", 0)
    assert dc_for(srv, "192.0.2.0/24") == ("NOERROR", "iad", 0)


def test_ready_line_counts_probed_targets_only(plain):
    """Addresses without a check are never probed: the ready line does not
    count them as health targets."""
    assert re.search(r"geodnsd \S+ ready: 1 zone, 0 health targets",
                     plain.stderr), plain.stderr


def test_sighup_swaps_database_default_is_config_order(server_factory,
                                                       mmdb_dir):
    """Without routing.default the order is the configuration's (fra first):
    with the Country database New York gets fra."""
    srv = server_factory(database=os.path.join(mmdb_dir, "city.mmdb"))
    assert dc_for(srv, "127.0.2.0/24") == ("NOERROR", "iad", 24)
    srv.database = os.path.join(mmdb_dir, "country.mmdb")
    srv.write_config()
    srv.send_signal(signal.SIGHUP)
    ok = wait_until(lambda: dc_for(srv, "127.0.2.0/24")[1] == "fra"
                    or None, 8.0, 0.1)
    assert ok, "no change 8 s after SIGHUP:\n" + srv.stderr


def replace_by_rename(src_bytes, dst):
    tmp = dst + ".new"
    with open(tmp, "wb") as f:
        f.write(src_bytes)
    os.rename(tmp, dst)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def test_database_replaced_by_rename_reloads(server_factory, mmdb_dir,
                                             tmp_path):
    db = str(tmp_path / "GeoIP2-City.mmdb")
    shutil.copy(os.path.join(mmdb_dir, "city.mmdb"), db)
    srv = server_factory(database=db, routing=DEFAULT_IAD)
    assert dc_for(srv, "127.0.1.0/24") == ("NOERROR", "fra", 24)
    t0 = time.monotonic()
    replace_by_rename(read(os.path.join(mmdb_dir, "country.mmdb")), db)
    ok = wait_until(lambda: dc_for(srv, "127.0.1.0/24")[1] == "iad"
                    or None, 8.0, 0.1)
    elapsed = time.monotonic() - t0
    assert ok, "database replaced, no reload within 8 s:\n" + srv.stderr
    assert elapsed < 8.0
    assert "changed on disk" in srv.stderr


def test_corrupt_database_changes_nothing(server_factory, mmdb_dir,
                                          tmp_path):
    db = str(tmp_path / "GeoIP2-City.mmdb")
    shutil.copy(os.path.join(mmdb_dir, "city.mmdb"), db)
    srv = server_factory(database=db, routing=DEFAULT_IAD)
    before = {e: dc_for(srv, e) for e in ("127.0.1.0/24", "127.0.2.0/24",
                                          "198.51.100.128/25")}
    assert before["127.0.1.0/24"] == ("NOERROR", "fra", 24)
    replace_by_rename(read(os.path.join(mmdb_dir, "city.mmdb"))[:1000], db)
    db_line = line_of(srv.config, "database:")
    pattern = re.compile(r"%s:%d: geoip database '%s'" % (
        re.escape(srv.config_path), db_line, re.escape(db)))

    def error_logged():
        for e, want in before.items():      # keeps answering meanwhile
            assert dc_for(srv, e) == want, e
        return pattern.search(srv.stderr)
    assert wait_until(error_logged, 8.0, 0.2), \
        "no load error within 8 s:\n" + srv.stderr
    assert srv.running()
    for e, want in before.items():
        assert dc_for(srv, e) == want, e
    assert "geoip: new database '%s' not loaded; still serving the " \
        "previous one (generation 1)" % db in srv.stderr, srv.stderr
    # The failed version is not retried while it stays the same.
    time.sleep(2.5)
    assert len(pattern.findall(srv.stderr)) == 1, srv.stderr
    assert dc_for(srv, "127.0.1.0/24") == ("NOERROR", "fra", 24)
    # A good file after the bad one is picked up again.
    replace_by_rename(read(os.path.join(mmdb_dir, "country.mmdb")), db)
    ok = wait_until(lambda: dc_for(srv, "127.0.1.0/24")[1] == "iad"
                    or None, 8.0, 0.1)
    assert ok, "good database after a corrupt one not loaded:\n" + srv.stderr


def test_database_update_loads_only_the_database(server_factory, mmdb_dir,
                                                  tmp_path):
    """A new database is loaded under the running configuration and zones:
    a zone edit saved but not reloaded stays unpublished until SIGHUP."""
    db = str(tmp_path / "GeoIP2-City.mmdb")
    shutil.copy(os.path.join(mmdb_dir, "city.mmdb"), db)
    mport = free_port()
    srv = server_factory(database=db, routing=DEFAULT_IAD,
                         extra="metrics:\n  listen: 127.0.0.1@%d" % mport)

    def metrics(name, labels=""):
        url = "http://127.0.0.1:%d/metrics" % mport
        with urllib.request.urlopen(url, timeout=5) as resp:
            return metric(resp.read().decode(), name, labels)

    assert dc_for(srv, "127.0.1.0/24") == ("NOERROR", "fra", 24)
    with open(os.path.join(srv.workdir, "example.zone"), "a") as f:
        f.write("pending 60 IN A 192.0.2.98\n")
    replace_by_rename(read(os.path.join(mmdb_dir, "country.mmdb")), db)
    ok = wait_until(lambda: dc_for(srv, "127.0.1.0/24")[1] == "iad"
                    or None, 8.0, 0.1)
    assert ok, "database replaced, not loaded within 8 s:\n" + srv.stderr
    # Logged (and counted) just after the new data went live: wait for it.
    loaded = re.compile(r"geoip: database '%s' loaded in \d+ ms: \d+ records, "
                        r"generation 2" % re.escape(db))
    assert wait_until(lambda: loaded.search(srv.stderr), 3), srv.stderr
    assert "reload: loading" not in srv.stderr, srv.stderr
    assert metrics("geodnsd_geoip_loads_total", 'result="ok"') == 1
    assert metrics("geodnsd_reloads_total", 'result="ok"') == 0
    assert metrics("geodnsd_dataset_generation") == 2
    r = ask(srv, "pending.example.com.")
    assert r.rcode() == dns.rcode.NXDOMAIN, \
        "a zone edit went live with the database:\n%s" % r
    srv.send_signal(signal.SIGHUP)
    ok = wait_until(lambda: ask(srv, "pending.example.com.").rcode()
                    == dns.rcode.NOERROR or None, 8.0, 0.1)
    assert ok, "zone edit not live after SIGHUP:\n" + srv.stderr
    assert addresses(ask(srv, "pending.example.com.")) == ["192.0.2.98"]
    # The whole reload read the new database too: nothing moved back.
    assert dc_for(srv, "127.0.1.0/24")[1] == "iad"
    assert metrics("geodnsd_reloads_total", 'result="ok"') == 1
    assert metrics("geodnsd_geoip_loads_total", 'result="ok"') == 1
    assert metrics("geodnsd_dataset_generation") == 3


def test_database_update_with_a_broken_zone_on_disk(server_factory,
                                                     mmdb_dir, tmp_path):
    """A zone file broken on disk (a whole reload would fail) does not hold
    a new database back; the zone keeps being served as loaded."""
    db = str(tmp_path / "GeoIP2-City.mmdb")
    shutil.copy(os.path.join(mmdb_dir, "city.mmdb"), db)
    srv = server_factory(database=db, routing=DEFAULT_IAD)
    before = addresses(ask(srv, "static.example.com."))
    assert before, srv.stderr
    with open(os.path.join(srv.workdir, "example.zone"), "a") as f:
        f.write("broken 60 IN A 999.1.2.3\n")
    replace_by_rename(read(os.path.join(mmdb_dir, "country.mmdb")), db)
    ok = wait_until(lambda: dc_for(srv, "127.0.1.0/24")[1] == "iad"
                    or None, 8.0, 0.1)
    assert ok, "new database held back by a broken zone:\n" + srv.stderr
    assert "999.1.2.3" not in srv.stderr, srv.stderr
    assert addresses(ask(srv, "static.example.com.")) == before
    # SIGHUP still reports the broken zone and keeps everything.
    srv.send_signal(signal.SIGHUP)
    assert wait_until(lambda: "reload: failed" in srv.stderr or None,
                      8.0, 0.1), srv.stderr
    assert "example.zone" in srv.stderr and "999.1.2.3" in srv.stderr
    assert dc_for(srv, "127.0.1.0/24")[1] == "iad"
    assert addresses(ask(srv, "static.example.com.")) == before


def test_database_updates_and_reloads_under_load(server_factory, mmdb_dir,
                                                 tmp_path):
    """Database loads share the running zones with the dataset they replace;
    whole reloads replace both.  Alternated under a steady stream of geo
    and static queries, nothing may be freed while a worker can still read
    it (under ASan that is a heap-use-after-free that kills the server).
    Bounded in time."""
    db = str(tmp_path / "GeoIP2-City.mmdb")
    shutil.copy(os.path.join(mmdb_dir, "city.mmdb"), db)
    srv = server_factory(database=db, routing=DEFAULT_IAD)
    wires = [dns.message.make_query(
        "www.example.com", "A", use_edns=0,
        options=[dns.edns.ECSOption("127.0.1.0", 24, 0)]).to_wire(),
        dns.message.make_query("static.example.com", "A").to_wire()]
    sources = [read(os.path.join(mmdb_dir, n))
               for n in ("country.mmdb", "city.mmdb")]
    try:
        with UdpLoad(srv.host, srv.port, wires) as load:
            for i in range(6):
                n = srv.stderr.count("geoip: database")
                replace_by_rename(sources[i % 2], db)
                assert wait_until(lambda: srv.stderr.count("geoip: database")
                                  >= n + 2 or not srv.running() or None,
                                  8.0, 0.05), srv.stderr
                assert srv.running(), srv.stderr[-3000:]
                n = srv.stderr.count("reload: done")
                srv.send_signal(signal.SIGHUP)
                assert wait_until(lambda: srv.stderr.count("reload: done") > n
                                  or not srv.running() or None,
                                  8.0, 0.05), srv.stderr
                assert srv.running(), srv.stderr[-3000:]
    finally:
        log = srv.stderr
        alive = srv.running()
    assert alive and "AddressSanitizer" not in log, log[-3000:]
    assert log.count("' loaded in ") == 6, log
    assert load.answered > 1000, load.answered
    # The last database (city) is the one answering.
    assert dc_for(srv, "127.0.1.0/24") == ("NOERROR", "fra", 24)


def test_broken_database_does_not_hold_back_a_reload(server_factory,
                                                     mmdb_dir, tmp_path):
    """SIGHUP with a corrupt database file on disk (a full disk during a
    download): the configuration and zones are applied, the database
    loaded before keeps serving, and the log says so as a warning.  A
    SIGHUP with the database file unchanged does not read it again."""
    db = str(tmp_path / "GeoIP2-City.mmdb")
    shutil.copy(os.path.join(mmdb_dir, "city.mmdb"), db)
    srv = server_factory(database=db, routing=DEFAULT_IAD)
    assert srv.stderr.count(", built ") == 1, srv.stderr
    assert re.search(r"geoip: database '%s': \S+, built \d{4}-\d\d-\d\d "
                     r"\d\d:\d\d UTC, \d+ records, \d+ with coordinates"
                     % re.escape(db), srv.stderr), srv.stderr
    # Unchanged file: kept, not read again.
    srv.send_signal(signal.SIGHUP)
    assert wait_until(lambda: "reload: done" in srv.stderr or None,
                      8.0, 0.05), srv.stderr
    assert srv.stderr.count(", built ") == 1, srv.stderr
    # A corrupt file and a zone edit, then SIGHUP before the watch can
    # notice the file (or after: either way the reload must succeed).
    with open(os.path.join(srv.workdir, "example.zone"), "a") as f:
        f.write("pending 60 IN A 192.0.2.98\n")
    replace_by_rename(read(os.path.join(mmdb_dir, "city.mmdb"))[:1000], db)
    srv.send_signal(signal.SIGHUP)
    assert wait_until(lambda: srv.stderr.count("reload: done") >= 2 or None,
                      8.0, 0.05), srv.stderr
    assert "reload: failed" not in srv.stderr, srv.stderr
    line = line_of(srv.config, "database:")
    assert re.search(r"warning: %s:%d: geoip database '%s': keeping the "
                     r"version loaded before" % (re.escape(srv.config_path),
                                                 line, re.escape(db)),
                     srv.stderr), srv.stderr
    assert addresses(ask(srv, "pending.example.com.")) == ["192.0.2.98"]
    assert dc_for(srv, "127.0.1.0/24") == ("NOERROR", "fra", 24)
    # The version the reload passed over is not tried again by the watch
    # (a second, hard failure for the same file).
    time.sleep(2.5)
    after = srv.stderr.rsplit("reload: done", 1)[1]
    assert "not loaded" not in after, srv.stderr
    # --check (would a start work?) fails on the file; --check-reload (what
    # systemctl reload runs) passes with a warning.
    res = run_check(srv.config_path)
    assert res.returncode == 1 and db in res.stderr, res
    res = subprocess.run([GEODNSD, "-c", srv.config_path, "--check-reload"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, timeout=20,
                         stdin=subprocess.DEVNULL)
    assert res.returncode == 0 and "OK" in res.stdout, res
    assert "geoip database '%s': a running server keeps the version it has " \
        "loaded; a start would fail" % db in res.stderr, res.stderr
    # A good file later is loaded (by the watch) as usual.
    replace_by_rename(read(os.path.join(mmdb_dir, "country.mmdb")), db)
    assert wait_until(lambda: dc_for(srv, "127.0.1.0/24")[1] == "iad"
                      or None, 8.0, 0.1), srv.stderr


def test_database_without_coordinates_is_a_warning(server_factory, mmdb_dir,
                                                   tmp_path):
    """A database with no coordinates (a Country database put where a City
    one was) turns distance routing off for every client: say so, and
    that the type changed.  The build time is a metric."""
    db = str(tmp_path / "GeoIP2-City.mmdb")
    shutil.copy(os.path.join(mmdb_dir, "city.mmdb"), db)
    mport = free_port()
    srv = server_factory(database=db, routing=DEFAULT_IAD,
                         extra="metrics:\n  listen: 127.0.0.1@%d" % mport)
    assert "has no coordinates" not in srv.stderr, srv.stderr
    url = "http://127.0.0.1:%d/metrics" % mport
    with urllib.request.urlopen(url, timeout=5) as resp:
        built = metric(resp.read().decode(),
                       "geodnsd_geoip_build_timestamp_seconds")
    assert built is not None and 1.5e9 < built < time.time() + 86400, built
    replace_by_rename(read(os.path.join(mmdb_dir, "country.mmdb")), db)
    assert wait_until(lambda: "has no coordinates" in srv.stderr or None,
                      8.0, 0.1), srv.stderr
    assert re.search(r"warning: geoip: database '%s' has no coordinates: "
                     r"clients are routed by country, continent and network "
                     r"rules and the default order only, never by distance"
                     % re.escape(db), srv.stderr), srv.stderr
    assert re.search(r"warning: geoip: database '%s' changed type: \S+, "
                     r"was \S+" % re.escape(db), srv.stderr), srv.stderr


def test_sighup_and_stop_during_a_database_load(server_factory, mmdb_dir,
                                                tmp_path):
    """A SIGHUP that comes while a replaced database is loading is queued
    and runs after it; SIGTERM while one is loading waits for it and exits
    cleanly (under ASan, without leaks or a use-after-free).  The signals
    are sent the moment the load is logged as started."""
    db = str(tmp_path / "GeoIP2-City.mmdb")
    shutil.copy(os.path.join(mmdb_dir, "city.mmdb"), db)
    srv = server_factory(database=db, routing=DEFAULT_IAD)
    sources = [read(os.path.join(mmdb_dir, n))
               for n in ("country.mmdb", "city.mmdb")]

    def when_loading(n):
        return wait_until(lambda: srv.stderr.count("changed on disk, "
                                                   "loading it") >= n
                          or None, 8.0, 0.002)

    replace_by_rename(sources[0], db)
    assert when_loading(1), srv.stderr
    srv.send_signal(signal.SIGHUP)
    assert wait_until(lambda: "reload: done" in srv.stderr or None,
                      8.0, 0.05), srv.stderr
    log = srv.stderr
    assert log.index("' loaded in ") < log.index("reload: done"), log
    assert "generation 3" in log, log
    assert dc_for(srv, "127.0.1.0/24")[1] == "iad"
    replace_by_rename(sources[1], db)
    assert when_loading(2), srv.stderr
    srv.stop()                          # asserts exit status 0
    assert "AddressSanitizer" not in srv.stderr, srv.stderr[-3000:]
    assert "LeakSanitizer" not in srv.stderr, srv.stderr[-3000:]


def test_a_mode_change_does_not_reload_the_database(server_factory, mmdb_dir,
                                                   tmp_path):
    """The file watches compare the ctime since the overrides file needed
    it; for the loaded GeoIP database a chmod, chown or hard link is no
    new version, and a City database takes a while to load."""
    db = str(tmp_path / "GeoIP2-City.mmdb")
    shutil.copy(os.path.join(mmdb_dir, "city.mmdb"), db)
    srv = server_factory(database=db, routing=DEFAULT_IAD)
    time.sleep(1.1)
    os.chmod(db, 0o640)
    os.link(db, db + ".link")
    time.sleep(2.5)     # the watch looks every second
    assert "changed on disk" not in srv.stderr, srv.stderr


def run_check(config_path):
    require_geodnsd()
    return subprocess.run([GEODNSD, "-c", config_path, "--check"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=20,
                          stdin=subprocess.DEVNULL)


def test_missing_database_at_startup(server_factory, tmp_path):
    db = str(tmp_path / "nowhere" / "GeoLite2-City.mmdb")
    srv = server_factory(start=False, database=db)
    res = run_check(srv.config_path)
    assert res.returncode == 1, res
    out = res.stdout + res.stderr
    assert "%s:%d:" % (srv.config_path, line_of(srv.config, "database:")) \
        in out, out
    assert db in out and "geoip database" in out, out
    # Starting for real fails the same way, without serving.
    proc = subprocess.run([GEODNSD, "-c", srv.config_path],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=20,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode != 0 and db in proc.stderr, proc


# ---------------------------------------------------------------- 9. config

def write(path, text):
    with open(str(path), "w") as f:
        f.write(text)
    return str(path)


BASE_ZONE_HEAD = ZONE.split("www  60")[0]


def check_errors(tmp_path, mmdb_dir, zone=ZONE, **kwargs):
    """--check on a configuration; returns (config path, its text,
    zone path, CompletedProcess)."""
    zone_path = write(tmp_path / "example.zone", zone)
    kwargs.setdefault("database", os.path.join(mmdb_dir, "city.mmdb"))
    text = config_text(5300, **kwargs)
    cfg = write(tmp_path / "geodnsd.yaml", text)
    res = run_check(cfg)
    return cfg, text, zone_path, res


def test_check_accepts_the_test_configuration(tmp_path, mmdb_dir):
    cfg, text, zone, res = check_errors(tmp_path, mmdb_dir)
    assert res.returncode == 0, res


def test_check_geo_unknown_service(tmp_path, mmdb_dir):
    zone = BASE_ZONE_HEAD + "www 60 IN GEO nosuch\n"
    cfg, text, zpath, res = check_errors(tmp_path, mmdb_dir, zone=zone)
    assert res.returncode == 1, res
    assert "%s:%d: " % (zpath, line_of(zone, "GEO nosuch")) in res.stderr
    assert "unknown service 'nosuch'" in res.stderr, res.stderr


def test_check_geo_beside_static_a(tmp_path, mmdb_dir):
    zone = BASE_ZONE_HEAD + "www 60 IN GEO web\nwww IN A 192.0.2.1\n"
    cfg, text, zpath, res = check_errors(tmp_path, mmdb_dir, zone=zone)
    assert res.returncode == 1, res
    geo_line, a_line = line_of(zone, "GEO web"), line_of(zone, "www IN A")
    assert re.search(r"%s:%d: .*also has static A records \(%s:%d\)" % (
        re.escape(zpath), geo_line, re.escape(zpath), a_line),
        res.stderr), res.stderr


def test_check_geo_beside_static_cname(tmp_path, mmdb_dir):
    zone = BASE_ZONE_HEAD + "www IN CNAME static\nwww 60 IN GEO web\n" \
        "static IN A 192.0.2.99\n"
    cfg, text, zpath, res = check_errors(tmp_path, mmdb_dir, zone=zone)
    assert res.returncode == 1, res
    assert "also has static CNAME" in res.stderr, res.stderr


def test_check_unknown_datacenter_in_service(tmp_path, mmdb_dir):
    services = {"web": {"fra": ["192.0.2.10"], "xyz": ["192.0.2.11"]}}
    cfg, text, zpath, res = check_errors(tmp_path, mmdb_dir,
                                         services=services)
    assert res.returncode == 1, res
    assert "%s:%d: service 'web': unknown datacenter 'xyz'" % (
        cfg, line_of(text, "xyz:")) in res.stderr, res.stderr


def test_check_unknown_datacenter_hides_its_probes(tmp_path, mmdb_dir):
    """A misspelt datacenter leaves its addresses out; a probe for one of
    them is not reported as a second mistake."""
    services = {"web": {"fra": ["192.0.2.10"], "xyz": ["192.0.2.11"]}}
    text = config_text(5300, os.path.join(mmdb_dir, "city.mmdb"),
                       services=services)
    text = text.replace("  web:\n", "  web:\n    probe:\n"
                        "      192.0.2.11: 127.0.0.2\n")
    write(tmp_path / "example.zone", ZONE)
    cfg = write(tmp_path / "geodnsd.yaml", text)
    res = run_check(cfg)
    assert res.returncode == 1 and "1 error\n" in res.stderr, res
    assert "unknown datacenter 'xyz'" in res.stderr, res.stderr


def test_check_warns_about_country_codes_no_record_has(tmp_path, mmdb_dir):
    """'UK' or 'XX' pass the syntax but match no database record: a
    warning each (not an error: a database may carry newer codes); GB and
    XK (Kosovo, which MaxMind uses) are fine."""
    routing = ("routing:\n  countries:\n    UK: [ fra ]\n    XX: [ sin ]\n"
               "    GB: [ fra ]\n    xk: [ fra ]\n")
    cfg, text, zpath, res = check_errors(tmp_path, mmdb_dir, routing=routing)
    assert res.returncode == 0 and "2 warnings" in res.stdout, res
    assert "%s:%d: warning: 'UK' is not an ISO 3166-1 country code, so no " \
        "database record will match it (the United Kingdom is GB)" % (
            cfg, line_of(text, "UK:")) in res.stderr, res.stderr
    assert "%s:%d: warning: 'XX' is not an ISO 3166-1 country code, so no " \
        "database record will match it\n" % (cfg, line_of(text, "XX:")) \
        in res.stderr, res.stderr


def test_check_address_listed_twice(tmp_path, mmdb_dir):
    """One address twice in a datacenter would be one record twice in the
    answer (RFC 2181 5) and probed twice: an error at the second."""
    services = {"web": {"fra": ["192.0.2.10", "2001:db8::10",
                                "2001:DB8:0::10"],
                        "iad": ["198.51.100.10"]}}
    text = config_text(5300, os.path.join(mmdb_dir, "city.mmdb"),
                       services=services)
    # Block style, one address a line, so the two lines differ.
    flow = 'fra: [ "192.0.2.10", "2001:db8::10", "2001:DB8:0::10" ]'
    assert flow in text, text
    text = text.replace(
        flow, "fra:\n        - 192.0.2.10\n        - 2001:db8::10\n"
        "        - 2001:DB8:0::10")
    write(tmp_path / "example.zone", ZONE)
    cfg = write(tmp_path / "geodnsd.yaml", text)
    res = run_check(cfg)
    assert res.returncode == 1, res
    assert "%s:%d: service 'web', datacenter 'fra': 2001:DB8:0::10 is " \
        "listed twice (first on line %d)" % (
            cfg, line_of(text, "2001:DB8:0::10"),
            line_of(text, "- 2001:db8::10")) in res.stderr, res.stderr


def test_check_probe_for_an_address_the_service_lacks(tmp_path, mmdb_dir):
    services = {"web": {"fra": ["192.0.2.10"], "iad": ["198.51.100.10"]}}
    text = config_text(5300, os.path.join(mmdb_dir, "city.mmdb"),
                       services=services)
    text = text.replace("  web:\n", "  web:\n    probe:\n"
                        "      192.0.2.10: 127.0.0.1\n"
                        "      192.0.2.77: 127.0.0.2\n")
    write(tmp_path / "example.zone", ZONE)
    cfg = write(tmp_path / "geodnsd.yaml", text)
    res = run_check(cfg)
    assert res.returncode == 1, res
    assert "%s:%d: service 'web': 'probe' names 192.0.2.77, which is not " \
        "one of the service's addresses" % (cfg, line_of(text, "192.0.2.77")) \
        in res.stderr, res.stderr
    assert res.stderr.count("'probe' names") == 1, res.stderr


@pytest.mark.parametrize("routing, needle", [
    ("routing:\n  networks:\n    - { network: 10.0.0.0/8, "
     "datacenters: [ fra, xyz ] }\n", "network: 10.0.0.0/8"),
    ("routing:\n  countries:\n    JP: [ xyz ]\n", "JP:"),
    ("routing:\n  continents:\n    SA: [ xyz ]\n", "SA:"),
    ("routing:\n  default: [ iad, xyz ]\n", "default:"),
])
def test_check_unknown_datacenter_in_rule(tmp_path, mmdb_dir, routing,
                                          needle):
    cfg, text, zpath, res = check_errors(tmp_path, mmdb_dir, routing=routing)
    assert res.returncode == 1, res
    assert re.search(r"%s:%d: .*unknown datacenter '?xyz" % (
        re.escape(cfg), line_of(text, needle)), res.stderr), res.stderr


def test_check_unknown_datacenter_in_networks_file(tmp_path, mmdb_dir):
    rf = write(tmp_path / "rules.txt", "# comment\n10.0.0.0/8 fra\n"
               "10.1.0.0/16 xyz\n")
    cfg, text, zpath, res = check_errors(
        tmp_path, mmdb_dir, routing="routing:\n  networks-file: %s\n"
        % yaml_str(rf))
    assert res.returncode == 1, res
    assert "%s:3: unknown datacenter 'xyz'" % rf in res.stderr, res.stderr


@pytest.mark.parametrize("lat, lon, what", [
    ("91", "8.68", "'latitude' must be a number between -90 and 90, "
                   "not '91'"),
    ("-90.5", "8.68", "'latitude' must be a number between -90 and 90"),
    ("50.11", "181", "'longitude' must be a number between -180 and 180"),
    ("north", "8.68", "'latitude' must be a number"),
    # strtod() alone took hex (16) and blanks; YAML numbers are decimal.
    ("0x1p4", "8.68", "'latitude' must be a number between -90 and 90, "
                      "not '0x1p4'"),
    ("50.11", "'-inf'", "'longitude' must be a number between -180 and 180, "
                        "not '-inf'"),
])
def test_check_bad_coordinates(tmp_path, mmdb_dir, lat, lon, what):
    dcs = [("fra", (lat, lon)), ("iad", DCS["iad"]), ("sin", DCS["sin"])]
    cfg, text, zpath, res = check_errors(tmp_path, mmdb_dir,
                                         datacenters=dcs)
    assert res.returncode == 1, res
    assert "%s:%d: %s" % (cfg, line_of(text, "fra: { latitude"), what) \
        in res.stderr, res.stderr
    # Only that: the services and rules that name fra are not errors too.
    assert "1 error\n" in res.stderr and "unknown datacenter" not in \
        res.stderr, res.stderr


# ---------------------------------------------------------------- 10. Country

def test_country_database(server_factory, mmdb_dir):
    srv = server_factory(
        database=os.path.join(mmdb_dir, "country.mmdb"),
        routing="routing:\n  countries:\n    DE: [ fra ]\n"
                "  default: [ sin, iad, fra ]\n")
    for ecs in ("127.0.1.0/24", "2001:db8:1::/48"):
        r = ask(srv, "www.example.com", ecs=ecs)
        assert chosen(r)[:2] == ("NOERROR", "fra"), ecs
    r = ask(srv, "www.example.com", source="127.0.1.1")
    assert chosen(r) == ("NOERROR", "fra", None)
    # US (New York, Chicago) and GB: no rule, no coordinates -> default.
    for ecs in ("127.0.2.0/24", "198.51.100.0/24", "192.0.2.0/24"):
        r = ask(srv, "www.example.com", ecs=ecs)
        assert chosen(r)[:2] == ("NOERROR", "sin"), ecs
    r = ask(srv, "www.example.com", "AAAA", ecs="127.0.2.0/24")
    assert chosen(r, "AAAA")[:2] == ("NOERROR", "iad")    # sin has no IPv6
    lines = explain_lines(srv, "www.example.com", ecs="127.0.2.0/24")
    assert lines[1] == "location: country US, continent NA, no coordinates"
    assert lines[2] == "rule: none; no location: default order"
    lines = explain_lines(srv, "www.example.com", ecs="127.0.1.0/24")
    assert lines[1] == "location: country DE, continent EU, no coordinates"
    assert lines[2].startswith("rule: country rule DE (%s:"
                               % srv.config_path)
