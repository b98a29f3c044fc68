"""Run an asyncio service until SIGTERM/SIGINT (shared by the namesrv and broker commands)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

from pyrmq.remoting import loop


def serve(start: Callable[[], Awaitable[object]], stop: Callable[[], Awaitable[object]]) -> int:
    """Start the service, wait for a stop signal, stop it; exit status 0."""

    async def run() -> None:
        done = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, done.set)
        await start()
        try:
            await done.wait()
        finally:
            await stop()

    loop.run(run())
    return 0
