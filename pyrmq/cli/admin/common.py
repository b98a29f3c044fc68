"""What every admin command shares: the NameServer option, one asyncio run per command, a
remoting call that fails with one clear line, and the brokers to address."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable

from pyrmq.admin import AdminClient
from pyrmq.cli.output import CommandError, fail


class Admin(AdminClient):
    """What a command gets: the shared admin API (pyrmq.admin), whose errors print as one
    line."""


def add(sub: argparse._SubParsersAction, name: str, fn: Callable[[Admin, argparse.Namespace],
        Awaitable[int]], help_: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_)
    p.add_argument("-n", "--namesrv", default="127.0.0.1:9876", help="NameServer address(es)")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    def run(args: argparse.Namespace) -> int:
        async def go() -> int:
            admin = Admin(args.namesrv)
            try:
                return await fn(admin, args)
            finally:
                await admin.close()
        try:
            return asyncio.run(go())
        except CommandError as e:
            return fail(str(e))
    p.set_defaults(func=run)
    return p
