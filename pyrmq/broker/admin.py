"""Admin and query codes: topics (17, 215, 21, 22), subscription groups (200, 201, 207),
offsets dump (43), delay offsets (45), broker config (26, 25), VIEW_MESSAGE_BY_ID (33),
QUERY_MESSAGE (12), connections (203, 204), reset offset (222); statistics codes are in
admin_stats."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import TYPE_CHECKING

from pyrmq import _store
from pyrmq.broker.overrides import parse_update, save_overrides, validate_update
from pyrmq.broker.topics import SYSTEM_TOPICS
from pyrmq.protocol import jsonx
from pyrmq.protocol.admin import MessageQueue, ResetOffsetBody
from pyrmq.protocol.bodies import TopicConfig
from pyrmq.protocol.codes import ResponseCode
from pyrmq.protocol.command import RemotingCommand
from pyrmq.protocol.headers import (
    CreateTopicRequestHeader,
    DeleteSubscriptionGroupRequestHeader,
    DeleteTopicRequestHeader,
    GetConsumerConnectionListRequestHeader,
    GetProducerConnectionListRequestHeader,
    QueryMessageRequestHeader,
    QueryMessageResponseHeader,
    ResetOffsetRequestHeader,
    ViewMessageRequestHeader,
)
from pyrmq.remoting import Connection

if TYPE_CHECKING:
    from pyrmq.broker.context import BrokerContext


async def update_topic(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand
                       ) -> RemotingCommand:
    h = CreateTopicRequestHeader.from_ext(cmd.ext_fields)
    topic = h.topic  # a valid name: the header's name field checked it
    if topic in SYSTEM_TOPICS:
        return cmd.response(ResponseCode.SYSTEM_ERROR,
                            f"The topic[{topic}] is conflict with system topic.")
    tc = TopicConfig(topic, h.read_queue_nums, h.write_queue_nums, h.perm,
                     h.topic_filter_type, h.topic_sys_flag or 0, h.order)
    ctx.topics.put(tc)
    ctx.register_soon()
    return cmd.response(ResponseCode.SUCCESS)


async def delete_topic(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand
                       ) -> RemotingCommand:
    topic = DeleteTopicRequestHeader.from_ext(cmd.ext_fields).topic
    ctx.topics.delete(topic)
    ctx.store.delete_topic(topic)
    ctx.register_soon()
    return cmd.response(ResponseCode.SUCCESS)


async def all_topic_config(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand
                           ) -> RemotingCommand:
    return cmd.response(ResponseCode.SUCCESS, body=jsonx.dumps({
        "dataVersion": ctx.topics.version,
        "topicConfigTable": {n: tc.to_dict() for n, tc in ctx.topics.valid_table().items()}}))


async def topic_names(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand
                      ) -> RemotingCommand:
    return cmd.response(ResponseCode.SUCCESS,
                        body=jsonx.dumps({"topicList": sorted(ctx.topics.valid_table())}))


async def update_group(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand
                       ) -> RemotingCommand:
    try:
        ctx.groups.put(jsonx.loads(cmd.body))
    except ValueError as e:
        return cmd.response(ResponseCode.SYSTEM_ERROR, str(e))
    return cmd.response(ResponseCode.SUCCESS)


async def delete_group(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand
                       ) -> RemotingCommand:
    ctx.groups.delete(DeleteSubscriptionGroupRequestHeader.from_ext(cmd.ext_fields).group_name)
    return cmd.response(ResponseCode.SUCCESS)


async def all_groups(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
    return cmd.response(ResponseCode.SUCCESS, body=jsonx.dumps({
        "dataVersion": ctx.groups.version, "subscriptionGroupTable": ctx.groups.table}))


async def all_offsets(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand
                      ) -> RemotingCommand:
    return cmd.response(ResponseCode.SUCCESS, body=jsonx.dumps(ctx.offsets.to_json_obj()))


async def delay_offsets(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand
                        ) -> RemotingCommand:
    progress = ctx.schedule.to_json_obj() if ctx.schedule is not None else {"offsetTable": {}}
    return cmd.response(ResponseCode.SUCCESS, body=jsonx.dumps(progress))


async def broker_config(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand
                        ) -> RemotingCommand:
    items = {**asdict(ctx.store_cfg), **asdict(ctx.cfg)}
    text = "\n".join(f"{k}={v}" for k, v in sorted(items.items())) + "\n"
    return cmd.response(ResponseCode.SUCCESS, body=text.encode())


async def view_message(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand
                       ) -> RemotingCommand:
    phys = ViewMessageRequestHeader.from_ext(cmd.ext_fields).offset
    try:
        return cmd.response(ResponseCode.SUCCESS, body=ctx.store.read_at(phys))
    except _store.StoreError:
        return cmd.response(ResponseCode.SYSTEM_ERROR,
                            f"can not find message by the offset, {phys}")


async def query_message(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand
                        ) -> RemotingCommand:
    h = QueryMessageRequestHeader.from_ext(cmd.ext_fields)
    # Java caps maxNum at maxMsgsNumBatch (64); a huge one must not size an allocation
    max_num = 32 if h.unique_key_query else max(1, min(h.max_num, 64))
    records = ctx.store.query_by_key(h.topic, h.key, h.begin_timestamp, h.end_timestamp,
                                        max_num)
    if not records:
        return cmd.response(ResponseCode.QUERY_NOT_FOUND,
                            "can not find message, maybe time range not correct")
    return cmd.response(ResponseCode.SUCCESS, ext_fields=QueryMessageResponseHeader(
        int(time.time() * 1000), ctx.store.max_phys_offset()), body=b"".join(records))


async def consumer_connections(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand
                               ) -> RemotingCommand:
    group = GetConsumerConnectionListRequestHeader.from_ext(cmd.ext_fields).consumer_group
    info = ctx.consumers.groups.get(group)
    if info is None:
        return cmd.response(ResponseCode.CONSUMER_NOT_ONLINE,
                            f"the consumer group[{group}] not online")
    conns = [{"clientAddr": ch.conn.remote_addr, "clientId": ch.client_id,
              "language": ch.conn.attrs.get("language", "OTHER"),
              "version": ch.conn.attrs.get("version", 0)} for ch in info.channels.values()]
    return cmd.response(ResponseCode.SUCCESS, body=jsonx.dumps({
        "connectionSet": conns, "consumeType": info.consume_type,
        "messageModel": info.message_model, "consumeFromWhere": info.consume_from_where,
        "subscriptionTable": {t: s.to_dict() for t, s in info.subscriptions.items()}}))


async def producer_connections(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand
                               ) -> RemotingCommand:
    group = GetProducerConnectionListRequestHeader.from_ext(cmd.ext_fields).producer_group
    chans = ctx.producers.groups.get(group, {})
    if not chans:
        return cmd.response(ResponseCode.SYSTEM_ERROR, f"the producer group[{group}] not exist")
    return cmd.response(ResponseCode.SUCCESS, body=jsonx.dumps({"connectionSet": [
        {"clientAddr": ch.conn.remote_addr, "clientId": ch.client_id,
         "language": ch.conn.attrs.get("language", "OTHER"),
         "version": ch.conn.attrs.get("version", 0)} for ch in chans.values()]}))


async def update_broker_config(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand
                               ) -> RemotingCommand:
    """UPDATE_BROKER_CONFIG: body = ``key=value`` lines, validated as broker.conf is before
    SUCCESS. Broker keys take effect at once where they are read at run time and are kept in
    config/brokerConfigOverrides.properties, which ``pyrmq broker`` applies at the next start."""
    try:
        props = parse_update(cmd.body)
        new_cfg = validate_update(ctx.cfg, props)
    except ValueError as e:
        return cmd.response(ResponseCode.SYSTEM_ERROR, f"bad broker config: {e}")
    save_overrides(ctx.config_dir, props)
    ctx.cfg = new_cfg
    ctx.register_soon()
    return cmd.response(ResponseCode.SUCCESS)


async def reset_offset(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand
                       ) -> RemotingCommand:
    """INVOKE_BROKER_TO_RESET_OFFSET: move a group's offsets on one topic to the first message
    stored at or after ``timestamp`` (only backwards unless ``isForce``), commit them here and
    push them to the group's live consumers (RESET_CONSUMER_CLIENT_OFFSET, oneway)."""
    from pyrmq.protocol.codes import RequestCode
    from pyrmq.protocol.command import request

    h = ResetOffsetRequestHeader.from_ext(cmd.ext_fields)
    topic, group, ts, force = h.topic, h.group, h.timestamp, h.is_force
    tc = ctx.topics.get(topic)
    if tc is None:
        return cmd.response(ResponseCode.TOPIC_NOT_EXIST, f"topic[{topic}] not exist")
    table = []
    for q in range(tc.readQueueNums):
        new = ctx.store.offset_by_time(topic, q, ts)
        current = ctx.offsets.query(group, topic, q)
        if force or current < 0 or new < current:
            ctx.offsets.commit(group, topic, q, new)
            table.append((q, new))
    reset = ResetOffsetBody({MessageQueue(topic, ctx.cfg.brokerName, q): o for q, o in table})
    header = ResetOffsetRequestHeader(topic, group, ts, force)
    info = ctx.consumers.groups.get(group)
    for ch in list(info.channels.values()) if info else []:
        # the C++ client parses an array; Java's form has MessageQueue objects as keys
        body = (reset.to_wheel_json() if ch.conn.attrs.get("language") == "CPP"
                else reset.to_java_json())
        ch.conn.invoke_oneway(request(RequestCode.RESET_CONSUMER_CLIENT_OFFSET, header, body))
    # the requester is mqadmin or pyrmq's CLI (the C++ client never sends 222): Java's form
    return cmd.response(ResponseCode.SUCCESS, body=reset.to_java_json())
