"""Master/slave replication on RocketMQ's HA wire (ROCKETMQ_FACTS §7), plus the slave's config
sync. Raw TCP on the HA port (listenPort + 1 by default), not remoting frames:

- slave -> master: 8 bytes, the slave's commitlog end (reported at connect, every 5 s and after
  every applied chunk);
- master -> slave: ``[i64 phyOffset][i32 size]`` + ``size`` commitlog bytes (size 0 = heartbeat).

The master starts a new slave (report 0) at the beginning of its last segment, otherwise at the
reported offset; the slave appends verbatim and dispatches consume queues and indexes itself.
SYNC_MASTER sends wait until a slave has acknowledged the message's end.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from typing import TYPE_CHECKING

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


class HAMaster:
    """Serves slaves; tracks how far each has acknowledged."""

    def __init__(self, ctx: BrokerContext) -> None:
        self.ctx = ctx
        self.acked: dict[int, int] = {}
        self._server: asyncio.AbstractServer | None = None
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

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

        async def read_reports() -> None:
            buf = b""
            while True:
                chunk = await asyncio.wait_for(reader.read(64), HOUSEKEEPING_S)
                if not chunk:
                    raise ConnectionError("slave closed")
                buf += chunk
                n = len(buf) - len(buf) % 8  # use the last complete report
                if n:
                    (off,) = OFFSET.unpack_from(buf, n - 8)
                    buf = buf[n:]
                    self.acked[key] = off
                    self._changed.set()
                    reports.put_nowait(off)

        reader_task = asyncio.ensure_future(read_reports())
        try:
            first = await asyncio.wait_for(reports.get(), HOUSEKEEPING_S)
            store = self.ctx.store
            seg = self.ctx.store_cfg.mappedFileSizeCommitLog
            if first == 0:
                end = store.max_phys_offset()
                nxt = end - end % seg
            else:
                nxt = first
            log.info("slave %s attached at %d, sending from %d", peer, first, nxt)
            last_send = time.monotonic()
            while not reader_task.done():
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
                await asyncio.sleep(1.0)
                continue
            try:
                await self._session(self.master_ha)
            except (OSError, ConnectionError, asyncio.TimeoutError,
                    asyncio.IncompleteReadError, _store.StoreError) as e:
                log.info("HA connection to %s ended: %s", self.master_ha, e)
            await asyncio.sleep(1.0)

    async def _session(self, addr: str) -> None:
        host, port = split_addr(addr)
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 3.0)
        store = self.ctx.store
        try:
            writer.write(OFFSET.pack(store.max_phys_offset()))
            await writer.drain()
            last_report = time.monotonic()
            while True:
                head = await asyncio.wait_for(reader.readexactly(HEADER.size), HOUSEKEEPING_S)
                phys, size = HEADER.unpack(head)
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
