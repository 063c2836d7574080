#!/usr/bin/env python3
"""tcp_echo.py [--bind ADDR] [--log FILE] PORT [PORT ...]

A TCP echo server for the lab: listens on every PORT (at ADDR, default any), echoes each
connection back until the peer closes it, and with --log appends "address:port" of every
peer accepted (the translated source a NAT test checks). Runs until killed.
"""
import argparse
import socket
import threading

ap = argparse.ArgumentParser()
ap.add_argument("--bind", default="0.0.0.0")
ap.add_argument("--log")
ap.add_argument("ports", type=int, nargs="+")
args = ap.parse_args()
log = open(args.log, "a") if args.log else None
lock = threading.Lock()


def serve(c, peer):
    if log:
        with lock:
            log.write("%s:%d\n" % peer)
            log.flush()
    try:
        while True:
            d = c.recv(4096)
            if not d:
                break
            c.sendall(d)
    except OSError:
        pass
    c.close()


def listen(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((args.bind, port))
    s.listen(64)
    while True:
        c, peer = s.accept()
        threading.Thread(target=serve, args=(c, peer), daemon=True).start()


for p in args.ports:
    threading.Thread(target=listen, args=(p,), daemon=True).start()
threading.Event().wait()
