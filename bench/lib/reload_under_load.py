#!/usr/bin/env python3
"""Reload geodnsd under load: dnsperf sends static A and geo A (ECS)
queries while the zone's serial is bumped and SIGHUP sent 10 times, once a
second.  PASS when dnsperf lost no query, every rcode was NOERROR, a
checker that compares every answer it gets with the answer before the
reloads saw no difference and no timeout, and the last serial is served.
Run it as bench/reload-under-load.sh; see bench/README.md.

Exit status: 0 PASS, 1 FAIL, 2 the test could not run.
"""

import argparse
import os
import random
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time

import benchlib
import scenario
from benchlib import BenchError

PROG = "reload-under-load"


def parse_args():
    ap = argparse.ArgumentParser(
        prog="bench/reload-under-load.sh",
        description="SIGHUP geodnsd repeatedly while dnsperf runs.")
    ap.add_argument("--reloads", type=int, default=10,
                    help="SIGHUPs to send (default 10)")
    ap.add_argument("--interval", type=float, default=1.0,
                    help="seconds between SIGHUPs (default 1)")
    ap.add_argument("--rate", type=int, default=20000,
                    help="dnsperf -Q queries per second (default 20000; 0: "
                         "as fast as possible)")
    ap.add_argument("--timeout", type=float, default=2.0,
                    help="seconds after which dnsperf counts a query lost "
                         "(default 2)")
    ap.add_argument("--quick", action="store_true",
                    help="accepted for symmetry; the test takes ~20 s anyway")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directory")
    a = ap.parse_args()
    if a.reloads < 1 or a.interval <= 0 or a.rate < 0 or a.timeout <= 0:
        ap.error("--reloads, --interval and --timeout must be positive")
    return a


class Checker(threading.Thread):
    """Sends the check queries one after another until stopped; every
    answer must equal the one recorded before the reloads.  Also follows
    the SOA serial, which must never go backwards."""

    def __init__(self, port, checks):
        super().__init__(daemon=True)
        self.port = port
        self.checks = checks        # [(label, wire, expected (rcode, rrs))]
        self.stop_flag = threading.Event()
        self.sent = self.wrong = self.timeouts = 0
        self.problems = []
        self.serials = []
        self.soa = benchlib.build_query(scenario.ZONE, "SOA")

    def run(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        i = 0
        while not self.stop_flag.is_set():
            label, wire, want = self.checks[i % len(self.checks)]
            i += 1
            r = benchlib.udp_ask(self.port, wire, timeout=1.0, sock=sock)
            self.sent += 1
            if r is None:
                self.timeouts += 1
                self.problems.append("%s: timeout" % label)
            elif (r[1], sorted(r[2])) != want:
                self.wrong += 1
                self.problems.append("%s: %s %s" % (
                    label, r[1], benchlib.addresses(r[2])))
            if i % 20 == 0:
                r = benchlib.udp_ask(self.port, self.soa, timeout=1.0,
                                     sock=sock)
                self.sent += 1
                if r is None:
                    self.timeouts += 1
                    self.problems.append("SOA: timeout")
                elif r[4] is not None:
                    if self.serials and r[4] < self.serials[-1]:
                        self.problems.append("SOA serial went back from %d "
                                             "to %d" % (self.serials[-1],
                                                        r[4]))
                        self.wrong += 1
                    if not self.serials or r[4] != self.serials[-1]:
                        self.serials.append(r[4])
        sock.close()


def main():
    args = parse_args()
    try:
        binary, how = benchlib.find_geodnsd()
        if not shutil.which(benchlib.DNSPERF):
            raise BenchError("dnsperf not found (apt-get install dnsperf)")
    except BenchError as e:
        benchlib.die(PROG, str(e))
    work = tempfile.mkdtemp(prefix="geodnsd-reload-")
    rc = 0
    server = None
    try:
        print("bench/reload-under-load.sh: %d SIGHUPs, %g s apart, under "
              "dnsperf load" % (args.reloads, args.interval))
        for line in benchlib.machine_lines():
            print(line)
        print("geodnsd: %s (from %s)%s" % (
            binary, how, "  (sanitizer build)"
            if benchlib.sanitizer_build(binary) else ""))
        mmdb, manifest = scenario.make_mmdb(work)
        port = benchlib.free_port()
        gdir = os.path.join(work, "geodnsd")
        conf = scenario.write_geodnsd(gdir, port, mmdb, serial=1)
        server = benchlib.Server("geodnsd", [binary, "-c", conf], gdir, port,
                                 scenario.ZONE).start()
        server.wait_ready(30)

        # Load: half static A, half geo A with ECS from varied subnets.
        rng = random.Random(7)
        clients = scenario.ecs_clients(manifest, rng)
        static = benchlib.build_query("static.%s" % scenario.ZONE, "A")
        wires = []
        for i in range(2000):
            if i % 2:
                wires.append(static)
            else:
                wires.append(benchlib.build_query(
                    "www.%s" % scenario.ZONE, "A", ecs=rng.choice(clients)))
        datafile = os.path.join(work, "load.bin")
        benchlib.write_dnsperf_binary(datafile, wires)

        # What every answer must stay: recorded before the first reload.
        checks = [("static A", static)]
        checks += [("www A ECS %s/%d" % c, benchlib.build_query(
            "www.%s" % scenario.ZONE, "A", ecs=c)) for c in clients[::8]]
        recorded = []
        for label, wire in checks:
            r = benchlib.udp_ask(port, wire, timeout=2)
            if r is None or r[1] != "NOERROR" or not r[2]:
                raise BenchError("before the reloads, %s got %s"
                                 % (label, r and r[1]))
            recorded.append((label, wire, (r[1], sorted(r[2]))))
        if benchlib.addresses(recorded[0][2][1]) != ("192.0.2.1",):
            raise BenchError("static A answered %s"
                             % (benchlib.addresses(recorded[0][2][1]),))

        duration = 2 + args.reloads * args.interval + 3
        print("dnsperf -B -c 4 -T 1 -q 100 -t %g -l %g %s; %d check queries "
              "compared one at a time meanwhile" % (
                  args.timeout, duration,
                  "-Q %d" % args.rate if args.rate else "(no rate limit)",
                  len(recorded)))
        checker = Checker(port, recorded)
        checker.start()
        perf = benchlib.run_dnsperf(port, datafile, duration, qps=args.rate or None,
                                    timeout=args.timeout, popen=True)
        time.sleep(2)
        sent_hups = 0
        for k in range(args.reloads):
            scenario.write_geodnsd_zone(gdir, serial=2 + k)
            os.kill(server.pid, signal.SIGHUP)
            sent_hups += 1
            time.sleep(args.interval)
        out, _ = perf.communicate(timeout=duration + args.timeout + 60)
        stats = benchlib.parse_dnsperf(out, perf.returncode, ["dnsperf"])
        final = 1 + args.reloads
        deadline = time.monotonic() + 15     # a last reload may still run
        while time.monotonic() < deadline and (
                not checker.serials or checker.serials[-1] != final):
            time.sleep(0.1)
        checker.stop_flag.set()
        checker.join(5)
        alive = server.running()
        with open(server.log_path, errors="replace") as f:
            log = f.read()
        loads = log.count("reload: done")
        failed_loads = log.count("reload: failed")

        print("\ndnsperf: sent %d, completed %d, lost %d, %.0f q/s, latency "
              "avg %.2f ms max %.1f ms" % (
                  stats["sent"], stats["completed"], stats["lost"],
                  stats["qps"], 1e3 * (stats["lat_avg"] or 0),
                  1e3 * (stats["lat_max"] or 0)))
        print("dnsperf rcodes: %s" % ", ".join(
            "%s %d" % kv for kv in sorted(stats["rcodes"].items())))
        print("checker: %d queries, %d wrong, %d timeouts; serials seen %s"
              % (checker.sent, checker.wrong, checker.timeouts,
                 " ".join(str(s) for s in checker.serials)))
        print("geodnsd: %d SIGHUPs sent, %d reloads done, %d failed (a "
              "SIGHUP during a reload is merged into one more reload), %s"
              % (sent_hups, loads, failed_loads,
                 "still running" if alive else "EXITED"))
        for p in checker.problems[:10]:
            print("  " + p)
        checks_ok = [
            ("no query lost", stats["lost"] == 0
             and stats["completed"] == stats["sent"]),
            ("every rcode NOERROR", set(stats["rcodes"]) == {"NOERROR"}),
            ("every checked answer unchanged, none timed out",
             checker.wrong == 0 and checker.timeouts == 0
             and checker.sent > 0),
            ("last serial (%d) served" % final,
             bool(checker.serials) and checker.serials[-1] == final),
            ("no reload failed", failed_loads == 0),
            ("server still running", alive),
        ]
        for what, ok in checks_ok:
            print("  %-50s %s" % (what, "PASS" if ok else "FAIL"))
            if not ok:
                rc = 1
        print("overall: %s" % ("FAIL" if rc else "PASS"))
    except BenchError as e:
        print("%s: error: %s" % (PROG, e), file=sys.stderr)
        rc = 2
    except KeyboardInterrupt:
        rc = 130
    finally:
        if server is not None:
            server.stop()
        if args.keep or rc == 2:
            print("kept %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    sys.exit(rc)


if __name__ == "__main__":
    main()
