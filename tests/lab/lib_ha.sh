# shellcheck shell=bash
# tests/lab/lib_ha.sh — the two-node cluster topology for the HA lab tests (source lib.sh first).
#
#   cli(c0) — [bridge in ${LAB_ID}b1] — fw0 of node 0 (${LAB_ID}n0) and fw0 of node 1 (${LAB_ID}n1)
#   srv(s0) — [bridge in ${LAB_ID}b2] — fw1 of node 0 and fw1 of node 1
#   node 0 ctl0 (10.77.9.1) ——— node 1 ctl0 (10.77.9.2): the control link
#
# The client and the server route through the virtual addresses 10.77.1.1 / 10.77.2.1 and
# fd00:77:1::1 / fd00:77:2::1, which only the primary of redundancy group 1 holds. Each node runs its own controld with its own
# --run-dir ($RUN/nN), --bpffs-dir (a bpffs mounted at $RUN/nN/bpf) and --state-dir.

ha_topology() {
	NS_N0="${LAB_ID}n0"
	NS_N1="${LAB_ID}n1"
	NS_B1="${LAB_ID}b1"
	NS_B2="${LAB_ID}b2"
	LAB_EXTRA_NS="$NS_N0 $NS_N1 $NS_B1 $NS_B2"
	trap ha_cleanup EXIT
	local ns
	for ns in "$NS_CLI" "$NS_SRV" $LAB_EXTRA_NS; do
		ip netns add "$ns"
		ip -n "$ns" link set lo up
	done
	for ns in "$NS_B1" "$NS_B2"; do
		ip -n "$ns" link add br0 type bridge
		ip -n "$ns" link set br0 type bridge forward_delay 0 stp_state 0
		ip -n "$ns" link set br0 up
	done
	ip link add c0 netns "$NS_CLI" type veth peer name pc netns "$NS_B1"
	ip link add s0 netns "$NS_SRV" type veth peer name ps netns "$NS_B2"
	local n
	for n in 0 1; do
		local fw="${LAB_ID}n$n"
		ip link add fw0 netns "$fw" type veth peer name p${n}a netns "$NS_B1"
		ip link add fw1 netns "$fw" type veth peer name p${n}b netns "$NS_B2"
		ip netns exec "$fw" sysctl -qw net.ipv4.ip_forward=0
		ip netns exec "$fw" sysctl -qw net.ipv6.conf.all.forwarding=0
	done
	ip link add ctl0 netns "$NS_N0" type veth peer name ctl0 netns "$NS_N1"
	for p in pc p0a p1a; do
		ip -n "$NS_B1" link set "$p" master br0
		ip -n "$NS_B1" link set "$p" up
	done
	for p in ps p0b p1b; do
		ip -n "$NS_B2" link set "$p" master br0
		ip -n "$NS_B2" link set "$p" up
	done
	ip -n "$NS_CLI" addr add 10.77.1.2/24 dev c0
	ip -n "$NS_CLI" link set c0 up
	ip -n "$NS_SRV" addr add 10.77.2.2/24 dev s0
	ip -n "$NS_SRV" link set s0 up
	ip -n "$NS_CLI" route add default via 10.77.1.1
	ip -n "$NS_SRV" route add default via 10.77.2.1
	ip -n "$NS_CLI" addr add fd00:77:1::2/64 dev c0 nodad
	ip -n "$NS_SRV" addr add fd00:77:2::2/64 dev s0 nodad
	ip -n "$NS_CLI" -6 route add default via fd00:77:1::1
	ip -n "$NS_SRV" -6 route add default via fd00:77:2::1
	ip netns exec "$NS_CLI" ethtool -K c0 tx off >/dev/null
	ip netns exec "$NS_SRV" ethtool -K s0 tx off >/dev/null
	# LAB.md pitfall 1 applies to the nodes' own traffic on the control link too (heartbeats
	# and sync arrive through the XDP shim): no TX checksum offload on that veth.
	ip netns exec "$NS_N0" ethtool -K ctl0 tx off >/dev/null
	ip netns exec "$NS_N1" ethtool -K ctl0 tx off >/dev/null
}

# ha_start N [extra controld flags]: controld (spawning its helper) of node N.
ha_start() {
	local n=$1
	shift
	local dir="$RUN/n$n"
	mkdir -p "$dir/bpf"
	mountpoint -q "$dir/bpf" || mount -t bpf bpf "$dir/bpf"
	# Each node runs a copy ($RUN/nN/moat.conf) that a test may edit and commit.
	[ -f "$dir/moat.conf" ] || cp "$LAB_TOP/tests/lab/configs/ha-node$n.conf" "$dir/moat.conf"
	ip netns exec "${LAB_ID}n$n" "$MOAT_BUILD/moat-controld" \
		--config "$dir/moat.conf" --run-dir "$dir" \
		--bpffs-dir "$dir/bpf/moat" --bpf-dir "$MOAT_BUILD/bpf" --state-dir "$dir/state" \
		--spawn-dataplane "$MOAT_BUILD/moat-dataplane" --log-level debug "$@" \
		>>"$RUN/node$n.log" 2>&1 &
	eval "CTL_PID_$n=$!"
	LAB_PIDS+=("$!")
	local i
	for i in $(seq 1 100); do
		[ -S "$dir/control.sock" ] && hctl "$n" show system status >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "controld of node $n did not open its operator socket"
	return 1
}

hctl() {
	local n=$1
	shift
	"$MOAT_BUILD/moatctl" --run-dir "$RUN/n$n" "$@"
}

# ha_helper_pid N: the helper controld N spawned.
ha_helper_pid() { pgrep -f "moat-dataplane --run-dir $RUN/n$1( |$)" | head -1; }

# ha_kill N: SIGKILL controld and the helper of node N (a node that dies). HA_KILL_T: when
# (date +%s.%N, taken just before the signal).
ha_kill() {
	local n=$1 hp cp
	hp=$(ha_helper_pid "$n")
	eval "cp=\$CTL_PID_$n"
	HA_KILL_T=$(date +%s.%N)
	kill -KILL "$cp" ${hp:+"$hp"} 2>/dev/null
	wait "$cp" 2>/dev/null
}

# ha_role N RG: node N's own role in group RG, as it reports it.
ha_role() {
	hctl "$1" --json show chassis cluster status | $PY -c '
import json, sys
d = json.load(sys.stdin); rg = int(sys.argv[1])
for g in d["groups"]:
    if g["id"] == rg:
        print([x for x in g["nodes"] if x["local"]][0]["role"])
' "$2"
}

# ha_stat N PATH: a counter of show chassis cluster statistics --json ("heartbeats.bad_mac").
ha_stat() {
	hctl "$1" --json show chassis cluster statistics | $PY -c '
import json, sys
d = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    d = d[k]
print(d)
' "$2"
}

# ha_probe NAME SECONDS SEND_SECONDS INTERVAL: a UDP probe through the cluster, client ->
# server 10.77.2.2:9001, one datagram every INTERVAL s for SEND_SECONDS (started 0.3 s after
# the receiver); the server writes each arrival's time (s) to $RUN/NAME.log for SECONDS.
# HA_PROBE_RX: the receiver's pid (wait for it before reading the log).
ha_probe() {
	cat >"$RUN/probe.py" <<'PYEOF'
import socket, sys, time
mode, secs = sys.argv[1], float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
end = time.time() + secs
if mode == "recv":
    s.bind(("0.0.0.0", 9001)); s.settimeout(0.2)
    out = open(sys.argv[3], "w")
    while time.time() < end:
        try:
            s.recv(64)
        except socket.timeout:
            continue
        out.write("%.6f\n" % time.time())
    out.close()
else:
    gap = float(sys.argv[3])
    while time.time() < end:
        s.sendto(b"p", ("10.77.2.2", 9001)); time.sleep(gap)
PYEOF
	ip netns exec "$NS_SRV" "$PY" "$RUN/probe.py" recv "$2" "$RUN/$1.log" &
	HA_PROBE_RX=$!
	LAB_PIDS+=("$HA_PROBE_RX")
	sleep 0.3
	ip netns exec "$NS_CLI" "$PY" "$RUN/probe.py" send "$3" "$4" &
	LAB_PIDS+=("$!")
}

# ha_probe_gap NAME T: "SILENCE FIRST BEFORE AFTER" for probe NAME and an event at T
# (date +%s.%N): its longest silence (ms) ending after T and starting within 5 s of it, ms from
# T to the datagram that ended that silence, and the datagrams received before and after T.
ha_probe_gap() {
	"$PY" - "$RUN/$1.log" "$2" <<'PYEOF'
import sys
t = [float(x) for x in open(sys.argv[1])]
k = float(sys.argv[2])
best = (0.0, 0.0)
for a, b in zip(t, t[1:]):
    if b > k and a < k + 5 and b - a > best[0]:
        best = (b - a, b - k)
print(int(best[0] * 1000), int(best[1] * 1000), sum(x <= k for x in t), sum(x > k for x in t))
PYEOF
}

# ha_mac N IFACE: node N's MAC on IFACE.
ha_mac() { ip -n "${LAB_ID}n$1" -j link show dev "$2" | $PY -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])'; }
# ha_neigh_mac NS ADDR: the MAC NS's neighbour table holds for ADDR ("" if none).
ha_neigh_mac() { ip -n "$1" -j neigh show "$2" | $PY -c 'import json,sys; d=json.load(sys.stdin); print(d[0].get("lladdr","") if d else "")'; }
ha_has_vip() { ip -n "${LAB_ID}n$1" -4 addr show dev "$2" | grep -q "inet $3/"; }
ha_sessions() { hctl "$1" --json show security flow session summary | $PY -c 'import json,sys; print(json.load(sys.stdin)["total"])'; }

ha_cleanup() {
	local rc=$?
	set +e
	moat_stop_all
	local n p
	for n in 0 1; do
		for p in $(pgrep -f "moat-dataplane --run-dir $RUN/n$n( |$)"); do
			kill -KILL "$p" 2>/dev/null
		done
	done
	for n in 0 1; do
		mountpoint -q "$RUN/n$n/bpf" 2>/dev/null && umount "$RUN/n$n/bpf"
	done
	(exit "$rc")
	lab_cleanup
}
