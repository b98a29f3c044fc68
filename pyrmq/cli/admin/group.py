"""updateSubGroup, deleteSubGroup, consumerProgress, consumerConnection, producerConnection,
resetOffsetByTime."""

from __future__ import annotations

import argparse
import time
from typing import Any

from pyrmq.cli.admin.common import Admin, CommandError, add
from pyrmq.cli.output import emit
from pyrmq.protocol import headers as H
from pyrmq.protocol import jsonx
from pyrmq.protocol.codes import RequestCode as RC
from pyrmq.protocol.codes import ResponseCode
from pyrmq.protocol.stats import ConsumeStats


def register(sub: argparse._SubParsersAction) -> None:
    p = add(sub, "updateSubGroup", update_group, "create or update a subscription group")
    p.add_argument("-g", "--group", required=True)
    p.add_argument("-c", "--cluster")
    p.add_argument("--retry-max-times", type=int, default=16)
    p.add_argument("--retry-queues", type=int, default=1)
    p.add_argument("--consume-enable", choices=("true", "false"), default="true")
    p = add(sub, "deleteSubGroup", delete_group, "delete a subscription group")
    p.add_argument("-g", "--group", required=True)
    p.add_argument("-c", "--cluster")
    p = add(sub, "consumerProgress", progress, "per-queue offsets and lag of a group")
    p.add_argument("-g", "--group", required=True)
    p.add_argument("-t", "--topic", default="")
    add(sub, "consumerConnection", consumer_conn, "clients of a consumer group").add_argument(
        "-g", "--group", required=True)
    p = add(sub, "producerConnection", producer_conn, "clients of a producer group")
    p.add_argument("-g", "--group", required=True)
    p = add(sub, "resetOffsetByTime", reset_offset, "move a group's offsets to a time")
    p.add_argument("-g", "--group", required=True)
    p.add_argument("-t", "--topic", required=True)
    p.add_argument("-s", "--timestamp", required=True,
                   help="ms since epoch, or 'now', or 0 for the earliest")
    p.add_argument("--dry-run", action="store_true", help="print old -> new, change nothing")


async def update_group(admin: Admin, args: argparse.Namespace) -> int:
    cfg = {"groupName": args.group, "retryMaxTimes": args.retry_max_times,
           "retryQueueNums": args.retry_queues, "consumeEnable": args.consume_enable == "true"}
    for addr in (await admin.masters(args.cluster)).values():
        await admin.call(addr, RC.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, None, jsonx.dumps(cfg))
    emit(cfg, args.json)
    return 0


async def delete_group(admin: Admin, args: argparse.Namespace) -> int:
    masters = await admin.masters(args.cluster)
    for addr in masters.values():
        await admin.call(addr, RC.DELETE_SUBSCRIPTIONGROUP,
                         H.DeleteSubscriptionGroupRequestHeader(args.group))
    emit({"group": args.group, "brokers": sorted(masters)}, args.json)
    return 0


async def progress(admin: Admin, args: argparse.Namespace) -> int:
    rows = []
    for addr in (await admin.masters()).values():
        r = await admin.call(addr, RC.GET_CONSUME_STATS,
                             H.GetConsumeStatsRequestHeader(args.group, args.topic))
        rows += consume_rows(ConsumeStats.from_json(r.body))
    if not rows:
        raise CommandError(f"no consume progress for group {args.group}")
    rows.sort(key=lambda r: (r["topic"], r["brokerName"], r["queueId"]))
    if args.json:
        emit({"queues": rows, "totalLag": sum(r["lag"] for r in rows)}, True)
    else:
        emit(rows, False, ["topic", "brokerName", "queueId", "brokerOffset", "consumerOffset",
                           "lag"])
        print(f"total lag: {sum(r['lag'] for r in rows)}")
    return 0


def consume_rows(cs: ConsumeStats) -> list[dict[str, Any]]:
    """One row per queue of a ConsumeStats, with its lag."""
    return [{"topic": mq.topic, "brokerName": mq.broker_name, "queueId": mq.queue_id,
             "brokerOffset": w.broker_offset, "consumerOffset": w.consumer_offset,
             "lastTimestamp": w.last_timestamp,
             "lag": max(0, w.broker_offset - w.consumer_offset)}
            for mq, w in sorted(cs.offset_table.items())]


async def consumer_conn(admin: Admin, args: argparse.Namespace) -> int:
    out = []
    for addr in (await admin.masters()).values():
        r = await admin.call(addr, RC.GET_CONSUMER_CONNECTION_LIST,
                             H.GetConsumerConnectionListRequestHeader(args.group),
                             ok=(ResponseCode.SUCCESS, ResponseCode.CONSUMER_NOT_ONLINE))
        if r.code == ResponseCode.SUCCESS:
            body = jsonx.loads(r.body)
            for c in body["connectionSet"]:
                out.append({**c, "broker": addr, "messageModel": body["messageModel"]})
    if not out:
        raise CommandError(f"consumer group {args.group} is not online")
    emit(out, args.json, ["clientId", "clientAddr", "language", "version", "messageModel"])
    return 0


async def producer_conn(admin: Admin, args: argparse.Namespace) -> int:
    out = []
    for addr in (await admin.masters()).values():
        r = await admin.call(addr, RC.GET_PRODUCER_CONNECTION_LIST,
                             H.GetProducerConnectionListRequestHeader(args.group),
                             ok=(ResponseCode.SUCCESS, ResponseCode.SYSTEM_ERROR))
        if r.code == ResponseCode.SUCCESS:
            out += [{**c, "broker": addr} for c in jsonx.loads(r.body)["connectionSet"]]
    if not out:
        raise CommandError(f"producer group {args.group} is not online")
    emit(out, args.json, ["clientId", "clientAddr", "language", "version"])
    return 0


async def reset_offset(admin: Admin, args: argparse.Namespace) -> int:
    ts = int(time.time() * 1000) if args.timestamp == "now" else int(args.timestamp)
    route = await admin.route(args.topic)
    rows = []
    for mq in route.subscribe_queues():
        addr = route.master(mq.broker_name)
        if addr is None:
            continue
        old = await admin.call(addr, RC.QUERY_CONSUMER_OFFSET,
                               H.QueryConsumerOffsetRequestHeader(args.group, mq.topic,
                                                                  mq.queue_id),
                               ok=(ResponseCode.SUCCESS, ResponseCode.QUERY_NOT_FOUND))
        new = await admin.call(addr, RC.SEARCH_OFFSET_BY_TIMESTAMP,
                               H.SearchOffsetRequestHeader(mq.topic, mq.queue_id, ts))
        old_off = H.QueryConsumerOffsetResponseHeader.from_ext(old.ext_fields).offset
        row = {"brokerName": mq.broker_name, "queueId": mq.queue_id,
               "oldOffset": -1 if old_off is None else old_off,
               "newOffset": H.OffsetResponseHeader.from_ext(new.ext_fields).offset}
        rows.append(row)
    if not args.dry_run:  # each broker commits and pushes the reset to live consumers
        for name in sorted(route.broker_addrs):
            addr = route.master(name)
            if addr:
                await admin.call(addr, RC.INVOKE_BROKER_TO_RESET_OFFSET,
                                 H.ResetOffsetRequestHeader(args.topic, args.group, ts, True))
    emit(rows, args.json, ["brokerName", "queueId", "oldOffset", "newOffset"])
    return 0
