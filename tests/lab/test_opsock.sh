#!/usr/bin/env bash
# The operator socket (RUN_DIR/control.sock) under hostile or unprivileged clients (issue 9):
#  - a throwaway system user outside group moat is refused: by the socket's mode (0660,
#    group moat) with moatctl's one-line reason, and — with the mode opened up to 0666 — by
#    controld's SO_PEERCRED check, which answers "permission denied" and logs the uid;
#  - a user in group moat (supplementary or primary group) is accepted;
#  - per-client limits: 40 connections at once, 32 are held, the other 8 are answered
#    "busy" and closed, each with a logged reason; a held connection still gets its answer;
#    an oversized frame header and an undecodable frame close only their own connection
#    (logged), a connection opened before them is served; an idle connection is closed after
#    the request timeout (logged); controld keeps serving throughout.
# The users (and group moat, when this test created it) are removed on exit, even on failure.
# lab: alone (adds users and group moat, which test_package also manages)
set -uo pipefail
. "$(dirname "$0")/lib.sh"
lab_init opsock
for t in setpriv useradd userdel groupadd groupdel; do
	command -v "$t" >/dev/null || { echo "$t is missing"; exit 2; }
done

U_OUT=moatx$$
U_IN=moatm$$
MADE_GROUP=0
users_cleanup() {
	local rc=$?
	userdel "$U_OUT" >/dev/null 2>&1
	userdel "$U_IN" >/dev/null 2>&1
	getent group "$U_OUT" >/dev/null && groupdel "$U_OUT" 2>/dev/null
	getent group "$U_IN" >/dev/null && groupdel "$U_IN" 2>/dev/null
	[ "$MADE_GROUP" = 1 ] && groupdel moat 2>/dev/null
	(exit "$rc")
	lab_cleanup
}
trap users_cleanup EXIT
if ! getent group moat >/dev/null; then
	groupadd --system moat && MADE_GROUP=1
fi
useradd --system --no-create-home --shell /usr/sbin/nologin --user-group "$U_OUT"
useradd --system --no-create-home --shell /usr/sbin/nologin --user-group -G moat "$U_IN"
UID_OUT=$(id -u "$U_OUT")

lab_topology
cp "$LAB_TOP/tests/lab/configs/firewall.conf" "$RUN/moat.conf"
moat_start_spawned "$RUN/moat.conf" || exit 1
SOCK=$RUN/control.sock
check "the socket is group moat, mode 0660" [ "$(stat -c '%G %a' "$SOCK")" = "moat 660" ]

# as USER [setpriv options...] -- moatctl args: moatctl as that user; stdout+stderr in $RUN/as.out
as() {
	local user=$1
	shift
	local opts=()
	while [ "$1" != -- ]; do opts+=("$1"); shift; done
	shift
	setpriv --reuid="$user" "${opts[@]}" "$MOAT_BUILD/moatctl" --run-dir "$RUN" "$@" >"$RUN/as.out" 2>&1
}

as "$U_OUT" --regid="$U_OUT" --init-groups -- show system status
rc=$?
check "outsider refused (exit $rc, not 0)" [ "$rc" -ne 0 ]
check "  ... with a clear reason" grep -q "permission denied on $SOCK: moatctl needs root or membership of group moat" "$RUN/as.out"
cat "$RUN/as.out"

as "$U_IN" --regid="$U_IN" --init-groups -- show system status
check "member of group moat (supplementary) accepted" grep -q "^forwarding: " "$RUN/as.out"
as "$U_OUT" --regid=moat --clear-groups -- show system status
check "primary group moat accepted" grep -q "^forwarding: " "$RUN/as.out"

# Defence in depth: even with the socket's mode opened up, controld checks the peer.
chmod 0666 "$SOCK"
as "$U_OUT" --regid="$U_OUT" --init-groups -- show system status
rc=$?
chmod 0660 "$SOCK"
check "outsider on an open socket refused by SO_PEERCRED (exit $rc = 13)" [ "$rc" -eq 13 ]
check "  ... told why" grep -q "permission denied: moatctl needs root or group moat" "$RUN/as.out"
cat "$RUN/as.out"
check "  ... and the refusal logged with the uid" grep -q "operator socket: refused uid $UID_OUT (pid [0-9]*): not root and not in group moat" "$RUN/controld.log"

# ---- per-client limits ----
"$PY" "$LAB_TOP/tests/lab/opsock_clients.py" "$SOCK" many 40 >"$RUN/many.out" 2>&1
cat "$RUN/many.out"
check "40 connections: 32 held, 8 refused" grep -q "^accepted 32 refused 8$" "$RUN/many.out"
check "  ... refused as busy" grep -q "^refusal: controld is busy: too many moatctl clients" "$RUN/many.out"
check "  ... a held connection still answered" grep -q "^request on a held connection: status 0$" "$RUN/many.out"
check "  ... each refusal logged with its reason (8)" [ "$(grep -c 'operator socket: refused uid 0 (pid [0-9]*): [0-9]* clients connected already, at most 32' "$RUN/controld.log")" -eq 8 ]
check "moatctl works once they are gone" wait_for 5 "moatctl answers" moatctl show system status

"$PY" "$LAB_TOP/tests/lab/opsock_clients.py" "$SOCK" oversized >"$RUN/big.out" 2>&1
cat "$RUN/big.out"
check "a 2 MiB frame header closes its connection" grep -q "^oversized frame: closed$" "$RUN/big.out"
check "  ... logged" grep -q "operator socket: closing connection from pid [0-9]*: frame length is zero or over the size cap" "$RUN/controld.log"
check "an undecodable frame closes its connection" grep -q "^undecodable frame: closed$" "$RUN/big.out"
check "  ... logged" grep -q "operator socket: closing connection from pid [0-9]*: frame is not a valid moat.Envelope" "$RUN/controld.log"
check "a connection opened before them is served" grep -q "^request on the connection opened before them: status 0$" "$RUN/big.out"

"$PY" "$LAB_TOP/tests/lab/opsock_clients.py" "$SOCK" idle >"$RUN/idle.out" 2>&1
cat "$RUN/idle.out"
check "an idle connection is closed after the request timeout" grep -Eq "^idle connection: closed after [4-6]\.[0-9] s$" "$RUN/idle.out"
check "  ... logged" grep -q "sent no complete request in 5000 ms; closing" "$RUN/controld.log"

check "controld still running" kill -0 "$CONTROLD_PID"
check "still serving" moatctl show system status
lab_finish
