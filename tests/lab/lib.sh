# shellcheck shell=bash
# tests/lab/lib.sh — namespaces, Moat start/stop and assertions for the lab tests.
#
# Source it, then call lab_init. Everything a test creates is named with a per-run prefix
# and removed by the EXIT trap, even when the test fails or is interrupted.
#
# Environment:
#   MOAT_BUILD   build directory with moat-controld, moat-dataplane, moatctl (default: build)
#   MOAT_KEEP=1  keep the run directory (logs) after the test
#   MOAT_FORCE_MODE=legacy|userspace  every config controld starts with or commits says
#                `system { dataplane { mode X; } }` (tests/lab/test_legacy_suite.sh runs the
#                firewall/NAT suites with the legacy in-kernel path forced this way)

LAB_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MOAT_BUILD=${MOAT_BUILD:-$LAB_TOP/build}
case "$MOAT_BUILD" in /*) ;; *) MOAT_BUILD=$LAB_TOP/$MOAT_BUILD ;; esac
PY=/usr/bin/python3 # Debian's python, which has scapy (python3 on PATH may not)

LAB_PASS=0
LAB_FAIL=0
LAB_PIDS=()

lab_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }

pass() { LAB_PASS=$((LAB_PASS + 1)); printf 'PASS: %s\n' "$*"; }
fail() { LAB_FAIL=$((LAB_FAIL + 1)); printf 'FAIL: %s\n' "$*"; }

# check "what" command...: PASS if the command succeeds.
check() {
	local what=$1
	shift
	if "$@" >"$RUN/check.out" 2>&1; then
		pass "$what"
	else
		fail "$what"
		sed 's/^/    | /' "$RUN/check.out" | tail -20
	fi
}

# lab_init NAME: per-run names, run directory, cleanup trap.
lab_init() {
	[ "$(id -u)" = 0 ] || { echo "lab tests need root"; exit 2; }
	LAB_NAME=$1
	LAB_ID="m$$"
	NS_CLI="${LAB_ID}cli"
	NS_FW="${LAB_ID}fw"
	NS_SRV="${LAB_ID}srv"
	RUN=$(mktemp -d "/tmp/moat-${LAB_NAME}.XXXXXX")
	chmod 755 "$RUN"
	trap lab_cleanup EXIT
	trap 'exit 130' INT TERM
	for b in moat-controld moat-dataplane moatctl; do
		[ -x "$MOAT_BUILD/$b" ] || { echo "missing $MOAT_BUILD/$b: build first"; exit 2; }
	done
}

lab_cleanup() {
	local rc=$?
	set +e
	moat_stop_all
	for ns in "$NS_CLI" "$NS_FW" "$NS_SRV" ${LAB_EXTRA_NS:-}; do
		if ip netns list | grep -qw "$ns"; then
			ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
			ip netns del "$ns" 2>/dev/null
		fi
	done
	if mountpoint -q "$RUN/bpf" 2>/dev/null; then
		umount "$RUN/bpf"
	fi
	if [ "${LAB_FAIL:-0}" -gt 0 ] || [ "$rc" -ne 0 ]; then
		for f in "$RUN"/*.log; do
			[ -f "$f" ] || continue
			echo "---- $(basename "$f") (last 40 lines) ----"
			tail -40 "$f"
		done
	fi
	if [ "${MOAT_KEEP:-0}" = 1 ]; then
		echo "run directory kept: $RUN"
	else
		rm -rf "$RUN"
	fi
	exit "$rc"
}

# lab_topology: client — fw — server, as in shared/LAB.md. The firewall namespace gets
# no addresses here: Moat's config gives them. ip_forward stays 0: only Moat forwards.
lab_topology() {
	for ns in "$NS_CLI" "$NS_FW" "$NS_SRV"; do
		ip netns add "$ns"
		ip -n "$ns" link set lo up
	done
	# LAB_QUEUES=N: N RX and TX queues on every veth end (a sender's flows spread over the
	# peer's RX queues by their hash, so a helper with N workers gets work on each).
	local q=${LAB_QUEUES:-1}
	ip link add c0 numtxqueues "$q" numrxqueues "$q" netns "$NS_CLI" type veth peer name fw0 \
		numtxqueues "$q" numrxqueues "$q" netns "$NS_FW"
	ip link add s0 numtxqueues "$q" numrxqueues "$q" netns "$NS_SRV" type veth peer name fw1 \
		numtxqueues "$q" numrxqueues "$q" netns "$NS_FW"
	ip netns exec "$NS_FW" sysctl -qw net.ipv4.ip_forward=0
	ip netns exec "$NS_FW" sysctl -qw net.ipv6.conf.all.forwarding=0
	ip -n "$NS_CLI" addr add 10.77.1.2/24 dev c0
	ip -n "$NS_CLI" addr add fd00:77:1::2/64 dev c0 nodad
	ip -n "$NS_CLI" link set c0 up
	ip -n "$NS_SRV" addr add 10.77.2.2/24 dev s0
	ip -n "$NS_SRV" addr add fd00:77:2::2/64 dev s0 nodad
	ip -n "$NS_SRV" link set s0 up
	ip -n "$NS_CLI" route add default via 10.77.1.1
	ip -n "$NS_SRV" route add default via 10.77.2.1
	ip -n "$NS_CLI" -6 route add default via fd00:77:1::1
	ip -n "$NS_SRV" -6 route add default via fd00:77:2::1
	# shared/LAB.md pitfall 1: TCP through AF_XDP on veth needs TX checksum offload off
	# at the end hosts.
	ip netns exec "$NS_CLI" ethtool -K c0 tx off >/dev/null
	ip netns exec "$NS_SRV" ethtool -K s0 tx off >/dev/null
	# Pitfall 3: the legacy path (xdp_main_prog, the fallback while the helper is not armed)
	# redirects into fw0/fw1, which is dropped silently unless their peers have NAPI.
	ip netns exec "$NS_CLI" ethtool -K c0 gro on >/dev/null
	ip netns exec "$NS_SRV" ethtool -K s0 gro on >/dev/null
}

# moat_start CONFIG [extra controld flags...]: starts controld in the firewall namespace,
# spawning the helper, and waits until its operator socket answers.
moat_start() {
	local conf=$1
	shift
	if [ -n "${MOAT_FORCE_MODE:-}" ]; then
		# Rewrite a copy in the run directory (never a file of the repo); commits rewrite it
		# again (moatctl below), so a test that copies a new config over it stays forced.
		case "$conf" in "$RUN"/*) ;; *) cp "$conf" "$RUN/$(basename "$conf")" && conf=$RUN/$(basename "$conf") ;; esac
		MOAT_CONF=$conf
		moat_force_mode || return 1
	fi
	mkdir -p "$RUN/bpf"
	mountpoint -q "$RUN/bpf" || mount -t bpf bpf "$RUN/bpf"
	ip netns exec "$NS_FW" "$MOAT_BUILD/moat-controld" --config "$conf" --run-dir "$RUN" \
		--bpffs-dir "$RUN/bpf/moat" --bpf-dir "$MOAT_BUILD/bpf" --state-dir "$RUN/state" \
		--log-level debug "$@" >>"$RUN/controld.log" 2>&1 &
	CONTROLD_PID=$!
	LAB_PIDS+=("$CONTROLD_PID")
	local i
	for i in $(seq 1 100); do
		[ -S "$RUN/control.sock" ] && moatctl show system status >/dev/null 2>&1 && return 0
		kill -0 "$CONTROLD_PID" 2>/dev/null || { echo "controld exited at start"; return 1; }
		sleep 0.1
	done
	echo "controld did not open its operator socket"
	return 1
}

# moat_start_spawned CONFIG: controld supervises the helper itself.
moat_start_spawned() {
	local conf=$1
	shift
	moat_start "$conf" --spawn-dataplane "$MOAT_BUILD/moat-dataplane" "$@"
}

# helper_start: a helper of our own (not spawned by controld), in the firewall namespace.
helper_start() {
	ip netns exec "$NS_FW" "$MOAT_BUILD/moat-dataplane" --run-dir "$RUN" --log-level debug \
		>>"$RUN/dataplane.log" 2>&1 &
	HELPER_PID=$!
	LAB_PIDS+=("$HELPER_PID")
}

moatctl() {
	[ "${1:-}" = commit ] && [ -n "${MOAT_FORCE_MODE:-}" ] && { moat_force_mode || return 1; }
	"$MOAT_BUILD/moatctl" --run-dir "$RUN" "$@"
}

# moat_force_mode: sets the dataplane mode of $MOAT_CONF to $MOAT_FORCE_MODE.
moat_force_mode() {
	grep -Eq '(^|[ {])mode (auto|userspace|legacy);' "$MOAT_CONF" ||
		{ echo "MOAT_FORCE_MODE: no 'mode ...;' in $MOAT_CONF to rewrite"; return 1; }
	sed -i -E "s/(^|[ {])mode (auto|userspace|legacy);/\1mode $MOAT_FORCE_MODE;/" "$MOAT_CONF"
}

# legacy_forced: the legacy in-kernel path carries transit traffic (MOAT_FORCE_MODE=legacy).
legacy_forced() { [ "${MOAT_FORCE_MODE:-}" = legacy ]; }

# status_field NAME: the value of "NAME: value" in show system status.
status_field() { moatctl show system status | sed -n "s/^$1: //p" | head -1; }

# wait_for SECONDS what command...: polls until the command succeeds.
wait_for() {
	local secs=$1 what=$2
	shift 2
	local end=$((SECONDS + secs))
	while [ $SECONDS -lt $end ]; do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	echo "timed out after ${secs}s waiting for: $what"
	return 1
}

is_armed() { [ "$(status_field forwarding)" = armed ]; }
is_disarmed() { [ "$(status_field forwarding)" = disarmed ]; }
# is_ready: transit traffic is forwarded with the config: armed (userspace path) or, with the
# legacy path forced, mode legacy, not armed, and the config compiled into the kernel path.
is_ready() {
	if legacy_forced; then
		[ "$(status_field mode)" = legacy ] && is_disarmed && [ "$(counter legacy syncs)" -gt 0 ]
	else
		is_armed
	fi
}

# counter worker|shim|legacy NAME [IFACE]: a counter from show dataplane statistics --json. With the
# legacy path forced, a worker counter also adds the legacy path's count of the same decision
# (its own name for it where the names differ): the path that carried the packets counted them.
counter() {
	local kind=$1 name=$2 ifname=${3:-}
	moatctl --json show dataplane statistics | $PY -c '
import json, sys
d = json.load(sys.stdin)
kind, name, ifname, legacy = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "legacy"
LG = {"non_syn_drops": "non_syn_drop", "nat_alloc_failures": "nat_alloc_fail",
      "sessions_closed_aged": "aged_out", "ttl_expired": "ttl_exceeded"}
if kind == "worker":
    v = sum(w.get(name, 0) for w in d["workers"])
    if legacy:
        v += d["legacy"].get(LG.get(name, name), 0)
    print(v)
elif kind == "legacy":
    print(d["legacy"][name])
else:
    print(sum(i["shim"][name] for i in d["interfaces"] if not ifname or i["name"] == ifname))
' "$kind" "$name" "$ifname" "${MOAT_FORCE_MODE:-}"
}

moat_stop_all() {
	local p
	for p in "${LAB_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${LAB_PIDS[@]}"; do
		for _ in $(seq 1 50); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	LAB_PIDS=()
	# Helpers spawned by controld, if controld died before stopping them.
	pkill -KILL -f "moat-dataplane --run-dir $RUN( |$)" 2>/dev/null
	true
}

# sanitizer_clean: no ASan/UBSan report in the daemons' logs.
sanitizer_clean() {
	! grep -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$RUN"/*.log
}

lab_finish() {
	check "no sanitizer reports in the daemon logs" sanitizer_clean
	echo "$LAB_NAME: $LAB_PASS passed, $LAB_FAIL failed"
	[ "$LAB_FAIL" -eq 0 ]
}
