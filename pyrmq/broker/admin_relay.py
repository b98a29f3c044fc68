"""Admin requests the broker relays to one consumer client (4.9 AdminBrokerProcessor.callConsumer):
GET_CONSUMER_RUNNING_INFO (307) and CONSUME_MESSAGE_DIRECTLY (309, with the stored message put in
the body). The client's answer is returned to the admin as it is."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pyrmq import _store
from pyrmq.protocol.codes import ResponseCode
from pyrmq.protocol.command import RemotingCommand, request
from pyrmq.protocol.headers import (
    ConsumeMessageDirectlyResultRequestHeader,
    GetConsumerRunningInfoRequestHeader,
)
from pyrmq.remoting import Connection, RemotingError, RemotingTimeoutError

if TYPE_CHECKING:
    from pyrmq.broker.context import BrokerContext

log = logging.getLogger("pyrmq.broker")

RELAY_TIMEOUT = 10.0  # Java waits 10 s for the consumer's answer
CONSUME_MSG_TIMEOUT = 207


async def _call_consumer(ctx: BrokerContext, cmd: RemotingCommand, group: str, client_id: str,
                         body: bytes) -> RemotingCommand:
    info = ctx.consumers.groups.get(group)
    ch = next((c for c in info.channels.values() if c.client_id == client_id), None) \
        if info else None
    if ch is None:
        return cmd.response(ResponseCode.SYSTEM_ERROR,
                            f"The Consumer <{group}> <{client_id}> not online")
    relay = request(cmd.code, dict(cmd.ext_fields or {}), body)
    try:
        answer = await ch.conn.invoke(relay, RELAY_TIMEOUT)
    except RemotingTimeoutError:
        return cmd.response(CONSUME_MSG_TIMEOUT,
                            f"consumer <{group}> <{client_id}> Timeout: {RELAY_TIMEOUT:g} s")
    except (RemotingError, OSError) as e:
        log.info("relay of code %d to %s failed: %s", cmd.code, client_id, e)
        return cmd.response(ResponseCode.SYSTEM_ERROR,
                            f"invoke consumer <{group}> <{client_id}> Exception: {e}")
    return cmd.response(answer.code, answer.remark, body=answer.body)


async def consumer_running_info(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand
                                ) -> RemotingCommand:
    h = GetConsumerRunningInfoRequestHeader.from_ext(cmd.ext_fields)
    return await _call_consumer(ctx, cmd, h.consumer_group, h.client_id, b"")


async def consume_message_directly(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand
                                   ) -> RemotingCommand:
    h = ConsumeMessageDirectlyResultRequestHeader.from_ext(cmd.ext_fields)
    try:
        body = ctx.store.view_by_msg_id(h.msg_id or "")
    except (_store.StoreError, ValueError):
        return cmd.response(ResponseCode.SYSTEM_ERROR,
                            f"can not find message by the msgId, {h.msg_id}")
    return await _call_consumer(ctx, cmd, h.consumer_group, h.client_id or "", body)
