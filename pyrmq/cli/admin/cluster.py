"""clusterList, topicList, topicRoute, brokerStatus, getBrokerConfig, wipeWritePerm."""

from __future__ import annotations

import argparse

from pyrmq.cli.admin.common import Admin, CommandError, add
from pyrmq.cli.output import emit
from pyrmq.protocol import headers as H
from pyrmq.protocol import jsonx
from pyrmq.protocol.codes import RequestCode as RC


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
    try:
        info = await admin.ns.cluster_info()
    except Exception as e:
        raise CommandError(str(e)) from None
    rows = []
    for cluster, names in sorted(info.get("clusterAddrTable", {}).items()):
        for name in names:
            for bid, addr in sorted(info["brokerAddrTable"][name]["brokerAddrs"].items()):
                rows.append({"cluster": cluster, "brokerName": name, "brokerId": int(bid),
                             "addr": addr})
    emit(rows, args.json, ["cluster", "brokerName", "brokerId", "addr"])
    return 0


async def topic_list(admin: Admin, args: argparse.Namespace) -> int:
    try:
        topics = await admin.ns.topic_list()
    except Exception as e:
        raise CommandError(str(e)) from None
    emit(topics if args.json else "\n".join(topics), args.json)
    return 0


async def topic_route(admin: Admin, args: argparse.Namespace) -> int:
    r = await admin.route(args.topic)
    emit(r.data.to_dict(), True)  # a route is JSON either way
    return 0


async def broker_status(admin: Admin, args: argparse.Namespace) -> int:
    r = await admin.call(args.broker, RC.GET_BROKER_RUNTIME_INFO)
    table = dict(sorted(jsonx.loads(r.body).get("table", {}).items()))
    emit(table, args.json)
    return 0


async def broker_config(admin: Admin, args: argparse.Namespace) -> int:
    r = await admin.call(args.broker, RC.GET_BROKER_CONFIG)
    cfg = dict(line.split("=", 1) for line in r.body.decode().splitlines() if "=" in line)
    emit(cfg, args.json)
    return 0


async def wipe(admin: Admin, args: argparse.Namespace) -> int:
    out = {}
    for addr in admin.ns.addrs:
        r = await admin.call(addr, RC.WIPE_WRITE_PERM_OF_BROKER,
                             H.WipeWritePermOfBrokerRequestHeader(args.broker_name))
        out[addr] = H.WipeWritePermOfBrokerResponseHeader.from_ext(r.ext_fields).wipe_topic_count
    emit(out, args.json)
    return 0


async def update_config(admin: Admin, args: argparse.Namespace) -> int:
    await admin.call(args.broker, RC.UPDATE_BROKER_CONFIG, None,
                     f"{args.key}={args.value}\n".encode())
    r = await admin.call(args.broker, RC.GET_BROKER_CONFIG)
    cfg = dict(line.split("=", 1) for line in r.body.decode().splitlines() if "=" in line)
    emit({args.key: cfg.get(args.key)}, args.json)
    return 0
