"""topicStatus, updateTopic, deleteTopic."""

from __future__ import annotations

import argparse

from pyrmq.cli.admin.common import Admin, add
from pyrmq.cli.output import emit


def register(sub: argparse._SubParsersAction) -> None:
    add(sub, "topicStatus", topic_status, "min/max offset per queue").add_argument(
        "-t", "--topic", required=True)
    p = add(sub, "updateTopic", update_topic, "create or update a topic")
    p.add_argument("-t", "--topic", required=True)
    p.add_argument("-c", "--cluster", help="on every master of this cluster")
    p.add_argument("-b", "--broker", help="on this broker address only")
    p.add_argument("-r", "--read-queues", type=int, default=8)
    p.add_argument("-w", "--write-queues", type=int, default=8)
    p.add_argument("-p", "--perm", type=int, default=6)
    p.add_argument("-o", "--order", action="store_true")
    p = add(sub, "deleteTopic", delete_topic, "delete a topic from brokers and NameServers")
    p.add_argument("-t", "--topic", required=True)
    p.add_argument("-c", "--cluster")


async def topic_status(admin: Admin, args: argparse.Namespace) -> int:
    emit(await admin.topic_status(args.topic), args.json,
         ["brokerName", "queueId", "minOffset", "maxOffset", "lastUpdateTimestamp"])
    return 0


async def update_topic(admin: Admin, args: argparse.Namespace) -> int:
    done = await admin.update_topic(args.topic, args.cluster, args.broker, args.read_queues,
                                    args.write_queues, args.perm, args.order)
    emit(done, args.json, ["broker", "addr", "topic", "readQueueNums", "writeQueueNums", "perm"])
    return 0


async def delete_topic(admin: Admin, args: argparse.Namespace) -> int:
    emit(await admin.delete_topic(args.topic, args.cluster), args.json)
    return 0
