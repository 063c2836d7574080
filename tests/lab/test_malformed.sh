#!/usr/bin/env bash
# Malformed packets (issue 9) through a running Moat on the userspace path
# (tests/lab/configs/malformed.conf: trust -> untrust permits TCP 80, UDP 5000 and ping; the
# trust zone screens IPv4 and IPv6 fragments: overlaps, ping of death).
# tests/lab/malformed.py, one scapy process in the client namespace, sends the corpus: bad
# IHL, bad IP total lengths, truncated TCP headers, bad TCP data offsets, bad and zero UDP
# lengths, TTL / hop limit 0, 1 and 2, IPv4 and IPv6 fragments (permitted,
# first-fragment-only policy bypass attempts, later fragments without or before their first,
# tiny first fragments, overlaps, IPv6 ping of death), IPv6 extension-header chains (long,
# too long, too deep, unknown next header, overruns) and ICMP/ICMPv6 errors quoting live,
# absent and other hosts' flows. For each case: the exact change of the shim, worker and
# screen counters, and how many of its frames tcpdump saw at the server. Afterwards both
# daemons still run and ping / TCP still forward, and VLAN-tagged frames (one tag, two) leave
# untagged, as their untagged twins (lib_vlan.sh; test_legacy_suite.sh checks the kernel path).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_vlan.sh"
lab_init malformed
lab_topology
CONF="$RUN/moat.conf"
cp "$LAB_TOP/tests/lab/configs/malformed.conf" "$CONF"
moat_start_spawned "$CONF" || exit 1
check "armed (userspace path)" wait_for 15 armed is_armed
HELPER=$(pgrep -f "moat-dataplane --run-dir $RUN" | head -1)

# Neighbours known in both directions before the corpus (no first-packet resolve drops).
check "ping through Moat before the corpus" ip netns exec "$NS_CLI" ping -c 2 -i 0.2 -W 1 10.77.2.2
check "ping6 through Moat before the corpus" wait_for 10 ping6 ip netns exec "$NS_CLI" ping -6 -c 1 -W 1 fd00:77:2::2

# Static neighbours on the firewall: a corpus that runs for minutes (sanitizer build, busy
# machine) must not meet a neighbour the kernel aged out meanwhile.
for a in 10.77.2.2:s0:fw1:"$NS_SRV" fd00:77:2::2:s0:fw1:"$NS_SRV" 10.77.1.2:c0:fw0:"$NS_CLI" fd00:77:1::2:c0:fw0:"$NS_CLI"; do
	ns=${a##*:}; a=${a%:*}; fwif=${a##*:}; a=${a%:*}; hif=${a##*:}; addr=${a%:*}
	mac=$(ip netns exec "$ns" cat "/sys/class/net/$hif/address")
	ip -n "$NS_FW" neigh replace "$addr" lladdr "$mac" dev "$fwif" nud permanent
done

# The server answers nothing while the corpus runs (no RST, no ICMP errors, no reassembly
# timeouts): only the corpus's frames move the counters. Neighbour discovery still works.
ip netns exec "$NS_SRV" nft -f - <<'EOF'
table inet quiet {
	chain out {
		type filter hook output priority 0; policy drop;
		icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit } accept
	}
}
EOF
ip netns exec "$NS_SRV" tcpdump -i s0 -U --immediate-mode -n -s 256 -w "$RUN/srv.pcap" >"$RUN/tcpdump.log" 2>&1 &
TCPDUMP=$!
LAB_PIDS+=("$TCPDUMP")
wait_for 5 "tcpdump listening" grep -q "listening on" "$RUN/tcpdump.log"

FW_MAC=$(ip netns exec "$NS_FW" cat /sys/class/net/fw0/address)
start=$SECONDS
ip netns exec "$NS_CLI" "$PY" "$LAB_TOP/tests/lab/malformed.py" c0 "$FW_MAC" "$RUN/srv.pcap" \
	"$MOAT_BUILD/moatctl" --run-dir "$RUN" >"$RUN/corpus.out" 2>&1
echo "corpus: $((SECONDS - start)) s"
while IFS= read -r line; do
	case $line in
	PASS:*) pass "${line#PASS: }" ;;
	FAIL:*) fail "${line#FAIL: }" ;;
	*) echo "$line" ;;
	esac
done <"$RUN/corpus.out"
check "the corpus ran to its end" grep -q "^corpus: " "$RUN/corpus.out"
kill "$TCPDUMP" 2>/dev/null
ip netns exec "$NS_SRV" nft delete table inet quiet

moatctl show dataplane statistics | grep -E "shim|parse_errors|frag_drops|ttl_expired|icmp_error" | head -20
check "controld still running" kill -0 "$CONTROLD_PID"
check "the helper still running (same process)" kill -0 "$HELPER"
check "still armed" is_armed
check "ping still forwards" ip netns exec "$NS_CLI" ping -c 2 -i 0.2 -W 1 10.77.2.2
check "ping6 still forwards" ip netns exec "$NS_CLI" ping -6 -c 2 -i 0.2 -W 1 fd00:77:2::2
# VLAN tags (tests/lab/lib_vlan.sh): taken off, the frame leaves as its untagged twin.
vlan_through userspace
ip netns exec "$NS_SRV" bash -c 'echo served | nc -l -p 80 -q 1' >/dev/null 2>&1 &
LAB_PIDS+=($!)
sleep 0.3
tcp_ok() { [ "$(ip netns exec "$NS_CLI" nc -w 3 10.77.2.2 80 </dev/null)" = served ]; }
check "a TCP connection to port 80 still works" tcp_ok
lab_finish
