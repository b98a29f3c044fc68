"""The NameServer: a remoting server over the route table, plus the dead-broker scan.

    async with NameServer(NamesrvConfig(port=0)) as ns:
        print(ns.addr)
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections import Counter
from dataclasses import dataclass

from pyrmq.metrics.http import MetricsEndpoint
from pyrmq.metrics.namesrv import NamesrvMetrics
from pyrmq.namesrv.routes import RouteTable
from pyrmq.protocol import jsonx
from pyrmq.protocol.bodies import parse_register_broker_body, route_body
from pyrmq.protocol.codes import RequestCode, ResponseCode
from pyrmq.protocol.command import RemotingCommand
from pyrmq.protocol.headers import (
    DeleteKVConfigRequestHeader,
    DeleteTopicFromNamesrvRequestHeader,
    GetKVConfigRequestHeader,
    GetKVConfigResponseHeader,
    GetKVListByNamespaceRequestHeader,
    GetRouteInfoRequestHeader,
    GetTopicsByClusterRequestHeader,
    PutKVConfigRequestHeader,
    QueryDataVersionRequestHeader,
    QueryDataVersionResponseHeader,
    RegisterBrokerRequestHeader,
    RegisterBrokerResponseHeader,
    UnRegisterBrokerRequestHeader,
    WipeWritePermOfBrokerRequestHeader,
    WipeWritePermOfBrokerResponseHeader,
)
from pyrmq.protocol.names import topic_problem
from pyrmq.remoting import Connection, RemotingServer

log = logging.getLogger("pyrmq.namesrv")


@dataclass(frozen=True, slots=True)
class NamesrvConfig:
    """listen address, scan interval and broker expiry (seconds; RocketMQ: 10 s / 120 s)."""

    host: str = "0.0.0.0"
    port: int = 9876
    scan_interval: float = 10.0
    broker_expiry: float = 120.0
    #: Prometheus text on http://host:metrics_port/metrics; 0 = off
    metrics_port: int = 0


class NameServer:
    """Stateless route registry; brokers register, clients ask for routes."""

    def __init__(self, config: NamesrvConfig | None = None) -> None:
        self.config = config or NamesrvConfig()
        self.routes = RouteTable()
        self.kv: dict[str, dict[str, str]] = {}
        #: GET_ROUTEINFO_BY_TOPIC answers by result (metrics)
        self.route_lookups: Counter[str] = Counter()
        handlers = {
            RequestCode.REGISTER_BROKER: self._register,
            RequestCode.UNREGISTER_BROKER: self._unregister,
            RequestCode.GET_ROUTEINFO_BY_TOPIC: self._route,
            RequestCode.GET_BROKER_CLUSTER_INFO: self._cluster_info,
            RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER: self._topic_list,
            RequestCode.GET_TOPICS_BY_CLUSTER: self._topics_by_cluster,
            RequestCode.DELETE_TOPIC_IN_NAMESRV: self._delete_topic,
            RequestCode.WIPE_WRITE_PERM_OF_BROKER: self._wipe,
            RequestCode.QUERY_DATA_VERSION: self._query_version,
            RequestCode.PUT_KV_CONFIG: self._put_kv,
            RequestCode.GET_KV_CONFIG: self._get_kv,
            RequestCode.DELETE_KV_CONFIG: self._delete_kv,
            RequestCode.GET_KVLIST_BY_NAMESPACE: self._kv_list,
        }
        self.server = RemotingServer(handlers, self.config.host, self.config.port,
                                     on_close=self._conn_closed)
        self._scan: asyncio.Task[None] | None = None
        self.metrics: MetricsEndpoint | None = None

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def addr(self) -> str:
        host = "127.0.0.1" if self.config.host in ("0.0.0.0", "") else self.config.host
        return f"{host}:{self.port}"

    async def start(self) -> None:
        if self.config.metrics_port:
            m = NamesrvMetrics(self.routes, self.route_lookups)
            self.server.on_response = m.requests.observe
            self.metrics = MetricsEndpoint(m.registry, self.config.host, self.config.metrics_port)
            await self.metrics.start()
        await self.server.start()
        self._scan = asyncio.get_running_loop().create_task(self._scan_loop())
        log.info("NameServer listening on %s:%d", self.config.host, self.port)

    async def close(self) -> None:
        if self._scan:
            self._scan.cancel()
        await self.server.close()
        if self.metrics is not None:
            await self.metrics.close()

    async def __aenter__(self) -> NameServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _scan_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.scan_interval)
            for addr in self.routes.expire(time.monotonic(), self.config.broker_expiry):
                log.warning("broker %s silent for %.0f s: removed", addr,
                            self.config.broker_expiry)

    def _conn_closed(self, conn: Connection) -> None:
        for addr in self.routes.connection_closed(conn.id):
            log.info("broker %s connection closed: removed", addr)

    # -- handlers ------------------------------------------------------------------------
    async def _register(self, conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
        h = RegisterBrokerRequestHeader.from_ext(cmd.ext_fields)
        crc = h.body_crc32
        if crc and (zlib.crc32(cmd.body) & 0x7FFFFFFF) != crc:
            return cmd.response(ResponseCode.SYSTEM_ERROR, "crc32 not match")
        version, topics = parse_register_broker_body(cmd.body, h.compressed)
        for name in [t for t in topics if topic_problem(t) is not None]:
            log.warning("broker %s registered a topic with a bad name %r: skipped",
                        h.broker_addr, name[:80])
            del topics[name]
        master, ha = self.routes.register(
            cluster=h.cluster_name, addr=h.broker_addr, name=h.broker_name,
            broker_id=h.broker_id, ha_addr=h.ha_server_addr, version=version, topics=topics,
            now=time.monotonic(), conn_id=conn.id)
        fields = RegisterBrokerResponseHeader(ha, master) if master else None
        return cmd.response(ResponseCode.SUCCESS, ext_fields=fields,
                            body=jsonx.dumps({"table": self.kv.get("ORDER_TOPIC_CONFIG", {})}))

    async def _unregister(self, conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
        h = UnRegisterBrokerRequestHeader.from_ext(cmd.ext_fields)
        self.routes.unregister(cluster=h.cluster_name, addr=h.broker_addr, name=h.broker_name,
                               broker_id=h.broker_id)
        return cmd.response(ResponseCode.SUCCESS)

    async def _route(self, conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
        topic = GetRouteInfoRequestHeader.from_ext(cmd.ext_fields).topic
        found = self.routes.route(topic)
        self.route_lookups["found" if found is not None else "not_found"] += 1
        if found is None:
            return cmd.response(ResponseCode.TOPIC_NOT_EXIST,
                                f"No topic route info in name server for the topic: {topic}")
        order = self.kv.get("ORDER_TOPIC_CONFIG", {}).get(topic)
        return cmd.response(ResponseCode.SUCCESS, body=route_body(found[0], found[1], order))

    async def _cluster_info(self, conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
        return cmd.response(ResponseCode.SUCCESS, body=jsonx.dumps(self.routes.cluster_info()))

    async def _topic_list(self, conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
        return cmd.response(ResponseCode.SUCCESS,
                            body=jsonx.dumps({"topicList": self.routes.topic_list()}))

    async def _topics_by_cluster(self, conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
        cluster = GetTopicsByClusterRequestHeader.from_ext(cmd.ext_fields).cluster
        return cmd.response(ResponseCode.SUCCESS, body=jsonx.dumps(
            {"topicList": self.routes.topics_of_cluster(cluster)}))

    async def _delete_topic(self, conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
        self.routes.delete_topic(DeleteTopicFromNamesrvRequestHeader.from_ext(cmd.ext_fields).topic)
        return cmd.response(ResponseCode.SUCCESS)

    async def _wipe(self, conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
        h = WipeWritePermOfBrokerRequestHeader.from_ext(cmd.ext_fields)
        n = self.routes.wipe_write_perm(h.broker_name)
        return cmd.response(ResponseCode.SUCCESS, ext_fields=WipeWritePermOfBrokerResponseHeader(n))

    async def _query_version(self, conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
        h = QueryDataVersionRequestHeader.from_ext(cmd.ext_fields)
        current = self.routes.data_version(h.broker_addr)
        sent = jsonx.loads(cmd.body) if cmd.body else None
        changed = current is None or current != sent
        lv = self.routes.live.get(h.broker_addr)
        if lv is not None:
            lv.last_update = time.monotonic()
        return cmd.response(ResponseCode.SUCCESS,
                            ext_fields=QueryDataVersionResponseHeader(changed),
                            body=jsonx.dumps(current) if current else b"")

    async def _put_kv(self, conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
        h = PutKVConfigRequestHeader.from_ext(cmd.ext_fields)
        self.kv.setdefault(h.namespace, {})[h.key] = h.value
        return cmd.response(ResponseCode.SUCCESS)

    async def _get_kv(self, conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
        h = GetKVConfigRequestHeader.from_ext(cmd.ext_fields)
        ns, key = h.namespace, h.key
        value = self.kv.get(ns, {}).get(key)
        if value is None:
            return cmd.response(ResponseCode.QUERY_NOT_FOUND,
                                f"No config item, Namespace: {ns} Key: {key}")
        return cmd.response(ResponseCode.SUCCESS, ext_fields=GetKVConfigResponseHeader(value))

    async def _delete_kv(self, conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
        h = DeleteKVConfigRequestHeader.from_ext(cmd.ext_fields)
        self.kv.get(h.namespace, {}).pop(h.key, None)
        return cmd.response(ResponseCode.SUCCESS)

    async def _kv_list(self, conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
        ns = GetKVListByNamespaceRequestHeader.from_ext(cmd.ext_fields).namespace
        table = self.kv.get(ns)
        if not table:
            return cmd.response(ResponseCode.QUERY_NOT_FOUND,
                                f"No config item, Namespace: {ns}")
        return cmd.response(ResponseCode.SUCCESS, body=jsonx.dumps({"table": table}))
