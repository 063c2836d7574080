#!/usr/bin/env bash
# The commit model (Junos style) and controld's side of the stateful firewall.
#
# 1. No helper: commit check of a bad file fails with file:line:col and changes nothing;
#    a good commit adds an interface (shim attached, address added); compare shows the
#    changed set lines; | display set; rollback 1 restores the file and detaches the shim.
# 2. The real helper (spawned): a refused commit leaves the generation alone; a good one bumps
#    it; commit confirmed N (seconds here) rolls back by itself, or is confirmed by a commit;
#    SIGHUP commits (and a bad file on SIGHUP changes nothing).
# 3. tests/lab/fake_helper.py, a stand-in helper: a commit the helper refuses is rolled back;
#    the session mirror from SessionDeltaBatch (show/filters/summary/JSON, the
#    RT_FLOW_SESSION_* log lines), clear security flow session, hit counts, the mirror
#    re-seeding a restarted helper, and a helper that does not answer.
# Traffic through sessions is not asserted here (tests of the dataplane do that).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
lab_init commit
lab_topology

CFGS=$LAB_TOP/tests/lab/configs
CONF=$RUN/moat.conf
FAKE="$PY $LAB_TOP/tests/lab/fake_helper.py"
use() { cp "$CFGS/commit-$1.conf" "$CONF"; }
host_name() { moatctl show configuration '|' display set | sed -n 's/^set system host-name //p'; }
history_lines() { moatctl show system commit | grep -c '^[0-9]'; }
history_top() { moatctl show system commit | grep '^0 '; }
gen() { status_field generation; }
has() { grep -qF -- "$2" <<<"$1"; }   # has TEXT NEEDLE
hasx() { grep -qxF -- "$2" <<<"$1"; } # whole line

# ---------------------------------------------------------------- 1. no helper
use base
moat_start "$CONF" --confirm-unit-seconds || exit 1
check "start-up config recorded as rollback 0" bash -c "[ $(history_lines) = 1 ] && grep -q 'via start-up: configuration at start-up' <<<'$(history_top)'"
out=$(moatctl commit check 2>&1)
check "commit check of the running file succeeds" has "$out" "configuration check succeeds"

use bad
out=$(moatctl commit check 2>&1); rc=$?
echo "    $out"
check "commit check of a bad file fails" [ "$rc" -ne 0 ]
check "commit check names file:line:col" has "$out" "$CONF:19:37: application \"no-such-app\" is not defined"
out=$(moatctl commit 2>&1); rc=$?
check "commit of a bad file is refused" [ "$rc" -ne 0 ]
check "the refusal says nothing changed" has "$out" "commit refused: nothing changed"
check "refused: the running config is unchanged" [ "$(host_name)" = moat-commit-a ]
check "refused: no history entry" [ "$(history_lines)" = 1 ]

ip -n "$NS_FW" link add fw2 type veth peer name fw2p
use change
out=$(moatctl commit 2>&1); rc=$?
echo "    $out" | head -3
check "commit of a good change succeeds" [ "$rc" -eq 0 ]
check "commit says complete (helper down: pushed when it connects)" bash -c "grep -q '^commit complete' <<<'$out' && grep -q 'helper is down' <<<'$out'"
check "the change runs" [ "$(host_name)" = moat-commit-b ]
check "new interface fw2: shim attached" bash -c "ip -n $NS_FW link show fw2 | grep -q xdp"
check "new interface fw2: address added" bash -c "ip -n $NS_FW addr show fw2 | grep -q 10.77.3.1/24"
check "new zone dmz with fw2" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show security zones | grep -A3 'Security zone: dmz' | grep -q 'Interfaces: fw2'"
check "history: 2 entries, newest by moatctl" bash -c "[ $(history_lines) = 2 ] && grep -q 'by uid 0 via moatctl: commit' <<<'$(history_top)'"
out=$(moatctl show configuration compare rollback 1)
echo "$out" | sed 's/^/    | /' | head -4
check "compare: the old host name removed" hasx "$out" "- set system host-name moat-commit-a"
check "compare: the new host name added" hasx "$out" "+ set system host-name moat-commit-b"
check "compare: the new policy added" hasx "$out" "+ set security policies from-zone trust to-zone untrust policy allow-dns then permit"
check "compare: unchanged lines not shown" bash -c "! grep -q 'address 10.77.1.1/24' <<<'$out'"
check "compare rollback 0 shows nothing" [ -z "$(moatctl show configuration compare rollback 0)" ]
check "show configuration | display set" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show configuration '|' display set | grep -qx 'set security flow max-sessions 100000'"
check "show security policies lists allow-dns second" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show security policies | grep -q 'Policy: allow-dns, Index: 2, Sequence number: 2'"
check "the mirror's maximum follows max-sessions" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show system status | grep -q 'maximum 100000'"

out=$(moatctl rollback 1 2>&1); rc=$?
check "rollback 1 succeeds" [ "$rc" -eq 0 ]
check "rollback 1: the old config runs" [ "$(host_name)" = moat-commit-a ]
check "rollback 1: the file holds it again" cmp -s "$CONF" "$CFGS/commit-base.conf"
check "rollback 1: fw2 is no longer managed (shim detached)" bash -c "! ip -n $NS_FW link show fw2 | grep -q xdp"
check "rollback 1: in the history" bash -c "[ $(history_lines) = 3 ] && grep -q 'rollback 1' <<<'$(history_top)'"
out=$(moatctl rollback 9 2>&1); rc=$?
check "rollback 9 refused: no such entry" bash -c "[ $rc -ne 0 ] && grep -q 'rollback 9 does not exist: the commit history holds 3 entries' <<<'$out'"
check "history files are written whole (no temporaries)" bash -c "[ -z \"\$(ls $RUN/state/commits | grep -v '^commit-[0-9]*\.conf$')\" ]"

# ---------------------------------------------------------------- 2. the real helper
kill -TERM "$CONTROLD_PID"; wait "$CONTROLD_PID" 2>/dev/null; LAB_PIDS=()
moat_start "$CONF" --confirm-unit-seconds --spawn-dataplane "$MOAT_BUILD/moat-dataplane" || exit 1
check "restart with the same file: history not duplicated" [ "$(history_lines)" = 3 ]
check "helper connects and controld arms" wait_for 15 armed is_armed
g0=$(gen)
use bad
moatctl commit >/dev/null 2>&1
check "bad commit: generation unchanged ($g0)" [ "$(gen)" = "$g0" ]
use confirm
out=$(moatctl commit 2>&1); rc=$?
echo "    $out" | head -3
check "good commit applied by the helper" bash -c "[ $rc -eq 0 ] && grep -q 'applied by the dataplane helper' <<<'$out'"
g1=$(gen)
check "good commit bumps the generation ($g0 -> $g1)" [ "$g1" -gt "$g0" ]
check "still armed after the commit" is_armed

use base
out=$(moatctl commit confirmed 3 2>&1); rc=$?
echo "    $out" | head -2
check "commit confirmed 3 succeeds" bash -c "[ $rc -eq 0 ] && grep -q 'automatically rolled back in 3 seconds unless confirmed' <<<'$out'"
check "commit confirmed: the new config runs" [ "$(host_name)" = moat-commit-a ]
check "status shows the pending rollback" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show system status | grep -q '^commit: commit confirmed 3: rolls back in'"
g2=$(gen)
check "not confirmed: rolled back by itself" wait_for 15 "the rollback" bash -c "[ \"\$($MOAT_BUILD/moatctl --run-dir $RUN show configuration '|' display set | sed -n 's/^set system host-name //p')\" = moat-commit-c ]"
check "the rollback is a new generation ($g2 -> $(gen))" wait_for 5 gen bash -c "[ \$(sed -n 's/^generation: //p' <($MOAT_BUILD/moatctl --run-dir $RUN show system status)) -gt $g2 ]"
check "the rollback restored the file" cmp -s "$CONF" "$CFGS/commit-confirm.conf"
check "show system commit records the automatic rollback" bash -c "grep -q 'via confirm-timeout: automatic rollback: commit confirmed 3 was not confirmed' <<<'$(history_top)'"
check "still armed after the rollback" is_armed

use base
moatctl commit confirmed 2 >/dev/null 2>&1
out=$(moatctl commit 2>&1)
check "a second commit confirms" has "$out" "commit confirmed is confirmed"
sleep 3
check "confirmed: no rollback" [ "$(host_name)" = moat-commit-a ]

g3=$(gen)
use confirm
kill -HUP "$CONTROLD_PID"
check "SIGHUP commits the file" wait_for 10 "SIGHUP commit" bash -c "[ \"\$($MOAT_BUILD/moatctl --run-dir $RUN show configuration '|' display set | sed -n 's/^set system host-name //p')\" = moat-commit-c ]"
check "SIGHUP commit in the history" bash -c "grep -q 'via SIGHUP' <<<'$(history_top)'"
check "SIGHUP: a new generation" wait_for 5 gen bash -c "[ \$(sed -n 's/^generation: //p' <($MOAT_BUILD/moatctl --run-dir $RUN show system status)) -gt $g3 ]"
g4=$(gen)
use bad
kill -HUP "$CONTROLD_PID"
check "SIGHUP with a bad file: the error is logged with line:col" wait_for 5 log grep -q "SIGHUP commit: $CONF:19:37:" "$RUN/controld.log"
check "SIGHUP with a bad file: nothing changed" bash -c "[ $(gen) = $g4 ] && [ \"\$($MOAT_BUILD/moatctl --run-dir $RUN show configuration '|' display set | sed -n 's/^set system host-name //p')\" = moat-commit-c ]"

# ---------------------------------------------------------------- 3. a fake helper
kill -TERM "$CONTROLD_PID"; wait "$CONTROLD_PID" 2>/dev/null; LAB_PIDS=()
use base
moat_start "$CONF" || exit 1
IF0=$(ip -n "$NS_FW" -o link show fw0 | cut -d: -f1)
IF1=$(ip -n "$NS_FW" -o link show fw1 | cut -d: -f1)
fake_start() { # fake_start LOG [flags]
	local log=$1
	shift
	$FAKE --run-dir "$RUN" --if-in "$IF0" --if-out "$IF1" "$@" >"$RUN/$log" 2>&1 &
	FAKE_PID=$!
	LAB_PIDS+=("$FAKE_PID")
	wait_for 10 "the fake helper's snapshot" grep -q "applied generation" "$RUN/$log"
}
fake_stop() {
	kill -TERM "$FAKE_PID" 2>/dev/null
	wait "$FAKE_PID" 2>/dev/null
	wait_for 5 "helper down" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show system status | grep -q '^helper: down'"
}
check "fake helper connects and applies" fake_start fake1.log --sessions
check "the mirror holds the helper's 2 live sessions" wait_for 5 sessions bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show security flow session | grep -q '^Total sessions: 2$'"
out=$(moatctl show security flow session)
echo "$out" | sed 's/^/    | /' | head -3
check "session line: id, policy/index, state, zones" has "$out" "Session ID: 281474976710657, Policy name: allow-web/1, State: established,"
check "session In line (SRX style)" has "$out" "  In: 10.77.1.2/40000 --> 10.77.2.2/80;tcp, If: fw0, Pkts: 10, Bytes: 1000"
check "session Out line (reverse direction)" has "$out" "  Out: 10.77.2.2/80 --> 10.77.1.2/40000;tcp, If: fw1, Pkts: 8, Bytes: 800"
check "filter: protocol udp" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show security flow session protocol udp | grep -q '^Total sessions: 1$'"
check "filter: destination-port 80 and source-prefix" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show security flow session destination-port 80 source-prefix 10.77.1.0/24 | grep -q 'Total sessions: 1$'"
check "filter: zone untrust" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show security flow session zone untrust | grep -q 'Total sessions: 2$'"
out=$(moatctl show security flow session zone nowhere 2>&1); rc=$?
check "filter: an unknown zone is refused" bash -c "[ $rc -ne 0 ] && grep -q 'zone \"nowhere\" is not a security zone' <<<'$out'"
out=$(moatctl show security flow session summary)
check "summary: by protocol" has "$out" "Sessions by protocol: tcp 1, udp 1, icmp 0"
check "summary: closes by reason" has "$out" "closed: 1 (aged 1,"
check "JSON sessions parse" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN --json show security flow session | $PY -c 'import json,sys; d=json.load(sys.stdin); assert d[\"total\"]==2, d'"
check "log line for session-init" grep -q "RT_FLOW_SESSION_CREATE: session created 10.77.1.2/40000->10.77.2.2/80 0x6 policy allow-web trust->untrust id 281474976710657 application junos-http in fw0 out fw1" "$RUN/controld.log"
check "log line for session-close (packets, bytes, reason)" grep -q "RT_FLOW_SESSION_CLOSE: session closed 10.77.1.2/7->10.77.2.2/0 0x1 policy allow-web trust->untrust id 281474976710659 reason aged packets 2/2 bytes 200/200" "$RUN/controld.log"
out=$(moatctl show security policies hit-count 2>&1); rc=$?
echo "$out" | sed 's/^/    | /' | head -3
check "hit-count answered from the helper" bash -c "[ $rc -eq 0 ] && grep -Eq '^ 1 +trust +untrust +allow-web +10 ' <<<'$out'"
check "hit-count JSON" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN --json show security policies hit-count | $PY -c 'import json,sys; d=json.load(sys.stdin); assert d[\"policies\"][0][\"hits\"]==10, d'"
out=$(moatctl clear security flow session protocol udp 2>&1)
check "clear: the helper closed 1 session" has "$out" "1 active sessions cleared"
check "clear: SessionClear carried the udp session's id" grep -q "ids=281474976710658$" "$RUN/fake1.log"
check "clear: the close delta left the mirror" wait_for 5 cleared bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show security flow session | grep -q '^Total sessions: 1$'"
check "clear with nothing matching" has "$(moatctl clear security flow session destination-port 9 2>&1)" "0 active sessions cleared"

g0=$(gen)
use refused
out=$(moatctl commit 2>&1); rc=$?
echo "    $out" | head -2
check "a commit the helper refuses fails" [ "$rc" -ne 0 ]
check "the failure says why and that it was rolled back" bash -c "grep -q 'refused generation' <<<'$out' && grep -q 'fake helper: policy helper-refuses is refused' <<<'$out' && grep -q 'the previous configuration runs again' <<<'$out'"
check "refused: the previous config runs" [ "$(host_name)" = moat-commit-a ]
check "refused: no history entry kept" bash -c "! grep -q helper-refuses <<<\"\$($MOAT_BUILD/moatctl --run-dir $RUN show system commit)\" && [ \"\$(ls $RUN/state/commits | wc -l)\" = \"\$($MOAT_BUILD/moatctl --run-dir $RUN show system commit | grep -c '^[0-9]')\" ]"
check "refused: the previous config was pushed again and applied" wait_for 5 reapplied bash -c "[ \$(sed -n 's/^generation: //p' <($MOAT_BUILD/moatctl --run-dir $RUN show system status)) -gt \$(( $g0 + 1 )) ] && ! $MOAT_BUILD/moatctl --run-dir $RUN show security policies | grep -q helper-refuses"
check "refused: the mirror kept its sessions" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show security flow session | grep -q '^Total sessions: 1$'"

fake_stop
check "helper gone: the mirror keeps its sessions" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show security flow session | grep -q '^Total sessions: 1$'"
out=$(moatctl show security policies hit-count 2>&1); rc=$?
check "hit-count with the helper down: a clear refusal" bash -c "[ $rc -ne 0 ] && grep -q 'the dataplane helper is down' <<<'$out'"
check "restarted helper: connects" fake_start fake2.log --mute-counters
check "restarted helper: the first snapshot re-seeds the mirrored session" grep -q "sessions=1 ids=281474976710657$" "$RUN/fake2.log"
use change
moatctl commit >/dev/null 2>&1
check "later generations carry no sessions" bash -c "tail -n +3 $RUN/fake2.log | grep '^snapshot' | grep -q 'sessions=0'"
start=$SECONDS
out=$(moatctl show security policies hit-count 2>&1); rc=$?
check "a helper that does not answer: moatctl told after ~5 s" bash -c "[ $rc -ne 0 ] && grep -q 'the dataplane helper did not answer (helper down?)' <<<'$out' && [ $((SECONDS - start)) -ge 4 ] && [ $((SECONDS - start)) -le 8 ]"
check "controld still answers afterwards" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN show system status >/dev/null"
lab_finish
