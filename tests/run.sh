#!/usr/bin/env bash
# Runs every Moat test: installs what is missing, builds (normal and ASan+UBSan), runs the
# cmocka unit tests in both builds, the libFuzzer harnesses (tests/fuzz/run.sh), then the lab
# (namespace) tests against both builds.
# Needs root for the lab tests. Prints "N passed, M failed" last; exit status 0 only if
# everything passed.
#
#   tests/run.sh            everything
#   tests/run.sh --unit     unit tests only (no root needed once the packages are present)
#   tests/run.sh --quick    one build (no sanitizer pass over the lab)
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
MODE=${1:-all}

if [ "$(id -u)" = 0 ]; then
	bash packaging/install-deps.sh || { echo "installing dependencies failed"; exit 1; }
fi

passed=0
failed=0
failures=()
record() { # record NAME RC
	if [ "$2" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$1"); fi
}

build() { # build DIR TYPE
	cmake -S "$TOP" -B "$TOP/$1" -DCMAKE_BUILD_TYPE="$2" >/dev/null &&
		cmake --build "$TOP/$1" -j"$(nproc)" 2>&1 | grep -Ev '^\[ *[0-9]+%\]|^-- ' || true
	[ -x "$TOP/$1/moat-controld" ] && [ -x "$TOP/$1/moat-dataplane" ] && [ -x "$TOP/$1/moatctl" ]
}

builds=(build:RelWithDebInfo)
[ "$MODE" = --quick ] || builds+=(build-san:Sanitize)

for b in "${builds[@]}"; do
	dir=${b%%:*}
	type=${b##*:}
	echo "==== build $dir ($type)"
	build "$dir" "$type"
	record "build $dir" $?
	echo "==== unit tests ($dir)"
	(cd "$TOP/$dir" && ctest --output-on-failure)
	record "unit tests ($dir)" $?
done

# libFuzzer harnesses (clang, own build dir build-fuzz/): a bounded run each, regressions replayed.
echo "==== fuzz (tests/fuzz/run.sh)"
bash "$TOP/tests/fuzz/run.sh"
record "fuzz" $?

if [ "$MODE" != --unit ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "lab tests skipped: they need root"
		record "lab tests (need root)" 1
	else
		export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
		export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
		for b in "${builds[@]}"; do
			dir=${b%%:*}
			for t in "$TOP"/tests/lab/test_*.sh; do
				# Tests that build their own drivers and use no daemon binaries
				# ("# lab: once" in the file) run against the first build only.
				if [ "$b" != "${builds[0]}" ] && grep -q '^# lab: once' "$t"; then
					continue
				fi
				name="$(basename "$t" .sh) ($dir)"
				echo "==== lab: $name"
				start=$SECONDS
				MOAT_BUILD="$TOP/$dir" timeout 600 bash "$t"
				rc=$?
				echo "==== lab: $name: rc=$rc in $((SECONDS - start))s"
				record "$name" $rc
			done
		done
	fi
fi

echo
for f in "${failures[@]}"; do echo "failed: $f"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
