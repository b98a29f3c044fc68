"""updateSubGroup, deleteSubGroup, consumerProgress, consumerConnection, producerConnection,
resetOffsetByTime, consumerStatus, brokerConsumeStats."""

from __future__ import annotations

import argparse

from pyrmq.cli.admin.common import Admin, add
from pyrmq.cli.output import emit


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
    cfg = await admin.update_group(args.group, args.cluster, args.retry_max_times,
                                   args.retry_queues, args.consume_enable == "true")
    emit(cfg, args.json)
    return 0


async def delete_group(admin: Admin, args: argparse.Namespace) -> int:
    emit(await admin.delete_group(args.group, args.cluster), args.json)
    return 0


async def progress(admin: Admin, args: argparse.Namespace) -> int:
    rows = await admin.consumer_progress(args.group, args.topic)
    if args.json:
        emit({"queues": rows, "totalLag": sum(r["lag"] for r in rows)}, True)
    else:
        emit(rows, False, ["topic", "brokerName", "queueId", "brokerOffset", "consumerOffset",
                           "lag"])
        print(f"total lag: {sum(r['lag'] for r in rows)}")
    return 0


async def consumer_conn(admin: Admin, args: argparse.Namespace) -> int:
    emit(await admin.consumer_connection(args.group), args.json,
         ["clientId", "clientAddr", "language", "version", "messageModel"])
    return 0


async def producer_conn(admin: Admin, args: argparse.Namespace) -> int:
    emit(await admin.producer_connection(args.group), args.json,
         ["clientId", "clientAddr", "language", "version"])
    return 0


async def reset_offset(admin: Admin, args: argparse.Namespace) -> int:
    rows = await admin.reset_offset_by_time(args.group, args.topic, args.timestamp,
                                            args.dry_run)
    emit(rows, args.json, ["brokerName", "queueId", "oldOffset", "newOffset"])
    return 0


async def consumer_status(admin: Admin, args: argparse.Namespace) -> int:
    """Running info of each client of the group (GET_CONSUMER_RUNNING_INFO via the broker)."""
    out = await admin.consumer_status(args.group, args.client_id)
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
    body = await admin.broker_consume_stats(args.broker, bool(args.order))
    if args.json:
        emit(body, True)
    else:
        emit(body["queues"], False, ["topic", "group", "brokerName", "queueId", "brokerOffset",
                                     "consumerOffset", "lag", "lastTimestamp"])
        print(f"total diff: {body['totalDiff']}")
    return 0
