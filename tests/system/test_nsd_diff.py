"""Differential test: geodnsd against NSD 4 serving the same zones.

A few hundred queries are generated from the test zones (every owner name,
empty non-terminals, names that do not exist, names below wildcards,
delegations and ENTs, names outside every zone) times a set of query types,
with varied qname case, EDNS buffer sizes, RD, NSID requests and transport.
Each response is compared section by section, ignoring record order.

Every deliberate difference from NSD is listed in DELIBERATE_DIFFERENCES,
with its reason; nothing else is tolerated.  What NSD does is summarised in
NSD_BEHAVIOUR.md next to this file.
"""

import os
import random
import re

import dns.edns
import dns.flags
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.zone
import pytest

from conftest import NSD, STANDARD_ZONES, ZONES_DIR, make_query

if not (os.path.isfile(NSD) and os.access(NSD, os.X_OK)):
    pytest.skip("NSD not installed (%s): differential test skipped" % NSD,
                allow_module_level=True)

# The only differences from NSD that are accepted, and why.  The key is
# what the comparison code checks for; keep this the single place.
DELIBERATE_DIFFERENCES = {
    "ANY": "RFC 8482: geodnsd answers qtype ANY with a minimal, non-empty "
           "subset of the RRsets at the name.  NSD (minimal-responses) also "
           "returns a single RRset but may choose another one.  Checked "
           "instead: same rcode, flags, question and authority; the answer "
           "is a non-empty subset of the node's RRsets; the additional "
           "section is a subset of what NSD adds for those RRsets' types.",
    "EDE": "RFC 8914 Extended DNS Errors are optional.  NSD adds EDE 20 "
           "(Not Authoritative) to REFUSED answers for names outside its "
           "zones; geodnsd need not.  EDE options are left out of the "
           "comparison; everything else in the OPT record is compared.",
    "GLUE_TC": "RFC 9471 section 3: when the glue for in-domain name "
               "servers does not all fit, the referral MUST have TC=1.  NSD "
               "4.6.1 predates RFC 9471 and sends as much glue as fits "
               "without TC.  Accepted only when NSD's referral lacks some of "
               "the glue NSD itself returns over TCP, and then geodnsd must "
               "answer TC=1 with the same rcode and an empty answer.",
    "MX_SRV_ADDITIONAL": "RFC 1035 3.3.9 and RFC 2782: an MX or SRV answer "
                         "should carry its targets' addresses.  geodnsd "
                         "adds them, as Knot, gdnsd and NSD's default do; "
                         "this NSD runs with minimal-responses, which adds "
                         "none.  Checked instead: everything else as NSD; "
                         "the additional section is exactly the A and "
                         "AAAA records NSD answers with authority for each "
                         "target in the same zone as the MX or SRV (like "
                         "Knot, geodnsd adds none from other zones).",
    "TC_EMPTY": "RFC 2181 section 9: a truncated answer is retried over "
                "TCP, and geodnsd sends no records in it (nothing partial) "
                "and the rcode it had when the packet filled; NSD sends the "
                "RRsets that fit and the final rcode.  Accepted only when "
                "both set TC: geodnsd's answer must then be empty, and both "
                "servers' answers over TCP must be the same.",
}
IGNORED_OPTIONS = {dns.edns.EDE}     # DELIBERATE_DIFFERENCES["EDE"]

# Types whose RRsets exist somewhere in the zones (used to enumerate the
# RRsets at a node for the ANY rule), plus an absent one.
ZONE_TYPES = ["SOA", "NS", "A", "AAAA", "MX", "TXT", "CNAME", "SRV", "NAPTR",
              "CAA", "SSHFP", "TLSA", "DS", "DNAME", "TYPE65400"]
RNG = random.Random(20240101)
ABSENT_TYPE = "TYPE%d" % RNG.randrange(65280, 65399)   # private use, unused
QTYPES = ["A", "AAAA", "MX", "NS", "SOA", "TXT", "CNAME", "SRV", "DS", "ANY",
          "DNAME", "TYPE65400", ABSENT_TYPE]
EDNS_VARIANTS = [None, 512, 1232, 4096]
# Buffer sizes for the truncation-sensitive names; < 512 means 512
# (RFC 6891 6.2.5).
TRUNC_EDNS_VARIANTS = [None, 100, 512, 1232, 4096]


def load_zone(name, path):
    """Parse a test zone with dnspython; $INCLUDE is resolved relative to
    the zone file's directory."""
    with open(path) as f:
        text = f.read()
    text = re.sub(r"^\$INCLUDE\s+(\S+)",
                  lambda m: "$INCLUDE " + os.path.join(ZONES_DIR, m.group(1)),
                  text, flags=re.M)
    return dns.zone.from_text(text, origin=name, relativize=False,
                              allow_include=True, check_origin=True)


def zone_names():
    """Every owner name in the zones plus the empty non-terminals."""
    names = set()
    for zname, path in STANDARD_ZONES:
        zone = load_zone(zname, path)
        origin = zone.origin
        for owner in zone.nodes:
            names.add(owner)
            n = owner
            while n != origin and len(n) > 1:
                n = n.parent()
                names.add(n)
    return names


# Names that do not exist, or only exist by synthesis, and names outside
# every zone.
EXTRA_NAMES = [
    "nx.example.com", "nothing-here.example.com", "x.y.nx.example.com",
    "foo.wild.example.com", "a.b.foo.wild.example.com", "x.host.wild.example.com",
    "ghost.*.wild.example.com", "foo.ent.wild.example.com",
    "x._tcp.ent.wild.example.com", "q.y.*.wc-ent.example.com",
    "foo.wc-ent.example.com", "x.wc-cname.example.com",
    "a.b.x.wc-cname.example.com", "x.b.c.example.com", "x.a.b.c.example.com",
    "host.other.example.com", "a.b.other.example.com",
    "ns.other.example.com", "x.net-ns.example.com",
    "nx.sub.example.com", "x.wild.sub.example.com", "x.ent.sub.example.com",
    "a.deep.ent.sub.example.com", "nx.example.net", "x.www.example.net",
    "_sip._tcp.nx.example.com", "*.example.com", "mixedcase.example.com",
    # below DNAMEs (RFC 6672): into example.com, outside every zone, and
    # substitutes that fit or overflow 255 octets (YXDOMAIN)
    "www.dn.example.net", "nx.dn.example.net", "a.b.dn.example.net",
    "back.dn.example.net", "x.dn-out.example.net",
    "x" * 45 + ".dn-long.example.net",
    "a" * 30 + "." + "b" * 30 + ".dn-long.example.net",
    # outside every zone: REFUSED
    "example.org", "www.example.org", "com", "net", ".", "example",
    "xexample.com", "example.com.evil.org",
]


def random_case(name, rng):
    text = name.to_text() if isinstance(name, dns.name.Name) else name
    return "".join(c.upper() if rng.random() < 0.5 else c.lower()
                   for c in text)


def generate_cases():
    rng = random.Random(1)
    names = sorted({n.to_text() for n in zone_names()} |
                   {dns.name.from_text(n).to_text() for n in EXTRA_NAMES})
    cases = []
    i = 0
    for name in names:
        for qtype in QTYPES:
            i += 1
            qname = random_case(name, rng) if i % 3 == 0 else name
            edns = EDNS_VARIANTS[i % len(EDNS_VARIANTS)]
            tcp = i % 7 == 0
            rd = i % 5 == 0
            nsid = edns is not None and i % 11 == 0
            do = edns is not None and i % 13 == 0
            cases.append((qname, qtype, edns, tcp, rd, nsid, do))
    # Truncation-sensitive names with every EDNS size and both transports.
    for name, qtype in (("big.example.com", "A"), ("huge.example.com", "A"),
                        ("bigtxt.example.com", "TXT"),
                        ("example.com", "NS"),
                        ("x.many-ns.example.com", "A")):
        for edns in TRUNC_EDNS_VARIANTS:
            for tcp in (False, True):
                cases.append((name, qtype, edns, tcp, False, False,
                              edns == 1232))
    return cases


CASES = generate_cases()


def case_id(case):
    qname, qtype, edns, tcp, rd, nsid, do = case
    return "%s/%s/%s%s%s%s%s" % (qname, qtype, "tcp" if tcp else "udp",
                                 "" if edns is None else "-edns%d" % edns,
                                 "-rd" if rd else "", "-nsid" if nsid else "",
                                 "-do" if do else "")


def build_query(case):
    qname, qtype, edns, tcp, rd, nsid, do = case
    kwargs = {}
    if edns is not None:
        kwargs["use_edns"] = 0
        kwargs["payload"] = edns
        kwargs["want_dnssec"] = do
        if nsid:
            kwargs["options"] = [dns.edns.GenericOption(dns.edns.NSID, b"")]
    q = make_query(qname, qtype, flags=dns.flags.RD if rd else 0, **kwargs)
    return q


# ---------------------------------------------------------------- compare

FLAGS = [("QR", dns.flags.QR), ("AA", dns.flags.AA), ("TC", dns.flags.TC),
         ("RD", dns.flags.RD), ("RA", dns.flags.RA)]


def rr_set(section):
    """A section as a set of comparable records (owner lower-cased)."""
    out = set()
    for rrset in section:
        for rd in rrset:
            out.add((rrset.name.to_text().lower(), rrset.rdclass, rrset.rdtype,
                     rrset.ttl, rd.to_digestable(dns.name.root)))
    return out


def rr_text(records):
    return sorted("%s %d %s %s %s" % (o, ttl, dns.rdataclass.to_text(c),
                                      dns.rdatatype.to_text(t), d.hex())
                  for o, c, t, ttl, d in records)


def header(msg, ignore_flags=()):
    return {
        "rcode": dns.rcode.to_text(msg.rcode()),
        "opcode": msg.opcode(),
        "flags": " ".join(n for n, f in FLAGS
                          if msg.flags & f and n not in ignore_flags),
        "question": [(q.name.to_text(), dns.rdatatype.to_text(q.rdtype),
                      dns.rdataclass.to_text(q.rdclass))
                     for q in msg.question],
        "edns": msg.edns,
        "payload": msg.payload if msg.edns >= 0 else None,
        "ednsflags (DO)": msg.ednsflags if msg.edns >= 0 else None,
        "options": sorted((o.otype, o.to_wire()) for o in msg.options
                          if o.otype not in IGNORED_OPTIONS)
        if msg.edns >= 0 else None,
    }


def diff(ours, theirs, sections=("answer", "authority", "additional"),
         ignore_flags=()):
    """List of human-readable differences between two responses."""
    problems = []
    h1, h2 = header(ours, ignore_flags), header(theirs, ignore_flags)
    for key in h1:
        if h1[key] != h2[key]:
            problems.append("%s: geodnsd %r, nsd %r" % (key, h1[key], h2[key]))
    for sec in sections:
        a, b = rr_set(getattr(ours, sec)), rr_set(getattr(theirs, sec))
        if a != b:
            problems.append("%s: geodnsd has %s, nsd has %s" % (
                sec, rr_text(a - b) or "nothing more",
                rr_text(b - a) or "nothing more"))
    return problems


def format_msg(label, msg):
    return "---- %s ----\n%s" % (label, msg.to_text())


# ---------------------------------------------------------------- tests

def exchange(server, q, tcp):
    return server.send(q, tcp=tcp)


@pytest.fixture(scope="module")
def servers(geodnsd, nsd):
    return geodnsd, nsd


def node_rrsets(nsd, qname, tcp):
    """Records of every RRset at qname, as NSD answers them one type at a
    time, and the additional records NSD adds for each type."""
    records, additional = set(), {}
    for t in ZONE_TYPES:
        r = nsd.send(make_query(qname, t, use_edns=0, payload=4096), tcp=True)
        owner = qname.lower().rstrip(".") + "."
        ans = {x for x in rr_set(r.answer) if x[0] == owner and
               x[2] == dns.rdatatype.from_text(t)}
        records |= ans
        additional[dns.rdatatype.from_text(t)] = rr_set(r.additional)
    return records, additional


def zone_of(name):
    """The served zone (apex) that holds name, or None."""
    best = None
    for apex, _ in STANDARD_ZONES:
        a = dns.name.from_text(apex)
        if name.is_subdomain(a) and (best is None or a.is_subdomain(best)):
            best = a
    return best


def target_addresses(nsd, answer):
    """The A and AAAA records, as NSD answers them with authority, of the
    MX and SRV targets in answer that are in the MX or SRV's own zone
    (DELIBERATE_DIFFERENCES["MX_SRV_ADDITIONAL"]): what geodnsd puts in
    additional for them."""
    want = set()
    for rrset in answer:
        if rrset.rdtype not in (dns.rdatatype.MX, dns.rdatatype.SRV):
            continue
        for rd in rrset:
            target = rd.exchange if rrset.rdtype == dns.rdatatype.MX else rd.target
            if zone_of(target) != zone_of(rrset.name):
                continue
            for t in ("A", "AAAA"):
                r = nsd.send(make_query(target.to_text(), t), tcp=True)
                if r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA:
                    want |= {x for x in rr_set(r.answer)
                             if x[0] == target.to_text().lower()}
    return want


def diff_mx_srv(ours, theirs, nsd):
    """diff(), but with DELIBERATE_DIFFERENCES["MX_SRV_ADDITIONAL"] for an
    answer with MX or SRV records."""
    if (theirs.additional or ours.flags & dns.flags.TC or
            not any(r.rdtype in (dns.rdatatype.MX, dns.rdatatype.SRV)
                    for r in theirs.answer)):
        return diff(ours, theirs)
    problems = diff(ours, theirs, sections=("answer", "authority"))
    got, want = rr_set(ours.additional), target_addresses(nsd, theirs.answer)
    if got != want:
        problems.append("MX_SRV_ADDITIONAL: geodnsd has %s, targets have %s"
                        % (rr_text(got) or "nothing", rr_text(want) or "nothing"))
    return problems


def is_referral(msg):
    return (msg.rcode() == dns.rcode.NOERROR and not msg.answer and
            not msg.flags & dns.flags.AA and
            any(r.rdtype == dns.rdatatype.NS for r in msg.authority))


def glue_tc_difference(ours, theirs, nsd, q):
    """True when NSD sent a referral without all of its glue (no TC) and
    geodnsd set TC instead (RFC 9471)."""
    if not (ours.flags & dns.flags.TC) or theirs.flags & dns.flags.TC:
        return False
    if not is_referral(theirs):
        return False
    full = nsd.send(q, tcp=True)
    return rr_set(theirs.additional) < rr_set(full.additional)


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_same_as_nsd(servers, case):
    ours_srv, nsd = servers
    qname, qtype, edns, tcp, rd, nsid, do = case
    q = build_query(case)
    ours = exchange(ours_srv, q, tcp)
    theirs = exchange(nsd, q, tcp)
    context = "\n%s\n%s" % (format_msg("geodnsd", ours),
                            format_msg("nsd", theirs))

    synthesized = any(r.rdtype == dns.rdatatype.DNAME and r.name != q.question[0].name
                      for r in theirs.answer)
    if ours.flags & dns.flags.TC and theirs.flags & dns.flags.TC and tcp is False:
        # DELIBERATE_DIFFERENCES["TC_EMPTY"]
        problems = []
        if ours.answer or ours.authority:
            problems.append("TC_EMPTY: geodnsd's truncated answer has records")
        problems += ["over TCP: " + p for p in diff(exchange(ours_srv, q, True),
                                                    exchange(nsd, q, True))]
    elif qtype == "ANY" and theirs.answer and not synthesized:
        # DELIBERATE_DIFFERENCES["ANY"]
        problems = diff(ours, theirs, sections=("authority",))
        got = rr_set(ours.answer)
        allowed, extra = node_rrsets(nsd, qname, tcp)
        if not got:
            problems.append("ANY: geodnsd answer is empty")
        elif not got <= allowed:
            problems.append("ANY: geodnsd answer has records that are not "
                            "at the node: %s" % rr_text(got - allowed))
        allowed_add = target_addresses(nsd, ours.answer)
        for t in {x[2] for x in got}:
            allowed_add |= extra.get(t, set())
        got_add = rr_set(ours.additional)
        if not got_add <= allowed_add:
            problems.append("ANY: unexpected additional records %s"
                            % rr_text(got_add - allowed_add))
    elif glue_tc_difference(ours, theirs, nsd, q):
        # DELIBERATE_DIFFERENCES["GLUE_TC"]
        problems = diff(ours, theirs, sections=(), ignore_flags=("TC",))
        if ours.answer:
            problems.append("GLUE_TC: answer should be empty")
    else:
        problems = diff_mx_srv(ours, theirs, nsd)
    assert not problems, "\n".join(problems) + context


# QCLASS ANY (255): answered from the IN data, as NSD does.  Neither server
# can speak for classes it does not serve, so the answers carry no AA
# (RFC 1035 6.2: a QCLASS * answer is not authoritative unless the server
# knows it holds every class), including NXDOMAIN.
CLASS_ANY_CASES = [
    ("www.example.com", "A"), ("example.com", "SOA"), ("example.com", "NS"),
    ("nx.example.com", "A"), ("nx.example.com", "AAAA"),
    ("foo.wild.example.com", "A"), ("mixedcase.example.com", "TXT"),
    ("x.sub.example.com", "A"), ("nx.sub.example.com", "A"),
    ("www.dn.example.net", "A"), ("www.example.org", "A"),
    ("example.com", "MX"), ("x.wc-cname.example.com", "A"),
]


@pytest.mark.parametrize("case", CLASS_ANY_CASES,
                         ids=["%s/%s/class-any" % c for c in CLASS_ANY_CASES])
def test_class_any_same_as_nsd(servers, case):
    ours_srv, nsd = servers
    q = make_query(case[0], case[1], rdclass="ANY", use_edns=0, payload=1232)
    for tcp in (False, True):
        ours = exchange(ours_srv, q, tcp)
        theirs = exchange(nsd, q, tcp)
        problems = diff_mx_srv(ours, theirs, nsd)
        assert not problems, "\n".join(problems) + "\n%s\n%s" % (
            format_msg("geodnsd", ours), format_msg("nsd", theirs))


def test_deliberate_differences_documented():
    """Every tolerated difference carries a reason."""
    for key, reason in DELIBERATE_DIFFERENCES.items():
        assert key and len(reason) > 20


def test_case_count():
    """The generator really produces a few hundred queries."""
    assert len(CASES) >= 300
    assert any(c[3] for c in CASES) and any(c[2] for c in CASES)
