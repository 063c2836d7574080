#!/usr/bin/env bash
# Forwarding through the userspace dataplane: ping (IPv4 and IPv6, both ways), an iperf3
# TCP stream, a UDP stream, a static route. ip_forward is 0 in the firewall namespace, so
# anything that crosses it was forwarded by Moat; the counters must say so too.
# lab: alone (iperf3 rates and UDP loss bounds)
set -uo pipefail
. "$(dirname "$0")/lib.sh"
lab_init forwarding
lab_topology
moat_start_spawned "$LAB_TOP/tests/lab/configs/foundation.conf" || exit 1

check "controld arms forwarding once the helper applied its snapshot" wait_for 15 armed is_armed
moatctl show system status
check "status names the mode userspace" bash -c "[ \"\$($MOAT_BUILD/moatctl --run-dir $RUN show system status | sed -n 's/^mode: //p')\" = userspace ]"
check "status gives a reason" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show system status | grep -q '^reason: .*AF_XDP'"
check "controld gave fw0 its configured address" ip -n "$NS_FW" addr show dev fw0 to 10.77.1.1/24
check "kernel forwarding is off in the firewall" bash -c "[ \$(ip netns exec $NS_FW sysctl -n net.ipv4.ip_forward) = 0 ]"

# Warm-up: the first packet towards an unresolved neighbour is dropped while controld
# asks the kernel to resolve it (counted as neigh_miss).
ip netns exec "$NS_CLI" ping -c 1 -W 1 10.77.2.2 >/dev/null 2>&1
ip netns exec "$NS_CLI" ping -6 -c 1 -W 1 fd00:77:2::2 >/dev/null 2>&1
sleep 0.5

redir0=$(counter shim redirect)
rx0=$(counter worker rx_packets)
check "IPv4 ping client -> server" ip netns exec "$NS_CLI" ping -c 5 -i 0.2 -W 2 10.77.2.2
check "IPv4 ping server -> client" ip netns exec "$NS_SRV" ping -c 5 -i 0.2 -W 2 10.77.1.2
check "IPv6 ping client -> server" ip netns exec "$NS_CLI" ping -6 -c 5 -i 0.2 -W 2 fd00:77:2::2
check "IPv6 ping server -> client" ip netns exec "$NS_SRV" ping -6 -c 5 -i 0.2 -W 2 fd00:77:1::2
redir1=$(counter shim redirect)
rx1=$(counter worker rx_packets)
check "pings were redirected by the shim (redirect $redir0 -> $redir1, >= 40 more)" [ $((redir1 - redir0)) -ge 40 ]
check "pings were received by the worker (rx $rx0 -> $rx1)" [ $((rx1 - rx0)) -ge 40 ]
check "ping to the firewall itself is host-bound (answered by its kernel)" ip netns exec "$NS_CLI" ping -c 2 -i 0.2 -W 2 10.77.1.1
check "host-bound traffic counted as host_pass" [ "$(counter shim host_pass fw0)" -gt 0 ]

# A route behind the server: 10.99.0.0/16 via 10.77.2.2.
ip -n "$NS_SRV" addr add 10.99.1.1/32 dev lo
check "static route 10.99.0.0/16 via the server" ip netns exec "$NS_CLI" ping -c 3 -i 0.2 -W 2 10.99.1.1

# TCP: an iperf3 stream for 3 seconds, both IPv4 and IPv6.
ip netns exec "$NS_SRV" iperf3 -s -D -1 -p 5201 --logfile "$RUN/iperf-srv.log"
ip netns exec "$NS_SRV" iperf3 -s -D -p 5202 --logfile "$RUN/iperf-srv6.log"
sleep 0.5
fwd0=$(counter worker forwarded)
if ip netns exec "$NS_CLI" iperf3 -c 10.77.2.2 -p 5201 -t 3 -J >"$RUN/iperf-tcp.json" 2>&1; then
	bps=$($PY -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]))' "$RUN/iperf-tcp.json")
	echo "    TCP IPv4: $((bps / 1000000)) Mbit/s"
	check "iperf3 TCP IPv4 moved data (> 10 Mbit/s)" [ "$bps" -gt 10000000 ]
else
	fail "iperf3 TCP IPv4 stream"
	tail -5 "$RUN/iperf-tcp.json"
fi
fwd1=$(counter worker forwarded)
check "the TCP stream was forwarded by the worker (forwarded +$((fwd1 - fwd0)))" [ $((fwd1 - fwd0)) -gt 1000 ]

if ip netns exec "$NS_CLI" iperf3 -6 -c fd00:77:2::2 -p 5202 -t 2 -J >"$RUN/iperf-tcp6.json" 2>&1; then
	bps=$($PY -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]))' "$RUN/iperf-tcp6.json")
	echo "    TCP IPv6: $((bps / 1000000)) Mbit/s"
	check "iperf3 TCP IPv6 moved data (> 10 Mbit/s)" [ "$bps" -gt 10000000 ]
else
	fail "iperf3 TCP IPv6 stream"
	tail -5 "$RUN/iperf-tcp6.json"
fi

# UDP: 2 seconds at 50 Mbit/s; most datagrams must arrive.
if ip netns exec "$NS_CLI" iperf3 -c 10.77.2.2 -p 5202 -u -b 50M -t 2 -J >"$RUN/iperf-udp.json" 2>&1; then
	read -r pkts lost < <($PY -c 'import json,sys; s=json.load(open(sys.argv[1]))["end"]["sum"]; print(s["packets"], s["lost_packets"])' "$RUN/iperf-udp.json")
	echo "    UDP: $pkts datagrams, $lost lost"
	check "iperf3 UDP: datagrams arrived (loss < 10%)" [ "$pkts" -gt 1000 ] && [ $((lost * 10)) -lt "$pkts" ]
else
	fail "iperf3 UDP stream"
	tail -5 "$RUN/iperf-udp.json"
fi

moatctl show interfaces
moatctl show route
moatctl show dataplane statistics
check "no parse errors in the worker" [ "$(counter worker parse_errors)" -eq 0 ]
check "the fill ring never ran dry of buffers" [ "$(counter worker rx_alloc_errors)" -eq 0 ]
check "show interfaces reports the XSK bind mode" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show interfaces | grep -E '^fw0 .* q0:(copy|zerocopy) '"
check "show route lists the static route with its neighbour" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show route | grep -E '^10.99.0.0/16 +static +10.77.2.2 +fw1 +..:'"
lab_finish
