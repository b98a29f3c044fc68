"""Run an asyncio service until SIGTERM/SIGINT (shared by the namesrv and broker commands)."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable

from pyrmq.remoting import loop


def serve(start: Callable[[], Awaitable[object]], stop: Callable[[], Awaitable[object]]) -> int:
    """Start the service, wait for a stop signal, stop it; exit status 0. A port that cannot
    be bound (in use, no permission) is one error line and exit status 1, not a traceback."""

    async def run() -> int:
        done = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, done.set)
        try:
            await start()
        except OSError as e:
            print(f"error: cannot start: {e}", file=sys.stderr)
            await stop()  # release what started before the failure (the store, its lock)
            return 1
        try:
            await done.wait()
        finally:
            await stop()
        return 0

    return loop.run(run())
