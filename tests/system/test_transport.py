"""UDP truncation, EDNS buffer sizes, TCP framing, pipelining, idle timeout,
the TCP connection cap and IPv6 listening."""

import errno
import os
import re
import socket
import time

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from conftest import (GEODNSD, Geodnsd, free_port, ipv6_loopback_available,
                      make_query, tcp_connect, tcp_recv_msg, tcp_send_msg,
                      wait_until)


def answer_count(msg):
    return sum(len(r) for r in msg.answer)


def is_tc(msg):
    return bool(msg.flags & dns.flags.TC)


# ---------------------------------------------------------------- UDP / EDNS

def test_udp_truncation_without_edns(geodnsd):
    """40 A records (~670 bytes) do not fit in 512: TC=1, nothing partial."""
    r = geodnsd.query("big.example.com", "A")
    assert is_tc(r), "expected TC=1:\n%s" % r
    assert r.rcode() == dns.rcode.NOERROR
    assert not r.answer, "a truncated reply carries no partial RRset:\n%s" % r
    assert len(r.question) == 1
    assert r.edns == -1
    r = geodnsd.query("big.example.com", "A", tcp=True)
    assert not is_tc(r)
    assert answer_count(r) == 40


def test_small_answer_not_truncated(geodnsd):
    r = geodnsd.query("www.example.com", "A")
    assert not is_tc(r) and answer_count(r) == 3


def test_edns_512_still_truncates(geodnsd):
    r = geodnsd.query("big.example.com", "A", use_edns=0, payload=512)
    assert is_tc(r) and not r.answer
    assert r.edns == 0, "OPT kept in a truncated EDNS reply"


def test_edns_buffer_allows_bigger_answers(geodnsd):
    r = geodnsd.query("big.example.com", "A", use_edns=0, payload=1232)
    assert not is_tc(r), r
    assert answer_count(r) == 40


@pytest.mark.parametrize("payload", [1232, 4096, 65535])
def test_edns_capped_at_udp_max_payload(geodnsd, payload):
    """huge (100 A, ~1650 bytes) exceeds udp-max-payload 1232 whatever the
    client offers."""
    q = make_query("huge.example.com", "A", use_edns=0, payload=payload)
    wire = geodnsd.send_wire(q.to_wire())
    assert wire is not None
    assert len(wire) <= 1232, "UDP reply of %d bytes > 1232" % len(wire)
    r = dns.message.from_wire(wire)
    assert is_tc(r) and not r.answer, r
    r = geodnsd.query("bigtxt.example.com", "TXT", use_edns=0,
                      payload=payload)
    assert is_tc(r) and not r.answer


def test_tcp_never_truncated(geodnsd):
    r = geodnsd.query("huge.example.com", "A", tcp=True, use_edns=0,
                      payload=512)
    assert not is_tc(r) and answer_count(r) == 100
    r = geodnsd.query("bigtxt.example.com", "TXT", tcp=True)
    assert not is_tc(r) and answer_count(r) == 1


def test_udp_max_payload_config(make_geodnsd):
    srv = make_geodnsd(udp_max_payload=4096)
    r = srv.query("huge.example.com", "A", use_edns=0, payload=4096)
    assert not is_tc(r) and answer_count(r) == 100, r
    assert r.payload == 4096
    r = srv.query("huge.example.com", "A", use_edns=0, payload=1232)
    assert is_tc(r), "the client's smaller buffer wins"


# ---------------------------------------------------------------- TCP

def test_tcp_several_queries_one_connection(geodnsd):
    with tcp_connect(geodnsd.port) as s:
        for i, name in enumerate(("www.example.com", "nx.example.com",
                                  "big.example.com")):
            q = make_query(name, "A")
            q.id = 1000 + i
            tcp_send_msg(s, q.to_wire())
            wire = tcp_recv_msg(s)
            assert wire is not None, "connection closed after %d" % i
            r = dns.message.from_wire(wire)
            assert r.id == 1000 + i and r.question[0].name == q.question[0].name


def test_tcp_pipelined(geodnsd):
    """Three framed queries in one write: three answers, matched by ID."""
    names = {2001: "www.example.com", 2002: "huge.example.com",
             2003: "nx.example.net"}
    data = b""
    for qid, name in names.items():
        q = make_query(name, "A")
        q.id = qid
        w = q.to_wire()
        data += len(w).to_bytes(2, "big") + w
    with tcp_connect(geodnsd.port) as s:
        s.sendall(data)
        got = {}
        for _ in names:
            wire = tcp_recv_msg(s)
            assert wire is not None, "closed after %d answers" % len(got)
            r = dns.message.from_wire(wire)
            got[r.id] = r
    assert set(got) == set(names)
    for qid, name in names.items():
        assert got[qid].question[0].name.to_text() == name + "."
    assert answer_count(got[2002]) == 100
    assert got[2003].rcode() == dns.rcode.NXDOMAIN


def test_tcp_split_writes(geodnsd):
    """The length prefix and the message may arrive in pieces."""
    q = make_query("www.example.com", "A")
    w = q.to_wire()
    framed = len(w).to_bytes(2, "big") + w
    with tcp_connect(geodnsd.port) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for piece in (framed[:1], framed[1:5], framed[5:]):
            s.sendall(piece)
            time.sleep(0.05)
        wire = tcp_recv_msg(s)
    assert wire is not None
    assert dns.message.from_wire(wire).id == q.id


def wait_closed(sock, timeout):
    """Seconds until the peer closes sock, or None if still open."""
    start = time.monotonic()
    sock.settimeout(timeout)
    try:
        data = sock.recv(1)
    except socket.timeout:
        return None
    except ConnectionResetError:
        data = b""
    assert data == b"", "unexpected data %r" % data
    return time.monotonic() - start


def test_tcp_idle_timeout(make_geodnsd):
    srv = make_geodnsd(tcp_idle_timeout=1)
    with tcp_connect(srv.port) as s:
        # Idle after one answered query.
        q = make_query("www.example.com", "A")
        tcp_send_msg(s, q.to_wire())
        assert tcp_recv_msg(s) is not None
        elapsed = wait_closed(s, 4.0)
    assert elapsed is not None, "idle connection not closed within 4 s"
    assert elapsed < 3.0, "closed after %.1f s, timeout is 1 s" % elapsed
    with tcp_connect(srv.port) as s:      # never sent anything
        elapsed = wait_closed(s, 4.0)
    assert elapsed is not None and elapsed < 3.0


KEEPALIVE = 11  # RFC 7828 edns-tcp-keepalive


def keepalive_query(name, timeout=None):
    """A query with the edns-tcp-keepalive option, as clients send it (no
    TIMEOUT) or, with timeout, as only servers may."""
    data = b"" if timeout is None else timeout.to_bytes(2, "big")
    return make_query(name, "A", use_edns=0, options=[
        dns.edns.GenericOption(KEEPALIVE, data)])


def keepalive_of(msg):
    """The TIMEOUT of the reply's keepalive option; None when absent."""
    for o in msg.options:
        if o.otype == KEEPALIVE:
            data = o.to_wire()
            assert len(data) == 2, "keepalive option of length %d" % len(data)
            return int.from_bytes(data, "big")
    return None


def test_tcp_keepalive_names_the_idle_timeout(make_geodnsd):
    """RFC 7828: a TCP answer carries the connection's idle timeout in
    100 ms units, the timeout the server then keeps; a reload that
    changes tcp-idle-timeout (bound at start-up) does not change it."""
    srv = make_geodnsd(tcp_idle_timeout=2)
    with tcp_connect(srv.port) as s:
        tcp_send_msg(s, keepalive_query("www.example.com").to_wire())
        r = dns.message.from_wire(tcp_recv_msg(s))
        assert r.rcode() == dns.rcode.NOERROR and answer_count(r) > 0
        assert keepalive_of(r) == 20
        elapsed = wait_closed(s, 6.0)
    assert elapsed is not None and 1.0 < elapsed < 4.0, \
        "closed after %r s, advertised 2.0 s" % elapsed

    plain = srv.send(make_query("www.example.com", "A", use_edns=0), tcp=True)
    assert plain.edns == 0 and keepalive_of(plain) is None, \
        "sent to a client that did not ask"
    udp = srv.send(keepalive_query("www.example.com"))
    assert udp.rcode() == dns.rcode.NOERROR and keepalive_of(udp) is None, \
        "RFC 7828 3.2.2: never over UDP"

    srv.server_opts["tcp-idle-timeout"] = 30
    srv.write_config()
    srv.reload(lambda: "differs from the running process" in srv.stderr)
    r = srv.send(keepalive_query("www.example.com"), tcp=True)
    assert keepalive_of(r) == 20, "the running timeout, not the file's"


def test_tcp_keepalive_with_timeout_in_query(geodnsd):
    """RFC 7828 3.2.1: a query carries no TIMEOUT.  Over TCP that is
    FORMERR with a reason; over UDP the option is ignored."""
    q = keepalive_query("www.example.com", timeout=600)
    r = geodnsd.send(q, tcp=True)
    assert r.rcode() == dns.rcode.FORMERR and r.edns == 0
    ede = [o for o in r.options if o.otype == 15]
    assert ede and "RFC 7828" in ede[0].text
    r = geodnsd.send(q)
    assert r.rcode() == dns.rcode.NOERROR and answer_count(r) > 0
    assert keepalive_of(r) is None


def tcp_works(port, timeout=1.0):
    try:
        with tcp_connect(port, timeout=timeout) as s:
            tcp_send_msg(s, make_query("www.example.com", "A").to_wire())
            return tcp_recv_msg(s) is not None
    except OSError:
        return False


def test_tcp_connection_cap(make_geodnsd):
    srv = make_geodnsd(tcp_max_connections=3)
    held = []
    try:
        for _ in range(3):
            s = tcp_connect(srv.port)
            held.append(s)
            tcp_send_msg(s, make_query("www.example.com", "A").to_wire())
            assert tcp_recv_msg(s) is not None, "one of the first 3 failed"
        # The 4th gets no service: closed, reset, or no answer in time.
        extra = tcp_connect(srv.port, timeout=1.0)
        held.append(extra)
        served = False
        try:
            tcp_send_msg(extra, make_query("www.example.com", "A").to_wire())
            served = tcp_recv_msg(extra) is not None
        except OSError:
            pass
        assert not served, "a 4th TCP connection was served with a cap of 3"
        # UDP is unaffected.
        assert srv.query("www.example.com", "A").rcode() == dns.rcode.NOERROR
        held.pop().close()
        held.pop(0).close()
        assert wait_until(lambda: tcp_works(srv.port), 5.0), \
            "no TCP service after closing a connection"
    finally:
        for s in held:
            s.close()
    assert srv.running()


def cpu_seconds(pid):
    """User plus system CPU time of pid so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_out_of_descriptors_pauses_accepting(tmp_path):
    """With too few file descriptors, accept() fails with EMFILE while the
    connection waits in the kernel's queue.  libevent then retried at once,
    forever: a core at 100 % and hundreds of thousands of unformatted
    '[warn] Error from accept() call' lines a second, on the DNS and the
    metrics listeners alike.  Now the start-up warns that the limit is
    short and takes fewer TCP connections, keeping descriptors for probes
    and files; a listener that still hits the limit (here the metrics
    listener uses them up, then DNS TCP finds none) pauses for a second
    with one log line; UDP keeps answering; TCP serves again once
    connections close."""
    mport = free_port()
    srv = Geodnsd(tmp_path, tcp_max_connections=1000)
    srv.write_config(srv.config_text()
                     + "metrics:\n  listen: 127.0.0.1@%d\n" % mport)
    srv.argv = lambda: ["prlimit", "--nofile=48:48", GEODNSD, "-c",
                        srv.config_path]
    srv.start()
    try:
        out_of_descriptors(srv, mport)
    finally:
        srv.kill()      # not a fixture's server: nothing else stops it


def out_of_descriptors(srv, mport):
    assert re.search(r"tcp-max-connections 1000 needs about \d+ file "
                     r"descriptors, and the limit is 48 \(RLIMIT_NOFILE; "
                     r"systemd's LimitNOFILE=\): at most 1 TCP connection at "
                     r"once, keeping \d+ for sockets, probes and files",
                     srv.stderr), srv.stderr
    held = []
    try:
        for port in (mport, srv.port):
            for _ in range(50):
                held.append(tcp_connect(port))
        cpu0 = cpu_seconds(srv.proc.pid)
        time.sleep(3)
        used = cpu_seconds(srv.proc.pid) - cpu0
        assert srv.query("www.example.com", "A").rcode() == dns.rcode.NOERROR
        err = srv.stderr
        assert used < 1.0, "%.2f s of CPU in 3 s: accept() spins" % used
        assert "Error from accept" not in err and "[warn]" not in err, \
            err[-2000:]
        lines = [l for l in err.splitlines() if "cannot accept" in l]
        assert any(l.startswith("geodnsd: warning: server: tcp 127.0.0.1@%d: "
                                "cannot accept a connection: Too many open "
                                "files; new connections wait 1 s" % srv.port)
                   for l in lines), err
        assert any("metrics 127.0.0.1@%d: cannot accept" % mport in l
                   for l in lines), err
        assert len(lines) <= 4, "one line per listener per minute:\n" + \
            "\n".join(lines)
    finally:
        for s in held:
            s.close()
    assert wait_until(lambda: tcp_works(srv.port), 10.0), \
        "no TCP service after the connections closed:\n" + srv.stderr
    assert srv.running()


def test_tcp_many_concurrent_connections(geodnsd):
    """40 connections open at once, each pipelining two queries."""
    socks = []
    try:
        for i in range(40):
            s = tcp_connect(geodnsd.port)
            socks.append(s)
            for j in range(2):
                q = make_query("www.example.com", "A")
                q.id = i * 2 + j
                tcp_send_msg(s, q.to_wire())
        for i, s in enumerate(socks):
            ids = set()
            for _ in range(2):
                wire = tcp_recv_msg(s)
                assert wire is not None, "connection %d closed" % i
                ids.add(dns.message.from_wire(wire).id)
            assert ids == {i * 2, i * 2 + 1}
    finally:
        for s in socks:
            s.close()


def test_tcp_client_closing_early(geodnsd):
    """Half a message then close, or a close right after connect: the
    server shrugs it off."""
    for data in (b"", b"\x00", b"\x00\x40\x12\x34"):
        s = tcp_connect(geodnsd.port)
        if data:
            s.sendall(data)
        s.close()
    assert tcp_works(geodnsd.port)
    assert geodnsd.running()


# ---------------------------------------------------------------- IPv6

@pytest.mark.skipif(not ipv6_loopback_available(), reason="::1 unavailable")
def test_ipv6_listen(make_geodnsd, tmp_path):
    from conftest import free_port
    port = free_port(socket.AF_INET6, "::1")
    srv = make_geodnsd(port=port, listen=["127.0.0.1@%d" % port,
                                          "::1@%d" % port])
    srv.host = "::1"
    r = srv.query("www.example.com", "AAAA")
    assert r.rcode() == dns.rcode.NOERROR and answer_count(r) == 2
    r = srv.query("www.example.com", "AAAA", tcp=True)
    assert answer_count(r) == 2
    srv.host = "127.0.0.1"
    assert srv.query("www.example.com", "A").rcode() == dns.rcode.NOERROR


def reply_source(dest, port, family=socket.AF_INET):
    """Send one UDP query to (dest, port) from an unconnected socket and
    return the address the reply came from."""
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.settimeout(3)
    try:
        s.sendto(make_query("www.example.com", "A").to_wire(), (dest, port))
        data, src = s.recvfrom(65535)
    finally:
        s.close()
    assert dns.message.from_wire(data).rcode() == dns.rcode.NOERROR
    return src[:2]


def test_udp_reply_from_query_destination_on_wildcard(make_geodnsd):
    """Listening on 0.0.0.0, every reply leaves from the address its query
    was sent to (IP_PKTINFO), so a resolver that checks the source accepts
    it: 127.0.0.2 and 127.0.0.3 are answered as such, not as 127.0.0.1."""
    from conftest import free_port
    port = free_port(socket.AF_INET, "0.0.0.0")
    srv = make_geodnsd(port=port, listen=["0.0.0.0@%d" % port])
    assert srv.query("www.example.com", "A").rcode() == dns.rcode.NOERROR
    for dest in ("127.0.0.1", "127.0.0.2", "127.0.0.3"):
        assert reply_source(dest, port) == (dest, port)


def test_udp_reply_from_bound_address(make_geodnsd):
    """Bound to one address (no IP_PKTINFO needed), replies come from it."""
    from conftest import free_port
    port = free_port(socket.AF_INET, "127.0.0.1")
    srv = make_geodnsd(port=port, listen=["127.0.0.1@%d" % port])
    assert srv.query("www.example.com", "A").rcode() == dns.rcode.NOERROR
    assert reply_source("127.0.0.1", port) == ("127.0.0.1", port)


@pytest.mark.skipif(not ipv6_loopback_available(), reason="::1 unavailable")
def test_udp_reply_from_query_destination_on_ipv6_wildcard(make_geodnsd):
    from conftest import free_port
    port = free_port(socket.AF_INET6, "::")
    srv = make_geodnsd(port=port, listen=["127.0.0.1@%d" % port,
                                          "::@%d" % port])
    assert srv.query("www.example.com", "A").rcode() == dns.rcode.NOERROR
    assert reply_source("::1", port, socket.AF_INET6) == ("::1", port)


# ------------------------------------------- fragmentation (RFC 9715 3.1)
#
# These run in a network namespace of their own (unshare(2), so root
# only), whose loopback gets a 1280-octet MTU: a UDP answer of 1,650
# octets then cannot leave without fragments.  setns(2) puts this pytest
# thread back in the original namespace afterwards; servers started inside
# stay there and die with the test.

CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS, SIOCSIFFLAGS, SIOCSIFMTU = 0x8913, 0x8914, 0x8922
IFF_UP = 0x1


@pytest.fixture
def small_mtu_netns():
    import ctypes
    import fcntl
    import struct
    if os.geteuid() != 0:
        pytest.skip("needs root: the test makes its own network namespace")
    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        if libc.unshare(CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            if err == errno.EPERM:
                pytest.skip("unshare(CLONE_NEWNET): %s (root without "
                            "CAP_SYS_ADMIN, as in a container)"
                            % os.strerror(err))
            pytest.fail("unshare(CLONE_NEWNET): %s" % os.strerror(err))
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            req = struct.pack("16si", b"lo", 1280).ljust(40, b"\0")
            fcntl.ioctl(s, SIOCSIFMTU, req)
            flags = struct.unpack_from(
                "16sH", fcntl.ioctl(s, SIOCGIFFLAGS, b"lo".ljust(40, b"\0")))[1]
            fcntl.ioctl(s, SIOCSIFFLAGS,
                        struct.pack("16sH", b"lo", flags | IFF_UP).ljust(40, b"\0"))
        finally:
            s.close()
        yield 1280
    finally:
        if libc.setns(home, CLONE_NEWNET) != 0:
            pytest.fail("setns back: %s" % os.strerror(ctypes.get_errno()))
        os.close(home)


def capture_reply(port, send):
    """Call send(), and return the IPv4 header of the first UDP datagram
    from port seen on lo (AF_PACKET, bounded by a 3 s timeout)."""
    import struct
    cap = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM,
                        socket.htons(0x0800))
    cap.bind(("lo", 0))
    cap.settimeout(3)
    try:
        send()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                pkt = cap.recv(65535)
            except socket.timeout:
                break
            ihl = (pkt[0] & 0x0F) * 4
            if pkt[9] == 17 and struct.unpack("!H", pkt[ihl:ihl + 2])[0] == port:
                return pkt[:ihl]
    finally:
        cap.close()
    pytest.fail("no reply from port %d captured" % port)


def test_udp_answers_never_fragmented(small_mtu_netns, make_geodnsd):
    """An answer larger than the interface MTU is not fragmented: the
    datagram carries DF, the kernel refuses it (EMSGSIZE), and geodnsd sends
    the same answer cut to TC with the OPT kept, so the client retries over
    TCP.  Answers that fit go out whole, with DF."""
    import struct
    import urllib.request
    from conftest import free_port, metric
    srv = make_geodnsd(udp_max_payload=4096, start=False)
    mport = free_port()
    srv.write_config(srv.config_text() +
                     "metrics:\n  listen: 127.0.0.1@%d\n" % mport)
    srv.start()

    def counters():
        url = "http://127.0.0.1:%d/metrics" % mport
        with urllib.request.urlopen(url, timeout=3) as f:
            text = f.read().decode()
        return {name: metric(text, name)
                for name in ("geodnsd_truncated_total", "geodnsd_dropped_total")}

    before = counters()
    r = srv.query("huge.example.com", "A", use_edns=0, payload=4096)
    assert is_tc(r) and not r.answer and not r.authority, r
    # The cut answer went out: counted once as truncated, not as dropped.
    # The worker counts it once sendmmsg() returns, which may be after the
    # reply has arrived here: wait for it (bounded).
    from conftest import wait_until
    want = before["geodnsd_truncated_total"] + 1
    wait_until(lambda: counters()["geodnsd_truncated_total"] >= want, 3,
               interval=0.05)
    after = counters()
    assert after["geodnsd_truncated_total"] == want, after
    assert after["geodnsd_dropped_total"] == before["geodnsd_dropped_total"], after
    assert r.edns == 0 and r.payload == 4096, "OPT kept:\n%s" % r
    assert r.rcode() == dns.rcode.NOERROR
    assert r.flags & dns.flags.AA
    assert str(r.question[0].name) == "huge.example.com."
    r = srv.query("huge.example.com", "A", tcp=True)
    assert answer_count(r) == 100, "TCP still carries it all"
    # 40 A records (~670 octets) fit in the 1280 MTU: whole, not cut.
    r = srv.query("big.example.com", "A", use_edns=0, payload=4096)
    assert not is_tc(r) and answer_count(r) == 40, r
    # And every datagram leaves with DF set (IP ID 0, as Linux does for DF).
    ip = capture_reply(srv.port, lambda: srv.query("www.example.com", "A"))
    frag = struct.unpack("!H", ip[6:8])[0]
    assert frag & 0x4000, "DF not set: flags/offset %#x" % frag
    assert frag & 0x1FFF == 0 and not frag & 0x2000, "a fragment: %#x" % frag


def test_udp_answers_never_fragmented_wildcard(small_mtu_netns,
                                               make_geodnsd):
    """The same on wildcard listeners, whose replies carry IP_PKTINFO /
    IPV6_PKTINFO control messages."""
    from conftest import free_port
    port = free_port(socket.AF_INET, "0.0.0.0")
    listen = ["0.0.0.0@%d" % port]
    if ipv6_loopback_available():
        listen.append("::@%d" % port)
    srv = make_geodnsd(port=port, udp_max_payload=4096, listen=listen)
    for host in ("127.0.0.1", "::1")[:len(listen)]:
        srv.host = host
        r = srv.query("huge.example.com", "A", use_edns=0, payload=4096)
        assert is_tc(r) and not r.answer and r.edns == 0, (host, r)
        r = srv.query("big.example.com", "A", use_edns=0, payload=4096)
        assert not is_tc(r) and answer_count(r) == 40, (host, r)


def test_udp_answers_never_fragmented_ipv6(small_mtu_netns, make_geodnsd):
    """The same over IPv6 (1280 is IPv6's minimum MTU): no Fragment header,
    a TC answer instead."""
    if not ipv6_loopback_available():
        pytest.skip("no ::1 in the test's network namespace (IPv6 off)")
    from conftest import free_port
    port = free_port(socket.AF_INET6, "::1")
    srv = make_geodnsd(port=port, udp_max_payload=4096,
                       listen=["127.0.0.1@%d" % port, "::1@%d" % port])
    srv.host = "::1"
    r = srv.query("huge.example.com", "A", use_edns=0, payload=4096)
    assert is_tc(r) and not r.answer and r.edns == 0, r
    r = srv.query("big.example.com", "A", use_edns=0, payload=4096)
    assert not is_tc(r) and answer_count(r) == 40, r
