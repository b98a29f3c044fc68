"""Remoting server: accepts connections and answers requests through a code -> handler table."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping

from pyrmq.protocol.frame import DEFAULT_MAX_FRAME
from pyrmq.remoting import busypoll
from pyrmq.remoting.connection import (
    DEFAULT_MAX_INFLIGHT,
    BeforeHook,
    Connection,
    FastHandler,
    Handler,
    ResponseObserver,
)

log = logging.getLogger("pyrmq.remoting")


class RemotingServer:
    """Listen on ``host:port`` (port 0 = pick a free one, see ``.port`` after ``start``)."""

    def __init__(self, handlers: Mapping[int, Handler], host: str = "127.0.0.1", port: int = 0,
                 *, max_frame: int = DEFAULT_MAX_FRAME,
                 max_inflight: int = DEFAULT_MAX_INFLIGHT, idle_timeout: float = 120.0,
                 on_connect: Callable[[Connection], None] | None = None,
                 on_close: Callable[[Connection], None] | None = None,
                 on_response: ResponseObserver | None = None,
                 before: BeforeHook | None = None,
                 fast: Mapping[int, FastHandler] | None = None,
                 busy_poll_us: float = 0) -> None:
        self.handlers = dict(handlers)
        #: shared by the accepted connections (see pyrmq.remoting.busypoll); None = off
        self.busy = busypoll.optional(busy_poll_us)
        #: tried before ``handlers`` for their codes (see Connection)
        self.fast = dict(fast or {})
        self.host = host
        self.port = port
        self.max_frame = max_frame
        self.max_inflight = max_inflight
        self.idle_timeout = idle_timeout
        self.connections: set[Connection] = set()
        self._on_connect = on_connect
        self._on_close = on_close
        #: told of every answered request (metrics); None costs nothing
        self.on_response = on_response
        #: may refuse a request before its handler runs (ACL); read per new connection
        self.before = before
        self._server: asyncio.AbstractServer | None = None
        self._idle_task: asyncio.Task[None] | None = None

    def _make(self) -> Connection:
        conn = Connection(self.handlers, max_frame=self.max_frame,
                          max_inflight=self.max_inflight, on_close=self._closed,
                          on_response=self.on_response, before=self.before,
                          fast=self.fast, busy=self.busy)
        self.connections.add(conn)
        if self._on_connect:
            self._on_connect(conn)
        return conn

    def _closed(self, conn: Connection) -> None:
        self.connections.discard(conn)
        if self._on_close:
            self._on_close(conn)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._make, self.host, self.port,
                                                reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        self._idle_task = loop.create_task(self._close_idle())

    async def _close_idle(self) -> None:
        while True:
            await asyncio.sleep(min(10.0, self.idle_timeout))
            now = time.monotonic()
            for conn in list(self.connections):
                if now - conn.last_activity > self.idle_timeout:
                    log.info("closing idle connection %s", conn.remote_addr)
                    conn.close()

    async def close(self, grace: float = 5.0) -> None:
        """Stop accepting, let in-flight handlers finish (bounded by ``grace``), close all."""
        if self._idle_task:
            self._idle_task.cancel()
        if self._server is not None:
            self._server.close()
        conns = list(self.connections)
        await asyncio.gather(*(c.drain_tasks(grace) for c in conns), return_exceptions=True)
        for c in conns:
            c.close()
        if self._server is not None:
            try:
                await asyncio.wait_for(self._server.wait_closed(), grace)
            except asyncio.TimeoutError:
                pass
            self._server = None
