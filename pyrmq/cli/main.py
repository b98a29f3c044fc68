"""The ``pyrmq`` command: one subcommand family per module (each has ``register(subparsers)``).

    pyrmq namesrv [--listen HOST:PORT]          run a NameServer
    pyrmq broker -c broker.conf [-n NAMESRV]     run a Broker
    pyrmq quickstart                             embedded NameServer + Broker, produce/consume
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

FAMILIES = ("pyrmq.cli.namesrv", "pyrmq.cli.broker", "pyrmq.cli.quickstart",
            "pyrmq.cli.store_tools", "pyrmq.cli.admin", "pyrmq.cli.dashboard")


def package_version() -> str:
    """The installed distribution's version, or ``pyrmq.__version__`` when not installed."""
    try:
        from importlib.metadata import PackageNotFoundError, version
        return version("pyrmq")
    except PackageNotFoundError:
        from pyrmq import __version__
        return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyrmq", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"pyrmq {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in FAMILIES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:
                continue  # family not built yet
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` & co.: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
