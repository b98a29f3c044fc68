"""Client-side message types: Message, SendResult, ConsumeStatus, ids; MessageQueue is the
protocol's (``pyrmq.protocol.admin.MessageQueue``), re-exported here."""

from __future__ import annotations

import enum
import itertools
import os
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

from pyrmq.protocol.admin import MessageQueue
from pyrmq.protocol.message import MessageConst, encode_properties

__all__ = ["ConsumeFrom", "ConsumeStatus", "Message", "MessageModel", "MessageQueue",
           "SendResult", "SendStatus", "local_ip", "new_client_id", "new_uniq_key",
           "new_uniq_keys"]


def local_ip() -> str:
    """The address this host uses for outgoing traffic (127.0.0.1 when offline)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))  # no packet is sent for a UDP connect
            return s.getsockname()[0]
    except OSError:
        return "127.0.0.1"


def new_client_id(instance: str = "DEFAULT") -> str:
    """``ip@pid#instance#random``: unique per process and instance."""
    return f"{local_ip()}@{os.getpid()}#{instance}#{random.getrandbits(32):08x}"


class _UniqKeys:
    """UNIQ_KEY like Java's MessageClientIDSetter: ip, pid, random, ms since month start,
    counter; 16 bytes as 32 uppercase hex."""

    def __init__(self) -> None:
        ip = socket.inet_aton(local_ip() if local_ip().count(".") == 3 else "127.0.0.1")
        self.prefix = (ip + struct.pack(">HI", os.getpid() & 0xFFFF,
                                        random.getrandbits(32))).hex().upper()
        t = time.localtime()
        self.month_start = time.mktime((t.tm_year, t.tm_mon, 1, 0, 0, 0, 0, 0, -1))
        self.counter = itertools.count()
        self.lock = threading.Lock()

    def next(self) -> str:
        with self.lock:
            n = next(self.counter) & 0xFFFF
        diff = int((time.time() - self.month_start) * 1000) & 0x7FFFFFFF
        return f"{self.prefix}{diff:08X}{n:04X}"  # = struct ">iH" as upper hex (diff >= 0)

    def many(self, count: int) -> list[str]:
        """``count`` keys at once (a batch): one clock read, consecutive counters."""
        with self.lock:
            first = next(self.counter)
            for _ in range(count - 1):
                next(self.counter)
        head = f"{self.prefix}{int((time.time() - self.month_start) * 1000) & 0x7FFFFFFF:08X}"
        return [f"{head}{(first + i) & 0xFFFF:04X}" for i in range(count)]


_uniq = _UniqKeys()


def new_uniq_key() -> str:
    return _uniq.next()


def new_uniq_keys(count: int) -> list[str]:
    """``count`` distinct UNIQ_KEYs for one batch."""
    return _uniq.many(count)


@dataclass(slots=True)
class Message:
    """A message to send: topic, body, tags, keys, user properties, delay level, flag."""

    topic: str
    body: bytes
    tags: str | None = None
    keys: list[str] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)
    delay_level: int = 0
    flag: int = 0

    def wire_properties(self, uniq_key: str) -> dict[str, str]:
        props = dict(self.properties)
        if self.tags:
            props[MessageConst.TAGS] = self.tags
        if self.keys:
            props[MessageConst.KEYS] = " ".join(self.keys)
        if self.delay_level > 0:
            props[MessageConst.DELAY] = str(self.delay_level)
        props[MessageConst.UNIQ_KEY] = uniq_key
        props[MessageConst.WAIT] = "true"
        return props

    def wire_properties_raw(self, uniq_key: str) -> bytes:
        """``encode_properties(self.wire_properties(uniq_key))``, without the dict for a
        message with no user properties, keys or delay (the usual one in a batch)."""
        if self.properties or self.keys or self.delay_level > 0:
            return encode_properties(self.wire_properties(uniq_key))
        tags = f"TAGS\x01{self.tags}\x02" if self.tags else ""
        return f"{tags}UNIQ_KEY\x01{uniq_key}\x02WAIT\x01true\x02".encode()


class SendStatus(enum.IntEnum):
    SEND_OK = 0
    FLUSH_DISK_TIMEOUT = 1
    FLUSH_SLAVE_TIMEOUT = 2
    SLAVE_NOT_AVAILABLE = 3


@dataclass(frozen=True, slots=True)
class SendResult:
    status: SendStatus
    msg_id: str          # UNIQ_KEY (or comma-separated for a batch)
    offset_msg_id: str   # broker's offset msgId(s)
    queue: MessageQueue
    queue_offset: int


class ConsumeStatus(enum.IntEnum):
    CONSUME_SUCCESS = 0
    RECONSUME_LATER = 1


class MessageModel(enum.Enum):
    CLUSTERING = "CLUSTERING"
    BROADCASTING = "BROADCASTING"


class ConsumeFrom(enum.Enum):
    LAST_OFFSET = "CONSUME_FROM_LAST_OFFSET"
    FIRST_OFFSET = "CONSUME_FROM_FIRST_OFFSET"
    TIMESTAMP = "CONSUME_FROM_TIMESTAMP"
