#!/usr/bin/env python3
"""bench/probes.py: CPU cost of geodnsd's health probes.

Runs geodnsd with N probed targets (default 2,000) at a 1 s interval against
a local target server on 127.0.0.1, samples the daemon's CPU time
(/proc/PID/stat utime+stime, all threads) over a window, counts the probes
actually performed from `dig +tcp CH TXT <service>.status.geodnsd`, and
prints PASS/FAIL against a CPU budget (default 10 % of one core).

Usage: bench/probes.sh [--targets 2000] [--seconds 30] [--kind tcp|http]
       (see --help; bench/README.md explains the layout and the numbers)

Builds nothing: the binary is $GEODNSD, else build/release/geodnsd, else
./geodnsd (relative to the repository root).
"""

import argparse
import atexit
import os
import re
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")
MAX_PER_DC = 32          # geo/geo.h GEO_ADDR_MAX
MAX_DCS = 64             # geo/geo.h GEO_DC_MAX

# --------------------------------------------------------------------------
# The target server (run as a separate process: `probes.py --serve ...`) so
# that its CPU is measured apart from the daemon's.

HTTP_RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                 b"Content-Length: 3\r\nConnection: close\r\n\r\nok\n")


def serve(kind, host, ports, ready_fd):
    """A single-threaded selectors loop.  tcp: accept and close at once.
    http: read the request head, send a fixed 200, close."""
    sel = selectors.DefaultSelector()
    listeners = []
    for port in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        s.listen(4096)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, None)
        listeners.append(s)
    os.write(ready_fd, b"ready\n")
    os.close(ready_fd)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    bufs = {}
    while True:
        for key, _ in sel.select(timeout=1.0):
            sock = key.fileobj
            if key.data is None:                      # a listener
                while True:
                    try:
                        c, _ = sock.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError as e:              # EMFILE etc.: say so
                        print(f"target server: accept: {e}", file=sys.stderr)
                        break
                    if kind == "tcp":
                        c.close()
                    else:
                        c.setblocking(False)
                        bufs[c] = b""
                        sel.register(c, selectors.EVENT_READ, "conn")
                continue
            try:
                data = sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if data:
                bufs[sock] += data
                if b"\r\n\r\n" not in bufs[sock]:
                    continue
                try:
                    sock.send(HTTP_RESPONSE)          # fits the socket buffer
                except OSError:
                    pass
            sel.unregister(sock)
            del bufs[sock]
            sock.close()


def connect_loop(host, ports, rate, seconds):
    """The kernel floor: bare non-blocking connect + getsockopt + close at
    `rate` per second, as a TCP probe does them, without geodnsd.  Prints
    its own user and system CPU."""
    sel = selectors.DefaultSelector()
    t0 = time.monotonic()
    r0 = os.times()
    n = done = 0
    next_t = t0
    while time.monotonic() - t0 < seconds:
        now = time.monotonic()
        while next_t <= now:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                s.connect((host, ports[n % len(ports)]))
            except BlockingIOError:
                pass
            sel.register(s, selectors.EVENT_WRITE)
            n += 1
            next_t += 1 / rate
        for key, _ in sel.select(timeout=max(0, next_t - time.monotonic())):
            err = key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            done += err == 0
            sel.unregister(key.fileobj)
            key.fileobj.close()
    r1 = os.times()
    el = time.monotonic() - t0
    print(f"{n} {done} {el:.3f} {r1.user - r0.user:.3f} {r1.system - r0.system:.3f}")


# --------------------------------------------------------------------------
# Helpers

def die(msg):
    print(f"probes: error: {msg}", file=sys.stderr)
    sys.exit(2)


def find_binary():
    env = os.environ.get("GEODNSD")
    if env:
        if not os.access(env, os.X_OK):
            die(f"$GEODNSD={env} is not an executable file")
        return os.path.abspath(env), "$GEODNSD"
    for rel in ("build/release/geodnsd", "geodnsd"):
        p = os.path.join(REPO, rel)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p, ("build/release/geodnsd" if rel != "geodnsd" else "./geodnsd")
    die("no geodnsd binary: set $GEODNSD or build build/release/geodnsd or ./geodnsd")


def sanitizer_note(binary):
    """'' for a plain build, else which sanitizers the binary links."""
    try:
        r = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=10)
        libs = [n for n in ("asan", "ubsan", "tsan", "msan", "lsan")
                if f"lib{n}.so" in r.stdout]
    except (OSError, subprocess.TimeoutExpired):
        libs = []
    if not libs:
        with open(binary, "rb") as f:
            data = f.read()
        libs = [n for n, sym in (("asan", b"__asan_init"), ("tsan", b"__tsan_init"),
                                 ("ubsan", b"__ubsan_handle_"))
                if sym in data]
    return "+".join(libs)


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(50):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
        except OSError:
            t.close()
            continue
        t.close()
        u.close()
        return port
    die("cannot find a free port")


def free_port_block(n):
    """n consecutive free TCP ports outside the ephemeral range, so that
    the probes' own source ports can never collide with them."""
    lo, hi = 32768, 60999
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = map(int, f.read().split())
    except OSError:
        pass
    for base in range(20000, 65535 - n, n):
        if base + n - 1 >= lo and base <= hi:     # overlaps the ephemeral range
            continue
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    die(f"cannot find {n} consecutive free ports")


def cpu_split(pid):
    """(utime, stime) of the whole process (all threads), in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return int(fields[11]), int(fields[12])    # fields 14 and 15 of stat(5)


def cpu_ticks(pid):
    return sum(cpu_split(pid))


def proc_info(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("Threads", "VmRSS"):
                    out[k] = v.strip()
        out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        pass
    return out


TXT_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
COUNTS = re.compile(r"; (\d+) ok, (\d+) failed$")
LAST_FAIL = re.compile(r"; last FAIL: (.*) \([0-9.]+ ms\);")


def dig_status(port, names, deadline_s=30):
    """CH TXT queries for `names`, all from one dig over one TCP connection.
    Returns {name: (lines, flags, rcode, msg_size)}; each line is its TXT
    strings joined (a line over 255 bytes is split into several strings)."""
    cmd = ["dig", "+tcp", "+keepopen", "+time=5", "+tries=1", "+norecurse",
           "-p", str(port), "@127.0.0.1"]
    for n in names:
        cmd += [n, "CH", "TXT"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=deadline_s)
    if r.returncode != 0:
        raise RuntimeError(f"dig: exit {r.returncode}: {r.stdout[-300:]}{r.stderr[-300:]}")
    out, cur, section = {}, None, None
    for raw in r.stdout.splitlines():
        if raw.startswith(";; ->>HEADER<<-"):
            cur = {"lines": [], "flags": "", "rcode": re.search(r"status: (\w+)", raw).group(1),
                   "size": 0}
            section = None
            continue
        if cur is None:
            continue
        m = re.match(r";; flags: ([a-z ]*);", raw)
        if m:
            cur["flags"] = m.group(1)
        m = re.match(r";(\S+)\s+CH\s+TXT", raw)
        if m and section == "question":
            out[m.group(1).lower().rstrip(".")] = cur
        m = re.search(r"MSG SIZE\s+rcvd: (\d+)", raw)
        if m:
            cur["size"] = int(m.group(1))
        if raw.startswith(";; QUESTION SECTION"):
            section = "question"
            continue
        if raw.startswith(";; ANSWER SECTION"):
            section = "answer"
            continue
        if raw.startswith(";;"):
            section = None
            continue
        if section == "answer" and raw.strip():
            parts = raw.split(None, 4)            # owner TTL CH TXT "a" "b" ...
            if len(parts) == 5 and parts[3] == "TXT":
                cur["lines"].append("".join(m.group(1) for m in TXT_STRING.finditer(parts[4])))
    for n in names:
        if n.lower() not in out:
            raise RuntimeError(f"dig: no answer for {n}: {r.stdout[-300:]}")
    return {n: (out[n.lower()]["lines"], out[n.lower()]["flags"], out[n.lower()]["rcode"],
                out[n.lower()]["size"]) for n in names}


def status_counts(port, services):
    """{target label: (ok, failed)} over every service, plus stats."""
    counts, other, fails = {}, [], {}
    biggest = 0
    answers = dig_status(port, [f"{svc}.status.geodnsd" for svc in services])
    for name, (lines, flags, rcode, size) in answers.items():
        biggest = max(biggest, size)
        if rcode != "NOERROR" or " tc" in f" {flags}":
            raise RuntimeError(f"{name}: rcode {rcode}, flags '{flags}'")
        for line in lines:
            if line.startswith("service "):
                other.append(line)
                continue
            label = line.split(": ", 1)[0]
            m = LAST_FAIL.search(line)
            if m:
                fails[m.group(1)] = fails.get(m.group(1), 0) + 1
            m = COUNTS.search(line)
            counts[label] = (int(m.group(1)), int(m.group(2))) if m else None
    return counts, other, biggest, fails


# --------------------------------------------------------------------------
# Configuration

def layout(targets, per_service, dcs_per_service, n_dcs):
    """[(service, [(dc, [address index...]), ...]), ...]"""
    if per_service > dcs_per_service * MAX_PER_DC:
        die(f"--per-service {per_service} needs more than {dcs_per_service} "
            f"datacenters of at most {MAX_PER_DC} addresses")
    if n_dcs > MAX_DCS or dcs_per_service > n_dcs:
        die(f"--dcs must be between --dcs-per-service and {MAX_DCS}")
    services, idx, s = [], 0, 0
    while idx < targets:
        n = min(per_service, targets - idx)
        k = min(dcs_per_service, n)           # >= ceil(n / MAX_PER_DC)
        dcs = []
        for j in range(k):
            cnt = n // k + (1 if j < n % k else 0)
            dcs.append((f"dc{(s * dcs_per_service + j) % n_dcs:02d}",
                        list(range(idx, idx + cnt))))
            idx += cnt
        services.append((f"svc{s:03d}", dcs))
        s += 1
    return services


def served_address(i):
    # 198.18.0.0/15 (RFC 2544 benchmarking): never reached, only named;
    # every probe goes to 127.0.0.1 through a `probe:` mapping.
    i += 1
    return f"198.{18 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}"


def write_config(d, dns_port, services, n_dcs, kind, interval, timeout,
                 port_base, n_ports, log_level):
    zone = ["$ORIGIN bench.test.", "$TTL 300",
            "@ IN SOA ns1 hostmaster 1 3600 600 1209600 60",
            "  IN NS ns1", "ns1 IN A 127.0.0.1"]
    y = ["server:", f"  listen: [ \"127.0.0.1@{dns_port}\" ]",
         "  identity: bench.geodnsd", f"  log-level: {log_level}",
         "  tcp-max-connections: 64", "", "datacenters:"]
    for k in range(n_dcs):
        y.append(f"  dc{k:02d}: {{ latitude: {(k * 7) % 170 - 85}, "
                 f"longitude: {(k * 23) % 360 - 180} }}")
    y += ["", "services:"]
    for name, dcs in services:
        y += [f"  {name}:", "    datacenters:"]
        for dc, idxs in dcs:
            y.append(f"      {dc}: [ " + ", ".join(served_address(i) for i in idxs) + " ]")
        y.append(f"    check: {{ type: {kind}, interval: {interval}, timeout: {timeout} }}")
        y.append("    probe:")
        for dc, idxs in dcs:
            for i in idxs:
                y.append(f"      {served_address(i)}: 127.0.0.1@{port_base + i % n_ports}")
        zone.append(f"{name} 60 IN GEO {name}")
    y += ["", "zones:", "  - { name: bench.test, file: bench.test.zone }", ""]
    with open(os.path.join(d, "geodnsd.yaml"), "w") as f:
        f.write("\n".join(y))
    with open(os.path.join(d, "bench.test.zone"), "w") as f:
        f.write("\n".join(zone) + "\n")
    return os.path.join(d, "geodnsd.yaml")


# --------------------------------------------------------------------------
# Process bookkeeping: everything we start is killed at exit.

CHILDREN = []
TMPDIR = [None]
KEEP = [False]


def die_with_parent():
    """preexec_fn: the child gets SIGTERM if this script dies, even by SIGKILL."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def cleanup():
    for p in CHILDREN:
        if p.poll() is None:
            try:
                p.terminate()
            except OSError:
                pass
    end = time.monotonic() + 3
    for p in CHILDREN:
        try:
            p.wait(timeout=max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=3)
    if TMPDIR[0] and not KEEP[0]:
        shutil.rmtree(TMPDIR[0], ignore_errors=True)


def on_signal(signum, frame):
    print(f"probes: interrupted by signal {signum}", file=sys.stderr)
    sys.exit(130)


def on_alarm(signum, frame):
    print("probes: error: overall time limit reached", file=sys.stderr)
    sys.exit(3)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--targets", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=30, help="sampling window")
    ap.add_argument("--kind", choices=("tcp", "http"), default="tcp")
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--timeout", type=float, default=0.5)
    ap.add_argument("--warmup", type=float, default=None,
                    help="seconds before sampling (default 3 intervals + 2 s)")
    ap.add_argument("--ports", type=int, default=4,
                    help="target server ports on 127.0.0.1 (default 4)")
    ap.add_argument("--per-service", type=int, default=40)
    ap.add_argument("--dcs-per-service", type=int, default=2)
    ap.add_argument("--dcs", type=int, default=8, help="datacenters in all")
    ap.add_argument("--cpu-limit", type=float, default=10.0,
                    help="percent of one core (default 10)")
    ap.add_argument("--rate-tolerance", type=float, default=15.0, help="percent")
    ap.add_argument("--log-level", default="info")
    ap.add_argument("--keep", action="store_true", help="keep the temp directory")
    ap.add_argument("--baseline", type=float, default=0, metavar="SECONDS",
                    help="tcp only: afterwards, run a bare Python connect/close "
                         "loop at the same rate for SECONDS and print its CPU "
                         "(the kernel's share of a probe on this machine)")
    ap.add_argument("--connect-loop", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port-base", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--ready-fd", type=int, default=-1, help=argparse.SUPPRESS)
    a = ap.parse_args()

    if a.serve:
        serve(a.kind, "127.0.0.1", range(a.port_base, a.port_base + a.ports), a.ready_fd)
        return 0
    if a.connect_loop:
        connect_loop("127.0.0.1", range(a.port_base, a.port_base + a.ports),
                     a.targets / a.interval, a.seconds)
        return 0

    if a.targets < 1 or a.seconds <= 0 or a.ports < 1 or a.interval <= 0:
        die("bad arguments")
    if a.timeout > a.interval:
        die("--timeout must be at most --interval")
    warmup = a.warmup if a.warmup is not None else 3 * a.interval + 2
    KEEP[0] = a.keep
    atexit.register(cleanup)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    # Bound the whole run: start-up + warm-up + window + status sweeps.
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(int(warmup + a.seconds + 180))

    binary, source = find_binary()
    if shutil.which("dig") is None:
        die("dig is required")

    # fds: each probe in flight holds one socket; raise the soft limit to the
    # hard one (children inherit it) and report both.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)

    services = layout(a.targets, a.per_service, a.dcs_per_service, a.dcs)
    used_dcs = sorted({dc for _, dcs in services for dc, _ in dcs})
    TMPDIR[0] = tempfile.mkdtemp(prefix="gd-probes-bench-")
    dns_port = free_port()
    port_base = free_port_block(a.ports)
    conf = write_config(TMPDIR[0], dns_port, services, a.dcs, a.kind, a.interval,
                        a.timeout, port_base, a.ports, a.log_level)

    st = os.stat(binary)
    san = sanitizer_note(binary)
    print(f"geodnsd binary:   {binary}  (from {source}; "
          f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(st.st_mtime))}, "
          f"{st.st_size} bytes)")
    if san:
        print(f"WARNING:          this is a sanitizer build ({san}): CPU and memory "
              f"are not representative; use a release build via $GEODNSD")
    print(f"layout:           {a.targets} targets = {len(services)} services x "
          f"<= {a.per_service} addresses, {a.dcs_per_service} datacenters per service "
          f"(<= {MAX_PER_DC} addresses each), {len(used_dcs)} of {a.dcs} datacenters used")
    print(f"served addresses: 198.18.0.0/15, each mapped by `probe:` to "
          f"127.0.0.1@{port_base}..{port_base + a.ports - 1} (target key differs per address)")
    print(f"check:            {{ type: {a.kind}, interval: {a.interval:g}, "
          f"timeout: {a.timeout:g} }}, expected {a.targets / a.interval:.0f} probes/s")
    print(f"RLIMIT_NOFILE:    soft {nofile[0]}, hard {nofile[1]}")
    print(f"config:           {conf}{'' if a.keep else ' (removed at exit)'}")
    sys.stdout.flush()

    # Target server.
    rfd, wfd = os.pipe()
    srv = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve",
                            "--kind", a.kind, "--port-base", str(port_base),
                            "--ports", str(a.ports), "--ready-fd", str(wfd)],
                           pass_fds=(wfd,), preexec_fn=die_with_parent)
    CHILDREN.append(srv)
    os.close(wfd)
    sel = selectors.DefaultSelector()
    sel.register(rfd, selectors.EVENT_READ)
    if not sel.select(timeout=10) or os.read(rfd, 16) != b"ready\n":
        die("target server did not start")
    os.close(rfd)

    # geodnsd.
    log_path = os.path.join(TMPDIR[0], "geodnsd.log")
    logf = open(log_path, "w")
    t_start = time.monotonic()
    gd = subprocess.Popen([binary, "-c", conf], stdout=logf, stderr=subprocess.STDOUT,
                          cwd=TMPDIR[0], preexec_fn=die_with_parent)
    CHILDREN.append(gd)
    deadline = time.monotonic() + 30
    # Query only after the daemon logs "ready": a query that arrives while
    # it is still loading can crash it (see bench/README.md, "Problems").
    while " ready: " not in open(log_path).read():
        if gd.poll() is not None:
            logf.flush()
            die(f"geodnsd exited with {gd.returncode}:\n" + open(log_path).read()[-3000:])
        if time.monotonic() > deadline:
            die("geodnsd did not log 'ready' within 30 s")
        time.sleep(0.05)
    while True:
        if gd.poll() is not None:
            logf.flush()
            die(f"geodnsd exited with {gd.returncode}:\n" + open(log_path).read()[-3000:])
        r = subprocess.run(["dig", "+time=1", "+tries=1", "-p", str(dns_port),
                            "@127.0.0.1", "CH", "TXT", "id.server", "+short"],
                           capture_output=True, text=True, timeout=5)
        if r.returncode == 0 and "bench.geodnsd" in r.stdout:
            break
        if time.monotonic() > deadline:
            die("geodnsd did not answer within 30 s")
        time.sleep(0.2)
    t_up = time.monotonic() - t_start
    load_cpu = cpu_ticks(gd.pid) / CLK_TCK
    m = re.search(r"ready: .*?(\d+) health targets?", open(log_path).read())
    print(f"geodnsd ready:    {m.group(0) if m else '(no target count in the log)'}")
    if m and int(m.group(1)) != a.targets:
        die(f"geodnsd made {m.group(1)} targets of {a.targets} addresses: "
            f"some probes were merged")
    print(f"geodnsd pid {gd.pid} answering after {t_up:.2f} s "
          f"(start-up CPU {load_cpu:.2f} s); warm-up {warmup:g} s")
    sys.stdout.flush()

    # The full status answer: with thousands of targets it may not fit one
    # DNS message (64 KiB over TCP); note what happens.
    try:
        lines, flags, rcode, size = dig_status(dns_port, ["status.geodnsd"])["status.geodnsd"]
        print(f"full status.geodnsd over TCP: rcode {rcode}, flags [{flags}], "
              f"{len(lines)} TXT records, {size} bytes"
              + ("  -> truncated, using per-service queries" if " tc" in f" {flags}"
                 or len(lines) < a.targets else ""))
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"full status.geodnsd over TCP failed: {e}")

    time.sleep(max(0.0, warmup - (time.monotonic() - t_start)))
    if gd.poll() is not None:
        die(f"geodnsd exited with {gd.returncode} during warm-up")

    svc_names = [n for n, _ in services]
    t0a = time.monotonic()
    before, _, biggest, _ = status_counts(dns_port, svc_names)
    t0b = time.monotonic()
    rss0 = proc_info(gd.pid).get("VmRSS", "?")
    u0, k0 = cpu_split(gd.pid)
    c0, s0, w0 = u0 + k0, cpu_ticks(srv.pid), time.monotonic()
    # Per-second samples, to see the spread.
    per_sec, peak_fds = [], 0
    last_c, last_t = c0, w0
    end = w0 + a.seconds
    while True:
        now = time.monotonic()
        if now >= end:
            break
        time.sleep(min(1.0, end - now))
        if gd.poll() is not None:
            die(f"geodnsd exited with {gd.returncode} during the window")
        c, t = cpu_ticks(gd.pid), time.monotonic()
        per_sec.append((c - last_c) / CLK_TCK / (t - last_t) * 100)
        last_c, last_t = c, t
        peak_fds = max(peak_fds, proc_info(gd.pid).get("fds", 0))
    u1, k1 = cpu_split(gd.pid)
    c1, s1, w1 = u1 + k1, cpu_ticks(srv.pid), time.monotonic()
    info = proc_info(gd.pid)
    t1a = time.monotonic()
    after, other, biggest2, fails = status_counts(dns_port, svc_names)
    t1b = time.monotonic()

    # ---- results ----
    window = w1 - w0
    gd_cpu = (c1 - c0) / CLK_TCK
    srv_cpu = (s1 - s0) / CLK_TCK
    gd_pct = gd_cpu / window * 100
    srv_pct = srv_cpu / window * 100
    missing = [k for k in set(before) | set(after)
               if before.get(k) is None or after.get(k) is None]
    n_targets = len(after)
    d_ok = sum(after[k][0] - before[k][0] for k in after if k not in missing)
    d_fail = sum(after[k][1] - before[k][1] for k in after if k not in missing)
    probe_window = (t1a + t1b) / 2 - (t0a + t0b) / 2
    rate = (d_ok + d_fail) / probe_window
    expected = a.targets / a.interval
    per_target = [after[k][0] + after[k][1] - before[k][0] - before[k][1]
                  for k in after if k not in missing]
    down = sum(1 for l in other if "DOWN" in l)
    with open(log_path) as f:
        log = f.read().splitlines()
    with open("/proc/loadavg") as f:
        loadavg = " ".join(f.read().split()[:3])
    warn = [l for l in log if ": warning: " in l or ": error: " in l]

    print()
    print(f"window:               {window:.1f} s (CPU), {probe_window:.1f} s (probe counts)")
    print(f"targets:              {n_targets} in status (configured {a.targets})"
          + (f", {len(missing)} without counts" if missing else ""))
    print(f"probes completed:     {d_ok + d_fail} ({d_ok} ok, {d_fail} failed) = "
          f"{rate:.0f}/s (expected {expected:.0f}/s, {100 * (rate / expected - 1):+.1f}%)")
    if per_target:
        print(f"probes per target:    min {min(per_target)}, max {max(per_target)} "
              f"in {probe_window:.1f} s")
    print(f"geodnsd CPU:          {gd_cpu:.2f} s in {window:.1f} s = {gd_pct:.2f}% of one core"
          f"  (per-second min {min(per_sec):.1f}%, max {max(per_sec):.1f}%)")
    print(f"geodnsd CPU split:    user {(u1 - u0) / CLK_TCK:.2f} s, "
          f"system {(k1 - k0) / CLK_TCK:.2f} s (loopback: the kernel's handling of "
          f"the target side of each handshake is largely billed here too)")
    print(f"geodnsd CPU/probe:    {gd_cpu / max(1, d_ok + d_fail) * 1e6:.1f} us")
    print(f"geodnsd process:      threads {info.get('Threads', '?')}, RSS {rss0} -> {info.get('VmRSS', '?')}, "
          f"fds now {info.get('fds', '?')}, peak seen {peak_fds}")
    print(f"target server CPU:    {srv_cpu:.2f} s = {srv_pct:.2f}% of one core "
          f"(python, not geodnsd; not counted)")
    print(f"largest status reply: {max(biggest, biggest2)} bytes (one service)")
    print(f"services DOWN:        {down}; log warnings/errors: {len(warn)}")
    if fails:
        print("last probe FAILED:    " + "; ".join(
            f"{n} targets: {r}" for r, n in sorted(fails.items(), key=lambda x: -x[1])[:5]))
    print(f"machine:              {os.cpu_count()} CPUs, load average {loadavg} "
          f"(other work on shared cores inflates every number)")
    for l in warn[:5]:
        print(f"    {l}")

    if a.baseline > 0 and a.kind == "tcp":
        # geodnsd stopped first, so the two do not share the cores.
        gd.terminate()
        gd.wait(timeout=10)
        s0 = cpu_ticks(srv.pid)
        r = subprocess.run([sys.executable, os.path.abspath(__file__), "--connect-loop",
                            "--targets", str(a.targets), "--interval", str(a.interval),
                            "--seconds", str(a.baseline), "--port-base", str(port_base),
                            "--ports", str(a.ports)],
                           capture_output=True, text=True, timeout=a.baseline + 30)
        s1 = cpu_ticks(srv.pid)
        try:
            n, done, el, bu, bs = r.stdout.split()
            el, bu, bs = float(el), float(bu), float(bs)
            print(f"kernel floor:         bare connect/getsockopt/close loop (python) at "
                  f"{a.targets / a.interval:.0f}/s: {int(n) / el:.0f}/s ({done} connected), "
                  f"system {bs / el * 100:.2f}%, user {bu / el * 100:.2f}% of one core "
                  f"(geodnsd system was {(k1 - k0) / CLK_TCK / window * 100:.2f}%); "
                  f"target server {(s1 - s0) / CLK_TCK / el * 100:.2f}%")
        except ValueError:
            print(f"kernel floor:         failed: {r.stdout[-200:]} {r.stderr[-300:]}")

    ok_cpu = gd_pct < a.cpu_limit
    ok_rate = abs(rate / expected - 1) * 100 <= a.rate_tolerance and not missing
    ok_fail = d_fail <= 0.01 * max(1, d_ok + d_fail)
    print()
    if san:
        print(f"NOTE: sanitizer build ({san}); the CPU verdict is for that build")
    print(f"CPU  {'PASS' if ok_cpu else 'FAIL'}: geodnsd {gd_pct:.2f}% of one core "
          f"(limit {a.cpu_limit:g}%) for {a.targets} {a.kind} targets at {a.interval:g} s")
    print(f"RATE {'PASS' if ok_rate else 'FAIL'}: {rate:.0f} probes/s vs {expected:.0f} "
          f"expected (tolerance {a.rate_tolerance:g}%)")
    print(f"OK   {'PASS' if ok_fail else 'FAIL'}: {d_fail} failed probes "
          f"(limit 1% of {d_ok + d_fail})")
    sys.stdout.flush()
    return 0 if ok_cpu and ok_rate and ok_fail else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        die(str(e))
