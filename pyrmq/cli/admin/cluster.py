"""clusterList, topicList, topicRoute, brokerStatus, getBrokerConfig, wipeWritePerm."""

from __future__ import annotations

import argparse

from pyrmq.cli.admin.common import Admin, add
from pyrmq.cli.output import emit


def register(sub: argparse._SubParsersAction) -> None:
    add(sub, "clusterList", cluster_list, "clusters and their brokers")
    add(sub, "topicList", topic_list, "every topic the NameServer knows")
    add(sub, "topicRoute", topic_route, "a topic's route").add_argument("-t", "--topic",
                                                                         required=True)
    add(sub, "brokerStatus", broker_status, "a broker's runtime info").add_argument(
        "-b", "--broker", required=True, help="broker address host:port")
    add(sub, "getBrokerConfig", broker_config, "a broker's configuration").add_argument(
        "-b", "--broker", required=True, help="broker address host:port")
    p = add(sub, "updateBrokerConfig", update_config, "change a broker config key")
    p.add_argument("-b", "--broker", required=True, help="broker address host:port")
    p.add_argument("-k", "--key", required=True)
    p.add_argument("-v", "--value", required=True)
    add(sub, "wipeWritePerm", wipe, "remove write permission of a broker's topics on the "
        "NameServers").add_argument("-b", "--broker-name", required=True)


async def cluster_list(admin: Admin, args: argparse.Namespace) -> int:
    emit(await admin.cluster_list(), args.json, ["cluster", "brokerName", "brokerId", "addr"])
    return 0


async def topic_list(admin: Admin, args: argparse.Namespace) -> int:
    topics = await admin.topic_list()
    emit(topics if args.json else "\n".join(topics), args.json)
    return 0


async def topic_route(admin: Admin, args: argparse.Namespace) -> int:
    r = await admin.route(args.topic)
    emit(r.data.to_dict(), True)  # a route is JSON either way
    return 0


async def broker_status(admin: Admin, args: argparse.Namespace) -> int:
    emit(await admin.broker_status(args.broker), args.json)
    return 0


async def broker_config(admin: Admin, args: argparse.Namespace) -> int:
    emit(await admin.broker_config(args.broker), args.json)
    return 0


async def wipe(admin: Admin, args: argparse.Namespace) -> int:
    emit(await admin.wipe_write_perm(args.broker_name), args.json)
    return 0


async def update_config(admin: Admin, args: argparse.Namespace) -> int:
    value = await admin.update_broker_config(args.broker, args.key, args.value)
    emit({args.key: value}, args.json)
    return 0
