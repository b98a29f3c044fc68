"""Automatic master failover for a broker group on etcd (Patroni-style): see ``agent``."""

from pyrmq.failover.agent import FailoverBroker

__all__ = ["FailoverBroker"]
