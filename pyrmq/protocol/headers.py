"""Reading custom-header fields out of extFields, as Java's decodeCommandCustomHeader does:
values may be numbers-as-text or text; a missing required field or a bad number is answered
with SYSTEM_ERROR naming the field. Send headers arrive in V1 (long names, code 10) or V2
(letters, codes 310/320) form; ``send_fields`` maps both to the V1 names."""

from __future__ import annotations

from collections.abc import Mapping

from pyrmq.protocol.codes import RequestCode, ResponseCode
from pyrmq.protocol.command import RemotingCommand
from pyrmq.protocol.errors import RemoteProtocolError

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
