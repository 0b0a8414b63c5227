#!/usr/bin/python3
"""make-seeds.py: write the wire-format seed queries of fuzz/corpus/answer.

Usage: fuzz/make-seeds.py [OUTDIR]   (default: fuzz/corpus/answer next to
this script).  Needs dnspython.  The output is committed; run this again
only to change the seeds.  Names match the zones fuzz_answer.c loads.
"""
import os
import struct
import sys

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.rdataclass
import dns.rdatatype


def query(name, rdtype="A", rdclass="IN", edns=None, payload=1232,
          options=(), flags_do=False, qid=0x1234):
    """A query as dnspython writes it; edns None means no OPT record."""
    m = dns.message.make_query(name, rdtype, rdclass, use_edns=edns,
                               payload=payload, options=list(options),
                               want_dnssec=flags_do)
    m.id = qid
    return m.to_wire()


def ecs(addr, source):
    return dns.edns.ECSOption(addr, source, 0)


NSID = dns.edns.GenericOption(dns.edns.NSID, b"")
COOKIE = dns.edns.GenericOption(dns.edns.COOKIE, bytes(range(1, 9)))


def header(qid=0x1234, flags=0x0100, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def qname(text):
    out = b""
    for label in text.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def opt(payload=1232, ttl=0, rdata=b""):
    return b"\0" + struct.pack("!HHIH", 41, payload, ttl, len(rdata)) + rdata


def option(code, data):
    return struct.pack("!HH", code, len(data)) + data


SEEDS = {
    # Plain and EDNS queries against the static data.
    "a-www": query("www.example.com"),
    "aaaa-www-edns-nsid-ecs4": query("www.example.com", "AAAA", edns=0,
                                     options=[NSID, ecs("198.51.100.0", 24)]),
    "a-www-ecs-net-rule": query("www.example.com", edns=0,
                                options=[ecs("10.1.2.0", 24)]),
    "aaaa-www-ecs6": query("www.example.com", "AAAA", edns=0,
                           options=[ecs("2001:db8:1::", 48)]),
    "a-www-ecs-source0": query("www.example.com", edns=0,
                               options=[ecs("0.0.0.0", 0)]),
    "a-www-ecs-mapped": query("www.example.com", edns=0,
                              options=[ecs("::ffff:10.0.0.0", 104)]),
    "a-cdn-wildcard-geo": query("img.cdn.example.com", edns=0),
    "a-down-servfail": query("down.example.com"),
    "aaaa-lr-last-resort": query("lr.example.com", "AAAA", edns=0),
    "a-open-fail-open": query("open.example.com"),
    "a-to-lr-cname-geo": query("to-lr.example.com"),
    "any-apex-udp": query("example.com", "ANY", edns=0, flags_do=True),
    "mx-apex": query("example.com", "MX"),
    "a-alias-chain": query("alias1.example.com"),
    "a-loop": query("loop1.example.com"),
    "txt-wildcard": query("foo.wild.example.com", "TXT"),
    "a-wc-cname": query("x.wc-cname.example.com"),
    "ds-sub-parent-side": query("sub.example.com", "DS", edns=0),
    "a-www-sub": query("www.sub.example.com"),
    "a-other-referral": query("host.other.example.com"),
    "a-many-referral-tc": query("x.many.example.com"),
    "txt-big-tc": query("big.example.com", "TXT"),
    "txt-big-edns": query("big.example.com", "TXT", edns=0, payload=4096),
    "a-nxdomain": query("nothing.example.com", edns=0),
    "a-refused": query("www.example.org"),
    "srv": query("_sip._tcp.example.com", "SRV"),
    "type65400": query("unknown.example.com", "TYPE65400"),
    "a-mixed-case": query("MiXeDcAsE.ExAmPlE.cOm"),
    "a-cookie": query("www.example.com", edns=0, options=[COOKIE]),
    # CHAOS: identity, version, explain and status (from loopback).
    "ch-version-bind": query("version.bind", "TXT", "CH"),
    "ch-id-server-nsid": query("id.server", "TXT", "CH", edns=0,
                               options=[NSID]),
    "ch-explain-www-ecs": query("www.example.com.explain.geodnsd", "TXT",
                                "CH", edns=0,
                                options=[ecs("203.0.113.0", 24)]),
    "ch-explain-static": query("mail.example.com.explain.geodnsd", "TXT",
                               "CH"),
    "ch-status": query("status.geodnsd", "TXT", "CH"),
    "ch-status-web": query("web.status.geodnsd", "TXT", "CH", edns=0),
    # Refused and odd types.
    "axfr": query("example.com", "AXFR"),
    "qtype-opt": query("example.com", "OPT"),
    "class-hs": query("example.com", "A", "HS"),
    # Malformed and edge-case packets, written by hand.
    "bad-short-header": header()[:11],
    "bad-qr-set": header(flags=0x8100) + qname("example.com") + b"\0\1\0\1",
    "bad-qdcount-2": header(qd=2) + qname("example.com") + b"\0\1\0\1" * 2,
    "bad-question-cut": header() + qname("example.com")[:-3],
    "bad-qname-pointer": header() + b"\3www\xc0\x0c" + b"\0\1\0\1",
    "bad-ancount": header(an=1) + qname("example.com") + b"\0\1\0\1",
    "bad-notify": header(flags=0x2000) + qname("example.com") + b"\0\6\0\1",
    "bad-two-opt": header(ar=2) + qname("www.example.com") + b"\0\1\0\1"
    + opt() + opt(),
    "bad-opt-not-root": header(ar=1) + qname("www.example.com")
    + b"\0\1\0\1" + b"\1x" + opt()[1:],
    "bad-edns-version-1": header(ar=1) + qname("www.example.com")
    + b"\0\1\0\1" + opt(ttl=0x00010000),
    "bad-ecs-scope": header(ar=1) + qname("www.example.com") + b"\0\1\0\1"
    + opt(rdata=option(8, b"\0\1\x18\x10\xc6\x33\x64")),
    "bad-ecs-bits-past-source": header(ar=1) + qname("www.example.com")
    + b"\0\1\0\1" + opt(rdata=option(8, b"\0\1\x17\0\xc6\x33\x65")),
    "bad-option-overrun": header(ar=1) + qname("www.example.com")
    + b"\0\1\0\1" + opt(rdata=b"\0\3\0\x10"),
    "bad-cookie-length": header(ar=1) + qname("www.example.com")
    + b"\0\1\0\1" + opt(rdata=option(10, b"\1\2\3\4\5\6\7\x08\x09")),
    "edns-tiny-payload": header(ar=1) + qname("x.many.example.com")
    + b"\0\1\0\1" + opt(payload=100),
}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus",
                                                             "answer")
    os.makedirs(out, exist_ok=True)
    for name, wire in sorted(SEEDS.items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(wire)
    print(f"{len(SEEDS)} seeds written to {out}")


if __name__ == "__main__":
    main()
