"""Reading custom-header fields out of extFields, as Java's decodeCommandCustomHeader does:
values may be numbers-as-text or text; a missing required field or a bad number is answered
with SYSTEM_ERROR naming the field. Send headers arrive in V1 (long names, code 10) or V2
(letters, codes 310/320) form; ``send_fields`` maps both to the V1 names."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from pyrmq.protocol.codes import RequestCode, ResponseCode
from pyrmq.protocol.command import RemotingCommand
from pyrmq.protocol.errors import RemoteProtocolError
from pyrmq.protocol.headerbase import Header as Header
from pyrmq.protocol.headerbase import _header
from pyrmq.protocol.headerbase import _spec as _spec

SEND_V2_NAMES = {
    "a": "producerGroup", "b": "topic", "c": "defaultTopic", "d": "defaultTopicQueueNums",
    "e": "queueId", "f": "sysFlag", "g": "bornTimestamp", "h": "flag", "i": "properties",
    "j": "reconsumeTimes", "k": "unitMode", "l": "maxReconsumeTimes", "m": "batch",
    "n": "brokerName",
}


class Ext:
    """Typed access to a command's extFields."""

    __slots__ = ("fields",)

    def __init__(self, fields: Mapping[str, str]) -> None:
        self.fields = fields

    def _raw(self, name: str, required: bool) -> str | None:
        v = self.fields.get(name)
        if v is None and required:
            raise RemoteProtocolError(f"the custom field <{name}> is null",
                                      response_code=ResponseCode.SYSTEM_ERROR)
        return v

    def str(self, name: str, default: str | None = None, *, required: bool = False) -> str:
        v = self._raw(name, required)
        return default if v is None else v  # type: ignore[return-value]

    def int(self, name: str, default: int = 0, *, required: bool = False) -> int:
        v = self._raw(name, required)
        if v is None or (v == "" and not required):
            return default
        try:
            return int(v)
        except ValueError:
            raise RemoteProtocolError(f"the custom field <{name}> is not a number: {v!r}",
                                      response_code=ResponseCode.SYSTEM_ERROR) from None

    def bool(self, name: str, default: bool = False) -> bool:
        """"true"/"1" (any case) are true; the C++ client sends "1" for batch."""
        v = self.fields.get(name)
        if v is None or v == "":
            return default
        return v.strip().lower() in ("true", "1")


def send_fields(cmd: RemotingCommand) -> Ext:
    """The send header (codes 10/310/320) with V1 names."""
    if cmd.code in (RequestCode.SEND_MESSAGE_V2, RequestCode.SEND_BATCH_MESSAGE):
        fields = {SEND_V2_NAMES.get(k, k): v for k, v in cmd.ext_fields.items()}
        if cmd.code == RequestCode.SEND_BATCH_MESSAGE and "batch" not in fields:
            fields["batch"] = "true"
        return Ext(fields)
    return Ext(cmd.ext_fields)


@_header
class SendMessageRequestHeader(Header):
    """SEND_MESSAGE (10, long names) / SEND_MESSAGE_V2 (310) / SEND_BATCH_MESSAGE (320, letters)."""

    producer_group: str
    topic: str
    default_topic: str
    default_topic_queue_nums: int
    queue_id: int
    sys_flag: int
    born_timestamp: int
    flag: int
    properties: str | None = None
    reconsume_times: int | None = None
    unit_mode: bool | None = None
    batch: bool | None = None
    max_reconsume_times: int | None = None

    @classmethod
    def from_command(cls, cmd: RemotingCommand) -> SendMessageRequestHeader:
        """V1 names for code 10, V2 letters for 310/320 (320 implies batch)."""
        if cmd.code in (RequestCode.SEND_MESSAGE_V2, RequestCode.SEND_BATCH_MESSAGE):
            fields = {SEND_V2_NAMES.get(k, k): v for k, v in cmd.ext_fields.items()}
            if cmd.code == RequestCode.SEND_BATCH_MESSAGE and "batch" not in fields:
                fields["batch"] = "true"
            return cls.from_ext(fields)
        return cls.from_ext(cmd.ext_fields)

    def to_ext_v2(self) -> dict[str, str]:
        """The letter-named (V2) extFields."""
        back = {v: k for k, v in SEND_V2_NAMES.items()}
        return {back[k]: v for k, v in self.to_ext().items()}


@_header
class SendMessageResponseHeader(Header):
    msg_id: str
    queue_id: int
    queue_offset: int
    transaction_id: str | None = None


@_header
class PullMessageRequestHeader(Header):
    consumer_group: str
    topic: str
    queue_id: int
    queue_offset: int
    max_msg_nums: int
    sys_flag: int
    commit_offset: int
    suspend_timeout_millis: int
    sub_version: int
    subscription: str | None = None
    expression_type: str | None = None


@_header
class PullMessageResponseHeader(Header):
    suggest_which_broker_id: int
    next_begin_offset: int
    min_offset: int
    max_offset: int


@_header
class QueryConsumerOffsetRequestHeader(Header):
    consumer_group: str
    topic: str
    queue_id: int


@_header
class QueryConsumerOffsetResponseHeader(Header):
    offset: int | None = None


@_header
class UpdateConsumerOffsetRequestHeader(Header):
    consumer_group: str
    topic: str
    queue_id: int
    commit_offset: int


@_header
class GetMaxOffsetRequestHeader(Header):
    topic: str
    queue_id: int


@_header
class GetMinOffsetRequestHeader(Header):
    topic: str
    queue_id: int


@_header
class OffsetResponseHeader(Header):
    """Response of GET_MAX_OFFSET, GET_MIN_OFFSET and SEARCH_OFFSET_BY_TIMESTAMP."""

    offset: int


@_header
class SearchOffsetRequestHeader(Header):
    topic: str
    queue_id: int
    timestamp: int


@_header
class GetEarliestMsgStoretimeRequestHeader(Header):
    topic: str
    queue_id: int


@_header
class GetEarliestMsgStoretimeResponseHeader(Header):
    timestamp: int


@_header
class ViewMessageRequestHeader(Header):
    offset: int


@_header
class QueryMessageRequestHeader(Header):
    topic: str
    key: str
    max_num: int
    begin_timestamp: int
    end_timestamp: int


@_header
class QueryMessageResponseHeader(Header):
    index_last_update_timestamp: int
    index_last_update_phyoffset: int


@_header
class UnregisterClientRequestHeader(Header):
    client_id: str = dataclasses.field(metadata={"wire": "clientID"})
    producer_group: str | None = None
    consumer_group: str | None = None


@_header
class GetConsumerListByGroupRequestHeader(Header):
    consumer_group: str


@_header
class ConsumerSendMsgBackRequestHeader(Header):
    offset: int
    group: str
    delay_level: int
    origin_msg_id: str | None = None
    origin_topic: str | None = None
    unit_mode: bool = False
    max_reconsume_times: int | None = None


@_header
class NotifyConsumerIdsChangedRequestHeader(Header):
    consumer_group: str


@_header
class GetConsumerRunningInfoRequestHeader(Header):
    consumer_group: str
    client_id: str
    jstack_enable: bool | None = None


@_header
class EndTransactionRequestHeader(Header):
    producer_group: str
    tran_state_table_offset: int
    commit_log_offset: int
    commit_or_rollback: int
    msg_id: str
    from_transaction_check: bool = False
    transaction_id: str | None = None


@_header
class CheckTransactionStateRequestHeader(Header):
    tran_state_table_offset: int
    commit_log_offset: int
    msg_id: str | None = None
    transaction_id: str | None = None
    offset_msg_id: str | None = None


@_header
class RegisterBrokerRequestHeader(Header):
    broker_name: str
    broker_addr: str
    cluster_name: str
    ha_server_addr: str
    broker_id: int
    compressed: bool = False
    body_crc32: int = 0


@_header
class RegisterBrokerResponseHeader(Header):
    ha_server_addr: str | None = None
    master_addr: str | None = None


@_header
class UnRegisterBrokerRequestHeader(Header):
    broker_name: str
    broker_addr: str
    cluster_name: str
    broker_id: int


@_header
class QueryDataVersionRequestHeader(Header):
    broker_name: str
    broker_addr: str
    cluster_name: str
    broker_id: int


@_header
class QueryDataVersionResponseHeader(Header):
    changed: bool


@_header
class GetRouteInfoRequestHeader(Header):
    topic: str


@_header
class DeleteTopicFromNamesrvRequestHeader(Header):
    topic: str


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
    wipe_topic_count: int


@_header
class CreateTopicRequestHeader(Header):
    """UPDATE_AND_CREATE_TOPIC (17)."""

    topic: str
    default_topic: str
    read_queue_nums: int
    write_queue_nums: int
    perm: int
    topic_filter_type: str
    topic_sys_flag: int | None = None
    order: bool = False


@_header
class DeleteTopicRequestHeader(Header):
    topic: str


@_header
class DeleteSubscriptionGroupRequestHeader(Header):
    group_name: str


@_header
class ResetOffsetRequestHeader(Header):
    """RESET_CONSUMER_CLIENT_OFFSET (220) and INVOKE_BROKER_TO_RESET_OFFSET (222)."""

    topic: str
    group: str
    timestamp: int
    is_force: bool


@_header
class GetBrokerConfigResponseHeader(Header):
    version: str


@_header
class GetConsumerConnectionListRequestHeader(Header):
    consumer_group: str


@_header
class GetProducerConnectionListRequestHeader(Header):
    producer_group: str


@_header
class GetConsumeStatsRequestHeader(Header):
    consumer_group: str
    topic: str | None = None


@_header
class GetTopicStatsInfoRequestHeader(Header):
    topic: str
