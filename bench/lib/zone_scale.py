#!/usr/bin/env python3
"""Load one big zone into geodnsd, NSD and Knot; compare the time until the
zone's SOA is answered and the memory held after the load.  Run it as
bench/zone-scale.sh; bench/README.md explains the method.

Exit status: 0 both targets met, 1 a target missed or a wrong answer,
2 the benchmark could not run.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

import benchlib
from benchlib import BenchError

PROG = "zone-scale"
ZONE = "big.example"
TARGET = 1.0          # geodnsd <= 1.0 x the better of NSD and Knot


def parse_args():
    ap = argparse.ArgumentParser(
        prog="bench/zone-scale.sh",
        description="Zone load time and memory: geodnsd, NSD, Knot.")
    ap.add_argument("--records", type=int,
                    help="records in the zone (default 1000000; quick 100000)")
    ap.add_argument("--quick", action="store_true",
                    help="100,000 records and 60 s timeouts")
    ap.add_argument("--timeout", type=float,
                    help="seconds each server may take to answer (default "
                         "300, quick 60)")
    ap.add_argument("--settle", type=float, default=2.0,
                    help="seconds to wait after the first answer before "
                         "reading memory (default 2)")
    ap.add_argument("--servers", default="geodnsd,nsd,knot",
                    help="comma-separated subset of geodnsd,nsd,knot")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directory")
    a = ap.parse_args()
    if a.records is None:
        a.records = 100000 if a.quick else 1000000
    if a.timeout is None:
        a.timeout = 60 if a.quick else 300
    if a.records < 100:
        ap.error("--records must be at least 100")
    a.servers = [s for s in a.servers.split(",") if s]
    for s in a.servers:
        if s not in ("geodnsd", "nsd", "knot"):
            ap.error("unknown server %r" % s)
    return a


# ---------------------------------------------------------------- zone

def generate_zone(path, n_records):
    """A zone of exactly n_records records over about n/2 names: per name
    A plus one of AAAA, TXT or MX; every 20th name a lone CNAME; every
    1000th name a delegation (two NS and a glue A).  Returns
    (names, delegations, samples) where samples are (name, type, rdata
    text) to check after loading."""
    header = ("$ORIGIN %s.\n$TTL 3600\n"
              "@ IN SOA ns1.%s. hostmaster.%s. 2024010101 7200 3600 "
              "1209600 300\n"
              "@ IN NS ns1\n@ IN NS ns2\n"
              "ns1 IN A 192.0.2.53\nns2 IN A 192.0.2.54\n") % (ZONE, ZONE, ZONE)
    count, names, delegations, i = 5, 2, 0, 0
    samples = []
    with open(path, "w") as f:
        f.write(header)
        buf = []
        while count < n_records:
            name = "h%d" % i
            left = n_records - count
            if i % 1000 == 999 and left >= 3:
                buf.append("%s IN NS ns1.%s\n%s IN NS ns.example.net.\n"
                           "ns1.%s IN A 10.%d.%d.%d\n"
                           % (name, name, name, name, (i >> 16) & 255,
                              (i >> 8) & 255, i & 255))
                count += 3
                delegations += 1
            elif i % 20 == 19 or left == 1:
                buf.append("%s IN CNAME h%d\n" % (name, i + 1))
                count += 1
            else:
                a = "10.%d.%d.%d" % ((i >> 16) & 255, (i >> 8) & 255, i & 255)
                buf.append("%s IN A %s\n" % (name, a))
                kind = i % 3
                if kind == 0:
                    buf.append("%s IN AAAA 2001:db8::%x:%x\n"
                               % (name, i >> 16, i & 0xFFFF))
                elif kind == 1:
                    buf.append('%s IN TXT "record %d of the scale test"\n'
                               % (name, i))
                else:
                    buf.append("%s IN MX 10 mail.%s\n" % (name, name))
                count += 2
                if i % 9973 == 0 or count >= n_records - 2:
                    samples.append(("%s.%s" % (name, ZONE), a))
            names += 1
            i += 1
            if len(buf) >= 5000:
                f.write("".join(buf))
                buf = []
        f.write("".join(buf))
    return names, delegations, samples[:5] + samples[-2:]


# ---------------------------------------------------------------- servers

def geodnsd_server(work, port, zonefile, binary):
    d = os.path.join(work, "geodnsd")
    os.makedirs(d)
    conf = os.path.join(d, "geodnsd.yaml")
    with open(conf, "w") as f:
        f.write('server:\n  listen: [ "127.0.0.1@%d" ]\n  log-level: notice\n'
                'zones:\n  - name: %s\n    file: "%s"\n' % (port, ZONE,
                                                            zonefile))
    return benchlib.Server("geodnsd", [binary, "-c", conf], d, port, ZONE)


def nsd_server(work, port, zonefile):
    d = os.path.join(work, "nsd")
    os.makedirs(d)
    conf = os.path.join(d, "nsd.conf")
    with open(conf, "w") as f:
        f.write("\n".join([
            "server:",
            "  ip-address: 127.0.0.1@%d" % port,
            "  port: %d" % port,
            '  username: ""',
            '  chroot: ""',
            '  database: ""',
            '  zonesdir: "%s"' % d,
            '  pidfile: "%s/nsd.pid"' % d,
            '  xfrdfile: "%s/xfrd.state"' % d,
            '  zonelistfile: "%s/zone.list"' % d,
            '  xfrdir: "%s"' % d,
            '  logfile: "%s/nsd.log"' % d,
            "  verbosity: 1",
            "  server-count: 1",
            "  tcp-count: 10",
            "remote-control:",
            "  control-enable: no",
            "zone:",
            "  name: %s" % ZONE,
            '  zonefile: "%s"' % zonefile,
        ]) + "\n")
    return benchlib.Server("nsd", [benchlib.NSD, "-d", "-c", conf], d, port,
                           ZONE)


def knot_server(work, port, zonefile):
    d = os.path.join(work, "knot")
    os.makedirs(os.path.join(d, "run"))
    os.makedirs(os.path.join(d, "db"))
    conf = os.path.join(d, "knot.conf")
    with open(conf, "w") as f:
        f.write("\n".join([
            "server:",
            '  rundir: "%s/run"' % d,
            "  listen: 127.0.0.1@%d" % port,
            "  udp-workers: 1",
            "  tcp-workers: 1",
            "  background-workers: 1",
            "database:",
            '  storage: "%s/db"' % d,
            "log:",
            "  - target: stderr",
            "    any: info",
            "template:",
            "  - id: default",
            '    storage: "%s"' % d,
            "    zonefile-load: whole",
            "    zonefile-sync: -1",
            "    journal-content: none",
            "    semantic-checks: off",
            "zone:",
            "  - domain: %s" % ZONE,
            '    file: "%s"' % zonefile,
        ]) + "\n")
    return benchlib.Server("knot", [benchlib.KNOTD, "-c", conf], d, port,
                           ZONE)


def memory(pid):
    """(RSS kB summed over the process tree, PSS kB summed, the largest
    peak RSS (VmHWM) kB of one of the processes, number of processes)."""
    pids = benchlib.proc_tree(pid)
    rss = pss = hwm = 0
    for p in pids:
        try:
            rss += benchlib.proc_status_kb(p, "VmRSS")
            pss += benchlib.proc_pss_kb(p)
            hwm = max(hwm, benchlib.proc_status_kb(p, "VmHWM"))
        except OSError:
            pass
    return rss, pss, hwm, len(pids)


def measure(server, args, samples):
    server.start()
    try:
        secs = server.wait_ready(args.timeout, interval=0.02)
        cpu = benchlib.proc_cpu_ticks_tree(server.pid) / benchlib.CLK_TCK
        bad = []
        for name, addr in samples:
            r = benchlib.udp_ask(server.port, benchlib.build_query(name, "A"),
                                 timeout=2)
            got = benchlib.addresses(r[2]) if r else None
            if got != (addr,):
                bad.append("%s A: %s" % (name, "no reply" if r is None
                                         else "%s %s" % (r[1], got)))
        time.sleep(args.settle)
        rss, pss, hwm, nproc = memory(server.pid)
        return {"secs": secs, "cpu": cpu, "rss": rss, "pss": pss, "hwm": hwm,
                "procs": nproc, "bad": bad}
    finally:
        server.stop(timeout=60)


def main():
    args = parse_args()
    try:
        binary, how = benchlib.find_geodnsd()
        for s, path, pkg in (("nsd", benchlib.NSD, "nsd"),
                             ("knot", benchlib.KNOTD, "knot")):
            if s in args.servers:
                benchlib.require_exe(path, "apt-get install " + pkg)
    except BenchError as e:
        benchlib.die(PROG, str(e))
    work = tempfile.mkdtemp(prefix="geodnsd-zone-scale-")
    rc = 0
    t_start = time.monotonic()
    try:
        print("bench/zone-scale.sh: %d records" % args.records)
        for line in benchlib.machine_lines():
            print(line)
        print("geodnsd: %s (from %s)%s" % (
            binary, how, "  WARNING: sanitizer build, figures meaningless"
            if benchlib.sanitizer_build(binary) else ""))
        print("nsd %s, knot %s" % (benchlib.package_version("nsd"),
                                   benchlib.package_version("knot")))
        zonefile = os.path.join(work, ZONE + ".zone")
        t0 = time.monotonic()
        names, delegs, samples = generate_zone(zonefile, args.records)
        print("zone %s: %d records, %d names, %d delegations, %.1f MB, "
              "written in %.1f s" % (ZONE, args.records, names, delegs,
                                      os.path.getsize(zonefile) / 1e6,
                                      time.monotonic() - t0))
        print("each server alone, %g s timeout; load = start until the SOA "
              "is answered; memory read %g s later" % (args.timeout,
                                                        args.settle))
        results = {}
        for name in args.servers:
            port = benchlib.free_port()
            if name == "geodnsd":
                srv = geodnsd_server(work, port, zonefile, binary)
            elif name == "nsd":
                srv = nsd_server(work, port, zonefile)
            else:
                srv = knot_server(work, port, zonefile)
            try:
                results[name] = measure(srv, args, samples)
            except BenchError as e:
                print("  %s: FAILED: %s" % (name, e))
                results[name] = None
                rc = 1
                continue
            r = results[name]
            print("  %-7s %7.2f s (CPU %6.2f s)  RSS %7.1f MB  PSS %7.1f MB  "
                  "peak %7.1f MB  (%d process%s)%s" % (
                      name, r["secs"], r["cpu"], r["rss"] / 1024,
                      r["pss"] / 1024,
                      r["hwm"] / 1024, r["procs"],
                      "" if r["procs"] == 1 else "es",
                      "" if not r["bad"] else "  WRONG: " + "; ".join(r["bad"])),
                  flush=True)
            if r["bad"]:
                rc = 1
        g = results.get("geodnsd")
        others = [results[n] for n in ("nsd", "knot") if results.get(n)]
        print("\n== geodnsd / better of NSD and Knot (target <= %.2f)" % TARGET)
        if g is None or not others:
            print("  not enough results for a ratio")
            rc = rc or 1
        else:
            best_t = min(o["secs"] for o in others)
            best_m = min(o["pss"] for o in others)
            best_r = min(o["rss"] for o in others)
            rt, rm = g["secs"] / best_t, g["pss"] / best_m
            best_c = min(o["cpu"] for o in others)
            print("  load time  %5.2f  %s  (%.2f s vs %.2f s; CPU time "
                  "ratio %.2f)" % (rt, "PASS" if rt <= TARGET else "FAIL",
                                   g["secs"], best_t,
                                   g["cpu"] / best_c if best_c else 0))
            print("  memory     %5.2f  %s  (PSS %.1f MB vs %.1f MB; by RSS, "
                  "NSD's processes counted in full: %.2f)" % (
                      rm, "PASS" if rm <= TARGET else "FAIL", g["pss"] / 1024,
                      best_m / 1024, g["rss"] / best_r))
            if rt > TARGET or rm > TARGET:
                rc = 1
        print("\nelapsed: %.0f s; load average now %s; overall: %s" % (
            time.monotonic() - t_start,
            " ".join(open("/proc/loadavg").read().split()[:3]),
            "FAIL" if rc else "PASS"))
    except BenchError as e:
        print("%s: error: %s" % (PROG, e), file=sys.stderr)
        rc = 2
    except KeyboardInterrupt:
        rc = 130
    finally:
        if args.keep:
            print("kept %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    sys.exit(rc)


if __name__ == "__main__":
    main()
