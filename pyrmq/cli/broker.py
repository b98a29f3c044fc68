"""``pyrmq broker``: run a Broker from a RocketMQ-style broker.conf."""

from __future__ import annotations

import argparse

from pyrmq.broker import Broker
from pyrmq.broker.config import read_properties
from pyrmq.broker.overrides import apply_overrides
from pyrmq.cli.output import fail
from pyrmq.cli.serve import serve
from pyrmq.failover import FailoverBroker


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("broker", help="run a Broker")
    p.add_argument("-c", "--config", help="broker.conf (Java properties, RocketMQ key names)")
    p.add_argument("-n", "--namesrv", help="NameServer addresses, ';'-separated")
    p.add_argument("--listen-port", type=int, help="listenPort (default 10911)")
    p.add_argument("--store", help="storePathRootDir")
    p.add_argument("--ip", help="brokerIP1: the address clients use (default 127.0.0.1)")
    p.add_argument("--listen-host", default="0.0.0.0", help="interface to bind (default all)")
    p.add_argument("--metrics-port", type=int,
                   help="metricsPort: serve Prometheus /metrics on this port (0 = off)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config key (repeatable)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Start the broker; a bad configuration is one line naming the key, exit status 2."""
    try:
        props: dict[str, str] = read_properties(args.config) if args.config else {}
    except (OSError, UnicodeDecodeError) as e:
        return fail(f"cannot read broker config {args.config}: {e}")
    for item in args.set:
        k, sep, v = item.partition("=")
        if not sep:
            raise SystemExit(f"--set needs KEY=VALUE, got {item!r}")
        props[k.strip()] = v.strip()
    if args.namesrv:
        props["namesrvAddr"] = args.namesrv
    if args.listen_port is not None:  # 0 reaches the range check (ephemeral ports would
        # put a wrong port into every message id), not the 10911 default
        props["listenPort"] = str(args.listen_port)
    if args.store:
        props["storePathRootDir"] = args.store
    if args.metrics_port is not None:
        props["metricsPort"] = str(args.metrics_port)
    if args.ip:
        props["brokerIP1"] = args.ip
    try:  # updateBrokerConfig changes survive restarts; a bad one is skipped with a warning
        cfg, store_cfg = apply_overrides(props)
    except ValueError as e:
        return fail(f"bad broker configuration{' in ' + args.config if args.config else ''}: {e}")
    if cfg.failoverEnable:  # the agent runs the Broker and restarts it on role changes
        try:
            broker: Broker | FailoverBroker = FailoverBroker(cfg, store_cfg,
                                                             listen_host=args.listen_host)
        except ValueError as e:
            return fail(f"bad broker configuration: {e}")
    else:
        broker = Broker(cfg, store_cfg, listen_host=args.listen_host)
    return serve(broker.start, broker.close)
