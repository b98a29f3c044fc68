"""A push consumer's process queue (Java ProcessQueue): the messages of one message queue that
were pulled but are not consumed yet, which offset is safe to commit, and the flow-control
thresholds that pause pulling.

The offset to commit is the smallest offset still in the queue (Java's ``removeMessage``), or,
with nothing left, the next offset the broker said to pull from: so a crash never commits past
a message that was not consumed, whatever order concurrent listeners finish in."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable

from pyrmq.protocol.message import MessageExt

PULL_THRESHOLD_FOR_QUEUE = 1000        # Java pullThresholdForQueue (messages)
PULL_THRESHOLD_SIZE_FOR_QUEUE = 100    # Java pullThresholdSizeForQueue (MiB of bodies)


class ProcessQueue:
    """Pulled, not yet consumed messages of one queue, by queue offset."""

    def __init__(self, next_offset: int = -1) -> None:
        self._sizes: dict[int, int] = {}      # pending offset -> body bytes
        self._order: deque[int] = deque()     # pending offsets in pull (= offset) order
        self.next_offset = next_offset        # where the next pull starts (the broker said)
        self.bytes = 0
        self.dropped = False                  # rebalanced away / reset: commit nothing more
        self._room = asyncio.Event()
        self._room.set()

    def __len__(self) -> int:
        return len(self._sizes)

    def put(self, msgs: Iterable[MessageExt], next_offset: int) -> None:
        """Add pulled messages (in queue order); ``next_offset`` is the pull's next begin
        offset."""
        for m in msgs:
            if m.queue_offset not in self._sizes:
                self._sizes[m.queue_offset] = n = len(m.body)
                self._order.append(m.queue_offset)
                self.bytes += n
        self.next_offset = next_offset

    def advance(self, next_offset: int) -> int:
        """A pull that brought nothing to consume (all filtered, none found): continue at
        ``next_offset``; returns the offset to commit."""
        self.next_offset = next_offset
        return self.commit_offset()

    def remove(self, msgs: Iterable[MessageExt]) -> int:
        """Consumed (or safely handed back for retry): forget ``msgs``; returns the offset to
        commit."""
        for m in msgs:
            n = self._sizes.pop(m.queue_offset, None)
            if n is not None:
                self.bytes -= n
        order = self._order
        while order and order[0] not in self._sizes:
            order.popleft()
        self._room.set()
        return self.commit_offset()

    def commit_offset(self) -> int:
        """The smallest offset still pending, else the next offset to pull."""
        return self._order[0] if self._order else self.next_offset

    def over(self, max_msgs: int, max_bytes: int) -> bool:
        """More than ``max_msgs`` messages or ``max_bytes`` body bytes cached (pull no
        more)."""
        return len(self._sizes) > max_msgs or self.bytes > max_bytes

    async def wait_room(self, max_msgs: int, max_bytes: int, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) until not ``over`` the thresholds; True when there is
        room."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.over(max_msgs, max_bytes) and not self.dropped:
            left = deadline - loop.time()
            if left <= 0:
                return False
            self._room.clear()
            try:
                await asyncio.wait_for(self._room.wait(), left)
            except asyncio.TimeoutError:
                return False
        return True
