#!/usr/bin/env bash
# A TCP connection through a session survives the helper being killed: controld re-seeds
# the restarted helper from its mirror (Snapshot.sessions), the session keeps its id, and the
# connection's next segments ride on it (no non-SYN drops).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
lab_init reseed
lab_topology
dpc() { counter worker "$1"; }
MCTL="$MOAT_BUILD/moatctl --run-dir $RUN"
moat_start_spawned "$LAB_TOP/tests/lab/configs/firewall.conf" || exit 1
wait_for 30 "forwarding armed" is_armed || exit 1

cat >"$RUN/cli.py" <<'PYEOF'
import socket, sys, time
s = socket.create_connection(("10.77.2.2", 8001), timeout=3)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, b"\x14\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0")
print("port", s.getsockname()[1], flush=True)
ok = 0
for i in range(80):
    msg = b"%04d" % i
    s.sendall(msg)
    got = b""
    while len(got) < 4:
        got += s.recv(4 - len(got))
    assert got == msg, (got, msg)
    ok += 1
    time.sleep(0.1)
print("exchanges", ok, flush=True)
PYEOF
ip netns exec "$NS_SRV" $PY "$LAB_TOP/tests/lab/tcp_echo.py" --bind 10.77.2.2 8001 >/dev/null 2>&1 &
LAB_PIDS+=($!)
sleep 0.5
ip netns exec "$NS_CLI" timeout 60 $PY "$RUN/cli.py" >"$RUN/cli.out" 2>&1 &
CLI=$!
sleep 2
port=$(sed -n 's/^port //p' "$RUN/cli.out")
id_before=$($MCTL show security flow session | grep -B1 "/$port --> 10.77.2.2/8001" | sed -n 's/^Session ID: \([0-9]*\),.*/\1/p')
echo "    connection from port $port, session id $id_before"
check "the connection has a session" [ -n "$id_before" ]
hpid=$(pgrep -f "moat-dataplane --run-dir $RUN( |$)" | head -1)
echo "    killing helper $hpid"
kill -9 "$hpid"
wait_for 10 "disarmed" is_disarmed
wait_for 30 "re-armed" is_armed
check "forwarding re-armed with a new helper" is_armed
grep -E "re-seeded|sessions:" "$RUN"/*.log | tail -3 | sed 's/^/    | /'
check "the new helper re-seeded the mirrored sessions" grep -q "re-seeded [1-9]" "$RUN/controld.log"
wait "$CLI"; rc=$?
cat "$RUN/cli.out" | sed 's/^/    | /'
check "the TCP connection survived (80 echo exchanges)" bash -c "[ $rc -eq 0 ] && grep -q 'exchanges 80' $RUN/cli.out"
id_after=$($MCTL show security flow session | grep -B1 "/$port --> 10.77.2.2/8001" | sed -n 's/^Session ID: \([0-9]*\),.*/\1/p')
echo "    session id after: $id_after"
check "the session kept its id" [ "$id_before" = "$id_after" ]
check "no non-SYN drops in the new helper" [ "$(dpc non_syn_drops)" = 0 ]
check "its packets were session hits in the new helper" [ "$(dpc session_hit)" -ge 10 ]
lab_finish
