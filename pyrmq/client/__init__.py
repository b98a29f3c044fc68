"""pyrmq's own asyncio client: Producer, PushConsumer, PullConsumer, LitePullConsumer."""

from pyrmq.client.lite_pull import LitePullConsumer
from pyrmq.client.message import (
    ConsumeFrom,
    ConsumeStatus,
    Message,
    MessageModel,
    MessageQueue,
    SendResult,
    SendStatus,
)
from pyrmq.client.nameserver import NameServerClient, RouteNotFound
from pyrmq.client.producer import Producer, SendError
from pyrmq.client.pull_consumer import PullConsumer
from pyrmq.client.push_consumer import PushConsumer, SubscriptionRefused
from pyrmq.client.sync import SyncProducer
from pyrmq.client.transaction import LocalTransactionState, TransactionProducer

__all__ = ["ConsumeFrom", "ConsumeStatus", "LitePullConsumer", "LocalTransactionState",
           "Message", "MessageModel", "MessageQueue", "NameServerClient", "Producer",
           "PullConsumer", "PushConsumer", "RouteNotFound", "SendError", "SendResult",
           "SendStatus", "SubscriptionRefused", "SyncProducer", "TransactionProducer"]
