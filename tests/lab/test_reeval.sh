#!/usr/bin/env bash
# A commit that no longer permits a live session closes it (policy re-evaluation: CLOSE_POLICY)
# while the other sessions keep flowing, and new flows follow the new policy at once.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
lab_init reeval
lab_topology
dpc() { counter worker "$1"; }
MCTL="$MOAT_BUILD/moatctl --run-dir $RUN"
CONF=$RUN/moat.conf
cp "$LAB_TOP/tests/lab/configs/firewall.conf" "$CONF"
moat_start_spawned "$CONF" || exit 1
wait_for 30 "forwarding armed" is_armed || exit 1

cat >"$RUN/cli.py" <<'PYEOF'
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("10.77.2.2", port), timeout=3)
s.settimeout(3)
ok = 0
try:
    for i in range(n):
        s.sendall(b"%04d" % i)
        got = b""
        while len(got) < 4:
            got += s.recv(4 - len(got))
        ok += 1
        time.sleep(0.1)
except Exception as e:
    print("error", type(e).__name__, flush=True)
print("exchanges", ok, flush=True)
PYEOF
ip netns exec "$NS_SRV" $PY "$LAB_TOP/tests/lab/tcp_echo.py" --bind 10.77.2.2 8001 8002 >/dev/null 2>&1 &
LAB_PIDS+=($!)
sleep 0.5
ip netns exec "$NS_CLI" timeout 60 $PY "$RUN/cli.py" 8001 60 >"$RUN/a.out" 2>&1 &
A=$!
ip netns exec "$NS_CLI" timeout 60 $PY "$RUN/cli.py" 8002 60 >"$RUN/b.out" 2>&1 &
B=$!
sleep 2
policy0=$(dpc sessions_closed_other)
# New policy: TCP 8001 denied from trust to untrust (before allow-out).
$PY - "$CONF" <<'PYEOF'
import sys
p = sys.argv[1]; s = open(p).read()
s = s.replace("applications {\n", "applications {\n    application tcp-8001 { protocol tcp; destination-port 8001; }\n", 1)
s = s.replace("        from-zone trust to-zone untrust {\n", "        from-zone trust to-zone untrust {\n            policy no-8001 {\n                match { source-address any; destination-address any; application tcp-8001; }\n                then { deny; }\n            }\n", 1)
open(p, "w").write(s)
PYEOF
out=$($MCTL commit 2>&1); echo "    $out" | head -2
check "commit with a policy denying TCP 8001 succeeds" bash -c "grep -q 'commit complete' <<<'$out'"
wait "$A"; wait "$B"
echo "    8001: $(cat $RUN/a.out | tr '\n' ' ')  8002: $(cat $RUN/b.out | tr '\n' ' ')"
check "the 8001 connection was cut after the commit" bash -c "! grep -q 'exchanges 60' $RUN/a.out && grep -q error $RUN/a.out"
check "the 8002 connection kept flowing (60 exchanges)" grep -q "exchanges 60" "$RUN/b.out"
check "the 8001 session was closed by re-evaluation" [ "$(dpc sessions_closed_other)" -gt "$policy0" ]
check "controld logged it closed with reason policy" grep -q "session closed .*/8001 .*reason policy" "$RUN/controld.log"
deny0=$(dpc policy_deny)
check "a new connection to 8001 is refused by the new policy" bash -c "! ip netns exec $NS_CLI $PY $RUN/cli.py 8001 1 | grep -q 'exchanges 1'"
check "... counted as policy_deny" [ "$(dpc policy_deny)" -gt "$deny0" ]
check "a new connection to 8002 still passes" bash -c "ip netns exec $NS_CLI $PY $RUN/cli.py 8002 1 | grep -q 'exchanges 1'"

# system dataplane worker-cpus: a commit pins the running worker (no rebind), another one
# unpins it. worker_cpus: the CPUs the kernel lets the helper's worker thread run on.
worker_cpus() {
	local hp t
	hp=$(pgrep -f "moat-dataplane --run-dir $RUN" | head -1)
	for t in /proc/$hp/task/*; do
		[ "$(cat "$t/comm")" = moat-dp-w0 ] && awk '/^Cpus_allowed_list/ {print $2}' "$t/status"
	done
}
cpus_are() { [ "$(worker_cpus)" = "$1" ]; }
last=$(($(nproc) - 1))
all=$(worker_cpus)
sed -i "s/workers 1; }/workers 1; worker-cpus $last; }/" "$CONF"
out=$($MCTL commit 2>&1)
check "commit with worker-cpus $last succeeds" bash -c "grep -q 'commit complete' <<<'$out'"
check "the worker runs on CPU $last only (was: $all)" wait_for 5 "worker pinned" cpus_are "$last"
check "... and still forwards" bash -c "ip netns exec $NS_CLI $PY $RUN/cli.py 8002 1 | grep -q 'exchanges 1'"
sed -i "s/ worker-cpus $last;//" "$CONF"
$MCTL commit >/dev/null 2>&1
check "without worker-cpus it may run anywhere again ($all)" wait_for 5 "worker unpinned" cpus_are "$all"
sed -i "s/workers 1; }/workers 1; worker-cpus [ 0 $((last + 64)) ]; }/" "$CONF"
out=$($MCTL commit 2>&1)
echo "    $out" | head -2
check "a CPU the machine lacks is refused at commit with its line and column" bash -c "grep -q 'CPU $((last + 64)) does not exist' <<<'$out'"
lab_finish
