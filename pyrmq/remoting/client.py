"""Remoting client: one connection per address, shared by every caller; requests the server
sends back (e.g. NOTIFY_CONSUMER_IDS_CHANGED) go through a code -> handler table."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from pyrmq.protocol.command import RemotingCommand
from pyrmq.remoting import busypoll
from pyrmq.remoting.connection import (
    Connection,
    Handler,
    RemotingConnectError,
)

CONNECT_TIMEOUT = 3.0

#: rewrites every request this client sends (e.g. adds ACL signature fields)
BeforeSend = Callable[[RemotingCommand], RemotingCommand]


def split_addr(addr: str) -> tuple[str, int]:
    """``"host:port"`` -> (host, port); IPv6 hosts may be bracketed."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"bad address {addr!r} (want host:port)")
    return host.strip("[]"), int(port)


class RemotingClient:
    """Connections to brokers/NameServers by ``"host:port"``; reconnects on next use."""

    def __init__(self, handlers: Mapping[int, Handler] | None = None, *,
                 connect_timeout: float = CONNECT_TIMEOUT,
                 before_send: BeforeSend | None = None, busy_poll_us: float = 0) -> None:
        self.handlers = dict(handlers or {})
        #: shared by its connections (see pyrmq.remoting.busypoll); None = off
        self.busy = busypoll.optional(busy_poll_us)
        #: applied to every request sent through ``invoke``/``invoke_oneway``; None = as is
        self.before_send = before_send
        self.connect_timeout = connect_timeout
        self._conns: dict[str, Connection] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def connection(self, addr: str) -> Connection:
        conn = self._conns.get(addr)
        if conn is not None and conn.is_open:
            return conn
        lock = self._locks.setdefault(addr, asyncio.Lock())
        async with lock:
            conn = self._conns.get(addr)
            if conn is not None and conn.is_open:
                return conn
            host, port = split_addr(addr)
            loop = asyncio.get_running_loop()
            try:
                _, conn = await asyncio.wait_for(
                    loop.create_connection(lambda: Connection(self.handlers, busy=self.busy),
                                            host, port),
                    self.connect_timeout)
            except (OSError, asyncio.TimeoutError) as e:
                raise RemotingConnectError(f"cannot connect to {addr}: {e or 'timeout'}") from e
            conn.remote_addr = addr
            self._conns[addr] = conn
            return conn

    async def invoke(self, addr: str, cmd: RemotingCommand, timeout: float = 3.0
                     ) -> RemotingCommand:
        """Send ``cmd`` to ``addr`` and wait for the response (bounded by ``timeout`` s)."""
        conn = self._conns.get(addr)
        if conn is None or not conn.is_open:
            conn = await self.connection(addr)
        if self.before_send is not None:
            cmd = self.before_send(cmd)
        return await conn.invoke(cmd, timeout)

    async def invoke_oneway(self, addr: str, cmd: RemotingCommand) -> None:
        conn = await self.connection(addr)
        if self.before_send is not None:
            cmd = self.before_send(cmd)
        conn.invoke_oneway(cmd)

    def close_connection(self, addr: str) -> None:
        conn = self._conns.pop(addr, None)
        if conn is not None:
            conn.close()

    async def close(self) -> None:
        conns = list(self._conns.values())
        self._conns.clear()
        for c in conns:
            c.close()
        for c in conns:
            try:
                await asyncio.wait_for(asyncio.shield(c.closed), 1.0)
            except (asyncio.TimeoutError, Exception):
                pass
