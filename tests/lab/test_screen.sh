#!/usr/bin/env bash
# Screens (issue 9): `security screen ids-option` bound to the untrust zone
# (tests/lab/configs/screen.conf). A SYN flood from spoofed sources at the client while a
# legitimate client keeps an iperf3 TCP stream: the stream keeps at least half its unflooded
# rate (both measured in this run), the syn-flood counter shows the flood, the session table
# does not fill. Land, SYN+FIN, no-flag, FIN-without-ACK, tear-drop and ping-of-death
# packets are dropped and counted; ICMP and UDP floods too; the per-source session limit
# holds. Counters: moatctl show security screen statistics zone untrust.
# lab: alone (a flood beside an iperf3 stream that must keep half its rate)
set -uo pipefail
. "$(dirname "$0")/lib.sh"
lab_init screen
lab_topology
CONF="$RUN/moat.conf"
cp "$LAB_TOP/tests/lab/configs/screen.conf" "$CONF"
moat_start_spawned "$CONF" || exit 1
check "ready (armed, or the legacy path compiled) with a screen on untrust" wait_for 15 ready is_ready

# scr NAME: the untrust zone's screen counter NAME.
scr() {
	moatctl --json show security screen statistics zone untrust | $PY -c '
import json, sys
print(json.load(sys.stdin)["zones"][0]["counters"][sys.argv[1]])' "$1"
}
sessions_from() { local p=$1; shift; moatctl --json show security flow session source-prefix "$p" "$@" | $PY -c 'import json,sys; print(len(json.load(sys.stdin)["sessions"]))'; }
total_sessions() { moatctl --json show security flow session summary | $PY -c 'import json,sys; print(json.load(sys.stdin)["total"])'; }
# scapy_srv CODE: scapy statements run in the server namespace (from scapy.all import *).
scapy_srv() { ip netns exec "$NS_SRV" "$PY" -c "from scapy.all import *
$1" >/dev/null 2>&1; }

check "show security zones names the screen of untrust" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show security zones | grep -q 'Screen: untrust-screen'"
moatctl show security screen statistics zone untrust
check "screen counters start at zero" [ "$(scr syn-flood)" -eq 0 ]
check "a zone without a screen is refused by name" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show security screen statistics zone trust 2>&1 | grep -q 'zone trust has no screen'"

ip netns exec "$NS_CLI" ping -c 1 -W 1 10.77.2.2 >/dev/null 2>&1
ip netns exec "$NS_SRV" ping -c 1 -W 1 10.77.1.2 >/dev/null 2>&1
ip netns exec "$NS_CLI" bash -c "nc -l -k -p 8080 >/dev/null" &
LAB_PIDS+=($!)
ip netns exec "$NS_SRV" iperf3 -s -D -p 5201 --logfile "$RUN/iperf-srv.log"
sleep 0.3

# --- per-packet checks: 3 of each, each counted once ---
for c in land syn-fin tcp-no-flag fin-no-ack tear-drop ping-death; do eval "b_${c//-/_}=$(scr $c)"; done
scapy_srv 'send(IP(src="10.77.1.2", dst="10.77.1.2")/TCP(sport=8080, dport=8080, flags="S"), count=3, verbose=0)'
scapy_srv 'send(IP(src="10.77.2.2", dst="10.77.1.2")/TCP(sport=4001, dport=8080, flags="SF"), count=3, verbose=0)'
scapy_srv 'send(IP(src="10.77.2.2", dst="10.77.1.2")/TCP(sport=4002, dport=8080, flags=""), count=3, verbose=0)'
scapy_srv 'send(IP(src="10.77.2.2", dst="10.77.1.2")/TCP(sport=4003, dport=8080, flags="F"), count=3, verbose=0)'
# tear-drop: a first fragment of 64 payload bytes, then one starting inside it (offset 24).
scapy_srv 'send([IP(src="10.77.2.2", dst="10.77.1.2", id=4242 + i, proto=1, flags="MF", frag=0)/Raw(b"a" * 64) for i in range(3)], verbose=0)
send([IP(src="10.77.2.2", dst="10.77.1.2", id=4242 + i, proto=1, frag=3)/Raw(b"b" * 64) for i in range(3)], verbose=0)'
# ping of death: a last ICMP fragment ending beyond 65535 bytes.
scapy_srv 'send(IP(src="10.77.2.2", dst="10.77.1.2", id=777, proto=1, frag=8189)/Raw(b"x" * 200), count=3, verbose=0)'
sleep 0.5
moatctl show security screen statistics zone untrust
check "land attack dropped and counted (3)" [ "$(scr land)" -eq $((b_land + 3)) ]
check "SYN+FIN dropped and counted (3)" [ "$(scr syn-fin)" -eq $((b_syn_fin + 3)) ]
check "TCP without flags dropped and counted (3)" [ "$(scr tcp-no-flag)" -eq $((b_tcp_no_flag + 3)) ]
check "FIN without ACK dropped and counted (3)" [ "$(scr fin-no-ack)" -eq $((b_fin_no_ack + 3)) ]
check "overlapping fragments dropped and counted (3)" [ "$(scr tear-drop)" -eq $((b_tear_drop + 3)) ]
check "ping of death dropped and counted (3)" [ "$(scr ping-death)" -eq $((b_ping_death + 3)) ]
no_attack_sessions() { [ "$(sessions_from 10.77.1.2/32 destination-port 8080)" -eq 0 ] && [ "$(sessions_from 10.77.2.2/32 destination-port 8080)" -eq 0 ]; }
check "none of them made a session" no_attack_sessions

# --- per-source session limit (5): 10 SYNs from one source, paced under the SYN rates ---
lim0=$(scr source-session-limit)
scapy_srv 'send([IP(src="10.77.2.50", dst="10.77.1.2")/TCP(sport=5000 + i, dport=8080, flags="S") for i in range(10)], inter=0.02, verbose=0)'
sleep 0.5
check "per-source limit: 5 sessions from 10.77.2.50" [ "$(sessions_from 10.77.2.50/32)" -eq 5 ]
check "per-source limit: the other 5 counted" [ "$(scr source-session-limit)" -eq $((lim0 + 5)) ]
check "another source is not limited by it" scapy_srv 'send(IP(src="10.77.2.51", dst="10.77.1.2")/TCP(sport=6000, dport=8080, flags="S"), verbose=0)'
sleep 0.3
check "  ... its session exists" [ "$(sessions_from 10.77.2.51/32)" -eq 1 ]

# --- ICMP and UDP floods (threshold 200/s per destination) ---
icmp0=$(scr icmp-flood)
udp0=$(scr udp-flood)
scapy_srv 'sendp([Ether()/IP(src="10.77.2.2", dst="10.77.1.2")/ICMP(id=9, seq=i) for i in range(1500)], iface="s0", verbose=0)'
scapy_srv 'sendp([Ether()/IP(src="10.77.2.2", dst="10.77.1.2")/UDP(sport=7000 + i % 50, dport=53) for i in range(1500)], iface="s0", verbose=0)'
check "ICMP flood counted" [ "$(scr icmp-flood)" -gt "$icmp0" ]
check "UDP flood counted" [ "$(scr udp-flood)" -gt "$udp0" ]
lab_log "icmp-flood drops: $(($(scr icmp-flood) - icmp0)) of 1500, udp-flood drops: $(($(scr udp-flood) - udp0)) of 1500"

# --- SYN flood against a live iperf3 stream ---
# iperf3 -J: the receiver's rate in Mbit/s.
iperf_mbps() { $PY -c 'import json,sys; print(int(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e6))'; }
base=$(ip netns exec "$NS_CLI" iperf3 -c 10.77.2.2 -p 5201 -t 4 -J | iperf_mbps)
FW1_MAC=$(ip -n "$NS_FW" -br link show fw1 | awk '{print $3}')
S0_MAC=$(ip -n "$NS_SRV" -br link show s0 | awk '{print $3}')
PPS=${SCREEN_FLOOD_PPS:-20000}
syn0=$(scr syn-flood)
ip netns exec "$NS_SRV" "$PY" "$LAB_TOP/tests/lab/flood.py" s0 "$S0_MAC" "$FW1_MAC" 10.77.1.2 8080 "$PPS" 7 >"$RUN/flood.out" 2>&1 &
flood=$!
sleep 1.5
during=$(ip netns exec "$NS_CLI" iperf3 -c 10.77.2.2 -p 5201 -t 4 -J | iperf_mbps)
wait "$flood"
sleep 1
peak=$(counter worker sessions_active)
mirrored=$(total_sessions)
sent=$(tail -1 "$RUN/flood.out")
synd=$(($(scr syn-flood) - syn0))
lab_log "iperf3 alone: ${base} Mbit/s; during a ${PPS} pps SYN flood: ${during} Mbit/s; flood sent ${sent}, syn-flood drops ${synd}; sessions after the flood: ${peak} in the dataplane, ${mirrored} mirrored (max 20000)"
check "the flood was sent" [ "${sent:-0}" -gt $((PPS * 3)) ]
check "iperf3 keeps >= 50% of its unflooded rate under the flood" [ $((during * 2)) -ge "$base" ]
check "syn-flood counter shows the flood (>= 80% of the SYNs)" [ "$synd" -ge $((sent * 8 / 10)) ]
table_not_full() { [ "$peak" -lt 20000 ] && [ "$(counter worker session_table_full)" -eq 0 ]; }
check "the session table did not fill (sessions < 20000, session_table_full 0)" table_not_full
check "flood sessions bounded by the thresholds" [ "$(sessions_from 10.99.0.0/16)" -le $((9 * 400)) ]
check "forwarding still works after the flood" ip netns exec "$NS_CLI" ping -c 2 -i 0.2 -W 1 10.77.2.2
moatctl show security screen statistics zone untrust
moatctl show security flow session summary

lab_finish
