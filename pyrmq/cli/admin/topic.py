"""topicStatus, updateTopic, deleteTopic."""

from __future__ import annotations

import argparse

from pyrmq.cli.admin.common import Admin, CommandError, add
from pyrmq.cli.output import emit
from pyrmq.protocol import headers as H
from pyrmq.protocol.codes import RequestCode as RC
from pyrmq.protocol.stats import TopicStatsTable


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


async def _targets(admin: Admin, cluster: str | None, broker: str | None) -> dict[str, str]:
    if broker:
        return {broker: broker}
    masters = await admin.masters(cluster)
    if not masters:
        raise CommandError("no broker registered with the NameServer")
    return masters


async def topic_status(admin: Admin, args: argparse.Namespace) -> int:
    route = await admin.route(args.topic)
    rows = []
    for name in sorted(route.broker_addrs):
        addr = route.master(name)
        if addr is None:
            continue
        r = await admin.call(addr, RC.GET_TOPIC_STATS_INFO,
                             H.GetTopicStatsInfoRequestHeader(args.topic))
        for mq, o in sorted(TopicStatsTable.from_json(r.body).offset_table.items()):
            rows.append({"brokerName": mq.broker_name, "queueId": mq.queue_id, "topic": mq.topic,
                         "minOffset": o.min_offset, "maxOffset": o.max_offset,
                         "lastUpdateTimestamp": o.last_update_timestamp})
    emit(rows, args.json, ["brokerName", "queueId", "minOffset", "maxOffset",
                           "lastUpdateTimestamp"])
    return 0


async def update_topic(admin: Admin, args: argparse.Namespace) -> int:
    done = []
    for name, addr in (await _targets(admin, args.cluster, args.broker)).items():
        await admin.call(addr, RC.UPDATE_AND_CREATE_TOPIC, H.CreateTopicRequestHeader(
            args.topic, "TBW102", args.read_queues, args.write_queues, args.perm,
            "SINGLE_TAG", 0, bool(args.order)))
        done.append({"broker": name, "addr": addr, "topic": args.topic,
                     "readQueueNums": args.read_queues, "writeQueueNums": args.write_queues,
                     "perm": args.perm})
    emit(done, args.json, ["broker", "addr", "topic", "readQueueNums", "writeQueueNums", "perm"])
    return 0


async def delete_topic(admin: Admin, args: argparse.Namespace) -> int:
    brokers = await _targets(admin, args.cluster, None)
    for addr in brokers.values():
        await admin.call(addr, RC.DELETE_TOPIC_IN_BROKER, H.DeleteTopicRequestHeader(args.topic))
    for addr in admin.ns.addrs:
        await admin.call(addr, RC.DELETE_TOPIC_IN_NAMESRV,
                         H.DeleteTopicFromNamesrvRequestHeader(args.topic))
    emit({"topic": args.topic, "brokers": sorted(brokers), "namesrvs": admin.ns.addrs},
         args.json)
    return 0
