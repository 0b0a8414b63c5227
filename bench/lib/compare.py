#!/usr/bin/env python3
"""geodnsd against gdnsd 3: throughput, server CPU per query and user-space
instructions per query for four query mixes.  Run it as bench/compare.sh;
bench/README.md and docs/performance.md explain the method.

Exit status: 0 every target met, 1 a target missed or answers were wrong,
2 the benchmark could not run.
"""

import argparse
import math
import os
import shutil
import socket
import sys
import tempfile
import time

import benchlib
import scenario
from benchlib import BenchError

PROG = "compare"
MIXES = ["static", "nxdomain", "geo", "mix"]
MIX_TITLES = {
    "static": "static A, one name",
    "nxdomain": "NXDOMAIN, 5000 random names",
    "geo": "geo A, ECS from 506 subnets",
    "mix": "60% geo+ECS, 30% static, 10% NXDOMAIN",
}
TARGET_CPU = 1.0      # geodnsd CPU per query <= 1.0 x gdnsd
TARGET_IR = 0.8       # geodnsd instructions per query <= 0.8 x gdnsd
WARMUP_S = 1          # uncounted dnsperf run per server before each mix


def parse_args():
    ap = argparse.ArgumentParser(
        prog="bench/compare.sh",
        description="Benchmark geodnsd against gdnsd 3 (see bench/README.md).")
    ap.add_argument("--quick", action="store_true",
                    help="shorter runs (under 2 minutes in all)")
    ap.add_argument("--seconds", type=float,
                    help="length of each dnsperf run (default 2, quick 1)")
    ap.add_argument("--rounds", type=int,
                    help="rounds per mix, alternating A B and B A "
                         "(default 15; quick 6)")
    ap.add_argument("--clients", type=int, default=4,
                    help="dnsperf -c (default 4)")
    ap.add_argument("--threads", type=int, default=1,
                    help="dnsperf -T (default 1)")
    ap.add_argument("--qps", type=int,
                    help="dnsperf -Q rate limit (default: none, as fast as "
                         "the servers answer)")
    ap.add_argument("--cg-queries", type=int,
                    help="queries per callgrind run (default 5000, quick 2000)")
    ap.add_argument("--udp-threads", type=int, default=1,
                    help="UDP threads of both servers (geodnsd workers, "
                         "gdnsd udp_threads; default 1; 0: each one's own "
                         "default, one per CPU)")
    ap.add_argument("--no-pin", action="store_true",
                    help="let the scheduler place the servers and dnsperf "
                         "(default: each server on CPU 0, dnsperf on the "
                         "other CPUs)")
    ap.add_argument("--mixes", default=",".join(MIXES),
                    help="comma-separated subset of " + ",".join(MIXES))
    ap.add_argument("--no-callgrind", action="store_true",
                    help="skip the instruction counts")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directory (callgrind files, logs)")
    a = ap.parse_args()
    if a.seconds is None:
        a.seconds = 1 if a.quick else 2
    if a.rounds is None:
        a.rounds = 6 if a.quick else 15
    if a.cg_queries is None:
        a.cg_queries = 2000 if a.quick else 5000
    a.mixes = [m for m in a.mixes.split(",") if m]
    for m in a.mixes:
        if m not in MIXES:
            ap.error("unknown mix %r" % m)
    if a.rounds < 1 or a.seconds <= 0 or a.cg_queries < 1:
        ap.error("--rounds, --seconds and --cg-queries must be positive")
    return a


# Two-sided 95 % quantiles of Student's t for 1-30 degrees of freedom;
# past 30, 2.042 is used (a little wider than the exact value: safe).
T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262,
       2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093,
       2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045,
       2.042]


def pair_interval(ratios):
    """Geometric mean of the A B pair ratios and its 95 % confidence
    interval (t on the logarithms), or None for fewer than 2 pairs.  The
    pairs are the noise the machine puts on one comparison: the interval
    says how far the pooled ratio can be trusted."""
    logs = [math.log(r) for r in ratios if r > 0]
    n = len(logs)
    if n < 2:
        return None
    mean = sum(logs) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / (n - 1))
    half = T95[min(n - 1, len(T95)) - 1] * sd / math.sqrt(n)
    return math.exp(mean), math.exp(mean - half), math.exp(mean + half)


class Bench:
    def __init__(self, args):
        self.args = args
        self.geodnsd, how = benchlib.find_geodnsd()
        self.geodnsd_how = how
        self.sanitized = benchlib.sanitizer_build(self.geodnsd)
        benchlib.require_exe(benchlib.GDNSD, "apt-get install gdnsd")
        if not shutil.which(benchlib.DNSPERF):
            raise BenchError("dnsperf not found (apt-get install dnsperf)")
        if not args.no_callgrind and not shutil.which(benchlib.VALGRIND):
            raise BenchError("valgrind not found (apt-get install valgrind)")
        self.work = tempfile.mkdtemp(prefix="geodnsd-compare-")
        self.mmdb, manifest = scenario.make_mmdb(self.work)
        self.sets = scenario.query_sets(manifest)
        self.files = {}
        for mix, queries in self.sets.items():
            path = os.path.join(self.work, mix + ".bin")
            benchlib.write_dnsperf_binary(path, [q[1] for q in queries])
            self.files[mix] = path
        self.failed = False

    # -------------------------------------------------------- servers

    def make_server(self, name, wrapper=(), tag=""):
        port = benchlib.free_port()
        d = os.path.join(self.work, name + tag)
        if name == "geodnsd":
            conf = scenario.write_geodnsd(d, port, self.mmdb,
                                          threads=self.args.udp_threads)
            argv = [self.geodnsd, "-c", conf]
        else:
            conf = scenario.write_gdnsd(d, port, self.mmdb,
                                        self.args.udp_threads)
            argv = [benchlib.GDNSD, "-c", conf, "start"]
        return benchlib.Server(name, list(wrapper) + argv, d, port,
                               scenario.ZONE)

    # -------------------------------------------------------- checks

    def check_answers(self, servers):
        """Both servers give the same rcode and answer records for a sample
        of every mix (ECS scopes differ by design and are not compared)."""
        sample = []
        for mix in self.args.mixes:
            qs = self.sets[mix]
            sample += qs if mix in ("static", "geo") else qs[:400]
        bad = []
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for label, wire, want in sample:
            replies = [benchlib.udp_ask(s.port, wire, timeout=2, sock=sock)
                       for s in servers]
            if any(r is None for r in replies):
                bad.append("%s: no reply from %s" % (label, ", ".join(
                    s.name for s, r in zip(servers, replies) if r is None)))
                continue
            got = [(r[1], sorted(r[2])) for r in replies]
            if got[0] != got[1] or got[0][0] != want:
                bad.append("%s: %s %s / %s %s (want %s)" % (
                    label, servers[0].name, got[0][0], servers[1].name,
                    got[1][0], want))
        sock.close()
        print("answers: %d sample queries, %d differ between the servers "
              "or have the wrong rcode" % (len(sample), len(bad)))
        for line in bad[:10]:
            print("  " + line)
        if bad:
            self.failed = True

    @staticmethod
    def rcode_problem(mix, stats):
        rc = stats["rcodes"]
        done = stats["completed"] or 0
        if done == 0:
            return "no query completed"
        other = {k: v for k, v in rc.items() if k not in ("NOERROR", "NXDOMAIN")}
        if other:
            return "unexpected rcodes %s" % other
        nx = rc.get("NXDOMAIN", 0) / done
        want = {"static": 0.0, "geo": 0.0, "nxdomain": 1.0, "mix": 0.1}[mix]
        if abs(nx - want) > 0.01:
            return "NXDOMAIN share %.1f%%, expected %.0f%%" % (100 * nx,
                                                              100 * want)
        return None

    # -------------------------------------------------------- dnsperf

    def throughput(self):
        a = self.args
        # Pinning: with the server and dnsperf free to move, which of
        # them shared a CPU changed from run to run and moved single runs'
        # CPU per query by +-10 %; pinned, every run of both servers sees
        # the same placement (and every wake-up crosses CPUs).
        pin = benchlib.cpu_pinning(not a.no_pin)
        servers = [self.make_server("geodnsd", wrapper=pin.server),
                   self.make_server("gdnsd", wrapper=pin.server)]
        results = {}
        try:
            for s in servers:
                s.start()
            for s in servers:
                s.wait_ready(30)
            self.threads = {s.name: benchlib.proc_threads(s.pid)
                            for s in servers}
            print("threads: geodnsd %d, gdnsd %d (whole process, all "
                  "threads, counted for CPU); UDP threads: %s" % (
                      self.threads["geodnsd"], self.threads["gdnsd"],
                      "%d each" % a.udp_threads if a.udp_threads
                      else "each server's default"))
            print("placement: %s" % pin.text)
            print("server CPU: %s" % (
                "/proc/PID/task/*/schedstat (ns, all threads), split into "
                "user and system by /proc/PID/stat's ticks"
                if benchlib.proc_cpu_ns(servers[0].pid) is not None else
                "/proc/PID/stat utime + stime (clock ticks, all threads)"))
            self.check_answers(servers)
            print("\ndnsperf -B -c %d -T %d -q 100 -t 2 -l %g%s, order %s per "
                  "mix" % (a.clients, a.threads, a.seconds,
                           " -Q %d" % a.qps if a.qps else "",
                           " ".join(("A B", "B A")[r % 2]
                                    for r in range(a.rounds))))
            print("(each mix starts with a %g s run of each server that is "
                  "not counted; rounds alternate which server goes first)"
                  % WARMUP_S)
            for mix in a.mixes:
                # Warm-up: the first run after a switch of query set paid
                # for things the others did not (first touches, dnsperf
                # reading its file), and A always went first.
                for s in servers:
                    benchlib.run_dnsperf(s.port, self.files[mix], WARMUP_S,
                                         clients=a.clients, threads=a.threads,
                                         qps=a.qps, timeout=2,
                                         prefix=pin.client)
                for rnd in range(a.rounds):
                    for s in (servers if rnd % 2 == 0 else servers[::-1]):
                        n0 = benchlib.proc_cpu_ns(s.pid)
                        u0, s0 = benchlib.proc_cpu_split(s.pid)
                        st = benchlib.run_dnsperf(
                            s.port, self.files[mix], a.seconds,
                            clients=a.clients, threads=a.threads,
                            qps=a.qps, timeout=2, prefix=pin.client)
                        n1 = benchlib.proc_cpu_ns(s.pid)
                        u1, s1 = benchlib.proc_cpu_split(s.pid)
                        self.split_cpu(st, n0, n1, u1 - u0, s1 - s0)
                        problem = self.rcode_problem(mix, st)
                        if problem:
                            self.failed = True
                            print("  %s %s round %d: WRONG ANSWERS: %s"
                                  % (mix, s.name, rnd + 1, problem))
                        if not s.running():
                            raise BenchError("%s died during %s:\n%s"
                                             % (s.name, mix, s.log_tail()))
                        print("  %-8s %-7s round %d: %9.0f q/s, %5.1f us "
                              "CPU/q, lost %d" % (
                                  mix, s.name, rnd + 1, st["qps"],
                                  1e6 * st["cpu_s"] / max(st["completed"], 1),
                                  st["lost"]), flush=True)
                        results.setdefault((mix, s.name), []).append(st)
        finally:
            for s in servers:
                s.stop()
        return results

    @staticmethod
    def split_cpu(st, n0, n1, usr_ticks, sys_ticks):
        """CPU seconds of one run into st: the total from schedstat (exact)
        when there is one, else from clock ticks; user and system split in
        the proportion of the ticks (they are only sampled)."""
        tck = benchlib.CLK_TCK
        if n0 is None or n1 is None:
            st["usr_s"], st["sys_s"] = usr_ticks / tck, sys_ticks / tck
        else:
            total = (n1 - n0) / 1e9
            ticks = usr_ticks + sys_ticks
            st["usr_s"] = total * usr_ticks / ticks if ticks else 0.0
            st["sys_s"] = total - st["usr_s"]
        st["cpu_s"] = st["usr_s"] + st["sys_s"]

    # -------------------------------------------------------- callgrind

    def callgrind_run(self, name, mix, n):
        """Total Ir of one server run: start under callgrind, wait for the
        server to log that it is ready, one SOA query, n queries of the mix one at a time,
        SIGTERM.  Returns (total Ir, out file)."""
        tag = "-cg-%s" % (mix or "baseline")
        out = os.path.join(self.work, "callgrind.%s%s.out" % (name, tag))
        s = self.make_server(name, wrapper=[
            benchlib.VALGRIND, "--tool=callgrind", "--callgrind-out-file=" + out],
            tag=tag)
        s.start()
        try:
            s.wait_log(s.ready_log, 120, interval=0.1)
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            soa = benchlib.build_query(scenario.ZONE, "SOA")
            if benchlib.udp_ask(s.port, soa, timeout=60, sock=sock) is None:
                raise BenchError("%s under callgrind: no SOA answer" % name)
            queries = self.sets[mix] if mix else []
            misses = 0
            for i in range(n if mix else 0):
                label, wire, want = queries[i % len(queries)]
                r = benchlib.udp_ask(s.port, wire, timeout=5, sock=sock)
                if r is None:
                    misses += 1
                    if misses >= 3:
                        raise BenchError("%s under callgrind stopped "
                                         "answering" % name)
                    continue
                if r[1] != want:
                    raise BenchError("%s under callgrind: %s got %s"
                                     % (name, label, r[1]))
            sock.close()
            if misses:
                raise BenchError("%s under callgrind: %d timeouts"
                                 % (name, misses))
        finally:
            s.stop(timeout=120)
        return benchlib.callgrind_total_ir(out), out

    def instructions(self):
        n = self.args.cg_queries
        ir, funcs = {}, {}
        for name in ("geodnsd", "gdnsd"):
            base, base_out = self.callgrind_run(name, None, 0)
            base_f = benchlib.callgrind_functions(base_out)
            for mix in self.args.mixes:
                total, out = self.callgrind_run(name, mix, n)
                ir[(mix, name)] = (total - base) / n
                f = benchlib.callgrind_functions(out)
                funcs[(mix, name)] = sorted(
                    ((f.get(k, 0) - base_f.get(k, 0)) / n, k)
                    for k in set(f) | set(base_f))[::-1]
                print("  %-8s %-7s %8.0f Ir/query  (%d queries, baseline "
                      "%.1f M Ir)" % (mix, name, ir[(mix, name)], n, base / 1e6),
                      flush=True)
        return ir, funcs

    # -------------------------------------------------------- report

    def report(self, perf, ir, funcs):
        print("\n== Results (geodnsd: %s%s)" % (
            self.geodnsd_how, ", SANITIZER BUILD" if self.sanitized else ""))
        print("%-9s %-8s %8s %9s %6s %6s %8s %7s %7s %5s" % (
            "mix", "server", "q/s", "CPU us/q", "usr", "sys", "srv CPU",
            "Ir/q", "resp B", "lost"))
        rows = {}
        for mix in self.args.mixes:
            for name in ("geodnsd", "gdnsd"):
                runs = perf[(mix, name)]
                done = sum(r["completed"] for r in runs)
                secs = sum(r["runtime"] for r in runs)
                cpu = sum(r["cpu_s"] for r in runs)
                usr = sum(r["usr_s"] for r in runs)
                row = {"qps": done / secs, "cpu_us": 1e6 * cpu / max(done, 1),
                       "usr_us": 1e6 * usr / max(done, 1),
                       "sys_us": 1e6 * (cpu - usr) / max(done, 1),
                       "util": cpu / secs, "ir": ir.get((mix, name)),
                       "resp": runs[-1]["resp_size"],
                       "lost": sum(r["lost"] for r in runs)}
                rows[(mix, name)] = row
                print("%-9s %-8s %8.0f %9.2f %6.2f %6.2f %7.0f%% %7s %7s %5d"
                      % (mix, name, row["qps"], row["cpu_us"], row["usr_us"],
                         row["sys_us"], 100 * row["util"],
                    "%.0f" % row["ir"] if row["ir"] is not None else "-",
                    row["resp"], row["lost"]))
        print("\n== geodnsd / gdnsd (targets: CPU per query <= %.2f, "
              "instructions per query <= %.2f)" % (TARGET_CPU, TARGET_IR))
        print("%-9s %5s %10s %11s %5s %8s %9s %5s   %s" % (
            "mix", "q/s", "CPU/query", "(rounds)", "", "usr CPU", "Ir/query",
            "", "mix"))
        intervals = []
        for mix in self.args.mixes:
            g, d = rows[(mix, "geodnsd")], rows[(mix, "gdnsd")]
            cpu_r = g["cpu_us"] / d["cpu_us"] if d["cpu_us"] else float("inf")
            cpu_ok = cpu_r <= TARGET_CPU
            # The same ratio for each A B pair: how much the machine's noise
            # moves it.
            pairs = []
            for rg, rd in zip(perf[(mix, "geodnsd")], perf[(mix, "gdnsd")]):
                if rd["cpu_s"] and rg["completed"]:
                    pairs.append((rg["cpu_s"] / rg["completed"])
                                 / (rd["cpu_s"] / rd["completed"]))
            spread = ("%.2f-%.2f" % (min(pairs), max(pairs))) if pairs else "-"
            ci = pair_interval(pairs)
            if ci is not None:
                if ci[2] <= TARGET_CPU:
                    verdict = ""
                elif ci[1] > TARGET_CPU:
                    verdict = "  above %.2f with 95 %% confidence" % TARGET_CPU
                else:
                    verdict = ("  includes %.2f: not below it with 95 %% "
                               "confidence" % TARGET_CPU)
                intervals.append("%-9s %.3f (%.3f-%.3f), %d pairs%s" % (
                    mix, ci[0], ci[1], ci[2], len(pairs), verdict))
            usr_r = g["usr_us"] / d["usr_us"] if d["usr_us"] else float("inf")
            if g["ir"] is not None and d["ir"]:
                ir_r = g["ir"] / d["ir"]
                ir_ok = ir_r <= TARGET_IR
                ir_txt = "%9.2f %5s" % (ir_r, "PASS" if ir_ok else "FAIL")
            else:
                ir_ok, ir_txt = True, "%9s %5s" % ("-", "")
            if not (cpu_ok and ir_ok):
                self.failed = True
            print("%-9s %5.2f %10.2f %11s %5s %8.2f %s   %s" % (
                mix, g["qps"] / d["qps"], cpu_r, spread,
                "PASS" if cpu_ok else "FAIL", usr_r, ir_txt, MIX_TITLES[mix]))
        print("(CPU/query: all rounds together, then the lowest and highest "
              "A B pair; usr CPU: user-space part only)")
        if intervals:
            print("\nCPU/query ratio of the A B pairs: geometric mean and "
                  "95 % confidence interval (Student's t)")
            for line in intervals:
                print("  " + line)
        if funcs:
            print("\n== geodnsd: top 10 functions by instructions per query "
                  "(self cost, callgrind, minus the baseline run)")
            for mix in self.args.mixes:
                top = funcs[(mix, "geodnsd")]
                total = ir[(mix, "geodnsd")]
                print("  %s (%.0f Ir/query):" % (mix, total))
                for cost, label in top[:10]:
                    print("    %7.0f %5.1f%%  %s" % (cost, 100 * cost / total,
                                                    label))
            with open(os.path.join(self.work, "functions.txt"), "w") as f:
                for (mix, name), top in sorted(funcs.items()):
                    f.write("%s %s\n" % (mix, name))
                    for cost, label in top[:40]:
                        f.write("  %9.1f  %s\n" % (cost, label))

    def run(self):
        a = self.args
        t_start = time.monotonic()
        print("bench/compare.sh%s: geodnsd against gdnsd" % (
            " --quick" if a.quick else ""))
        for line in benchlib.machine_lines():
            print(line)
        print("geodnsd: %s (from %s)" % (self.geodnsd, self.geodnsd_how))
        if self.sanitized:
            print("WARNING: this geodnsd is built with sanitizers; its "
                  "figures mean nothing.  Use GEODNSD=$(bench/lib/"
                  "build-release.sh) bench/compare.sh")
        print("gdnsd:   %s (Debian gdnsd %s); dnsperf %s; valgrind %s" % (
            benchlib.GDNSD, benchlib.package_version("gdnsd"),
            benchlib.package_version("dnsperf"),
            benchlib.package_version("valgrind")))
        print("work directory: %s" % self.work)
        perf = self.throughput()
        ir, funcs = {}, {}
        if self.sanitized and not a.no_callgrind:
            print("\ncallgrind skipped: AddressSanitizer does not run under "
                  "valgrind")
        elif not a.no_callgrind:
            print("\ncallgrind: %d queries per mix, sent one at a time; each "
                  "figure minus a run with no queries" % a.cg_queries)
            ir, funcs = self.instructions()
        self.report(perf, ir, funcs)
        print("\nelapsed: %.0f s; load average now %s; overall: %s" % (
            time.monotonic() - t_start,
            " ".join(open("/proc/loadavg").read().split()[:3]),
            "FAIL" if self.failed else "PASS"))
        return 1 if self.failed else 0


def main():
    args = parse_args()
    try:
        b = Bench(args)
    except BenchError as e:
        benchlib.die(PROG, str(e))
    try:
        rc = b.run()
    except BenchError as e:
        print("%s: error: %s" % (PROG, e), file=sys.stderr)
        rc = 2
    except KeyboardInterrupt:
        rc = 130
    if args.keep or rc == 2:
        print("kept %s" % b.work)
    else:
        shutil.rmtree(b.work, ignore_errors=True)
    sys.exit(rc)


if __name__ == "__main__":
    main()
