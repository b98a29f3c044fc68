"""BrokerContext: what request handlers and broker services use (configuration, the store, the
managers, the executor, counters and two callbacks), built by ``controller.Broker`` and passed
down, so no handler or service imports the controller.

A unit test builds one from a store and managers with :meth:`BrokerContext.create` and drives a
handler with it, no sockets and no Broker::

    ctx = BrokerContext.create(BrokerConfig(...), StoreConfig(...), store)
    resp = await pull.handle_pull(ctx, fake_conn, cmd)
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from pyrmq.broker.clients import ConsumerManager, LockManager, ProducerManager
from pyrmq.broker.config import BrokerConfig
from pyrmq.broker.dedup import DuplicateFilter
from pyrmq.broker.group_commit import GroupCommit
from pyrmq.broker.groups import ConsumerOffsetManager, SubscriptionGroupManager
from pyrmq.broker.longpoll import PullHold
from pyrmq.broker.stats import BrokerStats
from pyrmq.broker.topics import TopicConfigManager
from pyrmq.store import MessageStore, PutResult, StoreConfig


class HalfMessages(Protocol):
    """The transaction service as the send path sees it."""

    async def put_half(self, topic: str, queue_id: int, body: bytes, props: dict[str, str], *,
                       flag: int, sysflag: int, born_timestamp: int,
                       born_host: tuple[str, int]) -> PutResult: ...


class Replication(Protocol):
    """The HA master as a SYNC_MASTER send sees it."""

    async def wait_replicated(self, end: int, timeout: float) -> int: ...


class DelayProgress(Protocol):
    """The schedule service as GET_ALL_DELAY_OFFSET sees it."""

    def to_json_obj(self) -> dict[str, Any]: ...


def _nothing(*_args: object) -> None:
    return None


@dataclass(eq=False)
class BrokerContext:
    """Everything a handler or service may touch. ``cfg`` is replaced by UPDATE_BROKER_CONFIG;
    ``store`` is set once the store is open; the services are attached by the controller."""

    cfg: BrokerConfig
    store_cfg: StoreConfig
    store: MessageStore
    topics: TopicConfigManager
    groups: SubscriptionGroupManager
    offsets: ConsumerOffsetManager
    consumers: ConsumerManager
    producers: ProducerManager
    locks: LockManager
    holds: PullHold
    executor: Executor
    config_dir: str
    memory_bytes: int = 8 * 1024**3
    boot_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    stats: BrokerStats = field(default_factory=BrokerStats)
    #: ask for a NameServer registration soon (topics changed)
    register_soon: Callable[[], None] = _nothing
    #: tell a consumer group's members that its membership changed
    notify_ids_changed: Callable[[str], None] = _nothing
    transactions: HalfMessages | None = None
    ha_master: Replication | None = None
    schedule: DelayProgress | None = None
    #: the optional duplicate filter of the send path (duplicateFilterEnable)
    dedup: DuplicateFilter | None = None
    #: SYNC_FLUSH durability waits (made on the first such put; see messages.store_call)
    group_commit: GroupCommit | None = None
    closing: bool = False

    def __post_init__(self) -> None:
        if self.dedup is None and self.cfg.duplicateFilterEnable:
            self.dedup = DuplicateFilter(self.cfg.duplicateFilterWindowSeconds,
                                         self.cfg.duplicateFilterMaxEntries)

    @property
    def is_slave(self) -> bool:
        return self.cfg.brokerRole == "SLAVE"

    @property
    def sync_flush(self) -> bool:
        return self.store_cfg.flushDiskType == "SYNC_FLUSH"

    @classmethod
    def create(cls, cfg: BrokerConfig, store_cfg: StoreConfig, store: MessageStore | None = None,
               *, executor: Executor | None = None, **kw: Any) -> BrokerContext:
        """A context with fresh managers over ``<storePathRootDir>/config``."""
        config_dir = os.path.join(store_cfg.storePathRootDir, "config")
        return cls(
            cfg=cfg, store_cfg=store_cfg, store=store,  # type: ignore[arg-type]
            topics=TopicConfigManager(cfg, config_dir),
            groups=SubscriptionGroupManager(config_dir, cfg.autoCreateSubscriptionGroup,
                                            cfg.retryMaxTimes),
            offsets=ConsumerOffsetManager(config_dir), consumers=ConsumerManager(),
            producers=ProducerManager(), locks=LockManager(), holds=PullHold(),
            executor=executor or ThreadPoolExecutor(max_workers=4,
                                                    thread_name_prefix="pyrmq-store"),
            config_dir=config_dir, **kw)
