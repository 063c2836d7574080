#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Raw clients of controld's operator socket for tests/lab/test_opsock.sh.

usage: opsock_clients.py SOCKET many N      N connections at once; connection 1 then sends a
                                            request; prints "accepted A refused R" (refused:
                                            answered status 16 "busy" and closed) and
                                            "request on a held connection: status S"
       opsock_clients.py SOCKET oversized   one connection sends a 2 MiB frame header, one
                                            an undecodable frame, while another connection
                                            opened before them sends a request afterwards
       opsock_clients.py SOCKET idle        one connection sends nothing: prints how long
                                            until controld closed it

Frames are 4-byte big-endian length + moat.Envelope; an OpRequest (Envelope field 8) with
args (field 1) is encoded by hand, an OpReply (field 9) decoded for its status (field 1)
and error (field 3).
"""
import select
import socket
import struct
import sys
import time


def request(args):
    body = b"".join(b"\x0a" + bytes([len(a)]) + a.encode() for a in args)
    env = b"\x42" + varint(len(body)) + body
    return struct.pack(">I", len(env)) + env


def varint(n):
    out = b""
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def read_varint(b, i):
    n = shift = 0
    while True:
        c = b[i]
        i += 1
        n |= (c & 0x7f) << shift
        shift += 7
        if not c & 0x80:
            return n, i


def fields(b):
    """Top-level fields of a protobuf message: {number: value} (last wins)."""
    out, i = {}, 0
    while i < len(b):
        key, i = read_varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = read_varint(b, i)
        elif wt == 2:
            n, i = read_varint(b, i)
            v, i = b[i:i + n], i + n
        else:
            raise ValueError(f"wire type {wt}")
        out[num] = v
    return out


def read_reply(s, timeout):
    """(status, error) of the reply on s, None if nothing within timeout, 'eof' if closed."""
    s.settimeout(timeout)
    buf = b""
    try:
        while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
            chunk = s.recv(65536)
            if not chunk:
                return "eof" if not buf else ("partial", buf)
            buf += chunk
    except socket.timeout:
        return None
    env = fields(buf[4:4 + struct.unpack(">I", buf[:4])[0]])
    rep = fields(env.get(9, b""))
    err = rep.get(3, b"")
    return rep.get(1, 0), err.decode() if isinstance(err, bytes) else err


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def many(path, n):
    conns = [connect(path) for _ in range(n)]
    # Answered (refused) connections become readable at once; held ones stay silent. All
    # are watched together: the held ones are closed after controld's 5 s request timeout.
    time.sleep(0.5)
    readable, _, _ = select.select(conns, [], [], 0)
    accepted = refused = 0
    msgs = set()
    for s in conns:
        if s not in readable:
            accepted += 1  # held open, waiting for a request
            continue
        r = read_reply(s, 1)
        if isinstance(r, tuple) and r[0] == 16:
            refused += 1
            msgs.add(r[1])
        else:
            print(f"unexpected answer {r!r}")
    print(f"accepted {accepted} refused {refused}")
    for m in msgs:
        print(f"refusal: {m}")
    held = [s for s in conns if s not in readable]
    held[0].sendall(request(["show", "system", "status"]))
    r = read_reply(held[0], 5)
    print(f"request on a held connection: status {r[0] if isinstance(r, tuple) else r}")
    for s in conns:
        s.close()


def said(r):
    return "closed" if r == "eof" else repr(r)


def oversized(path):
    keep = connect(path)
    big = connect(path)
    big.sendall(struct.pack(">I", 2 << 20) + b"\0" * 4096)
    r = read_reply(big, 3)
    print(f"oversized frame: {said(r)}")
    bad = connect(path)
    bad.sendall(struct.pack(">I", 8) + b"\xff" * 8)
    r = read_reply(bad, 3)
    print(f"undecodable frame: {said(r)}")
    keep.sendall(request(["show", "system", "status"]))
    r = read_reply(keep, 5)
    print(f"request on the connection opened before them: status "
          f"{r[0] if isinstance(r, tuple) else r}")


def idle(path):
    s = connect(path)
    t0 = time.time()
    r = read_reply(s, 15)
    print(f"idle connection: {said(r)} after {time.time() - t0:.1f} s")


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    path, what = sys.argv[1], sys.argv[2]
    if what == "many":
        many(path, int(sys.argv[3]))
    elif what == "oversized":
        oversized(path)
    elif what == "idle":
        idle(path)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
