#!/usr/bin/env bash
# systemd units: packaging/moat-controld.service and moat-dataplane.service.
#
# 1. `systemd-analyze verify` on the units (copies whose binaries point into the build, as
#    /usr/sbin has none here; man pages from packaging/man) and `systemd-analyze security`.
# 2. Always: controld and the helper run with exactly the units' CapabilityBoundingSet (read
#    from the unit files, applied with setpriv) and a notify socket of our own standing in for
#    systemd's (NOTIFY_SOCKET, WATCHDOG_USEC): READY=1, STATUS= lines, WATCHDOG=1 pings,
#    STOPPING=1, and forwarding works with those capabilities only.
# 3. Only when systemd is PID 1: the units themselves (copies under /run/systemd/system with
#    the lab's paths and NetworkNamespacePath=) are started, checked and removed. Otherwise
#    the test says it skipped that part.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
lab_init systemd
PKG=$LAB_TOP/packaging

# ---- 1. static checks ----
mkdir -p "$RUN/units" "$RUN/man/man8"
for u in moat-controld moat-dataplane; do
	sed "s#/usr/sbin/#$MOAT_BUILD/#g" "$PKG/$u.service" >"$RUN/units/$u.service"
done
man_opt=--man=no
if ls "$PKG"/man/*.8 >/dev/null 2>&1; then
	cp "$PKG"/man/*.8 "$RUN/man/man8/"
	man_opt=--man=yes
fi
MANPATH=$RUN/man systemd-analyze verify "$man_opt" "$RUN/units/moat-controld.service" \
	"$RUN/units/moat-dataplane.service" >"$RUN/verify.out" 2>&1
rc=$?
sed 's/^/    verify: /' "$RUN/verify.out"
check "systemd-analyze verify $man_opt accepts both units" [ "$rc" -eq 0 ]
check "no unknown or deprecated keys for this systemd" bash -c "! grep -Ei 'unknown|deprecated|ignoring' $RUN/verify.out"
for u in moat-controld moat-dataplane; do
	exp=$(systemd-analyze security --offline=yes "$RUN/units/$u.service" 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
	echo "    $u: systemd-analyze security exposure $exp"
	check "$u: exposure ${exp:-?} is at most 5.0 (OK or better)" awk -v e="${exp:-99}" 'BEGIN { exit !(e <= 5.0) }'
done
check "controld: Type=notify with a watchdog" bash -c "grep -qx 'Type=notify' $PKG/moat-controld.service && grep -q '^WatchdogSec=' $PKG/moat-controld.service"
check "dataplane: BindsTo= and After= controld, Restart=always" bash -c "grep -qx 'BindsTo=moat-controld.service' $PKG/moat-dataplane.service && grep -qx 'After=moat-controld.service' $PKG/moat-dataplane.service && grep -qx 'Restart=always' $PKG/moat-dataplane.service"

# ---- 2. the units' capabilities and the notify protocol, without systemd ----
caps_of() { # caps_of UNIT: the bounding set as setpriv wants it (-all,+bpf,...)
	local s=-all c
	for c in $(sed -n 's/^CapabilityBoundingSet=//p' "$PKG/$1.service"); do
		c=${c#CAP_}
		s="$s,+${c,,}"
	done
	echo "$s"
}
CCAPS=$(caps_of moat-controld)
DCAPS=$(caps_of moat-dataplane)
echo "    controld bounding set: $CCAPS; helper: $DCAPS"
lab_topology
mkdir -p "$RUN/bpf"
mount -t bpf bpf "$RUN/bpf"
$PY - "$RUN/notify.sock" "$RUN/notify.log" <<'PYEOF' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as log:
    while True:
        msg = s.recv(4096).decode(errors="replace")
        log.write("%.3f %s\n" % (time.monotonic(), msg.replace("\n", " | ")))
PYEOF
LAB_PIDS+=($!)
wait_for 5 "notify socket" test -S "$RUN/notify.sock"
NOTIFY_SOCKET=$RUN/notify.sock WATCHDOG_USEC=1000000 ip netns exec "$NS_FW" \
	setpriv --bounding-set "$CCAPS" "$MOAT_BUILD/moat-controld" \
	--config "$LAB_TOP/tests/lab/configs/foundation.conf" --run-dir "$RUN" \
	--bpffs-dir "$RUN/bpf/moat" --bpf-dir "$MOAT_BUILD/bpf" --state-dir "$RUN/state" \
	>>"$RUN/controld.log" 2>&1 &
CONTROLD_PID=$!
LAB_PIDS+=("$CONTROLD_PID")
check "controld with the unit's capabilities sends READY=1" wait_for 10 READY grep -q 'READY=1' "$RUN/notify.log"
check "READY=1 comes with a STATUS= line" bash -c "grep 'READY=1' $RUN/notify.log | grep -q 'STATUS=mode .*waiting-for-helper'"
check "control.sock is mode 0660" [ "$(stat -c %a "$RUN/control.sock")" = 660 ]
ip netns exec "$NS_FW" setpriv --bounding-set "$DCAPS" "$MOAT_BUILD/moat-dataplane" --run-dir "$RUN" \
	>>"$RUN/dataplane.log" 2>&1 &
HELPER_PID=$!
LAB_PIDS+=("$HELPER_PID")
check "the helper with the unit's capabilities gets armed" wait_for 15 armed is_armed
check "STATUS= follows: forwarding armed, helper pid" wait_for 5 STATUS grep -q "STATUS=mode .*running, forwarding armed, generation [0-9]*, helper pid $HELPER_PID" "$RUN/notify.log"
check "traffic crosses Moat (ip_forward=0) with these capabilities" ip netns exec "$NS_CLI" ping -c 3 -i 0.2 -W 2 10.77.2.2
n0=$(grep -c 'WATCHDOG=1' "$RUN/notify.log")
sleep 2
n1=$(grep -c 'WATCHDOG=1' "$RUN/notify.log")
check "WATCHDOG=1 every half WATCHDOG_USEC (2 s: $((n1 - n0)) pings, want 3..6)" bash -c "[ $((n1 - n0)) -ge 3 ] && [ $((n1 - n0)) -le 6 ]"
kill -TERM "$HELPER_PID"
check "helper stopped: STATUS says helper down" wait_for 5 "STATUS helper down" grep -q 'STATUS=.*disarmed, generation [1-9][0-9]*, helper down' "$RUN/notify.log"
kill -TERM "$CONTROLD_PID"
wait "$CONTROLD_PID" 2>/dev/null
check "SIGTERM sends STOPPING=1" grep -q 'STOPPING=1' "$RUN/notify.log"
sed 's/^/    notify: /' "$RUN/notify.log" | grep -v 'WATCHDOG=1$' | head -8

# ---- 3. the real units, only under systemd ----
U=moat-test-$$
make_test_units() { # make_test_units DIR: copies of the units with the lab's paths and namespace
	# The lab's paths live under /tmp and the build may be under /home: the copies turn
	# PrivateTmp off and ProtectHome to read-only to see them.
	cp "$LAB_TOP/tests/lab/configs/foundation.conf" "$RUN/moat.conf"
	sed -e "s#/usr/sbin/#$MOAT_BUILD/#g" -e "s#/etc/moat/moat.conf#$RUN/moat.conf#g" \
		-e "s#^ReadWritePaths=/sys/fs/bpf /etc/moat#ReadWritePaths=/sys/fs/bpf $RUN#" -e "s#^PrivateTmp=yes#PrivateTmp=no#" -e "s#^ProtectHome=yes#ProtectHome=read-only#" \
		-e "s#--run-dir /run/moat#--run-dir /run/$U#" -e "s#--bpffs-dir /sys/fs/bpf/moat#--bpffs-dir /sys/fs/bpf/$U --bpf-dir $MOAT_BUILD/bpf#" \
		-e "s#--state-dir /var/lib/moat#--state-dir $RUN/state#" -e "s#^RuntimeDirectory=moat#RuntimeDirectory=$U#" \
		-e "s#^StateDirectory=moat#StateDirectory=$U#" -e "s#moat-dataplane.service#$U-dataplane.service#g" \
		-e "s#^\[Service\]#[Service]\nNetworkNamespacePath=/run/netns/$NS_FW#" \
		"$PKG/moat-controld.service" >"$1/$U-controld.service"
	sed -e "s#/usr/sbin/#$MOAT_BUILD/#g" -e "s#/run/moat#/run/$U#g" -e "s#moat-controld.service#$U-controld.service#g" \
		-e "s#^PrivateTmp=yes#PrivateTmp=no#" -e "s#^ProtectHome=yes#ProtectHome=read-only#" -e "s#^\[Service\]#[Service]\nNetworkNamespacePath=/run/netns/$NS_FW#" \
		"$PKG/moat-dataplane.service" >"$1/$U-dataplane.service"
}
if [ "$(ps -p 1 -o comm=)" != systemd ]; then
	# The copies part 3 would boot, checked at least.
	mkdir -p "$RUN/testunits"
	make_test_units "$RUN/testunits"
	check "the lab copies of the units verify" systemd-analyze verify --man=no \
		"$RUN/testunits/$U-controld.service" "$RUN/testunits/$U-dataplane.service"
	echo "NOTE: PID 1 is $(ps -p 1 -o comm=), not systemd: the units were verified (1) and their" \
		"capabilities and notify protocol exercised (2), but not booted under systemd"
	lab_finish
	exit $?
fi
moat_stop_all
umount "$RUN/bpf"
UDIR=/run/systemd/system
units_cleanup() {
	systemctl stop "$U-dataplane.service" "$U-controld.service" 2>/dev/null
	rm -f "$UDIR/$U-controld.service" "$UDIR/$U-dataplane.service"
	systemctl daemon-reload
	systemctl reset-failed "$U-controld.service" "$U-dataplane.service" 2>/dev/null
	rm -rf "/var/lib/$U" "/run/$U" "/sys/fs/bpf/$U"
}
trap 'units_cleanup; RUN=$RUN_SAVED; lab_cleanup' EXIT
RUN_SAVED=$RUN
make_test_units "$UDIR"
systemctl daemon-reload
check "systemd starts the controld unit (Type=notify: returns after READY=1)" systemctl start "$U-controld.service"
systemctl start "$U-dataplane.service"
RUN=/run/$U
check "under systemd: armed" wait_for 15 armed is_armed
check "under systemd: StatusText follows the lifecycle" bash -c "systemctl show -p StatusText $U-controld.service | grep -q 'forwarding armed'"
check "under systemd: traffic crosses Moat" ip netns exec "$NS_CLI" ping -c 3 -i 0.2 -W 2 10.77.2.2
hp=$(systemctl show -p MainPID --value "$U-dataplane.service")
kill -KILL "$hp"
check "under systemd: a killed helper is restarted and re-armed" wait_for 20 "re-armed" bash -c "[ \"\$(systemctl show -p MainPID --value $U-dataplane.service)\" != $hp ] && $MOAT_BUILD/moatctl --run-dir $RUN show system status | grep -q '^forwarding: armed'"
systemctl stop "$U-controld.service"
check "stopping controld stops the helper (BindsTo=)" bash -c "! systemctl is-active -q $U-dataplane.service"
RUN=$RUN_SAVED
lab_finish
