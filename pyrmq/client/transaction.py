"""TransactionProducer: half message, local transaction, END_TRANSACTION; answers the broker's
CHECK_TRANSACTION_STATE for transactions it left unknown (Java TransactionMQProducer)."""

from __future__ import annotations

import enum
import inspect
import logging
from collections.abc import Awaitable, Callable

from pyrmq.client.message import Message, SendResult, SendStatus
from pyrmq.client.producer import Producer, SendError
from pyrmq.protocol.codes import RequestCode
from pyrmq.protocol.command import RemotingCommand, request
from pyrmq.protocol.errors import ProtocolError
from pyrmq.protocol.headers import CheckTransactionStateRequestHeader, EndTransactionRequestHeader
from pyrmq.protocol.message import MessageConst, MessageExt, decode_record, parse_offset_msg_id
from pyrmq.remoting import Connection

log = logging.getLogger("pyrmq.client")


class LocalTransactionState(enum.Enum):
    COMMIT_MESSAGE = 8
    ROLLBACK_MESSAGE = 12
    UNKNOW = 0


Checker = Callable[[MessageExt], "LocalTransactionState | Awaitable[LocalTransactionState]"]


async def _call(fn, arg) -> LocalTransactionState:
    try:
        r = fn(arg)
        if inspect.isawaitable(r):
            r = await r
        return LocalTransactionState(r)
    except Exception:
        log.exception("transaction callback failed; state unknown")
        return LocalTransactionState.UNKNOW


class TransactionProducer(Producer):
    """``send_in_transaction(msg, execute)`` sends a half message, runs ``execute(msg)`` and
    commits or rolls back by its result; ``check(msg_ext)`` answers the broker's check-backs."""

    def __init__(self, group: str, namesrv: str | list[str], check: Checker,
                 **kw: object) -> None:
        super().__init__(group, namesrv, **kw)  # type: ignore[arg-type]
        self.check = check
        self._announced: dict[str, Connection] = {}  # broker address -> connection heartbeated
        self.remoting.handlers[RequestCode.CHECK_TRANSACTION_STATE] = self._on_check

    async def send_in_transaction(
            self, msg: Message,
            execute: Callable[[Message], LocalTransactionState
                              | Awaitable[LocalTransactionState]]
    ) -> tuple[SendResult, LocalTransactionState]:
        if msg.delay_level:
            raise ValueError("transactional messages cannot have a delay level")
        msg.properties[MessageConst.TRAN_MSG] = "true"
        msg.properties[MessageConst.PGROUP] = self.group
        result = await self.send(msg)
        if result.status is not SendStatus.SEND_OK:
            raise SendError(f"half message not stored: {result.status.name}")
        addr = self.routes[msg.topic].master(result.queue.broker_name)
        if addr:
            await self._announce(addr)
        state = await _call(execute, msg)
        _, _, phys = parse_offset_msg_id(result.offset_msg_id)
        if addr:
            await self.remoting.invoke_oneway(addr, request(
                RequestCode.END_TRANSACTION, EndTransactionRequestHeader(
                    self.group, result.queue_offset, phys, state.value, result.msg_id,
                    from_transaction_check=False, transaction_id=result.msg_id).to_ext()))
        return result, state

    async def _announce(self, addr: str) -> None:
        """A heartbeat before the first transaction over each connection to a broker: its
        check-backs go to the channels it knows for this group, and the periodic heartbeat
        may not have reached a broker (or a new connection to it) yet. Once per connection,
        not per transaction (a round trip each, as Java's client does not make)."""
        conn = await self.remoting.connection(addr)
        if self._announced.get(addr) is not conn:
            await self.heartbeat()
            self._announced[addr] = conn

    async def _on_check(self, conn: Connection, cmd: RemotingCommand) -> None:
        """CHECK_TRANSACTION_STATE: ask ``check`` and answer END_TRANSACTION (oneway)."""
        try:
            h = CheckTransactionStateRequestHeader.from_ext(cmd.ext_fields)
            msg = decode_record(cmd.body)
        except ProtocolError as e:
            log.warning("ignored a bad transaction check from %s: %s", conn.remote_addr, e)
            return None
        state = await _call(self.check, msg)
        conn.invoke_oneway(request(RequestCode.END_TRANSACTION, EndTransactionRequestHeader(
            self.group, h.tran_state_table_offset, h.commit_log_offset, state.value,
            h.msg_id or "", from_transaction_check=True,
            transaction_id=h.transaction_id or "").to_ext()))
        return None


__all__ = ["LocalTransactionState", "TransactionProducer"]
