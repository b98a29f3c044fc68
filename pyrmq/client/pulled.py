"""What a pull response body becomes in the client: messages decoded by the compiled decoder
(``pyrmq.protocol.message.decode_records_fast``), compressed bodies inflated, the
subscription's tag filter applied."""

from __future__ import annotations

import dataclasses

from pyrmq.protocol.bodies import SubscriptionData
from pyrmq.protocol.message import COMPRESSED, MessageExt, decode_records_fast


def pulled_messages(body: bytes, sub: SubscriptionData) -> list[MessageExt]:
    """The messages of a pull response body for ``sub``: decoded, bodies inflated, and only
    the subscribed tags (the broker filters by tag hash code; this drops hash collisions)."""
    msgs = decode_records_fast(body)
    if any(m.sysflag & COMPRESSED for m in msgs):
        msgs = [dataclasses.replace(m, body=m.decompressed_body())
                if m.sysflag & COMPRESSED else m for m in msgs]
    if not sub.match_all:
        tags = set(sub.tags)
        msgs = [m for m in msgs if m.tags in tags]
    return msgs
