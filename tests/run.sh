#!/usr/bin/env bash
# Runs every Moat test: installs what is missing, builds (release and ASan+UBSan), runs the
# cmocka unit tests in both builds, the libFuzzer harnesses (tests/fuzz/run.sh), then the lab
# (namespace) tests: the whole lab suite against the sanitizer build, the demo and the package
# against the release build (see "Lab tests" below).
# Needs root for the lab tests. Prints "N passed, M failed" last; exit status 0 only if
# everything passed.
#
#   tests/run.sh            everything
#   tests/run.sh --unit     unit tests only (no root needed once the packages are present)
#   tests/run.sh --quick    the release build only (the lab runs against it)
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

# The release build is configured for /usr, as the Debian package is: tests/lab/test_package.sh
# packages it instead of building a third time.
build() { # build DIR TYPE
	cmake -S "$TOP" -B "$TOP/$1" -DCMAKE_BUILD_TYPE="$2" -DCMAKE_INSTALL_PREFIX=/usr >/dev/null &&
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

# Lab tests. Each runs once. In the full run the sanitizer build (ASan+UBSan) runs the whole
# integration suite; the release build runs the tests marked "# lab: release" (the README's
# demo and the Debian package, which are made from the release build). With --quick the
# release build runs everything. Tests marked "# lab: alone" (their checks measure rates or
# timing, or they touch state outside their namespaces: group moat, the package) run with no
# other test beside them; the others run two at a time (each has its own namespaces, run
# directory and bpffs), each one's output printed whole when it ends.
lab_dir_for() { # lab_dir_for TEST: the build directory it runs against
	if [ "$MODE" != --quick ] && ! grep -q '^# lab: release' "$1"; then echo build-san; else echo build; fi
}
LAB_LOGS=$(mktemp -d /tmp/moat-lab-logs.XXXXXX)
declare -A lab_job_name lab_job_start
lab_start() { # lab_start TEST: in the background
	local t=$1 dir name
	dir=$(lab_dir_for "$t")
	name="$(basename "$t" .sh) ($dir)"
	MOAT_BUILD="$TOP/$dir" timeout 600 bash "$t" >"$LAB_LOGS/$(basename "$t" .sh).log" 2>&1 &
	lab_job_name[$!]=$name
	lab_job_start[$!]=$SECONDS
}
lab_reap() { # lab_reap: waits for one running test, prints its output, records it
	local pid rc name log
	wait -n -p pid "${!lab_job_name[@]}"
	rc=$?
	name=${lab_job_name[$pid]}
	log="$LAB_LOGS/${name%% *}.log"
	echo "==== lab: $name"
	cat "$log"
	echo "==== lab: $name: rc=$rc in $((SECONDS - ${lab_job_start[$pid]}))s"
	record "$name" "$rc"
	unset "lab_job_name[$pid]" "lab_job_start[$pid]"
}
if [ "$MODE" != --unit ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "lab tests skipped: they need root"
		record "lab tests (need root)" 1
	else
		export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
		export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
		lab_t0=$SECONDS
		alone=()
		pooled=()
		for t in "$TOP"/tests/lab/test_*.sh; do
			if grep -q '^# lab: .*alone' "$t"; then alone+=("$t"); else pooled+=("$t"); fi
		done
		for t in "${alone[@]}"; do
			lab_start "$t"
			lab_reap
		done
		for t in "${pooled[@]}"; do
			[ "${#lab_job_name[@]}" -lt 2 ] || lab_reap
			lab_start "$t"
		done
		while [ "${#lab_job_name[@]}" -gt 0 ]; do lab_reap; done
		echo "==== lab: $((${#alone[@]} + ${#pooled[@]})) tests in $((SECONDS - lab_t0))s"
	fi
fi
rm -rf "$LAB_LOGS"

echo
for f in "${failures[@]}"; do echo "failed: $f"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
