"""What a pull response body becomes in the client: messages decoded by the compiled decoder
(``pyrmq._store.decode_records``), compressed bodies inflated, the subscription's tag filter
applied. The pure-Python ``pyrmq.protocol.message.decode_records`` stays the reference: the
fast one accepts exactly what it accepts (property-tested), and on a body the fast one refuses
the reference runs to raise its exact RemoteProtocolError."""

from __future__ import annotations

import dataclasses

from pyrmq import _store
from pyrmq.protocol.bodies import SubscriptionData
from pyrmq.protocol.message import COMPRESSED, MessageExt, _host_text, decode_records


def decode_pulled(body: bytes) -> list[MessageExt]:
    """The records of a pull response body as MessageExt (bodies as stored); garbage raises
    RemoteProtocolError, as the reference decoder."""
    try:
        return _store.decode_records(body, MessageExt, _host_text)
    except _store.CorruptError:
        return decode_records(body)  # raises the reference's error (position, reason)


def pulled_messages(body: bytes, sub: SubscriptionData) -> list[MessageExt]:
    """The messages of a pull response body for ``sub``: decoded, bodies inflated, and only
    the subscribed tags (the broker filters by tag hash code; this drops hash collisions)."""
    msgs = decode_pulled(body)
    if any(m.sysflag & COMPRESSED for m in msgs):
        msgs = [dataclasses.replace(m, body=m.decompressed_body())
                if m.sysflag & COMPRESSED else m for m in msgs]
    if not sub.match_all:
        tags = set(sub.tags)
        msgs = [m for m in msgs if m.tags in tags]
    return msgs
