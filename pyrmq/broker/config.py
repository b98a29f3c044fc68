"""Broker configuration: RocketMQ 4.9's BrokerConfig names and defaults, read from a
broker.conf (Java properties) in one place; the store part becomes a StoreConfig."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyrmq.store.config import StoreConfig, known_fields


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

    @classmethod
    def from_properties(cls, props: Mapping[str, Any]) -> BrokerConfig:
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
