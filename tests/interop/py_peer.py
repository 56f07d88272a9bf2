"""Python `websockets` peers for tests/interop.rs: a server and a client.

Prints one compact JSON object per line on stdout (flushed), so the Rust side can follow:
  {"event":"listening","port":P}                       (server)
  {"event":"connected"}
  {"event":"message","text":...}
  {"event":"closed","rcvd":code|null,"sent":code|null,"error":bool}
  {"event":"done"}                                      (client finished its run normally)

Usage:
  py_peer.py server [--host H] [--port P] [--ping-interval S] [--ping-timeout S] [--close-timeout S]
                    [--mode echo|app|send|count|bulk|close] [--size N] [--close-codes C,C,...]
    echo: echo every message; app: answer {"type":"ping"} with {"type": "pong"}, echo the
    rest; send: send one binary message of --size bytes, then echo; count: answer each
    message with the text "got <its length>"; bulk: send, then count; close: close the
    first connections with the --close-codes in turn (1012 restarting, 1013 overloaded,
    ...), then echo. --host and --port: where to listen (default 127.0.0.1, any port).
  py_peer.py client --url URL [--ping-interval S] [--ping-timeout S] [--close-timeout S] [--run-s S]
                    [--pings N]
    --pings: send N pings back to back right after connecting, then carry on.
A --ping-interval of 0 turns websockets' keepalive off.
"""
import argparse
import asyncio
import json
import sys
import time

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

START = time.monotonic()


def emit(**fields):
    fields["t_ms"] = int((time.monotonic() - START) * 1000)
    print(json.dumps(fields, separators=(",", ":")), flush=True)


def closed(ws, error):
    rcvd = ws.protocol.close_rcvd.code if ws.protocol.close_rcvd else None
    sent = ws.protocol.close_sent.code if ws.protocol.close_sent else None
    emit(event="closed", rcvd=rcvd, sent=sent, error=error)


async def server(args):
    closes = [int(c) for c in args.close_codes.split(",") if c]

    async def handler(ws):
        emit(event="connected")
        error = False
        if args.mode == "close" and closes:
            code = closes.pop(0)
            await ws.close(code, "restart" if code == 1012 else "overloaded")
            closed(ws, False)
            return
        try:
            if args.mode in ("send", "bulk"):
                await ws.send(b"\x07" * args.size)
                emit(event="sent", bytes=args.size)
            async for message in ws:
                if args.mode in ("count", "bulk"):
                    emit(event="received", bytes=len(message))
                    await ws.send(f"got {len(message)}")
                    continue
                if args.mode == "app":
                    try:
                        kind = json.loads(message).get("type")
                    except (ValueError, AttributeError):
                        kind = None
                    if kind == "ping":
                        # json.dumps spaces it: {"type": "pong"}, as Python peers do.
                        await ws.send(json.dumps({"type": "pong"}))
                        continue
                emit(event="message", text=message if isinstance(message, str) else None)
                await ws.send(message)
        except ConnectionClosed:
            error = True
        closed(ws, error)

    interval = args.ping_interval or None
    # max_size None: a 1.5 MB message is within the test (websockets' default is 1 MiB).
    async with serve(handler, args.host, args.port, ping_interval=interval,
                     ping_timeout=args.ping_timeout if interval else None,
                     close_timeout=args.close_timeout, max_size=None) as srv:
        port = srv.sockets[0].getsockname()[1]
        emit(event="listening", port=port)
        await asyncio.Future()


async def client(args):
    interval = args.ping_interval or None
    async with connect(args.url, ping_interval=interval,
                       ping_timeout=args.ping_timeout if interval else None,
                       close_timeout=args.close_timeout) as ws:
        emit(event="connected")
        error = False
        try:
            for i in range(args.pings):
                await ws.ping(str(i))  # sends it; the pong is not awaited
            async with asyncio.timeout(args.run_s):
                async for message in ws:
                    emit(event="message", text=message if isinstance(message, str) else None)
        except TimeoutError:
            await ws.close(1000)
            closed(ws, False)
            emit(event="done")
            return
        except ConnectionClosed:
            error = True
        closed(ws, error)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["server", "client"])
    p.add_argument("--url")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--ping-interval", type=float, default=0.2)
    p.add_argument("--ping-timeout", type=float, default=0.4)
    p.add_argument("--mode", choices=["echo", "app", "send", "count", "bulk", "close"], default="echo")
    p.add_argument("--close-codes", default="")
    p.add_argument("--size", type=int, default=1_500_000)
    p.add_argument("--run-s", type=float, default=2.0)
    p.add_argument("--close-timeout", type=float, default=0.3)
    p.add_argument("--pings", type=int, default=0)
    args = p.parse_args()
    asyncio.run(server(args) if args.role == "server" else client(args))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
