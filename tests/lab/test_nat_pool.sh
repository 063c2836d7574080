#!/usr/bin/env bash
# NAT pools and static NAT with real traffic (tests/lab/configs/nat-pool.conf): source pool
# translation (addresses and port range), port no-translation, static 1:1 NAT in both
# directions, and pool exhaustion through the packet path: counted per pool, per rule and per
# worker, shown by moatctl, and the ports come back once the sessions are gone.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
lab_init nat_pool
lab_topology
# The static host; the server routes the public block 10.77.3.0/24 to the box.
ip -n "$NS_CLI" addr add 10.77.1.3/24 dev c0
# More LAN hosts, to see the pool's two addresses handed out.
for a in 4 5 6 7; do ip -n "$NS_CLI" addr add 10.77.1.$a/24 dev c0; done
ip -n "$NS_SRV" route add 10.77.3.0/24 via 10.77.2.1
moat_start_spawned "$LAB_TOP/tests/lab/configs/nat-pool.conf" || exit 1
check "armed with pools and static NAT (legacy forced: the kernel path has them)" wait_for 15 ready is_ready

# Servers answer "seen ADDR:PORT": the source they saw. UDP and TCP on each port.
cat >"$RUN/seen_server.py" <<'PYEOF'
import socket, select, sys
bind, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
socks = {}
for p in ports:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind((bind, p)); socks[u] = "u"
    t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind((bind, p)); t.listen(64); socks[t] = "t"
while True:
    r, _, _ = select.select(list(socks), [], [])
    for s in r:
        if socks[s] == "u":
            d, a = s.recvfrom(2048)
            s.sendto(b"seen %s:%d" % (a[0].encode(), a[1]), a)
        else:
            c, a = s.accept()
            try:
                c.sendall(b"seen %s:%d" % (a[0].encode(), a[1]))
            except OSError:
                pass
            c.close()
PYEOF
# client.py SRC SPORT DST DPORT u|t N TRIES: N sockets from SRC[:SPORT]; one line each:
# "LOCALPORT REPLY_FROM SEEN" or "LOCALPORT none". UDP sockets send once per try, all at once.
cat >"$RUN/client.py" <<'PYEOF'
import socket, select, sys, time
src, sport, dst, dport, proto, n, tries = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5], int(sys.argv[6]), int(sys.argv[7])
res = {}
if proto == "t":
    for i in range(n):
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((src, sport)); s.settimeout(3)
        lp = s.getsockname()[1]
        try:
            s.connect((dst, dport)); d = s.recv(100).decode()
            res[lp] = "%s:%d %s" % (s.getpeername() + (d.split()[1],))
        except OSError:
            res[lp] = None
        s.close()
else:
    socks = []
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((src, sport)); s.setblocking(False)
        socks.append(s); res[s.getsockname()[1]] = None
    for t in range(tries):
        for s in socks:
            if res[s.getsockname()[1]] is None:
                s.sendto(b"hi", (dst, dport))
        end = time.time() + 1.5
        while time.time() < end and None in res.values():
            r, _, _ = select.select(socks, [], [], 0.2)
            for s in r:
                d, a = s.recvfrom(100)
                res[s.getsockname()[1]] = "%s:%d %s" % (a[0], a[1], d.decode().split()[1])
        if None not in res.values():
            break
for lp, v in res.items():
    print(lp, v or "none")
PYEOF
# A second server address (tests of endpoint-independent mapping with pool tiny).
ip -n "$NS_SRV" addr add 10.77.2.3/24 dev s0
ip netns exec "$NS_SRV" $PY "$RUN/seen_server.py" 10.77.2.2 9000 9001 9002 9003 9004 9005 &
LAB_PIDS+=($!)
ip netns exec "$NS_SRV" $PY "$RUN/seen_server.py" 10.77.2.3 9001 &
LAB_PIDS+=($!)
ip netns exec "$NS_CLI" $PY "$RUN/seen_server.py" 10.77.1.3 7000 &
LAB_PIDS+=($!)
sleep 0.5
client() { ip netns exec "$1" $PY "$RUN/client.py" "${@:2}"; }
# in_pool FILE ADDR_REGEX LO HI: every line answered, seen from ADDR_REGEX with a port in LO..HI.
in_pool() {
	awk -v re="^($2)$" -v lo="$3" -v hi="$4" '
		{ split($3, a, ":"); if ($2 == "none" || a[1] !~ re || a[2] < lo || a[2] > hi) bad++; n++ }
		END { exit !(n > 0 && bad == 0) }' "$1"
}

# --- source pool: addresses 10.77.3.100-101, ports 20000-20999 ---
client "$NS_CLI" 10.77.1.2 0 10.77.2.2 9000 u 20 3 >"$RUN/pool_udp.txt"
client "$NS_CLI" 10.77.1.2 0 10.77.2.2 9000 t 3 1 >"$RUN/pool_tcp.txt"
echo "    pool UDP: $(grep -vc none "$RUN/pool_udp.txt")/20 answered, seen as: $(awk '{print $3}' "$RUN/pool_udp.txt" | head -4 | tr '\n' ' ')..."
echo "    pool TCP: $(awk '{print $3}' "$RUN/pool_tcp.txt" | tr '\n' ' ')"
check "20 UDP flows through pool public all answered from 10.77.3.100-101:20000-20999" \
	in_pool "$RUN/pool_udp.txt" '10\.77\.3\.10[01]' 20000 20999
check "their 20 mappings are distinct" [ "$(awk '{print $3}' "$RUN/pool_udp.txt" | sort -u | wc -l)" -eq 20 ]
for a in 4 5 6 7; do
	client "$NS_CLI" 10.77.1.$a 0 10.77.2.2 9000 u 3 3 | sed "s/^/10.77.1.$a /" >>"$RUN/pool_hosts.txt"
done
echo "    LAN hosts 10.77.1.4-7 through pool public: $(awk '{split($4, a, ":"); print $1 "->" a[1]}' "$RUN/pool_hosts.txt" | sort -u | tr '\n' ' ')"
check "12 flows of 4 more LAN hosts all answered from the pool" \
	bash -c "cut -d' ' -f2- $RUN/pool_hosts.txt >$RUN/pool_hosts2.txt && [ \$(wc -l <$RUN/pool_hosts2.txt) -eq 12 ]"
check "... from 10.77.3.100-101:20000-20999" in_pool "$RUN/pool_hosts2.txt" '10\.77\.3\.10[01]' 20000 20999
check "each LAN host keeps one pool address (paired), and both pool addresses are in use" \
	awk '{ split($4, a, ":"); if ((($1) in m) && m[$1] != a[1]) bad++; m[$1] = a[1]; used[a[1]] = 1 }
		END { n = 0; for (u in used) n++; exit !(bad == 0 && n == 2) }' "$RUN/pool_hosts.txt"
check "TCP through pool public" in_pool "$RUN/pool_tcp.txt" '10\.77\.3\.10[01]' 20000 20999
# Endpoint-independent mapping (RFC 4787 REQ-1): one internal address:port to two server ports
# keeps its external address and port.
client "$NS_CLI" 10.77.1.2 41000 10.77.2.2 9000 u 1 3 >"$RUN/eim1.txt"
client "$NS_CLI" 10.77.1.2 41000 10.77.2.2 9003 u 1 3 >"$RUN/eim2.txt"
echo "    10.77.1.2:41000 seen by server port 9000 as $(awk '{print $3}' "$RUN/eim1.txt"), by port 9003 as $(awk '{print $3}' "$RUN/eim2.txt")"
check "endpoint-independent mapping: 10.77.1.2:41000 is seen as one pool address:port by both server ports" \
	bash -c "a=\$(awk '{print \$3}' $RUN/eim1.txt); b=\$(awk '{print \$3}' $RUN/eim2.txt); [[ \$a == 10.77.3.10[01]:* ]] && [ \"\$a\" = \"\$b\" ]"
check "ping through pool public" ip netns exec "$NS_CLI" ping -c 2 -i 0.2 -W 2 10.77.2.2
check "the ICMP session is translated to the pool (echo id in its port range)" bash -c \
	"$MOAT_BUILD/moatctl --run-dir $RUN show security flow session nat | grep -A2 -i icmp | grep -Eq '10\.77\.3\.10[01]/2[0-9]{4}'"

# --- port no-translation: the pool address, the client's own port ---
client "$NS_CLI" 10.77.1.2 45678 10.77.2.2 9002 u 1 3 >"$RUN/nt_udp.txt"
client "$NS_CLI" 10.77.1.2 45679 10.77.2.2 9002 t 1 1 >"$RUN/nt_tcp.txt"
echo "    port no-translation: UDP $(cat "$RUN/nt_udp.txt"); TCP $(cat "$RUN/nt_tcp.txt")"
check "port no-translation: UDP from :45678 seen as 10.77.3.150:45678" in_pool "$RUN/nt_udp.txt" '10\.77\.3\.150' 45678 45678
check "port no-translation: TCP from :45679 seen as 10.77.3.150:45679" in_pool "$RUN/nt_tcp.txt" '10\.77\.3\.150' 45679 45679

# --- static NAT, both directions ---
client "$NS_CLI" 10.77.1.3 0 10.77.2.2 9000 u 3 3 >"$RUN/st_out.txt"
echo "    static outbound (10.77.1.3 -> server): $(tr '\n' ';' <"$RUN/st_out.txt")"
check "static outbound: 10.77.1.3 is seen as 10.77.3.10, its ports kept" \
	awk '{ split($3, a, ":"); if (a[1] != "10.77.3.10" || a[2] != $1) bad++; n++ } END { exit !(n == 3 && !bad) }' "$RUN/st_out.txt"
client "$NS_SRV" 10.77.2.2 0 10.77.3.10 7000 u 3 3 >"$RUN/st_in_udp.txt"
client "$NS_SRV" 10.77.2.2 0 10.77.3.10 7000 t 2 1 >"$RUN/st_in_tcp.txt"
echo "    static inbound (server -> 10.77.3.10:7000): UDP $(head -1 "$RUN/st_in_udp.txt"); TCP $(head -1 "$RUN/st_in_tcp.txt")"
check "static inbound UDP: 10.77.3.10:7000 reaches 10.77.1.3, answers come from 10.77.3.10:7000" \
	awk '{ split($3, a, ":"); if ($2 != "10.77.3.10:7000" || a[1] != "10.77.2.2" || a[2] != $1) bad++; n++ } END { exit !(n == 3 && !bad) }' "$RUN/st_in_udp.txt"
check "static inbound TCP" \
	awk '{ if ($2 != "10.77.3.10:7000" || $3 !~ /^10\.77\.2\.2:/) bad++; n++ } END { exit !(n == 2 && !bad) }' "$RUN/st_in_tcp.txt"
check "static outbound ping" ip netns exec "$NS_CLI" ping -I 10.77.1.3 -c 2 -i 0.2 -W 2 10.77.2.2

# --- exhaustion: pool tiny has 4 ports; 10 flows (each sent twice: a lost datagram does not
# change which 4 got the ports, the 6 others are refused again) ---
pool_field() { # pool_field POOL FIELD
	moatctl --json show security nat source pool "$1" | $PY -c '
import json, sys
d = json.load(sys.stdin)
pools = d["pools"] if isinstance(d, dict) and "pools" in d else d
pools = pools if isinstance(pools, list) else [pools]
print([p for p in pools if p["name"] == sys.argv[1]][0][sys.argv[2]])' "$1" "$2"
}
rule_field() { # rule_field RULE FIELD
	moatctl --json show security nat source rule "$1" | $PY -c '
import json, sys
d = json.load(sys.stdin)
rules = d["rules"] if isinstance(d, dict) and "rules" in d else d
rules = rules if isinstance(rules, list) else [rules]
print([r for r in rules if r["name"] == sys.argv[1]][0][sys.argv[2]])' "$1" "$2"
}
fail0=$(counter worker nat_alloc_failures)
client "$NS_CLI" 10.77.1.2 0 10.77.2.2 9001 u 10 2 >"$RUN/tiny.txt"
answered=$(grep -vc none "$RUN/tiny.txt")
# Endpoint-independent mapping with the 4 ports taken: a holder going to another server keeps
# its port; new endpoints to that server get none (a port is one internal endpoint's, whatever
# the destination). Right away: the 4 sessions live 10 s (udp-timeout).
read -r hold_lp _ hold_seen < <(grep -v none "$RUN/tiny.txt" | head -1)
client "$NS_CLI" 10.77.1.2 "$hold_lp" 10.77.2.3 9001 u 1 3 >"$RUN/tiny_eim.txt"
client "$NS_CLI" 10.77.1.2 0 10.77.2.3 9001 u 3 1 >"$RUN/tiny_other.txt"
echo "    holder :$hold_lp ($hold_seen) to 10.77.2.3:9001 seen as $(awk '{print $3}' "$RUN/tiny_eim.txt"); 3 new endpoints to it: $(grep -vc none "$RUN/tiny_other.txt") answered"
check "a holder of a tiny port keeps it to another server (endpoint-independent mapping)" \
	[ "$(awk '{print $3}' "$RUN/tiny_eim.txt")" = "$hold_seen" ]
check "no other endpoint gets a tiny port held for another destination" \
	[ "$(grep -vc none "$RUN/tiny_other.txt")" -eq 0 ]

echo "    10 flows into pool tiny (4 ports): $answered answered: $(grep -v none "$RUN/tiny.txt" | awk '{print $3}' | tr '\n' ' ')"
moatctl show security nat source pool tiny | sed 's/^/    /'
check "exactly 4 of 10 flows got a mapping from the 4-port pool" [ "$answered" -eq 4 ]
check "those 4 are 10.77.3.200:30000-30003" bash -c "grep -v none $RUN/tiny.txt | awk '{ split(\$3, a, \":\"); if (a[1] != \"10.77.3.200\" || a[2] < 30000 || a[2] > 30003) exit 1 }'"
check "the 6 refused flows are counted: pool tiny exhausted" [ "$(pool_field tiny exhausted)" -ge 6 ]
check "pool tiny shows its 4 ports in use" [ "$(pool_field tiny ports_in_use)" -eq 4 ]
check "rule tiny counts 6 translation failures" [ "$(rule_field tiny failures)" -ge 6 ]
check "worker nat_alloc_failures moved by 6" [ "$(counter worker nat_alloc_failures)" -ge $((fail0 + 6)) ]
check "show dataplane statistics shows nat_alloc_failures" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show dataplane statistics | grep -q nat_alloc_failures"
# --- pool fall-over: pool pair (2 addresses x 2 ports); one internal host starts at one
# address and takes the other when it is full; pool sticky (the same, address-persistent)
# refuses instead ---
client "$NS_CLI" 10.77.1.2 0 10.77.2.2 9004 u 6 2 >"$RUN/pair.txt"
client "$NS_CLI" 10.77.1.2 0 10.77.2.2 9005 u 4 2 >"$RUN/sticky.txt"
echo "    6 flows into pool pair: $(grep -v none "$RUN/pair.txt" | awk '{print $3}' | sort | tr '\n' ' ')"
echo "    4 flows into pool sticky: $(grep -v none "$RUN/sticky.txt" | awk '{print $3}' | sort | tr '\n' ' ')"
check "pool pair: 4 of 6 flows mapped, over both addresses (the first full: the next)" \
	bash -c "[ \$(grep -vc none $RUN/pair.txt) -eq 4 ] && [ \$(grep -v none $RUN/pair.txt | awk '{split(\$3, a, \":\"); print a[1]}' | sort -u | grep -Ec '^10\.77\.3\.21[01]\$') -eq 2 ]"
check "pool pair: 2 refused and counted as exhausted" [ "$(pool_field pair exhausted)" -ge 2 ]
check "pool sticky (address-persistent): 2 of 4 flows mapped, all on one address" \
	bash -c "[ \$(grep -vc none $RUN/sticky.txt) -eq 2 ] && [ \$(grep -v none $RUN/sticky.txt | awk '{split(\$3, a, \":\"); print a[1]}' | sort -u | grep -Ec '^10\.77\.3\.22[01]\$') -eq 1 ]"
check "pool sticky: the other 2 refused and counted as exhausted" [ "$(pool_field sticky exhausted)" -ge 2 ]
# The ports come back when the sessions go.
check "clear security flow session" moatctl clear security flow session
tiny_free() { [ "$(pool_field tiny ports_in_use)" -eq 0 ]; }
check "pool tiny's ports are released" wait_for 5 "ports released" tiny_free
client "$NS_CLI" 10.77.1.2 0 10.77.2.2 9001 u 4 2 >"$RUN/tiny2.txt"
check "4 new flows get the released ports" in_pool "$RUN/tiny2.txt" '10\.77\.3\.200' 30000 30003

moatctl show security nat source summary | sed 's/^/    /' | head -30
lab_finish
