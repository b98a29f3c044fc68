"""The Broker: wires the store, the managers, the request processors, the remoting server and
the timers (NameServer registration, offset persistence, client expiry, retention).

    async with Broker(BrokerConfig(...), StoreConfig(...)) as b:
        print(b.addr)
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
import zlib

from pyrmq.acl.hook import acl_hook
from pyrmq.acl.watch import AclFile
from pyrmq.broker import admin, admin_relay, admin_stats, consumer, pull, send
from pyrmq.broker.config import BrokerConfig
from pyrmq.broker.context import BrokerContext
from pyrmq.broker.ha import HAMaster, HASlave
from pyrmq.broker.lag import LoopLagProbe
from pyrmq.broker.persist import flush_pending
from pyrmq.broker.schedule import ScheduleService
from pyrmq.broker.transaction import TransactionService
from pyrmq.metrics.broker import BrokerMetrics
from pyrmq.protocol.bodies import register_broker_body
from pyrmq.protocol.codes import RequestCode as RC
from pyrmq.protocol.command import request
from pyrmq.protocol.headers import (
    NotifyConsumerIdsChangedRequestHeader,
    RegisterBrokerRequestHeader,
    RegisterBrokerResponseHeader,
    UnRegisterBrokerRequestHeader,
)
from pyrmq.remoting import Connection, RemotingClient, RemotingError, RemotingServer
from pyrmq.remoting.connection import BeforeHook
from pyrmq.store import MessageStore, StoreConfig

log = logging.getLogger("pyrmq.broker")


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 8 * 1024**3


class Broker:
    """A RocketMQ-compatible broker: a master, or a slave replicating its master (``brokerId``
    ≥ 1, see docs/ha.md)."""

    def __init__(self, cfg: BrokerConfig, store_cfg: StoreConfig | None = None, *,
                 listen_host: str = "0.0.0.0") -> None:
        store_cfg = store_cfg or StoreConfig(storePathRootDir=cfg.storePathRootDir)
        self.listen_host = listen_host
        self.root = store_cfg.storePathRootDir
        #: what handlers and services see; the store is attached in start()
        self.ctx = ctx = BrokerContext.create(cfg, store_cfg, memory_bytes=_physical_memory(),
                                              register_soon=self.register_soon,
                                              notify_ids_changed=self.notify_ids_changed)
        self.is_slave = ctx.is_slave
        self.namesrv = RemotingClient()
        self.schedule = ctx.schedule = ScheduleService(ctx, ctx.config_dir)
        self.transactions = ctx.transactions = TransactionService(ctx)
        self.ha_master: HAMaster | None = None if self.is_slave else HAMaster(ctx)
        self.ha_slave: HASlave | None = HASlave(ctx, self.namesrv) if self.is_slave else None
        ctx.ha_master = self.ha_master
        self.server: RemotingServer | None = None
        self.metrics: BrokerMetrics | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._register_now = asyncio.Event()

    # -- wiring ----------------------------------------------------------------------------
    def _acl_hook(self) -> BeforeHook | None:
        """4.9's plain ACL when ``aclEnable`` (None, and no cost per request, when off)."""
        if not self.cfg.aclEnable:
            return None
        path = self.cfg.aclFile or os.path.join(self.ctx.config_dir, "plain_acl.yml")
        return acl_hook(AclFile(path))

    def _fast_handlers(self):
        """Codes answered without a coroutine (PULL_MESSAGE always: a held pull is a
        callback; the sends in their common case, the rest through ``_handlers``)."""
        send_fast = functools.partial(send.send_fast, self.ctx)
        return {RC.SEND_MESSAGE_V2: send_fast, RC.SEND_MESSAGE: send_fast,
                RC.PULL_MESSAGE: functools.partial(pull.pull_fast, self.ctx)}

    def _handlers(self):
        p = functools.partial
        table = {
            RC.SEND_MESSAGE: send.handle_send, RC.SEND_MESSAGE_V2: send.handle_send,
            RC.SEND_BATCH_MESSAGE: send.handle_send,
            RC.CHECK_CLIENT_CONFIG: consumer.check_client_config,
            RC.HEART_BEAT: consumer.heart_beat, RC.UNREGISTER_CLIENT: consumer.unregister_client,
            RC.GET_CONSUMER_LIST_BY_GROUP: consumer.consumer_list,
            RC.QUERY_CONSUMER_OFFSET: consumer.query_offset,
            RC.UPDATE_CONSUMER_OFFSET: consumer.update_offset,
            RC.GET_MAX_OFFSET: consumer.max_offset, RC.GET_MIN_OFFSET: consumer.min_offset,
            RC.SEARCH_OFFSET_BY_TIMESTAMP: consumer.search_offset,
            RC.GET_EARLIEST_MSG_STORETIME: consumer.earliest_time,
            RC.CONSUMER_SEND_MSG_BACK: consumer.send_back,
            RC.LOCK_BATCH_MQ: consumer.lock_batch, RC.UNLOCK_BATCH_MQ: consumer.unlock_batch,
            RC.UPDATE_AND_CREATE_TOPIC: admin.update_topic,
            RC.DELETE_TOPIC_IN_BROKER: admin.delete_topic,
            RC.GET_ALL_TOPIC_CONFIG: admin.all_topic_config,
            RC.GET_TOPIC_NAME_LIST: admin.topic_names,
            RC.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP: admin.update_group,
            RC.DELETE_SUBSCRIPTIONGROUP: admin.delete_group,
            RC.GET_ALL_SUBSCRIPTIONGROUP_CONFIG: admin.all_groups,
            RC.GET_ALL_CONSUMER_OFFSET: admin.all_offsets,
            RC.GET_ALL_DELAY_OFFSET: admin.delay_offsets,
            RC.GET_BROKER_CONFIG: admin.broker_config,
            RC.GET_BROKER_RUNTIME_INFO: admin_stats.runtime_info,
            RC.VIEW_MESSAGE_BY_ID: admin.view_message, RC.QUERY_MESSAGE: admin.query_message,
            RC.GET_TOPIC_STATS_INFO: admin_stats.topic_stats,
            RC.GET_CONSUME_STATS: admin_stats.consume_stats,
            RC.GET_BROKER_CONSUME_STATS: admin_stats.broker_consume_stats,
            RC.QUERY_TOPIC_CONSUME_BY_WHO: admin_stats.topic_consume_by_who,
            RC.GET_CONSUMER_RUNNING_INFO: admin_relay.consumer_running_info,
            RC.CONSUME_MESSAGE_DIRECTLY: admin_relay.consume_message_directly,
            RC.GET_CONSUMER_CONNECTION_LIST: admin.consumer_connections,
            RC.GET_PRODUCER_CONNECTION_LIST: admin.producer_connections,
            RC.UPDATE_BROKER_CONFIG: admin.update_broker_config,
            RC.INVOKE_BROKER_TO_RESET_OFFSET: admin.reset_offset,
        }
        out = {code: p(fn, self.ctx) for code, fn in table.items()}
        out[RC.END_TRANSACTION] = self.transactions.end
        return out

    @property
    def cfg(self) -> BrokerConfig:
        """The current configuration (UPDATE_BROKER_CONFIG replaces it in the context)."""
        return self.ctx.cfg

    @property
    def store_cfg(self) -> StoreConfig:
        return self.ctx.store_cfg

    @property
    def store(self) -> MessageStore:
        return self.ctx.store

    @property
    def port(self) -> int:
        return self.server.port if self.server else self.cfg.listenPort

    @property
    def addr(self) -> str:
        return self.cfg.broker_addr

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        store_host = (self.cfg.brokerIP1, self.cfg.listenPort)
        self.ctx.store = await loop.run_in_executor(
            self.ctx.executor,
            lambda: MessageStore(self.root, self.store_cfg, store_host=store_host))
        # a recovery that dropped acknowledged records is a WARNING, a clean one INFO
        log.log(self.store.recovery.severity, "store %s opened: %s", self.root,
                self.store.recovery.summary())
        self.server = RemotingServer(self._handlers(), self.listen_host, self.cfg.listenPort,
                                     on_close=self._conn_closed, before=self._acl_hook(),
                                     fast=self._fast_handlers(),
                                     busy_poll_us=self.cfg.busyPollMicros)
        if self.cfg.metricsPort:
            server = self.server
            self.metrics = BrokerMetrics(self.ctx, lambda: len(server.connections))
            server.on_response = self.metrics.requests.observe
            await self.metrics.start(self.listen_host, self.cfg.metricsPort)
        await self.server.start()
        self.ctx.topics.persist()
        if self.ha_master is not None:
            await self.ha_master.start(self.listen_host, self.cfg.ha_port)
        await self.register_all()  # routes exist once start() returns
        if self.ha_slave is not None:
            self.ha_slave.start()
        else:  # services that write: master only
            self.schedule.start()
            self.transactions.start()
        self.ctx.stats.sample()  # the TPS windows start at boot, before the first put
        self.ctx.stats.lag = lag = LoopLagProbe()
        self._tasks = [loop.create_task(lag.run()),
                       loop.create_task(self._register_loop()),
                       loop.create_task(self._every(self.cfg.flushConsumerOffsetInterval / 1000,
                                                    self.ctx.offsets.persist_soon)),
                       loop.create_task(self._every(10.0, self._expire_clients)),
                       loop.create_task(self._every(1.0, self.ctx.stats.sample)),
                       loop.create_task(self._every(10.0, self.schedule.persist_soon)),
                       loop.create_task(self._every(self.store_cfg.cleanResourceInterval / 1000,
                                                    self._clean))]
        log.info("broker %s (%s) listening on %s:%d, store %s", self.cfg.brokerName,
                 self.cfg.brokerClusterName, self.listen_host, self.port, self.root)

    async def close(self) -> None:
        """Stop accepting, answer held pulls, persist, unregister, close the store."""
        self.ctx.closing = True
        self.ctx.holds.wake_all()
        await self.schedule.stop()
        await self.transactions.stop()
        if self.ha_master is not None:
            await self.ha_master.stop()
        if self.ha_slave is not None:
            await self.ha_slave.stop()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.server:
            await self.server.close(grace=3.0)
        if self.metrics is not None:
            await self.metrics.close()
        self.ctx.offsets.persist(force=True)
        self.ctx.topics.persist()
        flush_pending(5.0)  # anything else handed to the persistence thread
        await self._unregister()
        await self.namesrv.close()
        if self.ctx.group_commit is not None:  # what waits for durability is answered first
            await asyncio.get_running_loop().run_in_executor(self.ctx.executor,
                                                             self.ctx.group_commit.close)
        if self.store is not None:
            await asyncio.get_running_loop().run_in_executor(self.ctx.executor,
                                                             self.store.close)
        self.ctx.executor.shutdown(wait=True)
        log.info("broker %s stopped", self.cfg.brokerName)

    async def __aenter__(self) -> Broker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- periodic work ---------------------------------------------------------------------
    async def _every(self, seconds: float, fn) -> None:
        name = getattr(fn, "__qualname__", fn)
        while True:
            await asyncio.sleep(seconds)
            t0 = time.monotonic()
            try:
                fn()
            except Exception:
                log.exception("periodic task %s failed", name)
            took = time.monotonic() - t0
            if took > 0.05:  # it held the event loop: every request waited that long
                log.warning("periodic task %s held the event loop %.0f ms", name, took * 1000)

    def _clean(self) -> None:
        # committed offsets let a forced deletion name the groups whose unconsumed messages went
        self.ctx.executor.submit(self.store.clean, committed=self.ctx.offsets.committed())

    def _expire_clients(self) -> None:
        for group in self.ctx.consumers.expire(self.cfg.channelExpiredTimeout / 1000):
            log.info("consumer group %s: client expired", group)
            self.notify_ids_changed(group)

    def _conn_closed(self, conn: Connection) -> None:
        self.ctx.producers.connection_closed(conn)
        for group in self.ctx.consumers.connection_closed(conn):
            self.notify_ids_changed(group)

    def notify_ids_changed(self, group: str) -> None:
        """NOTIFY_CONSUMER_IDS_CHANGED (oneway) to every member of the group."""
        if not self.cfg.notifyConsumerIdsChangedEnable:
            return
        info = self.ctx.consumers.groups.get(group)
        if info is None:
            return
        for ch in list(info.channels.values()):
            ch.conn.invoke_oneway(request(RC.NOTIFY_CONSUMER_IDS_CHANGED,
                                          NotifyConsumerIdsChangedRequestHeader(group)))

    def register_soon(self) -> None:
        self._register_now.set()

    # -- NameServer registration ----------------------------------------------------------------
    async def _register_loop(self) -> None:
        period = max(10.0, min(self.cfg.registerNameServerPeriod / 1000, 60.0))
        while True:  # the first registration happened in start()
            try:
                await asyncio.wait_for(self._register_now.wait(), period)
            except asyncio.TimeoutError:
                pass
            self._register_now.clear()
            await self.register_all()

    async def register_all(self) -> None:
        """REGISTER_BROKER to every NameServer in parallel."""
        addrs = self.cfg.namesrv_addrs
        if not addrs:
            return
        body = register_broker_body(self.ctx.topics.valid_table(), self.ctx.topics.version)
        header = RegisterBrokerRequestHeader(
            self.cfg.brokerName, self.cfg.broker_addr, self.cfg.brokerClusterName,
            self.cfg.ha_addr, self.cfg.brokerId, False, zlib.crc32(body) & 0x7FFFFFFF)
        timeout = self.cfg.registerBrokerTimeoutMills / 1000

        async def one(addr: str) -> None:
            try:
                r = await self.namesrv.invoke(addr, request(RC.REGISTER_BROKER, header, body),
                                              timeout)
                if r.code != 0:
                    log.warning("register with NameServer %s refused: %s", addr, r.remark)
                elif self.ha_slave is not None and not self.cfg.failoverEnable:  # etcd says
                    rh = RegisterBrokerResponseHeader.from_ext(r.ext_fields)
                    if rh.master_addr:
                        self.ha_slave.master_addr = rh.master_addr
                        if not self.cfg.haMasterAddress:
                            self.ha_slave.master_ha = rh.ha_server_addr or ""
            except (RemotingError, OSError) as e:
                log.warning("register with NameServer %s failed: %s", addr, e)

        await asyncio.gather(*(one(a) for a in addrs))

    async def _unregister(self) -> None:
        header = UnRegisterBrokerRequestHeader(self.cfg.brokerName, self.cfg.broker_addr,
                                               self.cfg.brokerClusterName, self.cfg.brokerId)

        async def one(addr: str) -> None:
            try:
                await self.namesrv.invoke(addr, request(RC.UNREGISTER_BROKER, header), 3.0)
            except (RemotingError, OSError):
                pass

        await asyncio.gather(*(one(a) for a in self.cfg.namesrv_addrs))
