"""The NameServer: route registry for brokers and clients."""

from pyrmq.namesrv.routes import RouteTable
from pyrmq.namesrv.server import NameServer, NamesrvConfig

__all__ = ["NameServer", "NamesrvConfig", "RouteTable"]
