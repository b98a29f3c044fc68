"""Broker configuration: RocketMQ 4.9's BrokerConfig names and defaults, read from a
broker.conf (Java properties) in one place; the store part becomes a StoreConfig."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyrmq.protocol.names import topic_problem
from pyrmq.store.config import BROKER_ROLES, StoreConfig, known_fields

_INT64_MAX = 2**63 - 1
#: (lo, hi) of the int keys with a narrower range than "non-negative long"
_INT_RANGES = {"listenPort": (1, 65535), "haListenPort": (0, 65535),
               "metricsPort": (0, 65535), "brokerPermission": (0, 7),
               "defaultTopicQueueNums": (1, 1024), "retryMaxTimes": (0, 2**31 - 1),
               "transactionCheckMax": (0, 2**31 - 1),
               "duplicateFilterWindowSeconds": (1, 86_400),
               "duplicateFilterMaxEntries": (1, 100_000_000),
               "failoverLeaseTtlMs": (2000, 600_000), "busyPollMicros": (0, 100_000)}


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """Broker settings (RocketMQ names). ``storePathRootDir`` and the other store keys of the
    same file go to :class:`StoreConfig` via :meth:`store_config`."""

    brokerClusterName: str = "DefaultCluster"
    brokerName: str = "broker-a"
    brokerId: int = 0
    namesrvAddr: str = ""
    listenPort: int = 10911
    brokerIP1: str = "127.0.0.1"
    brokerIP2: str = ""
    storePathRootDir: str = os.path.join(os.path.expanduser("~"), "store")
    brokerRole: str = "ASYNC_MASTER"
    brokerPermission: int = 6
    autoCreateTopicEnable: bool = True
    autoCreateSubscriptionGroup: bool = True
    defaultTopicQueueNums: int = 8
    clusterTopicEnable: bool = True
    brokerTopicEnable: bool = True
    registerNameServerPeriod: int = 30_000
    registerBrokerTimeoutMills: int = 6000
    longPollingEnable: bool = True
    #: SQL92 property filters (subscriptions with expressionType SQL92), off as in 4.9
    enablePropertyFilter: bool = False
    shortPollingTimeMills: int = 1000
    notifyConsumerIdsChangedEnable: bool = True
    regionId: str = "DefaultRegion"
    traceOn: bool = True
    flushConsumerOffsetInterval: int = 5000
    channelExpiredTimeout: int = 120_000
    retryMaxTimes: int = 16
    transactionTimeOut: int = 6000
    transactionCheckMax: int = 15
    transactionCheckInterval: int = 60_000
    haListenPort: int = 0            # 0: listenPort + 1
    haMasterAddress: str = ""        # slave: master's HA address; "" = learn from NameServer
    haSendHeartbeatInterval: int = 5000
    slaveTimeout: int = 3000         # SYNC_MASTER wait for the slave
    #: 4.9: pull responses suggest the slave (the group's whichBrokerWhenConsumeSlowly) to a
    #: consumer behind by more than accessMessageInMemoryMaxRatio of memory; off = always 0
    slaveReadEnable: bool = False
    # pyrmq's own (not in RocketMQ 4.9): answer a producer's retry of a message already stored
    # (same topic + UNIQ_KEY within the window) with the first result instead of storing it again
    duplicateFilterEnable: bool = False
    duplicateFilterWindowSeconds: int = 120
    duplicateFilterMaxEntries: int = 1_000_000
    # pyrmq's own: Prometheus text on http://<listen host>:<metricsPort>/metrics; 0 = off
    metricsPort: int = 0
    # pyrmq's own: after each frame read, keep the loop polling up to this long (µs, adaptive;
    # pyrmq.remoting.busypoll) instead of sleeping; 0 = off
    busyPollMicros: int = 0
    # 4.9's plain ACL: every request checked against aclFile (plain_acl.yml format);
    # aclFile "" = <storePathRootDir>/config/plain_acl.yml
    aclEnable: bool = False
    aclFile: str = ""
    # pyrmq's own: automatic master failover on etcd (pyrmq.failover, docs/operations.md);
    # brokerRole is then the role the elected leader takes, brokerId (>= 1) the one it has as
    # a slave; etcdEndpoints is ';'-separated http://host:port
    failoverEnable: bool = False
    etcdEndpoints: str = "http://127.0.0.1:2379"
    failoverLeaseTtlMs: int = 5000
    failoverKeyPrefix: str = "/pyrmq/failover"
    #: the HA address published to the other replicas; "" = brokerIP2 (or brokerIP1) and
    #: the HA port; set it when they reach this broker through NAT or a proxy
    failoverHaAddress: str = ""

    def __post_init__(self) -> None:
        """The rules broker.conf, a startup override and UPDATE_BROKER_CONFIG all obey; a
        violation is a ValueError naming the key."""
        if self.brokerRole not in BROKER_ROLES:
            raise ValueError(f"brokerRole: {self.brokerRole!r} not in {BROKER_ROLES}")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type in ("int", int):
                if not isinstance(value, int) or isinstance(value, bool):
                    raise ValueError(f"{f.name}: {value!r} is not an integer")
                lo, hi = _INT_RANGES.get(f.name, (0, _INT64_MAX))
                if not lo <= value <= hi:
                    raise ValueError(f"{f.name}: {value} outside [{lo}, {hi}]")
            elif f.type in ("bool", bool) and not isinstance(value, bool):
                raise ValueError(f"{f.name}: {value!r} is not true/false")
            elif f.type in ("str", str):
                if not isinstance(value, str) or "\n" in value or "\r" in value:
                    raise ValueError(f"{f.name}: {value!r} is not one line of text")
        for key in ("brokerClusterName", "brokerName"):  # both become topic names
            bad = topic_problem(getattr(self, key))
            if bad is not None:
                raise ValueError(f"{key}: {bad}")
        if not self.brokerIP1:
            raise ValueError("brokerIP1: empty")
        for addr in self.namesrv_addrs:
            host, sep, port = addr.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"namesrvAddr: {addr!r} is not host:port")
        for key in ("haMasterAddress", "failoverHaAddress"):
            value = getattr(self, key)
            if value:
                host, sep, port = value.rpartition(":")
                if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                    raise ValueError(f"{key}: {value!r} is not host:port")

    @classmethod
    def from_properties(cls, props: Mapping[str, Any]) -> BrokerConfig:
        """Build from broker.conf-style values; a bad value is a ValueError naming the key."""
        return cls(**known_fields(cls, props))

    def replace(self, **changes: Any) -> BrokerConfig:
        return dataclasses.replace(self, **changes)

    @property
    def namesrv_addrs(self) -> list[str]:
        return [a.strip() for a in self.namesrvAddr.split(";") if a.strip()]

    @property
    def broker_addr(self) -> str:
        return f"{self.brokerIP1}:{self.listenPort}"

    @property
    def ha_port(self) -> int:
        return self.haListenPort or self.listenPort + 1

    @property
    def ha_addr(self) -> str:
        return f"{self.brokerIP2 or self.brokerIP1}:{self.ha_port}"


def read_properties(path: str) -> dict[str, str]:
    """A Java properties file as a dict (``key=value`` / ``key: value``, ``#``/``!`` comments)."""
    out: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#!":
                continue
            for sep in ("=", ":"):
                if sep in line:
                    k, _, v = line.partition(sep)
                    out[k.strip()] = v.strip()
                    break
    return out


def load(props: Mapping[str, Any]) -> tuple[BrokerConfig, StoreConfig]:
    """Broker and store configuration from one broker.conf mapping."""
    broker = BrokerConfig.from_properties(props)
    store_props = dict(props)
    store_props.setdefault("storePathRootDir", broker.storePathRootDir)
    store_props.setdefault("brokerRole", broker.brokerRole)
    return broker, StoreConfig.from_properties(store_props)
