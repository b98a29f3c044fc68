"""Crash safety: a writer killed with SIGKILL loses no acknowledged message; torn tails are
truncated and reported; retention deletes old files while appends go on."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from rmqtest.store import record_body, small_config, split_records

from pyrmq.store import GetMessageStatus, MessageStore

WRITER = textwrap.dedent("""
    import sys
    from pyrmq.store import MessageStore, StoreConfig
    root, flush = sys.argv[1], sys.argv[2]
    cfg = StoreConfig(mappedFileSizeCommitLog=64 * 1024, mappedFileSizeConsumeQueue=500 * 20,
                      maxHashSlotNum=256, maxIndexNum=1024, flushDiskType=flush,
                      flushIntervalCommitLog=20, preallocateMappedFile=False)
    s = MessageStore(root, cfg)
    print("ready", flush=True)
    for seq in range(200000):
        q = seq % 3
        r = s.put("Crash", q, f"{q}:{seq}".encode(), properties=b"KEYS\\x01k%d\\x02" % seq)
        print(q, seq, r.queue_offset, flush=True)
""")


def _run_and_kill(root, flush: str, min_acks: int, rng: random.Random):
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(root), flush],
                            stdout=subprocess.PIPE, text=True)
    acks = []
    try:
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 30
        target = min_acks + rng.randrange(min_acks)
        while len(acks) < target and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            acks.append(tuple(map(int, line.split())))
        time.sleep(rng.random() * 0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        # Read through the same buffered reader (communicate() with a timeout reads the raw
        # pipe and would skip what this reader already buffered). The writer is dead: EOF.
        rest = proc.stdout.read()
        proc.stdout.close()
    # Everything printed before the kill was acknowledged (put returned).
    for line in rest.splitlines():
        parts = line.split()
        if len(parts) == 3:
            acks.append(tuple(map(int, parts)))
    assert len(acks) >= min_acks
    return acks


@pytest.mark.parametrize("flush", ["SYNC_FLUSH", "ASYNC_FLUSH"])
def test_kill9_loses_no_acknowledged_message(tmp_path, flush):
    rng = random.Random(flush)
    root = tmp_path / "store"
    acks = _run_and_kill(root, flush, 300 if flush == "SYNC_FLUSH" else 3000, rng)
    cfg = small_config(mappedFileSizeCommitLog=64 * 1024, mappedFileSizeConsumeQueue=500 * 20,
                       maxHashSlotNum=256, maxIndexNum=1024)
    with MessageStore(root, cfg) as s:
        assert not s.recovery.clean_shutdown
        for q in range(3):
            acked = [(seq, off) for qq, seq, off in acks if qq == q]
            got, offset = [], 0
            for _ in range(10_000):
                r = s.get("Crash", q, offset, 32)
                if r.status is not GetMessageStatus.FOUND:
                    break
                got.extend(record_body(x) for x in split_records(r.data))
                offset = r.next_begin_offset
            # In order, no gap, and every acknowledged message present at its offset.
            assert got[:len(acked)] == [f"{q}:{seq}".encode() for seq, _ in acked]
            assert [off for _, off in acked] == list(range(len(acked)))
            for i, body in enumerate(got):
                assert body == f"{q}:{q + 3 * i}".encode()
        last_seq = max(seq for _, seq, _ in acks)
        assert [record_body(r) for r in s.query_by_key("Crash", f"k{last_seq}")] == [
            f"{last_seq % 3}:{last_seq}".encode()]


def _segment_of(root, phys: int, seg_size: int):
    base = phys - phys % seg_size
    return root / "commitlog" / f"{base:020d}", phys - base


@pytest.mark.parametrize("damage", ["garble", "cut"])
def test_torn_tail_is_truncated_and_reported(tmp_path, damage):
    cfg = small_config(mappedFileSizeCommitLog=64 * 1024)
    root = tmp_path / "store"
    with MessageStore(root, cfg) as s:
        results = [s.put("Torn", 0, b"m%05d" % i + b"." * 300) for i in range(400)]
    last = results[-1]
    path, pos = _segment_of(root, last.phys_offset, 64 * 1024)
    with open(path, "r+b") as f:
        if damage == "garble":
            f.seek(pos + last.size - 20)
            f.write(b"\xff" * 20)
        else:  # the record's second half never reached the disk
            f.seek(pos + last.size // 2)
            f.write(b"\x00" * (last.size - last.size // 2))
    (root / "abort").write_bytes(b"")  # as after a crash
    with MessageStore(root, cfg) as s:
        rep = s.recovery
        assert not rep.clean_shutdown
        assert rep.truncated_at == last.phys_offset
        # Everything of the torn record that reached the file is dropped.
        assert rep.bytes_truncated == (last.size if damage == "garble" else last.size // 2)
        assert rep.truncated_segment.endswith(path.name)
        assert rep.cq_entries_truncated == 1
        assert "truncated" in rep.summary()
        assert s.max_offset("Torn", 0) == 399
        assert s.max_phys_offset() == last.phys_offset
        r = s.put("Torn", 0, b"after")
        assert (r.queue_offset, r.phys_offset) == (399, last.phys_offset)


def test_retention_deletes_old_segments_and_queue_files(tmp_path):
    cfg = small_config(mappedFileSizeCommitLog=64 * 1024, mappedFileSizeConsumeQueue=100 * 20)
    root = tmp_path / "store"
    with MessageStore(root, cfg) as s:
        for i in range(1500):
            s.put("Old", 0, b"%06d" % i + b"-" * 200)
        segs_before = sorted(os.listdir(root / "commitlog"))
        cq_before = sorted(os.listdir(root / "consumequeue" / "Old" / "0"))
        deleted = 0
        for i in range(len(segs_before)):
            deleted += s.delete_expired(int(time.time() * 1000) + 1000, 0, force=False)
            s.put("Old", 0, b"new-%d" % i)  # appends go on between steps
        assert deleted >= len(segs_before) - 1
        segs_after = sorted(os.listdir(root / "commitlog"))
        assert segs_before[0] not in segs_after
        assert s.min_phys_offset() == int(segs_after[0])
        assert sorted(os.listdir(root / "consumequeue" / "Old" / "0"))[0] != cq_before[0]
        mn = s.min_offset("Old", 0)
        assert mn > 0
        assert s.get("Old", 0, 0).status is GetMessageStatus.OFFSET_TOO_SMALL
        got = s.get("Old", 0, mn, 1)
        assert got.status is GetMessageStatus.FOUND
        assert s.read_at(s.phys_of("Old", 0, mn)) == got.data


def test_disk_usage_over_the_warning_ratio_refuses_writes_keeps_reads(tmp_path):
    from pyrmq import _store

    root = tmp_path / "store"
    with MessageStore(root, small_config()) as s:
        r = s.put("Full", 0, b"before")
    # any real filesystem is more than 0 % used: the store must refuse writes, clearly
    with MessageStore(root, small_config(diskSpaceWarningLevelRatio=0)) as s:
        with pytest.raises(_store.DiskFullError) as e:
            s.put("Full", 0, b"after")
        assert str(root) in str(e.value) and "diskSpaceWarningLevelRatio 0%" in str(e.value)
        assert s.read_at(r.phys_offset) == s.get("Full", 0, 0).data  # reads still work
        assert s.stats()["write_error"] != 0
