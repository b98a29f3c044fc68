"""``pyrmq namesrv``: run a NameServer."""

from __future__ import annotations

import argparse

from pyrmq.cli.output import fail
from pyrmq.cli.serve import serve
from pyrmq.namesrv import NameServer, NamesrvConfig
from pyrmq.remoting import split_addr


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("namesrv", help="run a NameServer")
    p.add_argument("--listen", default="0.0.0.0:9876", help="HOST:PORT (default 0.0.0.0:9876)")
    p.add_argument("--scan-interval", type=float, default=10.0, help="seconds between scans")
    p.add_argument("--broker-expiry", type=float, default=120.0,
                   help="drop a broker silent this many seconds")
    p.add_argument("--metrics-port", type=int, default=0,
                   help="serve Prometheus /metrics on this port of the listen host (0 = off)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    host, port = split_addr(args.listen)
    if not 0 <= args.metrics_port <= 65535:
        return fail(f"--metrics-port must be 0..65535, got {args.metrics_port}")
    ns = NameServer(NamesrvConfig(host, port, args.scan_interval, args.broker_expiry,
                                  args.metrics_port))
    return serve(ns.start, ns.close)
