"""The epoch this store's CommitLog belongs to, persisted in ``<store>/failover-epoch.json``
(written atomically: temp file, fsync, rename). A master writes it when it is promoted; a
slave adopts its master's epoch at the HA handshake; a returning old master reads it to find
where its log diverged from the group's (see ``rules.Epochs.divergence``)."""

from __future__ import annotations

import logging
import os

from pyrmq.failover.rules import Epochs

log = logging.getLogger("pyrmq.failover")

FILE_NAME = "failover-epoch.json"


class EpochFile:
    """The store's epoch and history; ``epoch`` is 0 for a store that never took part."""

    def __init__(self, store_dir: str) -> None:
        self.path = os.path.join(store_dir, FILE_NAME)
        self.state = Epochs()
        try:
            with open(self.path, "rb") as f:
                self.state = Epochs.decode(f.read())
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError) as e:
            # an unreadable file must not make this store look current: epoch 0 never wins
            # against a group that has had a promotion, so the store reconciles first
            log.warning("epoch file %s unreadable (%s): treating the store as epoch 0",
                        self.path, e)

    @property
    def epoch(self) -> int:
        return self.state.epoch

    def save(self, state: Epochs) -> None:
        """Persist ``state`` (no-op when unchanged)."""
        if state == self.state:
            return
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        tmp = self.path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(state.encode())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self.state = state

    def adopt(self, epoch: int) -> None:
        """A slave follows a master of ``epoch`` (history is taken from etcd by the agent)."""
        if epoch > self.state.epoch:
            self.save(Epochs(epoch, self.state.history))
