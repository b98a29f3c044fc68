"""What every admin command shares: the NameServer option, one asyncio run per command, a
remoting call that fails with one clear line, and the brokers to address."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Awaitable, Callable

from pyrmq.acl.sign import SessionCredentials
from pyrmq.admin import AdminClient
from pyrmq.cli.output import CommandError, fail


class Admin(AdminClient):
    """What a command gets: the shared admin API (pyrmq.admin), whose errors print as one
    line."""


def credentials(args: argparse.Namespace) -> SessionCredentials | None:
    """The ACL keys of ``--access-key/--secret-key`` (or the env), None when not given."""
    if not args.access_key and not args.secret_key:
        return None
    if not (args.access_key and args.secret_key):
        raise CommandError("--access-key and --secret-key go together")
    return SessionCredentials(args.access_key, args.secret_key)


def add(sub: argparse._SubParsersAction, name: str, fn: Callable[[Admin, argparse.Namespace],
        Awaitable[int]], help_: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_)
    p.add_argument("-n", "--namesrv", default="127.0.0.1:9876", help="NameServer address(es)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--access-key", default=os.environ.get("PYRMQ_ACCESS_KEY", ""),
                   help="ACL access key (env PYRMQ_ACCESS_KEY); signs every request")
    p.add_argument("--secret-key", default=os.environ.get("PYRMQ_SECRET_KEY", ""),
                   help="ACL secret key (env PYRMQ_SECRET_KEY)")

    def run(args: argparse.Namespace) -> int:
        async def go() -> int:
            admin = Admin(args.namesrv, credentials(args))
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
