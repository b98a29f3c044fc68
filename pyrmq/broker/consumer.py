"""Client management and consumer bookkeeping: HEART_BEAT, UNREGISTER_CLIENT,
GET_CONSUMER_LIST_BY_GROUP, consumer offsets (14/15/29/30/31/32), CONSUMER_SEND_MSG_BACK,
LOCK/UNLOCK_BATCH_MQ."""

from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING

from pyrmq import _store
from pyrmq.broker import pull
from pyrmq.broker.messages import StoreRejected, put_message
from pyrmq.broker.topics import dlq_topic, retry_topic
from pyrmq.protocol import jsonx
from pyrmq.protocol.bodies import (
    HeartbeatData,
    mq_dict,
    parse_heartbeat,
    parse_lock_body,
    parse_subscription,
)
from pyrmq.protocol.codes import RequestCode, ResponseCode
from pyrmq.protocol.command import RemotingCommand, request
from pyrmq.protocol.headers import (
    ConsumerSendMsgBackRequestHeader,
    GetConsumerListByGroupRequestHeader,
    GetEarliestMsgStoretimeRequestHeader,
    GetEarliestMsgStoretimeResponseHeader,
    GetMaxOffsetRequestHeader,
    GetMinOffsetRequestHeader,
    OffsetResponseHeader,
    QueryConsumerOffsetRequestHeader,
    QueryConsumerOffsetResponseHeader,
    SearchOffsetRequestHeader,
    UnregisterClientRequestHeader,
    UpdateConsumerOffsetRequestHeader,
)
from pyrmq.protocol.message import MessageConst, decode_records_fast
from pyrmq.protocol.names import group_problem, group_topics_problem, topic_problem
from pyrmq.remoting import Connection, RemotingClient

if TYPE_CHECKING:
    from pyrmq.broker.context import BrokerContext
    from pyrmq.broker.groups import ConsumerOffsetManager

log = logging.getLogger("pyrmq.broker")

V3_4_9 = 121  # MQVersion ordinal: from here on the send-back header's maxReconsumeTimes counts


def _heartbeat_problem(hb: HeartbeatData) -> str | None:
    """Why a heartbeat's names cannot be accepted (checked before anything is registered)."""
    for c in hb.consumers:
        bad = group_topics_problem(c.group) if c.group else None
        for s in c.subscriptions:
            bad = bad or topic_problem(s.topic)
        if bad:
            return bad
    for g in hb.producer_groups:
        bad = group_problem(g)
        if bad:
            return bad
    return None


async def heart_beat(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
    hb = parse_heartbeat(cmd.body)
    bad = _heartbeat_problem(hb)
    if bad is not None:
        return cmd.response(ResponseCode.SYSTEM_ERROR, f"heartbeat refused: {bad}")
    conn.attrs["client_id"] = hb.client_id
    conn.attrs["language"] = cmd.language
    conn.attrs["version"] = cmd.version
    for c in hb.consumers:
        if not c.group:
            continue
        gcfg = ctx.groups.find(c.group)
        if gcfg is not None:
            _, created = ctx.topics.ensure(retry_topic(c.group),
                                              int(gcfg.get("retryQueueNums", 1)))
            if created:
                ctx.register_soon()
        if ctx.consumers.register(conn, hb.client_id, c):
            ctx.notify_ids_changed(c.group)
    for g in hb.producer_groups:
        ctx.producers.register(conn, hb.client_id, g)
    return cmd.response(ResponseCode.SUCCESS)


async def unregister_client(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand
                            ) -> RemotingCommand:
    h = UnregisterClientRequestHeader.from_ext(cmd.ext_fields)
    if h.producer_group:
        ctx.producers.unregister(h.producer_group, conn)
    group = h.consumer_group
    if group and ctx.consumers.unregister(group, conn):
        ctx.notify_ids_changed(group)
    return cmd.response(ResponseCode.SUCCESS)


async def consumer_list(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand
                        ) -> RemotingCommand:
    group = GetConsumerListByGroupRequestHeader.from_ext(cmd.ext_fields).consumer_group
    info = ctx.consumers.groups.get(group)
    ids = info.client_ids() if info else []
    if not ids:
        return cmd.response(ResponseCode.SYSTEM_ERROR, f"no consumer for this group, {group}")
    return cmd.response(ResponseCode.SUCCESS, body=jsonx.dumps({"consumerIdList": ids}))


async def query_offset(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand
                       ) -> RemotingCommand:
    h = QueryConsumerOffsetRequestHeader.from_ext(cmd.ext_fields)
    group, topic, qid = h.consumer_group, h.topic, h.queue_id
    off = ctx.offsets.query(group, topic, qid)
    if off >= 0:
        return cmd.response(ResponseCode.SUCCESS, ext_fields=QueryConsumerOffsetResponseHeader(off))
    # Never committed: start at 0 when the queue's first message is still "in memory"
    # (RocketMQ: within 40 % of RAM of the commitlog end), else let the client decide.
    store = ctx.store
    if store.min_offset(topic, qid) <= 0:
        phys = store.phys_of(topic, qid, 0)
        ratio = ctx.store_cfg.accessMessageInMemoryMaxRatio / 100.0
        if phys < 0 or store.max_phys_offset() - phys <= ctx.memory_bytes * ratio:
            return cmd.response(ResponseCode.SUCCESS,
                                ext_fields=QueryConsumerOffsetResponseHeader(0))
    return cmd.response(ResponseCode.QUERY_NOT_FOUND,
                        "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first")


async def update_offset(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand
                        ) -> RemotingCommand:
    h = UpdateConsumerOffsetRequestHeader.from_ext(cmd.ext_fields)
    ctx.offsets.commit(h.consumer_group, h.topic, h.queue_id, h.commit_offset)
    if ctx.is_slave:  # a client whose master is away: keep it through the next sync
        ctx.offsets.local[(f"{h.topic}@{h.consumer_group}", h.queue_id)] = h.commit_offset
    return cmd.response(ResponseCode.SUCCESS)


def merge_master_offsets(offsets: ConsumerOffsetManager, master: dict[str, dict[int, int]]
                         ) -> list[tuple[str, int, int]]:
    """A slave's sync of the master's offset table (Java's SlaveSynchronize, with one rule
    more): the master's offsets win, except one a client committed to this slave while the
    master was away and that is still larger than the master's -- it is kept, and returned as
    ``(topic@group, queueId, offset)`` to be carried to the master. Once the master's copy
    has caught up the slave forgets it committed anything itself."""
    carry = []
    for key, queues in master.items():
        mine = offsets.table.setdefault(key, {})
        for qid, off in queues.items():
            local = offsets.local.get((key, qid))
            if local is not None and local > off:
                carry.append((key, qid, local))
                continue
            offsets.local.pop((key, qid), None)
            mine[qid] = off
    for (key, qid), local in list(offsets.local.items()):
        if qid not in master.get(key, {}):  # the master has never seen this queue's offset
            carry.append((key, qid, local))
    return carry


async def sync_offsets_from_master(ctx: BrokerContext, client: RemotingClient,
                                   master_addr: str) -> None:
    """GET_ALL_CONSUMER_OFFSET from the master, merged by :func:`merge_master_offsets`; the
    offsets clients committed here during the master's absence are sent back to it
    (UPDATE_CONSUMER_OFFSET), so a group that is idle after the return does not replay."""
    r = await client.invoke(master_addr, request(RequestCode.GET_ALL_CONSUMER_OFFSET), 3)
    if r.code != ResponseCode.SUCCESS:
        return
    table: dict[str, dict[int, int]] = {}
    for key, queues in (jsonx.loads(r.body).get("offsetTable") or {}).items():
        topic, _, group = key.partition("@")
        if topic_problem(topic) is None and group_problem(group) is None:
            table[key] = {int(q): int(o) for q, o in queues.items()}
    carry = merge_master_offsets(ctx.offsets, table)
    ctx.offsets.persist(force=True)
    for key, qid, off in carry:
        topic, _, group = key.partition("@")
        up = await client.invoke(master_addr, request(
            RequestCode.UPDATE_CONSUMER_OFFSET,
            UpdateConsumerOffsetRequestHeader(group, topic, qid, off).to_ext()), 3)
        if up.code == ResponseCode.SUCCESS:
            log.info("carried offset %d of %s queue %d (committed here while the master "
                     "was away) to %s", off, key, qid, master_addr)


async def max_offset(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
    h = GetMaxOffsetRequestHeader.from_ext(cmd.ext_fields)
    off = ctx.store.max_offset(h.topic, h.queue_id)
    return cmd.response(ResponseCode.SUCCESS, ext_fields=OffsetResponseHeader(off))


async def min_offset(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
    h = GetMinOffsetRequestHeader.from_ext(cmd.ext_fields)
    off = ctx.store.min_offset(h.topic, h.queue_id)
    return cmd.response(ResponseCode.SUCCESS, ext_fields=OffsetResponseHeader(off))


async def search_offset(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand
                        ) -> RemotingCommand:
    h = SearchOffsetRequestHeader.from_ext(cmd.ext_fields)
    off = ctx.store.offset_by_time(h.topic, h.queue_id, h.timestamp)
    return cmd.response(ResponseCode.SUCCESS, ext_fields=OffsetResponseHeader(off))


async def earliest_time(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand
                        ) -> RemotingCommand:
    h = GetEarliestMsgStoretimeRequestHeader.from_ext(cmd.ext_fields)
    ts = ctx.store.earliest_store_time(h.topic, h.queue_id)
    return cmd.response(ResponseCode.SUCCESS, ext_fields=GetEarliestMsgStoretimeResponseHeader(ts))


async def send_back(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
    h = ConsumerSendMsgBackRequestHeader.from_ext(cmd.ext_fields)
    group, phys = h.group, h.offset
    bad = group_topics_problem(group)
    if bad is not None:
        return cmd.response(ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST, bad)
    gcfg = ctx.groups.find(group)
    if gcfg is None:
        return cmd.response(ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST,
                            f"subscription group not exist, {group}")
    if ctx.is_slave:
        return cmd.response(ResponseCode.NO_PERMISSION, "the broker is a slave")
    if int(gcfg.get("retryQueueNums", 1)) <= 0:
        return cmd.response(ResponseCode.SUCCESS)
    try:
        (msg,) = decode_records_fast(ctx.store.read_at(phys))
    except (_store.StoreError, Exception):
        return cmd.response(ResponseCode.SYSTEM_ERROR, f"look message by offset failed, {phys}")
    props = dict(msg.properties)
    props.setdefault(MessageConst.RETRY_TOPIC, msg.topic)
    max_times = int(gcfg.get("retryMaxTimes", ctx.cfg.retryMaxTimes))
    if cmd.version >= V3_4_9 and h.max_reconsume_times is not None:
        max_times = h.max_reconsume_times
    delay = h.delay_level
    if msg.reconsume_times >= max_times or delay < 0:
        topic, qid = dlq_topic(group), 0
        props.pop(MessageConst.DELAY, None)
        _, created = ctx.topics.ensure(topic, 1)
    else:
        topic = retry_topic(group)
        tc, created = ctx.topics.ensure(topic, int(gcfg.get("retryQueueNums", 1)))
        qid = random.randrange(max(1, tc.writeQueueNums))
        props[MessageConst.DELAY] = str(3 + msg.reconsume_times if delay == 0 else delay)
    if created:
        ctx.register_soon()
    props[MessageConst.ORIGIN_MESSAGE_ID] = (msg.properties.get(MessageConst.ORIGIN_MESSAGE_ID)
                                             or h.origin_msg_id
                                             or msg.offset_msg_id)
    try:
        await put_message(ctx, topic, qid, msg.body, props, flag=msg.flag,
                          sysflag=msg.sysflag & ~0x30, born_timestamp=msg.born_timestamp,
                          born_host=msg.born_host, reconsume_times=msg.reconsume_times + 1)
    except StoreRejected as e:
        return cmd.response(e.code, str(e))
    return cmd.response(ResponseCode.SUCCESS)


def _lock_problem(group: str, mqs: list[tuple[str, str, int]]) -> str | None:
    return group_problem(group) or next(
        (p for p in (topic_problem(t) for t, _b, _q in mqs) if p), None)


async def lock_batch(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
    group, client_id, mqs = parse_lock_body(cmd.body)
    bad = _lock_problem(group, mqs)
    if bad is not None:
        return cmd.response(ResponseCode.SYSTEM_ERROR, bad)
    ok = ctx.locks.lock(group, client_id, mqs)
    return cmd.response(ResponseCode.SUCCESS, body=jsonx.dumps(
        {"lockOKMQSet": [mq_dict(t, b, q) for t, b, q in ok]}))


async def unlock_batch(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand
                       ) -> RemotingCommand:
    group, client_id, mqs = parse_lock_body(cmd.body)
    bad = _lock_problem(group, mqs)
    if bad is not None:
        return cmd.response(ResponseCode.SYSTEM_ERROR, bad)
    ctx.locks.unlock(group, client_id, mqs)
    return cmd.response(ResponseCode.SUCCESS)


async def check_client_config(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand
                              ) -> RemotingCommand:
    """CHECK_CLIENT_CONFIG (46): a client asks before start whether the broker takes its
    subscription (body CheckClientRequestBody: clientId, group, subscriptionData); a SQL92
    one needs enablePropertyFilter and an expression that compiles."""
    body = jsonx.loads(cmd.body)
    if not isinstance(body, dict) or not isinstance(body.get("subscriptionData"), dict):
        return cmd.response(ResponseCode.SYSTEM_ERROR, "check client config needs subscriptionData")
    s = body["subscriptionData"]
    sub = parse_subscription(str(s.get("topic", "")), s.get("subString"), 0,
                             str(s.get("expressionType") or "TAG"))
    _, refused = pull.property_filter(ctx, sub)
    if refused is not None:
        code = (ResponseCode.SUBSCRIPTION_PARSE_FAILED if "parse" in refused
                else ResponseCode.SYSTEM_ERROR)
        return cmd.response(code, refused)
    return cmd.response(ResponseCode.SUCCESS)
