"""The Broker: stores and serves messages over RocketMQ's remoting protocol."""

from pyrmq.broker.config import BrokerConfig
from pyrmq.broker.controller import Broker

__all__ = ["Broker", "BrokerConfig"]
