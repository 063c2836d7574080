#!/usr/bin/env bash
# Lifecycle: a bad config is refused with line and column; a killed helper leaves controld
# running and disarmed; a restarted helper is re-armed and traffic flows again; SIGTERM
# detaches the shim.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
lab_init lifecycle
lab_topology

# Bad configs: refused at start with FILE:LINE:COL, non-zero exit, nothing attached.
out=$(ip netns exec "$NS_FW" "$MOAT_BUILD/moat-controld" --config "$LAB_TOP/tests/lab/configs/bad-syntax.conf" \
	--run-dir "$RUN/bad" --bpffs-dir "$RUN/bpf-bad" 2>&1)
rc=$?
echo "    $out" | head -3
check "invalid address refused with a non-zero exit" [ "$rc" -ne 0 ]
check "error names file, line 3 and column 40" grep -q "bad-syntax.conf:3:40: " <<<"$out"
check "error names the bad address" grep -q "10.77.1.300/24" <<<"$out"
out=$(ip netns exec "$NS_FW" "$MOAT_BUILD/moat-controld" --check --config "$LAB_TOP/tests/lab/configs/bad-undefined-zone.conf" 2>&1)
rc=$?
echo "    $out" | head -3
check "undefined interface in a zone refused" [ "$rc" -ne 0 ]
check "error points at line 7" grep -q "bad-undefined-zone.conf:7:" <<<"$out"
check "a refused config attached nothing" bash -c "! ip -n $NS_FW link show fw0 | grep -q xdp"
check "--check accepts the lab config" ip netns exec "$NS_FW" "$MOAT_BUILD/moat-controld" --check --config "$LAB_TOP/tests/lab/configs/foundation.conf"

# controld with a helper we start and kill ourselves.
moat_start "$LAB_TOP/tests/lab/configs/foundation.conf" || exit 1
check "without a helper: helper down" bash -c "[ \"\$($MOAT_BUILD/moatctl --run-dir $RUN show system status | sed -n 's/^helper: //p')\" = down ]"
check "without a helper: forwarding disarmed" is_disarmed
check "the shim is attached to fw0" bash -c "ip -n $NS_FW link show fw0 | grep -q xdp"
ip netns exec "$NS_CLI" ping -c 2 -i 0.2 -W 1 10.77.2.2 >/dev/null 2>&1
# The fallback is the legacy path (tail_call) since it exists; fallback_pass without it.
fb=$(($(counter shim tail_call fw0) + $(counter shim fallback_pass fw0)))
check "disarmed: transit traffic goes to the fallback" [ "$fb" -gt 0 ]
check "disarmed: not to an XSK" [ "$(counter shim redirect fw0)" -eq 0 ]

helper_start
check "helper connects and controld arms" wait_for 15 armed is_armed
gen1=$(status_field generation)
ip netns exec "$NS_CLI" ping -c 1 -W 1 10.77.2.2 >/dev/null 2>&1
check "traffic flows with the first helper" ip netns exec "$NS_CLI" ping -c 3 -i 0.2 -W 2 10.77.2.2

kill -KILL "$HELPER_PID"
check "helper killed: controld disarms" wait_for 5 disarmed is_disarmed
check "helper killed: status says helper down" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show system status | grep -q '^helper: down'"
check "controld is still running" kill -0 "$CONTROLD_PID"
check "disarm counted" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show system status | grep -q 'disarms: [1-9]'"
# Disarmed, transit traffic goes through the legacy in-kernel path (xdp_main_prog), never the
# kernel's forwarding (ip_forward=0).
lgtx() { moatctl --json show dataplane statistics | $PY -c 'import json,sys; print(json.load(sys.stdin)["legacy"]["tx"])'; }
tx0=$(lgtx)
check "while disarmed, transit traffic flows through the legacy path" ip netns exec "$NS_CLI" ping -c 2 -i 0.2 -W 1 10.77.2.2
check "counted by the legacy path (ip_forward=0: not the kernel)" [ "$(lgtx)" -gt "$tx0" ]

helper_start
check "restarted helper: controld re-arms" wait_for 15 armed is_armed
gen2=$(status_field generation)
check "restarted helper got a new snapshot generation ($gen1 -> $gen2)" [ "$gen2" -gt "$gen1" ]
check "traffic flows again after the restart" ip netns exec "$NS_CLI" ping -c 3 -i 0.2 -W 2 10.77.2.2

# Spawned mode: controld restarts a killed helper by itself.
kill -TERM "$HELPER_PID"; wait "$HELPER_PID" 2>/dev/null
kill -TERM "$CONTROLD_PID"; wait "$CONTROLD_PID" 2>/dev/null
check "SIGTERM detaches the shim" bash -c "! ip -n $NS_FW link show fw0 | grep -q xdp"
LAB_PIDS=()
moat_start_spawned "$LAB_TOP/tests/lab/configs/foundation.conf" || exit 1
check "spawned helper: armed" wait_for 15 armed is_armed
hp=$(moatctl show system status | sed -n 's/^helper: running (pid \([0-9]*\).*/\1/p')
check "spawned helper has a pid ($hp)" [ -n "$hp" ]
kill -KILL "$hp"
check "spawned helper killed: re-armed by a new helper" wait_for 15 "new helper armed" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show system status | grep -q '^forwarding: armed' && ! $MOAT_BUILD/moatctl --run-dir $RUN show system status | grep -q 'pid $hp,'"
check "spawns counted" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show system status | grep -q 'spawns: 2'"
ip netns exec "$NS_CLI" ping -c 1 -W 1 10.77.2.2 >/dev/null 2>&1
check "traffic flows through the respawned helper" ip netns exec "$NS_CLI" ping -c 3 -i 0.2 -W 2 10.77.2.2
lab_finish
