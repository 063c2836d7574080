#!/usr/bin/env bash
# The README's first command ends with `bash tests/lab/demo.sh`: this runs the demo as an
# operator would and checks that it shows what the README promises — forwarding armed, pings
# through (IPv4 and IPv6), the live sessions while iperf3 TCP runs, unsolicited traffic
# dropped, the UDP stream, the session summary, hit counts, interfaces, routes and counters —
# and that it leaves no namespace behind.
# lab: release alone (the README's demo runs the release build)
set -uo pipefail
. "$(dirname "$0")/lib.sh"
lab_init demo-check

MOAT_BUILD="$MOAT_BUILD" timeout 180 bash "$LAB_TOP/tests/lab/demo.sh" >"$RUN/demo.out" 2>&1 &
demo=$!
wait "$demo"
rc=$?
out="$RUN/demo.out"
has() { grep -Eq -- "$1" "$out"; }
check "the demo exits 0 (rc=$rc)" [ "$rc" -eq 0 ]
check "forwarding armed (system status)" has '^forwarding: armed'
check "IPv4 and IPv6 pings through Moat lose nothing" bash -c "[ \$(grep -c ' 0% packet loss' '$out') -ge 2 ]"
check "live sessions shown while iperf3 runs" has '^Session ID: [0-9]+, Policy name: allow-out/.*State: established'
check "session total shown" has '^Total sessions: [1-9]'
check "the TCP stream arrived (iperf3 receiver line)" has 'sec .*bits/sec +receiver$'
check "unsolicited traffic from the server dropped" has '100% packet loss'
udp_loss=$(sed -nE 's/.* [0-9]+\/[0-9]+ \(([0-9.]+)%\) +receiver$/\1/p' "$out" | head -1)
check "the UDP stream arrived (receiver loss ${udp_loss:-?}% < 1%)" bash -c "[ -n '$udp_loss' ] && awk 'BEGIN { exit !($udp_loss < 1) }'"
check "policy hit counts shown" has 'allow-out'
check "dataplane counters shown (forwarded > 0)" bash -c "grep -Eo 'forwarded +[0-9]+' '$out' | awk '{ exit !(\$2 > 0) }'"
check "the demo tore its namespaces down" bash -c "! ip netns list | grep -q \"^m$demo\""
[ "$LAB_FAIL" -eq 0 ] || tail -40 "$out"
lab_finish
