"""The data both servers get in bench/compare.sh and
bench/reload-under-load.sh, and the query sets.

Zone example.com: SOA, NS, a few A/AAAA/MX/TXT names and the geo name www
(geodnsd `www 60 IN GEO web`, gdnsd `www 60 DYNA geoip!web`) served from
fra, iad and sin with the coordinates of the brief, over the test database
city.mmdb from tools/make-test-mmdb.  No health checks.
"""

import csv
import ipaddress
import os
import random
import subprocess

import benchlib

ZONE = "example.com"
DATACENTERS = [               # name, latitude, longitude, answer address
    ("fra", 50.11, 8.68, "192.0.2.10"),
    ("iad", 38.95, -77.45, "198.51.100.10"),
    ("sin", 1.35, 103.99, "203.0.113.10"),
]

ZONE_BODY = """$TTL 300
@      IN SOA  ns1.example.com. hostmaster.example.com. %(serial)d 7200 3600 1209600 300
@      IN NS   ns1.example.com.
@      IN NS   ns2.example.com.
@      IN MX   10 mail.example.com.
@      IN TXT  "v=spf1 mx -all"
ns1    IN A    127.0.0.1
ns2    IN A    127.0.0.2
mail   IN A    192.0.2.25
mail   IN AAAA 2001:db8::25
static IN A    192.0.2.1
static IN AAAA 2001:db8::1
api    IN A    192.0.2.2
api    IN A    192.0.2.3
txt    IN TXT  "hello world" "second string"
"""

# The static queries of the realistic mix (name, type); "static A" alone is
# the first one.
STATIC_QUERIES = [("static.example.com", "A"), ("static.example.com", "AAAA"),
                  ("mail.example.com", "A"), ("example.com", "MX"),
                  ("txt.example.com", "TXT"), ("api.example.com", "A"),
                  ("example.com", "TXT")]


def make_mmdb(workdir):
    """city.mmdb and city-networks.tsv in workdir (tools/make-test-mmdb)."""
    tool = os.path.join(benchlib.REPO, "tools", "make-test-mmdb")
    r = subprocess.run(["perl", tool, workdir], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True,
                       timeout=120)
    if r.returncode != 0:
        raise benchlib.BenchError("tools/make-test-mmdb failed (needs "
                                  "libmaxmind-db-writer-perl):\n" + r.stdout)
    return (os.path.join(workdir, "city.mmdb"),
            os.path.join(workdir, "city-networks.tsv"))


def write_geodnsd(workdir, port, mmdb, serial=1, threads=None):
    """threads=None keeps geodnsd's default (one UDP worker per CPU)."""
    os.makedirs(workdir, exist_ok=True)
    lines = ["server:",
             '  listen: [ "127.0.0.1@%d" ]' % port]
    if threads:
        lines.append("  workers: %d" % threads)
    lines += [
             "  identity: bench",
             "  log-level: notice",
             "geoip:",
             '  database: "%s"' % mmdb,
             "datacenters:"]
    lines += ["  %s: { latitude: %r, longitude: %r }" % (n, la, lo)
              for n, la, lo, _ in DATACENTERS]
    lines += ["services:", "  web:", "    datacenters:"]
    lines += ["      %s: [ %s ]" % (n, a) for n, _, _, a in DATACENTERS]
    lines += ["zones:", "  - name: %s" % ZONE, "    file: %s.zone" % ZONE]
    conf = os.path.join(workdir, "geodnsd.yaml")
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    write_geodnsd_zone(workdir, serial)
    return conf


def write_geodnsd_zone(workdir, serial):
    path = os.path.join(workdir, "%s.zone" % ZONE)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("$ORIGIN %s.\n" % ZONE + ZONE_BODY % {"serial": serial}
                + "www 60 IN GEO web\n")
    os.rename(tmp, path)


def write_gdnsd(workdir, port, mmdb, threads=None):
    """gdnsd 3 configuration directory (see tests/system/GDNSD_BEHAVIOUR.md);
    threads=None keeps gdnsd's default thread counts."""
    confdir = os.path.join(workdir, "etc")
    os.makedirs(os.path.join(confdir, "zones"), exist_ok=True)
    thr = ""
    if threads:
        thr = "  udp_threads => %d\n  tcp_threads => 1\n" % threads
    coords = "\n".join("          %s => [ %r, %r ]" % (n, la, lo)
                       for n, la, lo, _ in DATACENTERS)
    dcmap = "\n".join("          %s => %s" % (n, a)
                      for n, _, _, a in DATACENTERS)
    config = """options => {
  listen => [ 127.0.0.1:%(port)d ]
  run_dir => %(dir)s/run
  state_dir => %(dir)s/state
%(thr)s  edns_client_subnet => true
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
""" % {"port": port, "dir": workdir, "mmdb": mmdb, "thr": thr,
       "order": ", ".join(d[0] for d in DATACENTERS), "coords": coords,
       "dcmap": dcmap}
    with open(os.path.join(confdir, "config"), "w") as f:
        f.write(config)
    with open(os.path.join(confdir, "zones", ZONE), "w") as f:
        f.write(ZONE_BODY % {"serial": 1} + "www 60 DYNA geoip!web\n")
    return confdir


# ---------------------------------------------------------------- queries

def ecs_clients(manifest, rng, extra_random=40):
    """(address, source prefix) for every network of city.mmdb (IPv4 /24 or
    longer, IPv6 /48 or longer, the network's first address) plus some
    random IPv4 /24s, most of them not in the database."""
    out = []
    with open(manifest, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            net = ipaddress.ip_network(row["network"])
            src = max(net.prefixlen, 24 if net.version == 4 else 48)
            out.append((str(net.network_address), src))
    for _ in range(extra_random):
        a = ipaddress.IPv4Address(rng.getrandbits(32) & 0xFFFFFF00)
        out.append((str(a), 24))
    return out


def nx_names(rng, n):
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return ["%s.%s" % ("".join(rng.choice(alphabet)
                               for _ in range(rng.randint(6, 14))), ZONE)
            for _ in range(n)]


def query_sets(manifest, seed=1):
    """{mix: [(label, wire, expected rcode)]}, in the order they are sent;
    deterministic for a given seed."""
    rng = random.Random(seed)
    clients = ecs_clients(manifest, rng)
    static = [("static A", benchlib.build_query("static.%s" % ZONE, "A"),
               "NOERROR")]
    nx = [("nx " + n, benchlib.build_query(n, "A"), "NXDOMAIN")
          for n in nx_names(rng, 5000)]
    geo = [("geo %s/%d" % c, benchlib.build_query("www.%s" % ZONE, "A",
                                                  ecs=c), "NOERROR")
           for c in clients]
    rng.shuffle(geo)
    statics = [("%s %s" % q, benchlib.build_query(*q), "NOERROR")
               for q in STATIC_QUERIES]
    mix = []
    for i in range(10000):       # exactly 60 % geo, 30 % static, 10 % NX
        k = i % 10
        if k < 6:
            mix.append(rng.choice(geo))
        elif k < 9:
            mix.append(statics[i % len(statics)])
        else:
            mix.append(rng.choice(nx))
    rng.shuffle(mix)
    return {"static": static, "nxdomain": nx, "geo": geo, "mix": mix}
