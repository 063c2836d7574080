#!/usr/bin/env bash
# moatctl trace flow with real packets (tests/lab/configs/nat-standalone.conf): for each
# situation the debugging questions name — a permitted and source-translated new flow, its
# reply found through the NAT reverse index, a policy deny, no route, an unresolved next hop,
# TTL expiry, the helper down — the trace names the step and the counter. JSON output is one
# object per line; a trace with no matching packet ends at its duration and shows what the
# shim did instead.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
lab_init trace
lab_topology
moat_start_spawned "$LAB_TOP/tests/lab/configs/nat-standalone.conf" || exit 1
check "armed" wait_for 15 armed is_armed
ip netns exec "$NS_CLI" ping -c 1 -W 1 10.77.2.2 >/dev/null 2>&1

# trace_bg FILE ARGS...: starts a trace in the background (its pid in TRACE_PID) and waits
# until controld has armed it in the helper.
trace_bg() {
	local file=$1
	shift
	"$MOAT_BUILD/moatctl" --run-dir "$RUN" "$@" >"$file" 2>&1 &
	TRACE_PID=$!
	sleep 0.5
}
trace_wait() { # waits for the trace to end (at most 15 s)
	local i
	for i in $(seq 1 150); do
		kill -0 "$TRACE_PID" 2>/dev/null || break
		sleep 0.1
	done
	wait "$TRACE_PID"
}
udp_send() { # udp_send DST PORT [SPORT]: one datagram from the client
	ip netns exec "$NS_CLI" $PY -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[3])))
s.sendto(b"trace-me", (sys.argv[1], int(sys.argv[2])))
' "$1" "$2" "${3:-40001}"
}

# A UDP echo on the server, so the reply direction can be traced too.
ip netns exec "$NS_SRV" $PY -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 9000))
while True:
    d, a = s.recvfrom(2048)
    s.sendto(d, a)
' &
LAB_PIDS+=($!)
sleep 0.3

# --- a new flow: permitted, source-translated, forwarded; then its reply ---
trace_bg "$RUN/t1.txt" trace flow destination-port 9000 both-directions count 2 duration 10
udp_send 10.77.2.2 9000 40001
trace_wait
cat "$RUN/t1.txt"
t1=$(cat "$RUN/t1.txt")
check "trace: the first packet is a session miss" grep -q 'session  miss: a new flow  \[session_miss\]' <<<"$t1"
check "trace: the policy that permitted it is named" grep -q 'policy   permit by allow-out (trust -> untrust)' <<<"$t1"
check "trace: the source translation to fw1's address is shown" grep -Eq 'nat      source 10\.77\.1\.2:40001 -> 10\.77\.2\.1:[0-9]+ \(rule lan-out/masquerade\)' <<<"$t1"
check "trace: egress fw1 and the transmit step" grep -q 'tx       queued for fw1  \[forwarded\]' <<<"$t1"
check "trace: the reply is found through the NAT reverse index" grep -q '\[nat_reverse_hit\]' <<<"$t1"
check "trace: the reply's destination is translated back" grep -Eq 'nat      destination 10\.77\.2\.1:[0-9]+ -> 10\.77\.1\.2:40001 \(undoing source NAT' <<<"$t1"
check "trace: ends at the packet count" grep -q 'trace ended: 2 packets traced (the packet count is reached)' <<<"$t1"

# --- policy deny: untrust -> trust on a port no policy permits ---
trace_bg "$RUN/t2.txt" trace flow source-prefix 10.77.2.2 destination-port 2222 count 1 duration 10
ip netns exec "$NS_SRV" $PY -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"x", ("10.77.1.2", 2222))
'
trace_wait
cat "$RUN/t2.txt"
check "trace: a policy deny names the default policy and the counter" grep -q 'policy   deny by default-policy (untrust -> trust)  \[policy_deny\]' "$RUN/t2.txt"
check "trace: the denied packet is dropped" grep -q 'result   dropped' "$RUN/t2.txt"

# --- no route ---
trace_bg "$RUN/t3.txt" trace flow destination-prefix 10.55.0.0/16 count 1 duration 10
udp_send 10.55.0.1 9000
trace_wait
cat "$RUN/t3.txt"
check "trace: no route is named" grep -q 'no route to the destination: dropped  \[fib_miss\]' "$RUN/t3.txt"

# --- a next hop that does not answer ARP ---
trace_bg "$RUN/t4.txt" trace flow destination-prefix 10.77.2.77 count 1 duration 10
udp_send 10.77.2.77 9000
trace_wait
cat "$RUN/t4.txt"
check "trace: an unresolved next hop is named" grep -q '\[neigh_miss\]' "$RUN/t4.txt"
check "trace: ... with the address being resolved" grep -q 'next hop 10.77.2.77 is being resolved' "$RUN/t4.txt"

# --- TTL expiry (a traceroute's first probe) ---
trace_bg "$RUN/t5.txt" trace flow protocol icmp destination-prefix 10.77.2.2 count 1 duration 10
ip netns exec "$NS_CLI" ping -c 1 -t 1 -W 1 10.77.2.2 >/dev/null 2>&1
trace_wait
cat "$RUN/t5.txt"
check "trace: TTL expiry is named" grep -q '\[ttl_expired\]' "$RUN/t5.txt"

# --- JSON: one object per packet, then the end ---
trace_bg "$RUN/t6.json" --json trace flow destination-port 9000 count 1 duration 10
udp_send 10.77.2.2 9000 40002
trace_wait
cat "$RUN/t6.json"
check "trace --json: every line is a JSON object, the packet's counters listed" $PY -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
pk = [l for l in lines if "packet" in l]
end = [l for l in lines if "trace_end" in l]
assert len(pk) == 1 and len(end) == 1, lines
assert "session_miss" in pk[0]["counters"] and "forwarded" in pk[0]["counters"], pk[0]
assert pk[0]["verdict"] == "forwarded" and pk[0]["out_interface"] == "fw1", pk[0]
assert end[0]["trace_end"]["packets"] == 1
' "$RUN/t6.json"

# --- nothing matches: the duration ends it, and the shim's view is shown ---
ip netns exec "$NS_CLI" ping -c 8 -i 0.2 10.77.1.1 >/dev/null 2>&1 &
out=$(moatctl trace flow destination-port 5999 interface fw0 duration 2 2>&1)
echo "$out"
check "trace: no packet, ended by the duration" grep -q 'trace ended: 0 packets traced (the duration of 2 s is over)' <<<"$out"
check "trace: the shim's decisions meanwhile are shown (pings to the box: host_pass)" grep -q 'shim on fw0: .*host_pass +' <<<"$out"

# --- bad filters are refused with the reason ---
out=$(moatctl trace flow destination-port 70000 2>&1)
check "trace: a bad port is refused with the reason" grep -q 'destination-port "70000" is not a port' <<<"$out"
out=$(moatctl trace flow interface nosuch0 2>&1)
check "trace: an unknown interface is refused" grep -q 'interface "nosuch0" is not one Moat manages' <<<"$out"

# --- a second trace while one runs is refused; moatctl going away ends the first ---
trace_bg "$RUN/t7.txt" trace flow destination-port 9999 duration 30
out=$(moatctl trace flow destination-port 9998 duration 1 2>&1)
check "trace: one trace at a time" grep -q 'a trace is already running' <<<"$out"
kill "$TRACE_PID"; wait "$TRACE_PID" 2>/dev/null
check "trace: a trace whose moatctl went away ends (a new one can start)" wait_for 10 "trace slot free" \
	bash -c "$MOAT_BUILD/moatctl --run-dir $RUN trace flow destination-port 9997 duration 1 | grep -q 'trace ended'"

# --- show dataplane statistics [interface|worker] and clear dataplane statistics ---
rx_before=$(counter worker rx_packets)
out=$(moatctl clear dataplane statistics)
check "clear dataplane statistics says what it cleared" grep -q 'dataplane statistics cleared: 2 interfaces, 1 workers' <<<"$out"
rx_after=$(counter worker rx_packets)
ip netns exec "$NS_CLI" ping -c 5 -i 0.2 -W 1 10.77.2.2 >/dev/null 2>&1
rx_pings=$(counter worker rx_packets)
check "after the clear, counts start again near zero ($rx_before -> $rx_after)" [ "$rx_after" -lt "$rx_before" ] && [ "$rx_after" -lt 20 ]
check "... and go on counting (5 pings and replies: $rx_after -> $rx_pings)" [ "$((rx_pings - rx_after))" -ge 10 ]
out=$(moatctl show dataplane statistics)
check "show dataplane statistics says since when it counts" grep -q 'Counters since clear dataplane statistics' <<<"$out"
out=$(moatctl show dataplane statistics interface fw0)
check "show dataplane statistics interface fw0: only fw0" bash -c "grep -q '  fw0 (' <<<\"\$1\" && ! grep -q 'fw1\|worker 0' <<<\"\$1\"" _ "$out"
out=$(moatctl show dataplane statistics worker 0)
check "show dataplane statistics worker 0: that worker, no shim" bash -c "grep -q 'worker 0:' <<<\"\$1\" && ! grep -q 'Shim' <<<\"\$1\"" _ "$out"
out=$(moatctl show dataplane statistics worker 5 2>&1)
check "a worker that does not run is refused" grep -q 'worker 5 does not run' <<<"$out"

# --- the helper down: the trace says so instead of waiting ---
hp=$(pgrep -f "moat-dataplane --run-dir $RUN( |$)" | head -1)
kill -STOP "$hp"
check "helper stopped: controld notices" wait_for 10 "helper down" bash -c "[ \"\$($MOAT_BUILD/moatctl --run-dir $RUN show system status | sed -n 's/^helper: //p' | cut -d' ' -f1)\" = down ]"
out=$(moatctl trace flow count 1 duration 2 2>&1)
echo "$out"
check "trace with the helper down names it" grep -q 'the dataplane helper is down' <<<"$out"
kill -KILL "$hp"
check "a respawned helper re-arms" wait_for 20 armed is_armed

moat_stop_all
lab_finish
