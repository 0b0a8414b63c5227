"""A corpus of malformed packets, each with the answer the RFCs call for:
FORMERR (RFC 1035 4.1.1, RFC 6891 6.1.1, RFC 7871 7.1.1) when a header
could be read and the packet is a query, silence when it cannot be or is a
response.  After every packet the server must still answer, over UDP and
TCP.  Only 127.0.0.1 is used.
"""

import struct

import dns.rcode
import pytest

from conftest import make_query

QUERY_FLAGS = 0x0100          # RD, opcode QUERY


def header(qd=1, an=0, ns=0, ar=0, flags=QUERY_FLAGS, id_=0x5151):
    return struct.pack("!HHHHHH", id_, flags, qd, an, ns, ar)


def qname(name="www.example.com"):
    return b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\x00"


QUESTION = qname() + struct.pack("!HH", 1, 1)
OPT = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)


def opt_with(code, data):
    rdata = struct.pack("!HH", code, len(data)) + data
    return b"\x00" + struct.pack("!HHIH", 41, 1232, 0, len(rdata)) + rdata


def ecs(family, source, scope, addr):
    return opt_with(8, struct.pack("!HBB", family, source, scope) + addr)


FORMERR = "FORMERR"
DROP = "DROP"

CORPUS = [
    # --- names and compression (a query's name has nothing to point to)
    ("qname pointer to itself (loop)", header() + b"\xc0\x0c\x00\x01\x00\x01", FORMERR),
    ("qname pointer loop via a label", header() + b"\x01a\xc0\x0c\x00\x01\x00\x01", FORMERR),
    ("qname forward pointer", header() + b"\xc0\x20" + b"\x00" * 30, FORMERR),
    ("qname pointer past the end", header() + b"\x03www\xc3\xff\x00\x01\x00\x01", FORMERR),
    ("label of 64 (0x40 type)", header() + b"\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01", FORMERR),
    ("label type 10 (0x80)", header() + b"\x80abc\x00\x00\x01\x00\x01", FORMERR),
    ("name over 255 octets", header() + (b"\x3f" + b"a" * 63) * 4 + b"\x05abcde\x00\x00\x01\x00\x01",
     FORMERR),
    ("label runs past the end", header() + b"\x3fabc", FORMERR),
    ("additional owner pointer loop",
     header(ar=1) + QUESTION + b"\xc0" + bytes([12 + len(QUESTION)]) + OPT[1:], FORMERR),
    ("additional owner forward pointer",
     header(ar=1) + QUESTION + b"\xc0\xf0" + OPT[1:], FORMERR),
    # --- header and question
    ("empty packet", b"", DROP),
    ("truncated header", header()[:7], DROP),
    ("header only, QDCOUNT 1", header(), FORMERR),
    ("question cut in the name", header() + QUESTION[:6], FORMERR),
    ("question cut in the type", header() + QUESTION[:-3], FORMERR),
    ("QDCOUNT 0", header(qd=0), FORMERR),
    ("QDCOUNT 0, OPT without a cookie", header(qd=0, ar=1) + OPT, FORMERR),
    ("QDCOUNT 0, a cookie of 12 octets", header(qd=0, ar=1) + opt_with(10, b"c" * 12), FORMERR),
    ("QDCOUNT 0, a cookie in an answer record", header(qd=0, an=1) + opt_with(10, b"c" * 8), FORMERR),
    ("QDCOUNT 2", header(qd=2) + QUESTION * 2, FORMERR),
    ("QDCOUNT 65535", header(qd=0xFFFF) + QUESTION, FORMERR),
    ("a response sent as a query (QR)", header(flags=0x8000 | QUERY_FLAGS) + QUESTION, DROP),
    ("answer record in a query", header(an=1) + QUESTION + qname() + struct.pack("!HHIH", 1, 1, 60, 4)
     + b"\xc0\x00\x02\x01", FORMERR),
    ("ARCOUNT larger than the records", header(ar=3) + QUESTION + OPT, FORMERR),
    # --- EDNS (RFC 6891)
    ("two OPT records", header(ar=2) + QUESTION + OPT + OPT, FORMERR),
    ("OPT owned by a non-root name", header(ar=1) + QUESTION + b"\x01a\x00" + OPT[1:], FORMERR),
    ("OPT in the answer section", header(an=1) + QUESTION + OPT, FORMERR),
    ("OPT in the authority section", header(ns=1) + QUESTION + OPT, FORMERR),
    ("IXFR with two authority records", header(ns=2) + qname("example.com")
     + struct.pack("!HH", 251, 1) + (b"\xc0\x0c" + struct.pack("!HHIH", 6, 1, 0, 0)) * 2, FORMERR),
    ("IXFR authority record past the end", header(ns=1) + qname("example.com")
     + struct.pack("!HH", 251, 1) + b"\xc0\x0c" + struct.pack("!HHIH", 6, 1, 0, 30), FORMERR),
    ("OPT RDLENGTH past the end", header(ar=1) + QUESTION + b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 40),
     FORMERR),
    ("EDNS option overruns the RDATA", header(ar=1) + QUESTION + b"\x00"
     + struct.pack("!HHIH", 41, 1232, 0, 8) + struct.pack("!HH", 3, 16) + b"abcd", FORMERR),
    # --- EDNS Client Subnet (RFC 7871 7.1.1)
    ("ECS family 3", header(ar=1) + QUESTION + ecs(3, 24, 0, b"\xc0\x00\x02"), FORMERR),
    ("ECS IPv4 source prefix 33", header(ar=1) + QUESTION + ecs(1, 33, 0, b"\xc0\x00\x02\x00\x00"), FORMERR),
    ("ECS address longer than the prefix", header(ar=1) + QUESTION + ecs(1, 16, 0, b"\xc0\x00\x02"), FORMERR),
    ("ECS address shorter than the prefix", header(ar=1) + QUESTION + ecs(1, 24, 0, b"\xc0\x00"), FORMERR),
    ("ECS bits set past the prefix", header(ar=1) + QUESTION + ecs(1, 23, 0, b"\xc0\x00\x03"), FORMERR),
    ("ECS non-zero scope in a query", header(ar=1) + QUESTION + ecs(1, 24, 24, b"\xc0\x00\x02"), FORMERR),
    ("ECS IPv6 source prefix 129", header(ar=1) + QUESTION + ecs(2, 129, 0, b"\x20" + b"\x00" * 16), FORMERR),
    ("ECS option of 3 octets", header(ar=1) + QUESTION + opt_with(8, b"\x00\x01\x18"), FORMERR),
    ("DNS cookie of 12 octets", header(ar=1) + QUESTION + opt_with(10, b"c" * 12), FORMERR),
]


def check_still_serving(srv):
    r = srv.query("www.example.com", "A")
    assert r.rcode() == dns.rcode.NOERROR and r.answer
    r = srv.query("www.example.com", "A", tcp=True)
    assert r.rcode() == dns.rcode.NOERROR and r.answer


@pytest.mark.parametrize("name,wire,want", CORPUS, ids=[c[0] for c in CORPUS])
def test_malformed(geodnsd, name, wire, want):
    for tcp in (False, True):
        if tcp and len(wire) == 0:
            continue
        reply = geodnsd.send_wire(wire, tcp=tcp, timeout=0.5 if want == DROP else 2.0)
        where = "%s over %s" % (name, "TCP" if tcp else "UDP")
        if want == DROP:
            assert reply is None, "%s: expected no reply, got %r" % (where, reply)
        else:
            assert reply is not None, "%s: no reply" % where
            id_, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", reply[:12])
            assert id_ == struct.unpack("!H", wire[:2])[0], where
            assert flags & 0x8000, "%s: QR not set" % where
            assert flags & 0xF == dns.rcode.FORMERR, "%s: rcode %d" % (where, flags & 0xF)
            assert an == 0 and ns == 0, "%s: records in a FORMERR" % where
    check_still_serving(geodnsd)


def test_good_query_after_the_corpus(geodnsd):
    """The corpus did not change anything: a well-formed EDNS query works."""
    r = geodnsd.send(make_query("www.example.com", "A", use_edns=0))
    assert r.rcode() == dns.rcode.NOERROR and r.edns == 0 and r.answer
    assert geodnsd.running(), geodnsd.stderr
