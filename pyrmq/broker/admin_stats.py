"""Statistics admin codes: GET_BROKER_RUNTIME_INFO (28, Java's 50 KVTable keys),
GET_TOPIC_STATS_INFO (202), GET_CONSUME_STATS (208), GET_BROKER_CONSUME_STATS (317),
QUERY_TOPIC_CONSUME_BY_WHO (300).

The MessageQueue-keyed bodies are written in fastjson's object-keyed form, the one mqadmin and
the Java client parse; the C++ client never sends these codes (it only parses the reset-offset
push, see admin.reset_offset)."""

from __future__ import annotations

import math
import os
import shutil
import time
from typing import TYPE_CHECKING

from pyrmq.broker.stats import BrokerStats
from pyrmq.protocol import jsonx
from pyrmq.protocol.admin import KVTable, MessageQueue
from pyrmq.protocol.codes import ResponseCode
from pyrmq.protocol.command import RemotingCommand
from pyrmq.protocol.headers import (
    GetConsumeStatsInBrokerHeader,
    GetConsumeStatsRequestHeader,
    GetTopicStatsInfoRequestHeader,
    QueryTopicConsumeByWhoRequestHeader,
)
from pyrmq.protocol.stats import (
    ConsumeStats,
    ConsumeStatsList,
    OffsetWrapper,
    TopicOffset,
    TopicStatsTable,
)
from pyrmq.remoting import Connection

if TYPE_CHECKING:
    from pyrmq.broker.context import BrokerContext

# Java BrokerConfig defaults of the thread-pool queues pyrmq does not have (asyncio serves all)
_POOL_CAPACITY = {"sendThreadPoolQueueCapacity": 10000, "pullThreadPoolQueueCapacity": 100000,
                  "queryThreadPoolQueueCapacity": 20000,
                  "EndTransactionThreadPoolQueueCapacity": 100000}


def human_bytes(n: int) -> str:
    """Java UtilAll.humanReadableByteCount(n, false): ``"1.5 KiB"``, ``"900 B"``."""
    if n < 1024:
        return f"{n} B"
    exp = min(int(math.log(n) / math.log(1024)), 6)
    return f"{n / 1024 ** exp:.1f} {'KMGTPE'[exp - 1]}iB"


def runtime_text(seconds: float) -> str:
    """Java's ``[ 0 days, 0 hours, 0 minutes, 15 seconds ]``."""
    s = max(0, int(seconds))
    return (f"[ {s // 86400} days, {s // 3600 % 24} hours, {s // 60 % 60} minutes, "
            f"{s % 60} seconds ]")


def _disk(path: str) -> tuple[int, int]:
    """(total, free) bytes of the file system holding ``path`` (0, 0 when unreadable)."""
    while path and not os.path.exists(path):
        path = os.path.dirname(path)
    try:
        u = shutil.disk_usage(path or ".")
    except OSError:
        return 0, 0
    return u.total, u.free


def _earliest_message_time(ctx: BrokerContext) -> int:
    times = [ctx.store.earliest_store_time(t, q) for t, q, lo, hi in ctx.store.queues() if hi > lo]
    times = [t for t in times if t > 0]
    return min(times) if times else -1


def runtime_table(ctx: BrokerContext, now: float | None = None) -> dict[str, str]:
    """Every key of Java 4.9.8's GET_BROKER_RUNTIME_INFO in its value format (values pyrmq has
    no equivalent of are Java's idle values, docs/operations.md lists them), plus the store's
    counters under their own snake_case names."""
    now = time.time() if now is None else now
    st: BrokerStats = ctx.stats
    store = ctx.store.stats()
    root = ctx.store.root
    commitlog = os.path.join(root, "commitlog")
    total, free = _disk(commitlog)
    ratio = f"{(total - free) / total:.2f}" if total else "0.00"
    puts, put_bytes = st.put_count, st.put_bytes
    table = {
        "brokerVersion": "409", "brokerVersionDesc": "V4_9_8",
        "bootTimestamp": str(ctx.boot_ms),
        "runtime": runtime_text(now - ctx.boot_ms / 1000),
        "msgPutTotalTodayNow": str(puts), "msgGetTotalTodayNow": str(st.get_count),
        "msgPutTotalTodayMorning": str(st.put_today_morning),
        "msgGetTotalTodayMorning": str(st.get_today_morning),
        "msgPutTotalYesterdayMorning": str(st.put_yesterday_morning),
        "msgGetTotalYesterdayMorning": str(st.get_yesterday_morning),
        "putTps": st.tps_text("put"), "getTransferedTps": st.tps_text("get"),
        "getFoundTps": st.tps_text("found"), "getMissTps": "0.0  ",
        "getTotalTps": st.tps_text("found", zero_missing=True),
        "putMessageTimesTotal": str(puts), "putMessageSizeTotal": str(put_bytes),
        "putMessageAverageSize": repr(put_bytes / puts if puts else 0.0),
        "putMessageFailedTimes": "0", "putMessageEntireTimeMax": "0",
        "getMessageEntireTimeMax": "0", "putMessageDistributeTime": "null",
        "putLatency99": "0.00", "putLatency999": "0.00",
        "commitLogMinOffset": str(store["min_phys_offset"]),
        "commitLogMaxOffset": str(store["max_phys_offset"]),
        "remainHowManyDataToFlush": human_bytes(
            max(0, store["max_phys_offset"] - store["flushed_phys_offset"])),
        "dispatchBehindBytes": str(store["dispatch_lag_bytes"]),
        "dispatchMaxBuffer": "0", "pageCacheLockTimeMills": "0",
        "remainTransientStoreBufferNumbs": str(2**31 - 1),
        "earliestMessageTimeStamp": str(_earliest_message_time(ctx)),
        "startAcceptSendRequestTimeStamp": "0",
        "commitLogDirCapacity": f"Total : {human_bytes(total)}, Free : {human_bytes(free)}.",
        "commitLogDiskRatio": ratio, f"commitLogDiskRatio_{commitlog}": ratio,
        "consumeQueueDiskRatio": ratio,
        "sendThreadPoolQueueSize": "0", "queryThreadPoolQueueSize": "0",
        "pullThreadPoolQueueSize": str(len(ctx.holds)), "EndTransactionQueueSize": "0",
        "sendThreadPoolQueueHeadWaitTimeMills": "0", "pullThreadPoolQueueHeadWaitTimeMills": "0",
        "queryThreadPoolQueueHeadWaitTimeMills": "0",
    }
    table.update({k: str(v) for k, v in _POOL_CAPACITY.items()})
    # pyrmq's own store counters (snake_case, no clash with Java's keys; the dashboard reads them)
    table.update({k: str(v) for k, v in store.items()})
    if st.lag is not None:  # loop_lag_max_ms, loop_stalls
        table.update({k: str(v) for k, v in st.lag.snapshot().items()})
    return table


async def runtime_info(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand
                       ) -> RemotingCommand:
    return cmd.response(ResponseCode.SUCCESS, body=KVTable(runtime_table(ctx)).to_json())


async def topic_stats(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand
                      ) -> RemotingCommand:
    topic = GetTopicStatsInfoRequestHeader.from_ext(cmd.ext_fields).topic
    tc = ctx.topics.get(topic)
    if tc is None:
        return cmd.response(ResponseCode.TOPIC_NOT_EXIST, f"topic[{topic}] not exist")
    s, name = ctx.store, ctx.cfg.brokerName
    table = {}
    for q in range(tc.writeQueueNums):
        mx = s.max_offset(topic, q)
        table[MessageQueue(topic, name, q)] = TopicOffset(
            s.min_offset(topic, q), mx, s.store_time_at(topic, q, mx - 1) if mx > 0 else 0)
    return cmd.response(ResponseCode.SUCCESS, body=TopicStatsTable(table).to_json())


def group_consume_stats(ctx: BrokerContext, group: str, topic: str) -> ConsumeStats | None:
    """ConsumeStats of ``group`` on ``topic`` (4.9's per-queue broker/consumer offsets and the
    store time of the last consumed message); None when the topic does not exist or the online
    group does not subscribe it."""
    tc = ctx.topics.get(topic)
    info = ctx.consumers.groups.get(group)
    if tc is None or (info is not None and info.subscriptions and topic not in info.subscriptions):
        return None
    s, name = ctx.store, ctx.cfg.brokerName
    table = {}
    for q in range(tc.writeQueueNums):
        consumed = max(0, ctx.offsets.query(group, topic, q))
        table[MessageQueue(topic, name, q)] = OffsetWrapper(
            max(0, s.max_offset(topic, q)), consumed,
            s.store_time_at(topic, q, consumed - 1) if consumed > 0 else 0)
    return ConsumeStats(table, 0.0)


def _topics_of_group(ctx: BrokerContext, group: str) -> list[str]:
    topics = sorted({k.partition("@")[0] for k in ctx.offsets.table
                     if k.partition("@")[2] == group})
    info = ctx.consumers.groups.get(group)
    if not topics and info is not None:
        topics = sorted(info.subscriptions)
    return topics


async def consume_stats(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand
                        ) -> RemotingCommand:
    h = GetConsumeStatsRequestHeader.from_ext(cmd.ext_fields)
    topics = [h.topic] if h.topic else _topics_of_group(ctx, h.consumer_group)
    merged: dict[MessageQueue, OffsetWrapper] = {}
    for topic in topics:
        cs = group_consume_stats(ctx, h.consumer_group, topic)
        if cs is not None:
            merged.update(cs.offset_table)
    return cmd.response(ResponseCode.SUCCESS, body=ConsumeStats(merged, 0.0).to_json())


async def broker_consume_stats(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand
                               ) -> RemotingCommand:
    """GET_BROKER_CONSUME_STATS: every subscription group's ConsumeStats per topic."""
    only_order = GetConsumeStatsInBrokerHeader.from_ext(cmd.ext_fields).is_order
    groups, total = [], 0
    for group in list(ctx.groups.table):
        stats = []
        for topic in _topics_of_group(ctx, group):
            tc = ctx.topics.get(topic)
            if tc is None or (only_order and not tc.order):
                continue
            cs = group_consume_stats(ctx, group, topic)
            if cs is not None:
                stats.append(cs)
                total += cs.diff_total
        groups.append((group, stats))
    body = ConsumeStatsList(ctx.cfg.broker_addr, groups, total)
    return cmd.response(ResponseCode.SUCCESS, body=body.to_json())


async def topic_consume_by_who(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand
                               ) -> RemotingCommand:
    """QUERY_TOPIC_CONSUME_BY_WHO: online groups subscribing the topic and groups holding
    offsets on it (GroupList body)."""
    topic = QueryTopicConsumeByWhoRequestHeader.from_ext(cmd.ext_fields).topic
    groups = {g for g, info in ctx.consumers.groups.items() if topic in info.subscriptions}
    groups.update(ctx.offsets.groups_of_topic(topic))
    return cmd.response(ResponseCode.SUCCESS, body=jsonx.dumps({"groupList": sorted(groups)}))
