"""Shared harness for the geodnsd system tests.

Starts geodnsd (and, for the differential test, NSD) on free loopback ports
with generated configuration files, and offers small helpers to query them.
Every wait is bounded; every process started here is killed on teardown.
Traffic only ever goes to 127.0.0.1 or ::1.
"""

import os
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time

import dns.flags
import dns.message
import dns.query
import dns.rdataclass
import dns.rdatatype
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP_SRCDIR = os.environ.get("TOP_SRCDIR") or os.path.normpath(
    os.path.join(HERE, "..", ".."))
ZONES_DIR = os.path.join(TOP_SRCDIR, "tests", "zones")
DATA_DIR = os.path.join(TOP_SRCDIR, "tests", "data")
GEODNSD = os.environ.get("GEODNSD") or os.path.join(TOP_SRCDIR, "geodnsd")
NSD = os.environ.get("NSD") or "/usr/sbin/nsd"

# The zones every test server serves unless told otherwise: (name, file).
STANDARD_ZONES = [
    ("example.com", os.path.join(ZONES_DIR, "example.com.zone")),
    ("sub.example.com", os.path.join(ZONES_DIR, "sub.example.com.zone")),
    ("example.net", os.path.join(ZONES_DIR, "example.net.zone")),
]

MAKE_MMDB = os.path.join(TOP_SRCDIR, "tools", "make-test-mmdb")

START_TIMEOUT = 10.0    # seconds for a server to answer its first query
STOP_TIMEOUT = 10.0     # seconds for a clean exit after SIGTERM
QUERY_TIMEOUT = 2.0     # seconds per query


# A zone whose www is geo-routed by service "web" (the metrics and
# overrides tests configure that service).
WEB_GEO_ZONE = """$ORIGIN example.com.
$TTL 300
@    SOA ns1 hostmaster 1 7200 3600 1209600 300
     NS  ns1
ns1  A   192.0.2.1
www  60 IN GEO web
"""


def metric(text, name, labels=""):
    """The value of one sample in a /metrics text, e.g. metric(t,
    "geodnsd_target_up", 'service="web",datacenter="fra",address="192.0.2.10"'),
    or None."""
    key = "%s{%s}" % (name, labels) if labels else name
    for line in text.splitlines():
        if line.startswith(key + " "):
            return float(line.split()[-1])
    return None


def wait_until(cond, timeout, interval=0.05):
    """Poll cond() until it returns a true value or timeout seconds pass.
    Returns the last value of cond(); exceptions from cond count as false."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = cond()
        except Exception:       # noqa: BLE001 - "not yet" for any reason
            value = None
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


_PORTS_GIVEN = set()


def free_port(family=socket.AF_INET, addr="127.0.0.1"):
    """A port that is free for both UDP and TCP on addr (best effort: the
    port is released before the server binds it), and not one this test
    process was given before: the kernel can hand the same free port out
    twice, and a server's DNS and metrics ports then collide."""
    for _ in range(50):
        tcp = socket.socket(family, socket.SOCK_STREAM)
        udp = socket.socket(family, socket.SOCK_DGRAM)
        try:
            tcp.bind((addr, 0))
            port = tcp.getsockname()[1]
            if port in _PORTS_GIVEN:
                continue
            try:
                udp.bind((addr, port))
            except OSError:
                continue
            _PORTS_GIVEN.add(port)
            return port
        finally:
            tcp.close()
            udp.close()
    raise RuntimeError("no free port on %s" % addr)


def ipv6_loopback_available():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    except OSError:
        return False
    try:
        s.bind(("::1", 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


def yaml_str(s):
    """Quote a string for YAML (double-quoted scalar)."""
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


def make_query(name, rdtype="A", rdclass="IN", **kwargs):
    """dns.message.make_query with RD clear by default (we are authoritative).
    kwargs go to make_query (use_edns, payload, options, want_dnssec, ...)."""
    kwargs.setdefault("flags", 0)
    return dns.message.make_query(name, rdtype, rdclass, **kwargs)


# ---------------------------------------------------------------- raw I/O

def udp_exchange_wire(wire, port, host="127.0.0.1", timeout=QUERY_TIMEOUT):
    """Send wire over UDP, return the reply bytes or None on timeout."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(wire, (host, port))
        try:
            data, _ = s.recvfrom(65535)
        except socket.timeout:
            return None
        return data


class UdpLoad:
    """A steady stream of UDP queries to host:port from a thread, for tests
    that reload under load: bursts of 32 (the wires in turn), answers read
    without waiting.  `with UdpLoad(...) as load:`; load.answered counts
    the replies.  Bounded: it stops on its own after 60 s."""

    def __init__(self, host, port, wires):
        self.addr, self.wires = (host, port), wires
        self.answered = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def run(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        deadline = time.monotonic() + 60
        try:
            while not self.stop.is_set() and time.monotonic() < deadline:
                for i in range(32):
                    s.sendto(self.wires[i % len(self.wires)], self.addr)
                time.sleep(0.0005)
                while True:
                    try:
                        s.recv(4096)
                        self.answered += 1
                    except BlockingIOError:
                        break
        finally:
            s.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(70)


def recv_exact(sock, n):
    """Read exactly n bytes; None if the peer closed first."""
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def tcp_connect(port, host="127.0.0.1", timeout=QUERY_TIMEOUT):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def tcp_send_msg(sock, wire):
    sock.sendall(struct.pack("!H", len(wire)) + wire)


def tcp_recv_msg(sock):
    """One length-prefixed DNS message, or None if the peer closed."""
    hdr = recv_exact(sock, 2)
    if hdr is None:
        return None
    (length,) = struct.unpack("!H", hdr)
    return recv_exact(sock, length)


def tcp_exchange_wire(wire, port, host="127.0.0.1", timeout=QUERY_TIMEOUT):
    with tcp_connect(port, host, timeout) as s:
        tcp_send_msg(s, wire)
        try:
            return tcp_recv_msg(s)
        except (socket.timeout, ConnectionResetError):
            return None


# ---------------------------------------------------------------- servers

class DnsServer:
    """Common part of a server under test: a process, a port, queries."""

    name = "server"

    def __init__(self, workdir, port=None, host="127.0.0.1"):
        self.workdir = str(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.host = host
        self.port = port or free_port()
        self.proc = None
        self.stderr_path = os.path.join(self.workdir, self.name + ".stderr")
        self.stdout_path = os.path.join(self.workdir, self.name + ".stdout")
        self.first_zone = "example.com"

    # -- process control
    def argv(self):
        raise NotImplementedError

    def start(self, wait=True):
        with open(self.stdout_path, "ab") as out, \
                open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(self.argv(), stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL,
                                         cwd=self.workdir)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=START_TIMEOUT):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(
                    "%s exited with %s before answering:\n%s"
                    % (self.name, self.proc.returncode, self.stderr))
            return self.query(self.first_zone, "SOA", timeout=0.2)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if ready() is not None:
                    return
            except AssertionError:
                raise
            except Exception:   # noqa: BLE001 - not listening yet
                pass
            time.sleep(0.05)
        raise AssertionError("%s did not answer within %.0f s; stderr:\n%s"
                             % (self.name, timeout, self.stderr))

    @property
    def stderr(self):
        try:
            with open(self.stderr_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        assert self.running(), "%s is not running:\n%s" % (self.name,
                                                            self.stderr)
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, expect_rc=0):
        """Stop with sig and assert the exit status."""
        assert self.running(), "%s already exited (%s):\n%s" % (
            self.name, self.proc.returncode if self.proc else None,
            self.stderr)
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("%s did not exit within %.0f s of %s"
                                 % (self.name, STOP_TIMEOUT, sig.name))
        if expect_rc is not None:
            assert rc == expect_rc, "%s exited %s after %s; stderr:\n%s" % (
                self.name, rc, sig.name, self.stderr)
        return rc

    def kill(self):
        """Teardown: SIGTERM (lets NSD reap its children), then SIGKILL."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(3)
            return
        except subprocess.TimeoutExpired:
            pass
        self.proc.kill()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass

    # -- queries
    def query(self, name, rdtype="A", tcp=False, rdclass="IN",
              timeout=QUERY_TIMEOUT, **kwargs):
        """Send one query built by make_query(name, rdtype, rdclass, **kwargs)
        and return the parsed reply (raises dns.exception.Timeout)."""
        q = make_query(name, rdtype, rdclass, **kwargs)
        return self.send(q, tcp=tcp, timeout=timeout)

    def send(self, msg, tcp=False, timeout=QUERY_TIMEOUT):
        if tcp:
            return dns.query.tcp(msg, self.host, timeout=timeout,
                                 port=self.port)
        return dns.query.udp(msg, self.host, timeout=timeout, port=self.port,
                             ignore_unexpected=True)

    def send_wire(self, wire, tcp=False, timeout=QUERY_TIMEOUT):
        """Raw bytes in, raw bytes (or None on timeout) out."""
        if tcp:
            return tcp_exchange_wire(wire, self.port, self.host, timeout)
        return udp_exchange_wire(wire, self.port, self.host, timeout)


class Geodnsd(DnsServer):
    """geodnsd with a generated YAML configuration."""

    name = "geodnsd"

    def __init__(self, workdir, zones=None, listen=None, port=None,
                 **server_opts):
        super().__init__(workdir, port=port)
        self.zones = list(STANDARD_ZONES if zones is None else zones)
        if self.zones:
            self.first_zone = self.zones[0][0]
        self.listen = listen or ["127.0.0.1@%d" % self.port]
        self.server_opts = {
            "identity": "test1.example",
            "version": "geodnsd test",
            "nsid": "test-nsid",
            "udp-max-payload": 1232,
            "tcp-max-connections": 256,
            "tcp-idle-timeout": 10,
        }
        self.server_opts.update(
            {k.replace("_", "-"): v for k, v in server_opts.items()})
        self.config_path = os.path.join(self.workdir, "geodnsd.yaml")
        self.write_config()

    def config_text(self):
        lines = ["server:",
                 "  listen: [ %s ]" % ", ".join(yaml_str(l)
                                                for l in self.listen)]
        for key, value in self.server_opts.items():
            if value is None:
                continue
            if isinstance(value, int):
                lines.append("  %s: %d" % (key, value))
            else:
                lines.append("  %s: %s" % (key, yaml_str(value)))
        lines.append("zones:")
        for name, path in self.zones:
            lines.append("  - name: %s" % name)
            lines.append("    file: %s" % yaml_str(path))
        return "\n".join(lines) + "\n"

    def write_config(self, text=None):
        with open(self.config_path, "w") as f:
            f.write(self.config_text() if text is None else text)

    def argv(self):
        return [GEODNSD, "-c", self.config_path]

    def reload(self, condition, timeout=10.0):
        """SIGHUP, then poll condition() until true (bounded); on failure
        the assertion message carries stderr."""
        self.send_signal(signal.SIGHUP)
        ok = wait_until(condition, timeout, interval=0.1)
        assert ok, "condition not met %.0f s after SIGHUP; stderr:\n%s" % (
            timeout, self.stderr)
        return ok


class Nsd(DnsServer):
    """NSD 4 serving the same zones, for the differential test."""

    name = "nsd"

    def __init__(self, workdir, zones=None, port=None, identity="test1.example",
                 nsid="test-nsid"):
        super().__init__(workdir, port=port)
        self.zones = list(STANDARD_ZONES if zones is None else zones)
        self.config_path = os.path.join(self.workdir, "nsd.conf")
        nsid_hex = nsid.encode().hex()
        conf = [
            "server:",
            "  ip-address: 127.0.0.1@%d" % self.port,
            "  port: %d" % self.port,
            '  username: ""',
            '  chroot: ""',
            '  zonesdir: "%s"' % ZONES_DIR,
            '  pidfile: "%s/nsd.pid"' % self.workdir,
            '  database: ""',
            '  xfrdfile: "%s/xfrd.state"' % self.workdir,
            '  zonelistfile: "%s/zone.list"' % self.workdir,
            '  xfrdir: "%s"' % self.workdir,
            '  logfile: "%s/nsd.log"' % self.workdir,
            "  verbosity: 0",
            "  server-count: 1",
            "  minimal-responses: yes",
            "  refuse-any: no",
            "  hide-version: no",
            '  version: "geodnsd test"',
            '  identity: "%s"' % identity,
            "  nsid: %s" % nsid_hex,
            "  ipv4-edns-size: 1232",
            "  tcp-count: 10",
            "remote-control:",
            "  control-enable: no",
        ]
        for name, path in self.zones:
            conf += ["zone:", "  name: %s" % name, '  zonefile: "%s"' % path]
        with open(self.config_path, "w") as f:
            f.write("\n".join(conf) + "\n")

    def argv(self):
        return [NSD, "-d", "-c", self.config_path]


# ---------------------------------------------------------------- fixtures

def require_geodnsd():
    if not (os.path.isfile(GEODNSD) and os.access(GEODNSD, os.X_OK)):
        pytest.fail("geodnsd binary not found at %s (set GEODNSD or run make)"
                    % GEODNSD)


@pytest.fixture
def make_geodnsd(tmp_path):
    """Factory: make_geodnsd(zones=..., start=True, **server_opts)."""
    require_geodnsd()
    servers = []

    def factory(start=True, subdir=None, **kwargs):
        workdir = tmp_path / (subdir or "geodnsd%d" % len(servers))
        srv = Geodnsd(workdir, **kwargs)
        servers.append(srv)
        if start:
            srv.start()
        return srv

    yield factory
    for srv in servers:
        srv.kill()


@pytest.fixture(scope="module")
def geodnsd(tmp_path_factory):
    """One geodnsd with the standard zones, shared by a test module."""
    require_geodnsd()
    srv = Geodnsd(tmp_path_factory.mktemp("geodnsd"))
    try:
        srv.start()
        yield srv
    finally:
        srv.kill()


@pytest.fixture(scope="module")
def nsd(tmp_path_factory):
    """NSD with the standard zones (skips when NSD is not installed)."""
    if not (os.path.isfile(NSD) and os.access(NSD, os.X_OK)):
        pytest.skip("NSD not installed (%s): differential test skipped" % NSD)
    srv = Nsd(tmp_path_factory.mktemp("nsd"))
    try:
        srv.start()
        yield srv
    finally:
        srv.kill()


def run_geodnsd(*args, timeout=20):
    """Run geodnsd with arguments to completion; returns CompletedProcess."""
    require_geodnsd()
    return subprocess.run([GEODNSD] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def copy_zone(src_name, dst_dir, dst_name=None):
    """Copy a standard zone file (and example.com's $INCLUDE file)."""
    dst = os.path.join(str(dst_dir), dst_name or src_name)
    shutil.copy(os.path.join(ZONES_DIR, src_name), dst)
    if src_name == "example.com.zone":
        shutil.copy(os.path.join(ZONES_DIR, "example.com.big"),
                    os.path.join(str(dst_dir), "example.com.big"))
    return dst


def start_web_geo(tmp_path, sections):
    """Start geodnsd on 127.0.0.1 serving example.com from WEB_GEO_ZONE;
    sections is the rest of its configuration (YAML text: datacenters,
    services, ...), between the server and zones sections."""
    require_geodnsd()
    zone = tmp_path / "example.com.zone"
    zone.write_text(WEB_GEO_ZONE)
    srv = Geodnsd(tmp_path / "srv", zones=[])
    srv.write_config('server:\n  listen: [ "127.0.0.1@%d" ]\n' % srv.port
                     + sections + "zones:\n  - name: example.com\n"
                     "    file: %s\n" % yaml_str(str(zone)))
    srv.first_zone = "example.com"
    srv.start()
    return srv


def perl_writer_available():
    """Whether MaxMind's writer (libmaxmind-db-writer-perl) is installed."""
    try:
        rc = subprocess.run(["perl", "-MMaxMind::DB::Writer::Tree", "-e", "1"],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, timeout=30).returncode
    except (OSError, subprocess.TimeoutExpired):
        return False
    return rc == 0


def skip_without_mmdb_writer():
    """Module-level skip, with the reason, when the test databases cannot
    be made."""
    if not perl_writer_available():
        pytest.skip("MaxMind::DB::Writer::Tree missing (apt-get install "
                    "libmaxmind-db-writer-perl): cannot make the test databases",
                    allow_module_level=True)


def make_test_mmdbs(out):
    """Write the test databases (tools/make-test-mmdb) into out; returns out
    as a string.  The tool prints nothing on success."""
    res = subprocess.run(["perl", MAKE_MMDB, str(out)], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, universal_newlines=True,
                         timeout=60)
    assert res.returncode == 0, "make-test-mmdb failed:\n" + res.stdout
    assert res.stdout == "", "make-test-mmdb printed:\n" + res.stdout
    for f in ("city.mmdb", "country.mmdb"):
        assert os.path.getsize(os.path.join(str(out), f)) > 1000, f
    return str(out)
