#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The malformed-packet corpus of tests/lab/test_malformed.sh (Debian's python3-scapy).

usage: malformed.py IFACE FW_MAC PCAP MOATCTL...

Runs in the client namespace (one scapy process for every frame). For each case it sends
the frames on IFACE to the firewall's MAC FW_MAC, waits until the counters it expects have
moved, then checks
  - every watched counter moved by exactly what the case expects (the others by 0):
    shim (fw0) redirect / drop_malformed / drop_other, worker parse_errors / forwarded /
    policy_deny / frag_drops / ttl_expired / icmp_error_* / icmp_errors_sent / sessions_created /
    tcp_invalid / non_syn_drops, and the trust zone's tear-drop and ping-death screen
    counters;
  - how many of its frames arrived at the server: PCAP is tcpdump's capture (-U) of the
    server's interface; a case's frames carry a marker (IPv4 identification, IPv6 flow
    label) no other case uses.
MOATCTL is the moatctl command line (with --run-dir). Prints PASS:/FAIL: lines.

Policy (tests/lab/configs/malformed.conf): trust -> untrust permits TCP 80, UDP 5000 and
ICMP/ICMPv6; everything else is denied. The server sends nothing back during the corpus
(its output is dropped by nftables), so the counters see only these frames.
"""
import json
import subprocess
import sys
import time

from scapy.all import (  # noqa: E402
    ICMP, ICMPerror, ICMPv6DestUnreach, ICMPv6EchoRequest, IP, IPerror, IPerror6, IPOption,
    IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, Ether, PcapReader, Raw,
    TCP, UDP, UDPerror, conf, get_if_hwaddr, sendp,
)

S4, D4 = "10.77.1.2", "10.77.2.2"
S6, D6 = "fd00:77:1::2", "fd00:77:2::2"

SHIM = ("redirect", "drop_malformed", "drop_other")
WORKER = ("parse_errors", "forwarded", "policy_deny", "frag_drops", "ttl_expired",
          "icmp_error_unmatched", "icmp_error_related", "sessions_created", "tcp_invalid",
          "non_syn_drops", "neigh_miss", "fib_miss", "icmp_errors_sent")
SCREEN = ("tear-drop", "ping-death")

passes = 0
fails = 0


def result(ok, what, detail=""):
    global passes, fails
    if ok:
        passes += 1
        print(f"PASS: {what}", flush=True)
    else:
        fails += 1
        print(f"FAIL: {what}{': ' + detail if detail else ''}", flush=True)


class Lab:
    def __init__(self, iface, fw_mac, pcap, moatctl):
        self.iface = iface
        self.eth = Ether(dst=fw_mac, src=get_if_hwaddr(iface))
        self.pcap = pcap
        self.moatctl = moatctl
        self.marker = 0x4d00
        self.cases = []

    def ctl(self, *args):
        out = subprocess.run(self.moatctl + ["--json"] + list(args), capture_output=True,
                             text=True, timeout=10)
        return json.loads(out.stdout)

    def counters(self):
        d = self.ctl("show", "dataplane", "statistics")
        c = {}
        fw0 = [i for i in d["interfaces"] if i["name"] == "fw0"][0]["shim"]
        for k in SHIM:
            c["shim." + k] = fw0[k]
        for k in WORKER:
            c[k] = sum(w.get(k, 0) for w in d["workers"])
        s = self.ctl("show", "security", "screen", "statistics", "zone", "trust")
        for k in SCREEN:
            c["screen." + k] = s["zones"][0]["counters"][k]
        return c

    def arrived(self, v6, marker):
        """Frames of the marker captured at the server so far."""
        got = []
        try:
            with PcapReader(self.pcap) as r:
                for p in r:
                    if v6 and IPv6 in p and p[IPv6].src == S6 and p[IPv6].fl == marker:
                        got.append(p)
                    elif not v6 and IP in p and p[IP].src == S4 and p[IP].id == marker:
                        got.append(p)
        except EOFError:
            pass
        return got

    def next_marker(self):
        self.marker += 1
        return self.marker


def raw4(ip_bytes):
    return Ether(type=0x0800) / Raw(bytes(ip_bytes))


def case(lab, name, build, expect, arrive=0, v6=False, check=None):
    """build(marker) -> list of frames (Ether() / ...); expect: counter -> delta."""
    m = lab.next_marker()
    frames = build(m)
    before = lab.counters()
    for f in frames:
        f = f.copy()
        f[Ether].dst, f[Ether].src = lab.eth.dst, lab.eth.src
        sendp(f, iface=lab.iface, verbose=False)
    want = {k: 0 for k in before}
    for k, v in expect.items():
        if k not in want:
            raise SystemExit(f"case {name}: unknown counter {k}")
        want[k] = v
    deadline = time.time() + 3
    while True:
        after = lab.counters()
        delta = {k: after[k] - before[k] for k in before}
        if all(delta[k] >= want[k] for k in want) or time.time() > deadline:
            break
        time.sleep(0.05)
    time.sleep(0.15)  # anything more than expected would show now
    after = lab.counters()
    delta = {k: after[k] - before[k] for k in before}
    wrong = {k: f"{delta[k]} (want {want[k]})" for k in want if delta[k] != want[k]}
    moved = ", ".join(f"{k} +{v}" for k, v in delta.items() if v) or "nothing"
    result(not wrong, f"{name}: counted ({moved})", f"wrong: {wrong}")
    got = lab.arrived(v6, m)
    deadline = time.time() + 2
    while len(got) < arrive and time.time() < deadline:
        time.sleep(0.05)
        got = lab.arrived(v6, m)
    lab.cases.append((name, v6, m, arrive))
    result(len(got) == arrive, f"{name}: {arrive} of {len(frames)} frame(s) reached the server",
           f"{len(got)} arrived")
    if check and got:
        ok, what = check(got)
        result(ok, f"{name}: {what}")


def corpus(lab):
    E = Ether()
    malformed = {"shim.drop_malformed": 1}

    # ---- IPv4 header ----
    case(lab, "v4 UDP 5000 (permitted, control)",
         lambda m: [E / IP(src=S4, dst=D4, id=m) / UDP(sport=41000, dport=5000) / b"ok"],
         {"shim.redirect": 1, "forwarded": 1, "sessions_created": 1}, arrive=1)
    case(lab, "v4 TCP SYN to 22 (denied, control)",
         lambda m: [E / IP(src=S4, dst=D4, id=m) / TCP(sport=41001, dport=22, flags="S")],
         {"shim.redirect": 1, "policy_deny": 1})
    case(lab, "v4 with options (IHL 6) to UDP 5000",
         lambda m: [E / IP(src=S4, dst=D4, id=m, options=[IPOption(b"\x01\x01\x01\x01")]) /
                    UDP(sport=41002, dport=5000) / b"opt"],
         {"shim.redirect": 1, "forwarded": 1, "sessions_created": 1}, arrive=1)

    def ihl(m, value, tot=None):
        b = bytearray(bytes(IP(src=S4, dst=D4, id=m) / UDP(sport=41003, dport=5000) / (b"x" * 8)))
        b[0] = 0x40 | value
        if tot is not None:
            b[2:4] = tot.to_bytes(2, "big")
        return [raw4(b)]
    case(lab, "v4 IHL 4 (< 5)", lambda m: ihl(m, 4), malformed)
    case(lab, "v4 IHL 0", lambda m: ihl(m, 0), malformed)
    case(lab, "v4 IHL 15 > total length 36", lambda m: ihl(m, 15), malformed)
    case(lab, "v4 IHL 15 beyond the frame (total 60)", lambda m: ihl(m, 15, 60), malformed)

    def version(m):
        b = bytearray(bytes(IP(src=S4, dst=D4, id=m) / UDP(sport=41004, dport=5000)))
        b[0] = 0x65
        return [raw4(b)]
    case(lab, "v4 ethertype carrying version 6", version, malformed)

    def tot(m, length, trailer=b""):
        b = bytearray(bytes(IP(src=S4, dst=D4, id=m) / UDP(sport=41005 + (length & 7), dport=5000)
                            / (b"y" * 6)))
        b[2:4] = length.to_bytes(2, "big")
        return [raw4(bytes(b) + trailer)]
    case(lab, "v4 total length 400 > frame", lambda m: tot(m, 400), malformed)
    case(lab, "v4 total length 19 < header", lambda m: tot(m, 19), malformed)
    case(lab, "v4 total length cuts the UDP header (24)", lambda m: tot(m, 24), malformed)
    case(lab, "v4 total length 34 < frame (30 bytes trailer) to UDP 5000",
         lambda m: tot(m, 34, b"T" * 30),
         {"shim.redirect": 1, "forwarded": 1, "sessions_created": 1}, arrive=1,
         check=lambda got: (len(got[0]) == 14 + 34,
                            f"forwarded as the datagram only ({len(got[0])} bytes, want 48)"))

    # ---- TCP header ----
    def trunc_tcp(m, keep):
        t = bytes(TCP(sport=41010, dport=80, flags="S"))[:keep]
        return [E / IP(src=S4, dst=D4, id=m, proto=6) / Raw(t)]
    case(lab, "v4 TCP header truncated (10 bytes) to 80", lambda m: trunc_tcp(m, 10), malformed)
    case(lab, "v4 TCP header truncated (19 bytes) to 80", lambda m: trunc_tcp(m, 19), malformed)
    case(lab, "v4 TCP data offset 4 (< 5) to 80",
         lambda m: [E / IP(src=S4, dst=D4, id=m) / TCP(sport=41011, dport=80, flags="S", dataofs=4)],
         malformed)
    case(lab, "v4 TCP data offset 15 beyond the segment to 80",
         lambda m: [E / IP(src=S4, dst=D4, id=m) / TCP(sport=41012, dport=80, flags="S",
                                                       dataofs=15) / b"abcd"],
         malformed)
    case(lab, "v4 TCP SYN to 80 (permitted, control)",
         lambda m: [E / IP(src=S4, dst=D4, id=m) / TCP(sport=41013, dport=80, flags="S")],
         {"shim.redirect": 1, "forwarded": 1, "sessions_created": 1}, arrive=1)
    case(lab, "v4 TCP ACK to 80 without a session",
         lambda m: [E / IP(src=S4, dst=D4, id=m) / TCP(sport=41014, dport=80, flags="A")],
         {"shim.redirect": 1, "non_syn_drops": 1})

    # ---- UDP length ----
    def udplen(m, length, payload=b"zz"):
        return [E / IP(src=S4, dst=D4, id=m) / UDP(sport=41020 + length % 16, dport=5000,
                                                   len=length) / payload]
    case(lab, "v4 UDP length 0", lambda m: udplen(m, 0), malformed)
    case(lab, "v4 UDP length 4 (< 8)", lambda m: udplen(m, 4), malformed)
    case(lab, "v4 UDP length 100 > datagram", lambda m: udplen(m, 100), malformed)
    case(lab, "v4 UDP zero-length payload (length 8) to 5000", lambda m: udplen(m, 8, b""),
         {"shim.redirect": 1, "forwarded": 1, "sessions_created": 1}, arrive=1)

    # ---- TTL ----
    def ttl(m, t, sport):
        return [E / IP(src=S4, dst=D4, id=m, ttl=t) / UDP(sport=sport, dport=5000) / b"t"]
    # Expired: no session; the box answers "time exceeded" (sent back out of fw0: the TX
    # verdict counts as forwarded) and nothing reaches the server.
    expired = {"shim.redirect": 1, "ttl_expired": 1, "icmp_errors_sent": 1, "forwarded": 1}
    case(lab, "v4 TTL 0 to UDP 5000", lambda m: ttl(m, 0, 41030), expired)
    case(lab, "v4 TTL 1 to UDP 5000", lambda m: ttl(m, 1, 41031), expired)
    case(lab, "v4 TTL 2 to UDP 5000", lambda m: ttl(m, 2, 41032),
         {"shim.redirect": 1, "forwarded": 1, "sessions_created": 1}, arrive=1,
         check=lambda got: (got[0][IP].ttl == 1, f"left with TTL 1 ({got[0][IP].ttl})"))

    # ---- IPv4 fragments ----
    def udp_seg(sport, size=48):
        return bytes(UDP(sport=sport, dport=5000, len=8 + size) / (b"f" * size))

    def tcp_seg(sport, dport, size=28):
        return bytes(TCP(sport=sport, dport=dport, flags="S") / (b"g" * size))

    def frag4(m, seg, proto, parts):
        return [E / IP(src=S4, dst=D4, id=m, proto=proto, flags="MF" if more else 0,
                       frag=off // 8) / Raw(seg[off:off + n]) for off, n, more in parts]
    case(lab, "v4 fragments of UDP 5000 (first, then last)",
         lambda m: frag4(m, udp_seg(41040), 17, [(0, 32, 1), (32, 24, 0)]),
         {"shim.redirect": 2, "forwarded": 2, "sessions_created": 1}, arrive=2)
    case(lab, "v4 first fragment to TCP 22 (denied), then its later fragment",
         lambda m: frag4(m, tcp_seg(41041, 22), 6, [(0, 32, 1), (32, 16, 0)]),
         {"shim.redirect": 2, "policy_deny": 1, "frag_drops": 1})
    case(lab, "v4 later fragment without a first fragment",
         lambda m: frag4(m, tcp_seg(41042, 80, 200), 6, [(104, 64, 1), (168, 40, 0)]),
         {"shim.redirect": 2, "frag_drops": 2})
    case(lab, "v4 later fragment before its first fragment (UDP 5000)",
         lambda m: frag4(m, udp_seg(41043), 17, [(32, 24, 0), (0, 32, 1)]),
         {"shim.redirect": 2, "frag_drops": 1, "forwarded": 1, "sessions_created": 1}, arrive=1)
    case(lab, "v4 overlapping fragments of UDP 5000 (tear-drop)",
         lambda m: frag4(m, udp_seg(41044), 17, [(0, 32, 1), (16, 32, 0)]),
         {"shim.redirect": 2, "forwarded": 1, "sessions_created": 1, "screen.tear-drop": 1},
         arrive=1)
    case(lab, "v4 tiny first fragment (8 bytes of TCP to 80), flags in the next",
         lambda m: frag4(m, tcp_seg(41045, 80), 6, [(0, 8, 1), (8, 40, 0)]),
         {"shim.drop_malformed": 1, "shim.redirect": 1, "frag_drops": 1})
    case(lab, "v4 second first fragment: 80 permitted, then 22 with the same id",
         lambda m: frag4(m, tcp_seg(41046, 80), 6, [(0, 32, 1)]) +
         frag4(m, tcp_seg(41046, 22), 6, [(0, 32, 1)]),
         {"shim.redirect": 2, "forwarded": 1, "sessions_created": 1, "screen.tear-drop": 1},
         arrive=1, check=lambda got: (got[0][TCP].dport == 80, "only the one to port 80"))

    # ---- ICMP errors ----
    def err(m, quoted, dst=D4, icmp=None):
        return [E / IP(src=S4, dst=dst, id=m) / (icmp or ICMP(type=3, code=3)) / quoted]
    # Each error about a live session makes that session first (a UDP datagram client ->
    # server), so that none depends on an earlier case's session still being alive. An error
    # about a packet the server sent on it comes from the client, quoting server -> client.
    def udp_then_err(m, sport, dst=D4):
        return [E / IP(src=S4, dst=D4, id=m) / UDP(sport=sport, dport=5000) / b"s"] + \
            err(m, IPerror(src=D4, dst=S4) / UDPerror(sport=5000, dport=sport), dst=dst)
    case(lab, "ICMP error quoting a live session (related)", lambda m: udp_then_err(m, 41050),
         {"shim.redirect": 2, "sessions_created": 1, "icmp_error_related": 1, "forwarded": 2},
         arrive=2)
    case(lab, "ICMP error quoting a flow that does not exist",
         lambda m: err(m, IPerror(src=D4, dst=S4) / UDPerror(sport=5000, dport=41999)),
         {"shim.redirect": 1, "icmp_error_unmatched": 1})
    case(lab, "ICMP error to another host quoting a live session",
         lambda m: udp_then_err(m, 41051, dst="10.77.2.3"),
         {"shim.redirect": 2, "sessions_created": 1, "forwarded": 1, "icmp_error_unmatched": 1},
         arrive=1, check=lambda got: (UDP in got[0] and ICMP not in got[0], "only the datagram"))
    case(lab, "ICMP error quoting another host's flow",
         lambda m: err(m, IPerror(src="10.77.2.3", dst="10.77.1.3") /
                       UDPerror(sport=5000, dport=41050)),
         {"shim.redirect": 1, "icmp_error_unmatched": 1})
    case(lab, "ICMP error with a truncated quote (4 bytes of UDP)",
         lambda m: err(m, Raw(bytes(IPerror(src=D4, dst=S4, proto=17))[:20] +
                              bytes(UDPerror(sport=5000, dport=41050))[:4])),
         {"shim.redirect": 1, "icmp_error_unmatched": 1})
    case(lab, "ICMP error quoting a bad IHL",
         lambda m: err(m, Raw(b"\x43" + bytes(IPerror(src=D4, dst=S4, proto=17))[1:20] +
                              bytes(UDPerror(sport=5000, dport=41050)))),
         {"shim.redirect": 1, "icmp_error_unmatched": 1})
    case(lab, "ICMP error quoting an ICMP error",
         lambda m: err(m, IPerror(src=D4, dst=S4, proto=1) / ICMPerror(type=3, code=1) /
                       (b"q" * 28)),
         {"shim.redirect": 1, "icmp_error_unmatched": 1})
    case(lab, "ICMP error header truncated (4 bytes)",
         lambda m: [E / IP(src=S4, dst=D4, id=m, proto=1) / Raw(b"\x03\x03\x00\x00")],
         malformed)

    # ---- IPv6 ----
    def ip6(m, **kw):
        return IPv6(src=S6, dst=D6, fl=m, **kw)
    case(lab, "v6 UDP 5000 (permitted, control)",
         lambda m: [E / ip6(m) / UDP(sport=42000, dport=5000) / b"ok"],
         {"shim.redirect": 1, "forwarded": 1, "sessions_created": 1}, arrive=1, v6=True)
    case(lab, "v6 hop-by-hop + destination options + UDP 5000",
         lambda m: [E / ip6(m) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() /
                    UDP(sport=42001, dport=5000) / b"ext"],
         {"shim.redirect": 1, "forwarded": 1, "sessions_created": 1}, arrive=1, v6=True)

    def chain(m, n, last=17, sport=42002):
        ext = b""
        for i in range(n):
            ext += bytes([60 if i < n - 1 else last, 0, 1, 4, 0, 0, 0, 0])
        return [E / ip6(m, nh=0 if n else last) /
                Raw(bytes([ext[0]]) + ext[1:] + bytes(UDP(sport=sport, dport=5000) / b"c"))]
    case(lab, "v6 chain of 7 extension headers + UDP 5000", lambda m: chain(m, 7, sport=42007),
         {"shim.redirect": 1, "forwarded": 1, "sessions_created": 1}, arrive=1, v6=True)
    case(lab, "v6 chain of 8 extension headers + UDP 5000", lambda m: chain(m, 8),
         {"shim.redirect": 1, "forwarded": 1, "sessions_created": 1}, arrive=1, v6=True)
    case(lab, "v6 chain of 9 extension headers (more than the shim walks)",
         lambda m: chain(m, 9, sport=42003), {"shim.drop_other": 1}, v6=True)

    def deep(m):
        hbh = bytes([17, 30, 1, 244]) + bytes(244)  # 248 bytes: L4 at offset 302
        return [E / ip6(m, nh=0) / Raw(hbh + bytes(UDP(sport=42004, dport=5000) / b"d"))]
    case(lab, "v6 hop-by-hop putting L4 beyond byte 255", deep, {"shim.drop_other": 1}, v6=True)
    case(lab, "v6 unknown next header (253) after hop-by-hop",
         lambda m: [E / ip6(m) / IPv6ExtHdrHopByHop(nh=253) / (b"u" * 16)],
         {"shim.redirect": 1, "policy_deny": 1}, v6=True)
    case(lab, "v6 no next header (59)", lambda m: [E / ip6(m, nh=59) / (b"n" * 8)],
         {"shim.redirect": 1, "policy_deny": 1}, v6=True)
    case(lab, "v6 extension header longer than the payload",
         lambda m: [E / ip6(m, nh=0) / Raw(bytes([17, 5, 0, 0, 0, 0, 0, 0]))], malformed, v6=True)
    case(lab, "v6 payload length beyond the frame",
         lambda m: [E / ip6(m, nh=17, plen=200) / UDP(sport=42005, dport=5000)], malformed,
         v6=True)
    case(lab, "v6 TCP header truncated (12 bytes) to 80",
         lambda m: [E / ip6(m, nh=6) / Raw(bytes(TCP(sport=42006, dport=80))[:12])], malformed,
         v6=True)
    for hl in (0, 1):
        case(lab, f"v6 hop limit {hl} to UDP 5000",
             lambda m, hl=hl: [E / ip6(m, hlim=hl) / UDP(sport=42010 + hl, dport=5000) / b"h"],
             {"shim.redirect": 1, "ttl_expired": 1, "icmp_errors_sent": 1, "forwarded": 1},
             v6=True)
    case(lab, "v6 hop limit 2 to UDP 5000",
         lambda m: [E / ip6(m, hlim=2) / UDP(sport=42012, dport=5000) / b"h"],
         {"shim.redirect": 1, "forwarded": 1, "sessions_created": 1}, arrive=1, v6=True,
         check=lambda got: (got[0][IPv6].hlim == 1, f"left with hop limit 1 ({got[0][IPv6].hlim})"))

    def frag6(m, seg, nh, parts, ident=None):
        return [E / ip6(m) / IPv6ExtHdrFragment(nh=nh, offset=off // 8, m=more,
                                                 id=ident or m) / Raw(seg[off:off + n])
                for off, n, more in parts]
    case(lab, "v6 fragments of UDP 5000 (first, then last)",
         lambda m: frag6(m, udp_seg(42020), 17, [(0, 32, 1), (32, 24, 0)]),
         {"shim.redirect": 2, "forwarded": 2, "sessions_created": 1}, arrive=2, v6=True)
    case(lab, "v6 first fragment to TCP 22 (denied), then its later fragment",
         lambda m: frag6(m, tcp_seg(42021, 22), 6, [(0, 32, 1), (32, 16, 0)]),
         {"shim.redirect": 2, "policy_deny": 1, "frag_drops": 1}, v6=True)
    case(lab, "v6 later fragment without a first fragment",
         lambda m: frag6(m, tcp_seg(42022, 80, 200), 6, [(104, 64, 1)]),
         {"shim.redirect": 1, "frag_drops": 1}, v6=True)
    case(lab, "v6 atomic fragment (offset 0, no more) of UDP 5000",
         lambda m: frag6(m, udp_seg(42023, 8), 17, [(0, 16, 0)]),
         {"shim.redirect": 1, "forwarded": 1, "sessions_created": 1}, arrive=1, v6=True)
    case(lab, "v6 tiny first fragment (8 bytes of TCP to 80), flags in the next",
         lambda m: frag6(m, tcp_seg(42024, 80), 6, [(0, 8, 1), (8, 40, 0)]),
         {"shim.drop_malformed": 1, "shim.redirect": 1, "frag_drops": 1}, v6=True)
    case(lab, "v6 first fragment whose options header runs past it",
         lambda m: [E / ip6(m) / IPv6ExtHdrFragment(nh=60, offset=0, m=1, id=m) /
                    Raw(bytes([17, 6, 0, 0, 0, 0, 0, 0]) + b"o" * 8)],
         malformed, v6=True)
    # Tear-drop for IPv6 (RFC 5722): from its first overlapping fragment on, every fragment of
    # the datagram is dropped, the later ones overlapping nothing too; a copy of a fragment is
    # dropped alone (RFC 8200 4.5) and the datagram goes on.
    case(lab, "v6 overlapping fragments of UDP 5000, then the last (tear-drop, all dropped)",
         lambda m: frag6(m, udp_seg(42025), 17, [(0, 32, 1), (16, 32, 1), (48, 8, 0)]),
         {"shim.redirect": 3, "forwarded": 1, "sessions_created": 1, "screen.tear-drop": 2},
         arrive=1, v6=True)
    case(lab, "v6 fragment of UDP 5000 repeated, then the last (the copy dropped)",
         lambda m: frag6(m, udp_seg(42026), 17, [(0, 32, 1), (0, 32, 1), (32, 24, 0)]),
         {"shim.redirect": 3, "forwarded": 2, "sessions_created": 1, "screen.tear-drop": 1},
         arrive=2, v6=True,
         check=lambda got: ([p[IPv6ExtHdrFragment].offset for p in got] == [0, 4],
                            "the first fragment once, then the last"))
    case(lab, "v6 second first fragment: 80 permitted, then 22 with the same id",
         lambda m: frag6(m, tcp_seg(42027, 80), 6, [(0, 32, 1)]) +
         frag6(m, tcp_seg(42027, 22), 6, [(0, 32, 1)]),
         {"shim.redirect": 2, "forwarded": 1, "sessions_created": 1, "screen.tear-drop": 1},
         arrive=1, v6=True, check=lambda got: (got[0][TCP].dport == 80, "only the one to port 80"))

    # Ping of death for IPv6 (RFC 8200 4.5): a fragment that would make the reassembled
    # Payload Length (extension headers before the fragment header included) exceed 65535 is
    # dropped alone; the first fragment and one ending at exactly 65535 go on.
    def death6(m):
        echo = bytes(ICMPv6EchoRequest(id=78, seq=1, cksum=0) / (b"e" * 24))
        frag = IPv6ExtHdrFragment
        return [E / ip6(m) / frag(nh=58, offset=0, m=1, id=m) / Raw(echo),
                E / ip6(m) / frag(nh=58, offset=65528 // 8, m=0, id=m) / Raw(b"p" * 16),
                E / ip6(m) / IPv6ExtHdrHopByHop() / frag(nh=58, offset=65520 // 8, m=1, id=m) /
                Raw(b"q" * 8),
                E / ip6(m) / frag(nh=58, offset=65528 // 8, m=0, id=m) / Raw(b"r" * 7)]
    case(lab, "v6 ping of death: fragments ending at 65536 (one behind hop-by-hop) dropped",
         death6,
         {"shim.redirect": 4, "forwarded": 2, "sessions_created": 1, "screen.ping-death": 2},
         arrive=2, v6=True,
         check=lambda got: ([(p[IPv6ExtHdrFragment].offset, len(p[IPv6ExtHdrFragment].payload))
                             for p in got] == [(0, 32), (8191, 7)],
                            "the first fragment, then the one ending at 65535"))

    def err6(m, quoted):
        return [E / ip6(m) / ICMPv6DestUnreach(code=4) / quoted]
    case(lab, "ICMPv6 error quoting a live session (related)",
         lambda m: [E / ip6(m) / UDP(sport=42050, dport=5000) / b"s"] +
         err6(m, IPerror6(src=D6, dst=S6) / UDPerror(sport=5000, dport=42050)),
         {"shim.redirect": 2, "sessions_created": 1, "icmp_error_related": 1, "forwarded": 2},
         arrive=2, v6=True)
    case(lab, "ICMPv6 error quoting a flow that does not exist",
         lambda m: err6(m, IPerror6(src=D6, dst=S6) / UDPerror(sport=5000, dport=42999)),
         {"shim.redirect": 1, "icmp_error_unmatched": 1}, v6=True)
    case(lab, "ICMPv6 error quoting another host's flow",
         lambda m: err6(m, IPerror6(src="fd00:77:2::3", dst=S6) /
                        UDPerror(sport=5000, dport=42050)),
         {"shim.redirect": 1, "icmp_error_unmatched": 1}, v6=True)
    case(lab, "v6 ICMPv6 echo request (permitted, control)",
         lambda m: [E / ip6(m) / ICMPv6EchoRequest(id=77, seq=1)],
         {"shim.redirect": 1, "forwarded": 1, "sessions_created": 1}, arrive=1, v6=True)
    case(lab, "v4 ICMP echo request (permitted, control)",
         lambda m: [E / IP(src=S4, dst=D4, id=m) / ICMP(type=8, id=77, seq=1)],
         {"shim.redirect": 1, "forwarded": 1, "sessions_created": 1}, arrive=1)


def main():
    if len(sys.argv) < 5:
        raise SystemExit(__doc__)
    conf.verb = 0
    lab = Lab(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
    corpus(lab)
    time.sleep(0.5)
    late = [f"{n}: {len(lab.arrived(v6, m))}" for n, v6, m, want in lab.cases
            if len(lab.arrived(v6, m)) != want]
    result(not late, "at the end, every case still has the number of frames it expected at the "
           "server", f"{late}")
    print(f"corpus: {passes} passed, {fails} failed", flush=True)
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
