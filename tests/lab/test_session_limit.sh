#!/usr/bin/env bash
# Resource bounds (issue 9 item 4): a full session table drops new flows and counts them
# (session_table_full) while an established connection keeps passing every byte, early aging
# above the high watermark brings the table back under the low one, and new flows are
# accepted again once the flood stops. Config: tests/lab/configs/screen.conf without its
# screen, max-sessions 300, aging { high-watermark 90; low-watermark 80; }.
# lab: alone (samples sessions while a timed flood runs)
set -uo pipefail
. "$(dirname "$0")/lib.sh"
lab_init sesslimit
lab_topology
CONF="$RUN/moat.conf"
sed -e 's/screen untrust-screen;//' \
	-e 's/max-sessions 20000;/max-sessions 300; aging { high-watermark 90; low-watermark 80; }/' \
	"$LAB_TOP/tests/lab/configs/screen.conf" >"$CONF"
moat_start_spawned "$CONF" || exit 1
check "armed with max-sessions 300 (legacy forced: the kernel path has it)" wait_for 15 ready is_ready

ip netns exec "$NS_SRV" ping -c 1 -W 1 10.77.1.2 >/dev/null 2>&1
ip netns exec "$NS_CLI" bash -c "nc -l -k -p 8080 >$RUN/recv.txt" &
LAB_PIDS+=($!)
sleep 0.3

# An established connection that talks all along (a line every 0.1 s for 9 s).
ip netns exec "$NS_SRV" timeout 20 "$PY" -c '
import socket, time
s = socket.create_connection(("10.77.1.2", 8080), timeout=5)
for i in range(1, 91):
    s.sendall(b"line-%d\n" % i)
    time.sleep(0.1)
time.sleep(1)
s.close()' &
talker=$!
sleep 1
full0=$(counter worker session_table_full)
FW1_MAC=$(ip -n "$NS_FW" -br link show fw1 | awk '{print $3}')
S0_MAC=$(ip -n "$NS_SRV" -br link show s0 | awk '{print $3}')
ip netns exec "$NS_SRV" "$PY" "$LAB_TOP/tests/lab/flood.py" s0 "$S0_MAC" "$FW1_MAC" 10.77.1.2 8080 3000 5 >"$RUN/flood.out" 2>&1 &
flood=$!
# The most sessions seen, sampled while the flood runs (until flood.py exits: on a loaded
# machine its scapy start alone can take seconds, so a fixed window may miss the flood).
active=0
while kill -0 "$flood" 2>/dev/null; do
	sleep 0.5
	a=$(counter worker sessions_active)
	[ "${a:-0}" -gt "$active" ] && active=$a
done
wait "$flood"
full=$(($(counter worker session_table_full) - full0))
sent=$(tail -1 "$RUN/flood.out")
wait "$talker"
lines=$(grep -c '^line-' "$RUN/recv.txt")
early=$(moatctl --json show security flow session summary | $PY -c '
import json,sys
d = json.load(sys.stdin)
def find(o):
    if isinstance(o, dict):
        for k, v in o.items():
            if k == "early-aged" or k == "early_aged" or k == "early":
                return v
            r = find(v)
            if r is not None:
                return r
    return None
print(find(d) or 0)')
lab_log "flood: ${sent} SYNs of distinct flows; most sessions seen during it: ${active} of 300; new flows dropped as table full: ${full}; closed by early aging: ${early}; the talker's lines received: ${lines}/90"
check "the flood filled the table: new flows dropped and counted" [ "$full" -gt 0 ]
table_bounded() { [ "$active" -ge 270 ] && [ "$active" -le 300 ]; }
check "the table filled up to max-sessions and never beyond" table_bounded
check "the established connection passed every line during the flood" [ "$lines" -eq 90 ]
# After the flood, early aging (above 90%) makes room: a new connection is accepted.
newconn() { ip netns exec "$NS_SRV" bash -c "echo after | nc -q 1 -w 1 10.77.1.2 8080" && grep -q '^after' "$RUN/recv.txt"; }
check "new flows accepted again after the flood" wait_for 15 "a new connection" newconn
check "early aging closed sessions (oldest idle first)" [ "${early:-0}" -gt 0 ]
check "the table is back under the high watermark (270)" [ "$(counter worker sessions_active)" -le 270 ]
moatctl show security flow session summary

lab_finish
