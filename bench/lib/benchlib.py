"""Shared helpers for geodnsd's benchmarks (bench/compare.sh,
bench/zone-scale.sh, bench/reload-under-load.sh).

Standard library only (no dnspython): a tiny DNS wire encoder/decoder,
server process control with bounded waits, /proc readers, dnsperf runner
and parser, callgrind output readers.  Traffic only goes to 127.0.0.1.
"""

import datetime
import os
import platform
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

GDNSD = os.environ.get("GDNSD") or "/usr/sbin/gdnsd"
NSD = os.environ.get("NSD") or "/usr/sbin/nsd"
KNOTD = os.environ.get("KNOTD") or "/usr/sbin/knotd"
DNSPERF = os.environ.get("DNSPERF") or shutil.which("dnsperf") or "dnsperf"
VALGRIND = os.environ.get("VALGRIND") or shutil.which("valgrind") or "valgrind"


class BenchError(Exception):
    """A setup problem: the benchmark cannot give a result."""


def die(prog, msg):
    print("%s: error: %s" % (prog, msg), file=sys.stderr)
    sys.exit(2)


# ---------------------------------------------------------------- binaries

def find_geodnsd():
    """(path, how it was chosen): $GEODNSD, build/release/geodnsd, ./geodnsd."""
    env = os.environ.get("GEODNSD")
    if env:
        if not (os.path.isfile(env) and os.access(env, os.X_OK)):
            raise BenchError("$GEODNSD=%s is not an executable file" % env)
        return os.path.abspath(env), "$GEODNSD"
    for rel in ("build/release/geodnsd", "geodnsd"):
        p = os.path.join(REPO, rel)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p, ("build/release/geodnsd" if "/" in rel else "./geodnsd")
    raise BenchError("no geodnsd binary: set $GEODNSD, or build one with "
                     "GEODNSD=$(bench/lib/build-release.sh)")


def sanitizer_build(path):
    """True when the binary links AddressSanitizer (figures meaningless)."""
    try:
        out = subprocess.run(["ldd", path], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=20,
                             universal_newlines=True).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "libasan" in out or "libubsan" in out


def require_exe(path, hint):
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise BenchError("%s not found (%s)" % (path, hint))


def package_version(pkg):
    """The installed Debian package version, or '?'."""
    try:
        r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           timeout=20, universal_newlines=True)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return r.stdout.strip() or "?"


def machine_lines():
    """Header lines: date, host CPU and kernel."""
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        load = "?"
    now = datetime.datetime.now(datetime.timezone.utc)
    return ["date:    %s" % now.strftime("%Y-%m-%d %H:%M:%S UTC"),
            "machine: nproc=%d, CPU %s, Linux %s, load average %s"
            % (os.cpu_count() or 0, model, platform.release(), load)]


# ---------------------------------------------------------------- ports

def free_port(addr="127.0.0.1"):
    """A port free for both UDP and TCP on addr (released before use)."""
    for _ in range(50):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            t.bind((addr, 0))
            port = t.getsockname()[1]
            try:
                u.bind((addr, port))
            except OSError:
                continue
            return port
        finally:
            t.close()
            u.close()
    raise BenchError("no free port on %s" % addr)


# ---------------------------------------------------------------- DNS wire

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "MX": 15, "TXT": 16,
         "AAAA": 28, "OPT": 41}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN",
          4: "NOTIMP", 5: "REFUSED"}


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            raw = label.encode("ascii")
            out += bytes([len(raw)]) + raw
    return out + b"\x00"


def ecs_option(addr, source_prefix):
    """EDNS Client Subnet option (code 8) bytes for addr/source_prefix;
    address bits past the prefix are cleared, as RFC 7871 requires."""
    import ipaddress
    ip = ipaddress.ip_address(addr)
    family = 1 if ip.version == 4 else 2
    net = ipaddress.ip_network("%s/%d" % (addr, source_prefix), strict=False)
    nbytes = (source_prefix + 7) // 8
    data = (struct.pack("!HBB", family, source_prefix, 0)
            + net.network_address.packed[:nbytes])
    return struct.pack("!HH", 8, len(data)) + data


def build_query(qname, qtype="A", ecs=None, edns=True, qid=0, payload=1232):
    """A query in wire format; RD clear (we ask authoritative servers).
    ecs: (address, source prefix) or None."""
    header = struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 1 if edns else 0)
    q = encode_name(qname) + struct.pack("!HH", TYPES[qtype], 1)
    if not edns:
        return header + q
    opts = ecs_option(*ecs) if ecs else b""
    opt = b"\x00" + struct.pack("!HHIH", 41, payload, 0, len(opts)) + opts
    return header + q + opt


def _skip_name(msg, off):
    while True:
        n = msg[off]
        if n == 0:
            return off + 1
        if n & 0xC0 == 0xC0:
            return off + 2
        off += 1 + n


def parse_response(msg):
    """(qid, rcode name, [(type, rdata bytes)] of the answer section,
    ECS scope or None, SOA serial from answer/authority or None)."""
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", msg[:12])
    off = 12
    for _ in range(qd):
        off = _skip_name(msg, off) + 4
    answers, scope, serial = [], None, None
    for i in range(an + ns + ar):
        off = _skip_name(msg, off)
        rtype, _, _, rdlen = struct.unpack("!HHIH", msg[off:off + 10])
        off += 10
        rdata = msg[off:off + rdlen]
        if i < an:
            answers.append((rtype, rdata))
        if rtype == 6 and i < an + ns:
            # mname, rname, then serial
            p = _skip_name(msg, off)
            p = _skip_name(msg, p)
            serial = struct.unpack("!I", msg[p:p + 4])[0]
        if rtype == 41:
            p = 0
            while p + 4 <= len(rdata):
                code, olen = struct.unpack("!HH", rdata[p:p + 4])
                if code == 8 and olen >= 4:
                    scope = rdata[p + 7]
                p += 4 + olen
        off += rdlen
    return qid, RCODES.get(flags & 0xF, str(flags & 0xF)), answers, scope, serial


def addresses(answers):
    """Sorted A/AAAA addresses of an answer list."""
    out = []
    for rtype, rdata in answers:
        if rtype == 1:
            out.append(socket.inet_ntop(socket.AF_INET, rdata))
        elif rtype == 28:
            out.append(socket.inet_ntop(socket.AF_INET6, rdata))
    return tuple(sorted(out))


def udp_ask(port, wire, timeout=1.0, host="127.0.0.1", sock=None):
    """Send one query, return the parsed reply or None on timeout.  The
    query ID is randomised and checked."""
    qid = random.getrandbits(16)
    wire = struct.pack("!H", qid) + wire[2:]
    own = sock is None
    if own:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.settimeout(timeout)
        sock.sendto(wire, (host, port))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            sock.settimeout(left)
            try:
                data, _ = sock.recvfrom(65535)
            except socket.timeout:
                return None
            if len(data) >= 12 and struct.unpack("!H", data[:2])[0] == qid:
                return parse_response(data)
    finally:
        if own:
            sock.close()


def write_dnsperf_binary(path, wires):
    """dnsperf -B input: each query preceded by its 2-byte length (RFC 1035
    4.2.2 TCP framing).  dnsperf rewrites the ID and sends the rest as is,
    so every query can carry its own EDNS Client Subnet option."""
    with open(path, "wb") as f:
        for w in wires:
            f.write(struct.pack("!H", len(w)) + w)


# ---------------------------------------------------------------- /proc

def proc_cpu_split(pid):
    """(utime, stime) of the whole process (every thread, live or exited),
    in clock ticks."""
    with open("/proc/%d/stat" % pid) as f:
        data = f.read()
    fields = data[data.rindex(")") + 2:].split()
    return int(fields[11]), int(fields[12])


def proc_cpu_ns(pid):
    """On-CPU time of every live thread of pid, in nanoseconds: the sum of
    /proc/PID/task/*/schedstat's first field (user and system together,
    exact rather than sampled at clock ticks).  None when the kernel does
    not provide it (CONFIG_SCHED_INFO off)."""
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return None
    total = 0
    for tid in tids:
        path = "/proc/%d/task/%s/schedstat" % (pid, tid)
        try:
            with open(path) as f:
                total += int(f.read().split()[0])
        except (ValueError, IndexError):
            return None
        except OSError:
            if os.path.exists("/proc/%d/task/%s" % (pid, tid)):
                return None     # no schedstat at all
            # the thread ended meanwhile; the servers' threads live as long
            # as the server
    return total


def proc_cpu_ticks(pid):
    """utime + stime of the whole process, in clock ticks."""
    return sum(proc_cpu_split(pid))


def proc_cpu_ticks_tree(pid):
    """CPU ticks of pid and its live descendants, plus the children they
    have already reaped (cutime + cstime)."""
    total = 0
    for p in proc_tree(pid):
        try:
            with open("/proc/%d/stat" % p) as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rindex(")") + 2:].split()
        total += sum(int(x) for x in fields[11:15])
    return total


def proc_status_kb(pid, key="VmRSS"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def proc_pss_kb(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return proc_status_kb(pid)


def proc_threads(pid):
    try:
        return len(os.listdir("/proc/%d/task" % pid))
    except OSError:
        return 0


def proc_tree(pid):
    """pid and all its descendants (by /proc/*/stat parent links)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                data = f.read()
        except OSError:
            continue
        ppid = int(data[data.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


# ---------------------------------------------------------------- servers

# What each server logs once it answers.  geodnsd: "geodnsd X ready: ..."
# (notice); gdnsd 3: "DNS listeners started".
READY_LOG = {"geodnsd": r"geodnsd \S+ ready\b",
             "gdnsd": r"DNS listeners started"}


class Server:
    """A server process: started in its own process group, stopped by
    SIGTERM (then SIGKILL) with bounded waits."""

    def __init__(self, name, argv, workdir, port, zone, env=None):
        self.name = name
        self.argv = argv
        self.workdir = workdir
        self.port = port
        self.zone = zone
        self.env = env
        self.proc = None
        self.log_path = os.path.join(workdir, name + ".log")
        self.started = None
        # A log line after which queries may be sent (see wait_ready).
        self.ready_log = READY_LOG.get(name)

    @property
    def pid(self):
        return self.proc.pid

    def start(self):
        log = open(self.log_path, "ab")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(self.argv, stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL,
                                     cwd=self.workdir, env=self.env,
                                     start_new_session=True)
        log.close()
        return self

    def log_tail(self, n=15):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log_has(self, regex):
        try:
            with open(self.log_path, errors="replace") as f:
                return re.search(regex, f.read()) is not None
        except OSError:
            return False

    def wait_log(self, regex, timeout, interval=0.02):
        """Wait until the server's log matches regex."""
        deadline = time.monotonic() + timeout
        while not self.log_has(regex):
            if not self.running():
                raise BenchError("%s exited (status %s) during start-up; "
                                 "log %s:\n%s" % (self.name,
                                                   self.proc.returncode,
                                                   self.log_path,
                                                   self.log_tail()))
            if time.monotonic() >= deadline:
                raise BenchError("%s did not log /%s/ within %.0f s; log "
                                 "%s:\n%s" % (self.name, regex, timeout,
                                               self.log_path, self.log_tail()))
            time.sleep(interval)

    def wait_ready(self, timeout, interval=0.02):
        """Seconds from start until the zone's SOA is answered NOERROR.
        When the server has a ready_log pattern, no query is sent before
        its log shows it (geodnsd must not get queries before it is ready:
        see docs/performance.md)."""
        soa = build_query(self.zone, "SOA")
        deadline = time.monotonic() + timeout
        if self.ready_log:
            self.wait_log(self.ready_log, timeout, interval)
        while time.monotonic() < deadline:
            if not self.running():
                raise BenchError("%s exited (status %s) before answering; "
                                 "log %s:\n%s" % (self.name,
                                                  self.proc.returncode,
                                                  self.log_path,
                                                  self.log_tail()))
            r = udp_ask(self.port, soa, timeout=max(interval, 0.05))
            if r is not None and r[1] == "NOERROR" and r[2]:
                return time.monotonic() - self.started
            time.sleep(interval)
        raise BenchError("%s did not answer %s SOA within %.0f s; log %s:\n%s"
                         % (self.name, self.zone, timeout, self.log_path,
                            self.log_tail()))

    def stop(self, timeout=30.0):
        """SIGTERM, wait; SIGKILL the group if it does not exit in time.
        Returns the exit status (None if it had to be killed)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        try:
            os.kill(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)
            return None


# ---------------------------------------------------------------- dnsperf

class Pinning:
    """CPU placement: argv prefixes for the server and for dnsperf."""

    def __init__(self, server, client, text):
        self.server, self.client, self.text = server, client, text


def cpu_pinning(wanted=True):
    """Servers on CPU 0, dnsperf on the others (taskset, util-linux), when
    wanted and there are at least two CPUs; else no pinning."""
    cpus = sorted(os.sched_getaffinity(0))
    taskset = shutil.which("taskset")
    if not wanted:
        return Pinning((), (), "not pinned (--no-pin)")
    if len(cpus) < 2 or not taskset:
        return Pinning((), (), "not pinned (%s)" % (
            "one CPU" if len(cpus) < 2 else "no taskset"))
    rest = ",".join(str(c) for c in cpus[1:])
    return Pinning([taskset, "-c", str(cpus[0])], [taskset, "-c", rest],
                   "servers on CPU %d, dnsperf on CPU %s (taskset)"
                   % (cpus[0], rest))


def run_dnsperf(port, datafile, seconds, clients=4, threads=1, outstanding=100,
                qps=None, timeout=2, binary=True, extra=(), popen=False,
                prefix=()):
    """Run dnsperf against 127.0.0.1:port, its argv after prefix (such as
    taskset).  Returns the parsed statistics (or the Popen object when
    popen=True; parse its output later)."""
    argv = list(prefix) + [DNSPERF, "-s", "127.0.0.1", "-p", str(port), "-d", datafile,
            "-c", str(clients), "-T", str(threads), "-q", str(outstanding),
            "-l", str(seconds), "-t", str(timeout)]
    if binary:
        argv.append("-B")
    if qps:
        argv += ["-Q", str(qps)]
    argv += list(extra)
    if popen:
        return subprocess.Popen(argv, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT,
                                universal_newlines=True)
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=seconds + timeout + 60)
    return parse_dnsperf(r.stdout, r.returncode, argv)


def parse_dnsperf(out, rc, argv=None):
    def num(pattern, cast=float):
        m = re.search(pattern, out)
        return cast(m.group(1)) if m else None
    stats = {
        "sent": num(r"Queries sent:\s+(\d+)", int),
        "completed": num(r"Queries completed:\s+(\d+)", int),
        "lost": num(r"Queries lost:\s+(\d+)", int),
        "interrupted": num(r"Queries interrupted:\s+(\d+)", int) or 0,
        "runtime": num(r"Run time \(s\):\s+([\d.]+)"),
        "qps": num(r"Queries per second:\s+([\d.]+)"),
        "lat_avg": num(r"Average Latency \(s\):\s+([\d.]+)"),
        "lat_max": num(r"Average Latency \(s\):.*max ([\d.]+)"),
        "req_size": num(r"Average packet size:\s+request (\d+)", int),
        "resp_size": num(r"Average packet size:.*response (\d+)", int),
        "rcodes": {},
        "output": out,
        "argv": argv,
    }
    m = re.search(r"Response codes:\s+(.*)", out)
    if m:
        for name, count in re.findall(r"([A-Z0-9]+) (\d+) \(", m.group(1)):
            stats["rcodes"][name] = int(count)
    if rc != 0 or stats["completed"] is None:
        raise BenchError("dnsperf failed (exit %s): %s\n%s"
                         % (rc, " ".join(argv or []), out[-2000:]))
    return stats


# ---------------------------------------------------------------- callgrind

def callgrind_total_ir(path):
    """Total Ir from a callgrind output file ('totals:' or 'summary:')."""
    total = None
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("totals:") or line.startswith("summary:"):
                total = int(line.split()[1])
    if total is None:
        raise BenchError("no totals/summary line in %s" % path)
    return total


_ANN_LINE = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(\S.*?)\s*$")


def _function_label(raw):
    """'dir/file.c:func [obj]' -> 'file.c:func' for our own code,
    'func (libfoo.so)' for libraries, 'libfoo.so:0x12b0' without symbols."""
    obj = ""
    m = re.match(r"^(.*?)\s+\[(.*)\]$", raw)
    if m:
        raw, obj = m.group(1), os.path.basename(m.group(2))
    path, _, func = raw.rpartition(":")
    file_ = os.path.basename(path)
    if file_ in ("???", ""):
        return "%s:%s" % ((obj or "?").split(".so")[0], func)
    if ".so" in obj:
        return "%s (%s)" % (func, obj.split(".so")[0])
    if path.startswith("./"):             # a distribution library's source
        return "%s (system library)" % func
    return "%s:%s" % (file_, func)


def callgrind_functions(path):
    """{function label: self Ir} from callgrind_annotate (exclusive)."""
    r = subprocess.run(["callgrind_annotate", "--inclusive=no", "--auto=no",
                        "--threshold=100", path], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True,
                       timeout=120)
    funcs, seen_header = {}, False
    for line in r.stdout.splitlines():
        if "file:function" in line:
            seen_header = True
            continue
        if not seen_header:
            continue
        m = _ANN_LINE.match(line)
        if m and not m.group(2).startswith("=>"):
            label = _function_label(m.group(2))
            funcs[label] = funcs.get(label, 0) + int(m.group(1).replace(",", ""))
    return funcs

