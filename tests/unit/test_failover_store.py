"""What failover keeps in the store directory: the CommitLog cut of a returning old master
(pyrmq.store.truncate), the epoch file, and the HA slave's epoch check."""

from __future__ import annotations

import asyncio
import struct
from types import SimpleNamespace

import pytest
from rmqtest.store import record_body, small_config, split_records

from pyrmq.broker.ha import EPOCH_FRAME, HEADER, HASlave
from pyrmq.failover.epoch import EpochFile
from pyrmq.failover.rules import Epochs
from pyrmq.store import MessageStore
from pyrmq.store.truncate import cut_commitlog

SEG = 64 * 1024


def _fill(root, n: int):
    cfg = small_config(mappedFileSizeCommitLog=SEG)
    with MessageStore(root, cfg) as s:
        return cfg, [s.put("Cut", 0, b"b-%05d" % i + b"." * 500) for i in range(n)]


def test_cut_keeps_the_tail_in_a_side_file_and_recovery_drops_queue_entries(tmp_path):
    root = tmp_path / "s"
    cfg, res = _fill(root, 300)  # ~160 KiB: three segments
    at = res[100].phys_offset
    rep = cut_commitlog(str(root), at, "cut.bin")
    assert rep is not None and rep.start == at
    assert rep.end == res[-1].phys_offset + res[-1].size
    kept = [record_body(r) for r in split_records((root / "cut.bin").read_bytes())
            if struct.unpack_from(">I", r, 4)[0] == 0xDAA320A7]
    assert kept == [b"b-%05d" % i + b"." * 500 for i in range(100, 300)]
    with MessageStore(root, cfg) as s:
        assert s.max_phys_offset() == at
        assert s.max_offset("Cut", 0) == 100
        nxt = s.put("Cut", 0, b"after")  # the log goes on at the cut
        assert nxt.phys_offset == at and nxt.queue_offset == 100


def test_cut_at_a_segment_start_removes_that_segment(tmp_path):
    root = tmp_path / "s"
    cfg, res = _fill(root, 300)
    first_in_2nd = next(r for r in res if r.phys_offset >= SEG)
    assert first_in_2nd.phys_offset == SEG  # the first segment ended with a BLANK
    assert cut_commitlog(str(root), SEG, "cut.bin") is not None
    assert sorted(p.name for p in (root / "commitlog").iterdir()) == [f"{0:020d}"]
    with MessageStore(root, cfg) as s:
        assert s.max_phys_offset() == SEG
        assert s.max_offset("Cut", 0) == res.index(first_in_2nd)


def test_cut_past_the_end_is_nothing(tmp_path):
    root = tmp_path / "s"
    _, res = _fill(root, 10)
    end = res[-1].phys_offset + res[-1].size
    assert cut_commitlog(str(root), end, "cut.bin") is None
    assert not (root / "cut.bin").exists()


def test_epoch_file_persists_and_a_garbled_one_reads_as_epoch_0(tmp_path):
    f = EpochFile(str(tmp_path))
    assert f.epoch == 0
    f.save(Epochs(2, ((1, 0), (2, 40))))
    assert EpochFile(str(tmp_path)).state == Epochs(2, ((1, 0), (2, 40)))
    f.adopt(1)  # never backwards
    assert EpochFile(str(tmp_path)).epoch == 2
    f.adopt(3)
    assert EpochFile(str(tmp_path)).epoch == 3
    (tmp_path / "failover-epoch.json").write_bytes(b"{garbage")
    assert EpochFile(str(tmp_path)).epoch == 0


class _Epochs:
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def adopt(self, epoch: int) -> None:
        self.epoch = max(self.epoch, epoch)


def _check(mine: int, frame: bytes) -> int:
    slave = HASlave(SimpleNamespace(cfg=SimpleNamespace(haMasterAddress="")), None)
    slave.epochs = _Epochs(mine)

    async def go() -> None:
        r = asyncio.StreamReader()
        r.feed_data(frame)
        await slave._check_epoch(r, "m:1")

    asyncio.run(go())
    return slave.epochs.epoch


def test_slave_refuses_a_master_of_a_lower_epoch_and_adopts_a_higher_one():
    with pytest.raises(ConnectionError, match="lower than ours"):
        _check(3, HEADER.pack(2, EPOCH_FRAME))
    assert _check(3, HEADER.pack(3, EPOCH_FRAME)) == 3
    assert _check(3, HEADER.pack(5, EPOCH_FRAME)) == 5
    with pytest.raises(ConnectionError, match="no failover epoch"):
        _check(0, HEADER.pack(0, 1024))


def test_follow_cuts_the_reconnect_pause_short():
    slave = HASlave(SimpleNamespace(cfg=SimpleNamespace(haMasterAddress="")), None)

    async def go() -> float:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        pause = asyncio.ensure_future(slave._pause())
        await asyncio.sleep(0.05)
        slave.follow("127.0.0.1:2", "127.0.0.1:1")
        await asyncio.wait_for(pause, 2)
        return loop.time() - t0

    assert asyncio.run(go()) < 0.5  # the pause is 1 s without follow()
    assert (slave.master_ha, slave.master_addr) == ("127.0.0.1:2", "127.0.0.1:1")
