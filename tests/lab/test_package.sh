#!/usr/bin/env bash
# The Debian package (CPack, CMakeLists.txt): packs the release build (prefix /usr; else builds
# build-deb), checks it with lintian (no errors), its contents and control data, then installs
# it for real with dpkg -i, checks the installed files, the conffile, the group moat, the man pages, the
# default config (moat-controld --check) and runs the installed daemons on the lab topology
# (default BPF folder, group-owned socket), and purges it. The machine is left as found: the
# install part runs only if no moat package, /etc/moat or /usr/sbin/moat-controld is
# present, the purge runs in the cleanup even on failure, and a group moat the package created
# is removed (Debian's postrm keeps system groups, the test must not).
# lab: release alone (packages the release build, installs it, adds group moat)
set -uo pipefail
. "$(dirname "$0")/lib.sh"
lab_init package
DEB_BUILD=$LAB_TOP/build-deb

# ---- build ----
# The release build tests/run.sh makes is configured for /usr (as the package is): package it.
# Otherwise (another build, another prefix) build-deb is made for the package.
# CMAKE_SKIP_INSTALL_ALL_DEPENDENCY: cpack installs what the package needs without building
# the unit tests and benchmarks first.
start=$SECONDS
if grep -qx 'CMAKE_INSTALL_PREFIX:PATH=/usr' "$MOAT_BUILD/CMakeCache.txt" 2>/dev/null &&
	grep -qx 'CMAKE_BUILD_TYPE:STRING=RelWithDebInfo' "$MOAT_BUILD/CMakeCache.txt"; then
	DEB_BUILD=$MOAT_BUILD
	rm -f "$DEB_BUILD"/moat_*.deb
	(cd "$DEB_BUILD" && cpack -G DEB) >"$RUN/cmake.log" 2>&1
elif cmake -S "$LAB_TOP" -B "$DEB_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
	-DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON >"$RUN/cmake.log" 2>&1 &&
	cmake --build "$DEB_BUILD" -j2 --target moat-controld moat-dataplane moatctl bpf_objects package_docs \
		>>"$RUN/cmake.log" 2>&1; then
	rm -f "$DEB_BUILD"/moat_*.deb
	(cd "$DEB_BUILD" && cpack -G DEB) >>"$RUN/cmake.log" 2>&1
fi
DEB=$(ls "$DEB_BUILD"/moat_*_amd64.deb 2>/dev/null | head -1)
check "the .deb is built ($(basename "${DEB:-none}"), $((SECONDS - start)) s)" [ -n "$DEB" ]
[ -n "$DEB" ] || { tail -30 "$RUN/cmake.log"; lab_finish; exit 1; }

# ---- static checks ----
lintian "$DEB" >"$RUN/lintian.out" 2>&1
sed 's/^/    lintian: /' "$RUN/lintian.out" | grep -v 'root privileges'
check "lintian reports no errors" bash -c "! grep -q '^E: ' $RUN/lintian.out"
dpkg-deb -c "$DEB" | awk '{print $NF}' | sed 's#^\./#/#' >"$RUN/contents"
for f in /usr/sbin/moat-controld /usr/sbin/moat-dataplane /usr/sbin/moatctl /usr/sbin/moat-debug-capture \
	/usr/lib/x86_64-linux-gnu/moat/bpf/shim.bpf.o /lib/systemd/system/moat-controld.service \
	/lib/systemd/system/moat-dataplane.service /etc/moat/moat.conf \
	/usr/share/bash-completion/completions/moatctl /usr/share/man/man8/moat-controld.8.gz \
	/usr/share/man/man8/moat-dataplane.8.gz /usr/share/man/man8/moatctl.8.gz \
	/usr/share/man/man8/moat-debug-capture.8.gz /usr/share/doc/moat/copyright; do
	grep -qx "$f" "$RUN/contents" || echo "$f" >>"$RUN/missing"
done
check "the package holds binaries, BPF objects, units, config, man pages, completion" bash -c "! cat $RUN/missing 2>/dev/null | grep ."
check "/etc/moat/moat.conf is a conffile" bash -c "dpkg-deb --ctrl-tarfile $DEB | tar -xO ./conffiles | grep -qx /etc/moat/moat.conf"
check "postinst creates the group moat" bash -c "dpkg-deb --ctrl-tarfile $DEB | tar -xO ./postinst | grep -q 'addgroup --system --quiet moat'"
check "the binaries look for BPF objects in the packaged folder" bash -c "dpkg-deb --fsys-tarfile $DEB | tar -xO ./usr/sbin/moat-controld | grep -aq /usr/lib/x86_64-linux-gnu/moat/bpf"
# moatctl's man page names every command of its table.
zcat_man() { dpkg-deb --fsys-tarfile "$DEB" | tar -xO ./usr/share/man/man8/moatctl.8.gz | gzip -dc | MANWIDTH=200 man -l - 2>/dev/null | col -b | tr -s ' '; }
zcat_man >"$RUN/moatctl.man"
missing_cmds=()
while read -r words; do
	w=${words%% [A-Z]*}
	grep -qF -- "$w" "$RUN/moatctl.man" || missing_cmds+=("$w")
done < <("$MOAT_BUILD/moatctl" help | awk '/^  [a-z]/ { l = substr($0, 3); sub(/  .*/, "", l); sub(/ \[.*/, "", l); print l }')
check "moatctl(8) documents every command of moatctl help" bash -c "printf '%s\n' \"\$@\"; [ \$# -eq 0 ]" _ "${missing_cmds[@]}"

# ---- install, use, purge ----
if dpkg-query -W moat >/dev/null 2>&1 || [ -e /etc/moat ] || [ -e /usr/sbin/moat-controld ]; then
	echo "NOTE: moat (or /etc/moat, /usr/sbin/moat-controld) is already on this machine:" \
		"the dpkg -i / purge part is skipped so as not to touch it"
	lab_finish
	exit $?
fi
had_group=0
getent group moat >/dev/null && had_group=1
pkg_cleanup() {
	local rc=$?
	dpkg --purge moat >"$RUN/purge.log" 2>&1
	[ "$had_group" = 0 ] && getent group moat >/dev/null && groupdel moat
	return $rc
}
trap 'pkg_cleanup; lab_cleanup' EXIT
check "dpkg -i installs it" dpkg -i "$DEB"
check "installed: dpkg lists moat" bash -c "dpkg-query -W -f='\${Status}' moat | grep -q 'install ok installed'"
check "installed: group moat exists" getent group moat
check "installed: /etc/moat/moat.conf is group moat, 0640" [ "$(stat -c '%G %a' /etc/moat/moat.conf)" = "moat 640" ]
check "installed: the default config is valid (moat-controld --check)" /usr/sbin/moat-controld --check --config /etc/moat/moat.conf
check "installed: man finds moat-controld(8)" bash -c "man -w moat-controld | grep -q /usr/share/man/man8/moat-controld.8.gz"
check "installed: moatctl help works" bash -c "/usr/sbin/moatctl help | grep -q 'show system status'"
check "installed: the units verify" systemd-analyze verify /lib/systemd/system/moat-controld.service /lib/systemd/system/moat-dataplane.service

# The installed daemons on the lab topology, with the packaged BPF folder (no --bpf-dir).
lab_topology
mkdir -p "$RUN/bpf"
mount -t bpf bpf "$RUN/bpf"
ip netns exec "$NS_FW" /usr/sbin/moat-controld --config "$LAB_TOP/tests/lab/configs/foundation.conf" \
	--run-dir "$RUN" --bpffs-dir "$RUN/bpf/moat" --state-dir "$RUN/state" \
	--spawn-dataplane /usr/sbin/moat-dataplane >>"$RUN/controld.log" 2>&1 &
CONTROLD_PID=$!
LAB_PIDS+=("$CONTROLD_PID")
MOAT_BUILD=/usr/sbin
check "installed daemons: armed" wait_for 20 armed is_armed
check "installed daemons: control.sock belongs to group moat, 0660" [ "$(stat -c '%G %a' "$RUN/control.sock")" = "moat 660" ]
check "installed daemons: traffic crosses Moat" ip netns exec "$NS_CLI" ping -c 3 -i 0.2 -W 2 10.77.2.2
MOAT_GID=$(getent group moat | cut -d: -f3)
check "a non-root member of group moat may use moatctl" \
	setpriv --reuid 65534 --regid 65534 --groups "$MOAT_GID" /usr/sbin/moatctl --run-dir "$RUN" show system status
setpriv --reuid 65534 --regid 65534 --clear-groups /usr/sbin/moatctl --run-dir "$RUN" show system status >"$RUN/nogroup.out" 2>&1
rc=$?
check "a non-root user outside group moat is refused (exit $rc, want 13)" bash -c "[ $rc -eq 13 ] && grep -q 'needs root or membership of group moat' $RUN/nogroup.out"
moat_stop_all
check "dpkg --purge removes it" dpkg --purge moat
check "purged: no files left" bash -c "! ls /usr/sbin/moat-controld /usr/lib/x86_64-linux-gnu/moat /etc/moat /lib/systemd/system/moat-controld.service 2>/dev/null | grep ."
lab_finish
