#!/usr/bin/env bash
# The demo lab: client — moat — server in network namespaces, real traffic through Moat's
# userspace dataplane, then what Moat saw. Tears everything down on exit or Ctrl-C.
#
#   bash tests/lab/demo.sh [CONFIG]     (root; MOAT_BUILD=build by default)
set -uo pipefail
. "$(dirname "$0")/lib.sh"
CONF=${1:-$LAB_TOP/tests/lab/configs/firewall.conf}
lab_init demo
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "topology: client 10.77.1.2 (fd00:77:1::2) — fw0 [moat] fw1 — server 10.77.2.2 (fd00:77:2::2)"
lab_topology
echo "kernel forwarding in the firewall namespace: ip_forward=$(ip netns exec "$NS_FW" sysctl -n net.ipv4.ip_forward) (only Moat forwards)"

say "starting moat-controld (config $CONF), which spawns moat-dataplane"
moat_start_spawned "$CONF" || exit 1
wait_for 15 "forwarding armed" is_armed || { tail -30 "$RUN/controld.log"; exit 1; }
moatctl show system status

say "ping client -> server (IPv4 and IPv6)"
ip netns exec "$NS_CLI" ping -c 1 -W 1 10.77.2.2 >/dev/null 2>&1
ip netns exec "$NS_CLI" ping -6 -c 1 -W 1 fd00:77:2::2 >/dev/null 2>&1
ip netns exec "$NS_CLI" ping -c 4 -i 0.2 10.77.2.2
ip netns exec "$NS_CLI" ping -6 -c 4 -i 0.2 fd00:77:2::2

say "TCP: iperf3 client -> server, 3 seconds (sessions shown while it runs)"
ip netns exec "$NS_SRV" iperf3 -s -D -p 5201 --logfile "$RUN/iperf-srv.log"
sleep 0.5
ip netns exec "$NS_CLI" iperf3 -c 10.77.2.2 -p 5201 -t 3 >"$RUN/iperf-demo.txt" 2>&1 &
iperf_pid=$!
sleep 2.5
say "moatctl show security flow session (live)"
moatctl show security flow session
wait "$iperf_pid"
tail -4 "$RUN/iperf-demo.txt"

say "unsolicited traffic from the server side is dropped by policy (default deny)"
ip netns exec "$NS_SRV" ping -c 2 -i 0.2 -W 1 10.77.1.2 || echo "(dropped, as the policy says)"

say "UDP: iperf3 client -> server, 2 seconds at 50 Mbit/s"
ip netns exec "$NS_CLI" iperf3 -c 10.77.2.2 -p 5201 -u -b 50M -t 2 | tail -4

say "moatctl show security flow session summary"
moatctl show security flow session summary
say "moatctl show security policies hit-count"
moatctl show security policies hit-count
say "moatctl show interfaces"
moatctl show interfaces
say "moatctl show route"
moatctl show route
say "moatctl show dataplane statistics"
moatctl show dataplane statistics
say "demo done; tearing down"
