"""What every admin command shares: the NameServer option, one asyncio run per command, a
remoting call that fails with one clear line, and the brokers to address."""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
from collections.abc import Awaitable, Callable

from pyrmq.acl.sign import SessionCredentials, sign
from pyrmq.cli.output import CommandError, fail
from pyrmq.client.nameserver import NameServerClient, RouteNotFound
from pyrmq.protocol.codes import ResponseCode
from pyrmq.protocol.command import RemotingCommand, request
from pyrmq.protocol.headers import Header
from pyrmq.remoting import RemotingClient, RemotingError


class Admin:
    def __init__(self, namesrv: str, creds: SessionCredentials | None = None) -> None:
        # with credentials every request is signed (a broker with aclEnable checks them)
        self.remoting = RemotingClient(
            before_send=None if creds is None else functools.partial(sign, creds=creds))
        self.ns = NameServerClient(namesrv, self.remoting)

    async def call(self, addr: str, code: int, fields: Header | None = None,
                   body: bytes = b"", ok: tuple[int, ...] = (ResponseCode.SUCCESS,),
                   timeout: float = 5.0) -> RemotingCommand:
        """One request (``fields``: its typed header) answered with a code in ``ok``."""
        try:
            r = await self.remoting.invoke(addr, request(code, fields, body), timeout)
        except RemotingError as e:
            raise CommandError(str(e)) from None
        if r.code not in ok:
            raise CommandError(f"{addr} answered code {r.code}: {r.remark}")
        return r

    async def masters(self, cluster: str | None = None) -> dict[str, str]:
        """brokerName -> master address (of one cluster, or all)."""
        try:
            info = await self.ns.cluster_info()
        except RemotingError as e:
            raise CommandError(str(e)) from None
        names = set(info.get("clusterAddrTable", {}).get(cluster, [])) if cluster else None
        if cluster and not names:
            raise CommandError(f"no cluster named {cluster}")
        out = {}
        for name, bd in info.get("brokerAddrTable", {}).items():
            addr = bd.get("brokerAddrs", {}).get("0")
            if addr and (names is None or name in names):
                out[name] = addr
        return out

    async def route(self, topic: str):
        try:
            return await self.ns.get_route(topic)
        except RouteNotFound as e:
            raise CommandError(str(e)) from None
        except RemotingError as e:
            raise CommandError(str(e)) from None

    async def close(self) -> None:
        await self.remoting.close()


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
