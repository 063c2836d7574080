#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The kernel path's session entries and per-address session counts, as pinned under BPFFS_DIR:
prints "ENTRIES SRC DST": the entries of moat_lg_sess (two per session), and the sums over every
slot of moat_lg_scrcnt of the counts by source and by destination address (each session counts
once in each). Read with bpftool and by mapping moat_lg_scrcnt (BPF_F_MMAPABLE).

usage: lg_counts.py BPFFS_DIR
"""
import ctypes, json, mmap, os, struct, subprocess, sys

SLOTS = 65536  # MOAT_LG_SCR_CNT_SLOTS, of struct moat_lg_scrcnt { __u32 src, dst; }
BPF_OBJ_GET = 7
NR_BPF = 321  # x86_64

d = sys.argv[1]
out = subprocess.run(["bpftool", "-j", "map", "dump", "pinned", os.path.join(d, "moat_lg_sess")],
                     capture_output=True, text=True, check=True).stdout
entries = len(json.loads(out))

libc = ctypes.CDLL(None, use_errno=True)
path = ctypes.create_string_buffer(os.path.join(d, "moat_lg_scrcnt").encode())
attr = ctypes.create_string_buffer(struct.pack("=QII", ctypes.addressof(path), 0, 0), 128)
fd = libc.syscall(NR_BPF, BPF_OBJ_GET, attr, 128)
if fd < 0:
    sys.exit("lg_counts: moat_lg_scrcnt: " + os.strerror(ctypes.get_errno()))
with mmap.mmap(fd, SLOTS * 8, mmap.MAP_SHARED, mmap.PROT_READ) as m:
    c = memoryview(m).cast("I")
    src, dst = sum(c[0::2]), sum(c[1::2])
    c.release()
os.close(fd)
print(entries, src, dst)
