"""A slave's merge of its master's offset table: the master wins, except an offset a client
committed to the slave (master away) that is still ahead of the master's."""

from __future__ import annotations

from pyrmq.broker.consumer import merge_master_offsets
from pyrmq.broker.groups import ConsumerOffsetManager


def test_master_wins_over_a_plain_synced_copy(tmp_path):
    o = ConsumerOffsetManager(str(tmp_path))
    o.commit("G", "T", 0, 9)  # from an earlier sync: not committed here
    assert merge_master_offsets(o, {"T@G": {0: 3}}) == []
    assert o.query("G", "T", 0) == 3


def test_local_commit_ahead_of_the_master_is_kept_and_carried(tmp_path):
    o = ConsumerOffsetManager(str(tmp_path))
    o.commit("G", "T", 0, 7)
    o.local[("T@G", 0)] = 7
    o.local[("T@G", 1)] = 2  # a queue the master has no offset for
    o.commit("G", "T", 1, 2)
    carry = merge_master_offsets(o, {"T@G": {0: 5}})
    assert sorted(carry) == [("T@G", 0, 7), ("T@G", 1, 2)]
    assert o.query("G", "T", 0) == 7 and o.query("G", "T", 1) == 2


def test_local_mark_forgotten_once_the_master_caught_up(tmp_path):
    o = ConsumerOffsetManager(str(tmp_path))
    o.commit("G", "T", 0, 7)
    o.local[("T@G", 0)] = 7
    assert merge_master_offsets(o, {"T@G": {0: 8}}) == []
    assert o.query("G", "T", 0) == 8 and o.local == {}
    assert merge_master_offsets(o, {"T@G": {0: 2}}) == []  # a reset on the master: taken
    assert o.query("G", "T", 0) == 2
