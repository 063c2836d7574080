#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A stand-in for moat-dataplane that speaks the helper protocol (proto/moat.proto) to
controld, for tests of controld's side: commits the helper refuses, the session mirror,
clear security flow session, policy hit counts, and the sessions re-seeded after a restart.

It binds no socket and forwards nothing. It prints one line per event on stdout:
  snapshot generation=N policies=a,b sessions=K ids=1,2
  applied generation=N ok=1|0
  clear request=R ids=1,2
  counters request=R
Behaviour:
  it refuses (SnapshotApplied ok=false) any snapshot holding a policy named "helper-refuses";
  --sessions: after the first applied snapshot it sends a delta batch creating three sessions
    (tcp, udp, icmp), updating the tcp one and closing the icmp one (reason aged);
  SessionClear: closes those ids (CLOSE deltas, reason cleared) and answers with the count;
  PolicyCountersRequest: hits = 10 x policy id for every policy of the last snapshot, and 3
    for the default policy (id 0); --mute-counters: never answers.
Only the Python standard library: the protobuf wire format is written and read by hand.
"""
import argparse
import os
import select
import signal
import re
import socket
import struct
import sys
import time

# The helper protocol version controld speaks (MOAT_PROTO_VERSION in controld/helper.h).
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../controld/helper.h")) as _h:
    VERSION = int(re.search(r"#define MOAT_PROTO_VERSION (\d+)", _h.read()).group(1))
# Envelope fields
HELLO, HELLO_ACK, SNAPSHOT, SNAPSHOT_APPLIED = 1, 2, 3, 4
HEARTBEAT = 7
SESSION_DELTAS, SESSION_CLEAR, SESSION_CLEAR_REPLY = 10, 11, 12
COUNTERS_REQUEST, COUNTERS_REPLY = 13, 14


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def f_varint(field, v):
    return varint(field << 3) + varint(v) if v else b""


def f_bytes(field, b):
    return varint((field << 3) | 2) + varint(len(b)) + b


def f_str(field, s):
    return f_bytes(field, s.encode()) if s else b""


def parse(buf):
    """Fields of one message: {field: [values]} (ints for varints, bytes for the rest)."""
    out = {}
    i = 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        field, wt = key >> 3, key & 7
        if wt == 0:
            v, i = read_varint(buf, i)
        elif wt == 2:
            n, i = read_varint(buf, i)
            v = buf[i:i + n]
            i += n
        elif wt == 1:
            v = struct.unpack_from("<Q", buf, i)[0]
            i += 8
        elif wt == 5:
            v = struct.unpack_from("<I", buf, i)[0]
            i += 4
        else:
            raise ValueError("wire type %d" % wt)
        out.setdefault(field, []).append(v)
    return out


def read_varint(buf, i):
    v = shift = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i


def packed_uints(vals):
    """A repeated uint64 field: packed (bytes) or one varint per value."""
    out = []
    for v in vals:
        if isinstance(v, (bytes, bytearray)):
            i = 0
            while i < len(v):
                x, i = read_varint(v, i)
                out.append(x)
        else:
            out.append(v)
    return out


class Helper:
    def __init__(self, args):
        self.args = args
        self.sock = None
        self.rx = b""
        self.applied = 0
        self.hb_seq = 0
        self.policies = []
        self.sessions = {}  # id -> record fields (for the close deltas)
        self.batch_seq = 0
        self.sent_sessions = False

    def say(self, line):
        print(line, flush=True)

    def send(self, field, payload):
        env = f_bytes(field, payload)
        self.sock.sendall(struct.pack(">I", len(env)) + env)

    def connect(self):
        path = os.path.join(self.args.run_dir, "dataplane.sock")
        end = time.time() + 10
        while True:
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(path)
                self.sock = s
                return
            except OSError:
                if time.time() > end:
                    raise
                time.sleep(0.1)

    @staticmethod
    def addr(a):
        return socket.inet_pton(socket.AF_INET6 if ":" in a else socket.AF_INET, a)

    def record(self, sid, src, sport, dst, dport, proto, state, close_reason=0, pkts=(1, 0)):
        fwd = (f_bytes(1, self.addr(src)) + f_bytes(2, self.addr(dst)) + f_varint(3, sport) +
               f_varint(4, dport) + f_varint(5, proto))
        rev = (f_bytes(1, self.addr(dst)) + f_bytes(2, self.addr(src)) + f_varint(3, dport) +
               f_varint(4, sport) + f_varint(5, proto))
        now = int(time.time() * 1000)
        return (f_varint(1, sid) + f_bytes(2, fwd) + f_bytes(3, rev) + f_varint(4, 1) +
                f_varint(5, 2) + f_varint(6, self.args.if_in) + f_varint(7, self.args.if_out) +
                f_varint(8, 1) + f_str(9, "allow-web") + f_varint(10, state) +
                f_varint(11, pkts[0]) + f_varint(12, pkts[0] * 100) + f_varint(13, pkts[1]) +
                f_varint(14, pkts[1] * 100) + f_varint(15, now - 5000) + f_varint(16, now) +
                f_varint(17, 1800 if proto == 6 else 60) + f_varint(20, close_reason) +
                f_str(21, "junos-http" if proto == 6 else ""))

    def batch(self, deltas):
        body = f_varint(1, self.batch_seq) + b"".join(
            f_bytes(2, f_varint(1, kind) + f_bytes(2, rec)) for kind, rec in deltas)
        self.batch_seq += 1
        self.send(SESSION_DELTAS, body)

    def send_sessions(self):
        tcp = (0x1000000000001, "10.77.1.2", 40000, "10.77.2.2", 80, 6)
        udp = (0x1000000000002, "10.77.1.2", 5353, "10.77.2.2", 53, 17)
        icmp = (0x1000000000003, "10.77.1.2", 7, "10.77.2.2", 0, 1)
        for s in (tcp, udp, icmp):
            self.sessions[s[0]] = s
        self.batch([(0, self.record(*tcp, state=1)), (0, self.record(*udp, state=0)),
                    (0, self.record(*icmp, state=0))])
        self.batch([(1, self.record(*tcp, state=3, pkts=(10, 8))),
                    (2, self.record(*icmp, state=7, close_reason=1, pkts=(2, 2)))])
        del self.sessions[icmp[0]]

    def on_snapshot(self, body):
        f = parse(body)
        gen = f.get(1, [0])[0]
        self.policies = []
        for p in f.get(7, []):
            pf = parse(p)
            self.policies.append((pf.get(1, [0])[0], pf.get(2, [b""])[0].decode()))
        ids = [parse(r).get(1, [0])[0] for r in f.get(10, [])]
        self.say("snapshot generation=%d policies=%s sessions=%d ids=%s" %
                 (gen, ",".join(n for _, n in self.policies), len(ids),
                  ",".join(str(i) for i in sorted(ids))))
        refuse = any(n == "helper-refuses" for _, n in self.policies)
        body = f_varint(1, gen) + f_varint(2, 0 if refuse else 1)
        if refuse:
            body += f_str(3, "fake helper: policy helper-refuses is refused")
        self.send(SNAPSHOT_APPLIED, body)
        self.say("applied generation=%d ok=%d" % (gen, 0 if refuse else 1))
        if not refuse:
            self.applied = gen
            if self.args.sessions and not self.sent_sessions:
                self.sent_sessions = True
                self.send_sessions()

    def on_clear(self, body):
        f = parse(body)
        req = f.get(1, [0])[0]
        ids = packed_uints(f.get(2, []))
        self.say("clear request=%d ids=%s" % (req, ",".join(str(i) for i in ids)))
        closed = []
        for i in ids:
            s = self.sessions.pop(i, None)
            if s:
                closed.append((2, self.record(*s, state=7, close_reason=4)))
        self.send(SESSION_CLEAR_REPLY, f_varint(1, req) + f_varint(2, len(closed)))
        if closed:
            self.batch(closed)

    def on_counters(self, body):
        req = parse(body).get(1, [0])[0]
        self.say("counters request=%d" % req)
        if self.args.mute_counters:
            return
        ctrs = [f_bytes(3, f_varint(1, 0) + f_varint(2, 3))]
        for pid, _ in self.policies:
            ctrs.append(f_bytes(3, f_varint(1, pid) + f_varint(2, 10 * pid) +
                                f_varint(3, 100 * pid) + f_varint(4, 1000 * pid)))
        self.send(COUNTERS_REPLY, f_varint(1, req) + f_varint(2, self.applied) + b"".join(ctrs))

    def run(self):
        self.connect()
        self.send(HELLO, f_varint(1, VERSION) + f_varint(2, os.getpid()) + f_varint(3, 1))
        next_hb = time.time()
        while True:
            now = time.time()
            if now >= next_hb:
                self.hb_seq += 1
                self.send(HEARTBEAT, f_varint(1, self.hb_seq) + f_varint(2, self.applied))
                next_hb = now + 0.1
            r, _, _ = select.select([self.sock], [], [], max(0.0, next_hb - time.time()))
            if not r:
                continue
            data = self.sock.recv(1 << 20)
            if not data:
                self.say("controld closed the connection")
                return 1
            self.rx += data
            while len(self.rx) >= 4:
                n = struct.unpack(">I", self.rx[:4])[0]
                if len(self.rx) < 4 + n:
                    break
                env = parse(self.rx[4:4 + n])
                self.rx = self.rx[4 + n:]
                for field, vals in env.items():
                    for body in vals:
                        if field == HELLO_ACK and not parse(body).get(2, [0])[0]:
                            self.say("refused by controld")
                            return 1
                        if field == SNAPSHOT:
                            self.on_snapshot(body)
                        elif field == SESSION_CLEAR:
                            self.on_clear(body)
                        elif field == COUNTERS_REQUEST:
                            self.on_counters(body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--sessions", action="store_true")
    ap.add_argument("--mute-counters", action="store_true")
    ap.add_argument("--if-in", type=int, default=0)
    ap.add_argument("--if-out", type=int, default=0)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    return Helper(args).run()


if __name__ == "__main__":
    sys.exit(main())
