#!/usr/bin/env bash
# The Prometheus endpoint (system services prometheus): scraped before, during and after an
# iperf3 TCP stream through Moat; the text parses (tests/lab/prom_check.py: prometheus_client's
# parser and the format's line rules); worker, shim and session figures move with the
# traffic; a commit moves the endpoint to another port and a commit without the block turns
# it off. The session-init/close log lines follow the documented one-line format.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
lab_init metrics
lab_topology

conf() { # conf FILE PROMETHEUS-STANZA: firewall.conf with that in system { }
	sed "s|^    host-name moat-fw-lab;|    host-name moat-fw-lab;\n    $2|" \
		"$LAB_TOP/tests/lab/configs/firewall.conf" >"$1"
}
CONF=$RUN/moat.conf
conf "$CONF" "services { prometheus { listen-address 127.0.0.1; port 9469; } }"
moat_start_spawned "$CONF" || exit 1
check "armed" wait_for 15 armed is_armed
scrape() { # scrape PORT: the exposition text, from inside the firewall namespace
	ip netns exec "$NS_FW" curl -sf --max-time 5 "http://127.0.0.1:${1:-9469}/metrics"
}
value() { # value FILE SERIES: the value of one series in prom_check.py's output
	awk -v k="$2" '$1 == k { printf "%d\n", $2; found = 1 } END { if (!found) print "missing" }' "$1"
}
scrape >"$RUN/m0.txt"
check "the endpoint answers GET /metrics on 127.0.0.1:9469" [ -s "$RUN/m0.txt" ]
check "the text parses (before traffic)" bash -c "$LAB_TOP/tests/lab/prom_check.py <$RUN/m0.txt >$RUN/p0.txt"
check "Content-Type is the text format 0.0.4" bash -c "ip netns exec $NS_FW curl -sfI http://127.0.0.1:9469/metrics | grep -qi '^Content-Type: text/plain; version=0.0.4'"
check "other paths are 404" bash -c "[ \"\$(ip netns exec $NS_FW curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9469/)\" = 404 ]"
check "moat_forwarding_armed is 1" [ "$(value "$RUN/p0.txt" 'moat_forwarding_armed{}')" = 1 ]
check "moat_helper_up is 1" [ "$(value "$RUN/p0.txt" 'moat_helper_up{}')" = 1 ]
check "moat_mode says userspace" [ "$(value "$RUN/p0.txt" 'moat_mode{mode="userspace"}')" = 1 ]
check "moat_generation matches show system status" [ "$(value "$RUN/p0.txt" 'moat_generation{}')" = "$(status_field generation)" ]

ip netns exec "$NS_SRV" iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
LAB_PIDS+=($!)
sleep 0.5
ip netns exec "$NS_CLI" iperf3 -c 10.77.2.2 -p 5201 -t 4 -J >"$RUN/iperf.json" 2>&1 &
IPERF=$!
sleep 2
scrape >"$RUN/m1.txt"
wait "$IPERF"
check "iperf3 ran through Moat" grep -q '"bits_per_second"' "$RUN/iperf.json"
check "the text parses (during traffic)" bash -c "$LAB_TOP/tests/lab/prom_check.py <$RUN/m1.txt >$RUN/p1.txt"
sleep 0.5
scrape >"$RUN/m2.txt"
check "the text parses (after traffic)" bash -c "$LAB_TOP/tests/lab/prom_check.py <$RUN/m2.txt >$RUN/p2.txt"
rx0=$(value "$RUN/p0.txt" 'moat_worker_rx_packets_total{worker="0"}')
rx1=$(value "$RUN/p1.txt" 'moat_worker_rx_packets_total{worker="0"}')
rx2=$(value "$RUN/p2.txt" 'moat_worker_rx_packets_total{worker="0"}')
echo "    worker 0 rx_packets: $rx0 -> $rx1 (during) -> $rx2 (after)"
check "worker rx_packets moves during the traffic ($rx0 < $rx1 < $rx2)" bash -c "[ $rx0 -lt $rx1 ] && [ $rx1 -lt $rx2 ]"
f1=$(value "$RUN/p1.txt" 'moat_worker_forwarded_total{worker="0"}')
check "worker forwarded > 1000 during the stream ($f1)" [ "$f1" -gt 1000 ]
s0=$(value "$RUN/p0.txt" 'moat_shim_redirect_total{interface="fw0"}')
s2=$(value "$RUN/p2.txt" 'moat_shim_redirect_total{interface="fw0"}')
check "shim redirect on fw0 moves ($s0 -> $s2)" [ "$s2" -gt "$s0" ]
check "sessions during the stream (moat_sessions $(value "$RUN/p1.txt" 'moat_sessions{}'))" [ "$(value "$RUN/p1.txt" 'moat_sessions{}')" -ge 1 ]
check "sessions_created counted ($(value "$RUN/p2.txt" 'moat_worker_sessions_created_total{worker="0"}'))" [ "$(value "$RUN/p2.txt" 'moat_worker_sessions_created_total{worker="0"}')" -ge 2 ]
check "scrapes are counted" [ "$(value "$RUN/p2.txt" 'moat_metrics_scrapes_total{}')" -ge 3 ]

# The session log lines, in the format documented in moat-controld(8) (LOGGING).
create_re='RT_FLOW_SESSION_CREATE: session created 10\.77\.1\.2/[0-9]+->10\.77\.2\.2/5201 0x6 policy allow-out trust->untrust id [0-9]+ application any in fw0 out fw1 reply 10\.77\.2\.2/5201->10\.77\.1\.2/[0-9]+$'
close_re='RT_FLOW_SESSION_CLOSE: session closed 10\.77\.1\.2/[0-9]+->10\.77\.2\.2/5201 0x6 policy allow-out trust->untrust id [0-9]+ reason (tcp-fin|tcp-rst|aged|cleared) packets [0-9]+/[0-9]+ bytes [0-9]+/[0-9]+ duration [0-9]+s application any in fw0 out fw1 reply 10\.77\.2\.2/5201->10\.77\.1\.2/[0-9]+$'
check "session-init line in the documented format" grep -Eq "$create_re" "$RUN/controld.log"
# A closed TCP session lingers 30 s (time-wait); clearing it writes its close line now.
check "clear the iperf3 sessions" moatctl clear security flow session destination-port 5201
check "session-close line in the documented format" wait_for 20 "close line" grep -Eq "$close_re" "$RUN/controld.log"
grep -E 'RT_FLOW_SESSION_(CREATE|CLOSE).*/5201 ' "$RUN/controld.log" | head -2 | sed 's/^/    /'

# A commit moves the endpoint; a commit without the block closes it.
conf "$CONF" "services { prometheus { listen-address 127.0.0.1; port 9470; } }"
check "commit with port 9470" moatctl commit
check "the endpoint moved to 9470" bash -c "ip netns exec $NS_FW curl -sf --max-time 5 http://127.0.0.1:9470/metrics | grep -q '^moat_forwarding_armed 1'"
check "9469 is closed" bash -c "! ip netns exec $NS_FW curl -sf --max-time 2 http://127.0.0.1:9469/metrics"
conf "$CONF" ""
check "commit without services prometheus" moatctl commit
check "the endpoint is off (off by default)" bash -c "! ip netns exec $NS_FW curl -sf --max-time 2 http://127.0.0.1:9470/metrics"
lab_finish
