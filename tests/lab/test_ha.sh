#!/usr/bin/env bash
# HA cluster (issue 7): two Moat nodes between a client bridge and a server bridge, with a
# control link (lib_ha.sh), running tests/lab/configs/ha-node{0,1}.conf (the shared example).
#  - node 0 (priority 200) becomes primary of redundancy group 1: it alone holds the VIPs and
#    forwards; node 1 keeps them off and stays disarmed; the server sees the VIP (interface SNAT);
#  - forged heartbeats (wrong key) are dropped, counted, and change nothing; authenticated
#    heartbeats claiming node 0's own id (both nodes node-id 0) are reported as such;
#  - commits that change the cluster stanza while it runs: gratuitous-arp-count and the
#    heartbeat threshold (applied in place, roles and the sync connection kept), then node 1's
#    priority above node 0's (the group preempts: node 1 takes it), then back;
#  - IPv6 VIPs: ping6 through the cluster; on the manual failover below node 1 sends
#    unsolicited NAs and the client's and the server's neighbour entries for the IPv6 VIPs move
#    to node 1's MACs without any solicitation (the client's and the server's own checks);
#  - manual failover to node 1 under an iperf3 UDP stream, then back with preempt; the same
#    under an iperf3 TCP stream;
#  - control link cut while both nodes live (both primary while cut; resolved when it is back);
#  - node 0 killed (SIGKILL controld and helper) mid iperf3 TCP stream through SNAT: the stream
#    goes on through node 1 on the same translated port and finishes (the gap is printed);
#    node 0 comes back, gets the bulk sync, preempts, and the stream survives that too;
#  - bulk sync: 10000 sessions made on node 0 alone appear on node 1 when it joins.
# lab: alone (measures the failover gap)
set -uo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_ha.sh"
lab_init ha
ha_topology
ha_start 0 || exit 1
ha_start 1 || exit 1

is_primary() { [ "$(ha_role "$1" 1)" = primary ]; }
is_secondary() { [ "$(ha_role "$1" 1)" = secondary ]; }
in_sync() { [ "$(ha_stat "$1" sync.state)" = in-sync ]; }
fw0_armed() {
	hctl "$1" --json show interfaces | $PY -c '
import json, sys
d = json.load(sys.stdin)
print([i["armed"] for i in d["interfaces"] if i["name"] == "fw0"][0])' | grep -qx "$2"
}
check "node 0 is primary of redundancy group 1" wait_for 30 "node 0 primary" is_primary 0
check "node 1 is secondary of redundancy group 1" wait_for 10 "node 1 secondary" is_secondary 1
check "node 0 forwards (fw0 armed)" wait_for 20 "node 0 armed" fw0_armed 0 True
check "node 1 does not forward group 1 (fw0 disarmed)" fw0_armed 1 False
check "node 0 holds the VIPs" ha_has_vip 0 fw0 10.77.1.1
check "node 1 does not hold the VIPs" bash -c "! ip -n ${LAB_ID}n1 -4 addr show dev fw1 | grep -q 'inet 10.77.2.1/'"
check "session sync established both ways" wait_for 30 "sync in-sync" bash -c "
	[ \"\$(\"$MOAT_BUILD/moatctl\" --run-dir $RUN/n0 --json show chassis cluster statistics | grep -o '\"state\":\"[a-z-]*\"')\" = '\"state\":\"in-sync\"' ] &&
	[ \"\$(\"$MOAT_BUILD/moatctl\" --run-dir $RUN/n1 --json show chassis cluster statistics | grep -o '\"state\":\"[a-z-]*\"')\" = '\"state\":\"in-sync\"' ]"
hctl 0 show chassis cluster status

# --- interface SNAT uses the virtual address ---
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
sleep 0.3
check "ping client -> server through the cluster" ip netns exec "$NS_CLI" ping -c 3 -i 0.2 -W 2 10.77.2.2
ip netns exec "$NS_CLI" $PY -c '
import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
s.sendto(b"probe", ("10.77.2.2", 9000)); print(s.recvfrom(64)[0])' >/dev/null 2>&1
check "the server sees the VIP 10.77.2.1 as the source (interface SNAT)" grep -q '^10.77.2.1:' "$RUN/seen.log"

# --- forged heartbeats: wrong key, claiming node 1 is primary with priority 254 ---
cat >"$RUN/forge.py" <<'PYEOF'
import hmac, hashlib, socket, struct, sys, time
def varint(v):
    out = b""
    while True:
        b = v & 0x7f; v >>= 7
        if v: out += bytes([b | 0x80])
        else: return out + bytes([b])
def field(num, wt, payload):
    key = varint(num << 3 | wt)
    return key + (varint(payload) if wt == 0 else varint(len(payload)) + payload)
# forge.py COUNT [KEY NODE SEQ_OFFSET]: heartbeats from NODE (default: a wrong key, node 1)
key = sys.argv[2].encode() if len(sys.argv) > 2 else b"not-the-cluster-key"
node = int(sys.argv[3]) if len(sys.argv) > 3 else 1
off = int(sys.argv[4]) if len(sys.argv) > 4 else 10**9
group = field(1, 0, 1) + field(2, 0, 254) + field(3, 0, 1)
hb = field(1, 0, 1) + field(2, 0, node) + field(3, 2, group) + field(4, 0, 1)
env = field(18, 2, hb)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
n = int(sys.argv[1])
for i in range(n):
    seq = int(time.time() * 1e6) + off + i
    hdr = b"MOHA" + bytes([1, node, 1, 0]) + struct.pack(">QI", seq, len(env))
    mac = hmac.new(key, hdr + env, hashlib.sha256).digest()
    s.sendto(hdr + env + mac, ("10.77.9.1", 7471))
    time.sleep(0.01)
PYEOF
bad0=$(ha_stat 0 heartbeats.bad_mac)
fo0=$(hctl 0 --json show chassis cluster status | $PY -c 'import json,sys; print(json.load(sys.stdin)["groups"][0]["failovers"])')
ip netns exec "$NS_N1" $PY "$RUN/forge.py" 20
sleep 1
bad1=$(ha_stat 0 heartbeats.bad_mac)
fo1=$(hctl 0 --json show chassis cluster status | $PY -c 'import json,sys; print(json.load(sys.stdin)["groups"][0]["failovers"])')
echo "    forged heartbeats: bad MAC counter $bad0 -> $bad1, failovers $fo0 -> $fo1"
check "20 forged heartbeats counted as bad MAC" [ $((bad1 - bad0)) -eq 20 ]
check "forged heartbeats change nothing (node 0 still primary, no failover)" bash -c "[ $fo0 -eq $fo1 ] && [ \"\$(\"$MOAT_BUILD/moatctl\" --run-dir $RUN/n0 --json show chassis cluster status | grep -o '\"local\":true[^}]*' | grep -o 'primary')\" = primary ]"
check "the peer is still alive" bash -c "hctl() { \"$MOAT_BUILD/moatctl\" --run-dir $RUN/n\$1 \"\${@:2}\"; }; hctl 0 show chassis cluster status | grep -q 'Peer node 1: alive'"
# --- the other node configured with this node's id: right key, node id 0 sent to node 0. Nothing
#     of it is used (the real peer's heartbeats and replay window are untouched); reported. ---
ip netns exec "$NS_N1" $PY "$RUN/forge.py" 10 lab-secret-change-me 0 10000000
sleep 0.5
echo "    heartbeats claiming node 0 sent to node 0: same_node_id counter $(ha_stat 0 heartbeats.same_node_id)"
check "heartbeats with this node's own id are counted as such" [ "$(ha_stat 0 heartbeats.same_node_id)" -eq 10 ]
check "show chassis cluster status says both nodes have node-id 0" bash -c "\"$MOAT_BUILD/moatctl\" --run-dir $RUN/n0 show chassis cluster status | grep 'ERROR: .* both nodes have node-id 0; set node-id 1 on one of them'"
check "the log says it" grep -q 'both nodes have node-id 0; the cluster cannot form' "$RUN/node0.log"
check "the real peer is still alive and node 0 still primary" bash -c "sleep 1; \"$MOAT_BUILD/moatctl\" --run-dir $RUN/n0 show chassis cluster status | grep -q 'Peer node 1: alive' && [ \"\$(\"$MOAT_BUILD/moatctl\" --run-dir $RUN/n0 --json show chassis cluster status | grep -o '\"local\":true[^}]*' | grep -o primary)\" = primary ]"
metrics() { ip netns exec "${LAB_ID}n$1" curl -sf --max-time 5 http://127.0.0.1:9469/metrics; }
check "Prometheus: node 0 exports itself primary of group 1" bash -c "$(declare -f metrics); LAB_ID=$LAB_ID; metrics 0 | grep -qx 'moat_cluster_group_primary{group=\"1\"} 1'"
check "Prometheus: node 1 exports itself secondary, the peer up" bash -c "$(declare -f metrics); LAB_ID=$LAB_ID; metrics 1 | grep -qx 'moat_cluster_group_primary{group=\"1\"} 0' && metrics 1 | grep -qx 'moat_cluster_peer_up 1'"
check "Prometheus: the forged heartbeats are in moat_cluster_hb_bad_mac_total" bash -c "$(declare -f metrics); LAB_ID=$LAB_ID; [ \$(metrics 0 | sed -n 's/^moat_cluster_hb_bad_mac_total //p') -ge 20 ]"

# --- commits that change the cluster stanza while it runs (applied in place: roles kept unless
#     the election on the new values changes them) ---
failovers() { hctl "$1" --json show chassis cluster status | $PY -c 'import json,sys; print(json.load(sys.stdin)["groups"][0]["failovers"])'; }
edit_commit() { # edit_commit N SED-EXPR: edit node N's running copy and commit it
	sed -i "$2" "$RUN/n$1/moat.conf" && hctl "$1" commit >/dev/null
}
fo0=$(failovers 0)
fo1=$(failovers 1)
sess0=$(ha_stat 0 sync.connects)
hb_edit='s/authentication-key "lab-secret-change-me";/authentication-key "lab-secret-change-me"; heartbeat-threshold 4;/; s/gratuitous-arp-count 4;/gratuitous-arp-count 2;/'
check "commit on node 1: gratuitous-arp-count 2, heartbeat-threshold 4" edit_commit 1 "$hb_edit"
check "commit on node 0: the same" edit_commit 0 "$hb_edit"
sleep 1
roles="$(ha_role 0 1) $(ha_role 1 1) $(failovers 0) $(failovers 1)"
echo "    after the commits: roles and failover counts $roles (before: primary secondary $fo0 $fo1)"
check "  roles kept: node 0 primary, node 1 secondary, no failover" [ "$roles" = "primary secondary $fo0 $fo1" ]
check "  applied without restarting HA (logged, peer alive, sync connection kept)" bash -c "grep -q 'commit applied without restarting HA' $RUN/node0.log && ! grep -q 'HA restarts' $RUN/node0.log && hctl() { \"$MOAT_BUILD/moatctl\" --run-dir $RUN/n\$1 \"\${@:2}\"; } && hctl 0 show chassis cluster status | grep -q 'Peer node 1: alive' && [ \$(hctl 0 --json show chassis cluster statistics | grep -o '\"connects\":[0-9]*' | cut -d: -f2) -eq $sess0 ]"
check "  the new gratuitous-arp-count is in force" bash -c "hctl() { \"$MOAT_BUILD/moatctl\" --run-dir $RUN/n\$1 \"\${@:2}\"; }; hctl 0 --json show chassis cluster status | grep -q '\"gratuitous_arp_count\":2'"
# node 1's priority raised above node 0's (the group preempts): the election moves the group
edit_commit 1 's/node 1 priority 100;/node 1 priority 250;/'
edit_commit 0 's/node 1 priority 100;/node 1 priority 250;/'
check "commit node 1 priority 250 (preempt): node 1 becomes primary" wait_for 10 "node 1 primary" is_primary 1
check "  node 0 steps down and drops the VIPs" wait_for 5 "node 0 secondary without VIP" bash -c "[ \"\$(\"$MOAT_BUILD/moatctl\" --run-dir $RUN/n0 --json show chassis cluster status | grep -o '\"local\":true[^}]*' | grep -o 'secondary')\" = secondary ] && ! ip -n ${LAB_ID}n0 -4 addr show dev fw0 | grep -q 'inet 10.77.1.1/'"
check "  node 1 holds the VIP and forwards" bash -c "ip -n ${LAB_ID}n1 -4 addr show dev fw0 | grep -q 'inet 10.77.1.1/' && ip netns exec $NS_CLI ping -c 2 -i 0.2 -W 2 10.77.2.2 >/dev/null"
cp "$LAB_TOP/tests/lab/configs/ha-node1.conf" "$RUN/n1/moat.conf"
cp "$LAB_TOP/tests/lab/configs/ha-node0.conf" "$RUN/n0/moat.conf"
hctl 1 commit >/dev/null
hctl 0 commit >/dev/null
check "commit of the original configs: node 0 preempts back" wait_for 10 "node 0 primary" is_primary 0
check "  node 1 secondary again" wait_for 5 "node 1 secondary" is_secondary 1
check "  sync in sync on node 1 again" wait_for 15 "sync in-sync" in_sync 1

# --- IPv6: the VIPs fd00:77:1::1 / fd00:77:2::1 (node 0 now) carry IPv6 through the cluster ---
check "node 0 holds the IPv6 VIP" bash -c "ip -n ${LAB_ID}n0 -6 addr show dev fw0 | grep -q 'inet6 fd00:77:1::1/'"
check "node 1 does not hold the IPv6 VIP" bash -c "! ip -n ${LAB_ID}n1 -6 addr show dev fw0 | grep -q 'inet6 fd00:77:1::1/'"
check "ping6 client -> server through the cluster (IPv6 VIPs as gateways)" ip netns exec "$NS_CLI" ping -6 -c 3 -i 0.2 -W 2 fd00:77:2::2
mac0=$(ha_mac 0 fw0)
mac1=$(ha_mac 1 fw0)
mac1s=$(ha_mac 1 fw1)
check "the client's neighbour entry for fd00:77:1::1 is node 0's fw0 ($mac0)" [ "$(ha_neigh_mac "$NS_CLI" fd00:77:1::1)" = "$mac0" ]
na1=$(ha_stat 1 takeover.unsolicited_na)

# --- manual failover under UDP traffic, then preempt back ---
ip netns exec "$NS_SRV" iperf3 -s >/dev/null 2>&1 &
LAB_PIDS+=($!)
sleep 0.5
timeout 30 ip netns exec "$NS_CLI" iperf3 -c 10.77.2.2 -u -b 20M -l 1000 -t 6 --json >"$RUN/udp.json" 2>&1 &
udp_pid=$!
sleep 2
check "request chassis cluster failover redundancy-group 1 node 1" hctl 0 request chassis cluster failover redundancy-group 1 node 1
check "node 1 becomes primary" wait_for 5 "node 1 primary" is_primary 1
check "node 0 is secondary and drops the VIP" wait_for 5 "node 0 without VIP" bash -c "! ip -n ${LAB_ID}n0 -4 addr show dev fw0 | grep -q 'inet 10.77.1.1/'"
check "node 1 holds the VIP" ha_has_vip 1 fw0 10.77.1.1
check "node 1 holds the IPv6 VIPs" bash -c "ip -n ${LAB_ID}n1 -6 addr show dev fw0 | grep -q 'inet6 fd00:77:1::1/' && ip -n ${LAB_ID}n1 -6 addr show dev fw1 | grep -q 'inet6 fd00:77:2::1/'"
check "node 1 sent unsolicited NAs for them" bash -c "[ \$(\"$MOAT_BUILD/moatctl\" --run-dir $RUN/n1 --json show chassis cluster statistics | grep -o '\"unsolicited_na\":[0-9]*' | cut -d: -f2) -gt $na1 ]"
check "unsolicited NA: the client's entry for fd00:77:1::1 moves to node 1's fw0 ($mac1) unasked" wait_for 3 "client neighbour -> node 1" bash -c "[ \"\$(ip -n $NS_CLI -j neigh show fd00:77:1::1 | $PY -c 'import json,sys; d=json.load(sys.stdin); print(d[0].get(\"lladdr\",\"\") if d else \"\")')\" = $mac1 ]"
check "unsolicited NA: the server's entry for fd00:77:2::1 moves to node 1's fw1 ($mac1s)" wait_for 3 "server neighbour -> node 1" bash -c "[ \"\$(ip -n $NS_SRV -j neigh show fd00:77:2::1 | $PY -c 'import json,sys; d=json.load(sys.stdin); print(d[0].get(\"lladdr\",\"\") if d else \"\")')\" = $mac1s ]"
check "ping6 client -> server through node 1" ip netns exec "$NS_CLI" ping -6 -c 3 -i 0.2 -W 2 fd00:77:2::2
wait "$udp_pid"
udp_rc=$?
loss=$($PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.1f" % d["end"]["sum"]["lost_percent"])' "$RUN/udp.json" 2>/dev/null || echo 100)
echo "    iperf3 UDP 20 Mbit/s across the manual failover: exit $udp_rc, loss $loss%"
check "the UDP stream (and its TCP control connection) finished across the failover" [ "$udp_rc" -eq 0 ]
check "UDP loss across the manual failover below 20%" $PY -c "import sys; sys.exit(0 if $loss < 20 else 1)"
check "node 1 forwarded after the failover" bash -c "[ \$(\"$MOAT_BUILD/moatctl\" --run-dir $RUN/n1 --json show chassis cluster statistics | grep -o '\"sessions_installed\":[0-9]*' | cut -d: -f2) -gt 0 ]"
check "failover reset: node 0 preempts back" hctl 1 request chassis cluster failover reset redundancy-group 1
check "node 0 is primary again (preempt)" wait_for 10 "node 0 primary" is_primary 0
check "node 1 is secondary again" wait_for 5 "node 1 secondary" is_secondary 1

# --- manual failover under a TCP stream, and back (preempt after the reset) ---
gap_of() {
	$PY - "$1" <<'PYEOF'
import json, sys
t = open(sys.argv[1]).read()
d = json.loads(t[t.index("{"):t.rindex("}") + 1])
run = best = 0.0
for i in (x["sum"] for x in d["intervals"]):
    if i["bytes"] == 0:
        run += i["seconds"]; best = max(best, run)
    else:
        run = 0.0
print(int(best * 1000), int(d["end"]["sum_received"]["bits_per_second"] / 1e6))
PYEOF
}
timeout 30 ip netns exec "$NS_CLI" iperf3 -c 10.77.2.2 -t 7 -i 0.1 --json >"$RUN/tcp_manual.json" 2>&1 &
tcpm_pid=$!
sleep 2
hctl 0 request chassis cluster failover redundancy-group 1 node 1 >/dev/null
check "TCP: node 1 primary after the manual failover" wait_for 5 "node 1 primary" is_primary 1
sleep 1.5
hctl 1 request chassis cluster failover reset redundancy-group 1 >/dev/null
check "TCP: node 0 primary again after the reset (preempt)" wait_for 10 "node 0 primary" is_primary 0
wait "$tcpm_pid"
tcpm_rc=$?
read -r gap_ms mbits <<<"$(gap_of "$RUN/tcp_manual.json")"
echo "    iperf3 TCP across manual failover and failback: exit $tcpm_rc, ${mbits:-?} Mbit/s, longest gap ${gap_ms:-?} ms"
check "the TCP stream finished across the manual failover and the failback" [ "$tcpm_rc" -eq 0 ]

# --- control link cut while both nodes live. Documented behaviour: each node loses the other's
#     heartbeats and takes every group (both primary while the link is down: the cluster cannot
#     tell a dead peer from a cut link); when the link is back the election resolves it (the
#     lower priority steps down and drops its VIPs) and session sync starts again with a bulk.
ip -n "$NS_N1" link set ctl0 down
check "control link down: node 1 takes group 1 (peer lost)" wait_for 5 "node 1 primary" is_primary 1
check "control link down: node 0 stays primary (both primary while cut)" is_primary 0
ip -n "$NS_N1" link set ctl0 up
check "control link back: node 1 steps down" wait_for 10 "node 1 secondary" is_secondary 1
check "control link back: node 0 is the only primary" is_primary 0
check "control link back: node 1 dropped its VIPs" wait_for 5 "no VIP on node 1" bash -c "! ip -n ${LAB_ID}n1 -4 addr show dev fw0 | grep -q 'inet 10.77.1.1/'"
check "control link back: node 0 still holds the VIPs" ha_has_vip 0 fw0 10.77.1.1
check "control link back: session sync in sync again" wait_for 15 "sync in-sync" bash -c "
	[ \"\$(\"$MOAT_BUILD/moatctl\" --run-dir $RUN/n1 --json show chassis cluster statistics | grep -o '\"state\":\"[a-z-]*\"')\" = '\"state\":\"in-sync\"' ]"

# --- kill node 0 mid TCP stream (SNAT), then let it come back and preempt. The heartbeat is
#     the default (no heartbeat lines in the lab configs: 200 ms x 3). Besides the TCP stream a
#     UDP probe (one datagram every 5 ms, client -> server through SNAT) measures the failover
#     gap itself: from the kill to the first datagram node 1 forwards (TCP's own retransmission
#     backoff would add to it). ---
ha_probe probe 6.5 6.2 0.005
timeout 40 ip netns exec "$NS_CLI" iperf3 -c 10.77.2.2 -t 16 -i 0.1 --json >"$RUN/tcp.json" 2>&1 &
tcp_pid=$!
sleep 3
conns() { ip netns exec "$NS_SRV" ss -Htn state established '( sport = :5201 )' | awk '{print $4}' | sort | tr '\n' ' '; }
before=$(conns)
ha_kill 0
t_kill=$HA_KILL_T
echo "    node 0 killed (SIGKILL controld and helper) at +3 s; server-side connections: $before"
check "node 1 takes over after node 0 dies" wait_for 5 "node 1 primary" is_primary 1
sleep 2
after=$(conns)
echo "    server-side connections after the takeover: $after"
check "the server sees the same connections (same VIP and translated ports)" [ "$before" = "$after" ]
check "they come from the VIP 10.77.2.1" bash -c "[ -n '$after' ] && ! echo '$after' | tr ' ' '\n' | grep -v '^$' | grep -qv '10.77.2.1\]*:'"
wait "$HA_PROBE_RX"
# The longest silence of the probe around the kill, and kill -> first datagram after it.
read -r fo_gap fo_first fo_before fo_after <<<"$(ha_probe_gap probe "$t_kill")"
fo_n=$((${fo_before:-0} + ${fo_after:-0}))
echo "    failover gap (default heartbeat 200 ms x 3): UDP probe silent ${fo_gap:-?} ms; kill -> first datagram forwarded by node 1: ${fo_first:-?} ms ($fo_n datagrams)"
echo "    node 1: $(grep -o 'peer node 0 lost: [^;]*' "$RUN/node1.log" | tail -1)"
check "failover gap with the default heartbeat: kill -> first forwarded datagram <= 1000 ms" [ "${fo_first:-99999}" -le 1000 ]
ha_start 0 || fail "node 0 restarts"
check "node 0 comes back, gets the bulk sync and preempts" wait_for 20 "node 0 primary" is_primary 0
wait "$tcp_pid"
tcp_rc=$?
read -r gap_ms mbits <<<"$(gap_of "$RUN/tcp.json")"
echo "    iperf3 TCP through SNAT across kill + failback: exit $tcp_rc, ${mbits:-?} Mbit/s, longest gap ${gap_ms:-?} ms (0.1 s intervals)"
check "the TCP stream finished across node 0's death and its preempt" [ "$tcp_rc" -eq 0 ]
check "the failover gap is below 5 s" [ "${gap_ms:-99999}" -lt 5000 ]

# --- bulk sync: 10000 sessions made on node 0 alone appear on node 1 when it joins ---
kill -TERM "$CTL_PID_1"
wait "$CTL_PID_1" 2>/dev/null
check "node 0 takes every group with node 1 gone" wait_for 5 "node 0 primary" is_primary 0
cat >"$RUN/many.py" <<'PYEOF'
import resource, socket, sys, time
n = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 1000, n + 1000))
socks = []
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.77.1.2", 0))
    s.sendto(b"x", ("10.77.2.2", 9000)); socks.append(s)
    if i % 200 == 199:
        time.sleep(0.01)
# A second pass: a datagram a loaded dataplane dropped (full ring) makes its session now.
for i, s in enumerate(socks):
    s.sendto(b"y", ("10.77.2.2", 9000))
    if i % 200 == 199:
        time.sleep(0.01)
time.sleep(float(sys.argv[2]))
PYEOF
ip netns exec "$NS_CLI" $PY "$RUN/many.py" 10000 60 &
many_pid=$!
LAB_PIDS+=($many_pid)
check "node 0 holds 10000 sessions" wait_for 30 ">= 10000 sessions on node 0" bash -c "[ \$(\"$MOAT_BUILD/moatctl\" --run-dir $RUN/n0 --json show security flow session summary | $PY -c 'import json,sys; print(json.load(sys.stdin)[\"total\"])') -ge 10000 ]"
echo "    node 0: $(ha_sessions 0) sessions before node 1 joins"
ha_start 1 || fail "node 1 restarts"
check "node 1 gets every session from the bulk sync" wait_for 40 ">= 10000 sessions on node 1" bash -c "[ \$(\"$MOAT_BUILD/moatctl\" --run-dir $RUN/n1 --json show security flow session summary | $PY -c 'import json,sys; print(json.load(sys.stdin)[\"total\"])') -ge 10000 ]"
echo "    node 1: $(ha_sessions 1) sessions; $(grep -o 'bulk sync from the peer: [0-9]* sessions installed in [0-9]* ms' "$RUN/node1.log" | tail -1)"
check "node 0 got acks for them (sent after node 1's helper installed them)" wait_for 10 "acks" bash -c "[ \$(\"$MOAT_BUILD/moatctl\" --run-dir $RUN/n0 --json show chassis cluster statistics | grep -o '\"sessions_acked\":[0-9]*' | cut -d: -f2) -ge 10000 ]"
hctl 1 show chassis cluster statistics | sed 's/^/    /'
kill "$many_pid" 2>/dev/null
lab_finish
