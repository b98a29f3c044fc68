"""The ACL file a broker checks against, re-read when its mtime or size changes (looked at
most once per ``interval`` seconds, when a request asks). A file that does not load keeps the
previous ACL and logs one line per change."""

from __future__ import annotations

import logging
import os
import time

from pyrmq.acl.config import AclConfig, AclConfigError, load_acl

log = logging.getLogger("pyrmq.acl")


class AclFile:
    """``current()`` = the last ACL that loaded from ``path`` (empty: nothing but
    white-listed addresses passes)."""

    def __init__(self, path: str, interval: float = 1.0) -> None:
        self.path = path
        self.interval = interval
        self.config = AclConfig()
        self._stamp: tuple[int, int] | None = None
        self._checked = -1e9
        self.reload()

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def reload(self) -> bool:
        """Load the file if it changed since the last look; True when a new ACL is in use."""
        self._checked = time.monotonic()
        stamp = self._stat()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            cfg = load_acl(self.path)
        except (OSError, AclConfigError) as e:
            log.error("ACL file %s not loaded, keeping the previous ACL: %s", self.path, e)
            return False
        self.config = cfg
        log.info("ACL file %s loaded: %d account(s), %d global white address pattern(s)",
                 self.path, len(cfg.accounts), len(cfg.global_white))
        return True

    def current(self) -> AclConfig:
        """The ACL in use, after a reload when ``interval`` has passed since the last look."""
        if time.monotonic() - self._checked >= self.interval:
            self.reload()
        return self.config
