"""Config files in ``<storePathRootDir>/config/`` with RocketMQ's write protocol: write
``f.tmp``, copy the current ``f`` to ``f.bak``, replace ``f``; load falls back to ``f.bak`` when
``f`` is missing, empty or unparsable.

Periodic persistence must not hold the event loop (a JSON dump plus an fsync is milliseconds,
more under disk load): ``save_json_soon`` hands a snapshot to one writer thread, the newest
snapshot per file winning; ``save_json`` writes at once (shutdown, tests) and supersedes a
pending snapshot of the same file; ``flush_pending`` waits for the writer."""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from typing import Any

from pyrmq.protocol import jsonx
from pyrmq.protocol.errors import RemoteProtocolError

log = logging.getLogger("pyrmq.broker")


def save_json(path: str, obj: Any) -> bool:
    """Write ``obj`` to ``path`` (tmp, .bak, replace) now. A write that fails (a full disk, a
    read-only directory) is one WARNING and False: the caller keeps its table in memory and the
    next persist tries again; the previous file stays intact."""
    _writer.discard(path)  # obj is newer than any snapshot still waiting
    with _writer.io:
        return _write(path, obj)


def save_json_soon(path: str, obj: Any, done: Callable[[bool], None] | None = None) -> None:
    """Have the writer thread write ``obj`` (a snapshot the caller no longer changes) to
    ``path``; ``done(ok)`` is called from that thread after the write (not for a snapshot
    superseded before it was written)."""
    _writer.submit(path, obj, done)


def flush_pending(timeout: float = 10.0) -> bool:
    """Wait until every snapshot handed to ``save_json_soon`` is written (False on timeout)."""
    return _writer.flush(timeout)


class _Writer:
    """One daemon thread writing the newest pending snapshot of each file."""

    def __init__(self) -> None:
        self.io = threading.Lock()           # one file write at a time
        self._cv = threading.Condition()
        self._pending: dict[str, tuple[Any, Callable[[bool], None] | None]] = {}
        self._busy = False
        self._thread: threading.Thread | None = None

    def submit(self, path: str, obj: Any, done: Callable[[bool], None] | None) -> None:
        with self._cv:
            self._pending[path] = (obj, done)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="pyrmq-persist",
                                                daemon=True)
                self._thread.start()
            self._cv.notify_all()

    def discard(self, path: str) -> None:
        with self._cv:
            self._pending.pop(path, None)

    def flush(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cv:
            while self._pending or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(left)
        return True

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._pending:
                    self._cv.wait()
                path = next(iter(self._pending))
                obj, done = self._pending.pop(path)
                self._busy = True
            try:
                with self.io:
                    ok = _write(path, obj)
                if done is not None:
                    done(ok)
            except Exception:  # a bug in a snapshot must not end the writer
                log.exception("persisting %s failed", path)
            finally:
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()


_writer = _Writer()
atexit.register(flush_pending)


def _write(path: str, obj: Any) -> bool:
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
