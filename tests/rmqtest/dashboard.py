"""Dashboard tests' helpers: start ``pyrmq dashboard`` as a process, call its JSON API, and
seed a cluster with messages and a consumer group that has lag (via pyrmq's client)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from pyrmq.admin import AdminClient
from pyrmq.client import Message, Producer, PullConsumer
from rmqtest.procs import Proc, free_port, start_pyrmq


def start_dashboard(tmp: Path, ns_addr: str, allow_write: bool) -> Proc:
    port = free_port()
    args = ["dashboard", "-n", ns_addr, "--listen", f"127.0.0.1:{port}"]
    return start_pyrmq(args + (["--allow-write"] if allow_write else []),
                       tmp / f"dashboard-{port}.log", port)


def http(proc: Proc, path: str, data: Any = None, raw: bytes | None = None
         ) -> tuple[int, Any]:
    """(status, decoded JSON) of one request; POST when ``data``/``raw`` is given."""
    body = raw if raw is not None else (None if data is None else json.dumps(data).encode())
    req = urllib.request.Request(f"http://127.0.0.1:{proc.port}{path}", data=body,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def admin_call(ns_addr: str, method: str, *args: Any) -> Any:
    """One AdminClient call (the API the CLI uses), in its own event loop."""
    async def go() -> Any:
        admin = AdminClient(ns_addr)
        try:
            return await getattr(admin, method)(*args)
        finally:
            await admin.close()
    return asyncio.run(go())


def seed(ns_addr: str, topic: str, group: str, count: int, key: str) -> list[dict[str, Any]]:
    """Send ``count`` messages (message i has key ``{key}-{i}`` and a user property), then
    commit ``group``'s offset at half of each queue's messages, so the group has lag.
    Returns the sent messages' (msgId, offsetMsgId, queue, offset, key, body)."""
    async def go() -> list[dict[str, Any]]:
        sent = []
        async with Producer("PG_DASH", ns_addr) as p:
            for i in range(count):
                r = await p.send(Message(topic, f"body-{i}".encode(), tags="TagD",
                                         keys=[f"{key}-{i}"], properties={"color": "blue"}))
                sent.append({"msgId": r.msg_id, "offsetMsgId": r.offset_msg_id,
                             "brokerName": r.queue.broker_name, "queueId": r.queue.queue_id,
                             "queueOffset": r.queue_offset, "key": f"{key}-{i}",
                             "body": f"body-{i}"})
        pc = PullConsumer(group, ns_addr)
        try:
            for mq in await pc.fetch_queues(topic):
                top = await pc.max_offset(mq)
                await pc.update_consumer_offset(mq, top // 2)
        finally:
            await pc.shutdown()
        return sent
    return asyncio.run(go())
