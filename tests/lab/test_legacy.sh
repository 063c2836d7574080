#!/usr/bin/env bash
# The legacy in-kernel path (xdp_main_prog, bpf/main.bpf.c) with real traffic:
#  1. `mode legacy` forced (configs/firewall-legacy.conf): ping (IPv4, IPv6), TCP (iperf3) and
#     UDP cross the firewall through the kernel path only (the helper's workers see nothing,
#     ip_forward is 0), a flow the policies deny is dropped, sessions are shown by moatctl.
#  2. `mode legacy` with NAT (configs/nat-legacy.conf): the server sees fw1's address and a
#     port of the interface range (SNAT); 10.77.2.1:80 reaches the client's :8080 (DNAT).
#  3. Fallback (configs/nat-standalone.conf, userspace): a TCP stream and a NATed UDP flow keep
#     going while the helper is SIGKILLed and restarted: iperf3 ends without error, the server
#     sees one translated source port for the UDP flow, the shim's tail_call counter and the
#     legacy path's counters show the path change, and the helper is armed again. A UDP flow
#     born while the helper is dead keeps its translated port when the helper is back. A TCP
#     flow and a NATed UDP flow born after the restarted helper got its snapshot but before
#     controld armed (held 2 s by the test hook MOAT_TEST_HOLD_ARM_MS, a slow helper) are
#     handed to the helper at arming: they keep going, the UDP one with its translated port.
#     Then a link cycle (MTU change) of both interfaces disarms the last armed one while the
#     helper keeps running: a TCP flow and a NATed UDP flow born before the re-arm (held 2 s)
#     are handed over at that arming too (no Hello): no reset, one translated port. The same
#     for flows born while the operator disarmed every interface (request dataplane disarm,
#     then arm). Then the mixed state: the operator disarms fw0 alone while the helper keeps
#     fw1 (request dataplane disarm fw0, then arm fw0): a TCP flow and a NATed UDP flow
#     established through the helper keep going (no TCP segment without its session in the
#     kernel path, one translated port), and a TCP flow born while fw0 is disarmed (its SYN in
#     the kernel path, its SYN-ACK entering fw1, diverted by the shim to the kernel path)
#     connects at once, is established in the kernel path, and keeps its connection once fw0
#     is armed.
#  Part 2 also runs xdp_main_prog with BPF_PROG_TEST_RUN on crafted frames
#  (tests/lab/legacy/prog_run.py): verdicts, rewritten fields and checksums; and first packets
#  of one internal endpoint on two CPUs at once (tests/lab/legacy/nat_race.c): one source-NAT
#  mapping, every packet forwarded and answered, no session_conflict.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
lab_init legacy
lab_topology
# lab_topology turns GRO on at c0 and s0 (shared/LAB.md pitfall 3: XDP_REDIRECT into a veth
# needs NAPI on its peer).

# lg NAME: a counter of the legacy path from show dataplane statistics --json.
lg() {
	moatctl --json show dataplane statistics | $PY -c 'import json,sys; print(json.load(sys.stdin)["legacy"][sys.argv[1]])' "$1"
}
# stop_controld: stops controld (and the helper it spawned), leaving the test's servers.
stop_controld() {
	kill -TERM "$CONTROLD_PID"
	for _ in $(seq 1 50); do
		kill -0 "$CONTROLD_PID" 2>/dev/null || break
		sleep 0.1
	done
	wait "$CONTROLD_PID" 2>/dev/null
	# A restarted controld keeps the kernel path's sessions; the next part starts afresh.
	rm -f "$RUN/bpf/moat/moat_lg_sess"
}

cat >"$RUN/udp_echo.py" <<'PYEOF'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
log = open(sys.argv[2], "a")
while True:
    d, a = s.recvfrom(2048)
    log.write("%s:%d %.3f\n" % (a[0], a[1], time.time())); log.flush()
    s.sendto(d, a)
PYEOF
# tcp_flow.py DST PORT SECONDS SPORT STOPFILE [MARKFILE]: one connection, 32 bytes every 20 ms;
# prints messages sent, messages answered, and ok or the error that ended it (with MARKFILE,
# then the messages answered and sent when MARKFILE appeared, and the connect time in ms).
cat >"$RUN/tcp_flow.py" <<'PYEOF'
import os, socket, sys, time
s = socket.socket(); s.bind(("10.77.1.2", int(sys.argv[4]))); s.settimeout(3)
t0 = time.time(); s.connect((sys.argv[1], int(sys.argv[2]))); s.settimeout(0.02)
connect_ms = int((time.time() - t0) * 1000)
sent = got = 0; err = "ok"; end = time.time() + float(sys.argv[3])
mark = sys.argv[6] if len(sys.argv) > 6 else None; at_mark = None
while time.time() < end and not os.path.exists(sys.argv[5]):
    if mark and at_mark is None and os.path.exists(mark):
        at_mark = (got // 32, sent)
    t = time.time()
    try:
        s.sendall(b"y" * 32); sent += 1
        while True:
            d = s.recv(4096)
            if not d:
                err = "closed"; break
            got += len(d)
    except socket.timeout:
        pass
    except OSError as e:
        err = type(e).__name__
    if err != "ok":
        break
    time.sleep(max(0, 0.02 - (time.time() - t)))
print(sent, got // 32, err, *(list(at_mark or (0, 0)) + [connect_ms] if mark else []))
PYEOF
# udp_flow.py DST PORT SECONDS [SPORT [STOPFILE]]: one socket, a datagram every 20 ms, for
# SECONDS or until STOPFILE exists; prints sent and answered.
cat >"$RUN/udp_flow.py" <<'PYEOF'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.77.1.2", int(sys.argv[4]) if len(sys.argv) > 4 else 40404)); s.settimeout(0.02)
import os
stop = sys.argv[5] if len(sys.argv) > 5 else None
sent = got = 0; end = time.time() + float(sys.argv[3])
while time.time() < end and not (stop and os.path.exists(stop)):
    s.sendto(b"x" * 32, (sys.argv[1], int(sys.argv[2]))); sent += 1
    try:
        while True:
            s.recv(64); got += 1
    except socket.timeout:
        pass
print(sent, got)
PYEOF
# tcp_try.py HOST PORT: "ok" if a connection is accepted within 2 s.
cat >"$RUN/tcp_try.py" <<'PYEOF'
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close(); print("ok")
except Exception as e:
    print("failed", e)
PYEOF
# udp_refused.py: UDP to a closed port of the server: "refused" when the ICMP port
# unreachable comes back (and matches the socket: translated back under NAT).
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
ip netns exec "$NS_SRV" $PY "$RUN/udp_echo.py" 9000 "$RUN/seen.log" &
LAB_PIDS+=($!)
ip netns exec "$NS_SRV" $PY "$RUN/udp_echo.py" 9002 "$RUN/seen-eim.log" &
LAB_PIDS+=($!)
ip netns exec "$NS_SRV" iperf3 -s -D -p 5201 --logfile "$RUN/iperf-srv.log"
ip netns exec "$NS_SRV" $PY "$LAB_TOP/tests/lab/tcp_echo.py" --log "$RUN/tcp-seen.log" 9001 &
LAB_PIDS+=($!)
ip netns exec "$NS_CLI" bash -c "while true; do echo web-ok | nc -l -p 8080 -q 1; done >/dev/null 2>&1" &
LAB_PIDS+=($!)
ip netns exec "$NS_CLI" bash -c "while true; do nc -l -p 9999 -q 1 </dev/null; done >/dev/null 2>&1" &
LAB_PIDS+=($!)

# ---------------- 1. mode legacy, firewall ----------------
lab_log "1. mode legacy: firewall"
moat_start_spawned "$LAB_TOP/tests/lab/configs/firewall-legacy.conf" || exit 1
check "status says mode legacy" [ "$(status_field mode)" = legacy ]
check "the legacy path is loaded" [ "$(lg loaded)" = True ]
wait_for 10 "the helper applied its snapshot" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show system status | grep -q 'phase: running'"
check "forwarding is not armed (mode legacy)" is_disarmed
# The first packets ask controld to resolve the next hops.
ip netns exec "$NS_CLI" ping -c 2 -i 0.3 -W 1 10.77.2.2 >/dev/null 2>&1
ip netns exec "$NS_CLI" ping -6 -c 2 -i 0.3 -W 1 fd00:77:2::2 >/dev/null 2>&1
check "ping client -> server (IPv4) through the kernel path" ip netns exec "$NS_CLI" ping -c 3 -i 0.2 -W 2 10.77.2.2
check "ping client -> server (IPv6) through the kernel path" ip netns exec "$NS_CLI" ping -6 -c 3 -i 0.2 -W 2 fd00:77:2::2
check "TCP (iperf3 2 s) client -> server" ip netns exec "$NS_CLI" iperf3 -c 10.77.2.2 -p 5201 -t 2
res=$(ip netns exec "$NS_CLI" $PY "$RUN/udp_flow.py" 10.77.2.2 9000 1)
echo "    UDP 1 s: sent/answered $res"
check "UDP client -> server gets its answers" [ "${res#* }" -ge $(( ${res% *} * 9 / 10 )) ]
res=$(ip netns exec "$NS_CLI" $PY "$RUN/udp_refused.py")
check "a port unreachable reaches the client (ICMP error of a session): $res" [ "$res" = refused ]
check "counted as icmp_error_related" [ "$(lg icmp_error_related)" -gt 0 ]
deny0=$(lg policy_deny)
res=$(ip netns exec "$NS_SRV" $PY "$RUN/tcp_try.py" 10.77.1.2 9999)
check "server -> client TCP 9999 (no policy) is blocked: $res" [ "${res%% *}" = failed ]
check "counted as policy_deny" [ "$(lg policy_deny)" -gt "$deny0" ]
res=$(ip netns exec "$NS_SRV" $PY "$RUN/tcp_try.py" 10.77.1.2 8080)
check "server -> client TCP 8080 (allow-web) passes: $res" [ "$res" = ok ]
sleep 1.2 # one sweep: counters and states in the mirror
moatctl show security flow session | tail -8
check "moatctl shows the kernel path's TCP session" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show security flow session protocol tcp destination-port 5201 | grep -q 'In: 10.77.1.2/'"
check "the helper's workers forwarded nothing" [ "$(counter worker rx_packets)" -eq 0 ]
check "the shim tail-called the legacy path" [ "$(counter shim tail_call)" -gt 1000 ]
check "the legacy path transmitted" [ "$(lg tx)" -gt 1000 ]
stop_controld

# ---------------- 2. mode legacy, NAT ----------------
lab_log "2. mode legacy: source and destination NAT"
: >"$RUN/seen.log"
# An upgrade that changed a map's layout: the pin of moat_lg_stats left by "another Moat" is a
# one-entry array of 8-byte values. controld replaces it (logged, with what changed) instead
# of refusing to load until the operator removes the pins.
rm -f "$RUN/bpf/moat/moat_lg_stats"
bpftool map create "$RUN/bpf/moat/moat_lg_stats" type array key 4 value 8 entries 1 name moat_lg_stats
log0=$(wc -l <"$RUN/controld.log")
moat_start_spawned "$LAB_TOP/tests/lab/configs/nat-legacy.conf" || exit 1
check "a pinned map of another layout is replaced at start, and named" bash -c \
	"tail -n +$((log0 + 1)) $RUN/controld.log | grep 'moat_lg_stats had the layout of another Moat version' | grep -q 'type 2 -> 6'"
check "... the other pins were kept (one replaced)" [ "$(tail -n +$((log0 + 1)) "$RUN/controld.log" | grep -c 'had the layout of another Moat version')" -eq 1 ]
ip netns exec "$NS_CLI" ping -c 2 -i 0.3 -W 1 10.77.2.2 >/dev/null 2>&1
check "ping client -> server through SNAT" ip netns exec "$NS_CLI" ping -c 3 -i 0.2 -W 2 10.77.2.2
res=$(ip netns exec "$NS_CLI" $PY "$RUN/udp_flow.py" 10.77.2.2 9000 1)
echo "    UDP 1 s through SNAT: sent/answered $res"
check "UDP through SNAT gets its answers" [ "${res#* }" -ge $(( ${res% *} * 9 / 10 )) ]
src=$(cut -d' ' -f1 "$RUN/seen.log" | sort -u | tr '\n' ' ')
echo "    server saw: $src"
check "the server sees fw1's address and one port of 1024-32767" bash -c "[[ '$src' =~ ^10\.77\.2\.1:([0-9]+)\ $ ]] && p=\${BASH_REMATCH[1]} && [ \$p -ge 1024 ] && [ \$p -le 32767 ]"
check "TCP (iperf3 2 s) through SNAT" ip netns exec "$NS_CLI" iperf3 -c 10.77.2.2 -p 5201 -t 2
res=$(ip netns exec "$NS_CLI" $PY "$RUN/udp_refused.py")
check "a port unreachable behind SNAT reaches the client translated: $res" [ "$res" = refused ]
check "counted as nat_icmp_errors" [ "$(lg nat_icmp_errors)" -gt 0 ]
out=$(ip netns exec "$NS_SRV" bash -c "echo hello | nc -w 3 10.77.2.1 80" 2>&1)
check "outside client reaches the web server through DNAT 80 -> 8080" grep -q web-ok <<<"$out"
check "replies of translated sessions counted (nat_reverse_hit)" [ "$(lg nat_reverse_hit)" -gt 100 ]
# BPF_PROG_TEST_RUN of the pinned xdp_main_prog on crafted frames (tests/lab/legacy/prog_run.py):
# verdicts, every rewritten field, checksums.
mac() { ip -n "$1" -o link show "$2" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p'; }
ip netns exec "$NS_CLI" ping -6 -c 2 -i 0.3 -W 1 fd00:77:2::2 >/dev/null 2>&1
ttl0=$(lg ttl_exceeded) uns0=$(lg unsupported) mal0=$(lg malformed) mtu0=$(lg mtu_drops) err0=$(lg icmp_errors_sent) frag0=$(lg frag_drops)
ip netns exec "$NS_FW" $PY "$LAB_TOP/tests/lab/legacy/prog_run.py" "$RUN/bpf/moat" "$(mac "$NS_FW" fw0)" \
	"$(mac "$NS_CLI" c0)" "$(mac "$NS_FW" fw1)" "$(mac "$NS_SRV" s0)" >"$RUN/prog_run.out" 2>&1
while read -r line; do
	case "$line" in
	"PASS: "*) pass "prog_run: ${line#PASS: }" ;;
	"FAIL: "*) fail "prog_run: ${line#FAIL: }" ;;
	*) echo "    | $line" ;;
	esac
done <"$RUN/prog_run.out"
check "prog_run ran its cases" [ "$(grep -c '^PASS' "$RUN/prog_run.out")" -ge 20 ]
check "counted: ttl_exceeded, unsupported, malformed" bash -c "[ $(lg ttl_exceeded) -gt $ttl0 ] && [ $(lg unsupported) -gt $uns0 ] && [ $(lg malformed) -gt $mal0 ]"
echo "    deltas: frag_drops $(($(lg frag_drops) - frag0)), mtu_drops $(($(lg mtu_drops) - mtu0)), icmp_errors_sent $(($(lg icmp_errors_sent) - err0))"
check "counted: frag_drops +5 (3 later fragments without a first, 2 of a refused first)" [ $(($(lg frag_drops) - frag0)) -eq 5 ]
check "counted: mtu_drops +4 (3 too big answered, 1 without DF), icmp_errors_sent +8 (5 time exceeded: one of a tagged frame, one of a first fragment)" \
	bash -c "[ $(($(lg mtu_drops) - mtu0)) -eq 4 ] && [ $(($(lg icmp_errors_sent) - err0)) -eq 8 ]"
sleep 1.2
check "the test-run flow reached the mirror through the event ring" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show security flow session source-port 5555 | grep -q 'In: 10.77.1.2/5555'"
moatctl show security flow session nat | head -8
check "show security flow session nat lists the DNAT session" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show security flow session nat | grep -q '10.77.2.1/80'"
# Source NAT created on two CPUs at once (tests/lab/legacy/nat_race.c): 500 internal endpoints
# each send their first packet from CPU 0 and CPU 1 at the same instant (BPF_PROG_TEST_RUN
# after a spin barrier), two flows of the endpoint, then the same flow twice. Where both CPUs
# allocated a mapping (contested: the allocations beyond one per endpoint), the loser takes
# the winner's mapping, or is a packet of the winner's session: every first packet forwarded,
# one external port per endpoint, every reply back, no session_conflict.
cc -std=gnu17 -O2 -Wall -Wextra -Werror -I"$LAB_TOP/bpf" -I"$LAB_TOP/common" \
	"$LAB_TOP/tests/lab/legacy/nat_race.c" -lbpf -lpthread -o "$RUN/nat_race"
for mode in two same; do
	sc0=$(lg session_conflict)
	ip netns exec "$NS_FW" "$RUN/nat_race" "$RUN/bpf/moat" 500 $([ $mode = two ] && echo 20000 || echo 21000) $mode \
		>"$RUN/nat_race.out" 2>&1
	contested=$(sed -n 's/^contested //p' "$RUN/nat_race.out")
	while read -r line; do
		case "$line" in
		"PASS: "*) pass "nat_race ($mode flows an endpoint): ${line#PASS: }" ;;
		"FAIL: "*) fail "nat_race ($mode flows an endpoint): ${line#FAIL: }" ;;
		*) echo "    | $line" ;;
		esac
	done <"$RUN/nat_race.out"
	check "nat_race ($mode): the CPUs raced (${contested:-?} of 500 endpoints mapped on both)" [ "${contested:-0}" -ge 1 ]
	check "nat_race ($mode): no session_conflict" [ "$(lg session_conflict)" -eq "$sc0" ]
done
stop_controld

# ---------------- 3. userspace, helper killed under traffic ----------------
# The helper is our own (not spawned) so that the time it stays dead is the test's: a UDP flow
# that starts meanwhile is created by the kernel path and must reach the next helper (through
# the mirror, in its first snapshot) with the same translated port.
lab_log "3. userspace: the helper is SIGKILLed under a TCP stream and NATed UDP flows"
: >"$RUN/seen.log"
log0=$(wc -l <"$RUN/controld.log")
MOAT_TEST_HOLD_ARM_MS=2000 moat_start "$LAB_TOP/tests/lab/configs/nat-standalone.conf" || exit 1
helper_start
check "armed (userspace)" wait_for 15 armed is_armed
check "a restart over this version's pins replaces none" bash -c "! tail -n +$((log0 + 1)) $RUN/controld.log | grep 'layout of another Moat version'"
ip netns exec "$NS_CLI" ping -c 2 -i 0.3 -W 1 10.77.2.2 >/dev/null 2>&1
tail0=$(counter shim tail_call)
ip netns exec "$NS_CLI" iperf3 -c 10.77.2.2 -p 5201 -t 16 -i 1 >"$RUN/iperf-kill.log" 2>&1 &
IPERF=$!
ip netns exec "$NS_CLI" $PY "$RUN/udp_flow.py" 10.77.2.2 9000 40 40404 "$RUN/stop" >"$RUN/udp-a.out" 2>&1 &
UDPA=$!
sleep 3
hit0=$(lg session_hit) nsd0=$(lg non_syn_drop)
lab_log "killing the helper (pid $HELPER_PID)"
kill -KILL "$HELPER_PID"
check "disarmed after the helper died" wait_for 3 disarmed is_disarmed
# A new flow of flow A's endpoint (10.77.1.2:40404, to another server port) now starts in the
# kernel path: it must get the external port the helper mapped that endpoint to (the mapping
# seeded with flow A's session; endpoint-independent, as the helper would have given it).
ip netns exec "$NS_CLI" $PY -c 'from scapy.all import IP, UDP, Raw, send
send(IP(src="10.77.1.2", dst="10.77.2.2")/UDP(sport=40404, dport=9002)/Raw(b"e" * 32), count=3, inter=0.1, verbose=0)' >/dev/null 2>&1
porta=$(head -1 "$RUN/seen.log" | cut -d' ' -f1)
porte=$(head -1 "$RUN/seen-eim.log" 2>/dev/null | cut -d' ' -f1)
echo "    10.77.1.2:40404 seen by port 9000 (helper) as $porta, by port 9002 (new flow, kernel path) as ${porte:-none}"
check "a new flow of flow A's endpoint after the fail-over keeps its external port (seeded mapping)" \
	bash -c "[ -n '$porta' ] && [ '$porta' = '${porte:-none}' ]"
check "source NAT mappings were seeded" [ "$(lg nat_mappings_seeded)" -ge 1 ]
ip netns exec "$NS_CLI" $PY "$RUN/udp_flow.py" 10.77.2.2 9000 40 40405 "$RUN/stop" >"$RUN/udp-b.out" 2>&1 &
UDPB=$!
sleep 2
check "the flow started meanwhile is a kernel-path session" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show security flow session source-port 40405 | grep -q 'In: 10.77.1.2/40405'"
lab_log "restarting the helper"
restart_at=$SECONDS
helper_start
# Between the helper's snapshot and arming (held 2 s): a new TCP flow and a new NATed UDP flow.
check "the restarted helper got its snapshot; arming held" wait_for 15 held grep -q "arming held" "$RUN/controld.log"
ip netns exec "$NS_CLI" $PY "$RUN/tcp_flow.py" 10.77.2.2 9001 40 40407 "$RUN/stop" >"$RUN/tcp-c.out" 2>&1 &
TCPC=$!
ip netns exec "$NS_CLI" $PY "$RUN/udp_flow.py" 10.77.2.2 9000 40 40406 "$RUN/stop" >"$RUN/udp-c.out" 2>&1 &
UDPC=$!
check "re-armed with the restarted helper" wait_for 15 armed is_armed
armed_at=$(date +%s.%N)
arm_secs=$((SECONDS - restart_at))
sleep 3 # the UDP flows and the new TCP flow go on through the helper, then stop
touch "$RUN/stop"
wait "$IPERF"
rc=$?
grep -E "^\[ *[0-9]+\] +[0-9.]+-" "$RUN/iperf-kill.log" | sed 's/^/    /'
check "iperf3 through the helper's death ended without error" [ "$rc" -eq 0 ]
check "no connection reset" bash -c "! grep -qi 'reset\|error' $RUN/iperf-kill.log"
wait "$UDPA" "$UDPB" "$UDPC" "$TCPC"
resa=$(cat "$RUN/udp-a.out")
resb=$(cat "$RUN/udp-b.out")
resc=$(cat "$RUN/udp-c.out")
read -r tsent tgot terr <"$RUN/tcp-c.out"
echo "    UDP flow A (across the kill): sent/answered $resa; flow B (born in the kernel path): $resb"
echo "    born between the helper's snapshot and arming: UDP flow C sent/answered $resc; TCP flow sent/answered/end: $tsent $tgot $terr"
check "flow A kept being answered (>= 80%)" [ "${resa#* }" -ge $(( ${resa% *} * 8 / 10 )) ]
check "flow B kept being answered after the helper came back (>= 70%)" [ "${resb#* }" -ge $(( ${resb% *} * 7 / 10 )) ]
check "flow C (born before arming) kept being answered once armed (>= 70%)" [ "${resc#* }" -ge $(( ${resc% *} * 7 / 10 )) ]
check "the TCP flow born before arming ended without error" [ "$terr" = ok ]
check "the TCP flow born before arming kept being answered once armed (>= 70%)" [ "${tgot:-0}" -ge $(( ${tsent:-1} * 7 / 10 )) ]
check "the TCP flow was one connection through source NAT" bash -c "[ \"\$(sort -u $RUN/tcp-seen.log)\" != '' ] && [ \$(sort -u $RUN/tcp-seen.log | wc -l) -eq 1 ] && grep -q '^10.77.2.1:' $RUN/tcp-seen.log"
ho=$(moatctl --json show system status | $PY -c 'import json,sys; c=json.load(sys.stdin)["counters"]; print(c["handover_sessions"], c["handover_late"], c["handover_failed"])')
echo "    handed over at arming (before, late, failed): $ho"
grep -E "handover:|forwarding armed" "$RUN/controld.log" | tail -4 | sed 's/^/    | /'
check "the handover counter shows the two flows handed over before arming" [ "${ho%% *}" -ge 2 ]
ports=$(cut -d: -f2 "$RUN/seen.log" | cut -d' ' -f1 | sort -u | tr '\n' ' ')
echo "    server saw source ports: $ports"
check "the server saw one translated port per flow (3 in all)" [ "$(cut -d: -f2 "$RUN/seen.log" | cut -d' ' -f1 | sort -u | wc -l)" -eq 3 ]
before=$(awk -v t="$armed_at" '$2 <= t { split($1, a, ":"); print a[2] }' "$RUN/seen.log" | sort -u | tr '\n' ' ')
after=$(awk -v t="$armed_at" '$2 > t + 0.5 { split($1, a, ":"); print a[2] }' "$RUN/seen.log" | sort -u | tr '\n' ' ')
echo "    ports before the helper was back: $before; after: $after"
# The helper ages the re-seeded sessions from the time of its snapshot: if it takes longer
# than the UDP timeout (10 s) to start, they expire before their packets reach it.
if [ "$arm_secs" -le 6 ]; then
	check "both flows kept their ports through the helper (ports after = ports before)" [ "$after" = "$before" ]
else
	echo "    SKIP: the helper took ${arm_secs}s to arm, near the UDP timeout: port continuity not judged"
fi
check "the restarted helper got the kernel path's session in its snapshot" bash -c "grep 'sessions from the mirror' $RUN/controld.log | tail -1 | grep -qE ', ([3-9]|[1-9][0-9]+) sessions from the mirror'"
check "the shim tail-called the legacy path meanwhile" [ "$(counter shim tail_call)" -gt "$tail0" ]
check "the legacy path forwarded the seeded sessions" [ "$(lg session_hit)" -gt $((hit0 + 100)) ]
check "sessions were seeded from the mirror" [ "$(lg seeded)" -ge 3 ]
check "no TCP segment lacked its session in the kernel path" [ "$(lg non_syn_drop)" -eq "$nsd0" ]
moatctl show dataplane statistics | sed -n '/^Legacy/,$p'

# A re-arm without a Hello: an MTU change of both interfaces disarms them (the last armed one
# included) while the helper keeps running; arming again flushes the kernel path, so what it
# created meanwhile must reach the helper first.
lab_log "3b. both interfaces' MTU changed: re-armed without a Hello"
: >"$RUN/seen.log"
: >"$RUN/tcp-seen.log"
rm -f "$RUN/stop"
held0=$(grep -c "arming held" "$RUN/controld.log")
conn0=$(grep -c "helper link: helper pid .* connected" "$RUN/controld.log")
ho0=$(moatctl --json show system status | $PY -c 'import json,sys; print(json.load(sys.stdin)["counters"]["handover_sessions"])')
# One batch: both are disarmed before the helper has rebound either (separate commands let
# fw0 re-arm before fw1 went down: never disarmed as a whole).
printf 'link set fw0 mtu 1400\nlink set fw1 mtu 1400\n' | ip -n "$NS_FW" -batch -
check "MTU change: disarmed, the same helper" wait_for 3 disarmed is_disarmed
check "MTU change: the helper rebound; re-arming held" wait_for 10 held bash -c "[ \$(grep -c 'arming held' $RUN/controld.log) -gt $held0 ]"
ip netns exec "$NS_CLI" $PY "$RUN/tcp_flow.py" 10.77.2.2 9001 30 40410 "$RUN/stop" >"$RUN/tcp-d.out" 2>&1 &
TCPD=$!
ip netns exec "$NS_CLI" $PY "$RUN/udp_flow.py" 10.77.2.2 9000 30 40411 "$RUN/stop" >"$RUN/udp-d.out" 2>&1 &
UDPD=$!
check "re-armed after the MTU change" wait_for 10 armed is_armed
check "no Hello: the helper was not restarted" [ "$(grep -c 'helper link: helper pid .* connected' "$RUN/controld.log")" -eq "$conn0" ]
sleep 2 # the flows go on through the helper
touch "$RUN/stop"
wait "$TCPD" "$UDPD"
resd=$(cat "$RUN/udp-d.out")
read -r dsent dgot derr <"$RUN/tcp-d.out"
echo "    born before the re-arm: UDP flow sent/answered $resd; TCP flow sent/answered/end: $dsent $dgot $derr"
grep -E "handover:|forwarding armed" "$RUN/controld.log" | tail -3 | sed 's/^/    | /'
check "the UDP flow born before the re-arm kept being answered (>= 70%)" [ "${resd#* }" -ge $(( ${resd% *} * 7 / 10 )) ]
check "the TCP flow born before the re-arm ended without error" [ "$derr" = ok ]
check "the TCP flow born before the re-arm kept being answered (>= 70%)" [ "${dgot:-0}" -ge $(( ${dsent:-1} * 7 / 10 )) ]
check "the TCP flow was one connection" [ "$(sort -u "$RUN/tcp-seen.log" | wc -l)" -eq 1 ]
ports=$(cut -d: -f2 "$RUN/seen.log" | cut -d' ' -f1 | sort -u | tr '\n' ' ')
check "the server saw one translated port for the UDP flow ($ports)" [ "$(cut -d: -f2 "$RUN/seen.log" | cut -d' ' -f1 | sort -u | wc -l)" -eq 1 ]
ho1=$(moatctl --json show system status | $PY -c 'import json,sys; print(json.load(sys.stdin)["counters"]["handover_sessions"])')
check "both flows handed over before the re-arm (handover_sessions $ho0 -> $ho1)" [ "$ho1" -ge $((ho0 + 2)) ]

# The operator disarms every interface, then arms: that arming flushes the kernel path too.
lab_log "3c. request dataplane disarm, then arm: flows born meanwhile are handed over"
: >"$RUN/seen.log"
: >"$RUN/tcp-seen.log"
rm -f "$RUN/stop"
ho0=$ho1
check "request dataplane disarm" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN request dataplane disarm | grep -q 'every interface disarmed'"
check "disarmed by the operator" is_disarmed
ip netns exec "$NS_CLI" $PY "$RUN/tcp_flow.py" 10.77.2.2 9001 30 40412 "$RUN/stop" >"$RUN/tcp-e.out" 2>&1 &
TCPE=$!
ip netns exec "$NS_CLI" $PY "$RUN/udp_flow.py" 10.77.2.2 9000 30 40413 "$RUN/stop" >"$RUN/udp-e.out" 2>&1 &
UDPE=$!
sleep 1
check "request dataplane arm" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN request dataplane arm | grep -q 'every interface armed'"
check "armed by the operator (after the handover)" wait_for 10 armed is_armed
sleep 1.5
touch "$RUN/stop"
wait "$TCPE" "$UDPE"
rese=$(cat "$RUN/udp-e.out")
read -r esent egot eerr <"$RUN/tcp-e.out"
echo "    born while disarmed by the operator: UDP flow sent/answered $rese; TCP flow sent/answered/end: $esent $egot $eerr"
check "the UDP flow born while disarmed kept being answered (>= 70%)" [ "${rese#* }" -ge $(( ${rese% *} * 7 / 10 )) ]
check "the TCP flow born while disarmed ended without error, answered (>= 70%)" bash -c "[ '$eerr' = ok ] && [ ${egot:-0} -ge $(( ${esent:-1} * 7 / 10 )) ]"
ports=$(cut -d: -f2 "$RUN/seen.log" | cut -d' ' -f1 | sort -u | tr '\n' ' ')
check "the server saw one translated port for the UDP flow ($ports)" [ "$(cut -d: -f2 "$RUN/seen.log" | cut -d' ' -f1 | sort -u | wc -l)" -eq 1 ]
ho1=$(moatctl --json show system status | $PY -c 'import json,sys; print(json.load(sys.stdin)["counters"]["handover_sessions"])')
check "both flows handed over before the operator's arming (handover_sessions $ho0 -> $ho1)" [ "$ho1" -ge $((ho0 + 2)) ]

# The mixed state: the operator disarms fw0 (the client's side) alone, the helper keeps fw1.
# Client -> server packets take the kernel path, the replies the helper: a TCP flow and a
# NATed UDP flow established through the helper keep going (the kernel path seeded from the
# mirror), a TCP flow born meanwhile in the kernel path gets its SYN-ACK through the helper
# (installed at once), and all three keep going once fw0 is armed again (a handover first).
lab_log "3d. request dataplane disarm fw0 alone, then arm fw0: the helper keeps fw1"
: >"$RUN/seen.log"
: >"$RUN/tcp-seen.log"
rm -f "$RUN/stop" "$RUN/mark-g"
ifarmed() { moatctl --json show interfaces | $PY -c '
import json, sys
print({i["name"]: i for i in json.load(sys.stdin)["interfaces"]}[sys.argv[1]]["armed"])' "$1"; }
if_armed() { [ "$(ifarmed "$1")" = True ]; }
only_fw1_armed() { [ "$(ifarmed fw0) $(ifarmed fw1)" = "False True" ]; }
mixed() { moatctl --json show system status | $PY -c 'import json,sys; c=json.load(sys.stdin)["counters"]; print(c["mixed_seeds"], c["mixed_installs_acked"], c["mixed_arm_handovers"])'; }
nsd0=$(lg non_syn_drop)
read -r seeds0 acked0 parts0 <<<"$(mixed)"
ip netns exec "$NS_CLI" $PY "$RUN/tcp_flow.py" 10.77.2.2 9001 30 40414 "$RUN/stop" >"$RUN/tcp-f.out" 2>&1 &
TCPF=$!
ip netns exec "$NS_CLI" $PY "$RUN/udp_flow.py" 10.77.2.2 9000 30 40415 "$RUN/stop" >"$RUN/udp-f.out" 2>&1 &
UDPF=$!
sleep 1.5
check "request dataplane disarm fw0" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN request dataplane disarm fw0 >/dev/null"
check "fw0 disarmed, fw1 still armed" only_fw1_armed
sleep 1
ip netns exec "$NS_CLI" $PY "$RUN/tcp_flow.py" 10.77.2.2 9001 30 40416 "$RUN/stop" "$RUN/mark-g" >"$RUN/tcp-g.out" 2>&1 &
TCPG=$!
# A ping started now: its first echo reply enters fw1 (armed) before the helper could hold the
# session; diverted to the kernel path like the TCP flow's SYN-ACK.
ip netns exec "$NS_CLI" ping -c 1 -W 1 10.77.2.2 >"$RUN/ping-g.out" 2>&1
gping=$?
sleep 2
touch "$RUN/mark-g" # answered so far: while fw0 was disarmed
# The kernel path holds the whole flow (its replies diverted to it at fw1): its own TCP state
# followed the handshake (the sweep reports it to the mirror).
gstate=$(moatctl show security flow session source-port 40416 | sed -n 's/.*State: \([a-z-]*\).*/\1/p' | head -1)
check "request dataplane arm fw0" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN request dataplane arm fw0 >/dev/null"
check "fw0 armed again (after the handover)" wait_for 10 "fw0 armed" if_armed fw0
sleep 1.5
touch "$RUN/stop"
wait "$TCPF" "$UDPF" "$TCPG"
resf=$(cat "$RUN/udp-f.out")
read -r fsent fgot ferr <"$RUN/tcp-f.out"
read -r gsent ggot gerr gmark gmarksent gconn <"$RUN/tcp-g.out"
echo "    across disarm/arm of fw0: UDP flow sent/answered $resf; TCP flow sent/answered/end: $fsent $fgot $ferr"
echo "    born while fw0 was disarmed: TCP flow sent/answered/end: $gsent $ggot $gerr, sent/answered before fw0 was armed: ${gmarksent:-none} ${gmark:-none}, connected in ${gconn:-?} ms"
read -r seeds1 acked1 parts1 <<<"$(mixed)"
echo "    mixed state: seeds $seeds0 -> $seeds1, kernel-path sessions acknowledged by the helper $acked0 -> $acked1, armings after a handover $parts0 -> $parts1"
grep -E "seeded|handover:|forwarding armed" "$RUN/controld.log" | tail -4 | sed 's/^/    | /'
check "(a) the TCP flow across disarm/arm of fw0 ended without error, answered (>= 70%)" bash -c "[ '$ferr' = ok ] && [ ${fgot:-0} -ge $(( ${fsent:-1} * 7 / 10 )) ]"
check "(a) no TCP segment lacked its session in the kernel path while fw0 was disarmed" [ "$(lg non_syn_drop)" -eq "$nsd0" ]
check "(a) the UDP flow across disarm/arm of fw0 kept being answered (>= 70%)" [ "${resf#* }" -ge $(( ${resf% *} * 7 / 10 )) ]
ports=$(cut -d: -f2 "$RUN/seen.log" | cut -d' ' -f1 | sort -u | tr '\n' ' ')
check "(a) the server saw one translated port for the UDP flow ($ports)" [ "$(cut -d: -f2 "$RUN/seen.log" | cut -d' ' -f1 | sort -u | wc -l)" -eq 1 ]
check "(b) the TCP flow born while fw0 was disarmed was answered before fw0 was armed" [ "${gmark:-0}" -ge 10 ]
check "(b) ... its session in the kernel path is established ($gstate)" [ "$gstate" = established ]
# Its SYN-ACK enters fw1 (armed) before controld could install the session in the helper: the
# shim gives it to the kernel path (moat_lg_divert), no retransmission (1 s) needed.
check "(b) ... connected at once (${gconn:-?} ms < 500)" [ "${gconn:-9999}" -lt 500 ]
check "(b) a ping started while fw0 was disarmed got its first reply" [ "$gping" = 0 ]
# Its messages after the mark crossed the re-armed fw0 on the connection opened before: at least
# 70% of those sent since answered (at least 25: half a second), no error, no second connection.
gafter=$(( ${ggot:-0} - ${gmark:-0} )) gsentafter=$(( ${gsent:-0} - ${gmarksent:-0} ))
check "(b) ... and the same connection kept working once fw0 was armed: $gafter of $gsentafter answered since" \
	bash -c "[ '$gerr' = ok ] && [ ${gmark:-0} -ge 10 ] && [ $gafter -ge 25 ] && [ $gafter -ge $(( gsentafter * 7 / 10 )) ]"
check "each TCP flow was one connection (2 accepted in all)" [ "$(wc -l <"$RUN/tcp-seen.log")" -eq 2 ]
check "counted: a seeding, the new flow installed at once, a handover before arming fw0" \
	bash -c "[ ${seeds1:-0} -gt ${seeds0:-0} ] && [ ${acked1:-0} -gt ${acked0:-0} ] && [ ${parts1:-0} -gt ${parts0:-0} ]"
lab_finish
