"""updateSubGroup, deleteSubGroup, consumerProgress, consumerConnection, producerConnection,
resetOffsetByTime, consumerStatus, brokerConsumeStats."""

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
from pyrmq.protocol.errors import RemoteProtocolError
from pyrmq.protocol.stats import ConsumerRunningInfo, ConsumeStats, ConsumeStatsList


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
    p = add(sub, "consumerStatus", consumer_status, "running info of a group's clients")
    p.add_argument("-g", "--group", required=True)
    p.add_argument("-i", "--client-id", help="only this client")
    p = add(sub, "brokerConsumeStats", broker_consume_stats, "consume progress of every group "
            "on a broker")
    p.add_argument("-b", "--broker", required=True, help="broker address host:port")
    p.add_argument("-o", "--order", action="store_true", help="only orderly topics")


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


async def consumer_status(admin: Admin, args: argparse.Namespace) -> int:
    """GET_CONSUMER_CONNECTION_LIST, then GET_CONSUMER_RUNNING_INFO relayed to each client."""
    out = []
    for addr in (await admin.masters()).values():
        r = await admin.call(addr, RC.GET_CONSUMER_CONNECTION_LIST,
                             H.GetConsumerConnectionListRequestHeader(args.group),
                             ok=(ResponseCode.SUCCESS, ResponseCode.CONSUMER_NOT_ONLINE))
        if r.code != ResponseCode.SUCCESS:
            continue
        for c in jsonx.loads(r.body).get("connectionSet") or []:
            cid = c["clientId"]
            if (args.client_id and cid != args.client_id) or any(o["clientId"] == cid
                                                                 for o in out):
                continue
            raw = (await admin.call(addr, RC.GET_CONSUMER_RUNNING_INFO,
                                    H.GetConsumerRunningInfoRequestHeader(args.group, cid, False),
                                    timeout=15.0)).body
            try:
                info = ConsumerRunningInfo.from_json(raw)
            except RemoteProtocolError as e:  # e.g. the C++ client's "mqTable":} when it owns none
                info = ConsumerRunningInfo({"error": f"unreadable running info: {e}"})
            out.append({"clientId": cid, "clientAddr": c.get("clientAddr", ""),
                        "properties": info.properties,
                        "subscriptions": [s.get("topic") for s in info.subscriptions],
                        "queues": [{"topic": mq.topic, "brokerName": mq.broker_name,
                                    "queueId": mq.queue_id, **pq}
                                   for mq, pq in sorted(info.mq_table.items())]})
    if not out:
        raise CommandError(f"consumer group {args.group} is not online")
    if args.json:
        emit(out, True)
        return 0
    for o in out:
        props = o["properties"]
        print(f"{o['clientId']}  {o['clientAddr']}  version {props.get('PROP_CLIENT_VERSION')}"
              f"  orderly {props.get('PROP_CONSUMEORDERLY')}  subscriptions "
              + ", ".join(o["subscriptions"]))
        emit(o["queues"], False, ["topic", "brokerName", "queueId", "commitOffset",
                                  "cachedMsgCount", "locked"])
    return 0


async def broker_consume_stats(admin: Admin, args: argparse.Namespace) -> int:
    """GET_BROKER_CONSUME_STATS: per group and topic, the queues and their lag."""
    r = await admin.call(args.broker, RC.GET_BROKER_CONSUME_STATS,
                         H.GetConsumeStatsInBrokerHeader(bool(args.order)), timeout=15.0)
    body = ConsumeStatsList.from_json(r.body)
    rows = [{"group": g, **row} for g, stats in body.groups for cs in stats
            for row in consume_rows(cs)]
    if args.json:
        emit({"brokerAddr": body.broker_addr, "totalDiff": body.total_diff, "queues": rows}, True)
    else:
        emit(rows, False, ["topic", "group", "brokerName", "queueId", "brokerOffset",
                           "consumerOffset", "lag", "lastTimestamp"])
        print(f"total diff: {body.total_diff}")
    return 0
