#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Sends crafted frames for tests/lab/test_shim.sh (Debian's python3-scapy).

usage: send_frames.py IFACE DST_MAC CASE [COUNT]
       send_frames.py --serve IFACE DST_MAC     reads "CASE [COUNT]" lines on stdin
Prints the length of one frame of CASE (a line per request with --serve; "ERR why" when it
cannot), so the test can check what arrives at the XSK.
Addresses: the sender is 10.77.1.2 / 2001:db8:1::2, the shim's interface 10.77.1.1 /
2001:db8:1::1; 10.77.9.9 and 2001:db8:9::9 are transit destinations behind it.

Besides the named cases, CASE may be a comma-separated description of one datagram to the
shim's own address (host-inbound tests):
    tcp,4|6,FLAGS,DPORT[,SPORT]     TCP with scapy FLAGS (S, SA, A, R...), SPORT 40001
    udp,4|6,DPORT[,SPORT]           UDP, SPORT 40002
    icmp,4|6,TYPE[,ID]              ICMP (4) or ICMPv6 (6) message of TYPE, code 0; an echo
                                    request/reply has identifier ID (default 0, ICMPv6 7)
    icmperr,4|6,QPROTO,QPORT        port unreachable quoting a packet of QPROTO (tcp, udp,
                                    icmp = echo request) sent by the own address from
                                    source port (or echo identifier) QPORT
    ip,4|6,PROTO                    IP protocol PROTO with 24 bytes of payload
    fragnf,4,PROTO                  a later IPv4 fragment (offset 1480) of protocol PROTO
and any of these fields may follow: @ADDR (IP destination instead of the own address),
^bcast (Ethernet broadcast destination instead of the shim's MAC).
"""
import sys

from scapy.all import (  # noqa: E402
    ARP, Dot1AD, Dot1Q, Ether, ICMP, ICMPerror, ICMPv6DestUnreach, ICMPv6EchoReply,
    ICMPv6EchoRequest, ICMPv6ND_NS, ICMPv6Unknown, IP, IPerror, IPerror6, IPOption, IPv6,
    IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, Raw, TCP, TCPerror, UDP,
    UDPerror, conf, get_if_hwaddr, sendp,
)

SRC4, ME4, FAR4 = "10.77.1.2", "10.77.1.1", "10.77.9.9"
SRC6, ME6, FAR6 = "2001:db8:1::2", "2001:db8:1::1", "2001:db8:9::9"


def raw_ip(ip_bytes):
    return Raw(bytes(ip_bytes))


def described(case, eth):
    """A datagram to the own address from a comma-separated description (see above)."""
    fields = case.split(",")
    extra = [f for f in fields if f[:1] in "@^"]
    args = [f for f in fields if f[:1] not in "@^"]
    kind, fam, rest = args[0], args[1], args[2:]
    v6 = fam == "6"
    dst = ME6 if v6 else ME4
    for f in extra:
        if f.startswith("@"):
            dst = f[1:]
        elif f == "^bcast":
            eth = Ether(dst="ff:ff:ff:ff:ff:ff", src=eth.src)
        else:
            raise SystemExit(f"unknown field {f} in {case}")

    def ip(**kw):
        return IPv6(src=SRC6, dst=dst, **kw) if v6 else IP(src=SRC4, dst=dst, **kw)

    if kind == "tcp":
        sport = int(rest[2]) if len(rest) > 2 else 40001
        return eth / ip() / TCP(sport=sport, dport=int(rest[1]), flags=rest[0])
    if kind == "udp":
        sport = int(rest[1]) if len(rest) > 1 else 40002
        return eth / ip() / UDP(sport=sport, dport=int(rest[0])) / (b"d" * 12)
    if kind == "icmp":
        t = int(rest[0])
        ident = int(rest[1]) if len(rest) > 1 else None
        if not v6:
            return eth / ip() / ICMP(type=t, code=0, id=ident or 0) / (b"i" * 8)
        if t == 128:
            msg = ICMPv6EchoRequest(id=7 if ident is None else ident, seq=1)
        elif t == 129:
            msg = ICMPv6EchoReply(id=7 if ident is None else ident, seq=1)
        else:
            msg = ICMPv6Unknown(type=t, code=0)
        return eth / ip() / msg / (b"i" * 8)
    if kind == "icmperr":
        qproto, qport = rest[0], int(rest[1])
        far = FAR6 if v6 else FAR4
        if qproto == "tcp":
            ql4 = TCPerror(sport=qport, dport=443, flags="S")
        elif qproto == "udp":
            ql4 = UDPerror(sport=qport, dport=53)
        elif v6:
            ql4 = ICMPv6EchoRequest(id=qport, seq=1)
        else:
            ql4 = ICMPerror(type=8, id=qport, seq=1)
        if v6:
            return eth / ip() / ICMPv6DestUnreach(code=4) / IPerror6(src=dst, dst=far) / ql4
        return eth / ip() / ICMP(type=3, code=3) / IPerror(src=dst, dst=far) / ql4
    if kind == "ip":
        if v6:
            return eth / ip(nh=int(rest[0])) / (b"p" * 24)
        return eth / ip(proto=int(rest[0])) / (b"p" * 24)
    if kind == "fragnf" and not v6:
        return eth / ip(proto=int(rest[0]), frag=185) / (b"b" * 24)
    raise SystemExit(f"unknown description {case}")


def frames(case, eth):
    if "," in case:
        return described(case, eth)
    ip4 = IP(src=SRC4, dst=FAR4)
    ip6 = IPv6(src=SRC6, dst=FAR6)
    if case == "udp4":  # transit UDP, the XSK case
        return eth / ip4 / UDP(sport=1234, dport=5678) / (b"u" * 16)
    if case == "udp4_local":
        return eth / IP(src=SRC4, dst=ME4) / UDP(sport=1234, dport=5678) / (b"u" * 16)
    if case == "tcp6":
        return eth / IPv6(src=SRC6, dst=FAR6, hlim=61) / TCP(sport=40000, dport=443, flags="S")
    if case == "udp6_ext":  # hop-by-hop + destination options before UDP
        return eth / ip6 / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / \
            UDP(sport=5353, dport=53) / b"abcd"
    if case == "udp6_frag_first":
        return eth / ip6 / IPv6ExtHdrFragment(offset=0, m=1, id=7) / \
            UDP(sport=7000, dport=7001, len=3000) / (b"f" * 32)
    if case == "udp6_local":
        return eth / IPv6(src=SRC6, dst=ME6) / UDP(sport=1, dport=2) / b"x"
    if case == "udp6_linklocal":
        return eth / IPv6(src="fe80::2", dst="fe80::1") / UDP(sport=1, dport=2) / b"x"
    if case == "nd_ns":  # neighbour solicitation to the solicited-node group
        e = Ether(dst="33:33:ff:00:00:01", src=eth.src)
        return e / IPv6(src=SRC6, dst="ff02::1:ff00:1", hlim=255) / ICMPv6ND_NS(tgt=ME6)
    if case == "vlan_udp4":
        return eth / Dot1Q(vlan=100, prio=3) / ip4 / UDP(sport=1111, dport=2222) / (b"v" * 8)
    if case == "qinq_udp4":
        return eth / Dot1AD(vlan=200) / Dot1Q(vlan=100) / ip4 / \
            UDP(sport=3333, dport=4444) / (b"q" * 8)
    if case == "icmp4_echo":
        return eth / ip4 / ICMP(type=8, id=0x1234, seq=1) / b"ping"
    if case == "icmp4_err":
        return eth / ip4 / ICMP(type=3, code=1) / IPerror(src=FAR4, dst=SRC4) / \
            UDPerror(sport=5678, dport=1234)
    if case == "ip4_options":  # IHL 6: one word of NOP options
        return eth / IP(src=SRC4, dst=FAR4, options=[IPOption(b"\x01\x01\x01\x01")]) / \
            UDP(sport=9, dport=10) / b"o"
    if case == "frag4_first":  # MF set; UDP length covers the whole datagram
        return eth / IP(src=SRC4, dst=FAR4, flags="MF", frag=0, proto=17) / \
            raw_ip(UDP(sport=1000, dport=2000, len=1000)) / (b"a" * 24)
    if case == "frag4_nf":  # later fragment: no L4 header
        return eth / IP(src=SRC4, dst=FAR4, frag=185, proto=17) / (b"b" * 24)
    if case == "arp":
        return Ether(dst="ff:ff:ff:ff:ff:ff", src=eth.src) / \
            ARP(op=1, psrc=SRC4, pdst=ME4, hwsrc=eth.src)
    if case == "bcast4":
        return Ether(dst="ff:ff:ff:ff:ff:ff", src=eth.src) / \
            IP(src=SRC4, dst="10.77.1.255") / UDP(sport=1, dport=2)
    if case == "mcast4_l3":  # unicast MAC, multicast IP
        return eth / IP(src=SRC4, dst="239.1.2.3") / UDP(sport=1, dport=2)
    if case == "lldp":
        return Ether(dst="01:80:c2:00:00:0e", src=eth.src, type=0x88cc) / (b"\x02\x07" + b"\0" * 40)
    # ---- malformed ----
    if case == "trunc_ip4":  # frame ends inside the IPv4 header
        return Ether(dst=eth.dst, src=eth.src, type=0x0800) / Raw(bytes(ip4 / UDP())[:10])
    if case == "bad_ihl":  # IHL 4 (< 5)
        b = bytearray(bytes(ip4 / UDP(sport=1, dport=2) / (b"x" * 8)))
        b[0] = 0x44
        return Ether(dst=eth.dst, src=eth.src, type=0x0800) / Raw(bytes(b))
    if case == "ip4_len_long":  # total length beyond the frame
        return eth / IP(src=SRC4, dst=FAR4, len=400) / UDP(sport=1, dport=2) / b"x"
    if case == "trunc_tcp4":  # IP says 30 bytes: only 10 of the TCP header
        return eth / IP(src=SRC4, dst=FAR4, proto=6, len=30) / \
            Raw(bytes(TCP(sport=1, dport=2))[:10])
    if case == "tcp4_doff":  # data offset 4 words (< 5)
        return eth / ip4 / TCP(sport=1, dport=2, dataofs=4)
    if case == "udp4_badlen":  # UDP length 4 (< 8)
        return eth / ip4 / UDP(sport=1, dport=2, len=4) / b"xxxx"
    if case == "trunc_ip6":
        return Ether(dst=eth.dst, src=eth.src, type=0x86DD) / Raw(bytes(ip6)[:30])
    if case == "ip6_ext_overrun":  # hop-by-hop claims 48 bytes, payload has 8
        return eth / IPv6(src=SRC6, dst=FAR6, nh=0, plen=8) / Raw(bytes([17, 5, 0, 0, 0, 0, 0, 0]))
    if case == "trunc_tcp6":
        return eth / IPv6(src=SRC6, dst=FAR6, nh=6, plen=12) / Raw(bytes(TCP())[:12])
    # ---- valid, but beyond what the shim describes (drop_other) ----
    if case == "ip6_deep_l4":  # a 248-byte hop-by-hop header puts L4 at offset 302 > 255
        hbh = bytes([17, 30, 1, 244]) + bytes(244)
        return eth / IPv6(src=SRC6, dst=FAR6, nh=0) / Raw(hbh + bytes(UDP(sport=1, dport=2)))
    if case == "ip6_many_ext":  # 9 destination options headers, one more than walked
        ext = bytes([60, 0, 1, 4, 0, 0, 0, 0]) * 8 + bytes([17, 0, 1, 4, 0, 0, 0, 0])
        return eth / IPv6(src=SRC6, dst=FAR6, nh=60) / Raw(ext + bytes(UDP(sport=1, dport=2)))
    raise SystemExit(f"unknown case {case}")


def serve(iface, dst_mac):
    conf.verb = 0
    eth = Ether(dst=dst_mac, src=get_if_hwaddr(iface))
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        try:
            pkt = frames(words[0], eth)
            count = int(words[1]) if len(words) > 1 else 1
            sendp(pkt, iface=iface, count=count, verbose=False)
            print(len(bytes(pkt)), flush=True)
        except (Exception, SystemExit) as e:  # an unknown case: say so, keep serving
            print("ERR", e, flush=True)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(sys.argv[2], sys.argv[3])
        return
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    iface, dst_mac, case = sys.argv[1:4]
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    conf.verb = 0
    eth = Ether(dst=dst_mac, src=get_if_hwaddr(iface))
    pkt = frames(case, eth)
    sendp(pkt, iface=iface, count=count, verbose=False)
    print(len(bytes(pkt)))


if __name__ == "__main__":
    main()
