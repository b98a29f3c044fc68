"""queryMsgById, queryMsgByKey, queryMsgByOffset, sendMessage, consumeMessage."""

from __future__ import annotations

import argparse
from typing import Any

from pyrmq.cli.admin.common import Admin, CommandError, add
from pyrmq.cli.output import emit
from pyrmq.client import Message, Producer, PullConsumer
from pyrmq.protocol import headers as H
from pyrmq.protocol import jsonx
from pyrmq.protocol.admin import ConsumeMessageDirectlyResult, MessageQueue
from pyrmq.protocol.codes import RequestCode as RC
from pyrmq.protocol.codes import ResponseCode
from pyrmq.protocol.message import MessageExt, decode_records, parse_offset_msg_id

COLUMNS = ["msgId", "topic", "queueId", "queueOffset", "tags", "keys", "body"]


def _row(m: MessageExt) -> dict[str, Any]:
    body = m.decompressed_body() if m.sysflag & 1 else m.body
    return {"msgId": m.offset_msg_id, "uniqKey": m.uniq_key or "", "topic": m.topic,
            "queueId": m.queue_id, "queueOffset": m.queue_offset, "tags": m.tags or "",
            "keys": " ".join(m.keys), "storeTimestamp": m.store_timestamp,
            "reconsumeTimes": m.reconsume_times, "properties": m.properties,
            "body": body.decode("utf-8", "replace")}


def register(sub: argparse._SubParsersAction) -> None:
    p = add(sub, "queryMsgById", by_id, "a message by its offset msgId, and which groups "
            "consumed it")
    p.add_argument("-i", "--msg-id", required=True)
    p.add_argument("-g", "--group", help="with -d: have this group's client consume it again")
    p.add_argument("-d", "--client-id", help="the client (of -g) that consumes it directly")
    p = add(sub, "queryMsgByKey", by_key, "messages by key (or UNIQ_KEY)")
    p.add_argument("-t", "--topic", required=True)
    p.add_argument("-k", "--key", required=True)
    p = add(sub, "queryMsgByOffset", by_offset, "the message at a queue offset")
    p.add_argument("-t", "--topic", required=True)
    p.add_argument("-b", "--broker-name", required=True)
    p.add_argument("-i", "--queue-id", type=int, required=True)
    p.add_argument("-o", "--offset", type=int, required=True)
    p = add(sub, "sendMessage", send, "send one message")
    p.add_argument("-t", "--topic", required=True)
    p.add_argument("-p", "--body", required=True)
    p.add_argument("--tags")
    p.add_argument("-k", "--keys")
    p = add(sub, "consumeMessage", consume, "read messages of a topic from its queues")
    p.add_argument("-t", "--topic", required=True)
    p.add_argument("-g", "--group", default="TOOLS_CONSUMER")
    p.add_argument("-c", "--count", type=int, default=32)
    p.add_argument("-s", "--expression", default="*")


async def by_id(admin: Admin, args: argparse.Namespace) -> int:
    try:
        host, port, phys = parse_offset_msg_id(args.msg_id)
    except ValueError as e:
        raise CommandError(str(e)) from None
    addr = f"{host}:{port}"
    r = await admin.call(addr, RC.VIEW_MESSAGE_BY_ID, H.ViewMessageRequestHeader(phys))
    rows = []
    for m in decode_records(r.body):
        rows.append({**_row(m), "tracks": await _tracks(admin, addr, m)})
    if args.group and args.client_id:
        d = await admin.call(addr, RC.CONSUME_MESSAGE_DIRECTLY,
                             H.ConsumeMessageDirectlyResultRequestHeader(
                                 args.group, args.client_id, args.msg_id, None), timeout=15.0)
        res = ConsumeMessageDirectlyResult.from_json(d.body)
        for row in rows:
            row["consumeDirectly"] = {"consumeResult": res.consume_result, "remark": res.remark,
                                      "spentTimeMills": res.spent_time_mills}
    if args.json:
        emit(rows, True)
        return 0
    emit(rows, False, COLUMNS)
    for row in rows:
        for t in row["tracks"] or [{"consumerGroup": "-", "trackType": "NO_CONSUMER"}]:
            print(f"consumerGroup: {t['consumerGroup']}  trackType: {t['trackType']}")
        if "consumeDirectly" in row:
            print("consumeMessageDirectly:", row["consumeDirectly"])
    return 0


async def _tracks(admin: Admin, addr: str, m: MessageExt) -> list[dict[str, str]]:
    """mqadmin's message track: each group consuming the topic (QUERY_TOPIC_CONSUME_BY_WHO)
    and whether its committed offset passed the message."""
    r = await admin.call(addr, RC.QUERY_TOPIC_CONSUME_BY_WHO,
                         H.QueryTopicConsumeByWhoRequestHeader(m.topic))
    out = []
    for group in jsonx.loads(r.body).get("groupList") or []:
        c = await admin.call(addr, RC.QUERY_CONSUMER_OFFSET, H.QueryConsumerOffsetRequestHeader(
            group, m.topic, m.queue_id), ok=(ResponseCode.SUCCESS, ResponseCode.QUERY_NOT_FOUND))
        off = H.QueryConsumerOffsetResponseHeader.from_ext(c.ext_fields).offset
        kind = "CONSUMED" if off is not None and off > m.queue_offset else "NOT_CONSUME_YET"
        out.append({"consumerGroup": group, "trackType": kind})
    return out


async def by_key(admin: Admin, args: argparse.Namespace) -> int:
    route = await admin.route(args.topic)
    rows = []
    for name in sorted(route.broker_addrs):
        addr = route.any_addr(name)
        r = await admin.call(addr, RC.QUERY_MESSAGE, H.QueryMessageRequestHeader(
            args.topic, args.key, 64, 0, 2**62),
            ok=(ResponseCode.SUCCESS, ResponseCode.QUERY_NOT_FOUND))
        if r.code == ResponseCode.SUCCESS:
            rows += [_row(m) for m in decode_records(r.body)
                     if args.key in m.keys or args.key == m.uniq_key]
    if not rows:
        raise CommandError(f"no message with key {args.key} in {args.topic}")
    emit(rows, args.json, None if args.json else COLUMNS)
    return 0


async def by_offset(admin: Admin, args: argparse.Namespace) -> int:
    pc = PullConsumer("TOOLS_CONSUMER", admin.ns.addrs)
    try:
        mq = MessageQueue(args.topic, args.broker_name, args.queue_id)
        code, _, msgs = await pc.pull(mq, "*", args.offset, 1)
    finally:
        await pc.shutdown()
    if not msgs:
        raise CommandError(f"no message at {args.topic}/{args.broker_name}/{args.queue_id}"
                           f"@{args.offset} (pull code {code})")
    emit([_row(m) for m in msgs[:1]], args.json, None if args.json else COLUMNS)
    return 0


async def send(admin: Admin, args: argparse.Namespace) -> int:
    async with Producer("TOOLS_PRODUCER", admin.ns.addrs) as p:
        try:
            r = await p.send(Message(args.topic, args.body.encode(), tags=args.tags,
                                     keys=args.keys.split() if args.keys else []))
        except Exception as e:
            raise CommandError(str(e)) from None
    emit({"status": r.status.name, "msgId": r.msg_id, "offsetMsgId": r.offset_msg_id,
          "brokerName": r.queue.broker_name, "queueId": r.queue.queue_id,
          "queueOffset": r.queue_offset}, args.json)
    return 0


async def consume(admin: Admin, args: argparse.Namespace) -> int:
    pc = PullConsumer(args.group, admin.ns.addrs)
    rows: list[dict[str, Any]] = []
    try:
        for mq in await pc.fetch_queues(args.topic):
            offset = await pc.min_offset(mq)
            while len(rows) < args.count:
                code, nxt, msgs = await pc.pull(mq, args.expression, offset,
                                                min(32, args.count - len(rows)))
                rows += [_row(m) for m in msgs]
                if code != ResponseCode.SUCCESS or nxt == offset:
                    break
                offset = nxt
    except Exception as e:
        raise CommandError(str(e)) from None
    finally:
        await pc.shutdown()
    emit(rows[:args.count], args.json, None if args.json else COLUMNS)
    return 0
