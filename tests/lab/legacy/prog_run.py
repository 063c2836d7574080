#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""BPF_PROG_TEST_RUN of xdp_main_prog (bpftool prog run), in the firewall namespace, on the
maps controld filled for tests/lab/configs/nat-legacy.conf. Each case crafts a frame as it
arrives on fw0, runs the pinned program once and checks the verdict and, for forwarded frames,
every rewritten field and checksum.

usage: prog_run.py BPFFS_DIR FW0_MAC C0_MAC FW1_MAC S0_MAC
Prints PASS/FAIL lines; exit status 1 if any case failed.
"""
import os, struct, subprocess, sys, tempfile
from scapy.all import (Ether, Dot1Q, Dot1AD, IP, IPOption_RR, IPv6, IPv6ExtHdrDestOpt,  # noqa: E402
                       IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, ICMPv6DestUnreach,
                       TCP, UDP, ICMP, Raw, raw)

bpffs, fw0_mac, c0_mac, fw1_mac, s0_mac = sys.argv[1:6]
PROG = os.path.join(bpffs, "xdp_main_prog")
XDP = {0: "aborted", 1: "drop", 2: "pass", 3: "tx", 4: "redirect"}
fw0 = int(open("/sys/class/net/fw0/ifindex").read())
failed = 0
tmp = tempfile.mkdtemp()


def check(ok, what):
    global failed
    print(("PASS: " if ok else "FAIL: ") + what)
    if not ok:
        failed += 1


def run(frame):
    """Runs the program on frame (arriving on fw0): (verdict, output frame)."""
    data = raw(frame)
    fin, fout, fctx = (os.path.join(tmp, n) for n in ("in", "out", "ctx"))
    open(fin, "wb").write(data)
    # struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex
    open(fctx, "wb").write(struct.pack("=6I", 0, len(data), 0, fw0, 0, 0))
    out = subprocess.run(["bpftool", "prog", "run", "pinned", PROG, "data_in", fin, "data_out",
                          fout, "ctx_in", fctx, "repeat", "1"], capture_output=True, text=True)
    if out.returncode:
        print(out.stdout + out.stderr)
        return "error", b""
    rv = int(out.stdout.split("Return value:")[1].split(",")[0])
    return XDP.get(rv, str(rv)), open(fout, "rb").read()


def csum_ok(pkt):
    """The IP and L4 checksums of pkt are what scapy computes."""
    again = Ether(raw(pkt))
    for layer in (IP, UDP, TCP, ICMP):
        if layer in again:
            del again[layer].chksum
    again = Ether(raw(again))
    for layer in (IP, UDP, TCP, ICMP):
        if layer in pkt and pkt[layer].chksum != again[layer].chksum:
            return False
    return True


eth = Ether(dst=fw0_mac, src=c0_mac)

# 1. A new UDP flow: source NAT to fw1's address, TTL - 1, MACs, checksums.
v, out = run(eth / IP(src="10.77.1.2", dst="10.77.2.2", ttl=64) / UDP(sport=5555, dport=9000) /
             Raw(b"prog-run"))
check(v == "redirect", "new UDP flow -> redirect (%s)" % v)
o = Ether(out)
check(o[IP].src == "10.77.2.1" and 1024 <= o[UDP].sport <= 32767 and o[UDP].dport == 9000,
      "source NAT: %s:%d -> %s:%d" % (o[IP].src, o[UDP].sport, o[IP].dst, o[UDP].dport))
check(o[IP].ttl == 63, "TTL decremented (%d)" % o[IP].ttl)
check(o.dst == s0_mac and o.src == fw1_mac, "MACs: fw1 -> s0 (%s -> %s)" % (o.src, o.dst))
check(csum_ok(o), "IP and UDP checksums valid after NAT")
xport = o[UDP].sport

# 2. The same flow again: the same translation (session hit).
v, out = run(eth / IP(src="10.77.1.2", dst="10.77.2.2", ttl=64) / UDP(sport=5555, dport=9000) /
             Raw(b"again"))
check(v == "redirect" and Ether(out)[UDP].sport == xport, "second packet: same mapping")

# 3. The reply, as it arrives on fw1 (ingress doesn't matter for a session hit): back to the
#    client's own address and port.
v, out = run(Ether(dst=fw1_mac, src=s0_mac) / IP(src="10.77.2.2", dst="10.77.2.1", ttl=64) /
             UDP(sport=9000, dport=xport) / Raw(b"reply"))
o = Ether(out)
check(v == "redirect" and o[IP].dst == "10.77.1.2" and o[UDP].dport == 5555 and csum_ok(o),
      "reply translated back to 10.77.1.2:5555 with valid checksums")

# 4. UDP checksum 0 (none) stays 0.
pkt = eth / IP(src="10.77.1.2", dst="10.77.2.2") / UDP(sport=5556, dport=9000, chksum=0) / Raw(b"x")
v, out = run(pkt)
check(v == "redirect" and Ether(out)[UDP].chksum == 0, "UDP without checksum keeps none")

# 5. TTL 1 (a known flow, before any session): answered from fw0's address with time exceeded
#    (xdp_main_icmp), quoting the datagram as it arrived; checksums valid.
def icmp_error_ok(v, out, frame, v6, typ, code, src):
    """out is the ICMP error (type, code) from src back to the sender of frame (XDP_TX),
    quoting frame's datagram whole; checksums as scapy computes them."""
    if v != "tx":
        return False
    o = Ether(out)
    ip, hdr = (IPv6, 62) if v6 else (IP, 42)
    if ip not in o or o.dst != frame.src or o.src != fw0_mac or o[ip].src != src \
            or o[ip].dst != frame[ip].src or raw(o)[hdr:] != raw(frame[ip]):
        return False
    ic = raw(o)[hdr - 8:]
    if ic[0] != typ or ic[1] != code:
        return False
    if v6:
        again = Ether(raw(o))
        del again[IPv6].payload.cksum
        return Ether(raw(again))[IPv6].payload.cksum == o[IPv6].payload.cksum
    return csum_ok(o) and o[IP].len == 28 + len(raw(frame[IP]))

f = eth / IP(src="10.77.1.2", dst="10.77.2.2", ttl=1) / UDP(sport=5555, dport=9000) / Raw(b"t" * 23)
v, out = run(f)
check(icmp_error_ok(v, out, f, False, 11, 0, "10.77.1.1"), "TTL 1 -> time exceeded from 10.77.1.1 (%s)" % v)
f = eth / IPv6(src="fd00:77:1::2", dst="fd00:77:2::2", hlim=1) / UDP(sport=5556, dport=9000) / Raw(b"h" * 9)
v, out = run(f)
check(icmp_error_ok(v, out, f, True, 3, 0, "fd00:77:1::1"), "hop limit 1 -> ICMPv6 time exceeded from fd00:77:1::1 (%s)" % v)
# A long datagram is quoted up to 576 bytes in all.
f = eth / IP(src="10.77.1.2", dst="10.77.2.2", ttl=1) / UDP(sport=5555, dport=9000) / Raw(b"L" * 1000)
v, out = run(f)
check(v == "tx" and len(out) == 14 + 576 and csum_ok(Ether(out)) and raw(Ether(out))[42:] == raw(f[IP])[:548],
      "TTL 1, 1028-byte datagram: quoted to 576 bytes, checksums valid (%s, %d)" % (v, len(out)))
# An ICMP error is never answered with one.
v, _ = run(eth / IP(src="10.77.1.2", dst="10.77.2.2", ttl=1) / ICMP(type=3, code=3) / IP(src="10.77.2.2", dst="10.77.1.2") / UDP(sport=9000, dport=5555))
check(v == "drop", "TTL 1 on an ICMP error -> drop, no answer (%s)" % v)

# 5b. Policy reject of UDP (policy rej-discard, port 9): destination unreachable,
#     administratively prohibited, from the ingress interface's address.
f = eth / IP(src="10.77.1.2", dst="10.77.2.2") / UDP(sport=5600, dport=9) / Raw(b"r" * 11)
v, out = run(f)
check(icmp_error_ok(v, out, f, False, 3, 13, "10.77.1.1"), "UDP reject -> ICMP unreachable (admin prohibited) from 10.77.1.1 (%s)" % v)
f = eth / IPv6(src="fd00:77:1::2", dst="fd00:77:2::2") / UDP(sport=5601, dport=9) / Raw(b"r" * 5)
v, out = run(f)
check(icmp_error_ok(v, out, f, True, 1, 1, "fd00:77:1::1"), "IPv6 UDP reject -> ICMPv6 unreachable (admin prohibited) from fd00:77:1::1 (%s)" % v)

# 5b'. A first fragment is answered as the whole datagram would be (RFC 1812 4.3.2.7: never
#      about a later fragment), as the helper does: the reject and TTL 1 quote it whole.
f = eth / IP(src="10.77.1.2", dst="10.77.2.2", flags="MF", id=4242) / UDP(sport=5602, dport=9) / Raw(b"f" * 16)
v, out = run(f)
check(icmp_error_ok(v, out, f, False, 3, 13, "10.77.1.1"), "UDP reject of a first fragment -> ICMP unreachable quoting it (%s)" % v)
f = eth / IP(src="10.77.1.2", dst="10.77.2.2", ttl=1, flags="MF", id=4243) / UDP(sport=5603, dport=9000) / Raw(b"g" * 16)
v, out = run(f)
check(icmp_error_ok(v, out, f, False, 11, 0, "10.77.1.1"), "TTL 1 on a first fragment -> time exceeded quoting it (%s)" % v)
v, _ = run(eth / IP(src="10.77.1.2", dst="10.77.2.2", ttl=1, frag=3, id=4243) / Raw(b"h" * 16))
check(v == "drop", "TTL 1 on a later fragment -> drop, no answer (%s)" % v)

# 5c. Larger than fw1's MTU (checked before NAT): IPv4 with DF -> fragmentation needed with
#     the MTU, IPv6 -> packet too big, from fw0's address, quoting the sender's own packet
#     (untranslated) up to 576 / 1280 bytes; IPv4 without DF -> dropped. The largest packet
#     that fits is forwarded.
mtu = int(open("/sys/class/net/fw1/mtu").read())


def too_big_ok(v, out, frame, v6):
    """out is fragmentation needed (IPv4) / packet too big (IPv6) with fw1's MTU from fw0's
    address to the sender of frame (XDP_TX), quoting frame's datagram as it arrived up to the
    576 / 1280-byte limit; every field and checksum checked."""
    if v != "tx":
        return False
    o = Ether(out)
    ip, hdr, limit = (IPv6, 62, 1280) if v6 else (IP, 42, 576)
    q = raw(frame[ip])[:limit - hdr + 14]
    if len(out) != 14 + limit or o.dst != frame.src or o.src != fw0_mac or o.type != (0x86dd if v6 else 0x800):
        return False
    if raw(o)[hdr:] != q:
        return False
    ic = raw(o)[hdr - 8:hdr]
    if v6:
        if o[IPv6].src != "fd00:77:1::1" or o[IPv6].dst != frame[IPv6].src or o[IPv6].nh != 58 \
                or o[IPv6].hlim != 64 or o[IPv6].plen != 8 + len(q):
            return False
        if ic[0] != 2 or ic[1] != 0 or struct.unpack("!I", ic[4:8])[0] != mtu:
            return False
        again = Ether(raw(o))
        del again[IPv6].payload.cksum
        return Ether(raw(again))[IPv6].payload.cksum == o[IPv6].payload.cksum
    if o[IP].src != "10.77.1.1" or o[IP].dst != frame[IP].src or o[IP].proto != 1 or o[IP].ttl != 64 \
            or o[IP].len != 28 + len(q) or o[IP].flags != 2 or o[IP].ihl != 5:
        return False
    if ic[0] != 3 or ic[1] != 4 or ic[4:6] != b"\0\0" or struct.unpack("!H", ic[6:8])[0] != mtu:
        return False
    return csum_ok(o)


big = lambda n, hdr: Raw(b"M" * (n - hdr))  # noqa: E731
f = eth / IP(src="10.77.1.2", dst="10.77.2.2", flags="DF") / UDP(sport=5610, dport=9000) / big(mtu + 1, 28)
v, out = run(f)
check(too_big_ok(v, out, f, False), "new UDP flow, %d-byte datagram with DF: frag needed, mtu %d, from 10.77.1.1, quote untranslated (%s)" % (mtu + 1, mtu, v))
# A packet of the NATed session of case 1 (session hit): the quote keeps the sender's port 5555.
f = eth / IP(src="10.77.1.2", dst="10.77.2.2", flags="DF") / UDP(sport=5555, dport=9000) / big(mtu + 100, 28)
v, out = run(f)
check(too_big_ok(v, out, f, False) and Ether(out)[IP].payload.payload.sport == 5555,
      "NATed session's packet too big: frag needed quoting 10.77.1.2:5555, not the translation (%s)" % v)
f = eth / IP(src="10.77.1.2", dst="10.77.2.2", flags="DF") / UDP(sport=5555, dport=9000) / big(mtu, 28)
v, out = run(f)
check(v == "redirect" and len(out) == 14 + mtu and Ether(out)[IP].src == "10.77.2.1",
      "%d bytes (= fw1's MTU) with DF: forwarded, translated (%s)" % (mtu, v))
v, out = run(eth / IP(src="10.77.1.2", dst="10.77.2.2") / UDP(sport=5555, dport=9000) / big(mtu + 1, 28))
check(v == "drop", "%d bytes without DF: dropped, nothing sent (%s)" % (mtu + 1, v))
f = eth / IPv6(src="fd00:77:1::2", dst="fd00:77:2::2") / UDP(sport=5611, dport=9000) / big(mtu + 1, 48)
v, out = run(f)
check(too_big_ok(v, out, f, True), "IPv6 %d bytes: packet too big, mtu %d, from fd00:77:1::1 (%s)" % (mtu + 1, mtu, v))
f = eth / IPv6(src="fd00:77:1::2", dst="fd00:77:2::2") / UDP(sport=5611, dport=9000) / big(mtu, 48)
v, out = run(f)
check(v == "redirect" and len(out) == 14 + mtu, "IPv6 %d bytes (= the MTU): forwarded (%s)" % (mtu, v))

# 6. TCP without a session and without SYN: dropped.
v, _ = run(eth / IP(src="10.77.1.2", dst="10.77.2.2") / TCP(sport=4444, dport=80, flags="A"))
check(v == "drop", "TCP ACK without a session -> drop (%s)" % v)

# 7. A TCP SYN: translated, checksums valid.
v, out = run(eth / IP(src="10.77.1.2", dst="10.77.2.2") / TCP(sport=4445, dport=80, flags="S"))
o = Ether(out)
check(v == "redirect" and o[IP].src == "10.77.2.1" and csum_ok(o), "TCP SYN translated, valid checksums")

# 8. Fragments (as the helper: dataplane/flow.c frag_remember, fragment).
def ip_ok(o):
    """The IPv4 header checksum of o is what scapy computes."""
    again = IP(raw(o[IP]))
    del again.chksum
    return IP(raw(again)).chksum == o[IP].chksum


# 8a. A UDP datagram in two fragments under source NAT: the first creates the session (ports
#     translated), the second follows it: addresses translated, its bytes untouched, TTL - 1.
#     Reassembled, the translated datagram's UDP checksum is valid.
whole = IP(src="10.77.1.2", dst="10.77.2.2", id=0x5a01, ttl=64) / UDP(sport=5570, dport=9000) / Raw(b"F" * 40)
wb = raw(whole)
body = wb[20:]
f1 = eth / IP(src="10.77.1.2", dst="10.77.2.2", id=0x5a01, ttl=64, flags="MF", frag=0, proto=17) / Raw(body[:24])
f2 = eth / IP(src="10.77.1.2", dst="10.77.2.2", id=0x5a01, ttl=64, frag=3, proto=17) / Raw(body[24:])
v1, o1 = run(f1)
v2, o2 = run(f2)
p1, p2 = Ether(o1), Ether(o2)
check(v1 == "redirect" and p1[IP].src == "10.77.2.1" and p1[IP].flags == 1 and ip_ok(p1) and p1[IP].ttl == 63,
      "first fragment of a new UDP flow: forwarded, source NAT, MF kept, IP checksum valid (%s)" % v1)
check(v2 == "redirect" and p2[IP].src == "10.77.2.1" and p2[IP].dst == "10.77.2.2" and p2[IP].frag == 3
      and p2[IP].id == 0x5a01 and p2[IP].ttl == 63 and ip_ok(p2) and raw(p2[IP])[20:] == body[24:]
      and p2.dst == s0_mac and p2.src == fw1_mac,
      "later fragment follows its session: addresses translated, payload untouched, TTL, MACs, IP checksum (%s)" % v2)
if v1 == "redirect" and v2 == "redirect":
    re = IP(src=p1[IP].src, dst=p1[IP].dst, id=0x5a01, proto=17) / UDP(raw(p1[IP])[20:] + raw(p2[IP])[20:])
    u = re[UDP]
    again = UDP(raw(u))
    del again.chksum
    re2 = IP(src=p1[IP].src, dst=p1[IP].dst, proto=17) / again
    check(u.dport == 9000 and u.sport != 5570 and UDP(raw(re2[UDP])).chksum == u.chksum,
          "reassembled translated datagram: port %d -> %d, UDP checksum valid" % (5570, u.sport))
else:
    check(False, "reassembled translated datagram (fragments not forwarded)")

# 8b. The reply in two fragments (a session hit: the run's ingress, fw0, doesn't matter; both
#     fragments come in on the same interface, whose zone is part of the fragment key):
#     translated back to 10.77.1.2.
rwhole = IP(src="10.77.2.2", dst="10.77.2.1", id=0x5a02) / UDP(sport=9000, dport=xport) / Raw(b"R" * 40)
rb = raw(rwhole)[20:]
ethr = Ether(dst=fw1_mac, src=s0_mac)
v1, o1 = run(ethr / IP(src="10.77.2.2", dst="10.77.2.1", id=0x5a02, flags="MF", proto=17) / Raw(rb[:16]))
v2, o2 = run(ethr / IP(src="10.77.2.2", dst="10.77.2.1", id=0x5a02, frag=2, proto=17) / Raw(rb[16:]))
check(v1 == "redirect" and v2 == "redirect" and Ether(o2)[IP].dst == "10.77.1.2" and ip_ok(Ether(o2))
      and raw(Ether(o2)[IP])[20:] == rb[16:] and Ether(o1)[IP].dst == "10.77.1.2",
      "reply fragments translated back to 10.77.1.2 (%s, %s)" % (v1, v2))

# 8c. A later fragment whose first fragment was never seen: dropped (frag_drops).
v, _ = run(eth / IP(src="10.77.1.2", dst="10.77.2.2", id=0x5a03, frag=3, proto=17) / Raw(b"z" * 16))
check(v == "drop", "later fragment without a first -> drop (%s)" % v)

# 8d. A first fragment the policy refuses (rej-discard, UDP port 9): answered with ICMP
#     unreachable as a whole datagram would be (5b'); its later fragments are dropped.
d = raw(UDP(sport=5571, dport=9, len=8 + 48) / Raw(b"D" * 48))
v1, _ = run(eth / IP(src="10.77.1.2", dst="10.77.2.2", id=0x5a04, flags="MF", proto=17) / Raw(d[:24]))
v2, _ = run(eth / IP(src="10.77.1.2", dst="10.77.2.2", id=0x5a04, flags="MF", frag=3, proto=17) / Raw(d[24:48]))
v3, _ = run(eth / IP(src="10.77.1.2", dst="10.77.2.2", id=0x5a04, frag=6, proto=17) / Raw(d[48:]))
check((v1, v2, v3) == ("tx", "drop", "drop"), "refused first fragment answered, its 2 later ones dropped (%s %s %s)" % (v1, v2, v3))

# 8e. IPv6: a first fragment (fragment header, UDP) and a later one: both forwarded, hop limit -
#     1, everything else as it came.
u6 = raw(UDP(sport=5572, dport=9000, len=8 + 40, chksum=0x1234) / Raw(b"S" * 40))
g1 = eth / IPv6(src="fd00:77:1::2", dst="fd00:77:2::2", hlim=9) / IPv6ExtHdrFragment(nh=17, offset=0, m=1, id=0xabcd0001) / Raw(u6[:24])
g2 = eth / IPv6(src="fd00:77:1::2", dst="fd00:77:2::2", hlim=9) / IPv6ExtHdrFragment(nh=17, offset=3, m=0, id=0xabcd0001) / Raw(u6[24:])
v1, o1 = run(g1)
v2, o2 = run(g2)
check(v1 == "redirect" and v2 == "redirect" and raw(Ether(o1)[IPv6])[8:] == raw(g1[IPv6])[8:]
      and raw(Ether(o2)[IPv6])[8:] == raw(g2[IPv6])[8:] and Ether(o2)[IPv6].hlim == 8,
      "IPv6 first + later fragment forwarded, hop limit 9 -> 8, rest untouched (%s, %s)" % (v1, v2))
v, _ = run(eth / IPv6(src="fd00:77:1::2", dst="fd00:77:2::2") / IPv6ExtHdrFragment(nh=17, offset=3, id=0xabcd0002) / Raw(b"q" * 16))
check(v == "drop", "IPv6 later fragment without a first -> drop (%s)" % v)

# 8f. IPv6 with extension headers (hop-by-hop, routing, destination options) before a new UDP
#     flow and before a TCP SYN: forwarded, hop limit - 1, the chain and the rest untouched.
for l4, what in ((UDP(sport=5573, dport=9000) / Raw(b"e" * 7), "UDP"), (TCP(sport=5574, dport=80, flags="S"), "TCP SYN")):
    x = eth / IPv6(src="fd00:77:1::2", dst="fd00:77:2::2", hlim=9) / IPv6ExtHdrHopByHop() / \
        IPv6ExtHdrRouting(addresses=[], segleft=0) / IPv6ExtHdrDestOpt() / l4
    v, out = run(x)
    check(v == "redirect" and Ether(out)[IPv6].hlim == 8 and raw(Ether(out)[IPv6])[8:] == raw(x[IPv6])[8:]
          and Ether(out).dst == s0_mac, "IPv6 %s behind hop-by-hop, routing, destination options: forwarded (%s)" % (what, v))
# Its reply comes back through the session the chain's flow created.
v, out = run(Ether(dst=fw1_mac, src=s0_mac) / IPv6(src="fd00:77:2::2", dst="fd00:77:1::2") / IPv6ExtHdrDestOpt() / UDP(sport=9000, dport=5573))
check(v == "redirect" and Ether(out).dst == c0_mac, "its reply (behind destination options) -> redirect to c0 (%s)" % v)
# Chains of 7 and 8 extension headers (the shim walks 8, as the helper's screen does; it drops
# a 9th itself, drop_other): forwarded as on the userspace path (tests/lab/malformed.py), the
# 8-header one with a fragment header (an atomic fragment) last. 9 here: dropped, unsupported.
def ext_chain(n, frag_last=False):
    c = IPv6ExtHdrHopByHop()
    for i in range(1, n):
        c = c / (IPv6ExtHdrFragment(offset=0, m=0, id=0xabcd0100 + n) if frag_last and i == n - 1 else
                 IPv6ExtHdrRouting(addresses=[], segleft=0) if i % 3 == 1 else IPv6ExtHdrDestOpt())
    return c


for n, frag_last in ((7, False), (8, False), (8, True)):
    x = eth / IPv6(src="fd00:77:1::2", dst="fd00:77:2::2", hlim=9) / ext_chain(n, frag_last) / \
        UDP(sport=5590 + n + frag_last, dport=9000) / Raw(b"c" * 5)
    v, out = run(x)
    check(v == "redirect" and Ether(out)[IPv6].hlim == 8 and raw(Ether(out)[IPv6])[8:] == raw(x[IPv6])[8:]
          and Ether(out).dst == s0_mac,
          "IPv6 UDP behind %d extension headers%s: a new flow, forwarded (%s)"
          % (n, " (the last a fragment header)" if frag_last else "", v))
v, _ = run(eth / IPv6(src="fd00:77:1::2", dst="fd00:77:2::2") / ext_chain(9) / UDP(sport=5599, dport=9000))
check(v == "drop", "IPv6 UDP behind 9 extension headers -> drop, unsupported (%s)" % v)
# A policy still applies behind the chain: UDP port 9 is refused (an ICMPv6 unreachable).
v, _ = run(eth / IPv6(src="fd00:77:1::2", dst="fd00:77:2::2") / IPv6ExtHdrHopByHop() / UDP(sport=5575, dport=9))
check(v == "tx", "UDP port 9 behind hop-by-hop: refused by policy, ICMPv6 unreachable sent (%s)" % v)

# 8g. VLAN tags, as the helper (dataplane/parse.c, flow.c transmit): one 802.1Q tag or two
#     (802.1ad + 802.1Q) are taken off; the flow is the interface's (zone by interface, whatever
#     the tag) and leaves untagged: the same frame as the untagged packet gives.
f = Ether(dst=fw0_mac, src=c0_mac) / Dot1Q(vlan=5) / IP(src="10.77.1.2", dst="10.77.2.2", ttl=64) / \
    UDP(sport=5576, dport=9000) / Raw(b"tagged")
v, out = run(f)
o = Ether(out) if v == "redirect" else None
check(o is not None and Dot1Q not in o and o.type == 0x800 and len(out) == len(raw(f)) - 4
      and o.dst == s0_mac and o.src == fw1_mac and o[IP].src == "10.77.2.1" and o[IP].ttl == 63
      and o[UDP].dport == 9000 and csum_ok(o),
      "802.1Q-tagged new UDP flow: tag removed, source NAT, TTL, MACs, checksums (%s)" % v)
vport = o[UDP].sport if o is not None else -1
v, out = run(eth / IP(src="10.77.1.2", dst="10.77.2.2", ttl=64) / UDP(sport=5576, dport=9000) / Raw(b"tagged"))
check(v == "redirect" and Ether(out)[UDP].sport == vport and raw(Ether(out)) == raw(o),
      "the same packet untagged: the same session, the same frame out (%s)" % v)
f6 = IPv6(src="fd00:77:1::2", dst="fd00:77:2::2", hlim=9) / IPv6ExtHdrDestOpt() / UDP(sport=5577, dport=9000) / Raw(b"qinq")
v, out = run(Ether(dst=fw0_mac, src=c0_mac, type=0x88a8) / Dot1AD(vlan=7, type=0x8100) / Dot1Q(vlan=5) / f6)
v2, out2 = run(eth / f6)
check(v == "redirect" and v2 == "redirect" and out == out2 and Ether(out).type == 0x86dd
      and Ether(out)[IPv6].hlim == 8 and raw(Ether(out)[IPv6])[8:] == raw(f6)[8:],
      "IPv6 behind two tags (802.1ad, 802.1Q): untagged, the frame the untagged packet gives (%s, %s)" % (v, v2))
f = Ether(dst=fw0_mac, src=c0_mac) / Dot1Q(vlan=5) / IP(src="10.77.1.2", dst="10.77.2.2", ttl=1) / UDP(sport=5576, dport=9000) / Raw(b"t" * 9)
v, out = run(f)
check(icmp_error_ok(v, out, f, False, 11, 0, "10.77.1.1") and Dot1Q not in Ether(out),
      "tagged TTL 1: time exceeded sent back untagged, as the helper builds it (%s)" % v)
v, _ = run(Ether(dst=fw0_mac, src=c0_mac) / Dot1Q(vlan=5) / Dot1Q(vlan=6) / Dot1Q(vlan=7) / IP(src="10.77.1.2", dst="10.77.2.2") / UDP(sport=5576, dport=9000))
check(v == "drop", "three tags (the shim hands those to the kernel) -> drop, unsupported (%s)" % v)

# 8h. A reset for a TCP packet the policy rejects (rej-discard, TCP port 9) behind IPv6
#     extension headers or IPv4 options, as the helper builds it: a bare IP header, then TCP.
def reset_ok(v, out, v6, sport, ack):
    if v != "tx":
        return False
    o = Ether(out)
    ip = IPv6 if v6 else IP
    if ip not in o or TCP not in o or o.dst != c0_mac or o.src != fw0_mac:
        return False
    src, dst = ("fd00:77:2::2", "fd00:77:1::2") if v6 else ("10.77.2.2", "10.77.1.2")
    if o[ip].src != src or o[ip].dst != dst or o[TCP].sport != 9 or o[TCP].dport != sport \
            or o[TCP].flags != "RA" or o[TCP].ack != ack or len(out) != 14 + (40 if v6 else 20) + 20:
        return False
    if v6:
        if o[IPv6].nh != 6 or o[IPv6].plen != 20:
            return False
        again = Ether(raw(o))
        del again[TCP].chksum
        return Ether(raw(again))[TCP].chksum == o[TCP].chksum
    return o[IP].ihl == 5 and o[IP].proto == 6 and csum_ok(o)


v, out = run(eth / IPv6(src="fd00:77:1::2", dst="fd00:77:2::2") / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() /
             TCP(sport=5580, dport=9, flags="S", seq=1000))
check(reset_ok(v, out, True, 5580, 1001), "TCP SYN to port 9 behind hop-by-hop, destination options: reset (%s)" % v)
v, out = run(eth / IP(src="10.77.1.2", dst="10.77.2.2", options=[IPOption_RR()]) / TCP(sport=5581, dport=9, flags="S", seq=2000))
check(reset_ok(v, out, False, 5581, 2001), "TCP SYN to port 9 with IPv4 options: reset (%s)" % v)

# 8i. An ICMPv6 error quoting a packet behind extension headers (the flow of 8f, hop-by-hop,
#     routing, destination options): it goes with that session to its sender, as the helper's
#     quoted_key() finds it. One quoting a later fragment has no ports: dropped.
q = IPv6(src="fd00:77:1::2", dst="fd00:77:2::2") / IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting(addresses=[], segleft=0) / \
    IPv6ExtHdrDestOpt() / UDP(sport=5573, dport=9000)
v, out = run(Ether(dst=fw1_mac, src=s0_mac) / IPv6(src="fd00:77:2::2", dst="fd00:77:1::2") / ICMPv6DestUnreach(code=4) / q)
check(v == "redirect" and Ether(out).dst == c0_mac and Ether(out)[IPv6].hlim == 63,
      "ICMPv6 unreachable quoting UDP behind 3 extension headers -> its session, to c0 (%s)" % v)
q = IPv6(src="fd00:77:1::2", dst="fd00:77:2::2") / IPv6ExtHdrFragment(nh=17, offset=3, id=7) / Raw(b"z" * 8)
v, _ = run(Ether(dst=fw1_mac, src=s0_mac) / IPv6(src="fd00:77:2::2", dst="fd00:77:1::2") / ICMPv6DestUnreach(code=4) / q)
check(v == "drop", "ICMPv6 error quoting a later fragment -> drop (%s)" % v)

# 8j. An IPv6 atomic fragment (offset 0, no more: RFC 6946) is a first fragment, as the
#     helper's: forwarded with its session, and remembered for its id.
a = IPv6(src="fd00:77:1::2", dst="fd00:77:2::2", hlim=9) / IPv6ExtHdrFragment(nh=17, offset=0, m=0, id=0xabcd0005) / \
    UDP(sport=5578, dport=9000) / Raw(b"atomic")
v, out = run(eth / a)
check(v == "redirect" and raw(Ether(out)[IPv6])[8:] == raw(a)[8:], "IPv6 atomic fragment: a new flow, forwarded (%s)" % v)
v, _ = run(eth / IPv6(src="fd00:77:1::2", dst="fd00:77:2::2") / IPv6ExtHdrFragment(nh=17, offset=2, id=0xabcd0005) / Raw(b"w" * 8))
check(v == "redirect", "a later fragment with the atomic fragment's id follows its session, as the helper's (%s)" % v)

# 9. A truncated TCP header: malformed.
trunc = raw(eth / IP(src="10.77.1.2", dst="10.77.2.2", proto=6, len=30) / Raw(b"\x11" * 10))
v, _ = run(Ether(trunc))
check(v == "drop", "truncated TCP header -> drop (%s)" % v)

# 10. IPv6 (no NAT): hop limit - 1, addresses kept.
v, out = run(eth / IPv6(src="fd00:77:1::2", dst="fd00:77:2::2", hlim=9) / UDP(sport=5558, dport=9000) / Raw(b"6"))
o = Ether(out) if v == "redirect" else None
check(o is not None and o[IPv6].hlim == 8 and o[IPv6].src == "fd00:77:1::2", "IPv6: hop limit 9 -> 8 (%s)" % v)

sys.exit(1 if failed else 0)
