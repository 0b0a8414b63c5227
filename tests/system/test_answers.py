"""Targeted checks of geodnsd's answers against the RFCs, independent of NSD.

Uses the standard test zones (tests/zones/): example.com (SOA TTL 3600,
MINIMUM 300), sub.example.com (delegated from example.com and served too;
SOA TTL 1800, MINIMUM 600) and example.net (SOA TTL 120, MINIMUM 3600).
"""

import socket
import struct

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import pytest

from conftest import STANDARD_ZONES, make_query, tcp_exchange_wire

A, AAAA, NS, SOA, CNAME, TXT, DS = (dns.rdatatype.A, dns.rdatatype.AAAA,
                                    dns.rdatatype.NS, dns.rdatatype.SOA,
                                    dns.rdatatype.CNAME, dns.rdatatype.TXT,
                                    dns.rdatatype.DS)


def n(text):
    return dns.name.from_text(text)


def rrset(section, name, rdtype):
    """The RRset of that owner and type in a section, or None."""
    for r in section:
        if r.name == n(name) and r.rdtype == rdtype:
            return r
    return None


def values(section, name, rdtype):
    r = rrset(section, name, rdtype)
    return sorted(rd.to_text() for rd in r) if r is not None else []


def assert_rcode(msg, rcode):
    assert msg.rcode() == rcode, "rcode %s, expected %s:\n%s" % (
        dns.rcode.to_text(msg.rcode()), dns.rcode.to_text(rcode), msg)


def assert_aa(msg, aa=True):
    assert bool(msg.flags & dns.flags.AA) == aa, "AA should be %s:\n%s" % (
        aa, msg)


def assert_negative(msg, rcode, zone, ttl):
    """NXDOMAIN/NODATA: AA, empty answer, the zone's SOA in authority with
    TTL min(SOA TTL, MINIMUM) (RFC 2308 section 5)."""
    assert_rcode(msg, rcode)
    assert_aa(msg)
    assert not msg.answer, "answer should be empty:\n%s" % msg
    soa = rrset(msg.authority, zone, SOA)
    assert soa is not None, "no %s SOA in authority:\n%s" % (zone, msg)
    assert soa.ttl == ttl, "negative TTL %d, expected %d:\n%s" % (
        soa.ttl, ttl, msg)


# ---------------------------------------------------------------- basics

def test_exact_match_is_authoritative(geodnsd):
    r = geodnsd.query("www.example.com", "A")
    assert_rcode(r, dns.rcode.NOERROR)
    assert_aa(r)
    assert r.flags & dns.flags.QR
    assert not r.flags & dns.flags.RA, "an authoritative server sets RA=0"
    assert values(r.answer, "www.example.com", A) == [
        "192.0.2.80", "192.0.2.81", "192.0.2.82"]
    assert rrset(r.answer, "www.example.com", A).ttl == 300


def test_rd_is_copied(geodnsd):
    r = geodnsd.query("www.example.com", "A", flags=dns.flags.RD)
    assert r.flags & dns.flags.RD, "RD must be copied (RFC 1035 4.1.1)"
    assert not r.flags & dns.flags.RA
    r = geodnsd.query("www.example.com", "A", flags=0)
    assert not r.flags & dns.flags.RD


def test_apex_records(geodnsd):
    r = geodnsd.query("example.com", "SOA")
    assert_aa(r)
    soa = rrset(r.answer, "example.com", SOA)
    assert soa is not None and soa.ttl == 3600
    assert soa[0].serial == 2024010101 and soa[0].minimum == 300
    r = geodnsd.query("example.com", "NS")
    assert values(r.answer, "example.com", NS) == [
        "ns.example.net.", "ns1.example.com.", "ns2.example.com."]
    r = geodnsd.query("example.com", "MX")
    assert values(r.answer, "example.com", dns.rdatatype.MX) == [
        "10 mail.example.com.", "20 mail2.example.net."]


def test_assorted_types(geodnsd):
    cases = [
        ("_sip._udp.example.com", "SRV", ["10 60 5060 sip.example.com.",
                                          "20 10 5060 sip.example.net."]),
        ("example.com", "CAA", ['0 iodef "mailto:security@example.com"',
                                '0 issue "ca.example.net"']),
        ("ssh.example.com", "SSHFP", ["4 2 0123456789abcdef0123456789abcdef"
                                      "0123456789abcdef0123456789abcdef"]),
        ("_443._tcp.www.example.com", "TLSA", [
            "3 1 1 0123456789abcdef0123456789abcdef"
            "0123456789abcdef0123456789abcdef"]),
        ("multi-txt.example.com", "TXT",
         ['"first string" "second string" "third string"']),
        ("mixedcase.example.com", "A", ["192.0.2.200"]),
    ]
    for name, qtype, expected in cases:
        r = geodnsd.query(name, qtype)
        assert_aa(r)
        got = values(r.answer, name, dns.rdatatype.from_text(qtype))
        assert got == sorted(expected), "%s %s: %s" % (name, qtype, r)
    r = geodnsd.query("naptr.example.com", "NAPTR")
    assert len(rrset(r.answer, "naptr.example.com",
                     dns.rdatatype.NAPTR)) == 2


def test_unknown_type_rfc3597(geodnsd):
    r = geodnsd.query("unknown.example.com", "TYPE65400")
    assert_aa(r)
    rs = rrset(r.answer, "unknown.example.com", 65400)
    assert rs is not None, r
    assert [rd.to_wire() for rd in rs] == [b"\x0a\x00\x00\x01"]
    # An absent unknown type is NODATA.
    assert_negative(geodnsd.query("unknown.example.com", "TYPE65401"),
                    dns.rcode.NOERROR, "example.com", 300)


def test_include_and_ttl_directives(geodnsd):
    r = geodnsd.query("big.example.com", "A", tcp=True)
    assert len(rrset(r.answer, "big.example.com", A)) == 40
    r = geodnsd.query("short-ttl.example.com", "A")
    assert rrset(r.answer, "short-ttl.example.com", A).ttl == 60


def test_question_case_preserved(geodnsd):
    """0x20: the question is echoed with the query's exact case."""
    for qname in ("WwW.eXaMpLe.CoM", "NX.Example.Com", "FOO.Wild.EXAMPLE.com",
                  "Other.Example.COM", "WWW.EXAMPLE.ORG"):
        r = geodnsd.query(qname, "A")
        assert len(r.question) == 1
        got = r.question[0].name.to_text()
        assert got == qname + ".", "question %s, sent %s" % (got, qname)
    r = geodnsd.query("WwW.eXaMpLe.CoM", "A")
    assert values(r.answer, "www.example.com", A)


def test_unusual_owner_names(geodnsd):
    r = geodnsd.query("esc\\.aped.example.com", "TXT")
    assert values(r.answer, "esc\\.aped.example.com", TXT) == [
        '"escaped dot"'], r
    # "aped.example.com" is not a name in the zone: the escaped dot is data.
    assert_negative(geodnsd.query("aped.example.com", "TXT"),
                    dns.rcode.NXDOMAIN, "example.com", 300)
    r = geodnsd.query("l" * 63 + ".example.com", "A")
    assert values(r.answer, "l" * 63 + ".example.com", A) == ["192.0.2.202"]
    r = geodnsd.query("empty-txt.example.com", "TXT")
    assert values(r.answer, "empty-txt.example.com", TXT) == ['""']


def test_only_ascii_is_case_folded(geodnsd):
    """RFC 4343: only A-Z/a-z compare case-insensitively.  The zone has
    \\195\\137t\\195\\169 (UTF-8 'Ete' with E-acute); 0xC3 0xA9 (e-acute)
    is a different octet and must not match."""
    r = geodnsd.query("\\195\\137T\\195\\169.example.com", "A")
    assert r.rcode() == dns.rcode.NOERROR and len(r.answer) == 1, r
    assert_negative(geodnsd.query("\\195\\169t\\195\\169.example.com", "A"),
                    dns.rcode.NXDOMAIN, "example.com", 300)


# ---------------------------------------------------------------- CNAME

def test_cname_chain_in_zone(geodnsd):
    r = geodnsd.query("alias1.example.com", "A")
    assert_rcode(r, dns.rcode.NOERROR)
    assert_aa(r)
    assert values(r.answer, "alias1.example.com", CNAME) == [
        "alias2.example.com."]
    assert values(r.answer, "alias2.example.com", CNAME) == [
        "www.example.com."]
    assert len(values(r.answer, "www.example.com", A)) == 3


def test_cname_qtype_not_followed(geodnsd):
    r = geodnsd.query("alias1.example.com", "CNAME")
    assert [x.rdtype for x in r.answer] == [CNAME]


def test_cname_into_other_served_zone(geodnsd):
    r = geodnsd.query("to-net.example.com", "A")
    assert_aa(r)
    assert values(r.answer, "to-net.example.com", CNAME) == [
        "host.example.net."]
    assert values(r.answer, "host.example.net", A) == ["192.0.2.154"]


def test_cname_out_of_zones(geodnsd):
    r = geodnsd.query("to-ext.example.com", "A")
    assert_rcode(r, dns.rcode.NOERROR)
    assert_aa(r)
    assert values(r.answer, "to-ext.example.com", CNAME) == [
        "www.example.org."]
    assert len(r.answer) == 1


def test_cname_to_nxdomain(geodnsd):
    """RFC 6604: the rcode is that of the last name in the chain."""
    r = geodnsd.query("to-nx.example.com", "A")
    assert_rcode(r, dns.rcode.NXDOMAIN)
    assert_aa(r)
    assert values(r.answer, "to-nx.example.com", CNAME)
    assert rrset(r.authority, "example.com", SOA).ttl == 300


def test_cname_loop_terminates(geodnsd):
    r = geodnsd.query("loop1.example.com", "A")
    assert r.rcode() in (dns.rcode.NOERROR, dns.rcode.SERVFAIL), r
    assert values(r.answer, "loop1.example.com", CNAME) == [
        "loop2.example.com."]
    assert len(r.answer) <= 2, "each CNAME at most once:\n%s" % r


def test_wildcard_cname(geodnsd):
    r = geodnsd.query("x.wc-cname.example.com", "A")
    assert_aa(r)
    assert values(r.answer, "x.wc-cname.example.com", CNAME) == [
        "www.example.com."]
    assert len(values(r.answer, "www.example.com", A)) == 3


# ---------------------------------------------------------------- wildcards

def test_wildcard_synthesis(geodnsd):
    for qname in ("foo.wild.example.com", "a.b.foo.wild.example.com"):
        r = geodnsd.query(qname, "A")
        assert_rcode(r, dns.rcode.NOERROR)
        assert_aa(r)
        rs = rrset(r.answer, qname, A)
        assert rs is not None, "owner must be the qname:\n%s" % r
        assert [x.to_text() for x in rs] == ["192.0.2.100"]
        assert rs.ttl == 3600
    r = geodnsd.query("foo.wild.example.com", "TXT")
    assert values(r.answer, "foo.wild.example.com", TXT) == ['"wildcard"']


def test_wildcard_nodata(geodnsd):
    assert_negative(geodnsd.query("foo.wild.example.com", "MX"),
                    dns.rcode.NOERROR, "example.com", 300)


def test_exact_name_blocks_wildcard(geodnsd):
    r = geodnsd.query("host.wild.example.com", "A")
    assert values(r.answer, "host.wild.example.com", A) == ["192.0.2.101"]
    assert_negative(geodnsd.query("host.wild.example.com", "TXT"),
                    dns.rcode.NOERROR, "example.com", 300)
    # RFC 4592 3.3.1: closest encloser host.wild has no wildcard child.
    assert_negative(geodnsd.query("x.host.wild.example.com", "A"),
                    dns.rcode.NXDOMAIN, "example.com", 300)


def test_closest_encloser_rules(geodnsd):
    # ent.wild is an empty non-terminal (from _sip._tcp.ent.wild): it exists,
    # so foo.ent.wild's closest encloser is ent.wild, which has no '*'.
    assert_negative(geodnsd.query("foo.ent.wild.example.com", "A"),
                    dns.rcode.NXDOMAIN, "example.com", 300)
    assert_negative(geodnsd.query("ent.wild.example.com", "A"),
                    dns.rcode.NOERROR, "example.com", 300)
    # ghost.*.wild: closest encloser is *.wild itself (RFC 4592 2.2.1).
    assert_negative(geodnsd.query("ghost.*.wild.example.com", "A"),
                    dns.rcode.NXDOMAIN, "example.com", 300)
    assert_negative(geodnsd.query("q.y.*.wc-ent.example.com", "TXT"),
                    dns.rcode.NXDOMAIN, "example.com", 300)
    assert_negative(geodnsd.query("y.*.wc-ent.example.com", "TXT"),
                    dns.rcode.NOERROR, "example.com", 300)


def test_wildcard_owner_queried_literally(geodnsd):
    r = geodnsd.query("*.wild.example.com", "A")
    assert values(r.answer, "*.wild.example.com", A) == ["192.0.2.100"]
    r = geodnsd.query("sub.*.wild.example.com", "TXT")
    assert values(r.answer, "sub.*.wild.example.com", TXT) == [
        '"not a wildcard"']


# ---------------------------------------------------------------- negative

def test_empty_non_terminal_is_nodata(geodnsd):
    for qname in ("c.example.com", "b.c.example.com", "wild.example.com",
                  "_tcp.ent.wild.example.com"):
        assert_negative(geodnsd.query(qname, "A"), dns.rcode.NOERROR,
                        "example.com", 300)
    assert_negative(geodnsd.query("ent.sub.example.com", "A"),
                    dns.rcode.NOERROR, "sub.example.com", 600)
    r = geodnsd.query("a.b.c.example.com", "A")
    assert values(r.answer, "a.b.c.example.com", A) == ["192.0.2.10"]


def test_nxdomain_negative_ttl(geodnsd):
    # SOA TTL 3600, MINIMUM 300 -> 300
    assert_negative(geodnsd.query("nx.example.com", "A"),
                    dns.rcode.NXDOMAIN, "example.com", 300)
    # SOA TTL 120, MINIMUM 3600 -> 120
    r = geodnsd.query("nx.example.net", "A")
    assert_negative(r, dns.rcode.NXDOMAIN, "example.net", 120)
    assert rrset(r.authority, "example.net", SOA)[0].minimum == 3600, \
        "the SOA RDATA itself is unchanged"
    # SOA TTL 1800, MINIMUM 600 -> 600
    assert_negative(geodnsd.query("nx.sub.example.com", "A"),
                    dns.rcode.NXDOMAIN, "sub.example.com", 600)


def test_nodata_negative_ttl(geodnsd):
    assert_negative(geodnsd.query("www.example.com", "MX"),
                    dns.rcode.NOERROR, "example.com", 300)
    assert_negative(geodnsd.query("host.example.net", "TXT"),
                    dns.rcode.NOERROR, "example.net", 120)


def test_refused_outside_zones(geodnsd):
    for qname in ("example.org", "www.example.org", "com", ".",
                  "xexample.com", "example.com.evil.org"):
        r = geodnsd.query(qname, "A")
        assert_rcode(r, dns.rcode.REFUSED)
        assert_aa(r, False)
        assert not r.answer and not r.authority, r
        assert r.question and r.question[0].name == n(qname)


# ---------------------------------------------------------------- delegation

def test_referral(geodnsd):
    for qname, qtype in (("other.example.com", "A"),
                         ("host.other.example.com", "A"),
                         ("a.b.other.example.com", "AAAA"),
                         ("other.example.com", "NS"),
                         ("ns.other.example.com", "A")):
        r = geodnsd.query(qname, qtype)
        assert_rcode(r, dns.rcode.NOERROR)
        assert_aa(r, False)
        assert not r.answer, "referral has an empty answer:\n%s" % r
        assert values(r.authority, "other.example.com", NS) == [
            "ns.example.org.", "ns.other.example.com."], r
        assert values(r.additional, "ns.other.example.com", A) == [
            "192.0.2.55"], "in-bailiwick glue missing:\n%s" % r
        assert rrset(r.additional, "ns.example.org", A) is None


def test_referral_without_glue(geodnsd):
    r = geodnsd.query("x.net-ns.example.com", "A")
    assert_aa(r, False)
    assert values(r.authority, "net-ns.example.com", NS) == [
        "ns.example.net."]


def test_referral_glue_must_fit_or_tc(geodnsd):
    """RFC 9471 section 3: all glue for in-domain name servers, or TC=1.
    many-ns has 13 in-domain servers with A+AAAA glue: ~870 bytes."""
    glue = {"ns%02d.many-ns.example.com" % i for i in range(1, 14)}
    for kwargs in ({}, {"use_edns": 0, "payload": 512}):
        r = geodnsd.query("x.many-ns.example.com", "A", **kwargs)
        if not r.flags & dns.flags.TC:
            have = {(x.name.to_text().rstrip("."), x.rdtype)
                    for x in r.additional}
            missing = [(g, t) for g in sorted(glue) for t in (A, AAAA)
                       if (g, t) not in have]
            assert not missing, "glue dropped without TC (%s):\n%s" % (
                missing[:3], r)
    r = geodnsd.query("x.many-ns.example.com", "A", use_edns=0, payload=1232)
    assert not r.flags & dns.flags.TC
    assert len(r.additional) == 26, r
    r = geodnsd.query("x.many-ns.example.com", "A", tcp=True)
    assert len(r.additional) == 26 and len(r.authority[0]) == 13


def test_ds_answered_by_parent(geodnsd):
    """RFC 4035 3.1.4.1: DS at a delegation point comes from the parent."""
    r = geodnsd.query("other.example.com", "DS")
    assert_rcode(r, dns.rcode.NOERROR)
    assert_aa(r)
    assert rrset(r.answer, "other.example.com", DS) is not None, r
    # The child is served here too, but DS still lives in the parent.
    r = geodnsd.query("sub.example.com", "DS")
    assert_aa(r)
    ds = rrset(r.answer, "sub.example.com", DS)
    assert ds is not None and ds[0].key_tag == 12345, r
    assert_negative(geodnsd.query("net-ns.example.com", "DS"),
                    dns.rcode.NOERROR, "example.com", 300)


def test_longest_match_child_zone(geodnsd):
    """sub.example.com is served: it answers authoritatively, not the
    parent's referral."""
    r = geodnsd.query("www.sub.example.com", "A")
    assert_aa(r)
    assert values(r.answer, "www.sub.example.com", A) == ["192.0.2.57"]
    r = geodnsd.query("sub.example.com", "A")
    assert_aa(r)
    assert values(r.answer, "sub.example.com", A) == ["192.0.2.50"]
    r = geodnsd.query("sub.example.com", "NS")
    assert_aa(r)
    ns = rrset(r.answer, "sub.example.com", NS)
    assert ns is not None and ns.ttl == 1800, "child's NS, not parent's:\n%s" % r
    r = geodnsd.query("sub.example.com", "SOA")
    assert rrset(r.answer, "sub.example.com", SOA)[0].serial == 2024010102
    r = geodnsd.query("to-sub.example.com", "A")
    assert values(r.answer, "www.sub.example.com", A) == ["192.0.2.57"]


# ---------------------------------------------------------------- CHAOS

@pytest.mark.parametrize("qname,expected", [
    ("version.bind", "geodnsd test"), ("version.server", "geodnsd test"),
    ("id.server", "test1.example"), ("hostname.bind", "test1.example")])
def test_chaos_txt(geodnsd, qname, expected):
    r = geodnsd.query(qname, "TXT", rdclass="CH")
    assert_rcode(r, dns.rcode.NOERROR)
    rs = r.answer[0] if r.answer else None
    assert rs is not None and rs.rdclass == dns.rdataclass.CH, r
    assert [b"".join(rd.strings) for rd in rs] == [expected.encode()]


def test_chaos_other_name_refused(geodnsd):
    r = geodnsd.query("authors.bind", "TXT", rdclass="CH")
    assert r.rcode() in (dns.rcode.REFUSED, dns.rcode.NXDOMAIN), r
    assert not r.answer


# ---------------------------------------------------------------- EDNS

def opt_options(msg, code):
    return [o for o in msg.options if o.otype == code]


def test_nsid(geodnsd):
    r = geodnsd.query("www.example.com", "A", use_edns=0,
                      options=[dns.edns.GenericOption(dns.edns.NSID, b"")])
    nsid = opt_options(r, dns.edns.NSID)
    assert len(nsid) == 1, r
    assert nsid[0].to_wire() == b"test-nsid"
    r = geodnsd.query("www.example.com", "A", use_edns=0)
    assert not opt_options(r, dns.edns.NSID), "NSID only when asked"


def test_edns_echoed(geodnsd):
    r = geodnsd.query("www.example.com", "A", use_edns=0, payload=4096)
    assert r.edns == 0, "OPT must be returned to an EDNS query"
    assert r.payload == 1232, "we advertise udp-max-payload"
    r = geodnsd.query("www.example.com", "A")
    assert r.edns == -1, "no OPT in the reply to a query without one"
    r = geodnsd.query("nx.example.com", "A", use_edns=0)
    assert r.edns == 0


def test_edns_badvers(geodnsd):
    q = make_query("www.example.com", "A")
    q.use_edns(1, payload=1232)
    wire = q.to_wire()
    assert wire[-5] == 1, "query must carry EDNS version 1"
    r = geodnsd.send(q)
    assert r.rcode() == dns.rcode.BADVERS, (
        "EDNS version 1 needs BADVERS (RFC 6891 6.1.3):\n%s" % r)
    assert r.edns == 0, "the reply's OPT carries our version, 0"
    assert not r.answer


def test_edns_do_bit_copied(geodnsd):
    """RFC 3225 section 3: the DO bit of the query MUST be copied in the
    response (even by a server that has no signatures to add)."""
    for qname, tcp in (("www.example.com", False), ("nx.example.com", False),
                       ("www.example.com", True)):
        r = geodnsd.query(qname, "A", tcp=tcp, use_edns=0, want_dnssec=True)
        assert r.edns == 0
        assert r.ednsflags & dns.flags.DO, "DO not copied for %s%s:\n%s" % (
            qname, " over TCP" if tcp else "", r)
    r = geodnsd.query("www.example.com", "A", use_edns=0)
    assert not r.ednsflags & dns.flags.DO


def test_edns_unknown_option_ignored(geodnsd):
    r = geodnsd.query("www.example.com", "A", use_edns=0, options=[
        dns.edns.GenericOption(65001, b"\xab\xcd")])
    assert_rcode(r, dns.rcode.NOERROR)
    assert len(r.answer[0]) == 3
    assert not opt_options(r, 65001), "unknown options are not echoed"


# ---------------------------------------------------------------- raw packets

def raw_header(id=0x4242, flags=0, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", id, flags, qd, an, ns, ar)


def raw_question(name="www.example.com", rdtype=1, rdclass=1):
    return n(name).to_wire() + struct.pack("!HH", rdtype, rdclass)


def parse_header(wire):
    id_, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", wire[:12])
    return {"id": id_, "qr": flags >> 15, "opcode": (flags >> 11) & 15,
            "rcode": flags & 15, "qd": qd, "an": an}


@pytest.mark.parametrize("label,wire", [
    ("QDCOUNT=0", raw_header(qd=0)),
    ("QDCOUNT=2", raw_header(qd=2) + raw_question() + raw_question()),
])
def test_formerr(geodnsd, label, wire):
    reply = geodnsd.send_wire(wire)
    assert reply is not None, "%s: no reply" % label
    h = parse_header(reply)
    assert h["id"] == 0x4242 and h["qr"] == 1
    assert h["rcode"] == dns.rcode.FORMERR, "%s: rcode %d" % (label,
                                                              h["rcode"])


@pytest.mark.parametrize("opcode", [dns.opcode.STATUS, dns.opcode.NOTIFY])
def test_notimp(geodnsd, opcode):
    reply = geodnsd.send_wire(raw_header(flags=opcode << 11) + raw_question())
    assert reply is not None, "no reply to opcode %d" % opcode
    h = parse_header(reply)
    assert h["qr"] == 1 and h["id"] == 0x4242
    assert h["opcode"] == opcode, "opcode must be echoed"
    assert h["rcode"] == dns.rcode.NOTIMP, "opcode %d: rcode %d" % (
        opcode, h["rcode"])


@pytest.mark.parametrize("opcode", [dns.opcode.STATUS, dns.opcode.NOTIFY,
                                    dns.opcode.UPDATE])
def test_notimp_keeps_edns(geodnsd, opcode):
    """RFC 6891 7: a request with an OPT gets an OPT back, NOTIMP too; a
    NOTIFY's SOA in the answer section is read past to find it."""
    q = dns.message.make_query("example.com", "SOA", use_edns=0,
                               payload=1232, want_dnssec=True)
    q.set_opcode(opcode)
    if opcode == dns.opcode.NOTIFY:
        q.answer.append(dns.rrset.from_text(
            "example.com.", 3600, "IN", "SOA",
            "ns1.example.com. h.example.com. 5 3600 600 86400 300"))
    q.use_edns(0, dns.flags.DO, 1232, options=[dns.edns.GenericOption(3, b"")])
    r = dns.message.from_wire(geodnsd.send_wire(q.to_wire()))
    assert r.rcode() == dns.rcode.NOTIMP and r.opcode() == opcode
    assert r.edns == 0, "no OPT in the reply"
    assert r.ednsflags & dns.flags.DO
    assert [o.otype for o in r.options] == [dns.edns.NSID]
    # A malformed OPT (two of them) still gets NOTIMP, without one.
    wire = bytearray(q.to_wire())
    opt = wire[-(11 + 4):]
    wire[10:12] = struct.pack("!H", 2)
    reply = geodnsd.send_wire(bytes(wire) + bytes(opt))
    assert parse_header(reply)["rcode"] == dns.rcode.NOTIMP
    assert struct.unpack("!H", reply[10:12])[0] == 0


def test_response_packets_dropped(geodnsd):
    """A packet with QR=1 gets no reply (avoids reflection loops)."""
    reply = geodnsd.send_wire(raw_header(flags=0x8000) + raw_question(),
                              timeout=0.5)
    assert reply is None, "replied to a response: %r" % reply
    reply = geodnsd.send_wire(b"\x12\x34\x00", timeout=0.5)
    assert reply is None, "replied to a 3-byte packet"
    r = geodnsd.query("www.example.com", "A")
    assert_rcode(r, dns.rcode.NOERROR)


def ede_of(r):
    return [(o.code, o.text) for o in r.options if o.otype == dns.edns.EDE]


def test_refused_says_why_with_edns(geodnsd):
    """RFC 8914: REFUSED carries an Extended DNS Error when the query had
    EDNS, as NSD and Knot do: Not Authoritative (20) for a name served
    nowhere here, Prohibited (18) for a zone transfer; nothing without
    EDNS, and nothing on an ordinary answer."""
    r = geodnsd.query("www.example.org", "A", use_edns=0)
    assert r.rcode() == dns.rcode.REFUSED and ede_of(r) == [(20, None)], r
    r = geodnsd.query("example.com", "AXFR", tcp=True, use_edns=0)
    assert r.rcode() == dns.rcode.REFUSED, r
    assert ede_of(r) == [(18, "no zone transfers")], r
    r = geodnsd.query("www.example.org", "A")
    assert r.rcode() == dns.rcode.REFUSED and r.edns == -1, r
    r = geodnsd.query("www.example.com", "A", use_edns=0)
    assert r.rcode() == dns.rcode.NOERROR and ede_of(r) == [], r


def test_axfr_refused(geodnsd):
    r = geodnsd.query("example.com", "AXFR", tcp=True)
    assert_rcode(r, dns.rcode.REFUSED)
    assert not r.answer
    r = geodnsd.query("example.com", "IXFR", tcp=True)
    assert r.rcode() in (dns.rcode.REFUSED, dns.rcode.NOTIMP), r
    assert not r.answer
    reply = geodnsd.send_wire(raw_header() + raw_question("example.com", 252))
    assert reply is not None
    assert parse_header(reply)["rcode"] in (dns.rcode.REFUSED,
                                            dns.rcode.NOTIMP,
                                            dns.rcode.FORMERR)
    assert parse_header(reply)["an"] == 0


@pytest.mark.parametrize("rdclass", [4, 254], ids=["HS", "NONE"])
def test_other_classes_refused(geodnsd, rdclass):
    reply = geodnsd.send_wire(raw_header() + raw_question(rdclass=rdclass))
    assert reply is not None
    assert parse_header(reply)["rcode"] in (dns.rcode.REFUSED,
                                            dns.rcode.NOTIMP)
    assert parse_header(reply)["an"] == 0


def malformed_packets():
    """Hand-made broken queries, then seeded random mutations of good ones."""
    import random
    good = make_query("www.example.com", "A", use_edns=0).to_wire()
    q = raw_question()
    pkts = [
        b"", b"\x00", raw_header()[:11],
        raw_header() + q[:5],                              # cut in a label
        raw_header() + b"\x3f" + b"a" * 10,                # label overruns
        raw_header() + b"\x40abc\x00\x00\x01\x00\x01",      # label type 01
        raw_header() + b"\x80abc\x00\x00\x01\x00\x01",      # label type 10
        raw_header() + b"\xc0\x0c\x00\x01\x00\x01",         # pointer to itself
        raw_header() + b"\xc0\x20\x00\x01\x00\x01",         # pointer forward
        raw_header() + b"\x01a\xc0\x0c\x00\x01\x00\x01",     # pointer loop
        raw_header() + (b"\x3f" + b"a" * 63) * 5 + b"\x00\x00\x01\x00\x01",
        raw_header(ar=1) + q,                              # ARCOUNT lies
        raw_header(ar=1) + q + b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\xff\xff",
        raw_header(ar=1) + q + b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x08"
        + b"\x00\x03\x00\x10abcd",                         # option overruns
        raw_header(ar=1) + q + b"\x01a\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00",
        raw_header(qd=0xffff) + q * 3,
        raw_header(an=0xffff, ns=0xffff, ar=0xffff) + q,
        good + b"\x00" * 100,
    ]
    rng = random.Random(4242)
    for _ in range(300):
        b = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        if rng.random() < 0.3:
            del b[rng.randrange(12, len(b)):]
        pkts.append(bytes(b))
    return pkts


def test_malformed_packets_do_not_hurt(geodnsd):
    """Fire a few hundred malformed UDP packets (not waiting for replies),
    and a few over TCP; the server must keep answering correctly."""
    pkts = malformed_packets()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i, p in enumerate(pkts):
            s.sendto(p, ("127.0.0.1", geodnsd.port))
            if i % 50 == 0:
                assert geodnsd.query("www.example.com", "A").answer
    for p in pkts[:20]:
        geodnsd.send_wire(p, tcp=True, timeout=0.3)
    assert geodnsd.running(), geodnsd.stderr
    r = geodnsd.query("www.example.com", "A")
    assert_rcode(r, dns.rcode.NOERROR)
    assert len(r.answer[0]) == 3


def test_still_serving(geodnsd):
    """After all the above, the server is alive and answers."""
    assert geodnsd.running(), geodnsd.stderr
    r = geodnsd.query("example.com", "SOA", tcp=True)
    assert_rcode(r, dns.rcode.NOERROR)


DNAME_ZONE = """$ORIGIN example.org.
$TTL 300
@        SOA   ns1.example.com. hostmaster.example.com. 1 7200 3600 1209600 300
@        NS    ns1.example.com.
@        DNAME example.com.
"""
LOOP_ZONE = """$ORIGIN example.info.
$TTL 300
@        SOA   ns1.example.com. hostmaster.example.com. 1 7200 3600 1209600 300
@        NS    ns1.example.com.
a        DNAME b.example.info.
b        DNAME a.example.info.
"""


def test_dname_at_the_apex_and_loops(make_geodnsd, tmp_path):
    """A DNAME at a zone's apex moves every name below it (RFC 6672 2.3),
    the apex itself keeps its own data; a DNAME loop ends after a bounded
    number of substitutions with the records given so far."""
    org = tmp_path / "example.org.zone"
    org.write_text(DNAME_ZONE)
    info = tmp_path / "example.info.zone"
    info.write_text(LOOP_ZONE)
    zones = list(STANDARD_ZONES) + [("example.org", str(org)),
                                    ("example.info", str(info))]
    srv = make_geodnsd(zones=zones)
    r = srv.query("www.example.org", "A")
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA, r
    got = [(rr.name.to_text(), dns.rdatatype.to_text(rr.rdtype), rr.ttl)
           for rr in r.answer]
    assert got == [("example.org.", "DNAME", 300),
                   ("www.example.org.", "CNAME", 300),
                   ("www.example.com.", "A", 300)], r
    # The apex answers for itself: SOA, and the DNAME when asked.
    r = srv.query("example.org", "SOA")
    assert [dns.rdatatype.to_text(x.rdtype) for x in r.answer] == ["SOA"], r
    r = srv.query("example.org", "DNAME")
    assert [x[0].target.to_text() for x in r.answer] == ["example.com."], r
    # Substituted into a name that does not exist: NXDOMAIN of that name.
    r = srv.query("nope.example.org", "A")
    assert r.rcode() == dns.rcode.NXDOMAIN, r
    assert [x.name.to_text() for x in r.authority] == ["example.com."], r
    # explain follows the substitution as the answer does.
    assert explain_text(srv, "www.example.org") == [
        "www.example.org.: below the DNAME at example.org., so "
        "www.example.com. (RFC 6672); following it",
        "www.example.com.: static records; the same for every client, "
        "ecs scope /0"]
    assert explain_text(srv, "x.a.example.info") == [
        "x.a.example.info.: below the DNAME at a.example.info., so "
        "x.b.example.info. (RFC 6672); following it",
        "x.b.example.info.: below the DNAME at b.example.info., so "
        "x.a.example.info., which closes a loop: resolvers give up "
        "(SERVFAIL)"]
    # x.a -> x.b -> x.a ...: stops, answered with what was synthesized.
    r = srv.query("x.a.example.info", "A")
    assert r.rcode() == dns.rcode.NOERROR, r
    kinds = [dns.rdatatype.to_text(x.rdtype) for x in r.answer]
    assert kinds and set(kinds) == {"DNAME", "CNAME"} and len(kinds) <= 20, r
    assert srv.running()


def explain_text(srv, name):
    r = srv.query(name + ".explain.geodnsd", "TXT", rdclass="CH", tcp=True)
    assert r.rcode() == dns.rcode.NOERROR and r.answer, r
    return [b"".join(rd.strings).decode() for rd in r.answer[0]]


@pytest.mark.parametrize("name, want", [
    ("alias1.example.com", [
        "alias1.example.com.: CNAME to alias2.example.com.; following it",
        "alias2.example.com.: CNAME to www.example.com.; following it",
        "www.example.com.: static records; the same for every client, "
        "ecs scope /0"]),
    ("x.wc-cname.example.com", [
        "x.wc-cname.example.com.: CNAME (from a wildcard) to "
        "www.example.com.; following it",
        "www.example.com.: static records; the same for every client, "
        "ecs scope /0"]),
    ("to-net.example.com", [
        "to-net.example.com.: CNAME to host.example.net.; following it",
        "host.example.net.: static records; the same for every client, "
        "ecs scope /0"]),
    ("to-ext.example.com", [
        "to-ext.example.com.: CNAME to www.example.org.; following it",
        "www.example.org.: not in any zone served here; resolvers follow "
        "the CNAME elsewhere"]),
    ("to-nx.example.com", [
        "to-nx.example.com.: CNAME to nothing-here.example.com.; following it",
        "nothing-here.example.com.: does not exist (NXDOMAIN); ecs scope /0"]),
])
def test_explain_follows_cnames(geodnsd, name, want):
    """explain follows CNAMEs as an A query does, across served zones."""
    assert explain_text(geodnsd, name) == want


def test_explain_usage(geodnsd):
    """explain.geodnsd and geodnsd alone say what can be asked."""
    for name in ("explain.geodnsd", "geodnsd"):
        r = geodnsd.query(name, "TXT", rdclass="CH")
        assert r.rcode() == dns.rcode.NOERROR, r
        lines = [b"".join(rd.strings).decode() for rd in r.answer[0]]
        assert lines[0].startswith("<name>.explain.geodnsd CH TXT: "), lines
        assert lines[1].startswith("status.geodnsd CH TXT: "), lines


def test_explain_cname_loop_ends(geodnsd):
    """Each line is a TXT record of one RRset: a loop ends where it closes
    (a repeated line would be a duplicate record, RFC 2181 5)."""
    q = make_query("loop1.example.com.explain.geodnsd", "TXT", "CH")
    wire = tcp_exchange_wire(q.to_wire(), geodnsd.port)
    # ANCOUNT as sent (a parser would merge duplicate records)
    assert struct.unpack("!H", wire[6:8])[0] == 2, wire
    assert explain_text(geodnsd, "loop1.example.com") == [
        "loop1.example.com.: CNAME to loop2.example.com.; following it",
        "loop2.example.com.: CNAME to loop1.example.com., which closes a "
        "CNAME loop: resolvers give up (SERVFAIL)"]


def test_explain_stops_where_the_answer_does(make_geodnsd, tmp_path):
    """A chain longer than the 8 CNAMEs answers follow: explain stops at
    the same place and says so."""
    zone = tmp_path / "chain.test.zone"
    zone.write_text("$ORIGIN chain.test.\n$TTL 300\n"
                    "@ SOA ns hostmaster 1 7200 3600 1209600 300\n"
                    "@ NS ns\nns A 192.0.2.1\n"
                    + "".join("c%d CNAME c%d\n" % (i, i + 1) for i in range(12))
                    + "c12 A 192.0.2.12\n")
    srv = make_geodnsd(zones=[("chain.test", str(zone))])
    lines = explain_text(srv, "c0.chain.test")
    assert len(lines) == 9, lines
    assert lines[7] == "c7.chain.test.: CNAME to c8.chain.test.; following it"
    assert lines[8] == "c8.chain.test.: CNAME to c9.chain.test.; not " \
        "followed here after 8 CNAMEs (the answer stops there too; " \
        "resolvers go on)"
    r = srv.query("c0.chain.test", "A", tcp=True)
    assert [rr.name.to_text() for rr in r.answer][-1] == "c8.chain.test.", r
