"""A TCP fault proxy for one link (127.0.0.1): tests switch it at run time between passing,
delaying, dropping, cutting, refusing and partitioning, while the peers run as real processes.

The proxy runs its own asyncio loop in a daemon thread, so a test drives it from plain code
(or from its own ``asyncio.run``) in the same process::

    with FaultProxy(broker_addr) as px:            # listens on px.addr
        px.set_mode(Mode.DELAY, delay_ms=200)      # both directions
        px.set_mode(Mode.DROP, direction=Direction.DOWN)   # replies vanish, requests arrive
        px.set_mode(Mode.CUT, cut_after=37)        # every connection dies after 37 more bytes
        px.set_mode(Mode.PASS)

One proxy per link: a HA test puts one between slave and master, another between clients and
the master, and partitions either. ``set_mode`` returns once the new mode is in force.

Modes (``Direction.UP`` is client -> target, ``DOWN`` target -> client):

``PASS``       forward as received.
``DELAY``      forward each chunk ``delay_ms`` after it arrived (order kept, no throughput cap).
``DROP``       read and discard silently; connections stay open (a black hole one way).
``CUT``        abort connections (RST) once ``cut_after`` more bytes have gone through in that
               direction, i.e. mid-frame; ``cut_after=None`` aborts them at once. New
               connections get the same budget.
``REFUSE``     link-wide: the listening socket is closed (connect gets ECONNREFUSED); existing
               connections go on as before. Leaving REFUSE listens on the same port again.
``PARTITION``  link-wide: both directions black-holed, and new connections are accepted but
               never reach the target (a network partition as a client sees it: silence).
"""

from __future__ import annotations

import asyncio
import enum
import socket
import threading
import time
from dataclasses import dataclass, field


class Mode(enum.Enum):
    PASS = "pass"
    DELAY = "delay"
    DROP = "drop"
    CUT = "cut"
    REFUSE = "refuse"
    PARTITION = "partition"


class Direction(enum.Enum):
    UP = "up"        # client -> target
    DOWN = "down"    # target -> client
    BOTH = "both"


_LINK_MODES = (Mode.REFUSE, Mode.PARTITION)


@dataclass
class _DirState:
    mode: Mode = Mode.PASS
    delay: float = 0.0
    cut_after: int | None = None


@dataclass
class ProxyStats:
    """Counters since start (read them from any thread; they only grow)."""

    accepted: int = 0
    refused: int = 0
    cut: int = 0
    bytes: dict[str, int] = field(default_factory=lambda: {"up": 0, "down": 0})
    dropped: dict[str, int] = field(default_factory=lambda: {"up": 0, "down": 0})


class _Link:
    """One proxied connection: a client stream, an optional target stream, two pumps."""

    def __init__(self, proxy: FaultProxy, client: tuple[asyncio.StreamReader,
                                                        asyncio.StreamWriter]) -> None:
        self.proxy = proxy
        self.client_r, self.client_w = client
        self.target_w: asyncio.StreamWriter | None = None
        self.budget: dict[str, int | None] = {"up": None, "down": None}
        self.closed = False
        self.tasks: list[asyncio.Task[None]] = []

    def abort(self) -> None:
        if self.closed:
            return
        self.closed = True
        for w in (self.client_w, self.target_w):
            if w is not None:
                w.transport.abort()
        for t in self.tasks:
            t.cancel()

    def arm_cut(self, direction: str, after: int | None) -> bool:
        """Set the bytes left before a cut in ``direction``; True if it must die now."""
        self.budget[direction] = after
        return after is None or after <= 0


class FaultProxy:
    """Forward 127.0.0.1:``listen_port`` (0 = a free port) to ``target`` ("host:port")."""

    def __init__(self, target: str, listen_port: int = 0) -> None:
        host, _, port = target.rpartition(":")
        self.target = (host, int(port))
        self._port = listen_port
        self._dirs = {"up": _DirState(), "down": _DirState()}
        self._link_mode = Mode.PASS
        self._links: set[_Link] = set()
        self._server: asyncio.AbstractServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.stats = ProxyStats()

    # -- life cycle ------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._port

    @property
    def addr(self) -> str:
        """The address clients connect to instead of the target."""
        return f"127.0.0.1:{self._port}"

    def start(self) -> FaultProxy:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name=f"proxy->{self.target}",
                                        daemon=True)
        self._thread.start()
        self._call(self._listen())
        return self

    def stop(self) -> None:
        """Close the listener and every connection; end the thread (bounded)."""
        if self._loop is None:
            return
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        assert self._thread is not None
        self._thread.join(5)
        self._loop.close()
        self._loop = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, coro, timeout: float = 5.0):  # noqa: ANN001 - coroutine of any type
        assert self._loop is not None, "proxy not started"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # -- control -----------------------------------------------------------------------------
    def set_mode(self, mode: Mode, *, direction: Direction = Direction.BOTH,
                 delay_ms: float = 0.0, cut_after: int | None = None) -> None:
        """Switch the link (REFUSE, PARTITION: always both ways) or one/both directions."""
        if mode in _LINK_MODES and direction is not Direction.BOTH:
            raise ValueError(f"{mode.value} applies to the whole link")
        self._call(self._set(mode, direction, delay_ms / 1000.0, cut_after))

    def cut_all(self) -> None:
        """Abort every open connection now (the mode stays as it is)."""
        self._call(self._cut_all())

    @property
    def connections(self) -> int:
        return len(self._links)

    # -- inside the loop ---------------------------------------------------------------------
    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self._port,
                                                  reuse_address=True)
        self._port = self._server.sockets[0].getsockname()[1]

    async def _unlisten(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _shutdown(self) -> None:
        await self._unlisten()
        await self._cut_all()

    async def _cut_all(self) -> None:
        for link in list(self._links):
            link.abort()
            self.stats.cut += 1

    async def _set(self, mode: Mode, direction: Direction, delay: float,
                   cut_after: int | None) -> None:
        was = self._link_mode
        if mode in _LINK_MODES:
            self._link_mode = mode
            for d in self._dirs.values():
                d.mode, d.delay, d.cut_after = Mode.PASS, 0.0, None
        else:
            self._link_mode = Mode.PASS
            names = ["up", "down"] if direction is Direction.BOTH else [direction.value]
            for name in names:
                st = self._dirs[name]
                st.mode, st.delay, st.cut_after = mode, delay, cut_after
                if mode is Mode.CUT:
                    for link in list(self._links):
                        if link.arm_cut(name, cut_after):
                            link.abort()
                            self.stats.cut += 1
                else:
                    for link in self._links:
                        link.budget[name] = None
        if self._link_mode is Mode.REFUSE and was is not Mode.REFUSE:
            await self._unlisten()
        elif self._link_mode is not Mode.REFUSE and self._server is None:
            await self._listen()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._link_mode is Mode.REFUSE:  # accepted in the instant before the switch
            self.stats.refused += 1
            writer.transport.abort()
            return
        self.stats.accepted += 1
        link = _Link(self, (reader, writer))
        self._links.add(link)
        try:
            for name, st in self._dirs.items():
                if st.mode is Mode.CUT and link.arm_cut(name, st.cut_after):
                    self.stats.cut += 1
                    return
            if self._link_mode is Mode.PARTITION:
                await self._black_hole(link)
                return
            try:
                target_r, link.target_w = await asyncio.wait_for(
                    asyncio.open_connection(*self.target), 3.0)
            except (OSError, asyncio.TimeoutError):
                return  # target down: the client sees its connection closed
            link.tasks = [asyncio.ensure_future(self._pump(link, reader, link.target_w, "up")),
                          asyncio.ensure_future(self._pump(link, target_r, writer, "down"))]
            await asyncio.wait(link.tasks, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            pass
        finally:
            self._links.discard(link)
            link.abort()

    async def _black_hole(self, link: _Link) -> None:
        while not link.closed:
            data = await link.client_r.read(65536)
            if not data:
                return
            self.stats.dropped["up"] += len(data)

    async def _pump(self, link: _Link, src: asyncio.StreamReader, dst: asyncio.StreamWriter,
                    name: str) -> None:
        """Copy ``src`` to ``dst`` under the direction's mode; delayed chunks go through a
        queue so a delay adds latency without limiting throughput."""
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
        writer = asyncio.ensure_future(self._delayed_writer(queue, dst, name))
        try:
            while True:
                data = await src.read(65536)
                if not data:
                    break
                st = self._dirs[name]
                if self._link_mode is Mode.PARTITION or st.mode is Mode.DROP:
                    self.stats.dropped[name] += len(data)
                    continue
                budget = link.budget[name]
                if budget is not None and len(data) >= budget:
                    await queue.put((0.0, data[:budget]))
                    await queue.put(None)
                    await writer
                    self.stats.cut += 1
                    return
                if budget is not None:
                    link.budget[name] = budget - len(data)
                due = time.monotonic() + st.delay if st.mode is Mode.DELAY else 0.0
                await queue.put((due, data))
            await queue.put(None)
            await writer
        finally:
            writer.cancel()

    async def _delayed_writer(self, queue: asyncio.Queue[tuple[float, bytes] | None],
                              dst: asyncio.StreamWriter, name: str) -> None:
        while True:
            item = await queue.get()
            if item is None:
                return
            due, data = item
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            dst.write(data)
            self.stats.bytes[name] += len(data)
            await dst.drain()
