#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test_shim.sh — the XDP shim (bpf/shim.bpf.c) and its loader (controld/bootstrap.c) on real
# veths in two namespaces, without the rest of Moat.
#
#   sender ns  ${P}a:  ${P}a0 10.77.1.2/24  <-veth->  ${P}b0 10.77.1.1/24  firewall ns ${P}b
#
# tests/lab/shim/shim_driver (built here) runs in the firewall namespace and drives
# bootstrap_* plus an AF_XDP socket; tests/lab/shim/send_frames.py (scapy) crafts frames in
# the sender namespace. Each step checks the exact change of every shim counter.
#
# Needs root, the built bpf objects (MOAT_BUILD_DIR, default REPO/build: shim.bpf.o in
# MOAT_BUILD_DIR/bpf), cc, clang, libbpf-dev, libxdp-dev, iputils-ping, bpftool and
# Debian's python3-scapy. Prints PASS/FAIL lines; exits non-zero on any failure.

# "COND && pass ... || fail ..." is used on purpose: pass and fail always return 0.
# shellcheck disable=SC2015
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD=${MOAT_BUILD:-${MOAT_BUILD_DIR:-$REPO/build}}
BPF_DIR=${MOAT_BPF_DIR:-$BUILD/bpf}
PY=/usr/bin/python3 # Debian's, with scapy (python3 on PATH may be another one)

die() {
	echo "FAIL: $*"
	exit 1
}

[[ $EUID -eq 0 ]] || die "run as root (namespaces, XDP, bpffs)"
[[ -r $BPF_DIR/shim.bpf.o ]] ||
	die "$BPF_DIR/shim.bpf.o is missing: build the bpf_objects target or set MOAT_BUILD_DIR"
for tool in ip cc clang ping bpftool taskset mount umount; do
	command -v "$tool" >/dev/null || die "$tool is not installed"
done
$PY -c 'import scapy.all' 2>/dev/null || die "$PY has no scapy: apt-get install python3-scapy"

P=msh$$
NSA=${P}a
NSB=${P}b
VA=${P}a0
VB=${P}b0
T=$(mktemp -d "/tmp/${P}.XXXXXX")
DRIVER_PID= # bash unsets DRV_PID when the coprocess ends: keep our own copy
DIN=
FAILS=0
PASSES=0

cleanup() {
	local rc=$?
	set +e
	if [[ -n $DRIVER_PID ]]; then
		[[ -n $DIN ]] && { echo quit >&"$DIN"; } 2>/dev/null
		for _ in $(seq 20); do
			kill -0 "$DRIVER_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill "$DRIVER_PID" 2>/dev/null
		wait "$DRIVER_PID" 2>/dev/null
	fi
	ip netns del "$NSA" 2>/dev/null
	ip netns del "$NSB" 2>/dev/null
	mountpoint -q "$T/bpf" && umount "$T/bpf"
	if ((rc != 0)) && [[ -s $T/driver.log ]]; then
		echo "---- driver stderr ----"
		tail -n 40 "$T/driver.log"
	fi
	rm -rf "$T"
	exit "$rc"
}
trap cleanup EXIT
trap "exit 130" INT TERM

pass() {
	echo "PASS: $*"
	PASSES=$((PASSES + 1))
}
fail() {
	echo "FAIL: $*"
	FAILS=$((FAILS + 1))
}

# ---- build the driver and the stand-in legacy program ----
cc -std=gnu17 -O1 -g -Wall -Wextra -Werror -D_GNU_SOURCE \
	-I"$REPO/common" -I"$REPO/bpf" -I"$REPO/controld" \
	"$HERE/shim/shim_driver.c" "$REPO/controld/bootstrap.c" "$REPO/common/log.c" \
	-lbpf -lxdp -o "$T/shim_driver"
for v in settle nosettle; do
	extra=()
	[[ $v == nosettle ]] && extra=(-DMOAT_STUB_NO_SETTLE)
	clang -O2 -g -Wall -Werror -target bpf -I/usr/include/x86_64-linux-gnu "${extra[@]}" \
		-I"$REPO/common" -I"$REPO/bpf" -c "$HERE/shim/legacy_stub.bpf.c" -o "$T/legacy_$v.bpf.o"
done

# ---- topology: quiet links (no IPv6 autoconf, static neighbours) so counts are exact ----
for ns in "$NSA" "$NSB"; do
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
done
ip link add "$VA" netns "$NSA" numtxqueues 1 numrxqueues 1 type veth \
	peer name "$VB" netns "$NSB" numtxqueues 1 numrxqueues 1
ip -n "$NSA" addr add 10.77.1.2/24 dev "$VA"
ip -n "$NSB" addr add 10.77.1.1/24 dev "$VB"
ip -n "$NSA" link set "$VA" up
ip -n "$NSB" link set "$VB" up
ip netns exec "$NSB" sysctl -qw net.ipv4.ip_forward=0
MAC_A=$(ip netns exec "$NSA" cat "/sys/class/net/$VA/address")
MAC_B=$(ip netns exec "$NSB" cat "/sys/class/net/$VB/address")
IFB=$(ip netns exec "$NSB" cat "/sys/class/net/$VB/ifindex")
ip -n "$NSA" neigh replace 10.77.1.1 lladdr "$MAC_B" dev "$VA" nud permanent
ip -n "$NSB" neigh replace 10.77.1.2 lladdr "$MAC_A" dev "$VB" nud permanent

mkdir -p "$T/bpf"
mount -t bpf bpf "$T/bpf"

# ---- the driver, as a coprocess in the firewall namespace ----
coproc DRV { exec ip netns exec "$NSB" "$T/shim_driver" 2>>"$T/driver.log"; }
DRIVER_PID=$DRV_PID
exec {DIN}>&"${DRV[1]}" {DOUT}<&"${DRV[0]}"

DRV_OUT=()
DRV_ERR=
# drv CMD...: sends one command; result lines in DRV_OUT; fails on ERR (text in DRV_ERR).
drv() {
	local line
	DRV_OUT=()
	DRV_ERR=
	echo "$*" >&"$DIN"
	while IFS= read -r -t 30 line <&"$DOUT"; do
		case $line in
		OK) return 0 ;;
		ERR*)
			DRV_ERR=$line
			return 1
			;;
		*) DRV_OUT+=("$line") ;;
		esac
	done
	DRV_ERR="no answer to '$*'"
	return 1
}
# must CMD...: a driver command that has to work for the test to go on.
must() {
	drv "$@" || die "driver: $* -> $DRV_ERR"
}

send() { # CASE [COUNT] -> prints the frame length
	ip netns exec "$NSA" "$PY" "$HERE/shim/send_frames.py" "$VA" "$MAC_B" "$@" 2>>"$T/scapy.log"
}
# From CPU 0 only: veth runs the receiver's XDP in a NAPI scheduled on the sending CPU.
send_cpu0() {
	ip netns exec "$NSA" taskset -c 0 "$PY" "$HERE/shim/send_frames.py" "$VA" "$MAC_B" "$@" \
		2>>"$T/scapy.log"
}

FIELDS=(rx redirect redirect_err host_pass tail_call fallback_pass drop_malformed drop_other
	no_xsk unmanaged)
DECISIONS=(redirect redirect_err host_pass tail_call fallback_pass drop_malformed drop_other
	unmanaged)
declare -A NOW=() PREV=()
UNMANAGED_SLOT=64 # MOAT_SHIM_STATS_UNMANAGED

read_stats() { # SLOT -> NOW[field]
	local kv
	must stats "$1"
	NOW=()
	for kv in ${DRV_OUT[0]#stats }; do
		NOW[${kv%%=*}]=${kv#*=}
	done
}
mark() { # SLOT: remember its counters
	local f
	read_stats "$1"
	for f in "${FIELDS[@]}"; do PREV[$1.$f]=${NOW[$f]}; done
}
# expect SLOT NAME FIELD=N...: since the last mark, each listed counter moved by exactly N,
# every other one by 0, and rx by the sum of the decisions. Then marks again.
expect() {
	local slot=$1 name=$2 kv f d bad="" got="" rx_want=0
	shift 2
	declare -A want=()
	for f in "${FIELDS[@]}"; do want[$f]=0; done
	for kv in "$@"; do want[${kv%%=*}]=${kv#*=}; done
	for f in "${DECISIONS[@]}"; do rx_want=$((rx_want + want[$f])); done
	[[ " $* " == *" rx="* ]] || want[rx]=$rx_want
	# XDP runs in the receiver's NAPI, a moment after the sender returns.
	for _ in $(seq 40); do
		read_stats "$slot"
		((NOW[rx] - ${PREV[$slot.rx]} >= want[rx])) && break
		sleep 0.05
	done
	sleep 0.1 # and catch anything extra
	read_stats "$slot"
	for f in "${FIELDS[@]}"; do
		d=$((NOW[$f] - ${PREV[$slot.$f]}))
		((d == 0)) || got+=" $f+$d"
		((d == want[$f])) || bad+=" $f:+$d(want +${want[$f]})"
		PREV[$slot.$f]=${NOW[$f]}
	done
	if [[ -z $bad ]]; then
		pass "$name:$got"
	else
		fail "$name:$bad"
	fi
}

# frame_is NAME EXPECTED: the next frame at the XSK has exactly this description.
frame_is() {
	local name=$1 expected=$2
	if ! drv recv 1 2000; then
		fail "$name: no frame at the XSK ($DRV_ERR)"
	elif [[ ${DRV_OUT[0]} == "$expected" ]]; then
		pass "$name: metadata $expected"
	else
		fail "$name: got '${DRV_OUT[0]}' want '$expected'"
	fi
}
# meta LEN FLAGS SRC DST SPORT DPORT PROTO L3 L4 TTL VLAN ICMP L4CHECK -> a driver frame line
meta() {
	echo "frame len=$1 magic=0x4d540001 flags=$2 src=$3 dst=$4 sport=$5 dport=$6 proto=$7" \
		"ifindex=$IFB rxq=0 l3=$8 l4=$9 ttl=${10} vlan=${11} icmp=${12} l4check=${13}"
}

ping_ok() { # NS DST COUNT: all replies came back
	ip netns exec "$1" ping -q -c "$3" -i 0.2 -W 2 "$2" 2>&1 | grep -q " $3 received"
}
xdp_prog_id() { # NS IFNAME -> id of the XDP program attached, or nothing
	ip -n "$1" -d link show dev "$2" | sed -n 's/.*prog\/xdp id \([0-9]*\).*/\1/p' | head -n 1
}

# ======================= bootstrap_open ==========================================
out=$(printf 'open %s %s\nquit\n' "$BPF_DIR" "$T/plain/sub" |
	ip netns exec "$NSB" "$T/shim_driver" 2>/dev/null || true)
if [[ $out == *"is not a bpf filesystem: mount -t bpf bpf $T/plain/sub"* && -d $T/plain/sub ]]; then
	pass "open on a non-bpffs directory: created it, refused with the mount hint"
else
	fail "open on a non-bpffs directory: $out"
fi

must open "$BPF_DIR" "$T/bpf"
missing=""
for pin in moat_ifaces moat_xsks moat_local_addrs moat_cpumap moat_progs moat_shim_stats \
	moat_ctrl moat_shim_tail xdp_userspace_prog xdp_xsk_probe; do
	[[ -e $T/bpf/$pin ]] || missing+=" $pin"
done
[[ -z $missing ]] && pass "open: maps and programs pinned in the test's bpffs" ||
	fail "open: not pinned:$missing"
must ctrl
[[ ${DRV_OUT[0]} == "ctrl flags=0x1 ncpus=$(nproc) generation=0" ]] &&
	pass "open: cpumap filled, ${DRV_OUT[0]}" || fail "open: ${DRV_OUT[0]} (want cpumap on)"
# Entries with qsize 2048 (little-endian 00 08 00 00); empty ones dump as an error object.
cpus=$(bpftool map dump pinned "$T/bpf/moat_cpumap" -j | $PY -c '
import json, sys
print(sum(1 for e in json.load(sys.stdin)
          if isinstance(e["value"], list) and e["value"][:4] == ["0x00", "0x08", "0x00", "0x00"]))')
[[ $cpus == "$(nproc)" ]] && pass "open: moat_cpumap has $cpus entries of qsize 2048" ||
	fail "open: moat_cpumap has $cpus entries of qsize 2048, want $(nproc)"

# ======================= attach ==================================================
must attach "$VB" 0
[[ ${DRV_OUT[0]} == "mode=native ifindex=$IFB" ]] && pass "attach $VB: ${DRV_OUT[0]}" ||
	fail "attach $VB: ${DRV_OUT[0]}"
PROG1=$(xdp_prog_id "$NSB" "$VB")
[[ -n $PROG1 ]] && pass "attach: the kernel shows XDP program $PROG1 on $VB" ||
	fail "attach: no XDP program on $VB"
must iface "$VB"
[[ ${DRV_OUT[0]} == "iface ifindex=$IFB slot=0 flags=0x1 zone=0" ]] &&
	pass "attach: ${DRV_OUT[0]}" || fail "attach: ${DRV_OUT[0]}"

# ======================= unarmed transit, host-bound =============================
mark 0
send udp4 5 >/dev/null
expect 0 "unarmed transit UDP x5 -> fallback_pass" fallback_pass=5

ping_ok "$NSA" 10.77.1.1 2 && pass "ping before set_local_addrs: replies" ||
	fail "ping before set_local_addrs: no replies"
expect 0 "ping x2 to an address not yet local -> transit (fallback_pass)" fallback_pass=2

must locals "10.77.1.1@$VB" "2001:db8:1::1@$VB"
ping_ok "$NSA" 10.77.1.1 3 && pass "ping own address: 3 replies came back (cpumap on)" ||
	fail "ping own address: replies missing"
expect 0 "ping x3 own address -> host_pass" host_pass=3
send udp6_local >/dev/null
expect 0 "UDP to own IPv6 address -> host_pass" host_pass=1

must locals "10.77.1.50@$VB"
n=$(bpftool map dump pinned "$T/bpf/moat_local_addrs" -j | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')
[[ $n == 1 ]] && pass "set_local_addrs replaces the set: 1 entry left" ||
	fail "set_local_addrs left $n entries, want 1"
send udp4_local >/dev/null
expect 0 "UDP to a removed local address -> transit" fallback_pass=1
must locals "10.77.1.1@$VB" "2001:db8:1::1@$VB"

for c in arp bcast4 mcast4_l3 nd_ns udp6_linklocal lldp; do
	send "$c" >/dev/null
	expect 0 "host-bound $c -> host_pass" host_pass=1
done

# ======================= malformed ===============================================
for c in trunc_ip4 bad_ihl ip4_len_long trunc_tcp4 tcp4_doff udp4_badlen trunc_ip6 \
	ip6_ext_overrun trunc_tcp6; do
	send "$c" >/dev/null
	expect 0 "malformed $c -> drop_malformed" drop_malformed=1
done
for c in ip6_deep_l4 ip6_many_ext; do
	send "$c" >/dev/null
	expect 0 "valid but undescribable $c -> drop_other" drop_other=1
done
for c in frag4_nf frag4_first ip4_options icmp4_err udp6_ext udp6_frag_first; do
	send "$c" >/dev/null
	expect 0 "valid $c is not malformed -> fallback_pass" fallback_pass=1
done

# ======================= legacy tail call ========================================
must legacy "$T/legacy_settle.bpf.o"
send udp4 4 >/dev/null
expect 0 "unarmed transit x4 with a legacy program -> tail_call" tail_call=4
must legacy-hits
[[ ${DRV_OUT[0]} == "hits=4" ]] && pass "the legacy program ran 4 times" ||
	fail "legacy program: ${DRV_OUT[0]}, want hits=4"
must legacy-clear
send udp4 2 >/dev/null
expect 0 "legacy slot emptied -> fallback_pass" fallback_pass=2
# A callee that doesn't settle: the shim counts its tail call at its next packet on the CPU.
must legacy "$T/legacy_nosettle.bpf.o"
send_cpu0 udp4 3 >/dev/null
expect 0 "tail calls into a callee that doesn't settle: counted one packet late" rx=3 tail_call=2
must legacy-clear
send_cpu0 udp4 1 >/dev/null
expect 0 "the next packet on that CPU settles the last one" rx=1 tail_call=1 fallback_pass=1

# ======================= armed + XSK =============================================
must present 0 0
[[ ${DRV_OUT[0]} == present=0 ]] && pass "xsk_present(0,0) false before any socket" ||
	fail "xsk_present(0,0): ${DRV_OUT[0]} before any socket"
must xsk "$VB" 0 0
for q in "0 0 1" "0 1 0" "1 0 0"; do
	read -r qs qq qwant <<<"$q"
	must present "$qs" "$qq"
	[[ ${DRV_OUT[0]} == "present=$qwant" ]] &&
		pass "xsk_present($qs,$qq) = $qwant with the socket at key 0" ||
		fail "xsk_present($qs,$qq): ${DRV_OUT[0]}, want present=$qwant"
done
must arm "$VB" 1
must iface "$VB"
[[ ${DRV_OUT[0]} == "iface ifindex=$IFB slot=0 flags=0x7 zone=0" ]] &&
	pass "arm: ${DRV_OUT[0]}" || fail "arm: ${DRV_OUT[0]}"

M4="10.77.1.2 10.77.9.9"
M6="2001:db8:1::2 2001:db8:9::9"
# shellcheck disable=SC2086 # $M4/$M6 are two words on purpose
{
	len=$(send udp4)
	expect 0 "armed IPv4 UDP -> redirect" redirect=1
	frame_is "IPv4 UDP" "$(meta "$len" 0x0010 $M4 1234 5678 17 14 34 64 0 0/0 ok)"
	len=$(send tcp6)
	expect 0 "armed IPv6 TCP -> redirect" redirect=1
	frame_is "IPv6 TCP" "$(meta "$len" 0x0011 $M6 40000 443 6 14 54 61 0 0/0 ok)"
	len=$(send udp6_ext)
	expect 0 "armed IPv6 HBH+DST UDP -> redirect" redirect=1
	frame_is "IPv6 ext headers UDP" "$(meta "$len" 0x0011 $M6 5353 53 17 14 70 64 0 0/0 ok)"
	len=$(send udp6_frag_first)
	expect 0 "armed IPv6 first fragment -> redirect" redirect=1
	frame_is "IPv6 first fragment" "$(meta "$len" 0x0015 $M6 7000 7001 17 14 62 64 0 0/0 ok)"
	len=$(send vlan_udp4)
	expect 0 "armed 802.1Q UDP -> redirect" redirect=1
	frame_is "802.1Q UDP" "$(meta "$len" 0x0012 $M4 1111 2222 17 18 38 64 24676 0/0 ok)"
	len=$(send qinq_udp4)
	expect 0 "armed 802.1ad+802.1Q UDP -> redirect" redirect=1
	frame_is "QinQ UDP" "$(meta "$len" 0x0052 $M4 3333 4444 17 22 42 64 200 0/0 ok)"
	len=$(send icmp4_echo)
	expect 0 "armed ICMP echo -> redirect" redirect=1
	frame_is "ICMP echo" "$(meta "$len" 0x0010 $M4 4660 0 1 14 34 64 0 8/0 none)"
	len=$(send icmp4_err)
	expect 0 "armed ICMP error -> redirect" redirect=1
	frame_is "ICMP error" "$(meta "$len" 0x0030 $M4 0 0 1 14 34 64 0 3/1 none)"
	len=$(send ip4_options)
	expect 0 "armed IPv4 with options -> redirect" redirect=1
	frame_is "IPv4 options" "$(meta "$len" 0x0010 $M4 9 10 17 14 38 64 0 0/0 ok)"
	len=$(send frag4_first)
	expect 0 "armed IPv4 first fragment -> redirect" redirect=1
	frame_is "IPv4 first fragment" "$(meta "$len" 0x0014 $M4 1000 2000 17 14 34 64 0 0/0 ok)"
	len=$(send frag4_nf)
	expect 0 "armed IPv4 later fragment -> redirect" redirect=1
	frame_is "IPv4 later fragment" "$(meta "$len" 0x000c $M4 0 0 17 14 0 64 0 0/0 none)"
}

ping_ok "$NSA" 10.77.1.1 2 && pass "armed: ping own address still answered" ||
	fail "armed: ping own address not answered"
expect 0 "armed: ping x2 own address stays host-bound" host_pass=2
send trunc_tcp4 >/dev/null
expect 0 "armed: malformed still dropped" drop_malformed=1
drv recv 1 300 && fail "armed: a frame reached the XSK that shouldn't: ${DRV_OUT[*]}" ||
	pass "armed: nothing else reached the XSK"

must xsk-close
must present 0 0
[[ ${DRV_OUT[0]} == present=0 ]] && pass "xsk_present(0,0) false once the socket closed" ||
	fail "xsk_present(0,0): ${DRV_OUT[0]} after close"
send udp4 >/dev/null
expect 0 "armed, no XSK -> no_xsk + fallback_pass" no_xsk=1 fallback_pass=1
must legacy "$T/legacy_settle.bpf.o"
send udp4 >/dev/null
expect 0 "armed, no XSK, legacy present -> no_xsk + tail_call" no_xsk=1 tail_call=1
must legacy-clear

# ======================= unmanaged ===============================================
mark $UNMANAGED_SLOT
must forget "$VB"
send udp4 2 >/dev/null
expect $UNMANAGED_SLOT "interface missing from moat_ifaces -> unmanaged entry" unmanaged=2
expect 0 "unmanaged packets leave the slot's counters alone"

# ======================= controld restart ========================================
must attach "$VB" 0
must arm "$VB" 1
mark 0
before_rx=${NOW[rx]}
must close
[[ $(xdp_prog_id "$NSB" "$VB") == "$PROG1" ]] &&
	pass "close without detach: the shim stays attached" ||
	fail "close without detach: XDP program on $VB is '$(xdp_prog_id "$NSB" "$VB")'"
must open "$BPF_DIR" "$T/bpf"
must iface "$VB"
[[ ${DRV_OUT[0]} == "iface ifindex=$IFB slot=0 flags=0x1 zone=0" ]] &&
	pass "reopen disarms: ${DRV_OUT[0]}" || fail "reopen: ${DRV_OUT[0]} (want disarmed 0x1)"
read_stats 0
[[ ${NOW[rx]} == "$before_rx" ]] && pass "reopen keeps the pinned counters (rx=$before_rx)" ||
	fail "reopen: rx=${NOW[rx]}, was $before_rx"
# A slot held by an entry a previous controld left (say, an interface renumbered since) is
# taken over; one held by an interface this controld attached is a conflict.
must attach lo 0
must iface "$VB"
[[ ${DRV_OUT[0]} == *absent ]] && pass "attach lo to slot 0: the stale entry of $VB was dropped" ||
	fail "attach lo to slot 0: ${DRV_OUT[0]}"
must detach lo
must attach "$VB" 0
PROG2=$(xdp_prog_id "$NSB" "$VB")
if drv attach lo 0; then
	fail "attach lo to $VB's slot 0 succeeded: ${DRV_OUT[*]}"
else
	[[ $DRV_ERR == *"slot 0 is already used by ifindex $IFB"* ]] &&
		pass "slot conflict refused: ${DRV_ERR#ERR }" || fail "slot conflict: $DRV_ERR"
fi
[[ -n $PROG2 && $PROG2 != "$PROG1" ]] &&
	pass "re-attach replaces the previous controld's program ($PROG1 -> $PROG2)" ||
	fail "re-attach: program '$PROG2' (was $PROG1)"
send udp4 >/dev/null
expect 0 "after restart, transit is disarmed -> fallback_pass" fallback_pass=1
must generation 42
must ctrl
[[ ${DRV_OUT[0]} == "ctrl flags=0x1 ncpus=$(nproc) generation=42" ]] &&
	pass "set_generation: ${DRV_OUT[0]}" || fail "set_generation: ${DRV_OUT[0]}"

# ======================= generic mode (lo has no native XDP) =====================
if drv attach lo 1 native; then
	fail "attach lo native_only succeeded: ${DRV_OUT[*]}"
else
	pass "attach lo native_only refused: ${DRV_ERR#ERR }"
fi
must attach lo 1
[[ ${DRV_OUT[0]} == mode=generic* ]] && pass "attach lo: ${DRV_OUT[0]}" ||
	fail "attach lo: ${DRV_OUT[0]}"
ip -n "$NSB" link show lo | grep -q xdpgeneric && pass "the kernel shows xdpgeneric on lo" ||
	fail "no xdpgeneric on lo"
mark 1
ping_ok "$NSB" 127.0.0.1 2 && pass "generic: ping 127.0.0.1 answered" ||
	fail "generic: ping 127.0.0.1 not answered"
expect 1 "generic: 2 requests + 2 replies, not local -> fallback_pass" fallback_pass=4
must locals "10.77.1.1@$VB" "2001:db8:1::1@$VB" "127.0.0.1@lo"
ping_ok "$NSB" 127.0.0.1 2 && pass "generic: ping 127.0.0.1 answered (host-bound, cpumap on)" ||
	fail "generic: ping 127.0.0.1 not answered through cpumap"
expect 1 "generic: local 127.0.0.1 -> host_pass" host_pass=4
must detach lo
[[ -z $(xdp_prog_id "$NSB" lo) ]] && ! ip -n "$NSB" link show lo | grep -q xdp &&
	pass "detach lo: no XDP program left" || fail "detach lo: XDP still on lo"
must iface lo
[[ ${DRV_OUT[0]} == *absent ]] && pass "detach lo: removed from moat_ifaces" ||
	fail "detach lo: ${DRV_OUT[0]}"

# ======================= close with detach =======================================
must close detach
ip -n "$NSB" link show "$VB" | grep -q xdp && fail "close detach: XDP still on $VB" ||
	pass "close detach: no XDP program left on $VB"
must iface "$VB"
[[ ${DRV_OUT[0]} == *absent ]] && pass "close detach: $VB removed from moat_ifaces" ||
	fail "close detach: ${DRV_OUT[0]}"

echo "---- $PASSES passed, $FAILS failed ----"
((FAILS == 0))
