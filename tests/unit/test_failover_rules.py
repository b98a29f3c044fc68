"""The election rule (pyrmq.failover.rules): most caught-up current member wins, never one
behind the SYNC_MASTER ack point, never one whose log diverged from the group's."""

from __future__ import annotations

import pytest

from pyrmq.failover.rules import Epochs, Member, View, candidate, current


def _m(name: str, offset: int, epoch: int = 1, role: str = "SLAVE") -> Member:
    return Member(name, name, name + "h", offset, epoch, role)


EPOCH_1 = Epochs(1, ((1, 0),))


def _view(*members: Member, leader: Member | None = None, ack: int = 0,
          epochs: Epochs = EPOCH_1) -> View:
    return View(leader, members, epochs, ack)


def test_most_caught_up_wins_and_the_others_do_not_campaign():
    a, b, c = _m("a:1", 500), _m("b:1", 900), _m("c:1", 700)
    v = _view(a, b, c)
    assert [candidate(v, m) for m in (a, b, c)] == [False, True, False]


def test_a_tie_goes_to_the_smallest_name_only():
    # "127.0.0.1:1091" is a prefix of "127.0.0.1:10911": plain string order still decides
    a, b = _m("127.0.0.1:10911", 300), _m("127.0.0.1:1091", 300)
    v = _view(a, b)
    assert (candidate(v, a), candidate(v, b)) == (False, True)


def test_never_a_member_behind_the_ack_point_even_when_alone():
    lagging = _m("a:1", 400)
    assert not candidate(_view(lagging, ack=500), lagging)
    assert candidate(_view(lagging, ack=400), lagging)


def test_no_campaign_while_a_leader_exists():
    me = _m("a:1", 900)
    assert not candidate(_view(me, leader=_m("b:1", 100, role="MASTER")), me)


def test_a_member_with_a_divergent_tail_never_campaigns_and_does_not_block_others():
    # epoch 2 began at 800: an epoch-1 log ending at 1000 has 200 bytes the group never had
    epochs = Epochs(2, ((1, 0), (2, 800)))
    old_master, slave = _m("a:1", 1000, epoch=1), _m("b:1", 850, epoch=2)
    v = _view(old_master, slave, epochs=epochs)
    assert not current(v, old_master)
    assert not candidate(v, old_master)
    assert candidate(v, slave)


def test_an_earlier_epoch_log_that_ends_before_the_divergence_is_current():
    epochs = Epochs(2, ((1, 0), (2, 800)))
    behind = _m("a:1", 800, epoch=1)  # never saw the epoch-2 master, but holds no foreign tail
    v = _view(behind, epochs=epochs)
    assert current(v, behind) and candidate(v, behind)
    # and it counts against a less caught-up member of the current epoch
    fresh = _m("b:1", 700, epoch=2)
    assert not candidate(_view(behind, fresh, epochs=epochs), fresh)


def test_a_member_from_a_later_epoch_than_etcd_is_not_current():
    assert not current(_view(epochs=Epochs(1, ((1, 0),))), _m("a:1", 10, epoch=3))


def test_epoch_history_next_and_divergence():
    e = Epochs().next(0).next(500).next(900)
    assert e.epoch == 3 and e.history == ((1, 0), (2, 500), (3, 900))
    assert e.divergence(1) == 500
    assert e.divergence(2) == 900
    assert e.divergence(3) is None
    assert Epochs.decode(e.encode()) == e
    assert Epochs.decode(None) == Epochs()
    kept = Epochs(0, ()).next(1, keep=2).next(2, keep=2).next(3, keep=2)
    assert kept.history == ((2, 2), (3, 3))


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b'{"name": 1}', b'{"name":"a","addr":"b"}'])
def test_member_decode_rejects_what_is_not_a_member(raw):
    assert Member.decode(raw) is None


def test_member_round_trip():
    m = _m("a:1", 42, epoch=7, role="MASTER")
    assert Member.decode(m.encode()) == m
