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


def save_json(path: str, obj: Any) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(jsonx.dumps_pretty(obj))
        f.flush()
        os.fsync(f.fileno())
    if os.path.exists(path):
        shutil.copyfile(path, path + ".bak")
    os.replace(tmp, path)


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
