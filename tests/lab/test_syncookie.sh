#!/usr/bin/env bash
# SYN cookies (issue 9, `security flow syn-flood-protection-mode syn-cookie`;
# tests/lab/configs/syncookie.conf): a spoofed SYN flood far above the untrust screen's
# syn-flood thresholds at the DNAT'd web server (10.77.2.1:80 -> 10.77.1.2:8080) while a
# legitimate client opens 20 new TCP connections through the same address and moves data both
# ways (checked byte for byte). The flood's SYNs are answered with cookies by the dataplane;
# once detected, the server sees none of them (only retransmits of flows admitted in the flood's
# first second, below the thresholds); the client's connections are validated by their cookie ACKs,
# opened to the server by the box and translated; a forged ACK with a wrong cookie is dropped
# and counted; a proxied connection lives on across a re-layout of the session tables (a
# max-sessions commit) and, on the userspace path, across the helper being killed (the kernel
# path carries it, seeded with its SYN-proxy numbers, and hands it back at re-arming), with its
# sequence numbers checked in captures at both ends; after the flood, new connections go
# straight through again; an IPv6 flood gets cookies and a client's IPv6 connection is opened
# by one. A connection refused by a reject policy, opened by a cookie, is reset at once (the
# reset carries the sequence number the established client expects). On the userspace path,
# both paths share one cookie key and one recent-cookie word: a crafted client's cookie from
# the helper is completed by its ACK on the kernel path after the helper is killed, and one
# from the kernel path on the restarted helper once re-armed (arming held 2 s by the test hook
# MOAT_TEST_HOLD_ARM_MS, so that the kernel path answers a cookie meanwhile).
# With MOAT_FORCE_MODE=legacy all of it runs on the kernel path (xdp_main_syn).
# lab: alone (a timed SYN flood; counts of cookies answered)
set -uo pipefail
. "$(dirname "$0")/lib.sh"
lab_init syncookie
lab_topology
CONF="$RUN/moat.conf"
cp "$LAB_TOP/tests/lab/configs/syncookie.conf" "$CONF"

# The knob is validated: a wrong value is refused with its line and column.
sed 's/syn-flood-protection-mode syn-cookie;/syn-flood-protection-mode cookies;/' "$CONF" >"$RUN/bad.conf"
bad_refused() {
	! "$MOAT_BUILD/moat-controld" --check --config "$RUN/bad.conf" >"$RUN/bad.out" 2>&1 &&
		grep -Eq "bad.conf:[0-9]+:[0-9]+: invalid syn-flood-protection-mode \"cookies\"" "$RUN/bad.out"
}
check "a wrong syn-flood-protection-mode is refused with line:column" bad_refused

MOAT_TEST_HOLD_ARM_MS=2000 moat_start_spawned "$CONF" || exit 1
check "armed with syn-cookie mode (legacy forced: the kernel path has it)" wait_for 15 ready is_ready

scr() {
	moatctl --json show security screen statistics zone untrust | $PY -c '
import json, sys
print(json.load(sys.stdin)["zones"][0]["counters"][sys.argv[1]])' "$1"
}
sessions_from() { local p=$1; shift; moatctl --json show security flow session source-prefix "$p" "$@" | $PY -c 'import json,sys; print(len(json.load(sys.stdin)["sessions"]))'; }

# The web server: echoes what a connection sends once the client has shut its side.
cat >"$RUN/echo_srv.py" <<'PYEOF'
import socket, threading
def serve(c):
    with c:
        buf = bytearray()
        while True:
            d = c.recv(65536)
            if not d:
                break
            buf += d
        c.sendall(buf)
def listen(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.listen(128)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()
s4 = socket.socket(); s4.bind(("10.77.1.2", 8080))
s6 = socket.socket(socket.AF_INET6); s6.bind(("fd00:77:1::2", 8080))
threading.Thread(target=listen, args=(s6,), daemon=True).start()
listen(s4)
PYEOF
# What every client does with a connection to the echo server: sends data, shuts its side,
# returns what came back.
cat >"$RUN/echo_lib.py" <<'PYEOF'
import socket
def echo(c, data):
    c.sendall(data)
    c.shutdown(socket.SHUT_WR)
    back = bytearray()
    while True:
        d = c.recv(65536)
        if not d:
            break
        back += d
    return bytes(back)
PYEOF
# The client: N connections (PAR at a time) to 10.77.2.1:80, each sends SIZE random bytes,
# shuts its side, reads the echo back: prints how many came back intact and the bytes moved.
cat >"$RUN/client.py" <<'PYEOF'
import hashlib, os, socket, sys, threading
from echo_lib import echo
n, par, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
ok, moved, lock, sem = [0], [0], threading.Lock(), threading.Semaphore(par)
def one(i):
    with sem:
        data = os.urandom(size)
        try:
            c = socket.create_connection(("10.77.2.1", 80), timeout=20)
            c.settimeout(20)
            back = echo(c, data)
            c.close()
        except OSError as e:
            print("connection %d: %s" % (i, e), file=sys.stderr)
            return
        if hashlib.sha256(back).digest() == hashlib.sha256(data).digest():
            with lock:
                ok[0] += 1
                moved[0] += 2 * size
        else:
            print("connection %d: %d bytes back of %d, different" % (i, len(back), size), file=sys.stderr)
ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
for t in ts: t.start()
for t in ts: t.join()
print(ok[0], moved[0])
PYEOF
# A long connection: sends A, waits for RUN/go, sends B, checks the echo of A + B.
cat >"$RUN/client_long.py" <<'PYEOF'
import os, socket, sys, time
from echo_lib import echo
run = sys.argv[1]
a, b = os.urandom(200000), os.urandom(200000)
c = socket.create_connection(("10.77.2.1", 80), timeout=30)
c.settimeout(30)
open(run + "/long_port", "w").write("%d\n" % c.getsockname()[1])
c.sendall(a)
open(run + "/sent_a", "w").close()
while not os.path.exists(run + "/go"):
    time.sleep(0.05)
back = echo(c, b)
print("intact" if back == a + b else "broken: %d bytes back of %d" % (len(back), len(a + b)))
PYEOF
cat >"$RUN/cookie_cli.py" <<'PYEOF'
# cookie_cli.py RUN SMAC DMAC: two handshakes with 10.77.2.1:80 whose ACK is sent after a path
# switch (files in RUN): A's cookie SYN-ACK comes first (RUN/xp_a: the cookie), then after
# RUN/xp_go1 A's ACK (once: a retransmission after B's cookie would not need the shared
# recent-cookie word), B's cookie (RUN/xp_b) and A's data; after RUN/xp_go2 B's ACK and data.
# Prints "A ..." and "B ...": "intact" when the echo server's answer came back. Each SYN
# follows a burst of spoofed ones that puts the port in cookie mode.
import os, random, sys, time
from scapy.all import IP, TCP, Ether, Raw, AsyncSniffer, conf, raw
conf.verb = 0
run, smac, dmac = sys.argv[1:4]
rng = random.Random()
l2 = conf.L2socket(iface="s0")

# Spoofed SYNs above the untrust screen's attack threshold (100/s per address and port).
spoofed = [raw(Ether(src=smac, dst=dmac) / IP(src="10.99.%d.%d" % (rng.randrange(256), rng.randrange(1, 255)), dst="10.77.2.1") /
               TCP(sport=rng.randrange(1024, 65535), dport=80, flags="S", seq=rng.randrange(1 << 32))) for _ in range(300)]
def burst():
    for f in spoofed:
        l2.send(f)

got = []
sn = AsyncSniffer(iface="s0", filter="tcp and src host 10.77.2.1 and src port 80 and dst host 10.77.2.2 and dst portrange 41001-41002", prn=got.append, store=False)
sn.start()
time.sleep(0.5)

def seg(sport, flags, seq, ack, load=b""):
    p = Ether(src=smac, dst=dmac) / IP(src="10.77.2.2", dst="10.77.2.1") / TCP(sport=sport, dport=80, flags=flags, seq=seq, ack=ack, window=65535)
    if flags == "S":
        p[TCP].options = [("MSS", 1460)]
    return raw(p / Raw(load)) if load else raw(p)

def cookie_of(sport, isn):
    for _ in range(3):
        burst()
        l2.send(seg(sport, "S", isn, 0))
        end = time.monotonic() + 1
        while time.monotonic() < end:
            for p in list(got):
                t = p[TCP]
                if t.dport == sport and t.flags == "SA" and t.ack == isn + 1:
                    return t.seq
            time.sleep(0.02)
    return None

def ack(sport, isn, cookie):
    l2.send(seg(sport, "A", isn + 1, cookie + 1))

def finish(sport, isn, cookie):
    # After the cookie ACK: data and FIN until the echo server's answer comes back.
    data = b"cookie-across-a-switch-%d" % sport
    for _ in range(20):
        time.sleep(0.3)
        l2.send(seg(sport, "FPA", isn + 1, cookie + 1, data))
        if any(p[TCP].dport == sport and Raw in p and p[Raw].load == data for p in list(got)):
            return "intact"
    return "no answer"

def wait_file(name):
    while not os.path.exists(os.path.join(run, name)):
        time.sleep(0.05)

isn_a, isn_b = rng.randrange(1 << 31), rng.randrange(1 << 31)
ca = cookie_of(41001, isn_a)
open(os.path.join(run, "xp_a"), "w").write("%s\n" % ca)
wait_file("xp_go1")
# A's ACK first: the kernel path has sent no cookie yet, it must know the helper's were recent.
if ca is not None:
    ack(41001, isn_a, ca)
cb = cookie_of(41002, isn_b)
open(os.path.join(run, "xp_b"), "w").write("%s\n" % cb)
print("A", finish(41001, isn_a, ca) if ca is not None else "no cookie", flush=True)
wait_file("xp_go2")
if cb is not None:
    ack(41002, isn_b, cb)
print("B", finish(41002, isn_b, cb) if cb is not None else "no cookie", flush=True)
sn.stop()
PYEOF
ip netns exec "$NS_CLI" "$PY" "$RUN/echo_srv.py" &
LAB_PIDS+=($!)
sleep 0.5
# echoed N PAR SIZE: client.py from the server's side; true when all N connections came back
# intact (ECHOED: what it printed, "intact bytes-moved"; its errors on stderr).
echoed() {
	ECHOED=$(ip netns exec "$NS_SRV" $PY "$RUN/client.py" "$1" "$2" "$3")
	[ "$ECHOED" = "$1 $(($1 * 2 * $3))" ]
}

# --- without a flood: straight through, no cookie ---
# The kernel path hands a first packet whose next hop has no neighbour entry to the kernel
# (and asks for it): for a DNAT'd SYN to the box's own address that kernel answers with a reset.
# The web server's neighbour is made known first.
# The cookie SYN-ACKs and the server's handshake ACKs leave the kernel path by XDP_TX, which
# veth flushes to its peer only when the peer runs an XDP program (test_legacy_suite.sh): a
# pass-all program on both ends, as a physical NIC needs none of this. (On the userspace path
# too: the kernel path answers cookies while the helper is away.)
ip netns exec "$NS_CLI" ping -c 1 -W 2 10.77.1.1 >/dev/null
clang -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -c "$LAB_TOP/tests/bench/xdp_pass.bpf.c" -o "$RUN/xdp_pass.o"
ip -n "$NS_SRV" link set dev s0 xdpdrv obj "$RUN/xdp_pass.o" sec xdp
ip -n "$NS_CLI" link set dev c0 xdpdrv obj "$RUN/xdp_pass.o" sec xdp
check "a connection through DNAT without a flood" echoed 1 1 100000
check "no cookie sent below the thresholds" [ "$(scr syn-cookie-sent)" -eq 0 ]

# --- the flood ---
FW1_MAC=$(ip -n "$NS_FW" -br link show fw1 | awk '{print $3}')
S0_MAC=$(ip -n "$NS_SRV" -br link show s0 | awk '{print $3}')
PPS=${SYNCOOKIE_FLOOD_PPS:-3000}
SECS=${SYNCOOKIE_FLOOD_SECS:-11} # the checks under the flood take ~4 s once cookies flow
ip netns exec "$NS_SRV" "$PY" "$LAB_TOP/tests/lab/flood.py" s0 "$S0_MAC" "$FW1_MAC" 10.77.2.1 80 "$PPS" "$SECS" >"$RUN/flood.out" 2>&1 &
flood=$!
cookies_flowing() { [ "$(scr syn-cookie-sent)" -gt 0 ]; }
# (flood.py builds its frames with scapy first: seconds on a busy machine)
check "cookies are being sent once the flood runs" wait_for 60 "cookies" cookies_flowing
# The crafted client takes its first cookie from the helper now (its ACK will go to the kernel
# path once the helper is killed, below); the kernel answers its SYN-ACKs with no reset.
if ! legacy_forced; then
	ip netns exec "$NS_SRV" nft 'add table ip xp; add chain ip xp o { type filter hook output priority 0; }; add rule ip xp o tcp sport 41001-41002 tcp flags rst drop'
	ip netns exec "$NS_SRV" "$PY" "$RUN/cookie_cli.py" "$RUN" "$S0_MAC" "$FW1_MAC" >"$RUN/xp.out" 2>&1 &
	xp=$!
	LAB_PIDS+=($xp)
fi
sleep 1.5
# From now on the server must see no new spoofed connection (sources 10.99.0.0/16): only the
# retransmitted SYNs of the flows admitted in the flood's first second (flood.py cycles
# through 4096 tuples), which have sessions.
ip netns exec "$NS_CLI" tcpdump -i c0 -n -U -w "$RUN/spoofed.pcap" 'src net 10.99.0.0/16' >"$RUN/tcpdump.out" 2>&1 &
tcpd=$!
LAB_PIDS+=($tcpd)
sleep 0.5
t0=$SECONDS
echoed 20 5 262144 2>"$RUN/client.err"
ok=$?
lab_log "20 connections under the flood: '$ECHOED' (intact, bytes moved) in $((SECONDS - t0)) s; cookies valid $(scr syn-cookie-valid), invalid $(scr syn-cookie-invalid); tcp_invalid $(counter worker tcp_invalid), non_syn_drops $(counter worker non_syn_drops)"
cat "$RUN/client.err"
check "20 new connections under the flood, 10 MiB echoed intact" [ "$ok" -eq 0 ]
valid=$(scr syn-cookie-valid)
check "the client's connections were opened by their cookies (valid >= 20)" [ "$valid" -ge 20 ]

# A proxied connection that will live across the sessions moving to new tables (below).
# Both ends are captured (headers only) to check its sequence numbers.
ip netns exec "$NS_SRV" tcpdump -i s0 -n -U --immediate-mode -s 96 -w "$RUN/long_cli.pcap" 'tcp and host 10.77.2.2 and port 80' >/dev/null 2>&1 &
cap_cli=$!
ip netns exec "$NS_CLI" tcpdump -i c0 -n -U --immediate-mode -s 96 -w "$RUN/long_srv.pcap" 'tcp and host 10.77.2.2 and port 8080' >/dev/null 2>&1 &
cap_srv=$!
LAB_PIDS+=($cap_cli $cap_srv)
sleep 0.5
v0=$(scr syn-cookie-valid)
ip netns exec "$NS_SRV" "$PY" "$RUN/client_long.py" "$RUN" >"$RUN/long.out" 2>&1 &
long=$!
check "a long connection opened under the flood" wait_for 15 "first half sent" test -e "$RUN/sent_a"
check "  ... through a cookie" [ "$(scr syn-cookie-valid)" -gt "$v0" ]

# A forged ACK (no SYN before it, a wrong cookie): dropped and counted, no session.
inv0=$(scr syn-cookie-invalid)
ip netns exec "$NS_SRV" "$PY" -c 'from scapy.all import *
send([IP(src="10.77.2.2", dst="10.77.2.1")/TCP(sport=3333 + i, dport=80, flags="A", seq=1000, ack=123456789) for i in range(5)], verbose=0)' >/dev/null 2>&1
sleep 0.5
inv=$(($(scr syn-cookie-invalid) - inv0))
check "5 forged ACKs counted as invalid cookies" [ "$inv" -eq 5 ]
check "  ... and made no session" [ "$(sessions_from 10.77.2.2/32 source-port 3333)" -eq 0 ]

# A port a reject policy refuses (10.77.2.1:81, to 10.77.1.2:8081), in cookie mode: 250
# connections at once from the client, above its attack threshold (100 a second): the first are
# refused at their SYN, the others take a cookie SYN-ACK and are established; the SYN rebuilt
# from such a client's ACK is refused, and the reset must carry the sequence number the client
# expects (cookie + 1), else the client ignores it and hangs. Prints refused, reset, hung and the
# seconds until none was left waiting (hung after 5).
cat >"$RUN/refused.py" <<'PYEOF'
import errno, select, socket, time
t0, socks, n = time.monotonic(), [], {"refused": 0, "reset": 0, "hung": 0}
for _ in range(250):
    c = socket.socket()
    c.setblocking(False)
    c.connect_ex(("10.77.2.1", 81))
    socks.append(c)
waiting, sent = set(socks), set()
while waiting and time.monotonic() - t0 < 5:
    r, w, _ = select.select(list(waiting), list(waiting - sent), [], 0.1)
    for c in set(r) | set(w):
        e = c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        try:
            if e:
                raise OSError(e, "")
            if c in r:
                c.recv(100)  # the echo server is not there: only a reset or a close comes
            else:
                c.send(b"hello")  # established by a cookie: its reset is due
                sent.add(c)
                continue
        except BlockingIOError:
            continue
        except OSError as x:
            n["refused" if x.errno == errno.ECONNREFUSED else "reset"] += 1
        waiting.discard(c)
n["hung"] = len(waiting)
print("refused %(refused)d reset %(reset)d hung %(hung)d" % n, "%.1f" % (time.monotonic() - t0))
PYEOF
v0=$(scr syn-cookie-valid)
refused=$(ip netns exec "$NS_SRV" "$PY" "$RUN/refused.py" 2>&1)
lab_log "250 connections at once to the refused port: $refused (seconds)"
read -r _ nref _ nrst _ nhung secs <<<"$refused"
check "connections to a refused port opened by cookies are reset at once" bash -c "[ '${nrst:-0}' -gt 0 ] && [ '${nhung:-1}' -eq 0 ]"
check "  ... (they were opened by cookies)" [ "$(scr syn-cookie-valid)" -gt "$v0" ]

wait "$flood"
sent=$(tail -1 "$RUN/flood.out")
sleep 0.5
kill -INT "$tcpd" 2>/dev/null
wait "$tcpd" 2>/dev/null
spoofed=$(tcpdump -n -r "$RUN/spoofed.pcap" 2>/dev/null | wc -l)
# The spoofed (source, port)s the server saw, and those of the flood's sessions.
tcpdump -n -r "$RUN/spoofed.pcap" 2>/dev/null | awk '{print $3}' | sort -u >"$RUN/seen.txt"
moatctl --json show security flow session source-prefix 10.99.0.0/16 | $PY -c '
import json, sys
for s in json.load(sys.stdin)["sessions"]:
    print("%s.%s" % (s["in"]["source"], s["in"]["source_port"]))' | sort -u >"$RUN/admitted.txt"
new_spoofed=$(comm -23 "$RUN/seen.txt" "$RUN/admitted.txt" | wc -l)
cookies=$(scr syn-cookie-sent)
flood_sess=$(sessions_from 10.99.0.0/16)
lab_log "flood: ${sent} SYNs at ${PPS}/s; cookies sent ${cookies}, valid $(scr syn-cookie-valid), invalid $(scr syn-cookie-invalid); spoofed packets seen by the server once cookies flowed: ${spoofed}, from $(wc -l <"$RUN/seen.txt") tuples, ${new_spoofed} of them without a session admitted before; flood sessions: ${flood_sess}"
check "the flood was sent" [ "${sent:-0}" -gt $((PPS * SECS / 2)) ]
check "the flood's SYNs were answered with cookies (>= 80%)" [ "$cookies" -ge $((sent * 8 / 10)) ]
check "the server saw no new spoofed connection once the flood was detected" [ "$new_spoofed" -eq 0 ]
check "  ... (the tuples it saw are listed: the check can fail)" [ -s "$RUN/admitted.txt" ]
check "flood sessions bounded by the first second's thresholds (<= 400)" [ "$flood_sess" -le 400 ]
check "no session table overflow" [ "$(counter worker session_table_full)" -eq 0 ]

# The proxied connection survives the sessions moving to new tables (max-sessions changed:
# the helper lays its session tables out again, every session exported and re-installed;
# the screen counters start again from zero).
# With the kernel path forced: the commit is compiled into its maps (bank switch), its
# sessions stay in place with their SYN-proxy numbers.
sed -i 's/max-sessions 20000;/max-sessions 30000;/' "$CONF"
syncs0=$(counter legacy syncs)
relaid() {
	if legacy_forced; then
		[ "$(counter legacy syncs)" -gt "$syncs0" ]
	else
		grep -q "tables of 30000 sessions" "$RUN/controld.log"
	fi
}
check "commit: max-sessions 30000" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN commit >/dev/null"
check "  ... the session tables were laid out again (legacy: the commit compiled)" wait_for 10 "new layout" relaid
# The userspace path: the helper is killed; the proxied session moves to the kernel path
# (seeded from the mirror with its numbers), carries the second half, and moves back to the
# restarted helper at arming (the handover, with its numbers).
if ! legacy_forced; then
	hpid=$(moatctl --json show system status | $PY -c 'import json,sys; print(json.load(sys.stdin)["helper_pid"])')
	hit0=$(counter legacy session_hit)
	check "  (the crafted client got a cookie from the helper)" wait_for 20 "cookie A" grep -qx '[0-9][0-9]*' "$RUN/xp_a"
	lab_log "killing the helper (pid $hpid) under the proxied connection"
	kill -KILL "$hpid"
	check "  ... helper killed: disarmed, the kernel path carries the proxied session" wait_for 5 disarmed is_disarmed
	sptx0=$(counter legacy sp_tx)
	touch "$RUN/go" "$RUN/xp_go1"
	check "  (the crafted client got a cookie from the kernel path)" wait_for 5 "cookie B" grep -qx '[0-9][0-9]*' "$RUN/xp_b"
	sptx=$(($(counter legacy sp_tx) - sptx0))
	lab_log "the kernel path sent $sptx SYN-ACKs (the burst's above its first 100 a second, and B's)"
	check "  ... (the kernel path answered its burst: sp_tx +150 at least)" [ "$sptx" -ge 150 ]
	check "  ... the kernel path forwarded its packets" [ "$(counter legacy session_hit)" -gt $((hit0 + 20)) ]
	check "  ... re-armed with the restarted helper (the session handed back)" wait_for 20 armed is_armed
	touch "$RUN/xp_go2"
	wait "$xp"
	lab_log "the crafted client: $(tr '\n' ' ' <"$RUN/xp.out")"
	check "a cookie from the helper completed by its ACK on the kernel path (helper killed), data echoed" grep -qx "A intact" "$RUN/xp.out"
	check "a cookie from the kernel path completed by its ACK on the re-armed helper, data echoed" grep -qx "B intact" "$RUN/xp.out"
else
	touch "$RUN/go"
fi
wait "$long"
check "  ... and the proxied connection goes on intact across it" grep -qx intact "$RUN/long.out"
sleep 1
kill -INT "$cap_cli" "$cap_srv" 2>/dev/null
wait "$cap_cli" "$cap_srv" 2>/dev/null
# Its numbers, as each end saw them: the client's ISN reaches the server unchanged with the
# MSS option alone; the server's numbers reach the client shifted by (cookie - server ISN), the
# client's acks reach the server shifted back, on every segment.
seq_check() {
	$PY - "$RUN/long_cli.pcap" "$RUN/long_srv.pcap" "$(cat "$RUN/long_port")" <<'PYEOF' | tee -a "$RUN/seq.out"
import sys
from scapy.all import TCP, rdpcap
cli, srv, port = rdpcap(sys.argv[1]), rdpcap(sys.argv[2]), int(sys.argv[3])
M = 1 << 32
def segs(pk, cport):
    return [p[TCP] for p in pk if TCP in p and cport in (p[TCP].sport, p[TCP].dport)]
c, s = segs(cli, port), segs(srv, port)
csyn = [t for t in c if t.flags == "S"][0]
csa = [t for t in c if t.flags == "SA"][0]
ssyn = [t for t in s if t.flags == "S"][0]
ssa = [t for t in s if t.flags == "SA"][0]
cookie, sisn = csa.seq, ssa.seq
ok = ssyn.seq == csyn.seq and ssyn.options == [("MSS", 1460)] and csa.options == [("MSS", 1460)]
c_srv = {(t.seq - cookie) % M for t in c if t.sport == 80 and t.flags != "SA"}
s_srv = {(t.seq - sisn) % M for t in s if t.sport == 8080 and t.flags != "SA"}
c_ack = {(t.ack - cookie) % M for t in c if t.dport == 80 and "A" in t.flags}
s_ack = {(t.ack - sisn) % M for t in s if t.dport == 8080 and "A" in t.flags}
c_seq = {t.seq for t in c if t.dport == 80}
s_seq = {t.seq for t in s if t.dport == 8080}
print("cookie %d server ISN %d; server->client seqs %d/%d, client->server acks %d/%d, seqs %d/%d" %
      (cookie, sisn, len(c_srv), len(s_srv), len(c_ack), len(s_ack), len(c_seq), len(s_seq)))
# GRO at the receiving end merges segments (a merged one keeps its first seq): the receiver's
# set is within the sender's.
ok = ok and cookie != sisn and len(c_srv) > 10 and c_srv <= s_srv and len(s_ack) > 10 and \
    s_ack <= c_ack and len(s_seq) > 10 and s_seq <= c_seq
sys.exit(0 if ok else 1)
PYEOF
}
check "  ... its sequence numbers translated on every segment (both captures)" seq_check
lab_log "the proxied connection's numbers: $(cat "$RUN/seq.out" 2>/dev/null)"

# --- after the flood: cookie mode ends with the first quiet second ---
sleep 2.5
before=$(scr syn-cookie-sent)
check "after the flood a connection goes straight through" echoed 1 1 100000
check "  ... without a cookie" [ "$(scr syn-cookie-sent)" -eq "$before" ]
# --- IPv6: a spoofed SYN flood at [fd00:77:1::2]:8080 (no NAT) while a client connects ---
cat >"$RUN/flood6.py" <<'PYEOF'
import random, socket, sys, time
from scapy.all import IPv6, TCP, Ether, raw
iface, smac, dmac, pps, secs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
rng = random.Random(6)
frames = [raw(Ether(src=smac, dst=dmac) / IPv6(src="fd00:99::%x" % rng.randrange(1, 65535), dst="fd00:77:1::2") /
              TCP(sport=rng.randrange(1024, 65535), dport=8080, flags="S", seq=rng.randrange(1 << 32)))
          for _ in range(1024)]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
sent, start = 0, time.monotonic()
while time.monotonic() - start < secs:
    due = int((time.monotonic() - start) * pps)
    while sent < due:
        s.send(frames[sent & 1023])
        sent += 1
    time.sleep(0.005)
print(sent)
PYEOF
cat >"$RUN/client6.py" <<'PYEOF'
import os, socket
from echo_lib import echo
data = os.urandom(100000)
c = socket.create_connection(("fd00:77:1::2", 8080), timeout=20)
c.settimeout(20)
back = echo(c, data)
print("intact" if back == data else "broken: %d bytes back" % len(back))
PYEOF
sent6=$(scr syn-cookie-sent)
valid6=$(scr syn-cookie-valid)
ip netns exec "$NS_SRV" "$PY" "$RUN/flood6.py" s0 "$S0_MAC" "$FW1_MAC" 1000 3 >"$RUN/flood6.out" 2>&1 &
flood6=$!
cookies6() { [ "$(scr syn-cookie-sent)" -gt $((sent6 + 200)) ]; }
check "IPv6: the flood's SYNs are answered with cookies" wait_for 30 "IPv6 cookies" cookies6
check "  ... a client's IPv6 connection echoes 100 kB intact" bash -c "ip netns exec $NS_SRV $PY $RUN/client6.py | grep -qx intact"
check "  ... opened by its cookie" [ "$(scr syn-cookie-valid)" -gt "$valid6" ]
wait "$flood6"
lab_log "IPv6 flood: $(tail -1 "$RUN/flood6.out") SYNs; cookies sent $(($(scr syn-cookie-sent) - sent6)), valid $(($(scr syn-cookie-valid) - valid6))"
moatctl show security screen statistics zone untrust

lab_finish
