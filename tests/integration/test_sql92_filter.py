"""SQL92 property filters end to end: a broker with enablePropertyFilter answers
CHECK_CLIENT_CONFIG and filters pulls by the expression (user properties and TAGS); a bad
expression and a broker without property filtering refuse the subscription at start."""

from __future__ import annotations

import asyncio

import pytest
from rmqtest.cluster import running_cluster

from pyrmq.client import (
    ConsumeFrom,
    ConsumeStatus,
    Message,
    Producer,
    PushConsumer,
    SubscriptionRefused,
)
from pyrmq.protocol import jsonx
from pyrmq.protocol.codes import RequestCode, ResponseCode
from pyrmq.protocol.command import request
from pyrmq.remoting import RemotingClient

N = 30


def _consumer(ns: str, group: str, topic: str, sql: str, on) -> PushConsumer:
    c = PushConsumer(group, ns, consume_from=ConsumeFrom.FIRST_OFFSET, rebalance_interval=1.0)
    c.subscribe(topic, sql=sql)
    c.listener = on
    return c


async def _produce(ns: str, topic: str) -> None:
    async with Producer("PG_SQL", ns) as p:
        for i in range(N):
            await p.send(Message(topic, f"m{i}".encode(), tags="A" if i % 2 else "B",
                                 properties={"a": str(i), "color": "red" if i < 10 else "blue"}))


def test_sql92_subscription_gets_exactly_the_matching_messages(tmp_path):
    with running_cluster(tmp_path, "--set", "enablePropertyFilter=true") as c:
        async def main():
            await _produce(c.ns_addr, "SqlT")
            got: list[int] = []
            want = {i for i in range(N) if i >= 5 and i % 2 == 1 and i < 10 or i in (20, 21)}

            async def on(msg):
                got.append(int(msg.properties["a"]))
                return ConsumeStatus.CONSUME_SUCCESS

            sql = ("(a BETWEEN 5 AND 9 AND TAGS = 'A' AND color IN ('red')) "
                   "OR a IN ('20', '21') OR missing IS NOT NULL")
            async with _consumer(c.ns_addr, "CG_SQL", "SqlT", sql, on):
                for _ in range(100):
                    if len(got) >= len(want):
                        break
                    await asyncio.sleep(0.1)
                await asyncio.sleep(1.0)  # nothing more arrives
            assert sorted(got) == sorted(want)

            # the broker refuses a malformed expression, naming it
            rc = RemotingClient()
            try:
                body = jsonx.dumps({"clientId": "x", "group": "CG_SQL", "subscriptionData": {
                    "topic": "SqlT", "subString": "a >=", "expressionType": "SQL92"}})
                r = await rc.invoke(c.broker_addr, request(RequestCode.CHECK_CLIENT_CONFIG,
                                                           None, body), 5)
            finally:
                await rc.close()
            assert r.code == ResponseCode.SUBSCRIPTION_PARSE_FAILED and "a >=" in r.remark
            with pytest.raises(SubscriptionRefused, match="a >="):
                async with _consumer(c.ns_addr, "CG_BAD", "SqlT", "a >=", on):
                    pass

        asyncio.run(asyncio.wait_for(main(), 60))


def test_broker_without_property_filter_refuses_sql92(tmp_path):
    with running_cluster(tmp_path) as c:
        async def main():
            await _produce(c.ns_addr, "SqlOff")

            async def on(msg):
                return ConsumeStatus.CONSUME_SUCCESS

            with pytest.raises(SubscriptionRefused, match="does not support .* SQL92"):
                async with _consumer(c.ns_addr, "CG_OFF", "SqlOff", "a > 1", on):
                    pass

        asyncio.run(asyncio.wait_for(main(), 60))
