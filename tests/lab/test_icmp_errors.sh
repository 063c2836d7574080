#!/usr/bin/env bash
# ICMP errors the box itself originates, as a router does, through the userspace dataplane
# with policies and interface SNAT (nat-standalone.conf, fw1 configured with `mtu 1400`):
#  1. The configured MTU is applied to the interface.
#  2. TTL / hop limit 1: "time exceeded" from the box's address on the ingress interface
#     (ping -t 1, IPv4 and IPv6), no session made, counted ttl_expired + icmp_errors_sent.
#  3. PMTU discovery: a packet with DF larger than fw1's MTU gets "fragmentation needed
#     (mtu = 1400)" (IPv6: "packet too big"), the client's route cache learns 1400, and a TCP
#     upload from a client whose server advertises a 1460 MSS (route advmss) completes through
#     SNAT instead of black-holing: the error quotes the client's own (untranslated) packet.
#  4. Without DF, a too-big IPv4 packet is dropped and counted (mtu_drops), nothing sent.
# With MOAT_FORCE_MODE=legacy (lib.sh) the same checks run against the in-kernel path
# xdp_main_prog (its counters are added to the workers' by `counter worker`).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
lab_init icmperr
lab_topology

sed 's/^    fw1 {$/    fw1 {\n        mtu 1400;/' "$LAB_TOP/tests/lab/configs/nat-standalone.conf" >"$RUN/moat.conf"
grep -q 'mtu 1400;' "$RUN/moat.conf" || { echo "could not add mtu to the config"; exit 1; }
# The server's side of the link is 1400 too (as a real link would be); the server still
# advertises a 1460-byte MSS (to 10.77.2.1, the SNAT address) so that the client sends
# full-size segments.
ip -n "$NS_SRV" link set s0 mtu 1400
ip -n "$NS_SRV" route replace 10.77.2.1/32 dev s0 advmss 1460
if legacy_forced; then
	# The kernel path sends its errors back with XDP_TX into fw0: veth delivers them to c0
	# only if c0 runs XDP too (shared/LAB.md pitfall 3), as in test_legacy_suite.sh.
	clang -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -c "$LAB_TOP/tests/bench/xdp_pass.bpf.c" -o "$RUN/xdp_pass.o"
	ip -n "$NS_CLI" link set dev c0 xdpdrv obj "$RUN/xdp_pass.o" sec xdp
fi
moat_start_spawned "$RUN/moat.conf" || exit 1
check "forwarding ready (armed; legacy forced: the config in the kernel path)" wait_for 15 ready is_ready
ip netns exec "$NS_CLI" ping -c 1 -W 1 10.77.2.2 >/dev/null 2>&1
ip netns exec "$NS_CLI" ping -6 -c 1 -W 1 fd00:77:2::2 >/dev/null 2>&1
sleep 0.3

# --- 1. the configured MTU ---
check "fw1 got the configured mtu 1400" bash -c "ip -n $NS_FW link show fw1 | grep -q 'mtu 1400 '"
moatctl show interfaces >"$RUN/interfaces.txt"
check "show interfaces shows mtu 1400 on fw1" awk '$1 == "fw1" && $4 == 1400 { f = 1 } END { exit !f }' "$RUN/interfaces.txt"

# --- 2. time exceeded ---
ttl0=$(counter worker ttl_expired)
sent0=$(counter worker icmp_errors_sent)
created0=$(counter worker sessions_created)
out=$(ip netns exec "$NS_CLI" ping -c 1 -t 1 -W 2 10.77.2.2 2>&1)
echo "$out" | sed -n 2p | sed 's/^/    /'
check "IPv4 TTL 1: time exceeded from fw0's address" grep -q 'From 10.77.1.1 icmp_seq=1 Time to live exceeded' <<<"$out"
out=$(ip netns exec "$NS_CLI" ping -6 -c 1 -t 1 -W 2 fd00:77:2::2 2>&1)
echo "$out" | sed -n 2p | sed 's/^/    /'
check "IPv6 hop limit 1: time exceeded from fw0's IPv6 address" grep -q 'From fd00:77:1::1 icmp_seq=1 Time exceeded: Hop limit' <<<"$out"
check "counted ttl_expired (+2)" [ $(($(counter worker ttl_expired) - ttl0)) -eq 2 ]
check "counted icmp_errors_sent (+2)" [ $(($(counter worker icmp_errors_sent) - sent0)) -eq 2 ]
check "an expired probe makes no session" [ "$(counter worker sessions_created)" -eq "$created0" ]
check "TTL 2 still reaches the server" ip netns exec "$NS_CLI" ping -c 1 -t 2 -W 2 10.77.2.2

# --- 3. PMTU discovery ---
mtu0=$(counter worker mtu_drops)
out=$(ip netns exec "$NS_CLI" ping -c 1 -M do -s 1450 -W 2 10.77.2.2 2>&1)
echo "$out" | sed -n 2p | sed 's/^/    /'
check "IPv4 DF 1478 bytes: fragmentation needed, mtu 1400, from fw0" grep -q 'From 10.77.1.1 icmp_seq=1 Frag needed and DF set (mtu = 1400)' <<<"$out"
check "the client's route cache learned mtu 1400" bash -c "ip -n $NS_CLI route get 10.77.2.2 | grep -q 'mtu 1400'"
check "a ping that fits now passes (1372 bytes)" ip netns exec "$NS_CLI" ping -c 1 -M do -s 1344 -W 2 10.77.2.2
out=$(ip netns exec "$NS_CLI" ping -6 -c 1 -M do -s 1450 -W 2 fd00:77:2::2 2>&1)
echo "$out" | sed -n 2p | sed 's/^/    /'
check "IPv6 1498 bytes: packet too big, mtu 1400, from fw0" grep -q 'From fd00:77:1::1 icmp_seq=1 Packet too big: mtu=1400' <<<"$out"
check "the client's IPv6 route cache learned mtu 1400" bash -c "ip -6 -n $NS_CLI route get fd00:77:2::2 | grep -q 'mtu 1400'"
check "counted mtu_drops (+2)" [ $(($(counter worker mtu_drops) - mtu0)) -eq 2 ]

# TCP upload through SNAT with a forgotten PMTU: the first full-size segments are too big.
ip -n "$NS_CLI" route flush cache
ip -6 -n "$NS_CLI" route flush cache
head -c 3000000 /dev/urandom >"$RUN/upload.bin"
want=$(sha256sum <"$RUN/upload.bin" | cut -d' ' -f1)
ip netns exec "$NS_SRV" timeout 20 nc -l -p 7070 -N >"$RUN/received.bin" 2>/dev/null &
srv=$!
sleep 0.3
sent0=$(counter worker icmp_errors_sent)
ip netns exec "$NS_CLI" timeout 15 nc -N 10.77.2.2 7070 <"$RUN/upload.bin"
rc=$?
wait "$srv" 2>/dev/null
got=$(sha256sum <"$RUN/received.bin" | cut -d' ' -f1)
echo "    TCP upload: nc exit $rc, $(stat -c %s "$RUN/received.bin") of 3000000 bytes arrived"
check "3 MB TCP upload through SNAT completes intact (PMTU learned from the box)" [ "$rc" -eq 0 -a "$got" = "$want" ]
check "the box sent fragmentation-needed for it" [ "$(counter worker icmp_errors_sent)" -gt "$sent0" ]
check "the client learned mtu 1400 for the server" bash -c "ip -n $NS_CLI route get 10.77.2.2 | grep -q 'mtu 1400'"

# --- 4. without DF ---
mtu0=$(counter worker mtu_drops)
sent0=$(counter worker icmp_errors_sent)
ip netns exec "$NS_CLI" ping -c 1 -M dont -s 1450 -W 1 10.99.1.1 >/dev/null 2>&1
check "IPv4 without DF, too big: dropped and counted" [ $(($(counter worker mtu_drops) - mtu0)) -eq 1 ]
check "... and nothing sent back" [ "$(counter worker icmp_errors_sent)" -eq "$sent0" ]

check "controld still running" kill -0 "$CONTROLD_PID"
lab_finish
