"""A tiny asyncio HTTP/1.0 endpoint serving ``GET /metrics`` from a registry.

Served from the broker's own event loop (no thread: collectors read loop-owned state without
locks). Requests are bounded: 8 KiB of head, 5 s to send it, one request per connection, at most
:data:`MAX_CONNECTIONS` at a time (more are closed unanswered).
"""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger("pyrmq.metrics")

_MAX_HEAD = 8192
_READ_TIMEOUT = 5.0
MAX_CONNECTIONS = 32


class MetricsEndpoint:
    """``http://host:port/metrics`` (port 0 = pick a free one, see ``.port`` after start)."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self.registry = registry
        self.host = host
        self.port = port
        self._server: asyncio.AbstractServer | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port,
                                                  reuse_address=True, limit=_MAX_HEAD)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for w in list(self._open):  # a slow client must not hold the close up
                w.close()
            try:
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            except asyncio.TimeoutError:
                pass
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._open) >= MAX_CONNECTIONS:
            writer.close()
            return
        self._open.add(writer)
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_TIMEOUT)
            except (asyncio.TimeoutError, asyncio.IncompleteReadError,
                    asyncio.LimitOverrunError, ConnectionError):
                return
            status, ctype, body = self.answer(head)
            writer.write(b"HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
                         b"Connection: close\r\n\r\n" % (status, ctype, len(body)) + body)
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            self._open.discard(writer)
            writer.close()

    def answer(self, head: bytes) -> tuple[bytes, bytes, bytes]:
        """(status line, content type, body) for one request head."""
        parts = head.split(b"\r\n", 1)[0].split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
            return b"400 Bad Request", b"text/plain", b"bad request\n"
        method, target = parts[0], parts[1].split(b"?", 1)[0]
        if target not in (b"/metrics", b"/"):
            return b"404 Not Found", b"text/plain", b"try /metrics\n"
        if method not in (b"GET", b"HEAD"):
            return b"405 Method Not Allowed", b"text/plain", b"GET only\n"
        try:
            body = generate_latest(self.registry)
        except Exception as e:  # a collector bug: one log line, the endpoint keeps serving
            log.warning("metrics collection failed: %s: %.200s", type(e).__name__, e)
            return b"500 Internal Server Error", b"text/plain", b"collection failed\n"
        return b"200 OK", CONTENT_TYPE_LATEST.encode(), b"" if method == b"HEAD" else body
