"""queryMsgById, queryMsgByKey, queryMsgByOffset, sendMessage, consumeMessage."""

from __future__ import annotations

import argparse
from typing import Any

from pyrmq.cli.admin.common import Admin, CommandError, add
from pyrmq.cli.output import emit
from pyrmq.client import Message, Producer, PullConsumer
from pyrmq.protocol.codes import ResponseCode
from pyrmq.protocol.message import MessageExt

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
    rows = []
    for m in await admin.query_msg_by_id(args.msg_id):
        rows.append({**_row(m), "tracks": await admin.message_tracks(args.msg_id, m)})
    if args.group and args.client_id:
        direct = await admin.consume_directly(args.msg_id, args.group, args.client_id)
        for row in rows:
            row["consumeDirectly"] = direct
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


async def by_key(admin: Admin, args: argparse.Namespace) -> int:
    rows = [_row(m) for m in await admin.query_msg_by_key(args.topic, args.key)]
    emit(rows, args.json, None if args.json else COLUMNS)
    return 0


async def by_offset(admin: Admin, args: argparse.Namespace) -> int:
    m = await admin.query_msg_by_offset(args.topic, args.broker_name, args.queue_id,
                                        args.offset)
    emit([_row(m)], args.json, None if args.json else COLUMNS)
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
