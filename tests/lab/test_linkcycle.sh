#!/usr/bin/env bash
# Link cycle (issue 6 item 4): fw1 goes down and up, changes MTU, and is deleted and
# re-created (the s0/fw1 veth pair, same addresses). Each time controld disarms fw1 alone,
# the helper rebinds fw1's XSKs only (fw0's socket is not touched), controld re-attaches the
# shim when the ifindex changed, re-arms, and transit traffic flows again within a few
# seconds; a ping to fw0's address runs all along without loss. The counters show it.
# Then fw0, the worker's first socket (the one that registered the worker's shared UMEM
# before each socket got its own registration), goes down and up: only fw0's socket is
# rebound (the per-queue XSK bind numbers of fw1 and a third interface fw2 stay), and a ping
# flow srv -> oth crossing fw1 and fw2 (same worker) keeps forwarding meanwhile (at most one
# of ~60 pings lost; with the shared registration the whole worker was rebound: 3 of 60).
# lab: alone (traffic must resume within 2 s of link-up)
set -uo pipefail
. "$(dirname "$0")/lib.sh"
lab_init linkcycle
lab_topology
# A third network on the same worker: oth (10.77.3.2) -- fw2 (10.77.3.1).
NS_OTH="${LAB_ID}oth"
LAB_EXTRA_NS=$NS_OTH
ip netns add "$NS_OTH"
ip -n "$NS_OTH" link set lo up
ip link add o0 netns "$NS_OTH" type veth peer name fw2 netns "$NS_FW"
ip -n "$NS_OTH" addr add 10.77.3.2/24 dev o0
ip -n "$NS_OTH" link set o0 up
ip -n "$NS_OTH" route add default via 10.77.3.1
ip netns exec "$NS_OTH" ethtool -K o0 tx off gro on >/dev/null

CONF=$RUN/moat.conf
# fw2 between fw0 and fw1: fw0 keeps slot 0 and the lowest ifindex (the worker's first
# socket), and fw1 (slot 2) is re-created under an ifindex above fw2's.
sed 's|^    fw1 {$|    fw2 { unit 0 { family inet { address 10.77.3.1/24; } } }\n    fw1 {|' \
	"$LAB_TOP/tests/lab/configs/foundation.conf" >"$CONF"
ifjson() { moatctl --json show interfaces | $PY -c '
import json, sys
d = {i["name"]: i for i in json.load(sys.stdin)["interfaces"]}
print(d[sys.argv[1]][sys.argv[2]])' "$1" "$2"; }
armed() { [ "$(ifjson "$1" armed)" = True ]; }
# bindgen IF: the helper's bind number of IF's queue-0 XSK (changes only when it is rebound).
bindgen() { moatctl --json show interfaces | $PY -c '
import json, sys
d = {i["name"]: i for i in json.load(sys.stdin)["interfaces"]}
print(d[sys.argv[1]]["xsk_bind_gen"][0])' "$1"; }
transit() { ip netns exec "$NS_CLI" ping -c 1 -W 1 10.77.2.2 >/dev/null 2>&1; }
# ping_lost FILE: echo requests of an interrupted ping that got no reply, not counting the
# last one (in flight when ping was interrupted).
ping_lost() { awk '/bytes from .*icmp_seq=/ { match($0, /icmp_seq=[0-9]+/); q = substr($0, RSTART + 9, RLENGTH - 9) + 0
	if (!(q in seen)) { seen[q] = 1; n++ } if (q > m) m = q }
	/packets transmitted/ { t = $1 }
	END { lost = m - n; if (t - m > 1) lost += t - m - 1; print lost }' "$1"; }
# resumes WHAT: seconds until transit traffic flows again (fails after 10 s).
resumes() {
	local t0=$SECONDS
	for _ in $(seq 1 40); do
		if transit; then
			echo "    $1: traffic flows again after $((SECONDS - t0)) s"
			[ $((SECONDS - t0)) -le 5 ]
			return
		fi
		sleep 0.25
	done
	echo "    $1: no traffic after 10 s"
	return 1
}

moat_start_spawned "$CONF" || exit 1
check "armed" wait_for 15 armed is_armed
transit
check "traffic flows before the cycles" ip netns exec "$NS_CLI" ping -c 3 -i 0.2 -W 2 10.77.2.2
g0_fw0=$(bindgen fw0)
g0_fw2=$(bindgen fw2)
# mixed: the kernel path's seedings as one interface was disarmed with the helper running,
# and the handovers before re-arming one interface while others stay armed (lifecycle.c).
mixed() { moatctl --json show system status | $PY -c 'import json,sys; c=json.load(sys.stdin)["counters"]; print(c["mixed_seeds"], c["mixed_arm_handovers"])'; }
read -r seeds0 hand0 <<<"$(mixed)"
# The other interface's witness: pings to fw0's own address during fw1's cycles.
ip netns exec "$NS_CLI" ping -i 0.1 -c 1000 -W 1 10.77.1.1 >"$RUN/fw0-ping.txt" 2>&1 &
PING_PID=$!
LAB_PIDS+=("$PING_PID")

# ---------------------------------------------------------------- down / up
r0=$(ifjson fw1 rebinds)
ip -n "$NS_FW" link set fw1 down
fw1_only_disarmed() { ! armed fw1 && armed fw0; }
check "fw1 down: fw1 disarmed, fw0 stays armed" wait_for 3 "fw1 disarmed" fw1_only_disarmed
sleep 0.5
ip -n "$NS_FW" link set fw1 up
check "down/up: traffic resumes within 5 s" resumes "down/up"
check "down/up: fw1 re-armed" wait_for 5 "fw1 armed" armed fw1
r1=$(ifjson fw1 rebinds)
check "down/up: the helper rebound fw1 ($r0 -> $r1)" [ "$r1" -gt "$r0" ]

# ---------------------------------------------------------------- MTU change
ip -n "$NS_FW" link set fw1 mtu 1400
check "MTU change: traffic resumes within 5 s" resumes "MTU 1400"
check "MTU change: fw1 re-armed" wait_for 5 "fw1 armed" armed fw1
r2=$(ifjson fw1 rebinds)
check "MTU change: the helper rebound fw1 ($r1 -> $r2)" [ "$r2" -gt "$r1" ]
check "MTU change: controld knows the new MTU" [ "$(ifjson fw1 mtu)" = 1400 ]

# ---------------------------------------------------------------- delete + re-create
old_ifindex=$(ifjson fw1 ifindex)
ip -n "$NS_SRV" link del s0
check "deleted: status says fw1 was removed" wait_for 3 "fw1 removed" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show interfaces | grep -q 'interface was removed'"
ip link add s0 netns "$NS_SRV" type veth peer name fw1 netns "$NS_FW"
ip -n "$NS_SRV" addr add 10.77.2.2/24 dev s0
ip -n "$NS_SRV" addr add fd00:77:2::2/64 dev s0 nodad
ip -n "$NS_SRV" link set s0 up
ip -n "$NS_SRV" route add default via 10.77.2.1
ip netns exec "$NS_SRV" ethtool -K s0 tx off >/dev/null
check "re-created: traffic resumes within 5 s" resumes "re-created"
check "re-created: fw1 re-armed" wait_for 5 "fw1 armed" armed fw1
new_ifindex=$(ifjson fw1 ifindex)
check "re-created: controld follows the new ifindex ($old_ifindex -> $new_ifindex)" [ "$new_ifindex" != "$old_ifindex" ]
check "re-created: the shim is attached to the new fw1" bash -c "ip -n $NS_FW link show fw1 | grep -q 'prog/xdp'"
check "re-created: re-attach counted" [ "$(ifjson fw1 reattaches)" -ge 1 ]
r3=$(ifjson fw1 rebinds)
check "re-created: the helper rebound fw1 ($r2 -> $r3)" [ "$r3" -gt "$r2" ]
check "re-created: controld gave the new fw1 its address" bash -c "ip -n $NS_FW addr show fw1 | grep -q 10.77.2.1/24"
check "traffic flows in both directions" bash -c "ip netns exec $NS_CLI ping -c 3 -i 0.2 -W 2 10.77.2.2 && ip netns exec $NS_SRV ping -c 3 -i 0.2 -W 2 10.77.1.2"
check "a TCP stream crosses the re-created link" bash -c "ip netns exec $NS_SRV iperf3 -s -1 -D -p 5299 && sleep 0.3 && ip netns exec $NS_CLI iperf3 -c 10.77.2.2 -p 5299 -t 2 -J | $PY -c 'import json,sys; d=json.load(sys.stdin); bps=d[\"end\"][\"sum_received\"][\"bits_per_second\"]; print(bps); assert bps > 10e6'"

# ---------------------------------------------------------------- fw0 never touched
check "fw0 was never rebound" [ "$(ifjson fw0 rebinds)" = 0 ]
check "fw0's and fw2's sockets kept their bind numbers ($g0_fw0, $g0_fw2)" [ "$(bindgen fw0) $(bindgen fw2)" = "$g0_fw0 $g0_fw2" ]
check "fw0 armed all along (no fw0 disarm logged)" bash -c "! grep -q 'interface fw0: forwarding disarmed' $RUN/controld.log"
check "the helper rebound fw1 queue 0 in place 3 times" bash -c "[ \$(grep -c 'fw1 queue 0 rebound' $RUN/controld.log) -eq 3 ]"
read -r seeds1 hand1 <<<"$(mixed)"
check "fw1's 3 cycles with fw0 armed: the kernel path seeded each time ($seeds0 -> ${seeds1:-none}), a handover before each re-arm ($hand0 -> ${hand1:-none})" \
	[ "${seeds1:-0}" -ge $((${seeds0:-0} + 3)) -a "${hand1:-0}" -ge $((${hand0:-0} + 3)) ]
kill -INT "$PING_PID" 2>/dev/null
wait "$PING_PID"
echo "    ping to fw0's address during the cycles: $(grep 'packet loss' "$RUN/fw0-ping.txt")"
check "ping to fw0's address never lost a packet (but the one in flight at the end)" [ "$(ping_lost "$RUN/fw0-ping.txt")" = 0 ]
# ---------------------------------------------------------------- fw0, the first socket
# fw0's socket was the worker's first: it used to register the UMEM, so cycling fw0 rebound
# the whole worker. Now only fw0's socket is rebound; srv -> oth (fw1 -> fw2) keeps flowing.
check "srv -> oth flows over fw1 and fw2" ip netns exec "$NS_SRV" ping -c 2 -i 0.2 -W 1 10.77.3.2
f0=$(ifjson fw0 rebinds)
g1_fw0=$(bindgen fw0)
g1_fw1=$(bindgen fw1)
g1_fw2=$(bindgen fw2)
fwd0=$(counter worker forwarded)
ip netns exec "$NS_SRV" ping -i 0.05 -c 400 -W 1 10.77.3.2 >"$RUN/fw12-ping.txt" 2>&1 &
FLOW_PID=$!
LAB_PIDS+=("$FLOW_PID")
sleep 0.3
ip -n "$NS_FW" link set fw0 down
fw0_only_disarmed() { ! armed fw0 && armed fw1 && armed fw2; }
check "fw0 down: fw0 disarmed, fw1 and fw2 stay armed" wait_for 3 "fw0 disarmed" fw0_only_disarmed
sleep 0.3
ip -n "$NS_FW" link set fw0 up
check "fw0 down/up: traffic resumes within 5 s" resumes "fw0 down/up"
check "fw0 down/up: fw0 re-armed and its rebind counted" bash -c "[ \"\$($MOAT_BUILD/moatctl --run-dir $RUN --json show interfaces | $PY -c 'import json,sys; d={i[\"name\"]: i for i in json.load(sys.stdin)[\"interfaces\"]}; print(d[\"fw0\"][\"armed\"], d[\"fw0\"][\"rebinds\"] > $f0)')\" = 'True True' ]"
sleep 0.3
kill -INT "$FLOW_PID" 2>/dev/null
wait "$FLOW_PID"
fwd1=$(counter worker forwarded)
echo "    srv -> oth ping over fw1/fw2 during fw0's cycle: $(grep 'packet loss' "$RUN/fw12-ping.txt")"
sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$RUN/fw12-ping.txt")
recv=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$RUN/fw12-ping.txt")
lost=$(ping_lost "$RUN/fw12-ping.txt")
check "fw0 down/up: fw0's socket was rebound (bind number $g1_fw0 -> $(bindgen fw0))" [ "$(bindgen fw0)" -gt "$g1_fw0" ]
check "fw0 down/up: fw1's and fw2's sockets were not rebound (bind numbers $g1_fw1 $g1_fw2 -> $(bindgen fw1) $(bindgen fw2))" [ "$(bindgen fw1) $(bindgen fw2)" = "$g1_fw1 $g1_fw2" ]
# At most one lost (besides the request in flight when ping was interrupted).
kept_flowing() { [ "${sent:-0}" -ge 20 ] && [ "$lost" -le 1 ] && [ $((fwd1 - fwd0)) -ge $((2 * recv)) ]; }
check "fw0 down/up: srv -> oth kept forwarding (at most 1 of $sent lost: $lost; workers forwarded $((fwd1 - fwd0)) >= 2 x $recv replies)" kept_flowing
check "the helper never rebound every interface" bash -c "! grep -q 'settings changed: rebinding' $RUN/controld.log"
check "show interfaces prints the rebind counters and bind numbers" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show interfaces | grep -q 'XSK rebinds 3, shim re-attaches [0-9]*, XSK bind numbers q0:[1-9]'"
lab_finish
