"""Rendering for CLI commands: a table (or key/value lines) by default, ``--json`` for
machines; failures print one line on stderr and exit non-zero."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from pyrmq.admin.errors import AdminError

# A command failed; the message is the one line printed on stderr. The same class as the
# admin API's error, so what the API raises is printed the same way.
CommandError = AdminError


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    widths = {c: max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines += ["  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def emit(data: Any, as_json: bool, columns: Sequence[str] | None = None) -> None:
    """Print ``data``: JSON, or a table of rows, or ``key: value`` lines."""
    if as_json:
        print(json.dumps(data, indent=2, sort_keys=True, default=str))
    elif columns is not None:
        print(table(data, columns))
    elif isinstance(data, dict):
        for k, v in data.items():
            print(f"{k}: {v}")
    else:
        print(data)


def fail(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code
