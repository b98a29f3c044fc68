"""Run an asyncio service until SIGTERM/SIGINT (shared by the namesrv and broker commands)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable


def serve(start: Callable[[], Awaitable[object]], stop: Callable[[], Awaitable[object]]) -> int:
    """Start the service, wait for a stop signal, stop it; exit status 0."""

    async def run() -> None:
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, done.set)
        await start()
        try:
            await done.wait()
        finally:
            await stop()

    asyncio.run(run())
    return 0
