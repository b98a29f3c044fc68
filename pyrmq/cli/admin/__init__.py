"""mqadmin-style commands (one module per family); ``register`` adds them all."""

from __future__ import annotations

import argparse

from pyrmq.cli.admin import cluster, group, message, topic


def register(sub: argparse._SubParsersAction) -> None:
    for family in (cluster, topic, group, message):
        family.register(sub)
