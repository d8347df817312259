#!/usr/bin/env python3
"""Idle TLS connections: idle.py HOST PORT SNI COUNT [INFLIGHT] [DEADLINE_S]

Opens COUNT TLS connections (TLS 1.3, no certificate verification: the target is a
local benchmark peer), completes every handshake, sends nothing, and keeps them open.
Prints "READY <established> <failed>" on stdout once every connection is up or failed
(or DEADLINE_S passed), then holds them until stdin closes or SIGTERM arrives.
At most INFLIGHT handshakes run at once so the target's accept queue never overflows.
"""
import selectors
import signal
import socket
import ssl
import sys
import time


def main():
    host, port, sni, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    inflight = int(sys.argv[5]) if len(sys.argv) > 5 else 128
    deadline = time.monotonic() + (float(sys.argv[6]) if len(sys.argv) > 6 else 120.0)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    sel = selectors.DefaultSelector()
    done, failed, started = [], 0, 0
    pending = 0

    def start():
        nonlocal started, pending, failed
        started += 1
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect((host, port))
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            failed += 1
            return
        t = ctx.wrap_socket(s, server_hostname=sni, do_handshake_on_connect=False)
        sel.register(t, selectors.EVENT_WRITE)
        pending += 1

    while (started < count or pending) and time.monotonic() < deadline:
        while started < count and pending < inflight:
            start()
        for key, _ in sel.select(timeout=0.5):
            t = key.fileobj
            try:
                t.do_handshake()
            except ssl.SSLWantReadError:
                sel.modify(t, selectors.EVENT_READ)
                continue
            except ssl.SSLWantWriteError:
                sel.modify(t, selectors.EVENT_WRITE)
                continue
            except (OSError, ssl.SSLError):
                sel.unregister(t)
                t.close()
                pending -= 1
                failed += 1
                continue
            sel.unregister(t)
            pending -= 1
            done.append(t)
    failed += pending
    print("READY %d %d" % (len(done), failed), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        sys.stdin.read()
    finally:
        for t in done:
            t.close()


if __name__ == "__main__":
    main()
