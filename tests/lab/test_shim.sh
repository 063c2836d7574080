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
# Host-inbound traffic (a zone's allowed services and protocols, bootstrap_set_host_inbound)
# is checked case by case against the rule documented in shim.bpf.c.
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
SENDER_PID=
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
	[[ -n $SENDER_PID ]] && kill "$SENDER_PID" 2>/dev/null
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
	-I"$REPO/common" -I"$REPO/bpf" -I"$REPO/controld" -I"$REPO/controld/config" \
	"$HERE/shim/shim_driver.c" "$REPO/controld/bootstrap.c" "$REPO/controld/pins.c" "$REPO/common/log.c" \
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
# Not the default 32768-60999: proves bootstrap reads this namespace's range.
ip netns exec "$NSB" sysctl -qw net.ipv4.ip_local_port_range="40000 50000"
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

# One scapy process sends every frame (send_frames.py --serve: importing scapy costs about a
# second, once per frame it was most of this test's time). Started by sender_start, in the
# main shell, before the first send; send may then run in subshells ($(send ...)).
sender_start() {
	mkfifo "$T/send.in" "$T/send.out"
	ip netns exec "$NSA" "$PY" "$HERE/shim/send_frames.py" --serve "$VA" "$MAC_B" \
		<"$T/send.in" >"$T/send.out" 2>>"$T/scapy.log" &
	SENDER_PID=$!
	exec {SIN}>"$T/send.in" {SOUT}<"$T/send.out"
}
send() { # CASE [COUNT] -> prints the frame length
	local len
	echo "$*" >&"$SIN" || return 1
	read -r len <&"$SOUT" || return 1
	[[ $len == ERR* ]] && { echo "send $*: $len" >>"$T/scapy.log"; return 1; }
	echo "$len"
}
sender_start
# From CPU 0 only: veth runs the receiver's XDP in a NAPI scheduled on the sending CPU.
send_cpu0() {
	ip netns exec "$NSA" taskset -c 0 "$PY" "$HERE/shim/send_frames.py" "$VA" "$MAC_B" "$@" \
		2>>"$T/scapy.log"
}

FIELDS=(rx redirect redirect_err host_pass tail_call fallback_pass drop_malformed drop_other
	no_xsk unmanaged drop_host_inbound)
DECISIONS=(redirect redirect_err host_pass tail_call fallback_pass drop_malformed drop_other
	unmanaged drop_host_inbound)
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
	moat_ctrl moat_shim_tail moat_nat_local xdp_userspace_prog xdp_xsk_probe; do
	[[ -e $T/bpf/$pin ]] || missing+=" $pin"
done
[[ -z $missing ]] && pass "open: maps and programs pinned in the test's bpffs" ||
	fail "open: not pinned:$missing"
must ctrl
[[ ${DRV_OUT[0]} == "ctrl flags=0x1 ncpus=$(nproc) generation=0 ephemeral=40000-50000" ]] &&
	pass "open: cpumap filled, ephemeral ports from the namespace, ${DRV_OUT[0]}" ||
	fail "open: ${DRV_OUT[0]} (want cpumap on, ephemeral=40000-50000)"
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
[[ ${DRV_OUT[0]} == "iface ifindex=$IFB slot=0 flags=0x1 zone=0 svc=0x0 proto=0x0" ]] &&
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

# ======================= host-inbound traffic ====================================
# hi CASE DECISION WHY: one datagram described as send_frames.py reads it (to the own
# address unless @ADDR), then exactly that one decision on slot 0.
hi() {
	send "$1" >/dev/null
	expect 0 "host-inbound, $3: $1 -> $2" "$2=1"
}
iface_is() { # IFNAME WANT WHY: the pinned moat_ifaces entry of IFNAME is exactly WANT
	must iface "$1"
	[[ ${DRV_OUT[0]} == "$2" ]] && pass "$3: ${DRV_OUT[0]}" || fail "$3: ${DRV_OUT[0]}, want $2"
}

# A zone that allows ping only.
must hostin "$VB" 3 ping none zoned
iface_is "$VB" "iface ifindex=$IFB slot=0 flags=0x9 zone=3 svc=0x1 proto=0x0" \
	"set_host_inbound(zone 3, ping, zoned)"
ping_ok "$NSA" 10.77.1.1 3 && pass "zone allows ping: 3 replies came back" ||
	fail "zone allows ping: replies missing"
expect 0 "zone allows ping: ping x3 own address -> host_pass" host_pass=3
hi icmp,6,128 host_pass "ping allowed (ICMPv6 echo request)"
hi tcp,4,S,22 drop_host_inbound "ssh not allowed"
hi tcp,6,S,22 drop_host_inbound "ssh not allowed (IPv6)"
hi tcp,4,S,22,^bcast drop_host_inbound "a broadcast frame does not bypass the zone"
hi tcp,4,S,40000 drop_host_inbound "SYN to a port of no service"
hi tcp,4,A,40000,22 host_pass "ACK only: a reply"
hi tcp,4,SA,40000,443 host_pass "SYN+ACK: a reply"
hi tcp,4,R,22 host_pass "RST: not a connection request"
hi udp,4,45000 host_pass "UDP to the ephemeral range (40000-50000 here)"
hi udp,4,35000 drop_host_inbound "UDP outside this namespace's ephemeral range"
hi udp,4,161 drop_host_inbound "snmp not allowed"
hi udp,4,161,53 drop_host_inbound "source port 53 does not open a service port"
hi udp,4,2000,53 host_pass "a DNS answer to an unprivileged port"
hi udp,4,700,53 drop_host_inbound "source port 53 to a privileged port"
hi udp,4,123,123 host_pass "an NTP answer to ntpd's port 123"
hi udp,4,68,67 host_pass "a DHCP answer to the box's client"
hi udp,4,33434 drop_host_inbound "traceroute not allowed"
hi icmp,4,0 host_pass "ICMP echo reply"
hi icmp,4,3 host_pass "ICMP unreachable"
hi icmp,4,13 drop_host_inbound "ICMP timestamp request"
hi icmp,6,129 host_pass "ICMPv6 echo reply"
hi icmp,6,1 host_pass "ICMPv6 unreachable"
hi icmp,6,139 drop_host_inbound "ICMPv6 node information query"
hi ip,4,47 drop_host_inbound "GRE"
hi ip,4,50 drop_host_inbound "ESP without ike"
hi fragnf,4,17 host_pass "a later fragment (its first fragment is judged)"
hi ip,4,89,@224.0.0.5 drop_host_inbound "OSPF to 224.0.0.5 without ospf"
hi ip,6,89,@ff02::5 drop_host_inbound "OSPFv3 to ff02::5 without ospf3"
hi ip,4,112,@224.0.0.18 drop_host_inbound "VRRP without vrrp"
hi udp,4,520,520,@224.0.0.9 drop_host_inbound "RIP without rip"
hi udp,4,5353,5353,@224.0.0.251 host_pass "multicast that is no routing protocol"
hi udp,4,67,68,@255.255.255.255,^bcast host_pass "broadcast passes as before"
for c in arp nd_ns udp6_linklocal lldp; do
	send "$c" >/dev/null
	expect 0 "host-inbound, zoned: host-bound $c still passes" host_pass=1
done
send udp4 >/dev/null
expect 0 "host-inbound, zoned: transit is not host-inbound -> fallback_pass" fallback_pass=1

# The same zone, now with ssh, snmp, ike, ospf and ospf3.
must hostin "$VB" 3 ping,ssh,snmp,ike ospf,ospf3 zoned
iface_is "$VB" "iface ifindex=$IFB slot=0 flags=0x9 zone=3 svc=0xa03 proto=0x6" \
	"set_host_inbound updates in place"
hi tcp,4,S,22 host_pass "ssh allowed now"
hi tcp,6,S,22 host_pass "ssh allowed now (IPv6)"
hi udp,4,161 host_pass "snmp allowed"
hi ip,4,50 host_pass "ESP with ike"
hi ip,4,89,@224.0.0.5 host_pass "ospf allowed"
hi ip,6,89,@ff02::5 host_pass "ospf3 allowed"
hi ip,4,112,@224.0.0.18 drop_host_inbound "vrrp still not allowed"
hi tcp,4,S,179 drop_host_inbound "bgp not allowed"
hi tcp,4,S,23 drop_host_inbound "telnet not allowed"
hi icmp,4,13 drop_host_inbound "ICMP timestamp still not"

# Nothing allowed: no ping, replies still pass.
must hostin "$VB" 3 none none zoned
ping_ok "$NSA" 10.77.1.1 1 && fail "zone allows nothing: ping answered" ||
	pass "zone allows nothing: ping not answered"
expect 0 "zone allows nothing: ping -> drop_host_inbound" drop_host_inbound=1
hi tcp,4,A,40000,22 host_pass "replies pass with nothing allowed"

# Unzoned: everything host-bound passes, as before zones.
must hostin "$VB" 3 none none unzoned
iface_is "$VB" "iface ifindex=$IFB slot=0 flags=0x1 zone=3 svc=0x0 proto=0x0" \
	"set_host_inbound(unzoned) clears MOAT_IF_ZONED"
hi tcp,4,S,22 host_pass "unzoned: ssh"
hi udp,4,161 host_pass "unzoned: snmp"
hi udp,4,35000 host_pass "unzoned: any UDP port"
hi icmp,4,13 host_pass "unzoned: ICMP timestamp"
hi ip,4,89,@224.0.0.5 host_pass "unzoned: OSPF"

for args in "0 ping none zoned" "3 0x4000 none zoned" "3 none 0x200 zoned"; do
	# shellcheck disable=SC2086 # four words on purpose
	drv hostin "$VB" $args && fail "set_host_inbound($args) accepted" ||
		pass "set_host_inbound($args) refused"
done
iface_is "$VB" "iface ifindex=$IFB slot=0 flags=0x1 zone=3 svc=0x0 proto=0x0" \
	"refused set_host_inbound left the entry alone"
must hostin "$VB" 0 none none unzoned

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
[[ ${DRV_OUT[0]} == "iface ifindex=$IFB slot=0 flags=0x7 zone=0 svc=0x0 proto=0x0" ]] &&
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

# Armed and zoned: host-inbound is decided before the XSK; transit is still redirected.
must hostin "$VB" 3 ping none zoned
iface_is "$VB" "iface ifindex=$IFB slot=0 flags=0xf zone=3 svc=0x1 proto=0x0" \
	"set_host_inbound keeps slot and armed flags"
hi tcp,4,S,22 drop_host_inbound "armed: ssh not allowed"
hi udp,4,45000 host_pass "armed: UDP reply to the box"
# shellcheck disable=SC2086 # $M4 is two words on purpose
{
	len=$(send udp4)
	expect 0 "armed and zoned: transit UDP -> redirect" redirect=1
	frame_is "zoned transit UDP" "$(meta "$len" 0x0010 $M4 1234 5678 17 14 34 64 0 0/0 ok)"
}
drv recv 1 300 && fail "armed and zoned: host-bound reached the XSK: ${DRV_OUT[*]}" ||
	pass "armed and zoned: nothing host-bound reached the XSK"
must hostin "$VB" 0 none none unzoned

# ======================= NAT on the box's own addresses (moat_nat_local) =========
# A DNAT service (own address, TCP 80) and interface-SNAT replies (ports 1024-32767) reach
# the own address but are the dataplane's: transit, before any host-inbound judgement.
nat_entries() {
	bpftool map dump pinned "$T/bpf/moat_nat_local" -j | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))'
}
# nat_redirect CASE NAME META...: CASE to the own address is redirected with exactly this
# metadata (meta's arguments after the length).
nat_redirect() {
	local case=$1 name=$2 len
	shift 2
	len=$(send "$case")
	expect 0 "NAT: $name: $case -> redirect" redirect=1
	frame_is "NAT: $name" "$(meta "$len" "$@")"
}
must natlocal 10.77.1.1,tcp,80 10.77.1.1,udp,0,1024-32767 10.77.1.1,icmp,0,1024-32767 \
	2001:db8:1::1,udp,0,1024-32767 2001:db8:1::1,icmp,0,1024-32767
n=$(nat_entries)
[[ $n == 5 ]] && pass "set_nat_local: 5 entries pinned" || fail "set_nat_local: $n entries, want 5"
L4="10.77.1.2 10.77.1.1"
L6="2001:db8:1::2 2001:db8:1::1"
# shellcheck disable=SC2086 # $L4/$L6 are two words on purpose
{
	nat_redirect tcp,4,S,80 "DNAT service" 0x0010 $L4 40001 80 6 14 34 64 0 0/0 ok
	nat_redirect tcp,4,A,80,40001 "DNAT service, later segment" 0x0010 $L4 40001 80 6 14 34 64 0 0/0 ok
	nat_redirect udp,4,2000 "SNAT reply UDP" 0x0010 $L4 40002 2000 17 14 34 64 0 0/0 ok
	nat_redirect udp,4,1024 "SNAT reply UDP, range start" 0x0010 $L4 40002 1024 17 14 34 64 0 0/0 ok
	nat_redirect udp,4,32767 "SNAT reply UDP, range end" 0x0010 $L4 40002 32767 17 14 34 64 0 0/0 ok
	nat_redirect udp,6,2000 "SNAT reply UDP over IPv6" 0x0011 $L6 40002 2000 17 14 54 64 0 0/0 ok
	nat_redirect icmp,4,0,2000 "SNAT echo reply" 0x0010 $L4 2000 0 1 14 34 64 0 0/0 none
	nat_redirect icmp,6,129,2000 "SNAT ICMPv6 echo reply" 0x0011 $L6 2000 0 58 14 54 64 0 129/0 none
	nat_redirect icmperr,4,udp,2000 "error quoting an SNAT UDP port" 0x0030 $L4 0 0 1 14 34 64 0 3/3 none
	nat_redirect icmperr,4,icmp,3000 "error quoting an SNAT echo id" 0x0030 $L4 0 0 1 14 34 64 0 3/3 none
	nat_redirect icmperr,4,tcp,80 "error quoting the DNAT service's reply" 0x0030 $L4 0 0 1 14 34 64 0 3/3 none
	nat_redirect icmperr,6,udp,2000 "ICMPv6 error quoting an SNAT UDP port" 0x0031 $L6 0 0 58 14 54 64 0 1/4 none
}
hi tcp,4,S,22 host_pass "NAT: not the DNAT port, SYN to own :22 stays the box's"
hi tcp,4,S,443 host_pass "NAT: TCP has no SNAT range, :443 stays the box's"
hi tcp,4,A,2000 host_pass "NAT: no TCP range entry"
hi udp,4,40000 host_pass "NAT: UDP to the box's ephemeral range stays the box's"
hi udp,4,1023 host_pass "NAT: UDP just below the SNAT range"
hi udp,4,32768 host_pass "NAT: UDP just above the SNAT range"
hi udp,6,40000 host_pass "NAT: UDP over IPv6 outside the range"
hi icmp,4,0,40000 host_pass "NAT: echo reply id outside the range"
hi icmp,4,8,2000 host_pass "NAT: an echo request is ping, never NAT"
hi icmperr,4,udp,40000 host_pass "NAT: error quoting an ephemeral port"
hi icmperr,4,tcp,2000 host_pass "NAT: error quoting TCP outside any entry"
hi udp,4,2000,@10.77.1.50 redirect "NAT: an address that isn't own is plain transit"
drv recv 1 1000 >/dev/null || fail "NAT: transit frame not at the XSK"
drv recv 1 300 && fail "NAT: an extra frame reached the XSK: ${DRV_OUT[*]}" ||
	pass "NAT: nothing else reached the XSK"

# Zoned: NAT traffic is not host-inbound; the rest still is.
must hostin "$VB" 3 ping none zoned
hi tcp,4,S,22 drop_host_inbound "NAT, zoned: ssh not allowed"
# shellcheck disable=SC2086
nat_redirect tcp,4,S,80 "zoned, http not allowed but DNAT" 0x0010 $L4 40001 80 6 14 34 64 0 0/0 ok
hi udp,4,35000 drop_host_inbound "NAT, zoned: UDP outside both ranges"
# shellcheck disable=SC2086
nat_redirect udp,4,2000 "zoned, SNAT reply" 0x0010 $L4 40002 2000 17 14 34 64 0 0/0 ok
hi udp,4,45000 host_pass "NAT, zoned: the box's ephemeral range"
must hostin "$VB" 0 none none unzoned

# Unarmed: NAT traffic takes the transit fallback, never the kernel's sockets.
must arm "$VB" 0
hi tcp,4,S,80 fallback_pass "NAT, unarmed: DNAT service"
hi udp,4,2000 fallback_pass "NAT, unarmed: SNAT reply"
hi icmperr,4,udp,2000 fallback_pass "NAT, unarmed: error quoting an SNAT port"
hi tcp,4,S,22 host_pass "NAT, unarmed: ssh still the box's"
must legacy "$T/legacy_settle.bpf.o"
hi tcp,4,S,80 tail_call "NAT, unarmed, legacy program: DNAT service"
must legacy-clear
must arm "$VB" 1
drv recv 1 300 && fail "NAT, unarmed: a frame reached the XSK: ${DRV_OUT[*]}" ||
	pass "NAT, unarmed: nothing reached the XSK"

# Replacing the set removes stale entries; bad sets are refused and change nothing.
must natlocal 10.77.1.1,tcp,80
n=$(nat_entries)
[[ $n == 1 ]] && pass "set_nat_local replaces the set: 1 entry left" ||
	fail "set_nat_local left $n entries, want 1"
hi udp,4,2000 host_pass "NAT: SNAT range removed, UDP :2000 is the box's again"
for bad in "10.77.1.1,udp,0,5-1" "10.77.1.1,udp,0,0-10" "10.77.1.1,47,0,1-2" \
	"10.77.1.1,58,0,1-2" "2001:db8:1::1,1,0,1-2" "10.77.1.1,udp,9 10.77.1.1,udp,9"; do
	# shellcheck disable=SC2086 # one or two entries on purpose
	drv natlocal $bad && fail "set_nat_local($bad) accepted" ||
		pass "set_nat_local($bad) refused"
done
n=$(nat_entries)
[[ $n == 1 ]] && pass "refused sets left the map alone" || fail "after refused sets: $n entries"
# shellcheck disable=SC2086
nat_redirect tcp,4,S,80 "DNAT entry kept" 0x0010 $L4 40001 80 6 14 34 64 0 0/0 ok
must natlocal
n=$(nat_entries)
[[ $n == 0 ]] && pass "set_nat_local(empty) empties the map" ||
	fail "set_nat_local(empty): $n entries"
hi tcp,4,S,80 host_pass "NAT: no entries, SYN to own :80 is the box's"

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
must hostin "$VB" 5 ssh bgp zoned
mark 0
before_rx=${NOW[rx]}
must close
[[ $(xdp_prog_id "$NSB" "$VB") == "$PROG1" ]] &&
	pass "close without detach: the shim stays attached" ||
	fail "close without detach: XDP program on $VB is '$(xdp_prog_id "$NSB" "$VB")'"
must open "$BPF_DIR" "$T/bpf"
must iface "$VB"
[[ ${DRV_OUT[0]} == "iface ifindex=$IFB slot=0 flags=0x9 zone=5 svc=0x2 proto=0x1" ]] &&
	pass "reopen disarms, keeps the zone's filter: ${DRV_OUT[0]}" ||
	fail "reopen: ${DRV_OUT[0]} (want disarmed and zoned 0x9, zone 5)"
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
[[ ${DRV_OUT[0]} == "ctrl flags=0x1 ncpus=$(nproc) generation=42 ephemeral=40000-50000" ]] &&
	pass "set_generation: ${DRV_OUT[0]}" || fail "set_generation: ${DRV_OUT[0]}"

# ======================= generic mode (lo has no native XDP) =====================
if drv attach lo 1 native; then
	fail "attach lo native_only succeeded: ${DRV_OUT[*]}"
else
	pass "attach lo native_only refused: ${DRV_ERR#ERR }"
fi
# Set before the attach: the entry is written zoned from the start.
must hostin lo 7 ping none zoned
must iface lo
[[ ${DRV_OUT[0]} == *absent ]] && pass "set_host_inbound before attach: nothing written yet" ||
	fail "set_host_inbound before attach: ${DRV_OUT[0]}"
must attach lo 1
[[ ${DRV_OUT[0]} == mode=generic* ]] && pass "attach lo: ${DRV_OUT[0]}" ||
	fail "attach lo: ${DRV_OUT[0]}"
ip -n "$NSB" link show lo | grep -q xdpgeneric && pass "the kernel shows xdpgeneric on lo" ||
	fail "no xdpgeneric on lo"
iface_is lo "iface ifindex=1 slot=1 flags=0x9 zone=7 svc=0x1 proto=0x0" \
	"attach applies the host-inbound set before it"
mark 1
ping_ok "$NSB" 127.0.0.1 2 && pass "generic: ping 127.0.0.1 answered" ||
	fail "generic: ping 127.0.0.1 not answered"
expect 1 "generic: 2 requests + 2 replies, not local -> fallback_pass" fallback_pass=4
must locals "10.77.1.1@$VB" "2001:db8:1::1@$VB" "127.0.0.1@lo"
ping_ok "$NSB" 127.0.0.1 2 && pass "generic: ping 127.0.0.1 answered (host-bound, cpumap on)" ||
	fail "generic: ping 127.0.0.1 not answered through cpumap"
expect 1 "generic: local 127.0.0.1 -> host_pass" host_pass=4
# native_only must not cost the interface its generic program: the kernel refuses a native
# attach while a generic program is there, so bootstrap removes it, tries, and puts it back.
GEN=$(xdp_prog_id "$NSB" lo)
if drv attach lo 1 native; then
	fail "attach lo native_only over generic succeeded: ${DRV_OUT[*]}"
else
	[[ -n $GEN && $(xdp_prog_id "$NSB" lo) == "$GEN" ]] &&
		ip -n "$NSB" link show lo | grep -q xdpgeneric &&
		pass "native_only refused over generic: program $GEN still attached in generic mode" ||
		fail "native_only refused over generic: lo has '$(xdp_prog_id "$NSB" lo)', was $GEN"
fi
iface_is lo "iface ifindex=1 slot=1 flags=0x9 zone=7 svc=0x1 proto=0x0" \
	"failed native_only attach left lo's entry alone"
ping_ok "$NSB" 127.0.0.1 1 && pass "generic shim still runs on lo: ping answered" ||
	fail "after the failed native_only attach: ping 127.0.0.1 not answered"
expect 1 "the generic shim still counts on lo" host_pass=2
must detach lo
[[ -z $(xdp_prog_id "$NSB" lo) ]] && ! ip -n "$NSB" link show lo | grep -q xdp &&
	pass "detach lo: no XDP program left" || fail "detach lo: XDP still on lo"
must iface lo
[[ ${DRV_OUT[0]} == *absent ]] && pass "detach lo: removed from moat_ifaces" ||
	fail "detach lo: ${DRV_OUT[0]}"

# ======================= a restarted controld keeps the zone's filter =============
must hostin "$VB" 6 ping,dns rip zoned
must close
must open "$BPF_DIR" "$T/bpf"
must attach "$VB" 0
iface_is "$VB" "iface ifindex=$IFB slot=0 flags=0x9 zone=6 svc=0x21 proto=0x8" \
	"attach after a restart keeps the previous controld's filter"
mark 0
hi tcp,4,S,22 drop_host_inbound "after a restart: ssh not allowed"
hi udp,4,53 host_pass "after a restart: dns allowed"

# ======================= close with detach =======================================
must close detach
ip -n "$NSB" link show "$VB" | grep -q xdp && fail "close detach: XDP still on $VB" ||
	pass "close detach: no XDP program left on $VB"
must iface "$VB"
[[ ${DRV_OUT[0]} == *absent ]] && pass "close detach: $VB removed from moat_ifaces" ||
	fail "close detach: ${DRV_OUT[0]}"

echo "---- $PASSES passed, $FAILS failed ----"
((FAILS == 0))
