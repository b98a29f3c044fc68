"""SEND_MESSAGE (10), SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320)."""

from __future__ import annotations

import asyncio
import random
import zlib
from typing import TYPE_CHECKING

from pyrmq.broker.dedup import Stored
from pyrmq.broker.messages import (
    StoreRejected,
    batch_end,
    put_end,
    put_message,
    store_call,
    store_rejection,
    stored,
    stored_properties,
)
from pyrmq.broker.topics import (
    DLQ_PREFIX,
    RETRY_PREFIX,
    SCHEDULE_TOPIC,
    dlq_topic,
)
from pyrmq.protocol.codes import PermName, RequestCode, ResponseCode
from pyrmq.protocol.command import (
    DEFAULT_LANGUAGE,
    DEFAULT_VERSION,
    FLAG_RESPONSE,
    RemotingCommand,
)
from pyrmq.protocol.headers import (
    SEND_V2_NAMES,
    SendMessageRequestHeader,
    SendMessageResponseHeader,
)
from pyrmq.protocol.message import (
    MessageConst,
    decode_properties,
    decode_record,
)
from pyrmq.protocol.names import group_problem, topic_problem
from pyrmq.remoting import Connection, Later

if TYPE_CHECKING:
    from pyrmq.broker.context import BrokerContext
    from pyrmq.store import BatchPutResult


#: PermName.WRITE as a plain int: ``int & IntFlag`` goes through enum code (~1 µs a send)
_WRITE = int(PermName.WRITE)


def born_host_of(conn: Connection) -> tuple[str, int]:
    """The peer's (host, port), parsed once per connection."""
    cached = conn.attrs.get("born_host")
    if cached is not None and cached[0] == conn.remote_addr:
        return cached[1]  # type: ignore[no-any-return]
    host, _, port = conn.remote_addr.rpartition(":")
    try:
        born = (host or "127.0.0.1", int(port))
    except ValueError:
        born = ("127.0.0.1", 0)
    conn.attrs["born_host"] = (conn.remote_addr, born)
    return born


async def handle_send(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand
                      ) -> RemotingCommand:
    h = SendMessageRequestHeader.from_command(cmd)  # topic and groups are valid names here
    topic = h.topic
    if ctx.is_slave:
        return cmd.response(ResponseCode.SERVICE_NOT_AVAILABLE,
                            f"the broker[{ctx.cfg.brokerIP1}] sending message is forbidden")
    if not ctx.cfg.brokerPermission & _WRITE:
        return cmd.response(ResponseCode.NO_PERMISSION,
                            f"the broker[{ctx.cfg.brokerIP1}] sending message is forbidden")
    if topic == SCHEDULE_TOPIC:
        return cmd.response(ResponseCode.NO_PERMISSION,
                            f"Sending message to topic[{topic}] is forbidden.")
    tc = ctx.topics.get(topic)
    if tc is None:
        if topic.startswith(RETRY_PREFIX) or topic.startswith(DLQ_PREFIX):
            tc, _ = ctx.topics.ensure(topic, 1)
        else:
            tc = ctx.topics.create_from_default(topic, h.default_topic,
                                                   h.default_topic_queue_nums)
        if tc is None:
            return cmd.response(ResponseCode.TOPIC_NOT_EXIST,
                                f"topic[{topic}] not exist, apply first please!")
        ctx.register_soon()
    if not tc.perm & _WRITE:
        return cmd.response(ResponseCode.NO_PERMISSION,
                            f"the topic[{topic}] sending message is forbidden")
    queue_id = h.queue_id
    if queue_id >= max(tc.readQueueNums, tc.writeQueueNums):
        return cmd.response(ResponseCode.SYSTEM_ERROR,
                            f"request queueId[{queue_id}] is illegal, {tc.topicName} "
                            f"writeQueueNums {tc.writeQueueNums} readQueueNums "
                            f"{tc.readQueueNums}")
    if queue_id < 0:
        queue_id = random.randrange(tc.writeQueueNums)
    sysflag, flag, born_ts = h.sys_flag, h.flag, h.born_timestamp
    reconsume = h.reconsume_times or 0
    batch = bool(h.batch)
    props = decode_properties(h.properties or "")
    half = props.get(MessageConst.TRAN_MSG, "").lower() == "true"
    if topic.startswith(RETRY_PREFIX):
        group_name = topic[len(RETRY_PREFIX):]
        max_times = (ctx.cfg.retryMaxTimes if h.max_reconsume_times is None
                     else h.max_reconsume_times)
        if reconsume >= max_times:
            topic, queue_id = dlq_topic(group_name), 0
            ctx.topics.ensure(topic, 1)
            ctx.register_soon()
    born_host = born_host_of(conn)
    wait_slave = props.get(MessageConst.WAIT, "true").lower() != "false"  # read before storing
    uniq = props.get(MessageConst.UNIQ_KEY) if ctx.dedup is not None and not batch else None
    if uniq:
        dkey = ctx.dedup.key(topic, uniq)
        seen = ctx.dedup.lookup(dkey, lambda st: _stored_key(ctx, st) == uniq)
        if seen is not None:  # a retry of a message already stored: answer the first result
            return cmd.response(ResponseCode.SUCCESS, ext_fields=SendMessageResponseHeader(
                seen.msg_id, seen.queue_id, seen.queue_offset,
                uniq if half else None, ctx.cfg.regionId, ctx.cfg.traceOn))
    try:
        if half and not batch:
            if ctx.transactions is None:
                raise StoreRejected(ResponseCode.SERVICE_NOT_AVAILABLE,
                                    "transactional messages are not served here")
            first = await ctx.transactions.put_half(
                topic, queue_id, cmd.body, props, flag=flag, sysflag=sysflag,
                born_timestamp=born_ts, born_host=born_host)
            msg_id = first.msg_id
        elif batch:
            first = await _send_batch(ctx, topic, queue_id, cmd.body, props, sysflag,
                                      born_ts, born_host, reconsume)
            msg_id = first.msg_ids
        else:
            first = await put_message(ctx, topic, queue_id, cmd.body, props, flag=flag,
                                      sysflag=sysflag, born_timestamp=born_ts,
                                      born_host=born_host, reconsume_times=reconsume)
            msg_id = first.msg_id
    except StoreRejected as e:
        return cmd.response(e.code, str(e))
    if uniq:
        ctx.dedup.remember(dkey, Stored(first.phys_offset, msg_id, queue_id,
                                               first.queue_offset))
    code = ResponseCode.SUCCESS
    if ctx.cfg.brokerRole == "SYNC_MASTER" and ctx.ha_master is not None and wait_slave:
        end = batch_end(first) if batch else put_end(first)
        code = await ctx.ha_master.wait_replicated(end, ctx.cfg.slaveTimeout / 1000)
    return cmd.response(code, ext_fields=SendMessageResponseHeader(
        msg_id, queue_id, first.queue_offset,
        props.get(MessageConst.UNIQ_KEY) if half else None, ctx.cfg.regionId,
        ctx.cfg.traceOn))


def _digits(value: str | None, most: int) -> bool:
    """``value`` is 1..``most`` ASCII digits: a number every header parser reads the same."""
    return value is not None and 0 < len(value) <= most and value.isascii() and \
        value.isdigit()


_V2_KEYS = ("a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m")
#: the header fields send_fast reads, by request code: V2 letters, or the long names of
#: SEND_MESSAGE (10), which the C++ client sends
_FAST_KEYS = {RequestCode.SEND_MESSAGE_V2: _V2_KEYS,
              RequestCode.SEND_MESSAGE: tuple(SEND_V2_NAMES[k] for k in _V2_KEYS)}
_FALSE = ("false", "0")
_BOOLS = ("false", "true", "0", "1")


def send_fast(ctx: BrokerContext, conn: Connection, cmd: RemotingCommand
              ) -> RemotingCommand | Later | None:
    """The answer to the commonest request without a coroutine, or None for
    :func:`handle_send` to take it: a SEND_MESSAGE_V2 or SEND_MESSAGE of one plain message (no
    batch, transaction, delay, retry or reconsume) to an existing writable topic on an
    ASYNC_FLUSH master with no duplicate filter. Every header field it reads is one the typed
    header decoder would accept unchanged, and the message is stored exactly as handle_send
    stores it (same properties, same store call), so taking it or not changes nothing but
    time."""
    keys = _FAST_KEYS.get(cmd.code)
    if keys is None:
        return None
    (k_group, k_topic, k_default, k_nums, k_qid, k_sysflag, k_born, k_flag, k_props,
     k_reconsume, k_unit, k_max_reconsume, k_batch) = keys
    ext = cmd.ext_fields
    topic = ext.get(k_topic)
    tc = ctx.topics.get(topic) if topic is not None else None
    if tc is None or not tc.perm & _WRITE or topic[0] == "%" or topic == SCHEDULE_TOPIC:
        return None
    cfg = ctx.cfg
    if (ctx.dedup is not None or cfg.brokerRole != "ASYNC_MASTER"
            or not cfg.brokerPermission & _WRITE or ctx.sync_flush):
        return None
    qid, sysflag, born, flag = (ext.get(k_qid), ext.get(k_sysflag), ext.get(k_born),
                                ext.get(k_flag))
    if not (_digits(qid, 9) and _digits(sysflag, 9) and _digits(born, 18)
            and _digits(flag, 9) and _digits(ext.get(k_nums), 9)):
        return None
    if ext.get(k_reconsume, "0") != "0" or ext.get(k_batch, "false") not in _FALSE \
            or ext.get(k_unit, "false") not in _BOOLS or k_max_reconsume in ext:
        return None
    if (group_problem(ext.get(k_group)) is not None or topic_problem(topic) is not None
            or topic_problem(ext.get(k_default)) is not None):
        return None
    raw = ext.get(k_props) or ""
    if "TRAN_MSG\x01" in raw or "DELAY\x01" in raw:  # a false hit only costs the slow path
        return None
    queue_id = int(qid)
    if queue_id >= max(tc.readQueueNums, tc.writeQueueNums):
        return None
    body = cmd.body
    try:
        r = ctx.store.put(topic, queue_id, body,
                          properties=stored_properties(ctx, decode_properties(raw)),
                          flag=int(flag), sysflag=int(sysflag), born_timestamp=int(born),
                          born_host=born_host_of(conn))
    except Exception as e:  # the store's refusals, answered as store_call answers them
        rejected = store_rejection(e)
        if rejected is None:
            raise
        return cmd.response(rejected.code, str(rejected))
    woke = stored(ctx, topic, queue_id, 1, len(body))
    resp = _sent(cmd, r.msg_id, queue_id, r.queue_offset, cfg.regionId, cfg.traceOn)
    return Later(resp) if woke else resp  # the woken pulls answer first (see stored)


def _sent(cmd: RemotingCommand, msg_id: str, queue_id: int, queue_offset: int,
          region: str | None, trace_on: bool) -> RemotingCommand:
    """``cmd.response(SUCCESS, ext_fields=SendMessageResponseHeader(msg_id, queue_id,
    queue_offset, None, region, trace_on))`` without the header object (a test holds them
    equal)."""
    ext = {"msgId": msg_id, "queueId": str(queue_id), "queueOffset": str(queue_offset)}
    if region is not None:
        ext["MSG_REGION"] = region
    ext["TRACE_ON"] = "true" if trace_on else "false"
    return RemotingCommand(ResponseCode.SUCCESS, cmd.opaque, FLAG_RESPONSE, None, ext, b"",
                           DEFAULT_LANGUAGE, DEFAULT_VERSION, cmd.serialize_type)


def _stored_key(ctx: BrokerContext, stored: Stored) -> str | None:
    """UNIQ_KEY of the record at ``stored.phys_offset`` (None when it cannot be read)."""
    try:
        return decode_record(ctx.store.read_at(stored.phys_offset)).uniq_key
    except Exception:  # deleted by retention, or not a record: not a duplicate
        return None


async def _send_batch(ctx: BrokerContext, topic: str, queue_id: int, body: bytes,
                      container: dict[str, str], sysflag: int, born_ts: int,
                      born_host: tuple[str, int], reconsume: int) -> BatchPutResult:
    if sysflag & 1:  # the C++ client compresses a whole batch body over 4 KiB
        try:
            body = zlib.decompress(body)
        except zlib.error as e:
            raise StoreRejected(ResponseCode.MESSAGE_ILLEGAL, f"bad compressed batch: {e}") \
                from None
        sysflag &= ~1
    extra = stored_properties(ctx, container)

    def call(wait: bool):
        return ctx.store.put_batch(topic, queue_id, body, extra_properties=extra,
                                   sysflag=sysflag, born_timestamp=born_ts,
                                   born_host=born_host, reconsume_times=reconsume, wait=wait)
    result = await store_call(ctx, call, batch_end)
    if stored(ctx, topic, queue_id, result.count, len(body)):
        await asyncio.sleep(0)  # the woken pulls answer first (see stored)
    return result
