#!/usr/bin/env bash
# NAT with real traffic (tests/lab/configs/nat-standalone.conf): the server sees the
# client's traffic from fw1's address (interface SNAT); an outside client reaches the web
# server through 10.77.2.1:80 -> 10.77.1.2:8080 (DNAT); many concurrent UDP flows get
# distinct mappings and all replies come back; sessions show both tuples.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
lab_init nat
lab_topology
moat_start_spawned "$LAB_TOP/tests/lab/configs/nat-standalone.conf" || exit 1
check "armed with NAT rules" wait_for 15 armed is_armed
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

# --- TCP through SNAT with valid checksums at the receiver ---
ip netns exec "$NS_SRV" iperf3 -s -D -p 5201 --logfile "$RUN/iperf-srv.log"
sleep 0.3
check "TCP (iperf3 2 s) through SNAT" ip netns exec "$NS_CLI" iperf3 -c 10.77.2.2 -p 5201 -t 2

# --- DNAT: outside -> 10.77.2.1:80 -> 10.77.1.2:8080 ---
ip netns exec "$NS_CLI" bash -c "while true; do echo web-ok | nc -l -p 8080 -q 1; done >/dev/null 2>&1" &
LAB_PIDS+=($!)
sleep 0.3
out=$(ip netns exec "$NS_SRV" bash -c "echo hello | nc -w 3 10.77.2.1 80" 2>&1)
check "outside client reaches the web server through DNAT 80 -> 8080" grep -q web-ok <<<"$out"
check "port 81 on the public address is not forwarded" bash -c "! ip netns exec $NS_SRV nc -z -w 2 10.77.2.1 81"

moatctl show security flow session nat | head -12
check "show security flow session nat lists translated sessions" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show security flow session nat | grep -q '10.77.2.1'"
moatctl show security nat source summary | head -20
check "NAT rule hits counted" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN --json show security nat source summary | grep -q masquerade"
lab_finish
