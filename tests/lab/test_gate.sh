#!/usr/bin/env bash
# Capability gate and the operator's arm/disarm (issue 6 items 1 and 6).
#
# 1. auto on veth: mode userspace, one reason line per interface naming what the kernel gave
#    (native XDP, AF_XDP copy mode, zero-copy refused with EOPNOTSUPP); the kernel probes.
# 2. show interfaces: kernel XDP mode, attached program, path, XSK bind mode per queue, armed.
# 3. request dataplane disarm fw1: only fw1 stops redirecting to its XSK (shim counters);
#    arm fw1: back. An arm is refused when moat_xsks has no socket for the interface
#    (entry deleted behind the helper's back) and when the interface is not managed.
# 4. commit mode legacy / auto: every interface switches, each switch logged and counted.
# 5. MOAT_TEST_PROBE_FAIL=xdp_meta (test-only probe override): auto falls back to legacy
#    with the reason, forwarding stays disarmed with a helper; a commit forcing userspace is
#    refused with the reason; a start with a forced userspace config is refused.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
lab_init gate
lab_topology

CONF=$RUN/moat.conf
cp "$LAB_TOP/tests/lab/configs/foundation.conf" "$CONF"
has() { grep -qE -- "$2" <<<"$1"; }
status() { moatctl show system status; }
ifline() { moatctl show interfaces | grep "^$1 "; }
shim() { counter shim "$1" "$2"; }
# Traffic entering fw1 (server -> client); the result does not matter, the counters do.
from_srv() { ip netns exec "$NS_SRV" ping -c "${1:-3}" -i 0.2 -W 1 10.77.1.2 >/dev/null 2>&1; }

# ---------------------------------------------------------------- 1. auto on veth
moat_start_spawned "$CONF" || exit 1
check "helper applied, forwarding armed" wait_for 15 armed is_armed
st=$(status)
echo "$st" | sed -n '1,4p;/^kernel:/p;/^mode switches/p' | sed 's/^/    /'
check "status: mode userspace" has "$st" '^mode: userspace$'
check "status: the lines DESIGN.md requires" bash -c "grep -q '^reason: ' <<<'$st' && grep -q '^forwarding: armed' <<<'$st' && grep -q '^generation: [0-9]' <<<'$st' && grep -q '^helper: running' <<<'$st'"
check "status: fw1's reason names native XDP, copy mode and the zero-copy errno" \
	has "$st" '^fw1: userspace — native XDP, AF_XDP copy mode \(zero-copy: EOPNOTSUPP\)$'
check "status: fw0 has its own line" has "$st" '^fw0: userspace — native XDP'
check "status: kernel probes listed (XDP metadata, tail calls, cpumap, XSK map)" \
	has "$st" '^kernel: .*tail calls yes.*cpumap yes.*XSK map yes.*XDP metadata \(bpf_xdp_adjust_meta\) yes'
check "status: no mode switch yet" has "$st" '^mode switches: 0$'
ip netns exec "$NS_CLI" ping -c 1 -W 1 10.77.2.2 >/dev/null 2>&1
check "traffic flows" ip netns exec "$NS_CLI" ping -c 3 -i 0.2 -W 2 10.77.2.2

# ---------------------------------------------------------------- 2. show interfaces
l=$(ifline fw1)
echo "    $l"
check "show interfaces: fw1 native, program xdp_userspace_p, path userspace, armed, q0 copy" \
	has "$l" '^fw1 +[0-9]+ +up +[0-9]+ +[0-9a-f:]{17} +native +xdp_userspace_p \(id [0-9]+\) +userspace +yes +q0:copy +-$'
j=$(moatctl --json show interfaces)
check "show interfaces --json: per-queue bind mode, zero-copy errno, program, armed" \
	$PY -c '
import json, sys
d = {i["name"]: i for i in json.loads(sys.argv[1])["interfaces"]}
f = d["fw1"]
assert f["xsk_queues"] == ["copy"], f
assert f["zerocopy_error"] == "EOPNOTSUPP", f
assert f["program"].startswith("xdp_userspace"), f
assert f["kernel_xdp_mode"] == "native" and f["armed"] is True and f["path"] == "userspace", f
' "$j"

# ---------------------------------------------------------------- 3. arm / disarm
r0=$(shim redirect fw0); r1=$(shim redirect fw1); f1=$(($(shim tail_call fw1) + $(shim fallback_pass fw1)))
out=$(moatctl request dataplane disarm fw1 2>&1)
check "request dataplane disarm fw1 succeeds" has "$out" 'fw1 disarmed'
check "fw1 shows armed 'no (operator)', fw0 stays armed" bash -c "moatctl() { $MOAT_BUILD/moatctl --run-dir $RUN \"\$@\"; }; moatctl show interfaces | grep -qE '^fw1 .* no \(operator\) ' && moatctl show interfaces | grep -qE '^fw0 .* userspace +yes '"
from_srv 3
ip netns exec "$NS_CLI" ping -c 3 -i 0.2 -W 1 10.77.2.2 >/dev/null 2>&1
r1b=$(shim redirect fw1); f1b=$(($(shim tail_call fw1) + $(shim fallback_pass fw1))); r0b=$(shim redirect fw0)
check "disarmed fw1: no redirect to its XSK ($r1 -> $r1b)" [ "$r1b" -eq "$r1" ]
check "disarmed fw1: its traffic took the fallback ($f1 -> $f1b)" [ "$f1b" -ge $((f1 + 3)) ]
check "fw0 still redirects to its XSK ($r0 -> $r0b)" [ "$r0b" -ge $((r0 + 3)) ]
check "status marks fw1 disarmed by the operator" has "$(status)" '^fw1: userspace .*\[disarmed by the operator\]$'

out=$(moatctl request dataplane arm fw1 2>&1)
check "request dataplane arm fw1 succeeds" has "$out" 'fw1 armed'
ip netns exec "$NS_CLI" ping -c 1 -W 1 10.77.2.2 >/dev/null 2>&1
check "armed again: traffic flows" ip netns exec "$NS_CLI" ping -c 3 -i 0.2 -W 2 10.77.2.2
check "armed again: fw1 redirects to its XSK" [ "$(shim redirect fw1)" -ge $((r1b + 3)) ]

out=$(moatctl request dataplane arm nosuch 2>&1); rc=$?
check "arm of an unmanaged interface refused ($rc): $out" bash -c "[ $rc -ne 0 ] && grep -q 'nosuch is not managed' <<<'$out'"

# The arm checks moat_xsks: delete fw1's entry behind the helper's back.
fw1slot=$(moatctl --json show interfaces | $PY -c 'import json,sys; print([i for i in json.load(sys.stdin)["interfaces"] if i["name"]=="fw1"][0]["slot"])')
k=$((fw1slot * 16))
moatctl request dataplane disarm fw1 >/dev/null 2>&1
bpftool map delete pinned "$RUN/bpf/moat/moat_xsks" key $((k & 255)) $(((k >> 8) & 255)) 0 0
out=$(moatctl request dataplane arm fw1 2>&1); rc=$?
echo "    $out"
check "arm refused while moat_xsks has no socket for fw1 queue 0" bash -c "[ $rc -ne 0 ] && grep -q 'moat_xsks has no socket for queue 0' <<<'$out'"
check "fw1 stays disarmed" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show interfaces | grep -qE '^fw1 .* no \(operator\) '"
# A new helper binds and registers again; fw1 stays disarmed until the operator arms it.
hp=$(status | sed -n 's/^helper: running (pid \([0-9]*\).*/\1/p')
kill -KILL "$hp"
check "respawned helper re-armed fw0" wait_for 20 "fw0 armed by a new helper" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show interfaces | grep -qE '^fw0 .* userspace +yes ' && ! $MOAT_BUILD/moatctl --run-dir $RUN show system status | grep -q 'pid $hp,'"
check "operator-disarmed fw1 not re-armed by the new helper" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show interfaces | grep -qE '^fw1 .* no \(operator\) '"
out=$(moatctl request dataplane arm fw1 2>&1)
check "arm fw1 accepted once its socket is back in moat_xsks" has "$out" 'fw1 armed'
ip netns exec "$NS_CLI" ping -c 1 -W 1 10.77.2.2 >/dev/null 2>&1
check "traffic flows after the re-arm" ip netns exec "$NS_CLI" ping -c 3 -i 0.2 -W 2 10.77.2.2

# ---------------------------------------------------------------- 4. mode switches by commit
sed -i 's/mode auto;/mode legacy;/' "$CONF"
out=$(moatctl commit 2>&1)
check "commit mode legacy accepted" bash -c "exit $?"
st=$(status)
check "mode legacy, forwarding disarmed" bash -c "grep -q '^mode: legacy' <<<'$st' && grep -q '^forwarding: disarmed' <<<'$st'"
check "fw1's reason: forced by config" has "$st" '^fw1: legacy — forced by config \(system dataplane mode legacy\); native XDP$'
check "both switches counted" has "$st" '^mode switches: 2$'
check "each switch logged" bash -c "[ \$(grep -c 'dataplane mode switch userspace -> legacy' $RUN/controld.log) -eq 2 ]"
sed -i 's/mode legacy;/mode auto;/' "$CONF"
moatctl commit >/dev/null 2>&1
check "commit mode auto: armed again" wait_for 15 armed is_armed
st=$(status)
check "back to userspace; 4 switches counted" bash -c "grep -q '^mode: userspace' <<<'$st' && grep -q '^mode switches: 4$' <<<'$st'"
check "the moatctl JSON has the counter and the per-interface reasons" \
	$PY -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["mode_switches"] == 4, d["mode_switches"]
assert {i["name"]: i["mode"] for i in d["interfaces"]} == {"fw0": "userspace", "fw1": "userspace"}, d
assert "AF_XDP copy mode" in d["interfaces"][1]["reason"], d
' "$(moatctl --json show system status)"

kill -TERM "$CONTROLD_PID"; wait "$CONTROLD_PID" 2>/dev/null
LAB_PIDS=()

# ---------------------------------------------------------------- 5. a probe that fails
export MOAT_TEST_PROBE_FAIL=xdp_meta
moat_start_spawned "$CONF" || exit 1
check "override: the helper applies its snapshot" wait_for 15 "generation applied" bash -c "[ \"\$($MOAT_BUILD/moatctl --run-dir $RUN show system status | sed -n 's/^generation: //p')\" -ge 1 ]"
sleep 0.5
st=$(status)
echo "$st" | sed -n '1,5p' | sed 's/^/    /'
check "override: auto falls back to legacy" has "$st" '^mode: legacy$'
check "override: fw1's reason names the failed probe" \
	has "$st" '^fw1: legacy — XDP metadata \(bpf_xdp_adjust_meta\): not supported \(test override MOAT_TEST_PROBE_FAIL\)$'
check "override: forwarding stays disarmed with a helper running" bash -c "grep -q '^forwarding: disarmed' <<<'$st' && grep -q '^helper: running' <<<'$st'"
check "override: the kernel line says no" has "$st" 'XDP metadata \(bpf_xdp_adjust_meta\) no \(EOPNOTSUPP\)'
g=$(status_field generation)
sed -i 's/mode auto;/mode userspace;/' "$CONF"
out=$(moatctl commit 2>&1); rc=$?
echo "    $out"
check "override: commit forcing userspace refused" [ "$rc" -ne 0 ]
check "override: the refusal gives the reason" has "$out" 'system dataplane mode userspace cannot run on this machine: XDP metadata \(bpf_xdp_adjust_meta\): not supported'
check "override: the running config is unchanged (generation $g)" bash -c "[ \"\$($MOAT_BUILD/moatctl --run-dir $RUN show system status | sed -n 's/^generation: //p')\" = $g ] && $MOAT_BUILD/moatctl --run-dir $RUN show configuration | grep -q 'mode auto'"
kill -TERM "$CONTROLD_PID"; wait "$CONTROLD_PID" 2>/dev/null
LAB_PIDS=()
out=$(ip netns exec "$NS_FW" "$MOAT_BUILD/moat-controld" --config "$CONF" --run-dir "$RUN/forced" \
	--bpffs-dir "$RUN/bpf/forced" --bpf-dir "$MOAT_BUILD/bpf" --state-dir "$RUN/forced-state" 2>&1); rc=$?
echo "$out" | tail -1 | sed 's/^/    /'
check "override: a start with forced userspace is refused with the reason" bash -c "[ $rc -ne 0 ] && grep -q 'cannot run on this machine: XDP metadata' <<<'$out'"
unset MOAT_TEST_PROBE_FAIL
lab_finish
