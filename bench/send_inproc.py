"""The send path of one side in one process, without sockets: CPU per send of the code alone.

    .venv/bin/python bench/send_inproc.py broker|client|transaction|consume [--sends 10000]
        [--profile] [--no-fast]

``broker``: SEND_MESSAGE_V2 frames fed to a broker-side Connection (the send handler over a
real store, ASYNC_FLUSH, 1 KiB, the request metrics observer on, the broker's fast send handler
unless ``--no-fast``), one loop iteration per frame;
what is written back is counted, not sent. ``client``: ``Producer.send`` against a fake broker
transport that answers each request from the same loop. ``transaction``: the broker's side of a
committed transaction as RocketMQ's ttxproducer makes it (a half SEND_MESSAGE_V2, then a oneway
END_TRANSACTION committing it), through the broker's own handlers, per transaction.
``consume``: the broker's side of RocketMQ's tproducer with tconsumer running: each send wakes
the pull held on its queue (4 queues, one pull held on each from a consumer connection), that
pull is answered with the message and the consumer's next pull (committing its offset) is
held again, per message. Prints CPU µs per send; ``--profile``
prints cProfile's top functions. Used by ``bench/send_profile.py``'s section of RESULTS.md to
compare code versions side by side (run it with ``PYTHONPATH=<other checkout>`` for the other).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import functools
import pstats
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from prometheus_client import CollectorRegistry  # noqa: E402

from pyrmq.protocol import headers as H  # noqa: E402
from pyrmq.protocol.codes import RequestCode  # noqa: E402
from pyrmq.protocol.command import RemotingCommand  # noqa: E402
from pyrmq.protocol.frame import FrameDecoder, encode  # noqa: E402
from pyrmq.remoting.connection import Connection  # noqa: E402

WARM = 500


class _Transport(asyncio.Transport):
    """Counts writes, or answers each send request through ``answer``."""

    def __init__(self, answer=None) -> None:
        super().__init__()
        self.writes = 0
        self.answer = answer
        self.frames = FrameDecoder()

    def write(self, data) -> None:  # type: ignore[override]
        self.writes += 1
        if self.answer is not None:
            for cmd in self.frames.feed(bytes(data)):
                self.answer(cmd)

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name, default=None):
        return ("127.0.0.1", 40000) if name == "peername" else default

    def set_write_buffer_limits(self, high=None, low=None) -> None:
        pass


def _timed(n: int, profile: bool):
    class Timer:
        def __enter__(self):
            self.prof = cProfile.Profile() if profile else None
            if self.prof:
                self.prof.enable()
            self.c0 = time.process_time()
            return self

        def __exit__(self, *exc):
            self.us = (time.process_time() - self.c0) / n * 1e6
            if self.prof:
                self.prof.disable()
                pstats.Stats(self.prof).sort_stats("tottime").print_stats(25)
    return Timer()


@contextlib.contextmanager
def _broker_ctx() -> Iterator:
    """A BrokerContext over a real store in a temp dir (ASYNC_FLUSH, 256 MiB segments) with
    topic BenchT (4 queues); closed after."""
    from rmqtest.store import small_config

    from pyrmq.broker.config import BrokerConfig
    from pyrmq.broker.context import BrokerContext
    from pyrmq.store import MessageStore

    with tempfile.TemporaryDirectory() as tmp:
        cfg = small_config(storePathRootDir=tmp, mappedFileSizeCommitLog=256 * 1024 * 1024)
        store = MessageStore(tmp, cfg, store_host=("127.0.0.1", 10911))
        ctx = BrokerContext.create(BrokerConfig(storePathRootDir=tmp), cfg, store)
        ctx.topics.ensure("BenchT", 4)
        try:
            yield ctx
        finally:
            ctx.executor.shutdown(wait=True)
            store.close()


def _send_frames(count: int, sysflag: int = 0, **props: str) -> list[bytes]:
    """``count`` SEND_MESSAGE_V2 frames of 1 KiB to BenchT, round-robin over its queues, each
    with a new UNIQ_KEY, WAIT and ``props``."""
    from pyrmq.client.message import new_uniq_key
    from pyrmq.protocol.message import encode_properties

    frames = []
    for i in range(count):
        raw = encode_properties({"UNIQ_KEY": new_uniq_key(), "WAIT": "true", **props})
        hdr = H.SendMessageRequestHeader("PG", "BenchT", "TBW102", 4, i % 4, sysflag,
                                         1_700_000_000_000, 0, raw.decode(), 0, False, False)
        frames.append(encode(RemotingCommand(RequestCode.SEND_MESSAGE_V2, opaque=i,
                                             ext_fields=hdr.to_ext_v2(), body=b"x" * 1024)))
    return frames


async def _broker(n: int, profile: bool, fast: bool = True) -> float:
    from pyrmq.broker import send
    from pyrmq.metrics.requests import RequestMetrics

    with _broker_ctx() as ctx:
        frames = _send_frames(n + WARM)

        async def handler(conn, cmd):
            return await send.handle_send(ctx, conn, cmd)
        conn = Connection({RequestCode.SEND_MESSAGE_V2: handler},
                          on_response=RequestMetrics(CollectorRegistry()).observe,
                          fast={RequestCode.SEND_MESSAGE_V2: functools.partial(
                              send.send_fast, ctx)} if fast else None)
        t = _Transport()
        conn.connection_made(t)
        for f in frames[:WARM]:
            conn.data_received(f)
            await asyncio.sleep(0)
        with _timed(n, profile) as timer:
            for f in frames[WARM:]:
                conn.data_received(f)
                await asyncio.sleep(0)  # lets a handler run as a Task where it is one
        assert t.writes == n + WARM, t.writes
        return timer.us


async def _transaction(n: int, profile: bool) -> float:
    from pyrmq.broker import send
    from pyrmq.broker.transaction import HALF_TOPIC, OP_TOPIC, TRAN_COMMIT, TransactionService
    from pyrmq.protocol.message import parse_offset_msg_id

    with _broker_ctx() as ctx:
        tx = ctx.transactions = TransactionService(ctx)
        ctx.topics.ensure(HALF_TOPIC, 1)
        ctx.topics.ensure(OP_TOPIC, 1)
        half_frames = _send_frames(n + WARM, 4, TRAN_MSG="true", PGROUP="PG")
        ends: list[bytes] = []

        def answer(resp: RemotingCommand) -> None:  # the half's ack: END_TRANSACTION next
            msg_id = resp.ext_fields["msgId"]
            ends.append(encode(RemotingCommand(
                RequestCode.END_TRANSACTION, opaque=10**9 + len(ends), flag=2,
                ext_fields=H.EndTransactionRequestHeader(
                    "PG", int(resp.ext_fields["queueOffset"]), parse_offset_msg_id(msg_id)[2],
                    TRAN_COMMIT, msg_id, transaction_id=msg_id).to_ext())))

        async def on_send(conn, cmd):
            return await send.handle_send(ctx, conn, cmd)
        conn = Connection({RequestCode.SEND_MESSAGE_V2: on_send,
                           RequestCode.END_TRANSACTION: tx.end},
                          fast={RequestCode.SEND_MESSAGE_V2: functools.partial(
                              send.send_fast, ctx)})
        conn.connection_made(_Transport(answer))

        async def one(frame: bytes) -> None:
            conn.data_received(frame)
            await asyncio.sleep(0)
            conn.data_received(ends[-1])
            await asyncio.sleep(0)
        for f in half_frames[:WARM]:
            await one(f)
        with _timed(n, profile) as timer:
            for f in half_frames[WARM:]:
                await one(f)
        committed = sum(ctx.store.max_offset("BenchT", q) for q in range(4))
        assert committed == n + WARM, committed
        return timer.us


def _pull_frame(queue_id: int, offset: int, opaque: int) -> bytes:
    """A PUSH consumer's PULL_MESSAGE: suspend 15 s, commit ``offset``, subscription '*'."""
    from pyrmq.protocol.codes import PullSysFlag

    flags = PullSysFlag.COMMIT_OFFSET | PullSysFlag.SUSPEND | PullSysFlag.SUBSCRIPTION
    hdr = H.PullMessageRequestHeader("CG", "BenchT", queue_id, offset, 32, int(flags), offset,
                                     15000, 0, "*", "TAG")
    return encode(RemotingCommand(RequestCode.PULL_MESSAGE, opaque=opaque,
                                  ext_fields=hdr.to_ext()))


async def _consume(n: int, profile: bool, fast: bool = True) -> float:
    from pyrmq.broker import pull, send

    loop = asyncio.get_running_loop()
    with _broker_ctx() as ctx:
        frames = _send_frames(n + WARM)
        got = [0]
        opaque = iter(range(1, 10**9))

        def answer(resp: RemotingCommand) -> None:  # a pull's answer: pull again from next
            assert resp.code == 0, (resp.code, resp.remark)
            got[0] += 1
            qid, nxt = pulls.pop(resp.opaque), int(resp.ext_fields["nextBeginOffset"])
            o = next(opaque)
            pulls[o] = qid
            loop.call_soon(consumer.data_received, _pull_frame(qid, nxt, o))

        async def on_send(conn, cmd):
            return await send.handle_send(ctx, conn, cmd)

        async def on_pull(conn, cmd):
            return await pull.handle_pull(ctx, conn, cmd)
        handlers = {RequestCode.SEND_MESSAGE_V2: on_send, RequestCode.PULL_MESSAGE: on_pull}
        fast_send = {RequestCode.SEND_MESSAGE_V2: functools.partial(send.send_fast, ctx)}
        producer = Connection(handlers, fast=fast_send if fast else None)
        producer.connection_made(_Transport())
        consumer = Connection(handlers, fast={RequestCode.PULL_MESSAGE: functools.partial(
            pull.pull_fast, ctx)} if fast else None)
        consumer.connection_made(_Transport(answer))
        pulls: dict[int, int] = {}
        for q in range(4):
            o = next(opaque)
            pulls[o] = q
            consumer.data_received(_pull_frame(q, 0, o))
        await asyncio.sleep(0)

        async def one(frame: bytes) -> None:
            producer.data_received(frame)
            for _ in range(3):  # the woken pull, its answer's next pull, the send's answer
                await asyncio.sleep(0)
        for f in frames[:WARM]:
            await one(f)
        with _timed(n, profile) as timer:
            for f in frames[WARM:]:
                await one(f)
        assert got[0] == n + WARM and len(ctx.holds) == 4, (got[0], len(ctx.holds))
        ctx.holds.wake_all()
        await asyncio.sleep(0.01)
        return timer.us


async def _client(n: int, profile: bool) -> float:
    from pyrmq.client import Message, Producer
    from pyrmq.client.route import Route
    from pyrmq.protocol.route import BrokerData, QueueData, TopicRouteData

    loop = asyncio.get_running_loop()
    p = Producer("PG", "127.0.0.1:1")
    conn = Connection(p.remoting.handlers)
    reply = H.SendMessageResponseHeader("7F000001000000000000000000000000", 0, 5)

    def answer(cmd: RemotingCommand) -> None:
        loop.call_soon(conn.data_received, encode(cmd.response(0, ext_fields=reply)))
    conn.connection_made(_Transport(answer))
    p.remoting._conns["127.0.0.1:2"] = conn
    route = Route("T", TopicRouteData([QueueData("b", 1, 1, 6, 0)],
                                      [BrokerData("c", "b", {0: "127.0.0.1:2"})]))
    p.routes["T"] = route
    p._route_time["T"] = time.monotonic() + 1e9  # never refreshed
    body = b"x" * 1024
    for _ in range(WARM):
        await p.send(Message("T", body))
    with _timed(n, profile) as timer:
        for _ in range(n):
            await p.send(Message("T", body))
    return timer.us


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("side", choices=("broker", "client", "transaction", "consume"))
    ap.add_argument("--sends", type=int, default=10000)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--no-fast", action="store_true",
                    help="broker, consume: without the fast send and pull handlers (the "
                         "coroutine paths only)")
    args = ap.parse_args(argv)
    from pyrmq.remoting.loop import new_event_loop
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        us = runner.run(_broker(args.sends, args.profile, not args.no_fast)
                        if args.side == "broker" else
                        _consume(args.sends, args.profile, not args.no_fast)
                        if args.side == "consume" else
                        _transaction(args.sends, args.profile) if args.side == "transaction"
                        else _client(args.sends, args.profile))
    print(f"{args.side}: {us:.1f} us CPU per send (in process, no sockets, {args.sends} sends)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
