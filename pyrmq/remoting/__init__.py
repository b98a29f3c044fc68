"""The asyncio remoting layer over the sans-IO codec in pyrmq.protocol."""

from pyrmq.remoting.client import RemotingClient, split_addr
from pyrmq.remoting.connection import (
    PARKED,
    Connection,
    Later,
    RemotingClosedError,
    RemotingConnectError,
    RemotingError,
    RemotingTimeoutError,
)
from pyrmq.remoting.server import RemotingServer

__all__ = ["PARKED", "Connection", "Later", "RemotingClient", "RemotingClosedError",
           "RemotingConnectError", "RemotingError", "RemotingServer",
           "RemotingTimeoutError", "split_addr"]
