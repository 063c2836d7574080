#!/usr/bin/env bash
# HA benchmark (not a test; issue 7): session sync throughput and the failover gap, on the
# two-node lab cluster of tests/lab/lib_ha.sh (two controld + helpers, session sync over the
# control link veth pair: a kernel-local TCP connection like loopback, every frame sealed with
# HMAC-SHA256), running tests/lab/configs/ha-node{0,1}.conf with the default heartbeat.
#
#  1. bulk sync: node 0 alone holds N UDP sessions (distinct source ports, a raw-socket
#     generator); node 1 joins; the rate at which node 1's helper installs them ("bulk sync from
#     the peer: N sessions installed in M ms"). Target: >= 200k sessions/s.
#  2. incremental sync: N more sessions through node 0 as fast as the generator makes them;
#     node 0 creates them (its rate is the baseline), node 1 must install each one
#     (SyncSessions -> its helper -> SyncAck). Printed: both rates and secondary/primary
#     (~1.0: the secondary keeps up), the resyncs (0: it never fell behind), and node 1's CPU
#     time per synced session (controld, helper: less noisy than the rates on a shared machine).
#  3. failover gap (ms from the event to the first datagram forwarded by the new primary, a UDP
#     probe every 2 ms client -> server): manual failover (the baseline: no detection time) and
#     node 0 SIGKILLed (detection by heartbeats / the sync connection's close); ratio kill/manual.
#     Target: <= 1000 ms with the default heartbeat.
#
#   bash tests/bench/ha_sync_bench.sh [SESSIONS]   (root; MOAT_BUILD=build by default; N=12000; at most ~15000: the 2 x N sessions are SNATed to one VIP, whose port range holds 31744)
# The machine is noisy and everything shares 2 vCPUs: read the ratios and orders of magnitude.
set -uo pipefail
. "$(dirname "$0")/../lab/lib.sh"
. "$(dirname "$0")/../lab/lib_ha.sh"
N=${1:-12000}
lab_init habench
ha_topology

now_ms() { date +%s%3N; }
total() { ha_sessions "$1"; }
primary() { [ "$(ha_role "$1" 1)" = primary ]; }
insync() { [ "$(ha_stat "$1" sync.state)" = in-sync ]; }
cat >"$RUN/gen.py" <<'PYEOF'
import socket, struct, sys
n, base = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
s.bind(("10.77.1.2", 0))
for rnd in range(2):  # twice: what the first pass lost in full rings gets its session now
    for i in range(n):
        s.sendto(struct.pack(">HHHH", base + i, 9000, 9, 0) + b"x", ("10.77.2.2", 0))
PYEOF
# settle CMD: print "VALUE MS" once CMD's value has not grown for 1.5 s (MS: since $start
# to its last growth).
settle() {
	local v last=-1 t_last
	t_last=$(now_ms)
	while :; do
		v=$("$@")
		if [ "$v" != "$last" ]; then
			last=$v
			t_last=$(now_ms)
		elif [ $(($(now_ms) - t_last)) -gt 1500 ]; then
			break
		fi
		sleep 0.1
	done
	echo "$last $((t_last - start))"
}

# ---- 1. bulk sync: node 0 alone makes N sessions, then node 1 joins ----
ha_start 0 || exit 1
wait_for 30 "node 0 primary" primary 0 || exit 1
ip netns exec "$NS_CLI" ping -c 2 -i 0.2 -W 1 10.77.2.2 >/dev/null
start=$(now_ms)
ip netns exec "$NS_CLI" $PY "$RUN/gen.py" "$N" 10000
read -r made _ <<<"$(settle total 0)"
echo "bulk sync: node 0 holds $made sessions; node 1 joins"
ha_start 1 || exit 1
wait_for 60 "bulk sync on node 1" grep -q 'bulk sync from the peer: [0-9]* sessions installed' "$RUN/node1.log"
line=$(grep -o 'bulk sync from the peer: [0-9]* sessions installed in [0-9]* ms' "$RUN/node1.log" | tail -1)
read -r bn bms <<<"$(echo "$line" | sed 's/.*peer: \([0-9]*\) sessions installed in \([0-9]*\) ms/\1 \2/')"
bulk_rate=$((bn * 1000 / (bms + 1)))
echo "  node 1: $line"
echo "  bulk sync rate: $bulk_rate sessions/s (target >= 200000: x$($PY -c "print('%.2f' % ($bulk_rate / 200000))"))"
wait_for 30 "node 1 in sync" insync 1 || exit 1
wait_for 30 "node 0 in sync" insync 0 || exit 1

# ---- 2. incremental: N more sessions through node 0 while node 1 follows ----
installed() { total 1; }
# cpu_ns PID: CPU time of all the threads of PID so far (ns; schedstat: not the 10 ms ticks).
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%d", s}'; }
c_pid1=$CTL_PID_1
h_pid1=$(ha_helper_pid 1)
c_cpu0=$(cpu_ns "$c_pid1")
h_cpu0=$(cpu_ns "$h_pid1")
i0=$(installed)
t0=$(total 0)
start=$(now_ms)
ip netns exec "$NS_CLI" $PY "$RUN/gen.py" "$N" $((10000 + N)) &
gen=$!
settle installed >"$RUN/settle_installed" &
settler=$!
read -r t1 p_ms <<<"$(settle total 0)"
wait "$settler"
read -r i1 s_ms <"$RUN/settle_installed"
wait "$gen"
made=$((t1 - t0))
got=$((i1 - i0))
p_rate=$((made * 1000 / (p_ms + 1)))
s_rate=$((got * 1000 / (s_ms + 1)))
echo "incremental sync: $N new sessions sent through node 0 (a raw-socket generator, two passes)"
echo "  node 0 (primary) created $made in $p_ms ms: $p_rate sessions/s (baseline: what the dataplane makes)"
echo "  node 1 (secondary) holds $got more sessions after $s_ms ms: $s_rate sessions/s"
c_cpu=$(($(cpu_ns "$c_pid1") - c_cpu0))
h_cpu=$(($(cpu_ns "$h_pid1") - h_cpu0))
echo "  node 1 CPU per synced session (the phase's CPU time / sessions, idle work included): controld $($PY -c "print('%.2f' % ($c_cpu / 1000 / max($got, 1)))") us, helper $($PY -c "print('%.2f' % ($h_cpu / 1000 / max($got, 1)))") us"
echo "  secondary/primary: $($PY -c "print('%.2f' % ($s_rate / max($p_rate, 1)))"); resyncs: node 0 $(ha_stat 0 sync.resyncs), node 1 $(ha_stat 1 sync.resyncs); unacked now: $(ha_stat 0 sync.unacked_messages)"

# ---- 3. failover gap ----
# probe NAME SECONDS: the UDP probe every 2 ms (lib_ha.sh), running when this returns.
probe() {
	ha_probe "$1" "$2" "$(echo "$2 - 0.4" | bc)" 0.002
	sleep 1
}
probe manual 4
t_ev=$(date +%s.%N)
hctl 0 request chassis cluster failover redundancy-group 1 node 1 >/dev/null
wait "$HA_PROBE_RX"
read -r manual manual_first m_before m_after <<<"$(ha_probe_gap manual "$t_ev")"
hctl 1 request chassis cluster failover reset redundancy-group 1 >/dev/null
wait_for 15 "node 0 primary again" bash -c "[ \"\$(\"$MOAT_BUILD/moatctl\" --run-dir $RUN/n0 --json show chassis cluster status | grep -o '\"local\":true[^}]*' | grep -o primary)\" = primary ]"
wait_for 15 "node 1 in sync" bash -c "\"$MOAT_BUILD/moatctl\" --run-dir $RUN/n1 --json show chassis cluster statistics | grep -q '\"state\":\"in-sync\"'"
sleep 1
probe kill 4
ha_kill 0
t_ev=$HA_KILL_T
wait "$HA_PROBE_RX"
read -r killgap kill_first k_before k_after <<<"$(ha_probe_gap kill "$t_ev")"
echo "failover gap (probe every 2 ms; default heartbeat 200 ms x 3):"
echo "  manual failover: longest probe silence $manual ms (baseline: no detection time; datagrams before/after $m_before/$m_after)"
echo "  node 0 SIGKILLed: longest probe silence $killgap ms; kill -> first datagram via node 1: $kill_first ms (target <= 1000 ms; datagrams before/after $k_before/$k_after)"
echo "  kill/manual silence: $($PY -c "print('%.1f' % ($killgap / max($manual, 1)))"); node 1: $(grep -o 'peer node 0 lost: [^;]*' "$RUN/node1.log" | tail -1)"
lab_finish
