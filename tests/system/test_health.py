"""System tests for health probes and failover (docs/health.md).

The real geodnsd probes real servers that this test process runs in
threads on 127.0.0.1: HTTP and HTTPS endpoints (http.server, ssl with a
self-signed certificate made by the openssl CLI at test time), plain TCP
listeners, a UDP DNS responder, and exec checks (`test -e FILE`).  Served
addresses are in the documentation ranges and are probed through the
service's `probe:` mapping at 127.0.0.1@PORT.  Killing a server means closing
its listening socket; starting it again reopens the same port.

Datacenters fra, iad and sin with the City database from
tools/make-test-mmdb; the ECS client 127.0.1.0/24 is in Frankfurt, so its
order is fra, iad, sin, the default order too, which the empty 127.0.0.0/24
beside it gets: scope /23; 127.0.2.0/24 (New York) starts with iad.
Every GEO record has TTL 60, so the default degraded TTL is 30.

What is covered:
 1. each kind (http, https without and with verification, tcp, dns, exec):
    kill the first choice's server, the answer moves to the next datacenter
    (time measured from the kill), start it again, it comes back after rise
    successes; the DOWN/UP log lines and the status lines;
 2. a datacenter with one of two addresses down answers only the up one,
    with the degraded TTL (50% by default, `degraded-ttl: 7`), and the full
    TTL after recovery;
 3. `up-min: 2`: one of two addresses down is a datacenter down;
 4. flapping targets: patterns that never reach rise/fall never change
    state; a pattern that does changes exactly as the rise/fall machine says;
 5. every datacenter down: fail-open, last-resort and servfail, logged;
 6. operator overrides (state file written directly and by
    tools/geodnsd-force) beat probes; a file with errors is not applied;
    overrides show in status and explain;
 7. CH TXT status.geodnsd and <service>.status.geodnsd: summaries, one line
    per target with state, since, last result and reason, counts; the
    explain-acl;
 8. SIGHUP keeps the state of unchanged targets; a changed check is a new
    target;
 9. ECS scopes do not change under failover;
10. probes start at load, without queries (`initial: down`).

Every wait is bounded.  The probe interval is 1 s (0.5 s for the flapping
targets), so the module takes about a minute.
"""

import collections
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from conftest import (make_test_mmdbs, skip_without_mmdb_writer,
                      GEODNSD, TOP_SRCDIR, DnsServer, UdpLoad, free_port,
                      require_geodnsd, start_web_geo, wait_until, yaml_str)

FORCE = os.path.join(TOP_SRCDIR, "tools", "geodnsd-force")

# geodnsd prefixes its lines with "<N>" instead of "geodnsd: LEVEL:" when it
# believes it runs under journald; these tests read the plain format.
os.environ.pop("JOURNAL_STREAM", None)


skip_without_mmdb_writer()

# ---------------------------------------------------------------- constants

DCS = (("fra", 50.11, 8.68), ("iad", 38.95, -77.45), ("sin", 1.35, 103.99))
FRA = "127.0.1.0/24"        # Frankfurt: fra, iad, sin, as the empty
FRA_SCOPE = 23              # 127.0.0.0/24 beside it (the default order)
FRA6 = "2001:db8:1::/48"    # Frankfurt over IPv6; with the empty
FRA6_SCOPE = 47             # 2001:db8::/48 beside it
NYC = "127.0.2.0/24"        # New York: iad first; its neighbours differ
NYC_SCOPE = 24
GEO_TTL = 60
HALF_TTL = 30

# interval 1 s, fall 3, rise 2: a dead target is down after its next three
# probes (at most 3 x 1.1 s, the interval's jitter is +-10%).
CHECK = {"interval": 1, "timeout": 0.5, "rise": 2, "fall": 3}
FAILOVER_BOUND = 4.0        # http and tcp: 3 probes + jitter + polling
FAILOVER_BOUND_OTHER = 6.0
RECOVERY_BOUND = 2 * 1 + 2.0    # rise * interval + 2 s
# Two successes are at least 0.9 intervals apart: nothing comes back sooner.
RECOVERY_MIN = 0.8

Ans = collections.namedtuple("Ans", "rcode addrs ttl scope")


def ans(addrs, ttl, scope=FRA_SCOPE, rcode="NOERROR"):
    return Ans(rcode, tuple(sorted(addrs)), ttl, scope)


# ---------------------------------------------------------------- helpers

def pick_port():
    """A port free for TCP and UDP on 127.0.0.1, below the ephemeral range
    when there is room: a probe's own source port can then never be the
    port of a closed target (a TCP self-connect would 'succeed')."""
    lo = 32768
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    if lo <= 12000:
        return free_port()
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(10000, lo)
        if port in pick_port.used:
            continue
        ok = True
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            s = socket.socket(socket.AF_INET, kind)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            pick_port.used.add(port)
            return port
    return free_port()


pick_port.used = set()


def poll(cond, timeout, interval=0.1):
    """Call cond() every interval until it returns a true value or timeout
    seconds pass.  Returns (value, seconds elapsed); value is the last
    (false) value on timeout."""
    t0 = time.monotonic()
    while True:
        value = cond()
        if value or time.monotonic() - t0 >= timeout:
            return value, time.monotonic() - t0
        time.sleep(interval)


def ask(srv, name, rdtype="A", ecs=FRA, rdclass="IN", tcp=False, source=None,
        timeout=2.0):
    opts = []
    if ecs is not None:
        addr, plen = ecs.split("/")
        opts.append(dns.edns.ECSOption(addr, int(plen), 0))
    q = dns.message.make_query(name, rdtype, rdclass, use_edns=0,
                               payload=1232, options=opts, flags=0)
    if tcp:
        return dns.query.tcp(q, srv.host, port=srv.port, timeout=timeout,
                             source=source)
    # UDP may be lost on an overloaded machine: try three times.
    for attempt in range(3):
        try:
            return dns.query.udp(q, srv.host, port=srv.port, timeout=timeout,
                                 source=source, ignore_unexpected=True)
        except dns.exception.Timeout:
            if attempt == 2:
                raise


def ecs_scope(r):
    found = [o for o in r.options if o.otype == dns.edns.ECS]
    return found[0].scopelen if found else None


def geo(srv, service, ecs=FRA, rdtype="A"):
    """The A answer for <service>.example.com as Ans(rcode, addrs, ttl,
    scope)."""
    r = ask(srv, "%s.example.com." % service, rdtype, ecs)
    want = dns.rdatatype.from_text(rdtype)
    sets = [s for s in r.answer if s.rdtype == want]
    addrs = tuple(sorted(rd.address for s in sets for rd in s))
    return Ans(dns.rcode.to_text(r.rcode()), addrs,
               sets[0].ttl if sets else None, ecs_scope(r))


def txt_lines(r):
    lines = []
    for s in r.answer:
        assert s.rdtype == dns.rdatatype.TXT, s
        assert s.rdclass == dns.rdataclass.CH, s
        lines += [b"".join(rd.strings).decode() for rd in s]
    return lines


def status_lines(srv, service=None, source=None):
    """CH TXT status.geodnsd (or <service>.status.geodnsd) over TCP."""
    name = "status.geodnsd." if service is None else \
        "%s.status.geodnsd." % service
    r = ask(srv, name, "TXT", ecs=None, rdclass="CH", tcp=True, source=source)
    assert dns.rcode.to_text(r.rcode()) == "NOERROR", r
    return txt_lines(r)


def explain_lines(srv, service, ecs=FRA):
    r = ask(srv, "%s.example.com.explain.geodnsd." % service, "TXT", ecs=ecs,
            rdclass="CH", tcp=True)
    assert dns.rcode.to_text(r.rcode()) == "NOERROR", r
    return txt_lines(r)


TARGET_RE = re.compile(
    r"^(?P<label>\S+/\S+ .*\((?:tcp|http|https|dns|exec|none)\)): "
    r"(?P<state>up|DOWN) since (?P<since>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) "
    r"\((?P<age>\d+) s\)"
    r"(?:; forced (?P<forced>up|down) by operator: (?P<freason>.*?))?"
    r"(?:; (?P<noresult>no probe result yet)|"
    r"; last (?P<last>ok|FAIL): (?P<reason>.*) \((?P<ms>\d+\.\d) ms\); "
    r"(?P<okrow>\d+) ok / (?P<failrow>\d+) failed in a row; "
    r"probes say (?P<probes>up|down); (?P<nok>\d+) ok, (?P<nfail>\d+) "
    r"failed)$")
SINCE_RE = r"since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(\d+ s\)"


class Status:
    """status.geodnsd lines, sorted out."""

    def __init__(self, lines):
        self.lines = lines
        self.services = {}
        self.dcs = {}
        self.targets = {}
        self.other = []
        for line in lines:
            m = TARGET_RE.match(line)
            if line.startswith("service "):
                self.services[line.split(":")[0][len("service "):]] = line
            elif line.startswith("datacenter "):
                self.dcs[line.split(":")[0][len("datacenter "):]] = line
            elif m:
                self.targets[m.group("label")] = m.groupdict()
            else:
                self.other.append(line)

    def target(self, label):
        assert label in self.targets, "no status line for %r in:\n%s" % (
            label, "\n".join(self.lines))
        return self.targets[label]


def status(srv, service=None):
    return Status(status_lines(srv, service))


def label(service, dc, addr, port, kind):
    """How geodnsd names a target (log and status lines)."""
    if port is None:
        return "%s/%s %s (%s)" % (service, dc, addr, kind)
    return "%s/%s %s via 127.0.0.1 port %d (%s)" % (service, dc, addr, port,
                                                    kind)


def transitions(text, lbl):
    """The state changes logged for target lbl: ["DOWN (...)", ...]."""
    out = []
    pat = re.compile(r"^geodnsd: (?:warning|notice): healthcheck: "
                     + re.escape(lbl) + r": ((?:UP|DOWN) \(.*\))$")
    for line in text.splitlines():
        m = pat.match(line)
        if m:
            out.append(m.group(1))
    return out


def simulate(verdicts, rise, fall, up=True):
    """The rise/fall state machine of docs/health.md: the transitions that
    a sequence of probe verdicts [(ok, reason)] must log."""
    ok_run = fail_run = 0
    out = []
    for ok, reason in verdicts:
        if ok:
            ok_run, fail_run = ok_run + 1, 0
            if not up and ok_run >= rise:
                up = True
                out.append("UP (%d consecutive successes: %s)" % (ok_run,
                                                                  reason))
        else:
            ok_run, fail_run = 0, fail_run + 1
            if up and fail_run >= fall:
                up = False
                out.append("DOWN (%d consecutive failures: %s)" % (fail_run,
                                                                   reason))
    return out


def probe_log(text, lbl):
    """From a debug log: the verdicts of target lbl's probes, in order, and
    the state changes they caused (those logged after the last verdict of
    this snapshot are left out: their verdict line is not written yet)."""
    pat = re.compile(r"^geodnsd: (?:debug|warning|notice): healthcheck: "
                     + re.escape(lbl) + r": (?:(ok|fail): (.*) \([\d.]+ ms\)"
                     r"|((?:UP|DOWN) \(.*\)))$")
    verdicts, changes, pending = [], [], []
    for line in text.splitlines():
        m = pat.match(line)
        if not m:
            continue
        if m.group(3):
            pending.append(m.group(3))
        else:
            verdicts.append((m.group(1) == "ok", m.group(2)))
            changes += pending
            pending = []
    return verdicts, changes


# ---------------------------------------------------------------- targets

class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    timeout = 5

    def do_GET(self):       # noqa: N802 - http.server's name
        status, body, delay = self.server.target.respond(
            self.path, self.headers.get("Host"))
        if delay:
            time.sleep(delay)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass

    def log_message(self, fmt, *args):     # quiet
        pass


class _Httpd(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr, target, ctx):
        self.target = target
        self.ctx = ctx
        super().__init__(addr, _Handler)

    def finish_request(self, request, client_address):
        if self.ctx is None:
            super().finish_request(request, client_address)
            return
        # The TLS handshake runs in the connection's thread, not in the
        # accept loop.
        request.settimeout(3)
        try:
            conn = self.ctx.wrap_socket(request, server_side=True)
        except OSError:
            return
        try:
            super().finish_request(conn, client_address)
        finally:
            try:
                conn.close()
            except OSError:
                pass


class Http:
    """An HTTP (or, with tls=(cert, key), HTTPS) health endpoint on
    127.0.0.1:port.  status/body/delay say what it answers; pattern, a
    string of 'o' (200) and 'f' (503), overrides status request by request.
    stop() closes the listening socket, start() reopens the same port."""

    def __init__(self, tls=None, status=200, body=b"ok\n", delay=0.0,
                 pattern=None):
        self.port = pick_port()
        self.status, self.body, self.delay = status, body, delay
        self.pattern = pattern
        self.lock = threading.Lock()
        self.log = []           # (monotonic time, path, Host, status)
        self.sni = []
        self.ctx = None
        if tls is not None:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(*tls)
            self.ctx.sni_callback = self._sni
        self.httpd = self.thread = None
        self.start()

    def _sni(self, sslobj, name, ctx):
        with self.lock:
            self.sni.append(name)

    def respond(self, path, host):
        with self.lock:
            n = len(self.log)
            if self.pattern is not None:
                status = 200 if self.pattern[n % len(self.pattern)] == "o" \
                    else 503
            else:
                status = self.status
            self.log.append((time.monotonic(), path, host, status))
            delay = self.delay
        return status, self.body if status == 200 else b"unavailable\n", delay

    def requests(self):
        with self.lock:
            return list(self.log)

    def start(self):
        self.httpd = _Httpd(("127.0.0.1", self.port), self, self.ctx)
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        return time.monotonic()

    def stop(self):
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(2)
            self.httpd = None
        return time.monotonic()


class Tcp:
    """A TCP listener that accepts and closes; stop() closes it."""

    def __init__(self):
        self.port = pick_port()
        self.accepts = 0
        self.sock = None
        self.start()

    def start(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        s.settimeout(0.05)
        self.sock = s
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop,
                                       args=(s, self.stopped), daemon=True)
        self.thread.start()
        return time.monotonic()

    def _loop(self, s, stopped):
        while not stopped.is_set():
            try:
                c, _ = s.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepts += 1
            c.close()

    def stop(self):
        if self.sock is not None:
            self.stopped.set()
            self.sock.close()
            self.thread.join(2)
            self.sock = None
        return time.monotonic()


class Dns:
    """A UDP DNS responder: NOERROR with one A record; mode='servfail'
    answers SERVFAIL, mode='nodata' NOERROR without records.  stop() closes
    the socket (probes then get ICMP port unreachable)."""

    def __init__(self, mode="ok"):
        self.port = pick_port()
        self.mode = mode
        self.queries = 0
        self.sock = None
        self.start()

    def start(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", self.port))
        s.settimeout(0.05)
        self.sock = s
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop,
                                       args=(s, self.stopped), daemon=True)
        self.thread.start()
        return time.monotonic()

    def _loop(self, s, stopped):
        while not stopped.is_set():
            try:
                data, peer = s.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                q = dns.message.from_wire(data)
                r = dns.message.make_response(q)
                r.flags |= dns.flags.AA
                if self.mode == "ok":
                    r.answer.append(dns.rrset.from_text(
                        q.question[0].name, 30, "IN", "A", "192.0.2.53"))
                elif self.mode == "servfail":
                    r.set_rcode(dns.rcode.SERVFAIL)
                s.sendto(r.to_wire(), peer)
                self.queries += 1
            except Exception:   # noqa: BLE001 - junk is not our problem
                continue

    def stop(self):
        if self.sock is not None:
            self.stopped.set()
            self.sock.close()
            self.thread.join(2)
            self.sock = None
        return time.monotonic()


class Flag:
    """The file an exec check tests for (`test -e DIR/up-%a`)."""

    def __init__(self, directory, addr, up=True):
        self.path = os.path.join(directory, "up-" + addr)
        if up:
            self.start()

    def start(self):
        with open(self.path, "w"):
            pass
        return time.monotonic()

    def stop(self):
        if os.path.exists(self.path):
            os.unlink(self.path)
        return time.monotonic()


def stop_all(things):
    for t in things:
        if t is not None and not isinstance(t, Flag):
            t.stop()


# ---------------------------------------------------------------- geodnsd

def yaml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[ %s ]" % ", ".join(yaml_value(x) for x in v)
    return yaml_str(v)


def service(dcs, check, probe=None, **extra):
    """A service definition: dcs {dc: [addr...]}, check {key: value},
    probe {addr: port} (probed at 127.0.0.1@port); extra keys with '_' for
    '-' (up_min=2)."""
    return {"dcs": dcs, "check": check, "probe": probe or {},
            "extra": {k.replace("_", "-"): v for k, v in extra.items()}}


class HealthServer(DnsServer):
    """geodnsd with datacenters fra/iad/sin, the City database and one GEO
    name <service>.example.com (TTL 60) per service."""

    name = "geodnsd"

    def __init__(self, workdir, mmdb, services, explain_acl=None,
                 state_file=False, log_level="info"):
        super().__init__(workdir)
        self.log_level = log_level
        self.mmdb = mmdb
        self.services = services
        self.explain_acl = explain_acl
        self.config_path = os.path.join(self.workdir, "geodnsd.yaml")
        self.zone_path = os.path.join(self.workdir, "example.zone")
        self.state_file = os.path.join(self.workdir, "overrides") \
            if state_file else None
        self.started = None
        self.write_files()

    def config_text(self):
        lines = ["server:",
                 '  listen: [ "127.0.0.1@%d" ]' % self.port,
                 "  identity: health.test",
                 "  log-level: %s" % self.log_level,
                 "geoip:",
                 "  database: %s" % yaml_str(self.mmdb)]
        if self.explain_acl is not None:
            lines.append("  explain-acl: %s" % yaml_value(self.explain_acl))
        if self.state_file is not None:
            lines += ["healthcheck:",
                      "  state-file: %s" % yaml_str(self.state_file)]
        lines.append("datacenters:")
        for name, lat, lon in DCS:
            lines.append("  %s: { latitude: %s, longitude: %s }"
                         % (name, lat, lon))
        lines.append("services:")
        for name, spec in self.services.items():
            lines += ["  %s:" % name, "    datacenters:"]
            for dc, addrs in spec["dcs"].items():
                lines.append("      %s: %s" % (dc, yaml_value(addrs)))
            lines.append("    check:")
            for k, v in spec["check"].items():
                lines.append("      %s: %s" % (k, yaml_value(v)))
            if spec["probe"]:
                lines.append("    probe:")
                for addr, port in spec["probe"].items():
                    lines.append("      %s: %s" % (
                        yaml_str(addr), yaml_str("127.0.0.1@%d" % port)))
            for k, v in spec["extra"].items():
                lines.append("    %s: %s" % (k, yaml_value(v)))
        lines += ["zones:", "  - name: example.com",
                  "    file: %s" % yaml_str(self.zone_path)]
        return "\n".join(lines) + "\n"

    def write_files(self):
        with open(self.config_path, "w") as f:
            f.write(self.config_text())
        zone = ["$ORIGIN example.com.", "$TTL 300",
                "@ IN SOA ns1.example.com. hostmaster.example.com. "
                "1 7200 3600 1209600 300",
                "@ IN NS ns1.example.com.", "ns1 IN A 127.0.0.1"]
        zone += ["%s %d IN GEO %s" % (name, GEO_TTL, name)
                 for name in self.services]
        with open(self.zone_path, "w") as f:
            f.write("\n".join(zone) + "\n")

    def argv(self):
        return [GEODNSD, "-c", self.config_path]

    def start(self, wait=True):
        self.started = time.monotonic()
        return super().start(wait)

    def count(self, needle):
        return self.stderr.count(needle)


def start_server(workdir, mmdb, services, **kwargs):
    require_geodnsd()
    srv = HealthServer(workdir, mmdb, services, **kwargs)
    try:
        srv.start()
    except AssertionError:
        srv.kill()
        raise
    return srv


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def mmdb(tmp_path_factory):
    return os.path.join(make_test_mmdbs(tmp_path_factory.mktemp("mmdb")),
                        "city.mmdb")


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory):
    """(cert, key) of a self-signed certificate for localhost and
    127.0.0.1, or None when there is no openssl binary."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    d = str(tmp_path_factory.mktemp("tls"))
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    res = subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "1",
         "-keyout", key, "-out", cert],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        universal_newlines=True, timeout=30, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, "openssl req failed:\n" + res.stdout
    return cert, key


NO_OPENSSL = ("openssl binary not found: cannot make the self-signed "
              "certificate the https checks need")

# ---------------------------------------------------------------- 1. kinds

KINDS = ("http", "https", "https-name", "https-ip", "tcp", "dns", "exec")
TLS_KINDS = ("https", "https-name", "https-ip")
KIND_OF = {"http": "http", "https": "https", "https-name": "https",
           "https-ip": "https", "tcp": "tcp", "dns": "dns", "exec": "exec"}
DOWN_REASON = {"http": "connect refused", "https": "connect refused",
               "https-name": "connect refused", "https-ip": "connect refused",
               "tcp": "connect refused", "dns": "ICMP unreachable",
               "exec": "exit 1"}
UP_REASON = {"http": "HTTP 200", "https": "HTTP 200", "https-name": "HTTP 200",
             "https-ip": "HTTP 200", "tcp": "connected",
             "dns": "rcode NOERROR, 1 answer", "exec": "exit 0"}


def kind_addrs(i):
    return {"fra": "192.0.2.%d" % (100 + i),
            "iad": "198.51.100.%d" % (100 + i),
            "sin": "203.0.113.%d" % (100 + i)}


class KindRun:
    def __init__(self, kind, addrs, target, ports):
        self.kind, self.addrs, self.target, self.ports = kind, addrs, target, \
            ports
        self.ready = None
        self.before = self.before6 = self.before_nyc = None
        self.down_after = self.down_ans = None
        self.down6 = self.down_nyc = None
        self.down_status = None
        self.up_after = self.up_ans = None
        self.up_status = None
        self.t_kill = self.t_up = None

    def label(self, dc):
        return label(self.kind, dc, self.addrs[dc], self.ports[dc],
                     KIND_OF[self.kind])


@pytest.fixture(scope="module")
def kinds(tmp_path_factory, mmdb, tls_cert):
    """One geodnsd, one service per kind.  Kills every first-choice (fra)
    server at once, polls every 100 ms until each answer moves, starts them
    again and polls until each comes back; records what it saw."""
    work = tmp_path_factory.mktemp("kinds")
    flags = str(work / "flags")
    os.makedirs(flags)
    shared = {"http": Http(), "tcp": Tcp(), "dns": Dns(),
              "https": Http(tls=tls_cert) if tls_cert else None}
    checks = {
        "http": {"type": "http", "path": "/health"},
        "https": {"type": "https", "path": "/health", "verify-tls": False},
        "https-name": {"type": "https", "path": "/health",
                       "verify-tls": True,
                       "ca-file": tls_cert[0] if tls_cert else "",
                       "host": "localhost"},
        "https-ip": {"type": "https", "verify-tls": True,
                     "ca-file": tls_cert[0] if tls_cert else ""},
        "tcp": {"type": "tcp"},
        "dns": {"type": "dns", "name": "health.example", "qtype": "A",
                "rcode": "NOERROR", "want-answer": True},
        "exec": {"type": "exec",
                 "command": ["test", "-e", os.path.join(flags, "up-%a")]},
    }
    runs, services, things = {}, {}, list(shared.values())
    for i, kind in enumerate(KINDS):
        if kind in TLS_KINDS and tls_cert is None:
            continue
        addrs = kind_addrs(i)
        check = dict(CHECK, **checks[kind])
        if kind == "exec":
            target = Flag(flags, addrs["fra"])
            Flag(flags, addrs["iad"])
            Flag(flags, addrs["sin"])
            ports = {"fra": None, "iad": None, "sin": None}
            probe = {}
        else:
            base = KIND_OF[kind]
            target = Http(tls=tls_cert) if base == "https" else \
                {"http": Http, "tcp": Tcp, "dns": Dns}[base]()
            ports = {"fra": target.port, "iad": shared[base].port,
                     "sin": shared[base].port}
            probe = {addrs[dc]: ports[dc] for dc in ports}
        things.append(target)
        services[kind] = service({dc: [a] for dc, a in addrs.items()}, check,
                                 probe)
        runs[kind] = KindRun(kind, addrs, target, ports)
    srv = start_server(work / "geodnsd", mmdb, services)
    try:
        _run_kinds(srv, runs)
    finally:
        srv.kill()
        stop_all(things)
    return runs, srv


def _run_kinds(srv, runs):
    def all_ok():
        st = status(srv)
        ready = {}
        for kind, run in runs.items():
            ready[kind] = all(
                st.targets.get(run.label(dc), {}).get("last") == "ok"
                for dc in ("fra", "iad", "sin"))
        return ready if all(ready.values()) else None
    ready, _ = poll(all_ok, 5.0, 0.2)
    last = status(srv)
    for kind, run in runs.items():
        run.ready = [last.targets.get(run.label(dc)) for dc in
                     ("fra", "iad", "sin")]
        run.before = geo(srv, kind)
        run.before6 = geo(srv, kind, FRA6)
        run.before_nyc = geo(srv, kind, NYC)
    for run in runs.values():
        run.t_kill = run.target.stop()
    pending = set(runs)
    deadline = time.monotonic() + 10.0
    while pending and time.monotonic() < deadline:
        for kind in sorted(pending):
            a = geo(srv, kind)
            if a != runs[kind].before:
                runs[kind].down_after = time.monotonic() - runs[kind].t_kill
                runs[kind].down_ans = a
                pending.discard(kind)
        time.sleep(0.1)
    st = status(srv)
    for kind, run in runs.items():
        run.down6 = geo(srv, kind, FRA6)
        run.down_nyc = geo(srv, kind, NYC)
        run.down_status = st.targets.get(run.label("fra"))
        run.down_explain = explain_lines(srv, kind)
    for run in runs.values():
        run.t_up = run.target.start()
    pending = set(runs)
    deadline = time.monotonic() + 8.0
    while pending and time.monotonic() < deadline:
        for kind in sorted(pending):
            a = geo(srv, kind)
            if a == runs[kind].before:
                runs[kind].up_after = time.monotonic() - runs[kind].t_up
                runs[kind].up_ans = a
                pending.discard(kind)
        time.sleep(0.1)
    st = status(srv)
    for kind, run in runs.items():
        run.up_status = st.targets.get(run.label("fra"))
        run.up6 = geo(srv, kind, FRA6)
    log = srv.stderr
    for run in runs.values():
        run.log = transitions(log, run.label("fra"))
        run.log_others = transitions(log, run.label("iad")) + \
            transitions(log, run.label("sin"))
        if isinstance(run.target, Http):
            run.requests = run.target.requests()
            run.sni = list(run.target.sni)


def kind_run(kinds, kind):
    runs, srv = kinds
    if kind not in runs:
        pytest.skip(NO_OPENSSL)
    return runs[kind], srv


@pytest.mark.parametrize("kind", KINDS)
def test_failover_moves_to_next_dc(kinds, kind):
    run, srv = kind_run(kinds, kind)
    a = run.addrs
    assert all(t is not None and t["last"] == "ok" and t["state"] == "up"
               for t in run.ready), (
        "targets not all probed ok before the kill: %r\n%s"
        % (run.ready, srv.stderr))
    assert run.before == ans([a["fra"]], GEO_TTL)
    assert run.down_after is not None, (
        "the answer did not move within 10 s of the kill; stderr:\n%s"
        % srv.stderr)
    print("%s: failover %.2f s after the kill" % (kind, run.down_after))
    bound = FAILOVER_BOUND if kind in ("http", "tcp") else FAILOVER_BOUND_OTHER
    assert run.down_after <= bound, (
        "%s: failover took %.2f s (interval 1, fall 3: at most %.1f s)"
        % (kind, run.down_after, bound))
    # The next datacenter, every address of it, degraded TTL, same scope.
    assert run.down_ans == ans([a["iad"]], HALF_TTL), run.down_ans
    assert run.down_status is not None
    assert run.down_status["state"] == "DOWN"
    assert run.down_status["last"] == "FAIL"
    assert run.down_status["reason"] == DOWN_REASON[kind]
    assert run.down_status["probes"] == "down"
    assert int(run.down_status["failrow"]) >= 3
    assert run.down_status["okrow"] == "0"


@pytest.mark.parametrize("kind", KINDS)
def test_failover_logged_once_with_reason(kinds, kind):
    run, srv = kind_run(kinds, kind)
    assert run.log == [
        "DOWN (3 consecutive failures: %s)" % DOWN_REASON[kind],
        "UP (2 consecutive successes: %s)" % UP_REASON[kind],
    ], srv.stderr
    # The other datacenters' targets never changed state.
    assert run.log_others == [], srv.stderr


@pytest.mark.parametrize("kind", KINDS)
def test_recovery_after_rise_successes(kinds, kind):
    run, srv = kind_run(kinds, kind)
    assert run.up_after is not None, (
        "%s: the first choice did not come back within 8 s of the restart; "
        "stderr:\n%s" % (kind, srv.stderr))
    print("%s: back %.2f s after the restart" % (kind, run.up_after))
    assert RECOVERY_MIN <= run.up_after <= RECOVERY_BOUND, (
        "%s: recovery took %.2f s (rise 2, interval 1)" % (kind,
                                                          run.up_after))
    assert run.up_ans == ans([run.addrs["fra"]], GEO_TTL)
    st = run.up_status
    assert st is not None and st["state"] == "up", st
    assert st["last"] == "ok" and st["reason"] == UP_REASON[kind], st
    assert st["probes"] == "up"
    assert int(st["okrow"]) >= 2 and st["failrow"] == "0", st
    assert int(st["nfail"]) >= 3, st


def test_https_host_and_sni(kinds):
    """host: localhost is the Host header and the SNI; without host, the
    probe verifies the IP address and sends no SNI (RFC 6066)."""
    runs, _ = kinds
    if "https-name" not in runs:
        pytest.skip(NO_OPENSSL)
    named, ip = runs["https-name"], runs["https-ip"]
    assert named.requests and {r[2] for r in named.requests} == {"localhost"}
    assert {r[1] for r in named.requests} == {"/health"}
    assert named.sni and set(named.sni) == {"localhost"}
    assert ip.requests and {r[1] for r in ip.requests} == {"/"}
    assert ip.sni and set(ip.sni) == {None}


@pytest.mark.parametrize("kind", ("http", "tcp", "exec"))
def test_ecs_scope_unchanged_by_failover(kinds, kind):
    """The same client gets the same ECS scope before, during and after a
    failover (IPv4 and IPv6 ECS); a client whose first choice is still up
    (New York: iad) gets the full answer."""
    run, _ = kind_run(kinds, kind)
    a = run.addrs
    assert run.before.scope == run.down_ans.scope == run.up_ans.scope == \
        FRA_SCOPE
    assert run.before6 == ans([a["fra"]], GEO_TTL, FRA6_SCOPE)
    assert run.down6 == ans([a["iad"]], HALF_TTL, FRA6_SCOPE)
    assert run.up6 == run.before6
    assert run.before_nyc == ans([a["iad"]], GEO_TTL, NYC_SCOPE)
    assert run.down_nyc == run.before_nyc


def test_explain_shows_failover(kinds):
    run, _ = kind_run(kinds, "http")
    a = run.addrs
    lines = run.down_explain
    assert any(re.match(r"^#1 dc fra: 0 km; DOWN \(0/1 up\); %s\(down\)$"
                        % re.escape(a["fra"]), l) for l in lines), lines
    assert any(re.match(r"^#2 dc iad: \d+ km; up \(1/1 up\); %s$"
                        % re.escape(a["iad"]), l) for l in lines), lines
    assert "answer A: iad (degraded), ttl 30, ecs scope /23" in lines, lines


# ---------------------------------------------------------------- pool: 2-5

FLAPS = {"flap-alt": "of", "flap-ffo": "ffo", "flap-fffoo": "fffoo"}
FLAP_CHECK = {"type": "http", "path": "/health", "interval": 0.5,
              "timeout": 0.4, "rise": 2, "fall": 3}
FLAP_WINDOW = 8.0
LAST_RESORT = ["203.0.113.98", "203.0.113.99"]


@pytest.fixture(scope="module")
def pool(tmp_path_factory, mmdb):
    """One geodnsd for partial outages, up-min, all-down policies and the
    flapping targets (which flap from start-up on).  Runs the whole
    scenario, then stops geodnsd; the tests look at what it recorded."""
    work = tmp_path_factory.mktemp("pool")
    t = {"up": Http(), "a": Http(), "b": Http(), "x": Tcp(),
         "slow": Http(delay=2.0)}
    for name, pattern in FLAPS.items():
        t[name] = Http(pattern=pattern)
    http = dict(CHECK, type="http", path="/health")
    tcp = dict(CHECK, type="tcp")
    up = t["up"].port
    services = {
        "web": service(
            {"fra": ["192.0.2.10", "192.0.2.11"], "iad": ["198.51.100.10"],
             "sin": ["203.0.113.10"]}, http,
            {"192.0.2.10": t["a"].port, "192.0.2.11": t["b"].port,
             "198.51.100.10": up, "203.0.113.10": up}),
        "ttl7": service(
            {"fra": ["192.0.2.20", "192.0.2.21"], "iad": ["198.51.100.20"],
             "sin": ["203.0.113.20"]}, http,
            {"192.0.2.20": t["a"].port, "192.0.2.21": t["b"].port,
             "198.51.100.20": up, "203.0.113.20": up}, degraded_ttl=7),
        "upmin": service(
            {"fra": ["192.0.2.30", "192.0.2.31"], "iad": ["198.51.100.30"],
             "sin": ["203.0.113.30"]}, http,
            {"192.0.2.30": t["a"].port, "192.0.2.31": t["b"].port,
             "198.51.100.30": up, "203.0.113.30": up}, up_min=2),
        # Default policy (fail-open), not written.
        "failopen": service(
            {"fra": ["192.0.2.40", "192.0.2.41"], "iad": ["198.51.100.40"],
             "sin": ["203.0.113.40"]}, tcp,
            {a: t["x"].port for a in ("192.0.2.40", "192.0.2.41",
                                      "198.51.100.40", "203.0.113.40")}),
        "lastresort": service(
            {"fra": ["192.0.2.45"], "iad": ["198.51.100.45"],
             "sin": ["203.0.113.45"]}, tcp,
            {a: t["x"].port for a in ("192.0.2.45", "198.51.100.45",
                                      "203.0.113.45")},
            all_down="last-resort", last_resort=LAST_RESORT),
        "servfail": service(
            {"fra": ["192.0.2.47"], "iad": ["198.51.100.47"],
             "sin": ["203.0.113.47"]}, tcp,
            {a: t["x"].port for a in ("192.0.2.47", "198.51.100.47",
                                      "203.0.113.47")},
            all_down="servfail"),
    }
    # IPv4 and IPv6: fra's IPv6 address is behind b.
    services["dual"] = service(
        {"fra": ["192.0.2.70", "2001:db8:f::70"],
         "iad": ["198.51.100.70", "2001:db8:a::70"], "sin": ["203.0.113.70"]},
        http, {"192.0.2.70": t["a"].port, "2001:db8:f::70": t["b"].port,
               "198.51.100.70": up, "2001:db8:a::70": up, "203.0.113.70": up})
    # A server that never answers in time: every probe times out.
    services["slow"] = service(
        {"fra": ["192.0.2.80"], "iad": ["198.51.100.80"]}, http,
        {"192.0.2.80": t["slow"].port, "198.51.100.80": up})
    for i, name in enumerate(FLAPS):
        fra, iad, sin = ("192.0.2.%d" % (60 + i), "198.51.100.%d" % (60 + i),
                         "203.0.113.%d" % (60 + i))
        services[name] = service({"fra": [fra], "iad": [iad], "sin": [sin]},
                                 FLAP_CHECK, {fra: t[name].port, iad: up,
                                              sin: up})
    srv = start_server(work / "geodnsd", mmdb, services, log_level="debug")
    srv.targets = t
    srv.n_targets = sum(len(a) for spec in services.values()
                        for a in spec["dcs"].values())
    try:
        srv.o = _run_outage(srv)
        # The flapping targets have flapped since start-up; the slow one
        # has timed out a few times.
        wait = srv.started + FLAP_WINDOW - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        poll(lambda: len(t["slow"].requests()) >= 5, 5.0, 0.2)
        st = status(srv)
        srv.flap_status = st
        srv.flap_geo = {name: geo(srv, name) for name in FLAPS}
        srv.slow_status = st.targets.get(label(
            "slow", "fra", "192.0.2.80", t["slow"].port, "http"))
    finally:
        srv.kill()
        # Read the servers' logs after geodnsd stopped: complete.
        srv.flap_reqs = {name: t[name].requests() for name in FLAPS}
        srv.slow_reqs = t["slow"].requests()
        stop_all(t.values())
    return srv


WEB_FULL = ans(["192.0.2.10", "192.0.2.11"], GEO_TTL)
TTL7_FULL = ans(["192.0.2.20", "192.0.2.21"], GEO_TTL)
UPMIN_FULL = ans(["192.0.2.30", "192.0.2.31"], GEO_TTL)
FAILOPEN_FULL = ans(["192.0.2.40", "192.0.2.41"], GEO_TTL)
DUAL6_FULL = ans(["2001:db8:f::70"], GEO_TTL)


@pytest.fixture(scope="module")
def outage(pool):
    return pool.o


def _run_outage(srv):
    """Kill one of fra's two web servers (b) and the TCP server behind every
    address of the all-down services (x) at once; record answers, status,
    explain; reload (SIGHUP, nothing changed) in the middle of it; start
    both servers again and record the recovery."""
    t = srv.targets
    o = {}
    names = ("web", "ttl7", "upmin", "failopen", "lastresort", "servfail",
             "dual")

    def normal():
        return (geo(srv, "web") == WEB_FULL and geo(srv, "ttl7") == TTL7_FULL
                and geo(srv, "upmin") == UPMIN_FULL
                and geo(srv, "failopen") == FAILOPEN_FULL
                and geo(srv, "lastresort") == ans(["192.0.2.45"], GEO_TTL)
                and geo(srv, "servfail") == ans(["192.0.2.47"], GEO_TTL)
                and geo(srv, "dual") == ans(["192.0.2.70"], GEO_TTL)
                and geo(srv, "dual", rdtype="AAAA") == DUAL6_FULL)

    def probed():
        st = status(srv)
        return len(st.targets) == srv.n_targets and all(
            v["last"] is not None for k, v in st.targets.items()
            if not k.startswith("flap"))

    o["ready"] = poll(lambda: normal() and probed(), 5.0, 0.2)[0]
    t0 = time.monotonic()
    t["b"].stop()
    t["x"].stop()

    def degraded():
        return (geo(srv, "web") == ans(["192.0.2.10"], HALF_TTL)
                and geo(srv, "servfail").rcode == "SERVFAIL"
                and geo(srv, "lastresort").addrs == tuple(LAST_RESORT)
                and geo(srv, "failopen") == ans(["192.0.2.40", "192.0.2.41"],
                                                HALF_TTL)
                and geo(srv, "dual", rdtype="AAAA").addrs != DUAL6_FULL.addrs
                and srv.count("every datacenter is down") >= 3
                and srv.count("service upmin: datacenter fra is DOWN") >= 1)

    o["degraded"] = poll(degraded, 8.0)[0]
    o["degraded_after"] = time.monotonic() - t0
    for name in names:
        o[name] = geo(srv, name)
    o["dual6"] = geo(srv, "dual", rdtype="AAAA")
    o["failopen_nyc"] = geo(srv, "failopen", NYC)
    # The query log names the datacenter a fail-open answer came from.
    n = srv.count("query log: on")
    srv.send_signal(signal.SIGUSR1)
    poll(lambda: srv.count("query log: on") > n, 5.0)
    geo(srv, "failopen")
    o["qlog_failopen"] = poll(lambda: re.search(
        r"query: \S+ udp failopen\.example\.com\. IN A NOERROR aa \d+ "
        r"ecs \S+ scope \d+ dc fra$", srv.stderr, re.M), 5.0)[0]
    m = srv.count("query log: off")
    srv.send_signal(signal.SIGUSR1)
    poll(lambda: srv.count("query log: off") > m, 5.0)
    o["status"] = status(srv)
    o["explain"] = {name: explain_lines(srv, name) for name in
                    ("web", "upmin", "failopen", "lastresort", "servfail",
                     "dual")}
    o["log_down"] = srv.stderr

    # A reload with nothing changed, in the middle of the outage.
    n = srv.count("reload: done")
    srv.send_signal(signal.SIGHUP)
    o["reloaded"] = poll(lambda: srv.count("reload: done") > n, 5.0,
                         0.05)[0]
    o["after_reload"] = {name: geo(srv, name) for name in names}
    time.sleep(1.5)             # the all-down state is checked every second
    o["after_reload2"] = {name: geo(srv, name) for name in names}
    o["log_reload"] = srv.stderr

    t["b"].start()
    t["x"].start()
    o["recovered"], _ = poll(
        lambda: normal() and srv.count(": up again in ") >= 3
        and srv.count("service upmin: datacenter fra is up again") >= 1, 8.0)
    for name in names:
        o[name + "_after"] = geo(srv, name)
    o["dual6_after"] = geo(srv, "dual", rdtype="AAAA")
    o["status_after"] = status(srv)
    o["log"] = srv.stderr
    return o


def test_outage_setup(pool, outage):
    assert outage["ready"], "services not all up and probed at start:\n%s" \
        % pool.stderr
    assert outage["degraded"], (
        "the outage was not seen within 8 s: web %r ttl7 %r failopen %r "
        "lastresort %r servfail %r; stderr:\n%s" % (
            outage["web"], outage["ttl7"], outage["failopen"],
            outage["lastresort"], outage["servfail"], pool.stderr))


def test_partial_dc_answers_only_up_addresses(pool, outage):
    """One of fra's two addresses is down: fra still answers (up-min 1),
    with only the up address and half the TTL."""
    assert outage["web"] == ans(["192.0.2.10"], HALF_TTL)
    st = outage["status"]
    assert st.services["web"] == \
        "service web: fra up 1/2; iad up 1/1; sin up 1/1; serving"
    b = st.target(label("web", "fra", "192.0.2.11", pool.targets["b"].port,
                        "http"))
    assert (b["state"], b["reason"]) == ("DOWN", "connect refused")
    a = st.target(label("web", "fra", "192.0.2.10", pool.targets["a"].port,
                        "http"))
    assert (a["state"], a["reason"]) == ("up", "HTTP 200")
    lines = outage["explain"]["web"]
    assert "#1 dc fra: 0 km; up (1/2 up); 192.0.2.10 192.0.2.11(down)" in \
        lines, lines
    assert "answer A: fra (degraded), ttl 30, ecs scope /23" in lines, lines


def test_degraded_ttl_in_seconds(outage):
    assert outage["ttl7"] == ans(["192.0.2.20"], 7)


def test_full_ttl_restored_after_recovery(pool, outage):
    assert outage["recovered"], pool.stderr
    assert outage["web_after"] == WEB_FULL
    assert outage["ttl7_after"] == TTL7_FULL
    assert outage["upmin_after"] == UPMIN_FULL
    assert outage["status_after"].services["web"] == \
        "service web: fra up 2/2; iad up 1/1; sin up 1/1; serving"


def test_up_min_counts_datacenter_down(pool, outage):
    """up-min 2: fra with one of two addresses up is down; the next
    datacenter answers (degraded TTL)."""
    assert outage["upmin"] == ans(["198.51.100.30"], HALF_TTL)
    assert outage["status"].services["upmin"] == \
        "service upmin: fra DOWN 1/2; iad up 1/1; sin up 1/1; serving"
    lines = outage["explain"]["upmin"]
    assert "answer A: iad (degraded), ttl 30, ecs scope /23" in lines, lines
    assert outage["upmin_after"] == UPMIN_FULL


def test_all_down_fail_open(pool, outage):
    """The default policy: the client's first choice, full set, degraded
    TTL (fra for Frankfurt, iad for New York)."""
    assert outage["failopen"] == ans(["192.0.2.40", "192.0.2.41"], HALF_TTL)
    assert outage["failopen_nyc"] == ans(["198.51.100.40"], HALF_TTL,
                                         scope=NYC_SCOPE)
    assert outage["status"].services["failopen"] == (
        "service failopen: fra DOWN 0/2; iad DOWN 0/1; sin DOWN 0/1; "
        "ALL DOWN: answering fail-open")
    lines = outage["explain"]["failopen"]
    assert "answer A: fra, fail-open (every datacenter down; the first one " \
        "not forced down, as if its probes said up), ttl 30, ecs scope /23" \
        in lines, lines
    assert outage["failopen_after"] == FAILOPEN_FULL


def test_query_log_names_the_fail_open_datacenter(pool, outage):
    assert outage["qlog_failopen"], outage["log"]


def test_all_down_last_resort(pool, outage):
    assert outage["lastresort"] == ans(LAST_RESORT, HALF_TTL)
    assert outage["status"].services["lastresort"] == (
        "service lastresort: fra DOWN 0/1; iad DOWN 0/1; sin DOWN 0/1; "
        "ALL DOWN: answering last-resort")
    lines = outage["explain"]["lastresort"]
    assert "answer A: last-resort addresses (every datacenter down), " \
        "ttl 30, ecs scope /23" in lines, lines
    assert outage["lastresort_after"] == ans(["192.0.2.45"], GEO_TTL)


def test_all_down_servfail(pool, outage):
    r = outage["servfail"]
    assert r.rcode == "SERVFAIL" and r.addrs == (), r
    assert outage["status"].services["servfail"] == (
        "service servfail: fra DOWN 0/1; iad DOWN 0/1; sin DOWN 0/1; "
        "ALL DOWN: answering SERVFAIL")
    lines = outage["explain"]["servfail"]
    assert any(l.startswith("answer A: SERVFAIL (every datacenter down, "
                            "policy servfail), ecs scope /") for l in lines), \
        lines
    assert not any("SERVFAIL" in l and "ttl" in l for l in lines), lines
    assert outage["servfail_after"] == ans(["192.0.2.47"], GEO_TTL)


ALL_DOWN_HOW = {
    "failopen": "fail-open (live addresses, else as if up)",
    "lastresort": "with the last-resort addresses",
    "servfail": "SERVFAIL",
}


def all_down_line(name):
    return ("geodnsd: error: healthcheck: service %s: every datacenter is "
            "down; answering %s" % (name, ALL_DOWN_HOW[name]))


def test_all_down_logged(pool, outage):
    """Entering and leaving the all-down state is logged; a service with a
    datacenter left is never logged as all down."""
    log = outage["log"]
    for name in ALL_DOWN_HOW:
        down = all_down_line(name)
        up = "healthcheck: service %s: up again in " % name
        assert outage["log_down"].count(down) == 1, (down, log)
        assert log.count(up) == 1, (up, log)
        # It names the datacenters that came back.
        assert re.search(re.escape(up) + r"(fra|iad|sin)(, (fra|iad|sin))*\n",
                         log), log
        assert log.index(down) < log.index(up)
    for name in ("web", "ttl7", "upmin", "dual"):
        assert "service %s: every datacenter is down" % name not in log


def test_datacenter_down_and_up_logged(pool, outage):
    """A datacenter of a service going down is logged once, with what it
    means for the answers, and coming back once; a reload in between
    repeats neither (upmin's fra: one of two addresses up, up-min 2)."""
    down = ("geodnsd: warning: healthcheck: service upmin: datacenter fra is "
            "DOWN (1 of 2 addresses up, fewer than up-min); its clients go to "
            "the next datacenter in their order")
    up = ("healthcheck: service upmin: datacenter fra is up again (2 of 2 "
          "addresses up); its clients come back")
    assert outage["log_down"].count(down) == 1, outage["log_down"]
    assert outage["log_reload"].count(down) == 1, outage["log_reload"]
    assert up not in outage["log_reload"], outage["log_reload"]
    assert outage["log"].count(up) == 1, outage["log"]
    assert outage["log"].index(down) < outage["log"].index(up)
    # web's fra lost one of two addresses but stays up (up-min 1): no line.
    assert "service web: datacenter" not in outage["log"], outage["log"]


def test_reload_during_outage_keeps_state(pool, outage):
    """SIGHUP with nothing changed in the middle of an outage: every answer
    stays what it was (no target starts over in its initial state)."""
    assert outage["reloaded"], pool.stderr
    before = {name: outage[name] for name in outage["after_reload"]}
    assert outage["after_reload"] == before
    assert outage["after_reload2"] == before


def test_all_down_not_logged_again_after_reload(pool, outage):
    """A reload does not enter the all-down state: it must not be logged
    again (docs/health.md: entering and leaving it is logged)."""
    assert outage["reloaded"], pool.stderr
    for name in ALL_DOWN_HOW:
        assert outage["log_reload"].count(all_down_line(name)) == 1, (
            "service %s: 'every datacenter is down' logged again after a "
            "reload that changed nothing:\n%s" % (name,
                                                  outage["log_reload"]))


def test_failover_per_family(pool, outage):
    """fra's only IPv6 address is down, its IPv4 address is up: A still
    comes from fra (full IPv4 set, full TTL), AAAA from iad (degraded)."""
    assert outage["dual"] == ans(["192.0.2.70"], GEO_TTL)
    assert outage["dual6"] == ans(["2001:db8:a::70"], HALF_TTL)
    assert outage["status"].services["dual"] == \
        "service dual: fra up 1/2; iad up 2/2; sin up 1/1; serving"
    lines = outage["explain"]["dual"]
    assert "answer A: fra, ttl 60, ecs scope /23" in lines, lines
    assert "answer AAAA: iad (degraded), ttl 30, ecs scope /23" in lines, \
        lines
    assert outage["dual6_after"] == DUAL6_FULL


def test_probes_every_interval_even_when_they_time_out(pool):
    """docs/health.md: after the first, probes run every interval +-10%.
    A target whose every probe times out (0.5 s) must still be probed every
    0.9-1.1 s, not every interval + timeout (which also delays failover
    by a timeout per failure)."""
    times = [r[0] for r in pool.slow_reqs]
    assert len(times) >= 4, times
    gaps = [round(b - a, 3) for a, b in zip(times, times[1:])]
    assert pool.slow_status is not None
    assert (pool.slow_status["state"], pool.slow_status["reason"]) == \
        ("DOWN", "timeout after 500 ms waiting for the response")
    assert all(0.85 <= g <= 1.2 for g in gaps), (
        "probe starts %s s apart with interval 1 s and timeout 0.5 s" % gaps)


# ---------------------------------------------------------------- 4. flapping

def flap_label(pool, name):
    i = list(FLAPS).index(name)
    return label(name, "fra", "192.0.2.%d" % (60 + i), pool.targets[name].port,
                 "http")


def flap_run(pool, name):
    """(server statuses, geodnsd's verdicts, logged changes) for a flapping
    target that flapped for FLAP_WINDOW seconds."""
    reqs = pool.flap_reqs[name]
    verdicts, changes = probe_log(pool.stderr, flap_label(pool, name))
    # interval 0.5 s for 8 s: about 15 probes; they really flapped.
    assert len(reqs) >= 10 and len(verdicts) >= 10, (reqs, verdicts)
    # geodnsd judged what the server said (unless a probe timed out: the
    # test servers are slow on an overloaded machine).
    codes = [r[3] for r in reqs]
    judged = [int(v[1][5:]) if v[1].startswith("HTTP ") else None
              for v in verdicts]
    assert all(j is None or j == c for j, c in zip(judged, codes)), (
        judged, codes)
    for ok, reason in verdicts:
        assert ok == (reason == "HTTP 200"), (ok, reason)
    return codes, verdicts, changes


@pytest.mark.parametrize("name", ("flap-alt", "flap-ffo"))
def test_flapping_below_thresholds_never_changes_state(pool, name):
    """Success and failure alternating (or two failures, one success):
    fall 3 is never reached, so the target never goes down."""
    codes, verdicts, changes = flap_run(pool, name)
    assert set(codes) == {200, 503}
    # Exactly what rise 2 / fall 3 say about the verdicts geodnsd saw ...
    assert changes == simulate(verdicts, rise=2, fall=3), (changes, verdicts)
    # ... which, when no probe timed out, is no change at all.
    if all(reason.startswith("HTTP ") for _, reason in verdicts):
        assert changes == [], (changes, verdicts)
        t = pool.flap_status.target(flap_label(pool, name))
        assert (t["state"], t["probes"]) == ("up", "up"), t
        assert pool.flap_geo[name] == ans(["192.0.2.%d" % (60 + list(
            FLAPS).index(name))], GEO_TTL)


def test_flapping_changes_exactly_as_rise_fall_say(pool):
    """Three failures, two successes, repeated: every change needs fall (or
    rise) consecutive results, so the logged changes are exactly those of
    the rise/fall machine run over the verdicts, at most one per window."""
    codes, verdicts, changes = flap_run(pool, "flap-fffoo")
    expect = simulate(verdicts, rise=2, fall=3)
    assert changes == expect, (changes, verdicts)
    assert len(expect) >= 3
    assert changes[:2] == ["DOWN (3 consecutive failures: HTTP 503)",
                           "UP (2 consecutive successes: HTTP 200)"]
    assert len(changes) <= len(verdicts) // 2 + 1


# ---------------------------------------------------------------- 6. overrides

WEB_IAD = ans(["198.51.100.10"], HALF_TTL)
DEAD_IAD = ans(["198.51.100.50"], HALF_TTL)
DEAD_FRA = ans(["192.0.2.50"], GEO_TTL)
OVERRIDE_STEP = 2.5         # the file is checked every second


def force(state_file, *args):
    res = subprocess.run(["sh", FORCE, "-f", state_file] + list(args),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, timeout=20,
                         stdin=subprocess.DEVNULL)
    assert res.returncode == 0, (args, res.stdout, res.stderr)
    return res.stdout


def write_file(path, text):
    with open(path, "w") as f:
        f.write(text)


@pytest.fixture(scope="module")
def overrides(tmp_path_factory, mmdb):
    """Walk through the override steps; for each, record how long until the
    answer showed it, the answers, status and explain."""
    work = tmp_path_factory.mktemp("overrides")
    up = Http()
    dead = pick_port()          # nothing listens here
    http = dict(CHECK, type="http", path="/health")
    services = {
        "web": service(
            {"fra": ["192.0.2.10", "192.0.2.11"], "iad": ["198.51.100.10"],
             "sin": ["203.0.113.10"]}, http,
            {a: up.port for a in ("192.0.2.10", "192.0.2.11",
                                  "198.51.100.10", "203.0.113.10")}),
        "dead": service(
            {"fra": ["192.0.2.50"], "iad": ["198.51.100.50"],
             "sin": ["203.0.113.50"]}, dict(http, initial="down", rise=1),
            {"192.0.2.50": dead, "198.51.100.50": up.port,
             "203.0.113.50": up.port}),
    }
    srv = start_server(work / "geodnsd", mmdb, services, state_file=True)
    state = srv.state_file
    steps = {"ports": {"up": up.port, "dead": dead}, "state": state}

    def step(name, action, cond, extra=()):
        t0 = time.monotonic()
        action()
        ok, elapsed = poll(cond, OVERRIDE_STEP + 2.0)
        s = {"ok": bool(ok), "after": time.monotonic() - t0,
             "web": geo(srv, "web"), "dead": geo(srv, "dead"),
             "status": status(srv), "log": srv.stderr}
        for what in extra:
            s["explain_" + what] = explain_lines(srv, what)
        s["list"] = force(state, "list")
        steps[name] = s

    try:
        steps["ready"] = poll(lambda: geo(srv, "web") == WEB_FULL and
                              geo(srv, "dead") == DEAD_IAD, 5.0)[0]
        step("dc_down_file", lambda: write_file(
            state, "# maintenance\n"
            "datacenter fra down  replacing the fra load balancers, "
            "ticket 4711\n"),
            lambda: geo(srv, "web") == WEB_IAD, extra=("web",))
        step("dc_clear_tool", lambda: force(state, "clear", "datacenter",
                                            "fra"),
             lambda: geo(srv, "web") == WEB_FULL)
        step("addr_down_tool", lambda: force(state, "address", "192.0.2.11",
                                             "down", "disk replacement"),
             lambda: geo(srv, "web") == ans(["192.0.2.10"], HALF_TTL),
             extra=("web",))
        step("dead_addr_up", lambda: force(
            state, "address", "192.0.2.50", "up", "probe", "is", "broken,",
            "the", "host", "is", "fine"),
            lambda: geo(srv, "dead") == DEAD_FRA, extra=("dead",))
        step("dead_addr_clear", lambda: force(state, "clear", "address",
                                              "192.0.2.50"),
             lambda: geo(srv, "dead") == DEAD_IAD)
        step("dead_dc_up", lambda: force(state, "datacenter", "fra", "up",
                                         "failover drill"),
             lambda: geo(srv, "dead") == DEAD_FRA, extra=("dead",))
        steps["before_bad"] = {"web": geo(srv, "web"),
                               "dead": geo(srv, "dead")}
        n_bad = srv.count("not applied")
        step("bad_file", lambda: write_file(
            state, "datacenter sin down  this line alone is fine\n"
            "datacenter iad sideways\n"
            "frobnicate sin down\n"),
            lambda: srv.count("not applied") > n_bad)
        time.sleep(1.2)         # a second look: still not applied
        steps["bad_file"]["web2"] = geo(srv, "web")
        steps["bad_file"]["dead2"] = geo(srv, "dead")
        step("clear_all", lambda: write_file(state, "# nothing forced\n"),
             lambda: geo(srv, "dead") == DEAD_IAD and
             geo(srv, "web") == WEB_FULL)
        step("dc_down_again", lambda: force(state, "datacenter", "fra",
                                            "down"),
             lambda: geo(srv, "web") == WEB_IAD)
        step("file_removed", lambda: os.unlink(state),
             lambda: geo(srv, "web") == WEB_FULL)
    finally:
        srv.kill()
        up.stop()
    steps["srv"] = srv
    return steps


def test_override_setup(overrides):
    assert overrides["ready"], overrides["srv"].stderr


def test_override_datacenter_down_by_file(overrides):
    s = overrides["dc_down_file"]
    assert s["ok"], (s["web"], s["log"])
    assert s["after"] <= OVERRIDE_STEP, s["after"]
    assert s["web"] == WEB_IAD
    reason = "replacing the fra load balancers, ticket 4711"
    assert "geodnsd: notice: healthcheck: datacenter fra: forced DOWN: %s" \
        % reason in s["log"]
    st = s["status"]
    assert re.match(r"^datacenter fra: forced down by operator %s: %s$"
                    % (SINCE_RE, re.escape(reason)), st.dcs.get("fra", "")), \
        st.lines
    assert st.services["web"] == \
        "service web: fra DOWN 0/2; iad up 1/1; sin up 1/1; serving"
    # Probes still say up: the override is on top, and the target line
    # says so (its metrics and /status follow the same state).
    port = overrides["ports"]["up"]
    lbl = label("web", "fra", "192.0.2.10", port, "http")
    t = st.target(lbl)
    assert (t["state"], t["probes"], t["forced"], t["freason"]) == (
        "DOWN", "up", "down", "datacenter fra: " + reason), t
    assert "geodnsd: warning: healthcheck: %s: DOWN (forced by operator: " \
        "datacenter fra: %s)" % (lbl, reason) in s["log"]
    lines = s["explain_web"]
    assert any(l.startswith("#1 dc fra: 0 km; DOWN forced (0/2 up);")
               for l in lines), lines
    assert "answer A: iad (degraded), ttl 30, ecs scope /23" in lines


def test_override_datacenter_lines_say_forced(overrides):
    """A datacenter line names the operator when an override moved it,
    not an address count that the override made up."""
    log = overrides["srv"].stderr
    assert "geodnsd: warning: healthcheck: service web: datacenter fra is " \
        "DOWN (forced down by the operator); its clients go to the next " \
        "datacenter in their order" in log, log
    assert "geodnsd: notice: healthcheck: service dead: datacenter fra is up " \
        "again (forced up by the operator); its clients come back" in log, log


def test_override_cleared_by_tool(overrides):
    s = overrides["dc_clear_tool"]
    assert s["ok"] and s["after"] <= OVERRIDE_STEP, (s["after"], s["web"])
    assert s["web"] == WEB_FULL
    assert "healthcheck: datacenter fra: override cleared" in s["log"]
    assert "fra" not in s["status"].dcs
    assert s["list"] == ""


def test_override_address_down_by_tool(overrides):
    s = overrides["addr_down_tool"]
    assert s["ok"] and s["after"] <= OVERRIDE_STEP, (s["after"], s["web"])
    assert s["web"] == ans(["192.0.2.10"], HALF_TTL)
    port = overrides["ports"]["up"]
    lbl = label("web", "fra", "192.0.2.11", port, "http")
    t = s["status"].target(lbl)
    assert (t["state"], t["forced"], t["freason"]) == (
        "DOWN", "down", "disk replacement"), t
    assert (t["last"], t["probes"]) == ("ok", "up"), t
    assert "healthcheck: %s: DOWN (forced by operator: disk replacement)" \
        % lbl in s["log"]
    assert s["list"] == "address 192.0.2.11 down disk replacement\n"


def test_override_address_shows_in_explain(overrides):
    """docs/health.md: overrides show in explain.  A forced address must be
    told apart from one the probes found down."""
    lines = overrides["addr_down_tool"]["explain_web"]
    fra = [l for l in lines if l.startswith("#1 dc fra:")]
    assert len(fra) == 1, lines
    assert "192.0.2.11(forced down)" in fra[0], fra
    assert "forced" in fra[0], (
        "explain does not show the address override: %r" % fra[0])


def test_override_dead_address_up(overrides):
    s = overrides["dead_addr_up"]
    assert s["ok"] and s["after"] <= OVERRIDE_STEP, (s["after"], s["dead"])
    assert s["dead"] == DEAD_FRA
    lbl = label("dead", "fra", "192.0.2.50", overrides["ports"]["dead"],
                "http")
    t = s["status"].target(lbl)
    assert (t["state"], t["forced"], t["freason"]) == (
        "up", "up", "probe is broken, the host is fine"), t
    assert (t["last"], t["reason"], t["probes"]) == (
        "FAIL", "connect refused", "down"), t
    assert s["list"] == ("address 192.0.2.11 down disk replacement\n"
                         "address 192.0.2.50 up probe is broken, the host "
                         "is fine\n")
    assert any(l.startswith("#1 dc fra: 0 km; up (1/1 up); 192.0.2.50")
               for l in s["explain_dead"]), s["explain_dead"]


def test_override_dead_address_cleared(overrides):
    s = overrides["dead_addr_clear"]
    assert s["ok"] and s["after"] <= OVERRIDE_STEP, (s["after"], s["dead"])
    assert s["dead"] == DEAD_IAD
    lbl = label("dead", "fra", "192.0.2.50", overrides["ports"]["dead"],
                "http")
    t = s["status"].target(lbl)
    assert (t["state"], t["forced"], t["probes"]) == ("DOWN", None, "down")


def test_override_dead_datacenter_up(overrides):
    s = overrides["dead_dc_up"]
    assert s["ok"] and s["after"] <= OVERRIDE_STEP, (s["after"], s["dead"])
    assert s["dead"] == DEAD_FRA
    assert re.match(r"^datacenter fra: forced up by operator %s: failover "
                    r"drill$" % SINCE_RE, s["status"].dcs.get("fra", "")), \
        s["status"].lines
    assert s["status"].services["dead"] == \
        "service dead: fra up 1/1; iad up 1/1; sin up 1/1; serving"
    assert any(l.startswith("#1 dc fra: 0 km; up forced (1/1 up);")
               for l in s["explain_dead"]), s["explain_dead"]
    # The dead target is answered, so it is up, forced by its datacenter.
    lbl = label("dead", "fra", "192.0.2.50", overrides["ports"]["dead"],
                "http")
    t = s["status"].target(lbl)
    assert (t["state"], t["probes"], t["forced"], t["freason"]) == (
        "up", "down", "up", "datacenter fra: failover drill"), t


def test_override_file_with_errors_not_applied(overrides):
    s = overrides["bad_file"]
    path = overrides["state"]
    assert s["ok"], "no 'not applied' message:\n" + s["log"]
    log = s["log"]
    assert "geodnsd: error: healthcheck: %s:2: state 'sideways' must be " \
        "'up' or 'down'" % path in log, log
    assert ("geodnsd: error: healthcheck: %s:3: expected 'datacenter NAME "
            "up|down [reason]' or 'address ADDR up|down [reason]'" % path) \
        in log, log
    assert "healthcheck: %s: not applied; the previous overrides stay" \
        % path in log
    # The previous overrides stay; nothing of the bad file is applied.
    before = overrides["before_bad"]
    assert (s["web"], s["dead"]) == (before["web"], before["dead"])
    assert (s["web2"], s["dead2"]) == (before["web"], before["dead"])
    assert before["dead"] == DEAD_FRA
    st = s["status"]
    assert "sin" not in st.dcs and "iad" not in st.dcs, st.lines
    assert "forced up by operator" in st.dcs.get("fra", ""), st.lines
    # 192.0.2.11 keeps its own override, but fra is forced up, which
    # answers fra's full set: the datacenter's override is the one in force.
    t = st.target(label("web", "fra", "192.0.2.11", overrides["ports"]["up"],
                        "http"))
    assert (t["state"], t["forced"], t["freason"]) == (
        "up", "up", "datacenter fra: failover drill"), t


def test_override_cleared_back_to_probes(overrides):
    s = overrides["clear_all"]
    assert s["ok"] and s["after"] <= OVERRIDE_STEP, (s["after"], s["web"],
                                                      s["dead"])
    assert s["web"] == WEB_FULL and s["dead"] == DEAD_IAD
    st = s["status"]
    assert st.dcs == {}, st.lines
    assert all(t["forced"] is None for t in st.targets.values()), st.lines
    assert not any("forced" in l for l in st.lines), st.lines
    # 192.0.2.50 went back to what the probes say twice: when its own
    # override was cleared, and now, when fra's (which made it up) was.
    lbl = label("dead", "fra", "192.0.2.50", overrides["ports"]["dead"],
                "http")
    assert s["log"].count("healthcheck: %s: DOWN (override cleared; probes say "
                          "down, last FAIL: " % lbl) == 2, s["log"]


def test_override_default_reason_and_file_removal(overrides):
    """geodnsd-force without a reason writes who and when; removing the
    file clears every override."""
    s = overrides["dc_down_again"]
    assert s["ok"] and s["web"] == WEB_IAD, (s["after"], s["web"])
    assert re.match(r"^datacenter fra down forced by \S+ at "
                    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n$", s["list"]), \
        s["list"]
    s = overrides["file_removed"]
    assert s["ok"] and s["after"] <= OVERRIDE_STEP, (s["after"], s["web"])
    assert s["web"] == WEB_FULL
    assert s["status"].dcs == {}, s["status"].lines
    assert s["list"] == ""
    assert "healthcheck: overrides file '%s' removed: every override is " \
        "cleared" % overrides["state"] in s["log"], s["log"]


# ---------------------------------------------------------------- 8. reload

def test_reload_keeps_state_and_new_check_is_new_target(tmp_path, mmdb):
    up, fra = Http(), Http()
    http = dict(CHECK, type="http", path="/health")
    services = {"web": service(
        {"fra": ["192.0.2.10"], "iad": ["198.51.100.10"],
         "sin": ["203.0.113.10"]}, http,
        {"192.0.2.10": fra.port, "198.51.100.10": up.port,
         "203.0.113.10": up.port})}
    srv = start_server(tmp_path / "geodnsd", mmdb, services)
    lbl = label("web", "fra", "192.0.2.10", fra.port, "http")
    try:
        assert poll(lambda: geo(srv, "web") == ans(["192.0.2.10"], GEO_TTL),
                    3.0)[0]
        fra.stop()
        assert poll(lambda: geo(srv, "web") == ans(["198.51.100.10"],
                                                   HALF_TTL), 6.0)[0], \
            srv.stderr
        t1 = status(srv).target(lbl)
        assert t1["state"] == "DOWN"

        # SIGHUP, nothing changed: the target stays DOWN at once.
        n = srv.count("reload: done")
        srv.send_signal(signal.SIGHUP)
        assert poll(lambda: srv.count("reload: done") > n, 5.0, 0.05)[0], \
            srv.stderr
        seen = [geo(srv, "web")]
        t2 = status(srv).target(lbl)
        for _ in range(8):
            time.sleep(0.1)
            seen.append(geo(srv, "web"))
        assert set(seen) == {ans(["198.51.100.10"], HALF_TTL)}, seen
        assert t2["state"] == "DOWN" and t2["since"] == t1["since"], (t1, t2)
        assert int(t2["nfail"]) >= int(t1["nfail"]), (t1, t2)
        assert t2["probes"] == "down"
        assert "no longer configured" not in srv.stderr
        assert transitions(srv.stderr, lbl) == [
            "DOWN (3 consecutive failures: connect refused)"]

        # Another path: a different check, so new targets, which start
        # from the state of the ones they replace (not 'initial': a dead
        # datacenter must not come back on a reload).
        http["path"] = "/ready"
        srv.write_files()
        n = srv.count("reload: done")
        t_hup = time.monotonic()
        srv.send_signal(signal.SIGHUP)
        assert poll(lambda: srv.count("reload: done") > n, 5.0, 0.05)[0], \
            srv.stderr
        first = geo(srv, "web")
        t3 = status(srv).target(lbl)
        log = srv.stderr
        for dc, addr, port in (("fra", "192.0.2.10", fra.port),
                               ("iad", "198.51.100.10", up.port),
                               ("sin", "203.0.113.10", up.port)):
            assert ("geodnsd: info: healthcheck: %s: check changed, probe "
                    "stopped (its state carries over to the new check)"
                    % label("web", dc, addr, port, "http")) in log, log
        assert "no longer configured" not in log, log
        assert first == ans(["198.51.100.10"], HALF_TTL), first
        assert t3["state"] == "DOWN" and t3["since"] == t1["since"], (t1, t3)
        # The new targets probe the new path; fra stays down.
        assert poll(lambda: any(r[1] == "/ready" and r[0] >= t_hup
                                for r in up.requests()), 6.0)[0], \
            up.requests()[-5:]
        time.sleep(1.0)
        assert geo(srv, "web") == ans(["198.51.100.10"], HALF_TTL)
        assert transitions(srv.stderr, lbl) == [
            "DOWN (3 consecutive failures: connect refused)"]
    finally:
        srv.kill()
        up.stop()
        fra.stop()


# ---------------------------------------------------------------- 10. initial

def test_probes_start_at_load_without_queries(tmp_path, mmdb):
    """initial: down with rise 3: every datacenter is down at start-up (the
    last-resort answer), the probes bring them up on their own, with no
    query, within rise * interval + 1 s, and not before rise probes."""
    up = Http()
    services = {"web": service(
        {"fra": ["192.0.2.10"], "iad": ["198.51.100.10"],
         "sin": ["203.0.113.10"]},
        dict(CHECK, type="http", path="/health", rise=3, initial="down"),
        {a: up.port for a in ("192.0.2.10", "198.51.100.10",
                              "203.0.113.10")},
        all_down="last-resort", last_resort=["203.0.113.99"])}
    srv = HealthServer(tmp_path / "geodnsd", mmdb, services)
    try:
        require_geodnsd()
        srv.start()
        first = geo(srv, "web")
        t_first = time.monotonic() - srv.started
        labels = [label("web", dc, a, up.port, "http") for dc, a in
                  (("fra", "192.0.2.10"), ("iad", "198.51.100.10"),
                   ("sin", "203.0.113.10"))]
        # No query from here on: only the log tells.  Poll it every 50 ms
        # and note when each target came up.
        came_up = {}
        deadline = srv.started + 3 * 1 + 1 + 1.5
        while len(came_up) < len(labels) and time.monotonic() < deadline:
            log = srv.stderr
            for l in labels:
                if l not in came_up and transitions(log, l):
                    came_up[l] = time.monotonic() - srv.started
            time.sleep(0.05)
        assert t_first < 1.7, "start-up too slow to see the initial state"
        assert first == ans(["203.0.113.99"], HALF_TTL), first
        assert len(came_up) == len(labels), (
            "targets not up 5.5 s after start:\n%s" % srv.stderr)
        # Three probes, at least 0.9 s apart: not before 1.8 s; and all
        # within rise * interval + 1 s.
        assert min(came_up.values()) >= 1.7, came_up
        assert max(came_up.values()) <= 3 * 1 + 1, came_up
        for l in labels:
            assert transitions(srv.stderr, l) == [
                "UP (3 consecutive successes: HTTP 200)"]
        reqs = up.requests()
        # Rise 3 needs three probes per target, 0.9 s apart at least.
        assert len(reqs) >= 9
        # The first probe falls at a random point within one interval (1 s)
        # of the load, which ended before the first answer (t_first): the
        # bound allows for start-up time on a loaded machine, not for a
        # probe that waits for a second interval.
        assert reqs[0][0] - srv.started < t_first + 1.1, (reqs[0][0] -
                                                          srv.started, t_first)
        assert geo(srv, "web") == ans(["192.0.2.10"], GEO_TTL)
        assert "service web: every datacenter is down; answering with the " \
            "last-resort addresses" in srv.stderr
        # The all-down state is checked once a second.
        assert poll(lambda: "service web: up again in " in
                    srv.stderr, 2.5)[0], srv.stderr
    finally:
        srv.kill()
        up.stop()


# ---------------------------------------------------------------- 7. status

@pytest.fixture(scope="module")
def status_srv(tmp_path_factory, mmdb, tls_cert):
    """Targets failing in every documented way (rise 1, fall 1, so each
    verdict shows at once); explain and status only from 127.0.0.1."""
    work = tmp_path_factory.mktemp("status")
    flags = str(work / "flags")
    os.makedirs(flags)
    t = {"up": Http(), "503": Http(status=503), "slow": Http(delay=2.0),
         "body": Http(body=b"starting\n"), "tcp": Tcp(),
         "dns": Dns(), "servfail": Dns("servfail"), "nodata": Dns("nodata"),
         "closed": pick_port()}
    if tls_cert:
        t["tls"] = Http(tls=tls_cert)
    fast = {"interval": 1, "timeout": 0.5, "rise": 1, "fall": 1}
    http = dict(fast, type="http", path="/health")
    Flag(flags, "198.51.100.30")
    # The exec commands sleep for 7 or 8 s plus this: their argv is this
    # run's own, whatever else runs on the machine.
    token = "0.%06d" % random.SystemRandom().randrange(1000000)
    services = {
        "web": service(
            {"fra": ["192.0.2.10", "192.0.2.11"], "iad": ["198.51.100.10"],
             "sin": ["203.0.113.10"]}, http,
            {"192.0.2.10": t["503"].port, "192.0.2.11": t["up"].port,
             "198.51.100.10": t["slow"].port, "203.0.113.10": t["up"].port}),
        "body": service(
            {"fra": ["192.0.2.15"], "iad": ["198.51.100.15"]},
            dict(http, expect="ok"),
            {"192.0.2.15": t["body"].port, "198.51.100.15": t["up"].port}),
        "tcp": service(
            {"fra": ["192.0.2.20"], "iad": ["198.51.100.20"]},
            dict(fast, type="tcp"),
            {"192.0.2.20": t["closed"], "198.51.100.20": t["tcp"].port}),
        "dns": service(
            {"fra": ["192.0.2.25"], "iad": ["198.51.100.25"]},
            dict(fast, type="dns", name="health.example"),
            {"192.0.2.25": t["servfail"].port,
             "198.51.100.25": t["dns"].port}),
        "exec": service(
            {"fra": ["192.0.2.30"], "iad": ["198.51.100.30"]},
            dict(fast, type="exec",
                 command=["test", "-e", os.path.join(flags, "up-%a")])),
        "exec2": service(
            {"fra": ["192.0.2.35"]},
            dict(fast, type="exec", command=["/nonexistent/geodnsd-probe"])),
        "more": service(    # more ways to fail, and one way to pass
            {"fra": ["192.0.2.50", "192.0.2.51"],
             "iad": ["198.51.100.50", "198.51.100.51"]},
            dict(fast, type="exec", command=[
                "sh", "-c", 'case "$0" in '
                '192.0.2.50) kill -9 $$ ;; '
                '192.0.2.51) exec sleep 7 %s ;; '
                '198.51.100.50) sleep 8 %s & exit 0 ;; '
                '*) exit 3 ;; esac' % (token, token), "%a"])),
        "nodata": service(
            {"fra": ["192.0.2.55"]},
            dict(fast, type="dns", name="health.example", qtype="AAAA",
                 **{"want-answer": True}),
            {"192.0.2.55": t["nodata"].port}),
        "tlsplain": service(    # TLS to a server that speaks no TLS
            {"fra": ["192.0.2.60"], "iad": ["198.51.100.60"]},
            dict(fast, type="https", path="/health"),
            {"192.0.2.60": t["tcp"].port, "198.51.100.60": t["up"].port}),
    }
    if tls_cert:
        services["tlsca"] = service(        # system store: self-signed fails
            {"fra": ["192.0.2.40"]},
            dict(fast, type="https", path="/health", **{"verify-tls": True}),
            {"192.0.2.40": t["tls"].port})
        services["tlshost"] = service(
            {"fra": ["192.0.2.45"]},
            {"interval": 1, "timeout": 0.5, "rise": 1, "fall": 1,
             "type": "https", "path": "/health", "verify-tls": True,
             "ca-file": tls_cert[0], "host": "www.example.com"},
            {"192.0.2.45": t["tls"].port})
    srv = start_server(work / "geodnsd", mmdb, services,
                       explain_acl=["127.0.0.1/32"])
    srv.targets = t
    srv.token = token
    srv.n_targets = sum(len(a) for spec in services.values()
                        for a in spec["dcs"].values())

    # rise 1, fall 1: every probe decides.  Wait until each target shows
    # its expected verdict (on an overloaded machine a test server may
    # miss one probe's timeout and show that first), keep that snapshot.
    srv.want = status_expectations(t)
    srv.snapshot = None

    def settled():
        srv.snapshot = status(srv)
        return not status_mismatches(srv.snapshot, srv.want)
    srv.settled = poll(settled, 6.0, 0.2)[0]
    yield srv
    srv.kill()
    stop_all(v for v in t.values() if not isinstance(v, int))


def test_status_service_summaries(status_srv):
    assert status_srv.settled, status_srv.stderr
    st = status_srv.snapshot
    assert st.services["web"] == \
        "service web: fra up 1/2; iad DOWN 0/1; sin up 1/1; serving"
    assert st.services["tcp"] == "service tcp: fra DOWN 0/1; iad up 1/1; " \
        "serving"
    assert st.services["exec2"] == \
        "service exec2: fra DOWN 0/1; ALL DOWN: answering fail-open"
    assert st.dcs == {} and st.other == [], st.lines
    # One line per target, in configuration order, after the summaries.
    n_svc = len(status_srv.services)
    assert [l.startswith("service ") for l in st.lines] == \
        [True] * n_svc + [False] * (len(st.lines) - n_svc)


def status_expectations(t):
    """[(label, state, last, reason)] of every target of status_srv; reason
    is a string or a compiled pattern."""
    want = [
        (label("web", "fra", "192.0.2.10", t["503"].port, "http"),
         "DOWN", "FAIL", "HTTP 503"),
        (label("web", "fra", "192.0.2.11", t["up"].port, "http"),
         "up", "ok", "HTTP 200"),
        (label("web", "iad", "198.51.100.10", t["slow"].port, "http"),
         "DOWN", "FAIL", "timeout after 500 ms waiting for the response"),
        (label("web", "sin", "203.0.113.10", t["up"].port, "http"),
         "up", "ok", "HTTP 200"),
        (label("body", "fra", "192.0.2.15", t["body"].port, "http"),
         "DOWN", "FAIL", "HTTP 200 but body lacks 'ok'"),
        (label("body", "iad", "198.51.100.15", t["up"].port, "http"),
         "up", "ok", "HTTP 200"),
        (label("tcp", "fra", "192.0.2.20", t["closed"], "tcp"),
         "DOWN", "FAIL", "connect refused"),
        (label("tcp", "iad", "198.51.100.20", t["tcp"].port, "tcp"),
         "up", "ok", "connected"),
        (label("dns", "fra", "192.0.2.25", t["servfail"].port, "dns"),
         "DOWN", "FAIL", "rcode SERVFAIL (want NOERROR)"),
        (label("dns", "iad", "198.51.100.25", t["dns"].port, "dns"),
         "up", "ok", "rcode NOERROR, 1 answer"),
        (label("exec", "fra", "192.0.2.30", None, "exec"),
         "DOWN", "FAIL", "exit 1"),
        (label("exec", "iad", "198.51.100.30", None, "exec"),
         "up", "ok", "exit 0"),
        (label("exec2", "fra", "192.0.2.35", None, "exec"),
         "DOWN", "FAIL", "cannot run '/nonexistent/geodnsd-probe': "
         "No such file or directory"),
        (label("more", "fra", "192.0.2.50", None, "exec"),
         "DOWN", "FAIL", "killed by signal 9"),
        (label("more", "fra", "192.0.2.51", None, "exec"),
         "DOWN", "FAIL", "timeout after 500 ms (the command had not exited; it is killed)"),
        (label("more", "iad", "198.51.100.50", None, "exec"),
         "up", "ok", "exit 0"),
        (label("more", "iad", "198.51.100.51", None, "exec"),
         "DOWN", "FAIL", "exit 3"),
        (label("nodata", "fra", "192.0.2.55", t["nodata"].port, "dns"),
         "DOWN", "FAIL", "no answer records"),
        (label("tlsplain", "fra", "192.0.2.60", t["tcp"].port, "https"),
         "DOWN", "FAIL", re.compile(r"^TLS handshake failed: .+")),
        (label("tlsplain", "iad", "198.51.100.60", t["up"].port, "https"),
         "DOWN", "FAIL", re.compile(r"^TLS handshake failed: .+")),
    ]
    if "tls" in t:
        want += [
            (label("tlsca", "fra", "192.0.2.40", t["tls"].port, "https"),
             "DOWN", "FAIL", re.compile(r"^certificate verify failed: "
                                        r"self[- ]signed certificate$")),
            (label("tlshost", "fra", "192.0.2.45", t["tls"].port, "https"),
             "DOWN", "FAIL", "certificate verify failed: hostname mismatch"),
        ]
    return want


def status_mismatches(st, want):
    bad = []
    for lbl, state, last, reason in want:
        got = st.targets.get(lbl)
        if got is None:
            bad.append("%s: no line" % lbl)
            continue
        ok_reason = reason.match(got["reason"] or "") if \
            not isinstance(reason, str) else got["reason"] == reason
        if (got["state"], got["last"]) != (state, last) or not ok_reason:
            bad.append("%s: %s %s %r" % (lbl, got["state"], got["last"],
                                         got["reason"]))
    return bad


def test_status_target_lines(status_srv):
    """One line per target: state, since, the last result and its reason,
    the runs and the totals."""
    st = status_srv.snapshot
    assert status_srv.settled, "\n".join(
        ["not as expected:"] + status_mismatches(st, status_srv.want))
    for lbl, state, last, reason in status_srv.want:
        got = st.target(lbl)
        msg = "%s: %s" % (lbl, got)
        assert got["probes"] == ("up" if state == "up" else "down"), msg
        assert int(got["nok"]) + int(got["nfail"]) >= 1, msg
        if last == "ok":
            assert int(got["okrow"]) >= 1 and got["failrow"] == "0", msg
        else:
            assert int(got["failrow"]) >= 1 and got["okrow"] == "0", msg
            assert got["nok"] == "0", msg
        assert int(got["age"]) <= 30, msg
        assert float(got["ms"]) < 1000, msg
    assert len(st.targets) == len(status_srv.want) == status_srv.n_targets


def processes(*argv):
    """PIDs of running processes with exactly this argv."""
    want = ("\0".join(argv) + "\0").encode()
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if f.read() == want:
                    pids.append(int(pid))
        except OSError:
            pass
    return pids


def test_exec_leaves_no_processes(status_srv):
    """A command that times out is killed; what a command leaves running
    in the background is killed when it exits.  Each runs once a second
    and would otherwise pile up (they sleep 7 s)."""
    assert status_srv.settled, status_srv.stderr
    most = {"timeout": 0, "background": 0}
    for _ in range(10):
        most["timeout"] = max(most["timeout"], len(processes(
            "sleep", "7", status_srv.token)))
        most["background"] = max(most["background"], len(processes(
            "sleep", "8", status_srv.token)))
        time.sleep(0.15)
    assert most["timeout"] <= 1 and most["background"] <= 1, most


def test_status_tls_verification_reasons(status_srv):
    """verify-tls: the system store does not trust a self-signed
    certificate; a host name the certificate does not name fails."""
    t = status_srv.targets
    if "tls" not in t:
        pytest.skip(NO_OPENSSL)
    assert status_srv.settled
    st = status_srv.snapshot
    ca = st.target(label("tlsca", "fra", "192.0.2.40", t["tls"].port,
                         "https"))
    assert (ca["state"], ca["last"]) == ("DOWN", "FAIL"), ca
    assert re.match(r"^certificate verify failed: self[- ]signed "
                    r"certificate$", ca["reason"]), ca
    host = st.target(label("tlshost", "fra", "192.0.2.45", t["tls"].port,
                           "https"))
    assert (host["state"], host["last"]) == ("DOWN", "FAIL"), host
    assert host["reason"] == "certificate verify failed: hostname mismatch", \
        host


def test_status_filtered_by_service(status_srv):
    lines = status_lines(status_srv, "web")
    assert re.match(r"^service web: fra (up 1|DOWN 0)/2; iad (up 1|DOWN 0)/1;"
                    r" sin (up 1|DOWN 0)/1; serving$", lines[0]), lines
    assert len(lines) == 5, lines
    assert all(l.startswith("web/") for l in lines[1:]), lines
    st = Status(lines)
    assert sorted(v["label"].split(" ")[1] for v in st.targets.values()) == \
        ["192.0.2.10", "192.0.2.11", "198.51.100.10", "203.0.113.10"]
    tcp = status_lines(status_srv, "tcp")
    assert len(tcp) == 3 and tcp[0].startswith("service tcp: fra "), tcp
    assert [l.split(" ")[0] for l in tcp[1:]] == ["tcp/fra", "tcp/iad"], tcp
    # A name that is no service says so, and lists the services.
    none = status_lines(status_srv, "nosuchservice")
    assert len(none) == 1, none
    assert none[0].startswith("no service 'nosuchservice'; services: web, "), none
    assert ", tcp, " in none[0], none


def test_status_over_udp_truncates_or_fits(status_srv):
    r = ask(status_srv, "status.geodnsd.", "TXT", ecs=None, rdclass="CH")
    assert r.rcode() == dns.rcode.NOERROR
    if r.flags & dns.flags.TC:
        assert r.answer == [], "TC with a partial answer"
    else:
        assert len(txt_lines(r)) == len(status_lines(status_srv))


def test_status_refused_outside_explain_acl(status_srv):
    for name, rdclass in (("status.geodnsd.", "CH"),
                          ("web.status.geodnsd.", "CH"),
                          ("web.example.com.explain.geodnsd.", "CH")):
        for tcp in (False, True):
            r = ask(status_srv, name, "TXT", ecs=None, rdclass=rdclass,
                    tcp=tcp, source="127.0.0.2")
            assert dns.rcode.to_text(r.rcode()) == "REFUSED", (name, tcp, r)
            assert r.answer == []
    # Answers are not restricted; the ACL is only for status and explain.
    r = ask(status_srv, "web.example.com.", source="127.0.0.2")
    assert dns.rcode.to_text(r.rcode()) == "NOERROR"
    assert status_lines(status_srv, source="127.0.0.1")


def test_reload_dropping_targets_under_load(tmp_path, mmdb):
    """Reloads that drop targets while UDP workers answer geo queries: the
    workers read each target's up flag through the dataset still published,
    so a dropped target is freed only after the new dataset's grace period
    (under ASan, reading it earlier is a heap-use-after-free that kills the
    server).  30 reloads, 29 of them replacing a fra address, under a steady
    stream of geo queries; bounded in time."""
    check = {"type": "exec", "command": ["true"], "interval": 0.2,
             "timeout": 0.2, "rise": 1, "fall": 1}
    spec = service({"fra": ["192.0.2.10", "192.0.2.11"],
                    "iad": ["198.51.100.10"]}, check)
    srv = start_server(tmp_path / "geodnsd", mmdb, {"web": spec})
    opts = [dns.edns.ECSOption("127.0.1.0", 24, 0)]
    wire = dns.message.make_query("web.example.com", "A", use_edns=0,
                                  options=opts).to_wire()
    try:
        with UdpLoad(srv.host, srv.port, [wire]) as load:
            for i in range(30):
                spec["dcs"]["fra"] = ["192.0.2.10", "192.0.2.%d" % (11 + i % 2)]
                srv.write_files()
                n = srv.count("reload: done")
                srv.send_signal(signal.SIGHUP)
                assert poll(lambda: srv.count("reload: done") > n or
                            not srv.running(), 10.0, 0.02)[0], srv.stderr
                assert srv.running(), srv.stderr[-3000:]
    finally:
        log = srv.stderr
        alive = srv.running()
        srv.kill()
    assert alive and "AddressSanitizer" not in log, log[-3000:]
    assert log.count("no longer configured") >= 29, log
    assert load.answered > 1000, load.answered


def test_status_of_a_service_with_capitals(tmp_path, mmdb):
    """Query names reach the server lowercased or not, as the client typed
    them; service names may have capitals.  <service>.status.geodnsd
    matches without case, as DNS names do."""
    check = {"type": "exec", "command": ["true"], "interval": 0.2,
             "timeout": 0.2, "rise": 1, "fall": 1}
    srv = start_server(tmp_path / "geodnsd", mmdb, {
        "Web": service({"fra": ["192.0.2.10"]}, check)})
    try:
        for asked in ("Web", "web", "WEB"):
            lines = status_lines(srv, asked)
            assert lines and lines[0].startswith("service Web: fra "), \
                (asked, lines)
            assert all(not l.startswith("no service") for l in lines), lines
        assert status_lines(srv, "api") == ["no service 'api'; services: Web"]
    finally:
        srv.kill()


# ---------------------------------------------------------------- 11. --check

def check_run(srv):
    return subprocess.run([GEODNSD, "-c", srv.config_path, "--check"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=20,
                          stdin=subprocess.DEVNULL)


def config_line(srv, needle):
    for i, line in enumerate(srv.config_text().splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(needle)


@pytest.mark.parametrize("check, needle, message", [
    (dict(type="https", verify_tls=True, ca_file="/nonexistent/ca.pem"),
     "ca-file:", "'ca-file' '/nonexistent/ca.pem': cannot open: No such file or directory"),
    (dict(type="https", verify_tls=True, ca_file="/"),
     "ca-file:", "'ca-file' '/': is a directory, not a file"),
    (dict(type="https", verify_tls=True, ca_file=os.path.abspath(__file__)),
     "ca-file:", "'ca-file' '%s': no PEM certificate in it" % os.path.abspath(__file__)),
    (dict(type="tcp", interval=2, path="/health"), "path:",
     "'path' applies to http and https checks only, not tcp (as do 'path', 'host', "
     "'status', 'expect', 'verify-tls' and 'ca-file')"),
    (dict(type="http", name="example.com"), "name:",
     "'name' applies to dns checks only, not http (as do 'name', 'qtype', 'rcode' "
     "and 'want-answer')"),
    (dict(type="http", status=[]), "status:",
     "'status' lists no status code; leave it out for the default (200)"),
    (dict(type="http", path="/a\r\nX-Evil: 1"), "path:",
     "'path' has a space or control character; percent-encode it (a space is %20)"),
    (dict(type="dns", name="bad..name"), "name:",
     "'name' 'bad..name' is not a domain name"),
    (dict(type="http", host="a b"), "host:", "'host' 'a b' is not a host name"),
    # strtod() alone took hex: 'interval: 0x10' was 16 s.
    (dict(type="tcp", interval="0x10"), "interval:",
     "'interval' must be a number of seconds between 0.1 and 3600, not '0x10'"),
    (dict(type="tcp", timeout="1e99"), "timeout:",
     "'timeout' must be a number of seconds between 0.01 and 600, not '1e99'"),
    (dict(type="tcp", interval=0.5), "check:",
     "'timeout' (1000 ms, the default when not set) must not exceed "
     "'interval' (500 ms)"),
])
def test_check_config_errors_name_the_line(tmp_path, mmdb, check, needle,
                                          message):
    """Check settings that would only fail at run time (every probe down
    for a configuration mistake) are errors at their line."""
    require_geodnsd()
    check = {k.replace("_", "-"): v for k, v in check.items()}
    srv = HealthServer(tmp_path / "geodnsd", mmdb, {"web": service(
        {"fra": ["192.0.2.10"]}, check, {"192.0.2.10": 1})})
    res = check_run(srv)
    assert res.returncode == 1, res
    assert "%s:%d: %s" % (srv.config_path, config_line(srv, needle),
                          message) in res.stderr, res.stderr


def test_check_config_warnings(tmp_path, mmdb):
    """ca-file without verify-tls is not used; up-min above a datacenter's
    address count means all of them: both warnings, --check passes."""
    require_geodnsd()
    srv = HealthServer(tmp_path / "geodnsd", mmdb, {"web": service(
        {"fra": ["192.0.2.10"], "iad": ["198.51.100.10", "198.51.100.11"]},
        {"type": "https", "ca-file": os.path.abspath(__file__)},
        {"192.0.2.10": 1, "198.51.100.10": 1, "198.51.100.11": 1},
        up_min=2)})
    res = check_run(srv)
    assert res.returncode == 0 and "2 warnings" in res.stdout, res
    assert "%s:%d: warning: 'ca-file' is not used: 'verify-tls' is false " \
        "(the default)" % (srv.config_path, config_line(srv, "check:")) \
        in res.stderr, res.stderr
    assert "%s:%d: warning: service 'web': 'up-min' is 2 but datacenter " \
        "'fra' has 1 address: it is up only when all are" % (
            srv.config_path, config_line(srv, "fra: [")) in res.stderr, \
        res.stderr


def test_timeouts_say_where_the_probe_stood(tmp_path):
    """Every timeout said only 'timeout after N ms': a TLS endpoint that
    never finishes its handshake looked like one that never answers, and
    a DNS server answering with the wrong query ID looked like a dead one."""
    tls_port, dns_port = pick_port(), pick_port()
    silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    silent.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    silent.bind(("127.0.0.1", tls_port))
    silent.listen(16)       # accepts (the kernel does), never speaks TLS
    wrong = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    wrong.bind(("127.0.0.1", dns_port))
    stop = threading.Event()

    def answer_with_another_id():
        wrong.settimeout(0.2)
        while not stop.is_set():
            try:
                data, peer = wrong.recvfrom(512)
            except socket.timeout:
                continue
            reply = bytearray(data)
            reply[0] ^= 0xFF            # another ID
            reply[2] |= 0x80            # QR
            wrong.sendto(bytes(reply), peer)
    th = threading.Thread(target=answer_with_another_id, daemon=True)
    th.start()
    srv = None
    try:
        srv = start_web_geo(tmp_path, """datacenters:
  fra: { latitude: 50.11, longitude: 8.68 }
  iad: { latitude: 38.95, longitude: -77.45 }
services:
  web:
    datacenters:
      fra: [ 192.0.2.10 ]
    probe: { 192.0.2.10: 127.0.0.1@%d }
    check: { type: https, interval: 1, timeout: 0.4, fall: 1, verify-tls: false }
  dns:
    datacenters:
      iad: [ 198.51.100.10 ]
    probe: { 198.51.100.10: 127.0.0.1@%d }
    check: { type: dns, name: example.com, interval: 1, timeout: 0.4, fall: 1 }
routing:
  default: [ fra, iad ]
""" % (tls_port, dns_port))
        assert wait_until(lambda: "timeout after 400 ms in the TLS handshake"
                          in srv.stderr, 8), srv.stderr
        assert wait_until(lambda: re.search(
            r"timeout after 400 ms waiting for the answer \(\d+ repl(y|ies) "
            r"with another ID ignored\)", srv.stderr), 8), srv.stderr
    finally:
        stop.set()
        th.join(5)      # before its socket closes under it
        if srv is not None:
            srv.kill()
        silent.close()
        wrong.close()
