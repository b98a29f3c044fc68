"""PULL_MESSAGE (11) with tag and SQL92 filtering and long polling (RocketMQ
PullMessageProcessor). ``start_pull`` is the one implementation: it answers at once or parks the
pull in the broker's PullHold as a callback that answers it later (no Task per held pull);
``pull_fast`` is it as the connection's fast handler, ``handle_pull`` as a coroutine."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from pyrmq.filter import sql92
from pyrmq.protocol.bodies import SubscriptionData, parse_subscription
from pyrmq.protocol.codes import PermName, PullSysFlag, ResponseCode
from pyrmq.protocol.command import RemotingCommand
from pyrmq.protocol.errors import RemoteProtocolError
from pyrmq.protocol.headers import PullMessageRequestHeader, PullMessageResponseHeader
from pyrmq.protocol.message import decode_record
from pyrmq.remoting import PARKED, Connection
from pyrmq.store import GetMessageStatus, GetResult

if TYPE_CHECKING:
    from pyrmq.broker.context import BrokerContext

log = logging.getLogger("pyrmq.broker")

MAX_SUSPEND_S = 25.0  # the C++ client gives up on a pull after 30 s
MAX_MSGS_PER_PULL = 32

# plain ints: `int & IntFlag` builds a flag object on every test
_READ = int(PermName.READ)
_SUBSCRIPTION = int(PullSysFlag.SUBSCRIPTION)
_COMMIT_OFFSET = int(PullSysFlag.COMMIT_OFFSET)
_SUSPEND = int(PullSysFlag.SUSPEND)
_NOT_FOUND = int(ResponseCode.PULL_NOT_FOUND)
_RETRY = int(ResponseCode.PULL_RETRY_IMMEDIATELY)
_SUCCESS = int(ResponseCode.SUCCESS)

#: gets a parked pull's answer (or the exception its handling raised)
Deliver = Callable[["RemotingCommand | Exception"], None]

_CODE = {
    GetMessageStatus.FOUND: ResponseCode.SUCCESS,
    GetMessageStatus.NO_MATCHED_MESSAGE: ResponseCode.PULL_RETRY_IMMEDIATELY,
    GetMessageStatus.MESSAGE_WAS_REMOVING: ResponseCode.PULL_RETRY_IMMEDIATELY,
    GetMessageStatus.OFFSET_FOUND_NULL: ResponseCode.PULL_NOT_FOUND,
    GetMessageStatus.OFFSET_OVERFLOW_ONE: ResponseCode.PULL_NOT_FOUND,
    GetMessageStatus.OFFSET_OVERFLOW_BADLY: ResponseCode.PULL_OFFSET_MOVED,
    GetMessageStatus.OFFSET_TOO_SMALL: ResponseCode.PULL_OFFSET_MOVED,
}


def property_filter(ctx: BrokerContext, sub: SubscriptionData
                    ) -> tuple[sql92.Expr | None, str | None]:
    """(compiled expression, None) for a SQL92 subscription, (None, None) for tags, or
    (None, refusal remark) -- Java's checks: the broker must enable property filtering and the
    expression must compile."""
    if sub.expression_type in ("", "TAG"):
        return None, None
    if sub.expression_type != "SQL92" or not ctx.cfg.enablePropertyFilter:
        return None, (f"The broker does not support consumer to filter message by "
                      f"{sub.expression_type}")
    try:
        return sql92.compile(sub.sub_string), None
    except sql92.SqlSyntaxError as e:
        return None, f"parse the consumer's subscription[{sub.sub_string}] failed: {e}"


def _matching(res: GetResult, expr: sql92.Expr) -> GetResult:
    """``res`` with only the records whose properties (TAGS among them) match ``expr``; the
    next offset still passes every record read. None matching = NO_MATCHED_MESSAGE."""
    keep, pos, data = [], 0, res.data
    while pos < len(data):
        try:
            m = decode_record(data, pos)
        except RemoteProtocolError:
            break
        if expr.evaluate(m.properties):
            keep.append(data[pos:pos + m.size])
        pos += m.size
    if len(keep) == res.count:
        return res
    status = GetMessageStatus.FOUND if keep else GetMessageStatus.NO_MATCHED_MESSAGE
    return GetResult(status, res.next_begin_offset, res.min_offset, res.max_offset,
                     len(keep), b"".join(keep))


def _code(res: GetResult, offset: int) -> int:
    if res.status in (GetMessageStatus.NO_MESSAGE_IN_QUEUE,
                      GetMessageStatus.NO_MATCHED_LOGIC_QUEUE):
        return ResponseCode.PULL_OFFSET_MOVED if offset != 0 else ResponseCode.PULL_NOT_FOUND
    return _CODE[res.status]


def corrects_offsets(ctx: BrokerContext) -> bool:
    """Java's nextOffsetCorrection guard: a master corrects a pull's offset, a SLAVE only with
    offsetCheckInSlave (its consume queue may simply not have caught up yet)."""
    return not ctx.is_slave or ctx.store_cfg.offsetCheckInSlave


def slave_answer(code: int, res: GetResult, offset: int) -> tuple[int, int]:
    """(code, next offset) on a slave that does not correct offsets (4.9 DefaultMessageStore
    + PullMessageProcessor): every status but FOUND / NO_MATCHED_MESSAGE keeps the requested
    offset, and an OFFSET_MOVED becomes PULL_RETRY_IMMEDIATELY -- a consumer ahead of the slave
    waits for it instead of being sent back to 0."""
    if res.status in (GetMessageStatus.FOUND, GetMessageStatus.NO_MATCHED_MESSAGE,
                      GetMessageStatus.MESSAGE_WAS_REMOVING):
        return code, res.next_begin_offset
    if code == ResponseCode.PULL_OFFSET_MOVED:
        return ResponseCode.PULL_RETRY_IMMEDIATELY, offset
    return code, offset


def suggest_broker(ctx: BrokerContext, gcfg: dict, res: GetResult, topic: str,
                   queue_id: int) -> int:
    """suggestWhichBrokerId (4.9): with slaveReadEnable, the group's
    whichBrokerWhenConsumeSlowly when the consumer reads more than
    accessMessageInMemoryMaxRatio % of physical memory behind the commitlog end, else the
    group's brokerId; without it always the master (0)."""
    if not ctx.cfg.slaveReadEnable:
        return 0
    if res.status == GetMessageStatus.FOUND and res.count:
        phys = ctx.store.phys_of(topic, queue_id, res.next_begin_offset - 1)
        limit = ctx.memory_bytes * ctx.store_cfg.accessMessageInMemoryMaxRatio / 100.0
        if phys >= 0 and ctx.store.max_phys_offset() - phys > limit:
            return int(gcfg.get("whichBrokerWhenConsumeSlowly", 1))
    return int(gcfg.get("brokerId", 0))


class _Pull:
    """What one pull needs to read again and be answered, once its checks passed."""

    __slots__ = ("ctx", "cmd", "gcfg", "topic", "queue_id", "offset", "max_msgs", "codes",
                 "expr", "deadline", "deliver")

    def __init__(self, ctx: BrokerContext, cmd: RemotingCommand, gcfg: dict, topic: str,
                 queue_id: int, offset: int, max_msgs: int, codes: frozenset[int] | None,
                 expr: sql92.Expr | None) -> None:
        self.ctx, self.cmd, self.gcfg = ctx, cmd, gcfg
        self.topic, self.queue_id, self.offset, self.max_msgs = topic, queue_id, offset, max_msgs
        self.codes, self.expr = codes, expr
        self.deadline = 0.0
        self.deliver: Deliver | None = None

    def fetch(self) -> tuple[GetResult, int]:
        got = self.ctx.store.get(self.topic, self.queue_id, self.offset, self.max_msgs,
                                 tag_codes=self.codes)
        if self.expr is not None and got.status == GetMessageStatus.FOUND:
            got = _matching(got, self.expr)
        return got, _code(got, self.offset)

    def answer(self, res: GetResult, code: int) -> RemotingCommand:
        ctx, cmd = self.ctx, self.cmd
        nxt = res.next_begin_offset
        if not corrects_offsets(ctx):
            code, nxt = slave_answer(code, res, self.offset)
        fields = PullMessageResponseHeader(
            suggest_broker(ctx, self.gcfg, res, self.topic, self.queue_id), nxt,
            res.min_offset, res.max_offset)
        if code == _SUCCESS:
            ctx.stats.get(self.topic, res.count)
            return cmd.response(code, ext_fields=fields, body=res.data)
        return cmd.response(code, ext_fields=fields)

    def may_hold(self) -> bool:
        return not self.ctx.closing and not self.ctx.holds.full

    def wake(self, woken: bool) -> None:
        """PullHold's callback: read again; a pull woken with time left that still finds
        nothing (or only messages its filter refuses) is parked again, any other is answered."""
        try:
            res, code = self.fetch()
            if woken and (code == _NOT_FOUND or code == _RETRY) and self.may_hold():
                left = self.deadline - time.monotonic()
                if left > 0:
                    self.ctx.holds.park(self.topic, self.queue_id, left, self.wake)
                    return
            resp: RemotingCommand | Exception = self.answer(res, code)
        except Exception as e:  # answered as a handler's exception is
            resp = e
        try:
            self.deliver(resp)  # type: ignore[misc]
        except Exception:  # a broken connection must not break the put that woke it
            log.exception("answering a held pull of %s failed", self.topic)


def start_pull(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand, deliver: Deliver
               ) -> RemotingCommand | None:
    """The pull's answer, or None when it is held: ``deliver`` then gets the answer (on the
    loop, from a put to its queue or its suspend time running out)."""
    h = PullMessageRequestHeader.from_ext(cmd.ext_fields)
    group, topic, queue_id, offset = h.consumer_group, h.topic, h.queue_id, h.queue_offset
    max_msgs = max(1, min(h.max_msg_nums, MAX_MSGS_PER_PULL))
    sysflag = h.sys_flag
    if not ctx.cfg.brokerPermission & _READ:
        return cmd.response(ResponseCode.NO_PERMISSION,
                            f"the broker[{ctx.cfg.brokerIP1}] pulling message is forbidden")
    gcfg = ctx.groups.find(group)
    if gcfg is None:
        return cmd.response(ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST,
                            f"subscription group [{group}] does not exist")
    if not gcfg.get("consumeEnable", True):
        return cmd.response(ResponseCode.NO_PERMISSION,
                            f"subscription group no permission, {group}")
    tc = ctx.topics.get(topic)
    if tc is None and not (ctx.is_slave and queue_id >= 0
                           and ctx.store.max_offset(topic, queue_id) > 0):
        return cmd.response(ResponseCode.TOPIC_NOT_EXIST,
                            f"topic[{topic}] not exist, apply first please!")
    # (a slave serves a replicated queue of a topic whose config it has not synced yet: the
    # master may have died within the 10 s sync period of creating it)
    if tc is not None and not tc.perm & _READ:
        return cmd.response(ResponseCode.NO_PERMISSION,
                            f"the topic[{topic}] pulling message is forbidden")
    if tc is not None and (queue_id < 0 or queue_id >= tc.readQueueNums):
        return cmd.response(ResponseCode.SYSTEM_ERROR,
                            f"queueId[{queue_id}] is illegal, topic:[{topic}] topicConfig."
                            f"readQueueNums:[{tc.readQueueNums}] consumer:[{conn.remote_addr}]")
    if sysflag & _SUBSCRIPTION:
        sub = parse_subscription(topic, h.subscription or "*", h.sub_version, h.expression_type)
    else:
        sub = ctx.consumers.subscription(group, topic)
        if sub is None:
            return cmd.response(ResponseCode.SUBSCRIPTION_NOT_EXIST,
                                f"the consumer's subscription not exist, group: {group}")
    expr, refused = property_filter(ctx, sub)
    if refused is not None:
        code = (ResponseCode.SUBSCRIPTION_PARSE_FAILED if "parse" in refused
                else ResponseCode.SYSTEM_ERROR)
        return cmd.response(code, refused)
    p = _Pull(ctx, cmd, gcfg, topic, queue_id, offset, max_msgs,
              None if sub.match_all else sub.code_set, expr)
    if sysflag & _COMMIT_OFFSET and not ctx.is_slave:
        if h.commit_offset >= 0:
            ctx.offsets.commit(group, topic, queue_id, h.commit_offset)
    res, code = p.fetch()
    if code == _NOT_FOUND and sysflag & _SUSPEND and p.may_hold():
        if ctx.cfg.longPollingEnable:
            hold = min(h.suspend_timeout_millis / 1000.0, MAX_SUSPEND_S)
        else:
            hold = ctx.cfg.shortPollingTimeMills / 1000.0
        if hold > 0:
            p.deadline = time.monotonic() + hold
            p.deliver = deliver
            ctx.holds.park(topic, queue_id, hold, p.wake)
            return None
    return p.answer(res, code)


def pull_fast(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand
              ) -> RemotingCommand | object:
    """PULL_MESSAGE as the connection's fast handler: answered now, or PARKED and answered
    through ``conn.reply`` when its hold ends (a held pull costs no Task and does not count
    against the connection's requests in flight)."""
    resp = start_pull(ctx, conn, cmd,
                      functools.partial(conn.reply, cmd, started=time.perf_counter()))
    return PARKED if resp is None else resp


async def handle_pull(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand
                      ) -> RemotingCommand:
    """``start_pull`` as a coroutine: returns the answer, held or not (a held pull's request is
    parked on the connection meanwhile, see ``Connection.parked``)."""
    fut: asyncio.Future[RemotingCommand] = asyncio.get_running_loop().create_future()

    def deliver(resp: RemotingCommand | Exception) -> None:
        if fut.done():
            return
        if isinstance(resp, Exception):
            fut.set_exception(resp)
        else:
            fut.set_result(resp)
    resp = start_pull(ctx, conn, cmd, deliver)
    if resp is not None:
        return resp
    with conn.parked():
        return await fut
