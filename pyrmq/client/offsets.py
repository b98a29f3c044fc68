"""Offset stores, one interface (Java OffsetStore): the broker keeps a CLUSTERING group's
offsets (RemoteBrokerOffsetStore), a local file keeps a BROADCASTING consumer's own
(LocalFileOffsetStore)."""

from __future__ import annotations

import abc
import json
import logging
import os

from pyrmq.client.base import ConsumerBase
from pyrmq.client.message import MessageQueue
from pyrmq.protocol.errors import ProtocolError
from pyrmq.remoting import RemotingError

log = logging.getLogger("pyrmq.client")


class OffsetStore(abc.ABC):
    """``offsets`` is the next offset to consume per queue (in memory, updated as messages
    are consumed); ``persist`` writes a queue's offset where it is kept, when it changed."""

    def __init__(self) -> None:
        self.offsets: dict[MessageQueue, int] = {}
        self._persisted: dict[MessageQueue, int] = {}

    def load(self) -> None:  # noqa: B027 - only a locally kept store has anything to read
        """Read the persisted offsets into ``offsets`` (for stores kept locally)."""

    @abc.abstractmethod
    async def read_stored(self, mq: MessageQueue) -> int:
        """The persisted offset of ``mq``; -1 if there is none."""

    @abc.abstractmethod
    async def _write(self, mq: MessageQueue, offset: int) -> bool:
        """Persist one offset; False (after logging why) if it could not be."""

    async def persist(self, mq: MessageQueue) -> None:
        """Persist ``mq``'s offset if it changed since it was last persisted."""
        off = self.offsets.get(mq)
        if off is None or self._persisted.get(mq) == off:
            return
        if await self._write(mq, off):
            self._persisted[mq] = off

    async def persist_all(self) -> None:
        for mq in list(self.offsets):
            await self.persist(mq)

    def remove(self, mq: MessageQueue) -> None:
        """Forget ``mq`` (no longer consumed here; callers persist it first)."""
        self.offsets.pop(mq, None)


class RemoteBrokerOffsetStore(OffsetStore):
    """CLUSTERING: the group's offsets live on the queue's broker -- its master, or while the
    master is unreachable its slave; an offset committed to the slave is committed again to
    the master once that is back, changed or not."""

    def __init__(self, client: ConsumerBase) -> None:
        super().__init__()
        self.client = client
        self._target: dict[MessageQueue, str] = {}  # where each offset was last committed

    async def persist(self, mq: MessageQueue) -> None:
        off = self.offsets.get(mq)
        if off is None:
            return
        try:
            target = self.client.choose_addr(mq.broker_name)
        except RemotingError as e:
            log.debug("commit %s failed: %s", mq, e)
            return
        if self._persisted.get(mq) == off and self._target.get(mq) == target:
            return
        if await self._write(mq, off):
            self._persisted[mq] = off
            self._target[mq] = target

    async def read_stored(self, mq: MessageQueue) -> int:
        return await self.client.query_consumer_offset(mq)

    async def _write(self, mq: MessageQueue, offset: int) -> bool:
        try:
            await self.client.update_consumer_offset(mq, offset)
        except RemotingError as e:
            log.debug("commit %s failed: %s", mq, e)
            return False
        return True


class LocalFileOffsetStore(OffsetStore):
    """BROADCASTING: every consumer keeps its own offsets in a JSON file
    (``{"offsetTable": [{"topic", "brokerName", "queueId", "offset"}, ...]}``), replaced
    atomically on each write."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    @classmethod
    def for_client(cls, offset_dir: str | None, client_id: str, group: str
                   ) -> LocalFileOffsetStore:
        """``<offset_dir or ~/.pyrmq_offsets>/<ip_pid>/<group>/offsets.json``."""
        root = offset_dir or os.path.join(os.path.expanduser("~"), ".pyrmq_offsets")
        return cls(os.path.join(root, client_id.split("#")[0].replace("@", "_"), group,
                                "offsets.json"))

    def load(self) -> None:
        try:
            with open(self.path, encoding="utf-8") as f:
                rows = json.load(f).get("offsetTable", [])
        except (OSError, ValueError, AttributeError):
            return
        for row in rows if isinstance(rows, list) else []:
            try:
                mq, off = MessageQueue.from_dict(row), int(row["offset"])
            except (ProtocolError, KeyError, TypeError, ValueError):
                log.warning("skipped a bad entry in %s: %r", self.path, row)
                continue
            self.offsets[mq] = self._persisted[mq] = off

    async def read_stored(self, mq: MessageQueue) -> int:
        return self._persisted.get(mq, -1)

    async def _write(self, mq: MessageQueue, offset: int) -> bool:
        rows = [dict(q.to_dict(), offset=o) for q, o in sorted(self.offsets.items())]
        tmp = self.path + ".tmp"
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump({"offsetTable": rows}, f)
            os.replace(tmp, self.path)
        except OSError as e:
            log.warning("could not write offsets to %s: %s", self.path, e)
            return False
        return True
