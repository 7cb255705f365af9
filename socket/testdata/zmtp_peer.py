#!/usr/bin/python3
"""A libzmq peer (through pyzmq) for wisp's ZMTP interop tests.

It binds or connects one socket, prints "ENDPOINT <endpoint>" once bound
(or "CONNECTED" once it has asked to connect), then does one job:

  echo N   REP/ROUTER/DEALER: send back each of N messages as received
  send N   send N messages whose last frame is the decimal sequence number
           (with --pad P, after a first frame of P bytes that starts with
           --identity, to tell senders apart)
  recv N   receive N messages; check their last frames count 0..N-1 in
           order and print "RECV_OK N", or "RECV_BAD ..." at the first gap
  req N    REQ: N round trips, checking each reply; "REQ_OK N"
  reqecho N  REQ: as req, but each reply must echo its request
  pub N    PUB: after --wait-ms (XPUB: after the first subscription
           arrives), send N messages cycling over --topics, each
           "<topic>-<seq>"
  dealer N DEALER, PAIR: send N messages, then receive N replies, checking
           they come back in order; "DEALER_OK N"
  recvuntil L  receive until a message whose last frame is L, checking the
           numbers only grow; "RECV_UNTIL <count> <first>"
  sub N    SUB: receive N messages, print each as "GOT <text>"

and exits 0. Any failure prints "ERROR <reason>" and exits 1.
"""
import argparse
import sys
import threading
import time

import zmq
import zmq.utils.z85


def out(*a):
    print(*a, flush=True)


def zap_handler(ctx, allowed):
    """A minimal ZAP handler (RFC 27): allows CURVE clients whose Z85
    public key is in allowed, and every PLAIN client named "admin" with
    password "secret"."""
    zap = ctx.socket(zmq.REP)
    zap.linger = 0
    zap.bind("inproc://zeromq.zap.01")

    def run():
        while True:
            try:
                msg = zap.recv_multipart()
            except zmq.ContextTerminated:
                zap.close()
                return
            try:
                reply = zap_reply(msg, allowed)
            except Exception as e:  # say why, rather than leave libzmq waiting
                out("ERROR zap handler:", repr(e))
                reply = msg[:2] + [b"500", b"handler failed", b"", b""]
            zap.send_multipart(reply)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return zap


def zap_reply(msg, allowed):
    version, seq, domain, addr, ident, mech = msg[:6]
    creds = msg[6:]
    ok = False
    user = b""
    if mech == b"CURVE":
        key = zmq.utils.z85.encode(creds[0])
        ok = key in allowed
        user = key
    elif mech == b"PLAIN":
        ok = creds[0] == b"admin" and creds[1] == b"secret"
        user = creds[0]
    code, text = (b"200", b"OK") if ok else (b"400", b"denied")
    return [version, seq, code, text, user, b""]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--type", required=True)
    p.add_argument("--bind")
    p.add_argument("--connect", action="append", default=[])
    p.add_argument("--job", required=True)
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--topics", default="")
    p.add_argument("--subscribe", action="append", default=[])
    p.add_argument("--identity")
    p.add_argument("--wait-ms", type=int, default=0)
    # Keys are Z85 and may start with "-": pass them as --option=KEY.
    p.add_argument("--curve-server")  # this server's secret key
    p.add_argument("--curve-serverkey")  # a client's: the server's public key
    p.add_argument("--curve-public")
    p.add_argument("--curve-secret")
    p.add_argument("--curve-allow", action="append", default=[])
    p.add_argument("--plain-server", action="store_true")
    p.add_argument("--plain-client", nargs=2)
    p.add_argument("--heartbeat", nargs=3, type=int)  # ivl, timeout, ttl (ms)
    p.add_argument("--timeout-ms", type=int, default=20000)
    p.add_argument("--sndhwm", type=int)
    p.add_argument("--pad", type=int, default=0)
    p.add_argument("--linger-ms", type=int, default=2000)
    a = p.parse_args()

    ctx = zmq.Context()
    zap = None
    if a.curve_allow or a.plain_server:
        zap = zap_handler(ctx, set(k.encode() for k in a.curve_allow))
    s = ctx.socket(getattr(zmq, a.type))
    s.linger = a.linger_ms  # how long close waits to deliver what is queued
    s.rcvtimeo = a.timeout_ms
    s.sndtimeo = a.timeout_ms
    if a.sndhwm is not None:
        s.sndhwm = a.sndhwm
    if a.identity:
        s.identity = a.identity.encode()
    if a.curve_server:
        s.curve_server = 1
        s.curve_secretkey = a.curve_server.encode()
        s.curve_publickey = zmq.curve_public(a.curve_server.encode())
    if a.curve_serverkey:
        s.curve_serverkey = a.curve_serverkey.encode()
        s.curve_publickey = a.curve_public.encode()
        s.curve_secretkey = a.curve_secret.encode()
    if a.plain_server:
        s.plain_server = 1
    if a.plain_client:
        s.plain_username = a.plain_client[0].encode()
        s.plain_password = a.plain_client[1].encode()
    if a.heartbeat:
        s.heartbeat_ivl, s.heartbeat_timeout, s.heartbeat_ttl = a.heartbeat
    for prefix in a.subscribe:
        s.setsockopt(zmq.SUBSCRIBE, prefix.encode())
    if a.bind:
        s.bind(a.bind)
        out("ENDPOINT", s.getsockopt(zmq.LAST_ENDPOINT).decode())
    for ep in a.connect:
        s.connect(ep)
    if a.connect:
        out("CONNECTED")

    n = a.count
    try:
        if a.job == "echo":
            for _ in range(n):
                s.send_multipart(s.recv_multipart())
        elif a.job == "send":
            if a.wait_ms:
                time.sleep(a.wait_ms / 1000)
            pad = []
            if a.pad:
                tag = (a.identity or "").encode()
                pad = [tag + b"x" * max(0, a.pad - len(tag))]
            for i in range(n):
                s.send_multipart(pad + [str(i).encode()])
        elif a.job == "recv":
            for i in range(n):
                msg = s.recv_multipart()
                if msg[-1] != str(i).encode():
                    out("RECV_BAD want", i, "got", msg)
                    return 1
            out("RECV_OK", n)
        elif a.job in ("req", "reqecho"):
            for i in range(n):
                s.send(b"req-%d" % i)
                rep = s.recv()
                want = (b"req-%d" if a.job == "reqecho" else b"rep-%d") % i
                if rep != want:
                    out("REQ_BAD want %r got %r" % (want, rep))
                    return 1
            out("REQ_OK", n)
        elif a.job == "pub":
            if a.type == "XPUB":
                sub = s.recv()
                out("SUBSCRIPTION", sub.hex())
            time.sleep(a.wait_ms / 1000)
            topics = a.topics.split(",")
            for i in range(n):
                s.send(("%s-%d" % (topics[i % len(topics)], i)).encode())
        elif a.job == "dealer":
            time.sleep(a.wait_ms / 1000)
            for i in range(n):
                s.send_multipart([str(i).encode()])
            for i in range(n):
                msg = s.recv_multipart()
                if msg != [str(i).encode()]:
                    out("DEALER_BAD want", i, "got", msg)
                    return 1
            out("DEALER_OK", n)
        elif a.job == "recvuntil":
            last, count, first, prev = str(n).encode(), 0, None, -1
            while True:
                msg = s.recv_multipart()
                v = int(msg[-1])
                if v <= prev:
                    out("RECV_BAD", v, "after", prev)
                    return 1
                if first is None:
                    first = v
                prev = v
                count += 1
                if msg[-1] == last:
                    break
            out("RECV_UNTIL", count, first)
        elif a.job == "sub":
            for _ in range(n):
                out("GOT", s.recv().decode())
        else:
            out("ERROR unknown job", a.job)
            return 1
    except zmq.Again:
        out("ERROR timeout")
        return 1
    finally:
        s.close()
        ctx.term()  # ends the ZAP handler's thread too
    return 0


if __name__ == "__main__":
    sys.exit(main())
