"""One remoting connection (either side): feeds bytes to the sans-IO codec, matches responses to
pending requests by opaque, runs request handlers, writes frames back.

A handler starts at once, inside ``data_received``: one that never suspends (a send stored on
the loop, most admin calls) answers without a Task being created; one that awaits continues as a
Task from where it suspended. A code may also have a fast handler, a plain function tried
first that answers the common case or returns None to hand the request to the coroutine
(the broker's one-message send). A request's timeout is a deadline kept beside its future; one
timer per connection, armed for the earliest deadline, expires the overdue ones (no
``wait_for``, no extra Task and no timer handle per call: a timer armed and cancelled per
request cost ~2 µs of each one-in-flight send).

Requests a peer sends are answered through a handler table (``code -> async handler``); an
unknown code gets REQUEST_CODE_NOT_SUPPORTED, a header the decoder could read but not accept
SYSTEM_ERROR, a handler exception SYSTEM_ERROR, too many requests in flight SYSTEM_BUSY. The
connection closes only when framing is lost. An optional ``before`` hook (the broker's ACL)
may refuse a request before its handler runs. What a peer's garbage makes us log is one line,
rate-limited (never a traceback per request: that would be a log-flooding vector); every
refusal (unsupported code, NO_PERMISSION, SYSTEM_BUSY, a refused header) gets such a line naming
the code and the peer, keyed by kind and code so one flood cannot hide the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterator, Mapping
from typing import Any, NamedTuple

from pyrmq.protocol.codes import ResponseCode
from pyrmq.protocol.command import FLAG_ONEWAY, RemotingCommand
from pyrmq.protocol.errors import RemoteProtocolError
from pyrmq.protocol.frame import DEFAULT_MAX_FRAME, FrameDecoder, encode
from pyrmq.remoting.busypoll import BusyPoll

log = logging.getLogger("pyrmq.remoting")

Handler = Callable[["Connection", RemotingCommand], Awaitable["RemotingCommand | None"]]


class Later(NamedTuple):
    """A fast handler's answer to send after the callbacks already due on the loop (e.g. the
    held pulls its request woke: their messages leave before this acknowledgement)."""

    resp: RemotingCommand


class _Parked:
    """What a fast handler returns when it took the request and answers it later itself,
    with :meth:`Connection.reply` (a pull held until a message arrives)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "PARKED"


PARKED = _Parked()

#: answers the common case of a code without a coroutine; None hands the request to the
#: code's Handler (which must then give the same answer the fast one would have); PARKED:
#: the fast handler answers later through ``Connection.reply`` (no Task meanwhile, and the
#: request does not count against ``max_inflight``)
FastHandler = Callable[["Connection", RemotingCommand],
                       "RemotingCommand | Later | _Parked | None"]
#: told of every answered request: (request code, response code or -1 for none, seconds)
ResponseObserver = Callable[[int, int, float], None]
#: runs before a peer's request is dispatched; returns a refusal response, or None to proceed
BeforeHook = Callable[["Connection", RemotingCommand], "RemotingCommand | None"]

DEFAULT_MAX_INFLIGHT = 256
#: handler answers worth one log line (a refusal the peer may not report to anyone)
_REFUSALS = frozenset((ResponseCode.NO_PERMISSION, ResponseCode.SYSTEM_BUSY))


class RateLimitedLog:
    """At most one line per ``interval`` seconds per key; the next line counts what was
    suppressed in between. Keys are few (a kind of event, not a peer)."""

    def __init__(self, logger: logging.Logger, interval: float = 10.0) -> None:
        self.logger = logger
        self.interval = interval
        self._state: dict[str, tuple[float, int]] = {}

    def warning(self, key: str, msg: str, *args: object) -> None:
        now = time.monotonic()
        last, suppressed = self._state.get(key, (-1e9, 0))
        if now - last < self.interval:
            self._state[key] = (last, suppressed + 1)
            return
        if len(self._state) > 256:
            self._state.clear()
        self._state[key] = (now, 0)
        if suppressed:
            msg += f" ({suppressed} similar suppressed)"
        self.logger.warning(msg, *args)


bad_input_log = RateLimitedLog(log)


class RemotingError(Exception):
    """A remote call failed (connection refused or lost, timeout)."""


class RemotingConnectError(RemotingError):
    """Could not connect to the address."""


class RemotingTimeoutError(RemotingError):
    """No response within the timeout."""


class RemotingClosedError(RemotingError):
    """The connection closed before the response arrived."""


class _Resume:
    """The rest of a coroutine that already ran up to its first suspension, as an awaitable a
    Task can drive: ``first`` is what it yielded there (a future, or None for a bare yield)."""

    __slots__ = ("coro", "first")

    def __init__(self, coro: Coroutine[Any, Any, None], first: Any) -> None:
        self.coro = coro
        self.first = first

    def __await__(self) -> Generator[Any, Any, None]:
        coro, value = self.coro, self.first
        self.first = None
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as e:  # e.g. the Task's CancelledError: pass it on
                try:
                    value = coro.throw(e)
                except StopIteration:
                    return
            else:
                try:
                    value = coro.send(sent)
                except StopIteration:
                    return


async def _resume(rest: _Resume) -> None:
    await rest


#: Python 3.12+ starts a Task eagerly itself (current_task() set during the first step)
_EAGER = sys.version_info >= (3, 12)


class Connection(asyncio.Protocol):
    """A framed RocketMQ remoting connection over one transport."""

    _ids = itertools.count(1)

    def __init__(self, handlers: Mapping[int, Handler] | None = None, *,
                 max_frame: int = DEFAULT_MAX_FRAME, max_inflight: int = DEFAULT_MAX_INFLIGHT,
                 on_close: Callable[[Connection], None] | None = None,
                 on_response: ResponseObserver | None = None,
                 before: BeforeHook | None = None,
                 fast: Mapping[int, FastHandler] | None = None,
                 busy: BusyPoll | None = None) -> None:
        self.id = next(self._ids)
        #: keeps the loop polling after each frame read or request sent; None = never
        self.busy = busy
        self.on_response = on_response
        #: may refuse a request before its handler runs (e.g. ACL); None costs nothing
        self.before = before
        self.handlers: Mapping[int, Handler] = handlers or {}
        self.fast: Mapping[int, FastHandler] = fast or {}
        self.max_inflight = max_inflight
        self.attrs: dict[str, Any] = {}      # owners attach state here (e.g. client ids)
        self.remote_addr = "?"
        self.last_activity = time.monotonic()
        self._decoder = FrameDecoder(max_frame)
        self._max_frame = max_frame
        self._transport: asyncio.Transport | None = None
        self._pending: dict[int, asyncio.Future[RemotingCommand]] = {}
        # opaque -> (loop time it is due, request code, timeout s) of the requests with one
        self._deadlines: dict[int, tuple[float, int, float]] = {}
        self._sweep: asyncio.TimerHandle | None = None  # fires at _sweep_at, the earliest one
        self._sweep_at = 0.0
        self._opaque = itertools.count(0)
        self._inflight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._close_callbacks: list[Callable[[Connection], None]] = []
        # frames sent while data_received handles several requests of one read, written with
        # one syscall at its end (None: write at once)
        self._cork: list[bytes] | None = None
        if on_close:
            self._close_callbacks.append(on_close)
        self._loop = asyncio.get_event_loop()
        self.closed = self._loop.create_future()

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's transports do not subclass asyncio.Transport; they behave like one)
        self._transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        peer = transport.get_extra_info("peername")
        if peer:
            self.remote_addr = f"{peer[0]}:{peer[1]}"
        transport.set_write_buffer_limits(high=4 * 1024 * 1024)

    def data_received(self, data: bytes) -> None:
        self.last_activity = time.monotonic()
        if self.busy is not None:
            self.busy.kick(self._loop)
        try:
            commands = self._decoder.feed(data)
        except Exception as e:  # RemoteProtocolError, or anything a decoder bug raises
            bad_input_log.warning("framing", "closing %s: framing lost: %s", self.remote_addr,
                                  e)
            self.close()
            return
        if len(commands) == 1:
            self._received(commands[0])
            return
        # several requests in one read (pipelined or concurrent senders): the answers of the
        # handlers that finish right here leave in one write instead of one syscall each
        self._cork = []
        try:
            for cmd in commands:
                self._received(cmd)
        finally:
            frames, self._cork = self._cork, None
            if frames and self._transport is not None and not self._transport.is_closing():
                self._transport.write(frames[0] if len(frames) == 1 else b"".join(frames))

    def _received(self, cmd: RemotingCommand) -> None:
        """One decoded command: a response completes its request, a request is dispatched."""
        if cmd.is_response:
            fut = self._pending.pop(cmd.opaque, None)
            if fut is not None and not fut.done():
                if cmd.error:
                    fut.set_exception(RemotingError(f"{self.remote_addr}: {cmd.error}"))
                else:
                    fut.set_result(cmd)
        elif cmd.error:
            bad_input_log.warning(f"header:{cmd.code}",
                                  "request code %d from %s refused: %s",
                                  cmd.code, self.remote_addr, cmd.error)
            if not cmd.is_oneway:
                self.send(cmd.response(ResponseCode.SYSTEM_ERROR, cmd.error))
        else:
            self._dispatch(cmd)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        err = RemotingClosedError(f"connection to {self.remote_addr} closed")
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(err)
        self._pending.clear()
        self._deadlines.clear()
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        if not self.closed.done():
            self.closed.set_result(None)
        for cb in self._close_callbacks:
            try:
                cb(self)
            except Exception:  # a broken callback must not break the others
                log.exception("close callback failed for %s", self.remote_addr)

    def pause_writing(self) -> None:
        if self._transport is not None:
            self._transport.pause_reading()  # back pressure: stop taking new requests

    def resume_writing(self) -> None:
        if self._transport is not None:
            self._transport.resume_reading()

    # -- requests from the peer ---------------------------------------------------------------
    def _dispatch(self, cmd: RemotingCommand) -> None:
        if self._inflight >= self.max_inflight:
            self._refuse(cmd, cmd.response(ResponseCode.SYSTEM_BUSY,
                                           f"[OVERLOAD] {self._inflight} requests in flight"))
            return
        if self.before is not None:
            try:
                refusal = self.before(self, cmd)
            except Exception as e:  # a broken hook refuses rather than letting a request by
                log.debug("before hook failed for code %d", cmd.code, exc_info=True)
                refusal = cmd.response(ResponseCode.SYSTEM_ERROR, f"{type(e).__name__}: {e}")
            if refusal is not None:
                self._refuse(cmd, refusal)
                return
        fast = self.fast.get(cmd.code)
        if fast is not None:
            started = time.perf_counter()
            try:
                resp = fast(self, cmd)
            except Exception as e:
                resp = self._failed(cmd, e)
            if resp is PARKED:
                return
            if resp is not None:
                if isinstance(resp, Later):
                    self._loop.call_soon(self._answer, cmd, resp.resp, started)
                else:
                    self._answer(cmd, resp, started)  # type: ignore[arg-type]
                return
        self._inflight += 1
        coro = self._run(cmd)
        if _EAGER:
            task = asyncio.Task(coro, loop=self._loop, eager_start=True)  # type: ignore[call-arg]
            if task.done():
                return
        else:
            try:  # run it here up to its first suspension: most handlers never suspend
                first = coro.send(None)
            except StopIteration:
                return
            task = self._loop.create_task(_resume(_Resume(coro, first)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @contextlib.contextmanager
    def parked(self) -> Iterator[None]:
        """While a handler waits inside this block for something outside the connection (a
        pull held until a message arrives), its request does not count against
        ``max_inflight``: a consumer of a topic with 1,024 queues holds a pull for each of
        them on one connection, as RocketMQ's brokers allow. What bounds parked requests is
        the waiting they do (the broker caps its held pulls)."""
        self._inflight -= 1
        try:
            yield
        finally:
            self._inflight += 1

    def _refuse(self, cmd: RemotingCommand, resp: RemotingCommand) -> None:
        """Answer ``cmd`` with ``resp`` without running its handler; one rate-limited line
        per (response code, request code) so one flood cannot hide the others."""
        bad_input_log.warning(f"refused:{resp.code}:{cmd.code}",
                              "request code %d from %s refused with %d: %s", cmd.code,
                              self.remote_addr, resp.code, resp.remark)
        if not cmd.is_oneway:
            self.send(resp)
        if self.on_response is not None:
            try:
                self.on_response(cmd.code, resp.code, 0.0)
            except Exception:
                log.debug("response observer failed", exc_info=True)

    async def _run(self, cmd: RemotingCommand) -> None:
        resp: RemotingCommand | None = None
        started = time.perf_counter()
        try:
            handler = self.handlers.get(cmd.code)
            if handler is None:
                bad_input_log.warning(f"unsupported:{cmd.code}",
                                      "request code %d from %s not supported", cmd.code,
                                      self.remote_addr)
                resp = cmd.response(ResponseCode.REQUEST_CODE_NOT_SUPPORTED,
                                    f" request type {cmd.code} not supported")
            else:
                resp = await handler(self, cmd)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            resp = self._failed(cmd, e)
        finally:
            self._inflight -= 1
        self._answer(cmd, resp, started)

    def _failed(self, cmd: RemotingCommand, e: Exception) -> RemotingCommand:
        """The answer to a request whose handler raised ``e`` (one rate-limited line)."""
        if isinstance(e, RemoteProtocolError):  # typically a header the decoder refused
            bad_input_log.warning(f"protocol:{cmd.code}", "request code %d from %s refused: %s",
                                  cmd.code, self.remote_addr, e)
            return cmd.response(e.response_code, str(e))
        bad_input_log.warning("handler", "handler for code %d from %s failed: %s: %.200s",
                              cmd.code, self.remote_addr, type(e).__name__, e)
        log.debug("handler for code %d failed", cmd.code, exc_info=True)
        return cmd.response(ResponseCode.SYSTEM_ERROR, f"{type(e).__name__}: {e}"[:500])

    def reply(self, cmd: RemotingCommand, resp: RemotingCommand | Exception,
              started: float) -> None:
        """The late answer to a request a fast handler PARKED (``started``: its
        ``time.perf_counter()`` on arrival); an exception is answered as a handler's would be.
        Dropped silently when the connection has closed meanwhile."""
        if isinstance(resp, Exception):
            resp = self._failed(cmd, resp)
        self._answer(cmd, resp, started)

    def _answer(self, cmd: RemotingCommand, resp: RemotingCommand | None,
                started: float) -> None:
        """Send ``resp`` unless the request was oneway, then log a refusal and tell the
        observer (after the write: the peer does not wait for the bookkeeping)."""
        if resp is not None and not cmd.is_oneway:
            self.send(resp)
        if resp is not None and resp.code in _REFUSALS:
            bad_input_log.warning(f"refused:{resp.code}:{cmd.code}",
                                  "request code %d from %s refused with %d: %s", cmd.code,
                                  self.remote_addr, resp.code, resp.remark)
        if self.on_response is not None:
            try:
                self.on_response(cmd.code, -1 if resp is None else resp.code,
                                 time.perf_counter() - started)
            except Exception:  # an observer must never break the connection
                log.debug("response observer failed", exc_info=True)

    # -- sending ------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    def send(self, cmd: RemotingCommand) -> None:
        """Write one frame (dropped silently when the connection is gone)."""
        if self._transport is None or self._transport.is_closing():
            return
        try:
            data = encode(cmd, self._max_frame)
        except Exception as e:  # our own frame too large: answer the peer with an error instead
            log.error("cannot encode frame code %d for %s: %s", cmd.code, self.remote_addr, e)
            if cmd.is_response:
                data = encode(RemotingCommand(code=ResponseCode.SYSTEM_ERROR, opaque=cmd.opaque,
                                              flag=cmd.flag, remark=str(e)))
            else:
                raise
        self.write(data)

    def write(self, data: bytes) -> None:
        """Write encoded frames: at once, or with the others of this read (see ``_cork``)."""
        if self._cork is not None:
            self._cork.append(data)
        elif self._transport is not None:
            self._transport.write(data)

    async def invoke(self, cmd: RemotingCommand, timeout: float | None) -> RemotingCommand:
        """Send a request and wait for its response (RemotingTimeoutError after ``timeout`` s;
        None waits until the response or the connection's end)."""
        if not self.is_open:
            raise RemotingClosedError(f"connection to {self.remote_addr} is closed")
        opaque = next(self._opaque) & 0x7FFFFFFF
        cmd = cmd.with_opaque(opaque)
        fut: asyncio.Future[RemotingCommand] = self._loop.create_future()
        self._pending[opaque] = fut
        if timeout is not None:
            due = self._loop.time() + timeout
            self._deadlines[opaque] = (due, cmd.code, timeout)
            if self._sweep is None or due < self._sweep_at:
                self._arm(due)
        try:
            self.send(cmd)
            if self.busy is not None:
                self.busy.kick(self._loop)
            return await fut
        finally:
            self._pending.pop(opaque, None)
            self._deadlines.pop(opaque, None)

    def _arm(self, due: float) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
        self._sweep_at = due
        self._sweep = self._loop.call_at(due, self._expire_due)

    def _expire_due(self) -> None:
        """Fail the requests whose deadline has passed; re-arm for the earliest left."""
        self._sweep = None
        now = self._loop.time() + 0.001  # a timer may fire a little early (ms resolution)
        earliest: float | None = None
        for opaque, (due, code, timeout) in list(self._deadlines.items()):
            if due <= now:
                del self._deadlines[opaque]
                fut = self._pending.get(opaque)
                if fut is not None and not fut.done():
                    fut.set_exception(RemotingTimeoutError(
                        f"no response to code {code} from {self.remote_addr} in "
                        f"{timeout:.1f}s"))
            elif earliest is None or due < earliest:
                earliest = due
        if earliest is not None:
            self._arm(earliest)

    def invoke_oneway(self, cmd: RemotingCommand) -> None:
        """Send a request flagged ONEWAY (no response expected)."""
        opaque = next(self._opaque) & 0x7FFFFFFF
        self.send(cmd.with_opaque(opaque, cmd.flag | FLAG_ONEWAY))

    def add_close_callback(self, cb: Callable[[Connection], None]) -> None:
        self._close_callbacks.append(cb)

    def close(self) -> None:
        if self._transport is not None:
            if self._cork:  # what was answered before the close still leaves, in order
                frames, self._cork = self._cork, []
                self._transport.write(b"".join(frames))
            self._transport.close()

    async def drain_tasks(self, timeout: float) -> None:
        """Wait (bounded) for in-flight request handlers."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)
