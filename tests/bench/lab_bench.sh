#!/usr/bin/env bash
# Lab benchmark (not a test): TCP throughput and 64-byte UDP packet rate through
#   (a) Linux forwarding with an XDP pass program attached,
#   (b) Linux forwarding + nftables conntrack + masquerade (XDP pass attached too),
#   (c) Moat (userspace AF_XDP dataplane) running the standalone example adapted to the lab
#       (tests/lab/configs/nat-standalone.conf: zones, policies, interface SNAT, DNAT),
# on one topology, in one run, and prints the ratios c/a and c/b. The machine is noisy and
# the generator, firewall and receiver share 2 vCPUs: read the ratios, not the figures.
#
# Then a sustained run per setup: one TCP stream for SUSTAINED seconds with one-second
# samples; prints the peak (median of the 5 best seconds), the tail median (last 10 s) and
# tail/peak — a dataplane that collapses after start-up shows a low tail/peak (target >= 0.8).
#
#   bash tests/bench/lab_bench.sh [SECONDS [SUSTAINED]]   (root; MOAT_BUILD=build by default;
#                                                          SUSTAINED 60 by default, 0 skips)
#   MOAT_BENCH_SETUPS=cd   runs only those setups (default abcde); the ratios need a and b.
#   MOAT_BENCH_PIN_GEN=1   the sustained runs' iperf3 client and server on CPU 0 (all setups).
# (e) is (c) with `worker-cpus` pinning the worker to the last CPU.
# Each sustained run also prints its per-second samples (Mbit/s), so a decline over the run
# can be told from noise around a flat line.
set -uo pipefail
. "$(dirname "$0")/../lab/lib.sh"
DUR=${1:-5}
SUSTAINED=${2:-60}
lab_init bench
lab_topology

clang -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -c "$LAB_TOP/tests/bench/xdp_pass.bpf.c" -o "$RUN/xdp_pass.o"
ip netns exec "$NS_SRV" iperf3 -s -D -p 5201 --logfile "$RUN/iperf-srv.log"
sleep 0.5

tcp_bps() {
	ip netns exec "$NS_CLI" iperf3 -c 10.77.2.2 -p 5201 -t "$DUR" -J >"$RUN/tcp.json" 2>&1 || { echo 0; return; }
	$PY -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]))' "$RUN/tcp.json"
}
udp_pps() {
	ip netns exec "$NS_CLI" iperf3 -c 10.77.2.2 -p 5201 -u -l 64 -b 0 -t "$DUR" -J >"$RUN/udp.json" 2>&1 || { echo 0; return; }
	$PY -c '
import json,sys
s = json.load(open(sys.argv[1]))["end"]["sum"]
print(int((s["packets"] - s["lost_packets"]) / s["seconds"]))' "$RUN/udp.json"
}
sustained() { # sustained LABEL KEY: one TCP stream, per-second samples, peak vs tail
	[ "$SUSTAINED" -gt 0 ] || return 0
	ip netns exec "$NS_CLI" $GEN_PIN iperf3 -c 10.77.2.2 -p 5201 -t "$SUSTAINED" -i 1 -J $GEN_AFF >"$RUN/sustained-$2.json" 2>&1
	local line
	line=$($PY -c '
import json, statistics, sys
try:
    v = [i["sum"]["bits_per_second"] for i in json.load(open(sys.argv[1]))["intervals"]]
except Exception:
    v = []
if len(v) < 10:
    print("0 0 0.00 0.00"); sys.exit()
peak = statistics.median(sorted(v)[-5:])
tail = statistics.median(v[-10:])
print("%d %d %.2f %.2f" % (peak, tail, tail / peak if peak else 0, min(v[-10:]) / peak if peak else 0))
print(" ".join("%.0f" % (x / 1e6) for x in v), file=sys.stderr)' "$RUN/sustained-$2.json" 2>"$RUN/samples-$2.txt")
	local peak tail ratio low
	read -r peak tail ratio low <<<"$line"
	printf '%-40s sustained %ss: peak %6.0f Mbit/s  tail %6.0f Mbit/s  tail/peak %s  worst-of-tail/peak %s\n' \
		"$1" "$SUSTAINED" "$(echo "$peak / 1000000" | bc -l)" "$(echo "$tail / 1000000" | bc -l)" "$ratio" "$low"
	echo "    per second: $(cat "$RUN/samples-$2.txt")"
	eval "SUST_$2=$ratio"
}
measure() { # measure LABEL
	ip netns exec "$NS_CLI" ping -c 2 -i 0.2 -W 1 10.77.2.2 >/dev/null 2>&1
	local t u
	t=$(tcp_bps)
	u=$(udp_pps)
	printf '%-40s TCP %8.0f Mbit/s   UDP-64 %9d pkt/s\n' "$1" "$(echo "$t / 1000000" | bc -l)" "$u"
	eval "TCP_$2=$t; UDP_$2=$u"
}

kernel_fw_up() {
	ip -n "$NS_FW" addr add 10.77.1.1/24 dev fw0
	ip -n "$NS_FW" addr add 10.77.2.1/24 dev fw1
	ip -n "$NS_FW" link set fw0 up
	ip -n "$NS_FW" link set fw1 up
	ip netns exec "$NS_FW" sysctl -qw net.ipv4.ip_forward=1
	for i in fw0 fw1; do ip -n "$NS_FW" link set dev $i xdpdrv obj "$RUN/xdp_pass.o" sec xdp; done
}
kernel_fw_down() {
	for i in fw0 fw1; do ip -n "$NS_FW" link set dev $i xdpdrv off; done
	ip netns exec "$NS_FW" sysctl -qw net.ipv4.ip_forward=0
	ip netns exec "$NS_FW" nft flush ruleset
	ip -n "$NS_FW" addr flush dev fw0
	ip -n "$NS_FW" addr flush dev fw1
}

SETUPS=${MOAT_BENCH_SETUPS:-abcde}
# MOAT_BENCH_PIN_GEN=1: the sustained runs' iperf3 client and server run on CPU 0 only (the
# scheduler's placement of the generator no longer adds to the noise; every setup alike).
GEN_PIN= GEN_AFF=
if [ "${MOAT_BENCH_PIN_GEN:-0}" = 1 ]; then GEN_PIN="taskset -c 0" GEN_AFF="-A 0,0"; fi
want() { [[ "$SETUPS" == *"$1"* ]]; }
for x in a b c d e; do eval "TCP_$x=0; UDP_$x=0; SUST_$x=-"; done
echo "duration ${DUR}s per measurement, $(nproc) CPUs, kernel $(uname -r), setups $SETUPS${GEN_PIN:+, iperf3 of the sustained runs on CPU 0}"
kernel_fw_up
if want a; then
	measure "(a) Linux forwarding + XDP pass" a
	sustained "(a) Linux forwarding + XDP pass" a
fi
ip netns exec "$NS_FW" nft -f - <<NFT
table ip moatbench {
  chain fwd_filter { type filter hook forward priority 0; policy drop; ct state established,related accept; iifname "fw0" oifname "fw1" ct state new accept; }
  chain post_nat { type nat hook postrouting priority 100; oifname "fw1" masquerade; }
}
NFT
if want b; then
	measure "(b) Linux + nft conntrack + masquerade" b
	sustained "(b) Linux + nft conntrack + masquerade" b
fi
kernel_fw_down

STATS_C=
if want c; then
	moat_start_spawned "${MOAT_BENCH_CONF:-$LAB_TOP/tests/lab/configs/nat-standalone.conf}" >/dev/null || exit 1
	wait_for 15 armed is_armed || exit 1
	ip netns exec "$NS_CLI" ping -c 1 -W 1 10.77.2.2 >/dev/null 2>&1
	measure "(c) Moat: policies + SNAT (AF_XDP)" c
	sustained "(c) Moat: policies + SNAT (AF_XDP)" c
	STATS_C=$(moatctl show dataplane statistics | grep -E "rx_packets|tx_ring_full|pending_tx_drops|rx_alloc_errors")
	moat_stop_all
fi

# (d) the same config on Moat's in-kernel legacy path (xdp_main_prog), mode forced.
# (e) as (c), the worker pinned to the last CPU (system dataplane worker-cpus): the scheduler
# no longer moves it onto the CPU the generator or the receiver is using.
if want e; then
	last=$(($(nproc) - 1))
	sed "s/workers 1;/workers 1; worker-cpus $last;/" "${MOAT_BENCH_CONF:-$LAB_TOP/tests/lab/configs/nat-standalone.conf}" >"$RUN/pinned.conf"
	grep -q "worker-cpus $last;" "$RUN/pinned.conf" || { echo "bench: no 'workers 1;' in the config to pin"; exit 1; }
	moat_start_spawned "$RUN/pinned.conf" >/dev/null || exit 1
	wait_for 15 armed is_armed || exit 1
	ip netns exec "$NS_CLI" ping -c 1 -W 1 10.77.2.2 >/dev/null 2>&1
	measure "(e) Moat AF_XDP, worker on CPU $last" e
	sustained "(e) Moat AF_XDP, worker on CPU $last" e
	moat_stop_all
fi

if want d; then
	sed 's/mode auto;/mode legacy;/' "${MOAT_BENCH_CONF:-$LAB_TOP/tests/lab/configs/nat-standalone.conf}" >"$RUN/legacy.conf"
	moat_start_spawned "$RUN/legacy.conf" >/dev/null || exit 1
	wait_for 15 "legacy forwarding" ip netns exec "$NS_CLI" ping -c 1 -W 1 10.77.2.2 || exit 1
	measure "(d) Moat: same config, legacy XDP path" d
	sustained "(d) Moat: same config, legacy XDP path" d
fi

ratio() { if [ "$2" -gt 0 ]; then echo "scale=2; $1 / $2" | bc; else echo "n/a"; fi; }
echo
echo "ratios:  TCP c/a $(ratio "$TCP_c" "$TCP_a")  c/b $(ratio "$TCP_c" "$TCP_b")   UDP-64 c/a $(ratio "$UDP_c" "$UDP_a")  c/b $(ratio "$UDP_c" "$UDP_b")"
echo "         TCP d/b $(ratio "$TCP_d" "$TCP_b")   UDP-64 d/b $(ratio "$UDP_d" "$UDP_b")   (d = legacy path)"
echo "         TCP e/b $(ratio "$TCP_e" "$TCP_b")   UDP-64 e/b $(ratio "$UDP_e" "$UDP_b")   (e = c, worker pinned)"
if [ "$SUSTAINED" -gt 0 ]; then
	echo "sustained tail/peak (target >= 0.8):  a $SUST_a  b $SUST_b  c $SUST_c  d $SUST_d  e $SUST_e"
fi
echo "(c) worker counters:"
echo "$STATS_C"
