"""Config files in ``<storePathRootDir>/config/`` with RocketMQ's write protocol: write
``f.tmp``, copy the current ``f`` to ``f.bak``, replace ``f``; load falls back to ``f.bak`` when
``f`` is missing, empty or unparsable."""

from __future__ import annotations

import logging
import os
import shutil
from typing import Any

from pyrmq.protocol import jsonx
from pyrmq.protocol.errors import RemoteProtocolError

log = logging.getLogger("pyrmq.broker")


def save_json(path: str, obj: Any) -> bool:
    """Write ``obj`` to ``path`` (tmp, .bak, replace). A write that fails (a full disk, a
    read-only directory) is one WARNING and False: the caller keeps its table in memory and the
    next persist tries again; the previous file stays intact."""
    tmp = path + ".tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(jsonx.dumps_pretty(obj))
            f.flush()
            os.fsync(f.fileno())
        if os.path.exists(path):
            shutil.copyfile(path, path + ".bak")
        os.replace(tmp, path)
    except OSError as e:
        log.warning("cannot persist %s (kept in memory, retried at the next change): %s",
                    path, e)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return False
    return True


def load_json(path: str) -> Any | None:
    for candidate in (path, path + ".bak"):
        try:
            with open(candidate, encoding="utf-8") as f:
                text = f.read()
            if text.strip():
                return jsonx.loads(text)
        except FileNotFoundError:
            continue
        except (OSError, RemoteProtocolError) as e:
            log.warning("cannot read %s: %s", candidate, e)
    return None
