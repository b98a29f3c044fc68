"""Allocation strategies give Java's results (AllocateMessageQueueAveragely[ByCircle])."""

import pytest

from pyrmq.client.message import MessageQueue
from pyrmq.client.rebalance import allocate_averagely, allocate_averagely_by_circle

QS = [MessageQueue("T", "b", i) for i in range(8)]


@pytest.mark.parametrize("n_clients, expected", [
    (1, [[0, 1, 2, 3, 4, 5, 6, 7]]),
    (3, [[0, 1, 2], [3, 4, 5], [6, 7]]),          # 8 % 3 = 2: the first two get 3
    (5, [[0, 1], [2, 3], [4, 5], [6], [7]]),
    (10, [[0], [1], [2], [3], [4], [5], [6], [7], [], []]),
])
def test_averagely(n_clients, expected):
    clients = [f"c{i}" for i in range(n_clients)]
    got = [[q.queue_id for q in allocate_averagely(c, list(reversed(QS)), clients)]
           for c in clients]
    assert got == expected
    assert sorted(x for g in got for x in g) == list(range(8))  # every queue exactly once


def test_by_circle_and_unknown_client():
    clients = ["a", "b", "c"]
    assert [q.queue_id for q in allocate_averagely_by_circle("b", QS, clients)] == [1, 4, 7]
    assert allocate_averagely("zz", QS, clients) == []
    assert allocate_averagely_by_circle("zz", QS, clients) == []
