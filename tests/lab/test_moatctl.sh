#!/usr/bin/env bash
# moatctl help and completion against a live controld: every command `moatctl help` lists
# (the table in common/commands.c) is known to controld's dispatcher, `moatctl help` works
# without a daemon, `?` lists what may follow, and the bash completion file completes every
# command word by word.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
lab_init moatctl
lab_topology

check "moatctl help works without a daemon" bash -c "$MOAT_BUILD/moatctl --run-dir $RUN/none help | grep -q 'show system status'"
check "moatctl show ? lists the show commands" bash -c "$MOAT_BUILD/moatctl show ? | grep -q '^  security '"
check "moatctl show bogus ? fails and says so" bash -c "! $MOAT_BUILD/moatctl show bogus ? 2>&1 && $MOAT_BUILD/moatctl show bogus ? 2>&1 | grep -q 'no command starts with'"

moat_start "$LAB_TOP/tests/lab/configs/foundation.conf" || exit 1

# The commands, from the help text: the words up to the first "[" or placeholder.
mapfile -t cmds < <("$MOAT_BUILD/moatctl" help | awk '
	/^  [a-z]/ {
		line = substr($0, 3); sub(/  .*/, "", line); n = split(line, w, " "); out = ""
		for (i = 1; i <= n; i++) {
			if (w[i] ~ /^\[/) break
			if (w[i] ~ /^[A-Z]/) { out = out " 0"; break }
			out = out (out ? " " : "") w[i]
		}
		print out
	}')
check "help lists at least 15 commands (got ${#cmds[@]})" [ "${#cmds[@]}" -ge 15 ]

# shellcheck source=/dev/null
. "$LAB_TOP/packaging/moatctl.bash-completion"
PATH="$MOAT_BUILD:$PATH"
completes() { # completes WORDS...: each word is offered by _moatctl after the previous ones
	local -a w=("$@")
	local i
	for ((i = 0; i < ${#w[@]}; i++)); do
		[[ "${w[i]}" =~ ^[0-9]+$ ]] && continue # a value, not completed
		COMP_WORDS=(moatctl "${w[@]:0:i}" "${w[i]:0:2}")
		COMP_CWORD=$((i + 1))
		_moatctl
		printf '%s\n' "${COMPREPLY[@]}" | grep -qx -- "${w[i]}" || { echo "\"${w[i]}\" not offered after \"${w[*]:0:i}\" (got ${COMPREPLY[*]})"; return 1; }
	done
}
bad_unknown=()
bad_complete=()
for c in "${cmds[@]}"; do
	run=$c
	[ "$c" = "trace flow" ] && run="trace flow duration 1" # not its default 30 s
	# shellcheck disable=SC2086
	out=$(moatctl --timeout 10 $run 2>&1 >/dev/null)
	grep -q 'unknown command' <<<"$out" && bad_unknown+=("$c: $out")
	# shellcheck disable=SC2086
	completes $c >/dev/null || bad_complete+=("$c")
done
check "controld knows every command of the table" bash -c "printf '%s\n' \"\$@\"; [ \$# -eq 0 ]" _ "${bad_unknown[@]}"
check "bash completion completes every command word by word" bash -c "printf '%s\n' \"\$@\"; [ \$# -eq 0 ]" _ "${bad_complete[@]}"
COMP_WORDS=(moatctl --run-dir /tmp show security flow session protocol "");
COMP_CWORD=8
_moatctl
check "completion offers protocol values (got ${COMPREPLY[*]})" bash -c "printf '%s\n' ${COMPREPLY[*]} | grep -qx icmp6"
COMP_WORDS=(moatctl --j)
COMP_CWORD=1
_moatctl
check "completion offers moatctl's options" [ "${COMPREPLY[*]}" = --json ]
lab_finish
