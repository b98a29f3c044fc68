"""``pyrmq dashboard``: the web UI over the admin API (pyrmq.dashboard)."""

from __future__ import annotations

import argparse

from pyrmq.cli.output import fail


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dashboard", help="serve the web dashboard")
    p.add_argument("-n", "--namesrv", default="127.0.0.1:9876", help="NameServer address(es)")
    p.add_argument("--listen", default="127.0.0.1:8080", help="HOST:PORT to serve on")
    p.add_argument("--allow-write", action="store_true",
                   help="allow creating topics and resetting offsets (read-only otherwise)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        return fail(f"--listen wants HOST:PORT, not {args.listen!r}")
    try:
        from pyrmq.dashboard import serve
    except ModuleNotFoundError as e:
        return fail(f"the dashboard needs {e.name} (pip install aiohttp)")
    try:
        serve(args.namesrv, host, int(port), args.allow_write)
    except OSError as e:
        return fail(f"can not listen on {args.listen}: {e.strerror or e}")
    return 0
