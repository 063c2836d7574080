#!/usr/bin/env bash
# Box-wide screen thresholds with two workers (dataplane/screen.h: a worker past its share of
# a threshold adds the other workers' counts for the key). Two RX queues on every veth and
# `workers 2`: a SYN flood from spoofed sources spreads over both queues, so both workers see
# it; the syn-flood attack-threshold (200 per second per destination address and port) must
# hold for the box, not per worker: the SYNs admitted stay near 200 a second (each worker
# alone would admit 200, 400 for the box).
# lab: alone (a paced flood whose admitted rate is measured)
set -uo pipefail
. "$(dirname "$0")/lib.sh"
lab_init screen_workers
LAB_QUEUES=2 lab_topology
CONF="$RUN/moat.conf"
sed 's/workers 1;/workers 2;/' "$LAB_TOP/tests/lab/configs/screen.conf" >"$CONF"
grep -q 'workers 2;' "$CONF" || { echo "FAIL: screen.conf has no 'workers 1;' to rewrite"; exit 1; }
moat_start_spawned "$CONF" || exit 1
check "ready with two workers" wait_for 15 ready is_ready

scr() {
	moatctl --json show security screen statistics zone untrust | $PY -c '
import json, sys
print(json.load(sys.stdin)["zones"][0]["counters"][sys.argv[1]])' "$1"
}
# worker_rx: each worker's rx_packets, space-separated.
worker_rx() { moatctl --json show dataplane statistics | $PY -c 'import json,sys; print(" ".join(str(w.get("rx_packets", 0)) for w in json.load(sys.stdin)["workers"]))'; }

ip netns exec "$NS_CLI" ping -c 1 -W 1 10.77.2.2 >/dev/null 2>&1
ip netns exec "$NS_SRV" ping -c 1 -W 1 10.77.1.2 >/dev/null 2>&1
ip netns exec "$NS_CLI" bash -c "nc -l -k -p 8080 >/dev/null" &
LAB_PIDS+=($!)
read -r rx0_a rx0_b <<<"$(worker_rx)"
check "two workers report" [ -n "${rx0_b:-}" ]

FW1_MAC=$(ip -n "$NS_FW" -br link show fw1 | awk '{print $3}')
S0_MAC=$(ip -n "$NS_SRV" -br link show s0 | awk '{print $3}')
PPS=3000 SECS=6 T=200
syn0=$(scr syn-flood)
ip netns exec "$NS_SRV" "$PY" "$LAB_TOP/tests/lab/flood.py" s0 "$S0_MAC" "$FW1_MAC" 10.77.1.2 8080 "$PPS" "$SECS" >"$RUN/flood.out" 2>&1
sleep 1
sent=$(tail -1 "$RUN/flood.out")
synd=$(($(scr syn-flood) - syn0))
admitted=$((sent - synd))
read -r rx1_a rx1_b <<<"$(worker_rx)"
da=$((rx1_a - rx0_a)) db=$((rx1_b - rx0_b))
# flood.py sends for SECS seconds (after building its frames): SECS + 1 one-second windows.
windows=$((SECS + 1))
lab_log "flood: sent ${sent} SYNs in ${SECS} s; worker 0 received ${da}, worker 1 ${db}; syn-flood drops ${synd}; admitted ${admitted} (threshold ${T}/s box-wide, ${windows} windows: at most $((T * windows)))"
check "the flood was sent (>= 3 s worth)" [ "${sent:-0}" -ge $((PPS * 3)) ]
check "both workers received a share of the flood (>= 20% each)" \
	bash -c "[ $da -ge $((sent / 5)) ] && [ $db -ge $((sent / 5)) ]"
check "admitted SYNs stay within 1.5x the box-wide threshold (per-worker thresholds would admit 2x)" \
	[ $((admitted * 2)) -le $((3 * T * windows)) ]
check "the threshold is not over-enforced (admitted >= half the threshold over the flood)" \
	[ $((admitted * 2)) -ge $((T * SECS)) ]
check "forwarding still works after the flood" ip netns exec "$NS_CLI" ping -c 2 -i 0.2 -W 1 10.77.2.2
moatctl show security screen statistics zone untrust

lab_finish
