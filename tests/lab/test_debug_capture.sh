#!/usr/bin/env bash
# moat-debug-capture (packaging/): on a clean iperf3 run it flags no collapse; when the test
# stops the helper mid-run (SIGSTOP: heartbeats stop, controld disarms) on a box whose legacy
# path is gone (the test empties moat_progs slot 0, so the shim passes transit to the kernel
# and ip_forward=0 drops it — the collapse a helper crash caused before the legacy path) and
# resumes it later, it flags the collapse. Each run leaves one folder with
# the status, iperf3 JSON, Moat's rate, captures on fw0/fw1 and on the server side (through
# "ip netns exec SRV", the operator's prefix), perf record of the helper, and a summary.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
lab_init debug_capture
lab_topology
CAP=$LAB_TOP/packaging/moat-debug-capture
moat_start_spawned "$LAB_TOP/tests/lab/configs/foundation.conf" || exit 1
check "armed" wait_for 15 armed is_armed
ip netns exec "$NS_CLI" ping -c 1 -W 2 10.77.2.2 >/dev/null 2>&1
ip netns exec "$NS_SRV" iperf3 -s -p 5201 >/dev/null 2>&1 &
LAB_PIDS+=($!)
sleep 0.5
capture() { # capture OUT: one run of the tool with an 8 s iperf3 load
	"$CAP" --run-dir "$RUN" --moatctl "$MOAT_BUILD/moatctl" --out "$1" \
		--fw-cmd "ip netns exec $NS_FW" --server-cmd "ip netns exec $NS_SRV" --server-iface s0 \
		--load "ip netns exec $NS_CLI iperf3 -c 10.77.2.2 -p 5201 -t 8"
}

# A clean run.
capture "$RUN/clean" >"$RUN/clean.out" 2>&1
rc=$?
sed -n '/^VERDICT/,/^$/p' "$RUN/clean.out" | sed 's/^/    clean: /'
D=$(ls -d "$RUN"/clean/moat-capture-* 2>/dev/null | head -1)
check "clean run: no collapse flagged (exit 0, got $rc)" [ "$rc" -eq 0 ]
check "clean run: summary says no collapse" grep -q '^VERDICT: no collapse' "$D/summary.txt"
check "clean run: runtime mode detected (userspace)" grep -q '^runtime mode: userspace, forwarding armed' "$D/summary.txt"
check "clean run: iperf3 JSON with 8 intervals" bash -c "$PY -c 'import json,sys; sys.exit(len(json.load(open(\"$D/iperf3.json\"))[\"intervals\"]) < 8)'"
# Armed, transit goes to AF_XDP before the kernel sees it: the firewall captures are valid but
# hold only host traffic; the server side sees the stream.
for f in fw-fw0 fw-fw1; do
	check "clean run: capture $f.pcap was taken" bash -c "grep -q 'listening on' $D/$f.tcpdump.log && tcpdump -r $D/$f.pcap >/dev/null 2>&1"
done
check "clean run: the summary explains what the firewall captures show" grep -q 'tcpdump on the firewall' "$D/summary.txt"
check "clean run: capture server-s0.pcap holds the stream" bash -c "[ \$(tcpdump -r $D/server-s0.pcap 2>/dev/null | wc -l) -gt 1000 ]"
check "clean run: the server capture saw the iperf3 traffic" bash -c "tcpdump -nr $D/server-s0.pcap 'tcp port 5201' 2>/dev/null | grep -q 10.77.1.2"
if command -v perf >/dev/null; then
	check "clean run: perf record of the helper" bash -c "[ -s $D/perf.data ] && grep -q moat-dp $D/perf-report.txt"
else
	check "clean run: perf missing is noted" grep -q 'perf not found' "$D/summary.txt"
fi

# Collapse: the helper stopped 3 s into the load, resumed 3 s later.
hp=$(moatctl --json show system status | $PY -c 'import json,sys; print(json.load(sys.stdin)["helper_pid"])')
capture "$RUN/collapse" >"$RUN/collapse.out" 2>&1 &
CAP_PID=$!
check "the load starts" wait_for 20 "window starts" bash -c "grep -qs 'window of' $RUN/collapse/moat-capture-*/progress.log"
sleep 3
fb0=$(counter shim fallback_pass fw0)
bpftool map delete pinned "$RUN/bpf/moat/moat_progs" key 0 0 0 0
kill -STOP "$hp"
check "helper stopped: controld disarms" wait_for 5 disarmed is_disarmed
sleep 2.5
kill -CONT "$hp"
wait "$CAP_PID"
rc=$?
sed -n '/^VERDICT/,/^$/p' "$RUN/collapse.out" | sed 's/^/    collapse: /'
D=$(ls -d "$RUN"/collapse/moat-capture-* 2>/dev/null | head -1)
check "stopped helper: collapse flagged (exit 1, got $rc)" [ "$rc" -eq 1 ]
check "stopped helper: summary says COLLAPSE with zero intervals" bash -c "grep -q '^VERDICT: COLLAPSE' $D/summary.txt && grep -q 'at zero' $D/summary.txt"
check "stopped helper: Moat's rate shows the disarmed seconds" grep -q DISARMED "$D/summary.txt"
check "stopped helper: the collapse window is named" grep -q 'collapse window: from' "$D/summary.txt"
# Disarmed without a legacy path, fw0's transit went to the kernel (counted fallback_pass),
# whose tcpdump on fw0 sees the retransmissions it then dropped (ip_forward=0).
fb1=$(counter shim fallback_pass fw0)
check "stopped helper: fw0's transit fell back to the kernel ($fb0 -> $fb1)" [ "$fb1" -gt "$fb0" ]
check "stopped helper: fw0's capture holds the retransmissions the kernel got" bash -c "[ \$(tcpdump -nr $D/fw-fw0.pcap 'tcp port 5201' 2>/dev/null | wc -l) -ge 2 ]"
check "forwarding comes back after SIGCONT" wait_for 20 armed is_armed
lab_finish
