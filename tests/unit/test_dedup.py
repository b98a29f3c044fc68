"""The duplicate filter's window: hits confirmed by the caller, expiry by time and by size."""

import pytest

from pyrmq.broker.dedup import DuplicateFilter, Stored


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def yes(_: Stored) -> bool:
    return True


def test_remembered_key_is_found_and_counted() -> None:
    f = DuplicateFilter(60, 10, clock=Clock())
    s = Stored(123, "MSGID", 2, 7)
    assert f.lookup(f.key("T", "K1"), yes) is None
    f.remember(f.key("T", "K1"), s)
    assert f.lookup(f.key("T", "K1"), yes) == s
    assert f.lookup(f.key("T2", "K1"), yes) is None  # another topic is another message
    assert (f.hits, f.misses) == (1, 1)


def test_unconfirmed_hit_is_not_a_duplicate() -> None:
    f = DuplicateFilter(60, 10, clock=Clock())
    f.remember(f.key("T", "K1"), Stored(1, "M", 0, 0))
    assert f.lookup(f.key("T", "K1"), lambda s: False) is None
    assert f.collisions == 1


def test_window_expires_by_time() -> None:
    clock = Clock()
    f = DuplicateFilter(5, 10, clock=clock)
    f.remember(f.key("T", "K1"), Stored(1, "M", 0, 0))
    clock.t += 4.9
    assert f.lookup(f.key("T", "K1"), yes) is not None
    clock.t += 0.2
    assert f.lookup(f.key("T", "K1"), yes) is None
    f.remember(f.key("T", "K2"), Stored(2, "M", 0, 1))  # expiry happens as new keys arrive
    assert len(f) == 1


def test_window_is_bounded_by_entries() -> None:
    f = DuplicateFilter(60, 3, clock=Clock())
    for i in range(5):
        f.remember(f.key("T", f"K{i}"), Stored(i, "M", 0, i))
    assert len(f) == 3
    assert f.lookup(f.key("T", "K0"), yes) is None
    assert f.lookup(f.key("T", "K4"), yes) is not None


def test_bad_bounds_refused() -> None:
    with pytest.raises(ValueError):
        DuplicateFilter(0, 10)
