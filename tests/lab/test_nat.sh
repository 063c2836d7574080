#!/usr/bin/env bash
# NAT with real traffic (tests/lab/configs/nat-standalone.conf): the server sees the
# client's traffic from fw1's address (interface SNAT); an outside client reaches the web
# server through 10.77.2.1:80 -> 10.77.1.2:8080 (DNAT); many concurrent UDP flows get
# distinct mappings and all replies come back; sessions show both tuples.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
lab_init nat
lab_topology
CONF="$RUN/moat.conf"
cp "$LAB_TOP/tests/lab/configs/nat-standalone.conf" "$CONF"
moat_start_spawned "$CONF" || exit 1
check "armed with NAT rules (legacy forced: the kernel path has them)" wait_for 15 ready is_ready
ip netns exec "$NS_CLI" ping -c 1 -W 1 10.77.2.2 >/dev/null 2>&1

# --- SNAT: the server sees fw1's address ---
cat >"$RUN/udp_echo.py" <<'PYEOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
log = open(sys.argv[2], "a")
while True:
    d, a = s.recvfrom(2048)
    log.write("%s:%d\n" % a); log.flush()
    s.sendto(d, a)
PYEOF
ip netns exec "$NS_SRV" $PY "$RUN/udp_echo.py" 9000 "$RUN/seen.log" &
LAB_PIDS+=($!)
sleep 0.5
check "ping client -> server through SNAT" ip netns exec "$NS_CLI" ping -c 3 -i 0.2 -W 2 10.77.2.2
cat >"$RUN/udp_many.py" <<'PYEOF'
# n UDP sockets alive at once, each sending until it has its echo (UDP may lose a datagram,
# so an unanswered socket retries, as applications do); sent in batches so the echo
# server's socket buffer is not the bottleneck being measured.
import socket, sys, select, time
n = int(sys.argv[1]); socks = []
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.77.1.2", 0)); s.setblocking(False)
    socks.append(s)
got = set()
for attempt in range(4):
    todo = [s for s in socks if s.fileno() not in got]
    for i in range(0, len(todo), 50):
        for s in todo[i:i + 50]:
            s.sendto(b"x" * 16, ("10.77.2.2", 9000))
        time.sleep(0.02)
    end = time.time() + 2
    while len(got) < n and time.time() < end:
        r, _, _ = select.select(socks, [], [], 0.2)
        for s in r:
            try:
                s.recvfrom(64); got.add(s.fileno())
            except BlockingIOError:
                pass
    if len(got) == n:
        break
print(len(got))
PYEOF
replies=$(ip netns exec "$NS_CLI" $PY "$RUN/udp_many.py" 1000)
echo "    1000 concurrent UDP flows: $replies replies"
check "1000 concurrent UDP flows all get their reply" [ "$replies" -eq 1000 ]
srcs=$(cut -d: -f1 "$RUN/seen.log" | sort -u | tr '\n' ' ')
ports=$(cut -d: -f2 "$RUN/seen.log" | sort -u | wc -l)
echo "    server saw sources: $srcs; distinct source ports: $ports"
check "the server sees only fw1's address (10.77.2.1)" [ "$srcs" = "10.77.2.1 " ]
check "1000 flows got 1000 distinct translated ports" [ "$ports" -ge 1000 ]
check "replies found through the NAT reverse index" [ "$(counter worker nat_reverse_hit)" -ge 1000 ]

# --- endpoint-independent mapping (RFC 4787 REQ-1): one internal address:port to two server
# ports keeps one external port; a second echo server logs what it sees on 9010 ---
ip netns exec "$NS_SRV" $PY "$RUN/udp_echo.py" 9010 "$RUN/seen2.log" &
LAB_PIDS+=($!)
sleep 0.3
eim_send() { # eim_send DPORT: from 10.77.1.2:41000 until echoed (3 tries)
	ip netns exec "$NS_CLI" $PY -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.77.1.2", 41000)); s.settimeout(1)
for _ in range(3):
    s.sendto(b"eim", ("10.77.2.2", int(sys.argv[1])))
    try:
        s.recv(64); sys.exit(0)
    except socket.timeout:
        pass
sys.exit(1)' "$1"
}
eim_send 9000 && eim1=$(tail -1 "$RUN/seen.log")
eim_send 9010 && eim2=$(tail -1 "$RUN/seen2.log")
echo "    10.77.1.2:41000 seen by server port 9000 as ${eim1:-none}, by port 9010 as ${eim2:-none}"
check "endpoint-independent mapping: 10.77.1.2:41000 has one external address:port for both server ports" \
	bash -c "[ -n '${eim1:-}' ] && [ '${eim1:-x}' = '${eim2:-y}' ]"

# --- an ICMP port-unreachable for a translated flow comes back translated ---
cat >"$RUN/udp_refused.py" <<'PYEOF'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect(("10.77.2.2", 9999)); s.settimeout(2)
s.send(b"anyone?")
try:
    s.recv(64); print("answered")
except ConnectionRefusedError:
    print("refused")
except socket.timeout:
    print("timeout")
PYEOF
icmp0=$(counter worker nat_icmp_errors)
res=$(ip netns exec "$NS_CLI" $PY "$RUN/udp_refused.py")
echo "    UDP to a closed port behind SNAT: $res"
check "the port-unreachable error reached the client translated (ECONNREFUSED)" [ "$res" = refused ]
check "counted as a translated ICMP error" [ "$(counter worker nat_icmp_errors)" -gt "$icmp0" ]

# --- checksums valid at the receivers, a TTL-expired error translated back ---
# The server routes 10.99.0.0/16 (nat-standalone.conf: route 10.99.0.0/16 next-hop 10.77.2.2):
# a probe whose TTL runs out there comes back as a time-exceeded error from 10.77.2.2 quoting
# the translated packet.
ip netns exec "$NS_SRV" sysctl -qw net.ipv4.ip_forward=1
ip -n "$NS_SRV" link add d0 type dummy
ip -n "$NS_SRV" link set d0 up
ip -n "$NS_SRV" route add 10.99.0.0/16 dev d0
ip netns exec "$NS_SRV" iperf3 -s -D -p 5201 --logfile "$RUN/iperf-srv.log"
if legacy_forced; then
	# The legacy path redirects into fw1, which needs NAPI at s0 (shared/LAB.md pitfall 3):
	# lab_topology gives it GRO, but GRO merges TCP segments whose checksum field then holds
	# only the pseudo-header sum, which tcpdump calls incorrect. A pass-all XDP program gives
	# s0 NAPI without GRO, so the capture holds the segments exactly as Moat sent them.
	clang -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -c "$LAB_TOP/tests/bench/xdp_pass.bpf.c" -o "$RUN/xdp_pass.o"
	ip -n "$NS_SRV" link set dev s0 xdpdrv obj "$RUN/xdp_pass.o" sec xdp
	ip netns exec "$NS_SRV" ethtool -K s0 gro off >/dev/null
fi
# Captures of what Moat delivers: at the server (translated) and at the client (replies and
# errors translated back).
for side in "$NS_SRV:s0:srv" "$NS_CLI:c0:cli"; do
	IFS=: read -r ns dev name <<<"$side"
	ip netns exec "$ns" tcpdump -i "$dev" -Q in -n -U -w "$RUN/$name.pcap" \
		'icmp or tcp port 5201 or udp port 9000 or dst net 10.99.0.0/16' 2>"$RUN/tcpdump-$name.err" &
	LAB_PIDS+=($!)
done
wait_for 5 "tcpdump" bash -c "grep -q listening $RUN/tcpdump-srv.err && grep -q listening $RUN/tcpdump-cli.err"
icmp0=$(counter worker nat_icmp_errors)
cat >"$RUN/ttl_probe.py" <<'PYEOF'
# A UDP probe with TTL 2 (one hop through Moat, expiring at the server); the kernel queues the
# time-exceeded error on this socket only if the packet it quotes is this socket's own
# (source 10.77.1.2:port): the quoted packet must be translated back.
import socket, select, struct
IP_RECVERR = 11
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 2)
s.connect(("10.99.1.1", 33434))
for attempt in range(3):
    s.send(b"traceroute-probe")
    p = select.poll(); p.register(s, select.POLLERR)
    if not p.poll(1000):
        continue
    _, anc, _, _ = s.recvmsg(512, 512, socket.MSG_ERRQUEUE)
    for lvl, typ, data in anc:
        if lvl == socket.IPPROTO_IP and typ == IP_RECVERR:
            errno_, origin, etype, code = struct.unpack_from("IBBB", data)
            off = socket.inet_ntoa(data[20:24])
            print("type %d code %d from %s" % (etype, code, off))
            raise SystemExit(0)
print("no error")
PYEOF
res=$(ip netns exec "$NS_CLI" $PY "$RUN/ttl_probe.py")
echo "    UDP probe with TTL 2 towards 10.99.1.1: $res"
check "a TTL-expired error from beyond the server reaches the UDP socket (inner packet translated back)" \
	[ "$res" = "type 11 code 0 from 10.77.2.2" ]
res=$(ip netns exec "$NS_CLI" ping -n -c 1 -t 2 -W 2 10.99.1.1 2>&1)
echo "    ping -t 2 10.99.1.1: $(grep -i 'exceeded' <<<"$res")"
check "ping -t 2 sees 'Time to live exceeded' from 10.77.2.2 (ICMP id translated back)" \
	grep -q "From 10.77.2.2 icmp_seq=1 Time to live exceeded" <<<"$res"
check "the time-exceeded errors were counted as translated" \
	[ "$(counter worker nat_icmp_errors)" -ge $((icmp0 + 2)) ]
# SNAT'd ICMP, UDP (checksummed, and one with checksum 0 that must stay 0) and TCP.
ip netns exec "$NS_CLI" ping -c 3 -i 0.2 -W 2 10.77.2.2 >/dev/null
ip netns exec "$NS_CLI" $PY -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)
for i in range(5):
    s.sendto(b"checksum-me-%d" % i, ("10.77.2.2", 9000))
    try: s.recv(64)
    except socket.timeout: pass
'
ip netns exec "$NS_CLI" $PY -c '
from scapy.all import IP, UDP, send, conf
conf.verb = 0
send(IP(dst="10.77.2.2") / UDP(sport=40001, dport=9000, chksum=0) / b"zero-checksum", count=4, inter=0.1)
'
check "TCP through SNAT (iperf3 300 KB)" ip netns exec "$NS_CLI" iperf3 -c 10.77.2.2 -p 5201 -n 300K
# tcpdump drops what it has not read yet when stopped: let it catch up (the captures stop
# growing for a second) on a loaded machine.
prev=-1
for _ in $(seq 1 20); do
	sleep 1
	size=$(cat "$RUN/srv.pcap" "$RUN/cli.pcap" | wc -c)
	[ "$size" = "$prev" ] && break
	prev=$size
done
kill -INT "${LAB_PIDS[-1]}" "${LAB_PIDS[-2]}" 2>/dev/null
wait "${LAB_PIDS[-1]}" "${LAB_PIDS[-2]}" 2>/dev/null
for name in srv cli; do
	tcpdump -n -vv -r "$RUN/$name.pcap" >"$RUN/$name.txt" 2>/dev/null
done
n() { grep -c -- "$1" "$2"; }
echo "    at the server: $(grep -c '^[0-9]' "$RUN/srv.txt") packets; TCP correct $(n '(correct)' "$RUN/srv.txt"), UDP sum ok $(n 'udp sum ok' "$RUN/srv.txt"), UDP no cksum $(n 'no cksum' "$RUN/srv.txt"), ICMP echo $(n 'ICMP echo request' "$RUN/srv.txt")"
echo "    at the client: $(grep -c '^[0-9]' "$RUN/cli.txt") packets; TCP correct $(n '(correct)' "$RUN/cli.txt"), UDP sum ok $(n 'udp sum ok' "$RUN/cli.txt"), ICMP echo reply $(n 'ICMP echo reply' "$RUN/cli.txt"), time exceeded $(n 'time exceeded' "$RUN/cli.txt")"
bad() { ! grep -Ei "bad cksum|bad udp cksum|incorrect|wrong icmp cksum|bad hdr length" "$1"; }
# The detector itself: tcpdump must flag a capture of broken checksums (IP, TCP, UDP, ICMP).
$PY -c '
from scapy.all import Ether, IP, TCP, UDP, ICMP, wrpcap
e = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
wrpcap("'"$RUN"'/broken.pcap", [e / IP(src="10.0.0.1", dst="10.0.0.2", chksum=0x1234) / UDP(sport=1, dport=2),
    e / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1, dport=2, chksum=0x1234),
    e / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1, dport=2, chksum=0x1234),
    e / IP(src="10.0.0.1", dst="10.0.0.2") / ICMP(chksum=0x1234)])
'
tcpdump -n -vv -r "$RUN/broken.pcap" >"$RUN/broken.txt" 2>/dev/null
check "the checksum detector flags all 4 broken packets of a crafted capture" \
	[ "$(grep -Eci "bad cksum|bad udp cksum|incorrect|wrong icmp cksum" "$RUN/broken.txt")" -eq 4 ]
check "no bad checksum in what the server received" bad "$RUN/srv.txt"
check "no bad checksum in what the client received" bad "$RUN/cli.txt"
check "the server capture holds translated TCP with correct checksums" \
	bash -c "grep '10.77.2.1\.[0-9]* > 10.77.2.2.5201' $RUN/srv.txt | grep -q '(correct)'"
check "the server capture holds translated UDP with valid checksums" \
	bash -c "grep '10.77.2.1\.[0-9]* > 10.77.2.2.9000' $RUN/srv.txt | grep -q 'udp sum ok'"
check "the server capture holds translated ICMP echo requests" \
	bash -c "grep -A1 '^[0-9].*proto ICMP' $RUN/srv.txt | grep -q '10.77.2.1 > 10.77.2.2: ICMP echo request'"
check "UDP sent with checksum 0 arrives with checksum 0" \
	bash -c "grep -A1 'proto UDP' $RUN/srv.txt | grep '10.77.2.1\.[0-9]* > 10.77.2.2.9000' | grep -q 'no cksum'"
check "the client capture holds TCP replies with correct checksums" \
	bash -c "grep '10.77.2.2.5201 > 10.77.1.2\.' $RUN/cli.txt | grep -q '(correct)'"
check "the client capture holds the translated time-exceeded errors" \
	bash -c "grep -A2 '10.77.2.2 > 10.77.1.2: ICMP time exceeded' $RUN/cli.txt | grep -q '10.77.1.2\.[0-9]* > 10.99.1.1.33434'"
check "TCP (iperf3 2 s) through SNAT" ip netns exec "$NS_CLI" iperf3 -c 10.77.2.2 -p 5201 -t 2

# --- DNAT: outside -> 10.77.2.1:80 -> 10.77.1.2:8080 ---
# The web server answers "web-ok PEER:PORT": who it saw the connection come from.
cat >"$RUN/web.py" <<'PYEOF'
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080)); s.listen(64)
while True:
    c, a = s.accept(); c.settimeout(2)
    try:
        c.recv(100)
    except OSError:
        pass
    try:
        c.sendall(b"web-ok %s:%d\n" % (a[0].encode(), a[1]))
    except OSError:
        pass
    c.close()
PYEOF
ip netns exec "$NS_CLI" $PY "$RUN/web.py" >/dev/null 2>&1 &
LAB_PIDS+=($!)
# The web server's neighbour entry forgotten first: the first SYN meets a neighbour miss. It
# must be dropped while the box resolves (the sender retransmits), never handed to the kernel
# untranslated (it is addressed to the box's own 10.77.2.1:80: the kernel would reset it).
ip -n "$NS_FW" neigh flush dev fw0
sleep 0.3
out=$(ip netns exec "$NS_SRV" bash -c "echo hello | nc -w 5 10.77.2.1 80" 2>&1)
check "outside client reaches the web server through DNAT 80 -> 8080 (next hop unresolved at first: '$(head -c 60 <<<"$out")')" grep -q web-ok <<<"$out"
check "port 81 on the public address is not forwarded" bash -c "! ip netns exec $NS_SRV nc -z -w 2 10.77.2.1 81"

# --- hairpin: a LAN client reaches the web server by the public address 10.77.2.1:80 ---
cat >"$RUN/web_get.py" <<'PYEOF'
import socket
try:
    s = socket.create_connection(("10.77.2.1", 80), timeout=3)
    s.sendall(b"hello\n")
    print(s.recv(100).decode().strip() or "empty")
except OSError as e:
    print("failed: %s" % e)
PYEOF
out=$(ip netns exec "$NS_CLI" $PY "$RUN/web_get.py")
echo "    LAN client -> 10.77.2.1:80 with DNAT from untrust only: $out"
check "no hairpin while the DNAT rule-set matches only untrust" bash -c "! grep -q web-ok <<<'$out'"
cp "$LAB_TOP/tests/lab/configs/nat-hairpin.conf" "$CONF"
check "commit of the hairpin configuration" moatctl commit
check "moat_nat_local holds fw0's address for hairpinned replies" \
	wait_for 5 "controld log" grep -q "moat_nat_local: 8 " "$RUN/controld.log"
hp_try() { out=$(ip netns exec "$NS_CLI" $PY "$RUN/web_get.py"); grep -q web-ok <<<"$out"; }
check "a LAN client reaches the web server by the public address (hairpin)" wait_for 10 hairpin hp_try
out=$(ip netns exec "$NS_CLI" $PY "$RUN/web_get.py")
echo "    LAN client -> 10.77.2.1:80 -> 10.77.1.2:8080: $out"
peer=${out#web-ok }
hp_port=${peer#*:}
check "the web server saw the hairpinned flow from fw0's address (10.77.1.1)" [ "${peer%%:*}" = 10.77.1.1 ]
check "from a port of the interface NAT range" bash -c "[ '$hp_port' -ge 1024 ] && [ '$hp_port' -le 32767 ]"
moatctl show security flow session nat | grep -B1 -A1 "10.77.1.1/$hp_port" | head -6
check "the hairpin session shows both translations" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show security flow session nat | grep -q '10.77.1.1/$hp_port'"
out=$(ip netns exec "$NS_SRV" bash -c "echo hello | nc -w 3 10.77.2.1 80" 2>&1)
check "the outside client still reaches the web server after the commit" grep -q "web-ok 10.77.2.2" <<<"$out"

moatctl show security flow session nat | head -12
check "show security flow session nat lists translated sessions" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show security flow session nat | grep -q '10.77.2.1'"
moatctl show security nat source summary | head -20
check "NAT rule hits counted" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN --json show security nat source summary | grep -q masquerade"
lab_finish
