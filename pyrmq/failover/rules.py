"""The failover state kept in etcd, as plain values, and the election rule as pure functions
(no I/O, unit-tested with a fake etcd). Keys, under ``<prefix>/<cluster>/<brokerName>/``:

``leader``          the elected member (JSON :class:`Member`), bound to the leader's lease;
``members/<name>``  each live member's status (JSON :class:`Member`), bound to its own lease;
``epoch``           ``{"epoch": n, "history": [[epoch, start offset], ...]}``, no lease; written
                    in the same txn that creates ``leader``;
``ackpoint``        ``{"epoch": n, "offset": x}``, no lease: the highest CommitLog end the
                    SYNC_MASTER has had acknowledged by a slave (published by the master).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


def group_prefix(prefix: str, cluster: str, broker_name: str) -> bytes:
    return f"{prefix.rstrip('/')}/{cluster}/{broker_name}/".encode()


@dataclass(frozen=True, slots=True)
class Member:
    """One replica as the others see it."""

    name: str            # unique in the group: the broker's remoting address
    addr: str            # remoting address (clients, config sync)
    ha: str              # HA address (slaves replicate from it)
    offset: int = 0      # confirmed CommitLog end: the last whole record stored
    epoch: int = 0       # the epoch this member's log belongs to
    role: str = "SLAVE"  # what it runs as now: MASTER, SLAVE or FENCED

    def encode(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def decode(cls, data: bytes) -> Member | None:
        """None for anything that is not a member record (logged by the caller)."""
        try:
            d = json.loads(data)
            return cls(str(d["name"]), str(d["addr"]), str(d["ha"]), int(d.get("offset", 0)),
                       int(d.get("epoch", 0)), str(d.get("role", "SLAVE")))
        except (ValueError, KeyError, TypeError):
            return None


@dataclass(frozen=True, slots=True)
class Epochs:
    """The epoch history: ``history[i] = (epoch, CommitLog offset where it began)``."""

    epoch: int = 0
    history: tuple[tuple[int, int], ...] = field(default_factory=tuple)

    def encode(self) -> bytes:
        return json.dumps({"epoch": self.epoch,
                           "history": [list(h) for h in self.history]}).encode()

    @classmethod
    def decode(cls, data: bytes | None) -> Epochs:
        if not data:
            return cls()
        d = json.loads(data)
        return cls(int(d["epoch"]), tuple((int(e), int(o)) for e, o in d.get("history", [])))

    def next(self, start: int, keep: int = 64) -> Epochs:
        """The history after one more promotion at ``start`` (the last ``keep`` kept)."""
        n = self.epoch + 1
        return Epochs(n, (*self.history, (n, start))[-keep:])

    def divergence(self, my_epoch: int) -> int | None:
        """Where a log of epoch ``my_epoch`` stops being the group's: the start offset of the
        first later epoch; None when there is no later epoch (nothing to cut)."""
        later = [start for e, start in self.history if e > my_epoch]
        return min(later) if later else None


@dataclass(frozen=True, slots=True)
class View:
    """What one read of the group's keys showed."""

    leader: Member | None
    members: tuple[Member, ...]
    epochs: Epochs
    ack_point: int = 0        # 0 when no master ever published one
    epoch_revision: int = 0   # mod_revision of ``epoch`` (0: absent), for the campaign txn


def current(view: View, m: Member) -> bool:
    """Whether ``m``'s log is a prefix of the group's: it belongs to the current epoch, or to
    an earlier one and ends at or before where the next epoch began."""
    if m.epoch == view.epochs.epoch:
        return True
    cut = view.epochs.divergence(m.epoch)
    return m.epoch < view.epochs.epoch and cut is not None and m.offset <= cut


def candidate(view: View, me: Member) -> bool:
    """Whether ``me`` may campaign now: no leader; my log is current (a member with a tail
    the group never had must reconcile and follow first); I hold at least everything the
    SYNC_MASTER had acknowledged; and no live current member is further ahead (ties go to
    the smallest name, so one member tries)."""
    if view.leader is not None or not current(view, me) or me.offset < view.ack_point:
        return False
    peers = [m for m in view.members if m.name != me.name and current(view, m)]
    best = min([me, *peers], key=lambda m: (-m.offset, m.name))
    return best is me
