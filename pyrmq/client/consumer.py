"""Compatibility imports: the consumers now live in one module each (push_consumer,
pull_consumer, lite_pull; offsets, orderly and base beside them)."""

from pyrmq.client.lite_pull import LitePullConsumer
from pyrmq.client.pull_consumer import PullConsumer
from pyrmq.client.push_consumer import Listener, PushConsumer

__all__ = ["LitePullConsumer", "Listener", "PullConsumer", "PushConsumer"]
