"""A PushConsumer's answers to the admin requests a broker relays to it (4.9
ClientRemotingProcessor): GET_CONSUMER_RUNNING_INFO (307) and CONSUME_MESSAGE_DIRECTLY (309)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import pyrmq
from pyrmq.protocol.admin import ConsumeMessageDirectlyResult
from pyrmq.protocol.codes import RequestCode, ResponseCode
from pyrmq.protocol.command import RemotingCommand
from pyrmq.protocol.errors import RemoteProtocolError
from pyrmq.protocol.headers import (
    ConsumeMessageDirectlyResultRequestHeader,
    GetConsumerRunningInfoRequestHeader,
)
from pyrmq.protocol.message import decode_record
from pyrmq.protocol.stats import ConsumerRunningInfo
from pyrmq.remoting import Connection

if TYPE_CHECKING:
    from pyrmq.client.push_consumer import PushConsumer

log = logging.getLogger("pyrmq.client")

CLIENT_VERSION = "V4_9_8"  # the Java client version pyrmq speaks as


class AdminAnswers:
    """Handlers for the consumer's remoting table: ``handlers()`` maps code -> handler."""

    def __init__(self, consumer: PushConsumer) -> None:
        self.consumer = consumer
        self.started_ms = int(time.time() * 1000)  # PROP_CONSUMER_START_TIMESTAMP; reset by start()

    def handlers(self) -> dict[int, object]:
        return {RequestCode.GET_CONSUMER_RUNNING_INFO: self.running_info,
                RequestCode.CONSUME_MESSAGE_DIRECTLY: self.consume_directly}

    def _wrong_group(self, cmd: RemotingCommand, group: str) -> RemotingCommand | None:
        if group != self.consumer.group:
            return cmd.response(ResponseCode.SYSTEM_ERROR,
                                f"The Consumer Group <{group}> not exist in this consumer")
        return None

    def running_info_body(self) -> ConsumerRunningInfo:
        """This consumer's properties, subscriptions and owned queues."""
        c = self.consumer
        props = {
            "PROP_NAMESERVER_ADDR": ";".join(c.namesrv.addrs),
            "PROP_THREADPOOL_CORE_SIZE": str(c.concurrency),
            "PROP_CONSUMEORDERLY": str(bool(c.orderly)).lower(),
            "PROP_CONSUME_TYPE": "CONSUME_PASSIVELY",
            "PROP_CLIENT_VERSION": CLIENT_VERSION,
            "PROP_CONSUMER_START_TIMESTAMP": str(self.started_ms),
            "consumerGroup": c.group, "messageModel": c.model.value,
            "consumeFromWhere": c.consume_from.value,
            "maxReconsumeTimes": str(c.max_reconsume_times),
            "clientVersion": f"pyrmq {pyrmq.__version__}",
        }
        # pyrmq keeps no message cache per queue and does not time pulls: the cache fields are 0
        # and the pull/consume times "now", so Java's analysis does not report a stuck queue
        now = int(time.time() * 1000)
        mq_table = {}
        for mq in sorted(c.rebalancer.pullers):
            off = c.offsets.get(mq, -1)
            mq_table[mq] = {
                "cachedMsgCount": 0, "cachedMsgMaxOffset": 0, "cachedMsgMinOffset": 0,
                "cachedMsgSizeInMiB": 0, "commitOffset": off, "droped": False,
                "lastConsumeTimestamp": now, "lastLockTimestamp": 0, "lastPullTimestamp": now,
                "locked": bool(c.orderly), "transactionMsgCount": 0,
                "transactionMsgMaxOffset": 0, "transactionMsgMinOffset": 0, "tryUnlockTimes": 0}
        status = {t: {"consumeFailedMsgs": 0, "consumeFailedTPS": 0.0, "consumeOKTPS": 0.0,
                      "consumeRT": 0.0, "pullRT": 0.0, "pullTPS": 0.0}
                  for t in sorted(c.subscriptions)}
        return ConsumerRunningInfo(props, [s.to_dict() for s in c.subscriptions.values()],
                                   mq_table, status)

    async def running_info(self, conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
        h = GetConsumerRunningInfoRequestHeader.from_ext(cmd.ext_fields)
        wrong = self._wrong_group(cmd, h.consumer_group)
        if wrong is not None:
            return wrong
        return cmd.response(ResponseCode.SUCCESS, body=self.running_info_body().to_json())

    async def consume_directly(self, conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
        """Hand the message in the body to the listener once (no offset, no retry) and say how
        it went, as Java's consumeMessageDirectly."""
        from pyrmq.client.message import ConsumeStatus
        from pyrmq.client.push_consumer import restore_retry_topic

        h = ConsumeMessageDirectlyResultRequestHeader.from_ext(cmd.ext_fields)
        wrong = self._wrong_group(cmd, h.consumer_group)
        if wrong is not None:
            return wrong
        try:
            msg = restore_retry_topic(decode_record(cmd.body))
        except (RemoteProtocolError, ValueError) as e:
            return cmd.response(ResponseCode.SYSTEM_ERROR, f"bad message body: {e}")
        c = self.consumer
        if c.listener is None:
            return cmd.response(ResponseCode.SYSTEM_ERROR, "the consumer has no listener")
        start = time.monotonic()
        remark = None
        try:
            status = await c.invoke_listener(msg)
            result = ("CR_RETURN_NULL" if status is None else "CR_SUCCESS"
                      if status is ConsumeStatus.CONSUME_SUCCESS else "CR_LATER")
        except Exception as e:  # the listener's failure is the answer, not ours
            result, remark = "CR_THROW_EXCEPTION", repr(e)
        spent = int((time.monotonic() - start) * 1000)
        log.info("consumed %s directly for an admin: %s", msg.msg_id, result)
        body = ConsumeMessageDirectlyResult(result, bool(c.orderly), True, remark, spent)
        return cmd.response(ResponseCode.SUCCESS, body=body.to_json())
