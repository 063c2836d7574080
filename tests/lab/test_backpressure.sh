#!/usr/bin/env bash
# Backpressure (issue 6 item 5), one worker:
# 1. Sustained: a 20-second TCP stream does not collapse after start-up: its second half
#    keeps >= 0.6 of its first half's median rate and no late second falls near zero.
# 2. Overload: UDP offered for 30 s as fast as two iperf3 streams can send (more than
#    passes); the fill ring level (sampled) never drops to zero, the drops are counted, and
#    a TCP stream right after forwards at least half of what it did before.
# 3. Blocked TX: the egress peer (s0) runs a slow XDP program (tests/lab/slow_xdp.bpf.c) and
#    fw1 has a qdisc, so veth pushes back on fw1's TX ring (the kernel's veth only applies
#    backpressure with a qdisc): the TX ring fills, the worker drops and counts at its
#    bounded pending queue, keeps its fill rings full, and recovers as soon as the program
#    is gone.
# lab: alone (measures rates: TCP before/after an overload, fill-ring levels)
set -uo pipefail
. "$(dirname "$0")/lib.sh"
lab_init backpressure
lab_topology

CONF=$RUN/moat.conf
cp "$LAB_TOP/tests/lab/configs/foundation.conf" "$CONF"
w() { counter worker "$1"; }
tcp_mbps() { # PORT SECONDS
	ip netns exec "$NS_CLI" iperf3 -c 10.77.2.2 -p "$1" -t "$2" -J |
		$PY -c 'import json,sys; print(int(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e6))'
}
# sample_fill SECONDS FILE: the fill ring level gauge every 0.2 s.
sample_fill() {
	local end=$((SECONDS + $1))
	: >"$2"
	while [ $SECONDS -lt "$end" ]; do
		w fill_level >>"$2"
		sleep 0.2
	done
}

moat_start_spawned "$CONF" || exit 1
check "armed" wait_for 15 armed is_armed
ip netns exec "$NS_CLI" ping -c 1 -W 1 10.77.2.2 >/dev/null 2>&1
ip netns exec "$NS_SRV" iperf3 -s -D -p 5401 --logfile "$RUN/iperf-srv1.log"
ip netns exec "$NS_SRV" iperf3 -s -D -p 5402 --logfile "$RUN/iperf-srv2.log"
sleep 0.3

# ---------------------------------------------------------------- 1. sustained
ip netns exec "$NS_CLI" iperf3 -c 10.77.2.2 -p 5401 -t 20 -J >"$RUN/sustained.json"
# A collapse after start-up (the fill ring run dry, RX stopped, a queue that only grows)
# makes the second half of the run slower than the first and leaves seconds near zero. On
# this 2-vCPU VM one TCP stream through veth swings by +-30% from second to second whatever
# forwards it (CI saw 1683..4021 Mbit/s within one Moat run; Linux forwarding's 60 s
# tail/peak on the same topology is 0.70), so the best seconds are no reference for the
# last ones. Asserted: the median of the second 10 s is >= 0.6 x the median of the first
# 10 s, and no second of the last ten is below 0.25 x the run's median. Reported besides:
# peak (median of the 5 best seconds), tail (median of the last 5 s) and tail/peak, which
# tests/bench/lab_bench.sh measures over 60 s against the Linux baselines.
read -r first second ratio low peak tail tp samples < <($PY -c '
import json, statistics, sys
v = [i["sum"]["bits_per_second"] / 1e6 for i in json.load(open(sys.argv[1]))["intervals"]]
h = len(v) // 2
first, second = statistics.median(v[:h]), statistics.median(v[h:])
low = min(v[-10:]) / statistics.median(v)
peak, tail = statistics.median(sorted(v)[-5:]), statistics.median(v[-5:])
print("%d %d %.2f %.2f %d %d %.2f %s" % (first, second, second / first, low, peak, tail,
      tail / peak, ",".join("%d" % x for x in v)))' "$RUN/sustained.json")
echo "    20 s TCP (Mbit/s per second): $samples"
echo "    median of the first 10 s $first, of the second 10 s $second (ratio $ratio); worst of the last 10 s / median $low"
echo "    peak (median of the 5 best seconds) $peak, tail (median of the last 5 s) $tail, tail/peak $tp (reported)"
check "sustained: no collapse, second half >= 0.6 x first half ($ratio)" $PY -c "import sys; sys.exit(0 if $ratio >= 0.6 else 1)"
check "sustained: no second of the last ten below 0.25 x the median ($low)" $PY -c "import sys; sys.exit(0 if $low >= 0.25 else 1)"

# ---------------------------------------------------------------- 2. overload
before=$(tcp_mbps 5402 3)
fe0=$(w fill_empty_events); d0=$(($(w xsk_rx_ring_full) + $(w xsk_rx_dropped) + $(w pending_tx_drops)))
ip netns exec "$NS_CLI" iperf3 -c 10.77.2.2 -p 5401 -u -b 0 -l 1400 -P 2 -t 30 -J >"$RUN/overload.json" &
UDP_PID=$!
sample_fill 30 "$RUN/fill-overload.txt"
wait "$UDP_PID"
read -r sent lost < <($PY -c 'import json,sys; s=json.load(open(sys.argv[1]))["end"]["sum"]; print(s["packets"], s["lost_packets"])' "$RUN/overload.json")
d1=$(($(w xsk_rx_ring_full) + $(w xsk_rx_dropped) + $(w pending_tx_drops)))
echo "    overload: $sent datagrams offered, $lost lost end to end; Moat counted $((d1 - d0)) drops; fill level samples: $(sort -n "$RUN/fill-overload.txt" | head -1)..$(sort -n "$RUN/fill-overload.txt" | tail -1)"
check "overload: more was offered than arrived" [ "$lost" -gt 0 ]
check "overload: the fill ring level never sampled at zero" bash -c "[ -s $RUN/fill-overload.txt ] && ! grep -qx 0 $RUN/fill-overload.txt"
after=$(tcp_mbps 5402 3)
echo "    TCP before the overload: $before Mbit/s, right after: $after Mbit/s"
check "overload: TCP right after forwards >= half of before ($after vs $before)" [ $((after * 2)) -ge "$before" ]
fe1=$(w fill_empty_events)
echo "    fill ring found empty at refill: $((fe1 - fe0)) times during the overload"

# ---------------------------------------------------------------- 3. blocked TX
clang -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -c "$LAB_TOP/tests/lab/slow_xdp.bpf.c" -o "$RUN/slow_xdp.o"
ip -n "$NS_SRV" link set dev s0 xdp obj "$RUN/slow_xdp.o" sec xdp
ip netns exec "$NS_FW" tc qdisc add dev fw1 root pfifo limit 100
ptd0=$(w pending_tx_drops); trf0=$(w tx_ring_full); fe0=$(w fill_empty_events)
ip netns exec "$NS_CLI" iperf3 -c 10.77.2.2 -p 5401 -u -b 200M -l 1000 -t 5 -J >"$RUN/blocked.json" &
UDP_PID=$!
sample_fill 5 "$RUN/fill-blocked.txt"
wait "$UDP_PID"
ptd1=$(w pending_tx_drops); trf1=$(w tx_ring_full); fe1=$(w fill_empty_events)
echo "    blocked TX: tx_ring_full +$((trf1 - trf0)), pending_tx_drops +$((ptd1 - ptd0)), pending queue high-water $(w pending_tx_local_hwm), fill ring found empty +$((fe1 - fe0))"
check "blocked TX: the TX ring filled up" [ "$trf1" -gt "$trf0" ]
check "blocked TX: drops counted at the pending queue" [ $((ptd1 - ptd0)) -gt 100 ]
check "blocked TX: the fill ring level never sampled at zero" bash -c "[ -s $RUN/fill-blocked.txt ] && ! grep -qx 0 $RUN/fill-blocked.txt"
check "blocked TX: the fill ring was never found empty" [ "$fe1" -eq "$fe0" ]
ip -n "$NS_SRV" link set dev s0 xdp off
t0=$SECONDS
check "recovery: traffic flows at once after the peer is fast again" ip netns exec "$NS_CLI" ping -c 3 -i 0.2 -W 1 10.77.2.2
pending_empty() { [ "$(w pending_tx_local)" = 0 ]; }
check "recovery: the pending queue drained" wait_for 2 "pending queue empty" pending_empty
rec=$(tcp_mbps 5402 3)
echo "    TCP after the blocked TX: $rec Mbit/s ($((SECONDS - t0)) s after the peer recovered)"
check "recovery: TCP forwards >= half of before ($rec vs $before)" [ $((rec * 2)) -ge "$before" ]
lab_finish
