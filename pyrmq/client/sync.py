"""A thin synchronous face over the asyncio Producer, for code without an event loop: the
producer runs on a private loop in a daemon thread; every call waits for its result."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from pyrmq.client.message import Message, SendResult
from pyrmq.client.producer import Producer

T = TypeVar("T")


class SyncProducer:
    """``with SyncProducer("PG", "127.0.0.1:9876") as p: p.send(Message(...))``."""

    def __init__(self, group: str, namesrv: str | list[str], *, call_timeout: float = 30.0,
                 **kw: Any) -> None:
        self.call_timeout = call_timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pyrmq-producer",
                                        daemon=True)
        self._thread.start()

        async def make() -> Producer:
            p = Producer(group, namesrv, **kw)
            await p.start()
            return p
        self._producer = self._run(make())

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self.call_timeout)

    def send(self, msg: Message) -> SendResult:
        return self._run(self._producer.send(msg))

    def send_oneway(self, msg: Message) -> None:
        self._run(self._producer.send_oneway(msg))

    def send_orderly(self, msg: Message, key: object) -> SendResult:
        return self._run(self._producer.send_orderly(msg, key))

    def send_batch(self, msgs: list[Message]) -> SendResult:
        return self._run(self._producer.send_batch(msgs))

    def shutdown(self) -> None:
        if self._thread.is_alive():
            self._run(self._producer.shutdown())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self) -> SyncProducer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
