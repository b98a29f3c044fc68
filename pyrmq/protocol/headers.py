"""Typed request/response custom headers (Java 4.9's ``common/protocol/header/**`` field names
and types), the one model the broker, the NameServer and the admin CLI read and build extFields
with. Send headers arrive in V1 (long names, code 10) or V2 (letters, codes 310/320) form;
:meth:`SendMessageRequestHeader.from_command` reads both with code generated for each."""

from __future__ import annotations

import dataclasses

from pyrmq.protocol.codes import RequestCode, ResponseCode
from pyrmq.protocol.command import RemotingCommand
from pyrmq.protocol.headerbase import I32, I64, _compile, _compile_to_ext, _header, name
from pyrmq.protocol.headerbase import Header as Header
from pyrmq.protocol.headerbase import _spec as _spec

SEND_V2_NAMES = {
    "a": "producerGroup", "b": "topic", "c": "defaultTopic", "d": "defaultTopicQueueNums",
    "e": "queueId", "f": "sysFlag", "g": "bornTimestamp", "h": "flag", "i": "properties",
    "j": "reconsumeTimes", "k": "unitMode", "l": "maxReconsumeTimes", "m": "batch",
    "n": "brokerName",
}
_V2_LETTERS = {v: k for k, v in SEND_V2_NAMES.items()}


@_header
class SendMessageRequestHeader(Header):
    """SEND_MESSAGE (10, long names) / SEND_MESSAGE_V2 (310) / SEND_BATCH_MESSAGE (320, letters)."""

    producer_group: str = name("pgroup")
    topic: str = name("topic")
    default_topic: str = name("topic")
    default_topic_queue_nums: I32
    queue_id: I32
    sys_flag: I32
    born_timestamp: I64
    flag: I32
    properties: str | None = None
    reconsume_times: I32 | None = None
    unit_mode: bool | None = None
    batch: bool | None = None
    max_reconsume_times: I32 | None = None

    @classmethod
    def from_command(cls, cmd: RemotingCommand) -> SendMessageRequestHeader:
        """V1 names for code 10, V2 letters for 310/320 (320 implies batch)."""
        code = cmd.code
        if code == RequestCode.SEND_MESSAGE_V2:
            return _send_from_v2(cls, cmd.ext_fields)
        if code == RequestCode.SEND_BATCH_MESSAGE:
            return _send_from_batch(cls, cmd.ext_fields)
        return cls.from_ext(cmd.ext_fields)

    def to_ext_v2(self) -> dict[str, str]:
        """The letter-named (V2) extFields."""
        return _send_to_v2(self)


_send_from_v2 = _compile(SendMessageRequestHeader, _V2_LETTERS)
_send_from_batch = _compile(SendMessageRequestHeader, _V2_LETTERS, {"batch": "true"})
_send_to_v2 = _compile_to_ext(SendMessageRequestHeader, _V2_LETTERS)


@_header
class SendMessageResponseHeader(Header):
    """The send response; MSG_REGION / TRACE_ON are the extra fields Java's processor adds."""

    msg_id: str
    queue_id: I32
    queue_offset: I64
    transaction_id: str | None = None
    msg_region: str | None = dataclasses.field(default=None, metadata={"wire": "MSG_REGION"})
    trace_on: bool | None = dataclasses.field(default=None, metadata={"wire": "TRACE_ON"})


@_header
class PullMessageRequestHeader(Header):
    consumer_group: str = name("group")
    topic: str = name("topic")
    queue_id: I32
    queue_offset: I64
    max_msg_nums: I32
    sys_flag: I32
    commit_offset: I64
    suspend_timeout_millis: I64
    sub_version: I64
    subscription: str | None = None
    expression_type: str | None = None


@_header
class PullMessageResponseHeader(Header):
    suggest_which_broker_id: I64
    next_begin_offset: I64
    min_offset: I64
    max_offset: I64


@_header
class QueryConsumerOffsetRequestHeader(Header):
    consumer_group: str = name("group")
    topic: str = name("topic")
    queue_id: I32


@_header
class QueryConsumerOffsetResponseHeader(Header):
    offset: I64 | None = None


@_header
class UpdateConsumerOffsetRequestHeader(Header):
    consumer_group: str = name("group")
    topic: str = name("topic")
    queue_id: I32
    commit_offset: I64


@_header
class GetMaxOffsetRequestHeader(Header):
    topic: str = name("topic")
    queue_id: I32


@_header
class GetMinOffsetRequestHeader(Header):
    topic: str = name("topic")
    queue_id: I32


@_header
class OffsetResponseHeader(Header):
    """Response of GET_MAX_OFFSET, GET_MIN_OFFSET and SEARCH_OFFSET_BY_TIMESTAMP."""

    offset: I64


@_header
class SearchOffsetRequestHeader(Header):
    topic: str = name("topic")
    queue_id: I32
    timestamp: I64


@_header
class GetEarliestMsgStoretimeRequestHeader(Header):
    topic: str = name("topic")
    queue_id: I32


@_header
class GetEarliestMsgStoretimeResponseHeader(Header):
    timestamp: I64


@_header
class ViewMessageRequestHeader(Header):
    offset: I64


@_header
class QueryMessageRequestHeader(Header):
    topic: str = name("topic")
    key: str
    max_num: I32
    begin_timestamp: I64
    end_timestamp: I64
    unique_key_query: bool | None = dataclasses.field(
        default=None, metadata={"wire": "_UNIQUE_KEY_QUERY"})  # MixAll.UNIQUE_MSG_QUERY_FLAG


@_header
class QueryMessageResponseHeader(Header):
    index_last_update_timestamp: I64
    index_last_update_phyoffset: I64


@_header
class UnregisterClientRequestHeader(Header):
    client_id: str = dataclasses.field(metadata={"wire": "clientID"})
    producer_group: str | None = name("pgroup", default=None)
    consumer_group: str | None = name("group", default=None)


@_header
class GetConsumerListByGroupRequestHeader(Header):
    consumer_group: str = name("group")


@_header
class ConsumerSendMsgBackRequestHeader(Header):
    offset: I64
    group: str = name("group")
    delay_level: I32
    origin_msg_id: str | None = None
    origin_topic: str | None = name("topic", default=None)
    unit_mode: bool = False
    max_reconsume_times: I32 | None = None


@_header
class NotifyConsumerIdsChangedRequestHeader(Header):
    consumer_group: str = name("group")


@_header
class GetConsumerRunningInfoRequestHeader(Header):
    consumer_group: str = name("group")
    client_id: str
    jstack_enable: bool | None = None


@_header
class EndTransactionRequestHeader(Header):
    producer_group: str = name("pgroup")
    tran_state_table_offset: I64
    commit_log_offset: I64
    commit_or_rollback: I32
    msg_id: str
    from_transaction_check: bool = False
    transaction_id: str | None = None


@_header
class CheckTransactionStateRequestHeader(Header):
    tran_state_table_offset: I64
    commit_log_offset: I64
    msg_id: str | None = None
    transaction_id: str | None = None
    offset_msg_id: str | None = None


@_header
class RegisterBrokerRequestHeader(Header):
    broker_name: str
    broker_addr: str
    cluster_name: str
    ha_server_addr: str
    broker_id: I64
    compressed: bool = False
    body_crc32: I32 = 0


@_header
class RegisterBrokerResponseHeader(Header):
    ha_server_addr: str | None = None
    master_addr: str | None = None


@_header
class UnRegisterBrokerRequestHeader(Header):
    broker_name: str
    broker_addr: str
    cluster_name: str
    broker_id: I64


@_header
class QueryDataVersionRequestHeader(Header):
    broker_name: str
    broker_addr: str
    cluster_name: str
    broker_id: I64


@_header
class QueryDataVersionResponseHeader(Header):
    changed: bool


@_header
class GetRouteInfoRequestHeader(Header):
    topic: str = name("topic", refuse=ResponseCode.TOPIC_NOT_EXIST)


@_header
class DeleteTopicFromNamesrvRequestHeader(Header):
    topic: str = name("topic")


@_header
class PutKVConfigRequestHeader(Header):
    namespace: str
    key: str
    value: str


@_header
class GetKVConfigRequestHeader(Header):
    namespace: str
    key: str


@_header
class GetKVConfigResponseHeader(Header):
    value: str | None = None


@_header
class DeleteKVConfigRequestHeader(Header):
    namespace: str
    key: str


@_header
class GetKVListByNamespaceRequestHeader(Header):
    namespace: str


@_header
class WipeWritePermOfBrokerRequestHeader(Header):
    broker_name: str


@_header
class WipeWritePermOfBrokerResponseHeader(Header):
    wipe_topic_count: I32


@_header
class CreateTopicRequestHeader(Header):
    """UPDATE_AND_CREATE_TOPIC (17)."""

    topic: str = name("topic")
    default_topic: str = name("topic")
    read_queue_nums: I32
    write_queue_nums: I32
    perm: I32
    topic_filter_type: str
    topic_sys_flag: I32 | None = None
    order: bool = False


@_header
class DeleteTopicRequestHeader(Header):
    topic: str = name("topic")


@_header
class DeleteSubscriptionGroupRequestHeader(Header):
    group_name: str = name("group")


@_header
class ResetOffsetRequestHeader(Header):
    """RESET_CONSUMER_CLIENT_OFFSET (220) and INVOKE_BROKER_TO_RESET_OFFSET (222)."""

    topic: str = name("topic")
    group: str = name("group")
    timestamp: I64
    is_force: bool


@_header
class GetBrokerConfigResponseHeader(Header):
    version: str


@_header
class GetConsumerConnectionListRequestHeader(Header):
    consumer_group: str = name("group")


@_header
class GetProducerConnectionListRequestHeader(Header):
    producer_group: str = name("pgroup")


@_header
class GetConsumeStatsRequestHeader(Header):
    consumer_group: str = name("group")
    topic: str | None = name("topic", default=None)


@_header
class GetTopicStatsInfoRequestHeader(Header):
    topic: str = name("topic")


@_header
class GetTopicsByClusterRequestHeader(Header):
    cluster: str



@_header
class QueryTopicConsumeByWhoRequestHeader(Header):
    """QUERY_TOPIC_CONSUME_BY_WHO (300)."""

    topic: str = name("topic")


@_header
class GetConsumeStatsInBrokerHeader(Header):
    """GET_BROKER_CONSUME_STATS (317): only orderly topics when ``is_order``."""

    is_order: bool = False


@_header
class ConsumeMessageDirectlyResultRequestHeader(Header):
    """CONSUME_MESSAGE_DIRECTLY (309), admin -> broker -> client."""

    consumer_group: str = name("group")
    client_id: str | None = None
    msg_id: str | None = None
    broker_name: str | None = None
