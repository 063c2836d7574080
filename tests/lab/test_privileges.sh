#!/usr/bin/env bash
# Least privilege without systemd (issue 9): controld started as root keeps, after start-up,
# only CAP_BPF CAP_PERFMON CAP_NET_ADMIN CAP_NET_RAW CAP_CHOWN (effective = permitted), with a
# bounding set of those plus the spawned helper's CAP_IPC_LOCK and CAP_SETPCAP (so that a
# respawned helper can narrow its own bounding set); the helper keeps only
# CAP_NET_RAW CAP_IPC_LOCK (effective = permitted = bounding). Both log what they kept.
# Read from /proc/PID/status. Afterwards controld still does what it does after start-up:
# forwarding (TCP and ping), a commit that attaches the shim to a new interface and adds its
# address over netlink, a rollback that detaches it (and rewrites moat.conf), disarm/arm
# (map updates), and a killed helper respawned with the same narrow set, re-armed, forwarding.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
lab_init privileges
lab_topology
CONF=$RUN/moat.conf
cp "$LAB_TOP/tests/lab/configs/firewall.conf" "$CONF"
moat_start_spawned "$CONF" || exit 1
check "armed" wait_for 15 armed is_armed

hex() { printf '%016x' "$1"; }
CAP_CHOWN=0 CAP_SETPCAP=8 CAP_NET_ADMIN=12 CAP_NET_RAW=13 CAP_IPC_LOCK=14 CAP_PERFMON=38 CAP_BPF=39
CTL_KEEP=$(hex $(((1 << CAP_BPF) | (1 << CAP_PERFMON) | (1 << CAP_NET_ADMIN) | (1 << CAP_NET_RAW) | (1 << CAP_CHOWN))))
CTL_BND=$(hex $((0x$CTL_KEEP | (1 << CAP_IPC_LOCK) | (1 << CAP_SETPCAP))))
HLP_KEEP=$(hex $(((1 << CAP_NET_RAW) | (1 << CAP_IPC_LOCK))))
ZERO=0000000000000000
capf() { sed -n "s/^$2:\t*//p" "/proc/$1/status"; } # capf PID CapEff
helper_pid() { pgrep -f "moat-dataplane --run-dir $RUN( |$)" | head -1; }
caps_are() { # caps_are PID EFF/PRM BND
	local pid=$1
	[ "$(capf "$pid" CapEff)" = "$2" ] && [ "$(capf "$pid" CapPrm)" = "$2" ] &&
		[ "$(capf "$pid" CapBnd)" = "$3" ] && [ "$(capf "$pid" CapInh)" = "$ZERO" ] &&
		[ "$(capf "$pid" CapAmb)" = "$ZERO" ]
}
show_caps() {
	echo "    $1 (pid $2): $(grep -E '^Cap' "/proc/$2/status" | tr -s '\t\n' ' ')"
}

HPID=$(helper_pid)
show_caps controld "$CONTROLD_PID"
show_caps helper "$HPID"
check "controld: CapEff = CapPrm = $CTL_KEEP, CapBnd = $CTL_BND, no inheritable/ambient" caps_are "$CONTROLD_PID" "$CTL_KEEP" "$CTL_BND"
check "helper: CapEff = CapPrm = CapBnd = $HLP_KEEP" caps_are "$HPID" "$HLP_KEEP" "$HLP_KEEP"
check "controld logs what it kept" grep -q "capabilities: kept CAP_CHOWN CAP_NET_ADMIN CAP_NET_RAW CAP_PERFMON CAP_BPF; bounding set CAP_CHOWN CAP_SETPCAP CAP_NET_ADMIN CAP_NET_RAW CAP_IPC_LOCK CAP_PERFMON CAP_BPF$" "$RUN/controld.log"
check "the helper logs what it kept" grep -q "capabilities: kept CAP_NET_RAW CAP_IPC_LOCK; bounding set CAP_NET_RAW CAP_IPC_LOCK$" "$RUN/controld.log" "$RUN"/*.log

# ---- everything after start-up still works ----
# The attached program's name without CAP_SYS_ADMIN (bpf_prog_get_fd_by_id needs it): known
# because controld loaded it.
check "show interfaces still names the shim" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show interfaces | grep -q 'xdp_userspace_p (id [0-9]*)'"
check "ping forwards" ip netns exec "$NS_CLI" ping -c 2 -i 0.2 -W 1 10.77.2.2
ip netns exec "$NS_CLI" bash -c 'echo hi | nc -l -p 8080 -q 1' >/dev/null 2>&1 &
LAB_PIDS+=($!)
sleep 0.3
tcp_in() { [ "$(ip netns exec "$NS_SRV" nc -w 3 10.77.1.2 8080 </dev/null)" = hi ]; }
check "TCP forwards (untrust -> trust 8080)" tcp_in

ip -n "$NS_FW" link add fw2 type veth peer name fw2p
ip -n "$NS_FW" link set fw2p up
sed -e 's/^interfaces {$/interfaces {\n    fw2 { unit 0 { family inet { address 10.77.3.1\/24; } } }/' \
	-e 's/^    zones {$/    zones {\n        security-zone dmz { interfaces { fw2; } }/' \
	-e 's/host-name moat-fw-lab;/host-name moat-priv-b;/' "$CONF" >"$RUN/change.conf"
cp "$RUN/change.conf" "$CONF"
check "commit adding interface fw2 succeeds" moatctl commit
check "  ... shim attached to fw2 (CAP_BPF, CAP_NET_ADMIN)" bash -c "ip -n $NS_FW link show fw2 | grep -q xdp"
check "  ... its address added over netlink" bash -c "ip -n $NS_FW addr show fw2 | grep -q 10.77.3.1/24"
check "  ... the helper applied the new generation" wait_for 10 "armed again" is_armed
check "rollback 1 succeeds" moatctl rollback 1
check "  ... shim detached from fw2" bash -c "! ip -n $NS_FW link show fw2 | grep -q xdp"
check "  ... moat.conf rewritten (CAP_CHOWN keeps its owner)" grep -q "host-name moat-fw-lab;" "$CONF"
check "disarm (map update)" moatctl request dataplane disarm
check "  ... disarmed" wait_for 5 disarmed is_disarmed
check "arm again" moatctl request dataplane arm
check "  ... armed" wait_for 10 armed is_armed

kill -KILL "$HPID"
new_helper() { local p; p=$(helper_pid); [ -n "$p" ] && [ "$p" != "$HPID" ]; }
check "a killed helper is respawned" wait_for 20 "a new helper" new_helper
check "  ... and armed again" wait_for 20 armed is_armed
HPID2=$(helper_pid)
show_caps "respawned helper" "$HPID2"
check "  ... with CapEff = CapPrm = CapBnd = $HLP_KEEP" caps_are "$HPID2" "$HLP_KEEP" "$HLP_KEEP"
check "  ... ping forwards" ip netns exec "$NS_CLI" ping -c 2 -i 0.2 -W 1 10.77.2.2
check "controld kept its set throughout" caps_are "$CONTROLD_PID" "$CTL_KEEP" "$CTL_BND"
check "controld still running" kill -0 "$CONTROLD_PID"
lab_finish
