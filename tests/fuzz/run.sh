#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang, -fsanitize=fuzzer,address,undefined, in a build dir of
# their own: build-fuzz/, CMake option MOAT_FUZZ=ON) and runs each one for a bounded time from
# its seed corpus (tests/fuzz/corpus/NAME/), then replays every regression input
# (tests/fuzz/regressions/NAME/*). Prints executions, coverage and exec/s per harness; exits
# non-zero if a harness crashed, failed an invariant or did not build. No root needed (clang
# and libclang-rt-14-dev from packaging/install-deps.sh).
#
#   tests/fuzz/run.sh           every harness, FUZZ_SECONDS (default 10) each, 40 s in all
#   tests/fuzz/run.sh packet    one harness (packet, config, frame, ha)
#   tests/fuzz/run.sh --seeds   rewrites tests/fuzz/corpus/ (after changing an input format)
#
# A crash leaves its input in build-fuzz/fuzz-artifacts/NAME/: fix the bug, then commit the
# input under tests/fuzz/regressions/NAME/ so that every later run replays it.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${FUZZ_BUILD:-$TOP/build-fuzz}
SECS=${FUZZ_SECONDS:-10}
HARNESSES=(packet config frame ha)

build() {
	cmake -S "$TOP" -B "$BUILD" -DMOAT_FUZZ=ON -DCMAKE_C_COMPILER=clang \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || return 1
	cmake --build "$BUILD" -j"$(nproc)" --target fuzz moat-fuzz-seeds 2>&1 |
		grep -Ev '^\[ *[0-9]+%\]|^-- |^gmake|^make' || true
	for h in "${HARNESSES[@]}"; do
		[ -x "$BUILD/fuzz/moat-fuzz-$h" ] || return 1
	done
}

if ! build; then
	echo "fuzz: building the harnesses in $BUILD failed (clang and libclang-rt-14-dev installed?)"
	exit 1
fi

if [ "${1:-}" = --seeds ]; then
	rm -rf "$TOP/tests/fuzz/corpus/packet" "$TOP/tests/fuzz/corpus/frame" "$TOP/tests/fuzz/corpus/config" \
		"$TOP/tests/fuzz/corpus/ha"
	"$BUILD/fuzz/moat-fuzz-seeds" "$TOP/tests/fuzz/corpus" || exit 1
	mkdir -p "$TOP/tests/fuzz/corpus/config"
	for c in "$TOP"/../shared/examples/*.conf "$TOP"/tests/lab/configs/*.conf \
		"$TOP"/tests/unit/config/*.conf "$TOP"/tests/fuzz/packet.conf; do
		[ -f "$c" ] && cp "$c" "$TOP/tests/fuzz/corpus/config/$(basename "$(dirname "$c")")-$(basename "$c")"
	done
	# fuzz_config's dictionary: the keywords the validator compares words with.
	{
		echo "# libFuzzer dictionary of fuzz_config: the config language's keywords (from the validator's"
		echo "# sources) and punctuation. Regenerate: tests/fuzz/run.sh --seeds."
		{
			grep -ohE '"[a-z][a-z0-9-]+"' "$TOP"/controld/config/*.c
			printf '"%s"\n' "{" "}" ";" "[" "]" "#" '\"' " to " /32 /128 ::/0 0.0.0.0/0 \
				10.77.1.1/24 fd00::1/64 65535 4294967296
		} | sort -u
	} >"$TOP/tests/fuzz/config.dict"
	ls "$TOP/tests/fuzz/corpus"/* | head -100
	exit 0
fi

[ $# -gt 0 ] && HARNESSES=("$@")
rc=0
summary=()
for h in "${HARNESSES[@]}"; do
	bin="$BUILD/fuzz/moat-fuzz-$h"
	corpus="$TOP/tests/fuzz/corpus/$h"
	work="$BUILD/fuzz-work/$h"
	art="$BUILD/fuzz-artifacts/$h"
	mkdir -p "$work" "$art"
	log="$BUILD/fuzz-$h.log"
	echo "==== fuzz $h: ${SECS}s from $corpus"
	# -rss_limit_mb: the harnesses keep a session table or two; more is a leak.
	dict=()
	[ -f "$TOP/tests/fuzz/$h.dict" ] && dict=(-dict="$TOP/tests/fuzz/$h.dict")
	"$bin" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		"${dict[@]}" -artifact_prefix="$art/" "$work" "$corpus" >"$log" 2>&1
	r=$?
	done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)
	execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
	cov=$(sed -nE 's/.* cov: ([0-9]+) ft: ([0-9]+) corp: ([0-9]+)\/.*exec\/s: ([0-9]+).*/cov \1, features \2, corpus \3, \4 exec\/s/p' <<<"$done_line")
	if [ $r -ne 0 ]; then
		echo "fuzz $h: FAILED (rc=$r); the input that failed is in $art/:"
		grep -E 'invariant failed|ERROR: |SUMMARY|Test unit written' "$log" | head -10
		echo "(full output: $log)"
		rc=1
	fi
	summary+=("fuzz $h: ${execs:-?} executions, ${cov:-no DONE line}")
	regs=("$TOP/tests/fuzz/regressions/$h"/*)
	if [ -e "${regs[0]}" ]; then
		if "$bin" "${regs[@]}" >"$BUILD/fuzz-$h-regressions.log" 2>&1; then
			summary+=("fuzz $h: ${#regs[@]} regression inputs replayed, all pass")
		else
			echo "fuzz $h: a regression input fails again (see $BUILD/fuzz-$h-regressions.log)"
			grep -E 'invariant failed|ERROR: |SUMMARY|Running: ' "$BUILD/fuzz-$h-regressions.log" | tail -5
			rc=1
		fi
	fi
done
printf '%s\n' "${summary[@]}"
exit $rc
