"""A pyrmq PushConsumer in its own process (so tests can SIGKILL it); JSON lines on stdout.

    python py_consumer.py NAMESRV TOPIC GROUP SECONDS
"""

import asyncio
import json
import sys

from pyrmq.client import ConsumeFrom, ConsumeStatus, PushConsumer


async def main(ns: str, topic: str, group: str, seconds: float) -> None:
    async def on(msg):
        print(json.dumps({"event": "msg", "body": msg.body.decode(), "queue": msg.queue_id,
                          "broker": msg.store_host[1]}), flush=True)
        return ConsumeStatus.CONSUME_SUCCESS

    c = PushConsumer(group, ns, consume_from=ConsumeFrom.FIRST_OFFSET, rebalance_interval=2.0)
    c.subscribe(topic, "*")
    c.listener = on
    await c.start()
    print(json.dumps({"event": "started", "client": c.client_id}), flush=True)
    await asyncio.sleep(seconds)
    await c.shutdown()
    print(json.dumps({"event": "done"}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])))
