"""AdminClient: one remoting client + NameServer client, and data-returning admin calls.

Every failure (network, an answer code not expected, nothing found) raises ``AdminError`` with
one line naming what failed; callers print it (CLI) or answer it as JSON (dashboard)."""

from __future__ import annotations

import functools
import time
from typing import Any

from pyrmq.acl.sign import SessionCredentials, sign
from pyrmq.admin.errors import AdminError
from pyrmq.client import PullConsumer
from pyrmq.client.nameserver import NameServerClient, RouteNotFound
from pyrmq.protocol import headers as H
from pyrmq.protocol import jsonx
from pyrmq.protocol.admin import ConsumeMessageDirectlyResult, MessageQueue
from pyrmq.protocol.codes import RequestCode as RC
from pyrmq.protocol.codes import ResponseCode
from pyrmq.protocol.command import RemotingCommand, request
from pyrmq.protocol.errors import RemoteProtocolError
from pyrmq.protocol.headers import Header
from pyrmq.protocol.message import MessageExt, decode_records, parse_offset_msg_id
from pyrmq.protocol.stats import (
    ConsumerRunningInfo,
    ConsumeStats,
    ConsumeStatsList,
    TopicStatsTable,
)
from pyrmq.remoting import RemotingClient, RemotingError


def consume_rows(cs: ConsumeStats) -> list[dict[str, Any]]:
    """One row per queue of a ConsumeStats, with its lag."""
    return [{"topic": mq.topic, "brokerName": mq.broker_name, "queueId": mq.queue_id,
             "brokerOffset": w.broker_offset, "consumerOffset": w.consumer_offset,
             "lastTimestamp": w.last_timestamp,
             "lag": max(0, w.broker_offset - w.consumer_offset)}
            for mq, w in sorted(cs.offset_table.items())]


def _config_lines(body: bytes) -> dict[str, str]:
    return dict(line.split("=", 1) for line in body.decode().splitlines() if "=" in line)


class AdminClient:
    """Admin calls against the cluster behind ``namesrv`` (``;``-separated addresses)."""

    def __init__(self, namesrv: str, creds: SessionCredentials | None = None) -> None:
        # with credentials every request is signed (a broker with aclEnable checks them)
        self.remoting = RemotingClient(
            before_send=None if creds is None else functools.partial(sign, creds=creds))
        self.ns = NameServerClient(namesrv, self.remoting)

    async def call(self, addr: str, code: int, fields: Header | None = None,
                   body: bytes = b"", ok: tuple[int, ...] = (ResponseCode.SUCCESS,),
                   timeout: float = 5.0) -> RemotingCommand:
        """One request (``fields``: its typed header) answered with a code in ``ok``."""
        try:
            r = await self.remoting.invoke(addr, request(code, fields, body), timeout)
        except RemotingError as e:
            raise AdminError(str(e)) from None
        if r.code not in ok:
            raise AdminError(f"{addr} answered code {r.code}: {r.remark}")
        return r

    async def cluster_info(self) -> dict[str, Any]:
        """The NameServer's raw cluster table (clusterAddrTable, brokerAddrTable)."""
        try:
            return await self.ns.cluster_info()
        except Exception as e:
            raise AdminError(str(e)) from None

    async def masters(self, cluster: str | None = None) -> dict[str, str]:
        """brokerName -> master address (of one cluster, or all)."""
        info = await self.cluster_info()
        names = set(info.get("clusterAddrTable", {}).get(cluster, [])) if cluster else None
        if cluster and not names:
            raise AdminError(f"no cluster named {cluster}")
        out = {}
        for name, bd in info.get("brokerAddrTable", {}).items():
            addr = bd.get("brokerAddrs", {}).get("0")
            if addr and (names is None or name in names):
                out[name] = addr
        return out

    async def route(self, topic: str):
        """The topic's route from the NameServer."""
        try:
            return await self.ns.get_route(topic)
        except (RouteNotFound, RemotingError) as e:
            raise AdminError(str(e)) from None

    async def close(self) -> None:
        await self.remoting.close()

    # -- cluster and brokers ------------------------------------------------------------------

    async def cluster_list(self) -> list[dict[str, Any]]:
        """One row per broker: cluster, brokerName, brokerId, addr (sorted)."""
        info = await self.cluster_info()
        rows = []
        for cluster, names in sorted(info.get("clusterAddrTable", {}).items()):
            for name in names:
                for bid, addr in sorted(info["brokerAddrTable"][name]["brokerAddrs"].items()):
                    rows.append({"cluster": cluster, "brokerName": name, "brokerId": int(bid),
                                 "addr": addr})
        return rows

    async def topic_list(self) -> list[str]:
        try:
            return await self.ns.topic_list()
        except Exception as e:
            raise AdminError(str(e)) from None

    async def broker_status(self, addr: str) -> dict[str, str]:
        """GET_BROKER_RUNTIME_INFO's table, keys sorted."""
        r = await self.call(addr, RC.GET_BROKER_RUNTIME_INFO)
        return dict(sorted(jsonx.loads(r.body).get("table", {}).items()))

    async def broker_config(self, addr: str) -> dict[str, str]:
        return _config_lines((await self.call(addr, RC.GET_BROKER_CONFIG)).body)

    async def update_broker_config(self, addr: str, key: str, value: str) -> str | None:
        """Set one key; returns the value the broker reports afterwards."""
        await self.call(addr, RC.UPDATE_BROKER_CONFIG, None, f"{key}={value}\n".encode())
        return (await self.broker_config(addr)).get(key)

    async def wipe_write_perm(self, broker_name: str) -> dict[str, int]:
        """NameServer address -> number of topics whose write permission was removed."""
        out = {}
        for addr in self.ns.addrs:
            r = await self.call(addr, RC.WIPE_WRITE_PERM_OF_BROKER,
                                H.WipeWritePermOfBrokerRequestHeader(broker_name))
            out[addr] = H.WipeWritePermOfBrokerResponseHeader.from_ext(
                r.ext_fields).wipe_topic_count
        return out

    # -- topics -------------------------------------------------------------------------------

    async def _targets(self, cluster: str | None, broker: str | None) -> dict[str, str]:
        if broker:
            return {broker: broker}
        masters = await self.masters(cluster)
        if not masters:
            raise AdminError("no broker registered with the NameServer")
        return masters

    async def topic_status(self, topic: str) -> list[dict[str, Any]]:
        """Per queue: brokerName, queueId, minOffset, maxOffset, lastUpdateTimestamp."""
        route = await self.route(topic)
        rows = []
        for name in sorted(route.broker_addrs):
            addr = route.master(name)
            if addr is None:
                continue
            r = await self.call(addr, RC.GET_TOPIC_STATS_INFO,
                                H.GetTopicStatsInfoRequestHeader(topic))
            for mq, o in sorted(TopicStatsTable.from_json(r.body).offset_table.items()):
                rows.append({"brokerName": mq.broker_name, "queueId": mq.queue_id,
                             "topic": mq.topic, "minOffset": o.min_offset,
                             "maxOffset": o.max_offset,
                             "lastUpdateTimestamp": o.last_update_timestamp})
        return rows

    async def update_topic(self, topic: str, cluster: str | None = None,
                           broker: str | None = None, read_queues: int = 8,
                           write_queues: int = 8, perm: int = 6,
                           order: bool = False) -> list[dict[str, Any]]:
        """Create or update ``topic`` on one broker address or every master (of a cluster)."""
        done = []
        for name, addr in (await self._targets(cluster, broker)).items():
            await self.call(addr, RC.UPDATE_AND_CREATE_TOPIC, H.CreateTopicRequestHeader(
                topic, "TBW102", read_queues, write_queues, perm, "SINGLE_TAG", 0, bool(order)))
            done.append({"broker": name, "addr": addr, "topic": topic,
                         "readQueueNums": read_queues, "writeQueueNums": write_queues,
                         "perm": perm})
        return done

    async def delete_topic(self, topic: str, cluster: str | None = None) -> dict[str, Any]:
        brokers = await self._targets(cluster, None)
        for addr in brokers.values():
            await self.call(addr, RC.DELETE_TOPIC_IN_BROKER, H.DeleteTopicRequestHeader(topic))
        for addr in self.ns.addrs:
            await self.call(addr, RC.DELETE_TOPIC_IN_NAMESRV,
                            H.DeleteTopicFromNamesrvRequestHeader(topic))
        return {"topic": topic, "brokers": sorted(brokers), "namesrvs": self.ns.addrs}

    # -- consumer and producer groups ------------------------------------------------------------

    async def update_group(self, group: str, cluster: str | None = None,
                           retry_max_times: int = 16, retry_queues: int = 1,
                           consume_enable: bool = True) -> dict[str, Any]:
        cfg = {"groupName": group, "retryMaxTimes": retry_max_times,
               "retryQueueNums": retry_queues, "consumeEnable": consume_enable}
        for addr in (await self.masters(cluster)).values():
            await self.call(addr, RC.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, None, jsonx.dumps(cfg))
        return cfg

    async def delete_group(self, group: str, cluster: str | None = None) -> dict[str, Any]:
        masters = await self.masters(cluster)
        for addr in masters.values():
            await self.call(addr, RC.DELETE_SUBSCRIPTIONGROUP,
                            H.DeleteSubscriptionGroupRequestHeader(group))
        return {"group": group, "brokers": sorted(masters)}

    async def consumer_progress(self, group: str, topic: str = "") -> list[dict[str, Any]]:
        """GET_CONSUME_STATS of every master: one row per queue with its ``lag``, sorted."""
        rows = []
        for addr in (await self.masters()).values():
            r = await self.call(addr, RC.GET_CONSUME_STATS,
                                H.GetConsumeStatsRequestHeader(group, topic))
            rows += consume_rows(ConsumeStats.from_json(r.body))
        if not rows:
            raise AdminError(f"no consume progress for group {group}")
        rows.sort(key=lambda r: (r["topic"], r["brokerName"], r["queueId"]))
        return rows

    async def consumer_connection(self, group: str) -> list[dict[str, Any]]:
        """The group's online clients (each with its broker and messageModel)."""
        out = []
        for addr in (await self.masters()).values():
            r = await self.call(addr, RC.GET_CONSUMER_CONNECTION_LIST,
                                H.GetConsumerConnectionListRequestHeader(group),
                                ok=(ResponseCode.SUCCESS, ResponseCode.CONSUMER_NOT_ONLINE))
            if r.code == ResponseCode.SUCCESS:
                body = jsonx.loads(r.body)
                for c in body["connectionSet"]:
                    out.append({**c, "broker": addr, "messageModel": body["messageModel"]})
        if not out:
            raise AdminError(f"consumer group {group} is not online")
        return out

    async def producer_connection(self, group: str) -> list[dict[str, Any]]:
        out = []
        for addr in (await self.masters()).values():
            r = await self.call(addr, RC.GET_PRODUCER_CONNECTION_LIST,
                                H.GetProducerConnectionListRequestHeader(group),
                                ok=(ResponseCode.SUCCESS, ResponseCode.SYSTEM_ERROR))
            if r.code == ResponseCode.SUCCESS:
                out += [{**c, "broker": addr} for c in jsonx.loads(r.body)["connectionSet"]]
        if not out:
            raise AdminError(f"producer group {group} is not online")
        return out

    async def reset_offset_by_time(self, group: str, topic: str, timestamp: int | str,
                                   dry_run: bool = False) -> list[dict[str, Any]]:
        """Per queue the group's offset now and the one ``timestamp`` (ms, 'now', 0 = the
        earliest) maps to by SEARCH_OFFSET_BY_TIMESTAMP. A dry run only reads; otherwise each
        master commits the reset and pushes it to live consumers."""
        ts = int(time.time() * 1000) if timestamp == "now" else int(timestamp)
        route = await self.route(topic)
        rows = []
        for mq in route.subscribe_queues():
            addr = route.master(mq.broker_name)
            if addr is None:
                continue
            old = await self.call(addr, RC.QUERY_CONSUMER_OFFSET,
                                  H.QueryConsumerOffsetRequestHeader(group, mq.topic,
                                                                     mq.queue_id),
                                  ok=(ResponseCode.SUCCESS, ResponseCode.QUERY_NOT_FOUND))
            new = await self.call(addr, RC.SEARCH_OFFSET_BY_TIMESTAMP,
                                  H.SearchOffsetRequestHeader(mq.topic, mq.queue_id, ts))
            old_off = H.QueryConsumerOffsetResponseHeader.from_ext(old.ext_fields).offset
            rows.append({"brokerName": mq.broker_name, "queueId": mq.queue_id,
                         "oldOffset": -1 if old_off is None else old_off,
                         "newOffset": H.OffsetResponseHeader.from_ext(new.ext_fields).offset})
        if not dry_run:
            for name in sorted(route.broker_addrs):
                addr = route.master(name)
                if addr:
                    await self.call(addr, RC.INVOKE_BROKER_TO_RESET_OFFSET,
                                    H.ResetOffsetRequestHeader(topic, group, ts, True))
        return rows

    # -- messages -----------------------------------------------------------------------------

    async def query_msg_by_id(self, msg_id: str) -> list[MessageExt]:
        """The message at an offset msgId (it names the broker and commitlog offset)."""
        try:
            host, port, phys = parse_offset_msg_id(msg_id)
        except ValueError as e:
            raise AdminError(str(e)) from None
        r = await self.call(f"{host}:{port}", RC.VIEW_MESSAGE_BY_ID,
                            H.ViewMessageRequestHeader(phys))
        return decode_records(r.body)

    async def message_tracks(self, msg_id: str, m: MessageExt) -> list[dict[str, str]]:
        """mqadmin's message track: each group consuming the topic (QUERY_TOPIC_CONSUME_BY_WHO)
        and whether its committed offset passed the message."""
        host, port, _ = parse_offset_msg_id(msg_id)
        addr = f"{host}:{port}"
        r = await self.call(addr, RC.QUERY_TOPIC_CONSUME_BY_WHO,
                            H.QueryTopicConsumeByWhoRequestHeader(m.topic))
        out = []
        for group in jsonx.loads(r.body).get("groupList") or []:
            c = await self.call(addr, RC.QUERY_CONSUMER_OFFSET,
                                H.QueryConsumerOffsetRequestHeader(group, m.topic, m.queue_id),
                                ok=(ResponseCode.SUCCESS, ResponseCode.QUERY_NOT_FOUND))
            off = H.QueryConsumerOffsetResponseHeader.from_ext(c.ext_fields).offset
            kind = "CONSUMED" if off is not None and off > m.queue_offset else "NOT_CONSUME_YET"
            out.append({"consumerGroup": group, "trackType": kind})
        return out

    async def consume_directly(self, msg_id: str, group: str, client_id: str
                               ) -> dict[str, Any]:
        """CONSUME_MESSAGE_DIRECTLY: the broker relays the message to ``client_id`` of
        ``group``, which consumes it once and answers."""
        host, port, _ = parse_offset_msg_id(msg_id)
        d = await self.call(f"{host}:{port}", RC.CONSUME_MESSAGE_DIRECTLY,
                            H.ConsumeMessageDirectlyResultRequestHeader(
                                group, client_id, msg_id, None), timeout=15.0)
        res = ConsumeMessageDirectlyResult.from_json(d.body)
        return {"consumeResult": res.consume_result, "remark": res.remark,
                "spentTimeMills": res.spent_time_mills}

    async def query_msg_by_key(self, topic: str, key: str) -> list[MessageExt]:
        """Messages of ``topic`` carrying ``key`` (or with it as UNIQ_KEY), from every broker."""
        route = await self.route(topic)
        out: list[MessageExt] = []
        for name in sorted(route.broker_addrs):
            r = await self.call(route.any_addr(name), RC.QUERY_MESSAGE,
                                H.QueryMessageRequestHeader(topic, key, 64, 0, 2**62),
                                ok=(ResponseCode.SUCCESS, ResponseCode.QUERY_NOT_FOUND))
            if r.code == ResponseCode.SUCCESS:
                out += [m for m in decode_records(r.body) if key in m.keys or key == m.uniq_key]
        if not out:
            raise AdminError(f"no message with key {key} in {topic}")
        return out

    async def query_msg_by_offset(self, topic: str, broker_name: str, queue_id: int,
                                  offset: int) -> MessageExt:
        """The message at one consume-queue offset (pulled, no offset committed)."""
        pc = PullConsumer("TOOLS_CONSUMER", self.ns.addrs)
        try:
            code, _, msgs = await pc.pull(MessageQueue(topic, broker_name, queue_id), "*",
                                          offset, 1)
        except Exception as e:
            raise AdminError(str(e)) from None
        finally:
            await pc.shutdown()
        if not msgs:
            raise AdminError(f"no message at {topic}/{broker_name}/{queue_id}@{offset} "
                             f"(pull code {code})")
        return msgs[0]

    async def consumer_status(self, group: str, client_id: str | None = None
                              ) -> list[dict[str, Any]]:
        """GET_CONSUMER_CONNECTION_LIST, then GET_CONSUMER_RUNNING_INFO relayed to each client:
        per client its properties, subscriptions and queues."""
        out: list[dict[str, Any]] = []
        for addr in (await self.masters()).values():
            r = await self.call(addr, RC.GET_CONSUMER_CONNECTION_LIST,
                                H.GetConsumerConnectionListRequestHeader(group),
                                ok=(ResponseCode.SUCCESS, ResponseCode.CONSUMER_NOT_ONLINE))
            if r.code != ResponseCode.SUCCESS:
                continue
            for c in jsonx.loads(r.body).get("connectionSet") or []:
                cid = c["clientId"]
                if (client_id and cid != client_id) or any(o["clientId"] == cid for o in out):
                    continue
                raw = (await self.call(addr, RC.GET_CONSUMER_RUNNING_INFO,
                                       H.GetConsumerRunningInfoRequestHeader(group, cid, False),
                                       timeout=15.0)).body
                try:
                    info = ConsumerRunningInfo.from_json(raw)
                except RemoteProtocolError as e:  # the C++ client's "mqTable":} when it owns none
                    info = ConsumerRunningInfo({"error": f"unreadable running info: {e}"})
                out.append({"clientId": cid, "clientAddr": c.get("clientAddr", ""),
                            "properties": info.properties,
                            "subscriptions": [s.get("topic") for s in info.subscriptions],
                            "queues": [{"topic": mq.topic, "brokerName": mq.broker_name,
                                        "queueId": mq.queue_id, **pq}
                                       for mq, pq in sorted(info.mq_table.items())]})
        if not out:
            raise AdminError(f"consumer group {group} is not online")
        return out

    async def broker_consume_stats(self, addr: str, order: bool = False) -> dict[str, Any]:
        """GET_BROKER_CONSUME_STATS: brokerAddr, totalDiff and per group/topic/queue rows."""
        r = await self.call(addr, RC.GET_BROKER_CONSUME_STATS,
                            H.GetConsumeStatsInBrokerHeader(order), timeout=15.0)
        body = ConsumeStatsList.from_json(r.body)
        rows = [{"group": g, **row} for g, stats in body.groups for cs in stats
                for row in consume_rows(cs)]
        return {"brokerAddr": body.broker_addr, "totalDiff": body.total_diff, "queues": rows}

    async def group_list(self) -> list[str]:
        """Names of the subscription groups every master knows (sorted, deduplicated)."""
        names: set[str] = set()
        for addr in (await self.masters()).values():
            r = await self.call(addr, RC.GET_ALL_SUBSCRIPTIONGROUP_CONFIG)
            names.update(jsonx.loads(r.body).get("subscriptionGroupTable", {}))
        return sorted(names)
