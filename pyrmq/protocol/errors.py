"""Protocol error roots (sans-IO, h11 style).

``RemoteProtocolError``: the peer sent something we cannot accept. ``fatal`` tells whether framing
is lost (close the connection) or the frame was intact (answer with ``response_code``).
``LocalProtocolError``: we were asked to produce something the protocol cannot carry.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Base of every error raised by :mod:`pyrmq.protocol`."""


class RemoteProtocolError(ProtocolError):
    """The peer's bytes violate the protocol.

    ``fatal`` is True when framing is lost and the connection must be closed; otherwise the frame
    boundaries are intact and the request can be answered with ``response_code`` (a
    :class:`~pyrmq.protocol.codes.ResponseCode` value) and ``str(self)`` as the remark.
    """

    def __init__(self, msg: str, *, fatal: bool = False, response_code: int = 1) -> None:
        super().__init__(msg)
        self.fatal = fatal
        self.response_code = response_code


class LocalProtocolError(ProtocolError):
    """We tried to encode something the protocol cannot carry (too large, bad field)."""
