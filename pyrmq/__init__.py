"""pyrmq: Apache RocketMQ's architecture rebuilt as a Python package with a C storage core."""

__version__ = "0.1.0"
