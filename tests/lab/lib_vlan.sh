# shellcheck shell=bash
# VLAN-tagged frames through Moat, the same check for either path (sourced after lib.sh;
# test_malformed.sh runs it on the userspace path, test_legacy_suite.sh on the kernel path).
#
# vlan_through PATH: from c0, an IPv4 UDP datagram behind one 802.1Q tag and an IPv6 one
# (destination options) behind two tags (802.1ad, 802.1Q), each followed by its untagged twin
# (another source port), all to UDP 5000 at the server, which the config must permit from
# trust. The server's tcpdump -e must see each tagged frame once, untagged, from fw1's MAC, TTL
# / hop limit 63, and exactly as its twin (the source port aside): the helper
# (dataplane/flow.c transmit) and xdp_main_prog (strip_vlan) both take the tags off.
vlan_through() {
	local path=$1 pcap="$RUN/vlan.pcap" tcpd fw0mac fw1mac line twin
	fw0mac=$(ip netns exec "$NS_FW" cat /sys/class/net/fw0/address)
	fw1mac=$(ip netns exec "$NS_FW" cat /sys/class/net/fw1/address)
	ip netns exec "$NS_SRV" tcpdump -i s0 -U --immediate-mode -n -w "$pcap" \
		"ip6 or (udp and (port 41001 or port 41011))" >"$RUN/vlan_tcpdump.log" 2>&1 &
	tcpd=$!
	wait_for 5 "tcpdump listening" grep -q "listening on" "$RUN/vlan_tcpdump.log"
	ip netns exec "$NS_CLI" "$PY" -c 'import sys, time
from scapy.all import Ether, Dot1Q, Dot1AD, IP, IPv6, IPv6ExtHdrDestOpt, UDP, Raw, sendp
e = Ether(dst=sys.argv[1])
v4 = lambda sp: IP(src="10.77.1.2", dst="10.77.2.2", ttl=64, id=7) / UDP(sport=sp, dport=5000) / Raw(b"vlan4")
v6 = lambda sp: IPv6(src="fd00:77:1::2", dst="fd00:77:2::2", hlim=64) / IPv6ExtHdrDestOpt() / UDP(sport=sp, dport=5000) / Raw(b"vlan6")
for f in (e / Dot1Q(vlan=5) / v4(41001), e / v4(41011),
          Ether(dst=sys.argv[1], type=0x88a8) / Dot1AD(vlan=7, type=0x8100) / Dot1Q(vlan=5) / v6(41002), e / v6(41012)):
    sendp(f, iface="c0", verbose=0)
    time.sleep(0.1)' "$fw0mac"
	sleep 0.5
	kill "$tcpd" 2>/dev/null
	wait "$tcpd" 2>/dev/null
	# One line a frame (tcpdump -v continues a frame on indented lines); only the test's ports
	# (the filter cannot see UDP behind an IPv6 extension header: all of IPv6 was captured).
	ip netns exec "$NS_SRV" tcpdump -e -v -n -t -r "$pcap" 2>/dev/null | sed -e ':a' -e 'N;s/\n    / /;ta' -e 'P;D' |
		grep -E '[. ]410[01][12] > ' >"$RUN/vlan.txt"
	sed 's/^/    server: /' "$RUN/vlan.txt"
	for sp in 41001 41002; do
		# IPv4: "10.77.1.2.41001 > ..."; IPv6 behind destination options: "DSTOPT (padn) 41002 > ...".
		line=$(grep -E "[. ]$sp > " "$RUN/vlan.txt")
		twin=$(grep -E "[. ]$((sp + 10)) > " "$RUN/vlan.txt")
		check "$path: the tagged frame (port $sp) reached the server once, untagged, from fw1's MAC, TTL/hop limit 63" \
			bash -c "[ \$(grep -c . <<<'$line') -eq 1 ] && grep -q '^$fw1mac > ' <<<'$line' && ! grep -qiE '802\\.1|vlan' <<<'$line' && grep -qE '(ttl|hlim) 63' <<<'$line'"
		check "$path: the tagged frame (port $sp) left as its untagged twin did (tcpdump -e)" \
			test -n "$line" -a "${line//$sp >/X >}" = "${twin//$((sp + 10)) >/X >}"
	done
}
