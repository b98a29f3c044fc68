"""Master/slave replication on RocketMQ's HA wire (ROCKETMQ_FACTS §7), plus the slave's config
sync. Raw TCP on the HA port (listenPort + 1 by default), not remoting frames:

- slave -> master: 8 bytes, the slave's commitlog end (reported at connect, every 5 s and after
  every applied chunk);
- master -> slave: ``[i64 phyOffset][i32 size]`` + ``size`` commitlog bytes (size 0 = heartbeat).

The master starts a new slave (report 0) at the beginning of its last segment, otherwise at the
reported offset; the slave appends verbatim and dispatches consume queues and indexes itself.
SYNC_MASTER sends wait until a slave has acknowledged the message's end.

With failover on (``epochs`` set on both sides by ``pyrmq.failover``; pyrmq peers only) the
master's first frame is ``[i64 epoch][i32 -1]``; a slave refuses a master whose epoch is lower
than its own (a fenced old master) and otherwise adopts the master's epoch. The master also
sends ``[i64 seq][i32 -2]`` pings every ``ping_s``; the slave answers ``-(seq + 1)`` in place of
an offset and promises not to campaign for ``promise_s`` from receipt (``promised_until``):
that is what lets a master keep serving while etcd is down (``pyrmq.failover`` failsafe).
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from typing import TYPE_CHECKING, Protocol

from pyrmq import _store
from pyrmq.broker.consumer import sync_offsets_from_master
from pyrmq.broker.groups import checked_group_config
from pyrmq.protocol import jsonx
from pyrmq.protocol.bodies import TopicConfig
from pyrmq.protocol.codes import RequestCode, ResponseCode
from pyrmq.protocol.command import request
from pyrmq.protocol.names import group_problem, topic_problem
from pyrmq.remoting import RemotingClient, RemotingError, split_addr

if TYPE_CHECKING:
    from pyrmq.broker.context import BrokerContext

log = logging.getLogger("pyrmq.broker.ha")

HEADER = struct.Struct(">qi")
OFFSET = struct.Struct(">q")
TRANSFER_BATCH = 32 * 1024
HEARTBEAT_S = 5.0
HOUSEKEEPING_S = 20.0
SLAVE_FALLBEHIND_MAX = 256 * 1024 * 1024
EPOCH_FRAME = -1  # size field of the failover epoch frame
PING_FRAME = -2   # size field of a failover ping


class Epochs(Protocol):
    """The store's failover epoch as the HA services see it (``failover.epoch.EpochFile``)."""

    @property
    def epoch(self) -> int: ...

    def adopt(self, epoch: int) -> None: ...


class HAMaster:
    """Serves slaves; tracks how far each has acknowledged."""

    def __init__(self, ctx: BrokerContext) -> None:
        self.ctx = ctx
        self.acked: dict[int, int] = {}
        self._server: asyncio.AbstractServer | None = None
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        #: failover on: the epoch announced to every slave at connect
        self.epochs: Epochs | None = None
        #: failover on: ping every slave this often; ``pongs`` holds, per connection, when the
        #: newest answered ping was sent
        self.ping_s: float | None = None
        self.pongs: dict[int, float] = {}

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._serve, host, port)
        log.info("HA service listening on %s:%d", host, port)

    async def stop(self) -> None:
        if self._server:
            self._server.close()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def max_acked(self) -> int:
        return max(self.acked.values(), default=-1)

    def promised_since(self, n: int) -> float | None:
        """The send time of the ping that ``n`` connected slaves have all answered (the
        latest such); None when fewer than ``n`` slaves answered any."""
        times = sorted(self.pongs.values(), reverse=True)
        return times[n - 1] if n >= 1 and len(times) >= n else None

    async def wait_replicated(self, end: int, timeout: float) -> int:
        """SYNC_MASTER: SUCCESS once a slave acknowledged ``end``; SLAVE_NOT_AVAILABLE when no
        slave is attached (or it is too far behind); FLUSH_SLAVE_TIMEOUT after ``timeout``."""
        if not self.acked or end - self.max_acked() > SLAVE_FALLBEHIND_MAX:
            return ResponseCode.SLAVE_NOT_AVAILABLE
        deadline = time.monotonic() + timeout
        while self.max_acked() < end:
            left = deadline - time.monotonic()
            if left <= 0:
                return ResponseCode.FLUSH_SLAVE_TIMEOUT
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                pass
        return ResponseCode.SUCCESS

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        key = id(writer)
        peer = writer.get_extra_info("peername")
        reports: asyncio.Queue[int] = asyncio.Queue()
        pings: dict[int, float] = {}  # seq -> when sent

        async def read_reports() -> None:
            buf = b""
            while True:
                chunk = await asyncio.wait_for(reader.read(64), HOUSEKEEPING_S)
                if not chunk:
                    raise ConnectionError("slave closed")
                buf += chunk
                n = len(buf) - len(buf) % 8
                offs = [v for (v,) in OFFSET.iter_unpack(buf[:n])]
                buf = buf[n:]
                for v in offs:
                    if v < 0:  # a pong: -(seq + 1)
                        sent = pings.pop(-v - 1, None)
                        if sent is not None:
                            self.pongs[key] = max(self.pongs.get(key, 0.0), sent)
                offs = [v for v in offs if v >= 0]
                if offs:  # use the last report
                    self.acked[key] = offs[-1]
                    self._changed.set()
                    reports.put_nowait(offs[-1])

        reader_task = asyncio.ensure_future(read_reports())
        try:
            if self.epochs is not None:
                writer.write(HEADER.pack(self.epochs.epoch, EPOCH_FRAME))
            first = await asyncio.wait_for(reports.get(), HOUSEKEEPING_S)
            store = self.ctx.store
            seg = self.ctx.store_cfg.mappedFileSizeCommitLog
            if first == 0:
                end = store.max_phys_offset()
                nxt = end - end % seg
            else:
                nxt = first
            log.info("slave %s attached at %d, sending from %d", peer, first, nxt)
            last_send = last_ping = time.monotonic()
            seq = 0
            while not reader_task.done():
                if self.ping_s is not None and time.monotonic() - last_ping >= self.ping_s:
                    last_ping = time.monotonic()
                    seq += 1
                    pings[seq] = last_ping
                    for old in [s for s in pings if s < seq - 64]:
                        del pings[old]
                    writer.write(HEADER.pack(seq, PING_FRAME))
                    await writer.drain()
                data = store.read_raw(nxt, TRANSFER_BATCH)
                if data:
                    writer.write(HEADER.pack(nxt, len(data)) + data)
                    await writer.drain()
                    nxt += len(data)
                    last_send = time.monotonic()
                    continue
                if time.monotonic() - last_send >= HEARTBEAT_S:
                    writer.write(HEADER.pack(nxt, 0))
                    await writer.drain()
                    last_send = time.monotonic()
                await asyncio.sleep(0.005)
            reader_task.result()  # surface why the slave went away
        except (ConnectionError, asyncio.TimeoutError, asyncio.IncompleteReadError,
                _store.StoreError, OSError) as e:
            log.info("slave %s detached: %s", peer, e)
        except asyncio.CancelledError:
            # stop() cancels the connection tasks; end normally, since Python 3.11's
            # start_server callback logs a cancelled handler task as an ERROR traceback
            log.info("slave %s detached: broker stopping", peer)
        finally:
            reader_task.cancel()
            self.acked.pop(key, None)
            self.pongs.pop(key, None)
            writer.close()
            self._tasks.discard(task)


class HASlave:
    """Replicates the master's commitlog and syncs its topic, offset and group tables."""

    def __init__(self, ctx: BrokerContext, remoting: RemotingClient) -> None:
        self.ctx = ctx
        self.remoting = remoting  # the broker's client (config sync from the master)
        self.master_ha = ctx.cfg.haMasterAddress
        self.master_addr = ""
        self._tasks: list[asyncio.Task[None]] = []
        #: failover on: refuse a master of a lower epoch, adopt the master's
        self.epochs: Epochs | None = None
        #: failover on: answering a ping promises not to campaign for this long
        self.promise_s = 0.0
        self.promised_until = 0.0
        self._retarget = asyncio.Event()

    def follow(self, master_ha: str, master_addr: str) -> None:
        """Replicate from another master (failover); a waiting reconnect happens at once."""
        self.master_ha, self.master_addr = master_ha, master_addr
        self._retarget.set()

    async def _pause(self) -> None:
        """The 1 s between connection attempts, cut short by :meth:`follow`."""
        try:
            await asyncio.wait_for(self._retarget.wait(), 1.0)
        except asyncio.TimeoutError:
            pass
        self._retarget.clear()

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._replicate()), loop.create_task(self._sync())]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _replicate(self) -> None:
        while True:
            if not self.master_ha:
                await self._pause()
                continue
            try:
                await self._session(self.master_ha)
            except (OSError, ConnectionError, asyncio.TimeoutError,
                    asyncio.IncompleteReadError, _store.StoreError) as e:
                log.info("HA connection to %s ended: %s", self.master_ha, e)
            await self._pause()

    async def _session(self, addr: str) -> None:
        host, port = split_addr(addr)
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 3.0)
        store = self.ctx.store
        try:
            writer.write(OFFSET.pack(store.max_phys_offset()))
            await writer.drain()
            if self.epochs is not None:
                await self._check_epoch(reader, addr)
            last_report = time.monotonic()
            while True:
                head = await asyncio.wait_for(reader.readexactly(HEADER.size), HOUSEKEEPING_S)
                phys, size = HEADER.unpack(head)
                if size == PING_FRAME:
                    self.promised_until = max(self.promised_until,
                                              time.monotonic() + self.promise_s)
                    writer.write(OFFSET.pack(-phys - 1))
                    await writer.drain()
                    continue
                if size < 0:
                    raise ConnectionError(f"master {addr} sent a frame of size {size}")
                if size:
                    data = await asyncio.wait_for(reader.readexactly(size), HOUSEKEEPING_S)
                    mine = store.max_phys_offset()
                    if mine != 0 and phys != mine:
                        raise ConnectionError(f"master sent {phys}, slave is at {mine}")
                    store.append_raw(phys, data)
                    self.ctx.holds.wake_all()
                if size or time.monotonic() - last_report >= HEARTBEAT_S:
                    writer.write(OFFSET.pack(store.max_phys_offset()))
                    await writer.drain()
                    last_report = time.monotonic()
        finally:
            writer.close()

    async def _check_epoch(self, reader: asyncio.StreamReader, addr: str) -> None:
        assert self.epochs is not None
        head = await asyncio.wait_for(reader.readexactly(HEADER.size), HOUSEKEEPING_S)
        epoch, size = HEADER.unpack(head)
        if size != EPOCH_FRAME:
            raise ConnectionError(f"master {addr} sent no failover epoch")
        if epoch < self.epochs.epoch:
            raise ConnectionError(f"master {addr} has epoch {epoch}, lower than ours "
                                  f"({self.epochs.epoch}): a fenced old master, refused")
        self.epochs.adopt(epoch)

    async def _sync(self) -> None:
        await asyncio.sleep(1.0)
        while True:
            if self.master_addr:
                try:
                    await self.sync_once()
                except (RemotingError, OSError) as e:
                    log.info("config sync from %s failed: %s", self.master_addr, e)
            await asyncio.sleep(10.0)

    async def sync_once(self) -> None:
        """Copy the master's topics, consumer offsets and subscription groups."""
        b, client = self.ctx, self.remoting
        r = await client.invoke(self.master_addr, request(RequestCode.GET_ALL_TOPIC_CONFIG), 3)
        if r.code == ResponseCode.SUCCESS:
            table = jsonx.loads(r.body).get("topicConfigTable", {})
            b.topics.table = {n: TopicConfig.from_dict(tc) for n, tc in table.items()
                              if topic_problem(n) is None}
            b.topics.persist()
        await sync_offsets_from_master(b, client, self.master_addr)
        r = await client.invoke(self.master_addr,
                                request(RequestCode.GET_ALL_SUBSCRIPTIONGROUP_CONFIG), 3)
        if r.code == ResponseCode.SUCCESS:
            for g, c in (jsonx.loads(r.body).get("subscriptionGroupTable") or {}).items():
                try:
                    if group_problem(g) is None:
                        b.groups.table[g] = checked_group_config(c, b.groups.retry_max)
                except ValueError as e:
                    log.info("config sync: group %r skipped: %s", g, e)
            b.groups.persist()
