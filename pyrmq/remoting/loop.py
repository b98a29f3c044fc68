"""Running an asyncio program: uvloop's event loop when it is installed (``pip install
pyrmq[fast]``), the standard one otherwise."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def uvloop_available() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def new_event_loop() -> asyncio.AbstractEventLoop:
    if uvloop_available():
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def run(main: Coroutine[Any, Any, T]) -> T:
    """Like ``asyncio.run`` on the fastest available loop."""
    if uvloop_available():
        import uvloop

        if hasattr(asyncio, "Runner"):  # Python 3.11+
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return runner.run(main)
        uvloop.install()
    return asyncio.run(main)
