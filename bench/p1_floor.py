"""The P1 floor of this host: the same one-in-flight round trip as issue 9's P1, with no
broker and no client library behind it -- an echo process on the event loop the broker uses
answers each real SEND_MESSAGE_V2 frame (1 KiB body) with a real send response frame, and a
client on the same loop awaits each answer before sending the next. What it reaches is the
most any asyncio client and server could show for P1 on this machine (kernel, loopback TCP,
wake-ups and the loop's own work), so ``floor / Redis`` is the highest P1 ratio reachable here.

    .venv/bin/python bench/p1_floor.py [--sends 20000] [--runs 3] [--busy-poll US]

bench/peers.py runs it beside P1 and prints it under the table. ``--busy-poll US``: both sides
keep polling after each frame as pyrmq's ``busyPollMicros`` / ``busy_poll_us`` do (the same
``pyrmq.remoting.busypoll``), the floor of a P1 run made with them. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import struct
import subprocess
import sys
import time

from procs import REPO, cpu_us, free_port, stop, wait_port

from pyrmq.protocol.codes import RequestCode
from pyrmq.protocol.command import RemotingCommand
from pyrmq.protocol.frame import encode
from pyrmq.protocol.headers import SendMessageRequestHeader, SendMessageResponseHeader
from pyrmq.protocol.message import encode_properties
from pyrmq.remoting import busypoll
from pyrmq.remoting import loop as rmq_loop
from pyrmq.remoting.busypoll import BusyPoll

WARM = 500


def frames(size: int = 1024) -> tuple[bytes, bytes]:
    """A SEND_MESSAGE_V2 request frame with a ``size``-byte body and a send response frame,
    as the pyrmq client and broker write them."""
    props = encode_properties({"UNIQ_KEY": "0A0000010001000000000000000000AA", "WAIT": "true"})
    hdr = SendMessageRequestHeader("PG", "FloorT", "TBW102", 4, 1, 0, int(time.time() * 1000),
                                   0, props.decode(), 0, False, False)
    req = RemotingCommand(RequestCode.SEND_MESSAGE_V2, opaque=1, ext_fields=hdr.to_ext_v2(),
                          body=b"x" * size)
    resp = req.response(0, ext_fields=SendMessageResponseHeader(
        "7F00000100002A9F0000000000001234", 1, 12345, None, "DefaultRegion", False))
    return encode(req), encode(resp)


class _Framed(asyncio.Protocol):
    """Counts whole frames (4-byte length prefix) and calls ``on_frame`` for each."""

    busy: BusyPoll | None = None

    def __init__(self) -> None:
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP,
                                                      socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        if self.busy is not None:
            self.busy.kick(asyncio.get_running_loop())
        self.buf += data
        while len(self.buf) >= 4:
            n = struct.unpack_from(">I", self.buf)[0] + 4
            if len(self.buf) < n:
                return
            del self.buf[:n]
            self.on_frame()

    def on_frame(self) -> None:
        raise NotImplementedError


def _serve(port: int, size: int, busy_poll_us: float = 0) -> None:
    _, answer = frames(size)

    class Echo(_Framed):
        busy = busypoll.optional(busy_poll_us)

        def on_frame(self) -> None:
            assert self.transport is not None
            self.transport.write(answer)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        await loop.create_server(Echo, "127.0.0.1", port)
        await asyncio.sleep(3600)
    rmq_loop.run(main())


async def _drive(port: int, n: int, size: int, server_pid: int, busy_poll_us: float = 0
                 ) -> dict:
    loop = asyncio.get_running_loop()
    request, _ = frames(size)
    busy = busypoll.optional(busy_poll_us)

    class Client(_Framed):
        fut: asyncio.Future[None] | None = None

        def on_frame(self) -> None:
            assert self.fut is not None
            self.fut.set_result(None)

    Client.busy = busy
    transport, proto = await loop.create_connection(Client, "127.0.0.1", port)

    async def one() -> None:
        proto.fut = loop.create_future()
        transport.write(request)
        if busy is not None:
            busy.kick(loop)
        await proto.fut
    for _ in range(WARM):
        await one()
    c0, s0, t0 = cpu_us(), cpu_us(server_pid), time.perf_counter()
    for _ in range(n):
        await one()
    secs = time.perf_counter() - t0
    fig = {"tps": n / secs, "rtt_us": secs / n * 1e6, "client_us_per_msg": (cpu_us() - c0) / n,
           "server_us_per_msg": (cpu_us(server_pid) - s0) / n}
    transport.close()
    return fig


def measure(n: int = 20000, size: int = 1024, busy_poll_us: float = 0) -> dict:
    """One floor run in a fresh echo process: msgs/s, round trip µs, CPU µs per message of the
    client (this process) and of the echo server."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(REPO / "bench" / "p1_floor.py"), "--serve",
                             str(port), "--size", str(size), "--busy-poll", str(busy_poll_us)],
                            cwd=str(REPO))
    try:
        wait_port(port, 30)
        return rmq_loop.run(asyncio.wait_for(_drive(port, n, size, proc.pid, busy_poll_us),
                                             60 + n / 1000))
    finally:
        stop(proc)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sends", type=int, default=20000)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--busy-poll", type=float, default=0, metavar="US",
                    help="both sides poll up to US µs after each frame (pyrmq's busy poll)")
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        _serve(args.serve, args.size, args.busy_poll)
        return 0
    figs = []
    for _ in range(args.runs):
        f = measure(args.sends, args.size, args.busy_poll)
        figs.append(f)
        print(f"floor: {f['tps']:,.0f} msgs/s, round trip {f['rtt_us']:.1f} µs; CPU µs per "
              f"message: client {f['client_us_per_msg']:.1f}, echo server "
              f"{f['server_us_per_msg']:.1f}", flush=True)
    print(f"median: {statistics.median(f['tps'] for f in figs):,.0f} msgs/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
