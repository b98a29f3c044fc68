"""100,000 messages over many segment rolls; consume queues and indexes rebuilt from the log."""

from __future__ import annotations

import shutil

from rmqtest.store import record_body, small_config, split_records

from pyrmq.store import GetMessageStatus, MessageStore

N = 100_000
QUEUES = 4


def _props(i: int) -> bytes:
    tag = b"TagA" if i % 2 else b"TagB"
    props = b"TAGS\x01" + tag + b"\x02"
    if i % 1000 == 0:
        props += b"KEYS\x01key-" + str(i).encode() + b"\x02"
    return props


def _read_queue(store: MessageStore, topic: str, qid: int) -> list[bytes]:
    out, offset = [], store.min_offset(topic, qid)
    for _ in range(N):  # bounded: at least one message per round
        got = store.get(topic, qid, offset, 32)
        if got.status is not GetMessageStatus.FOUND:
            break
        out.extend(record_body(r) for r in split_records(got.data))
        offset = got.next_begin_offset
    return out


def _check_all(store: MessageStore) -> None:
    for q in range(QUEUES):
        expected = [str(i).encode() for i in range(q, N, QUEUES)]
        assert _read_queue(store, "Bulk", q) == expected
    for i in (0, 1000, 54000, 99000):
        recs = store.query_by_key("Bulk", f"key-{i}")
        assert [record_body(r) for r in recs] == [str(i).encode()]


def test_hundred_thousand_messages_survive_rolls_and_rebuilds(tmp_path):
    cfg = small_config(mappedFileSizeCommitLog=1024 * 1024, mappedFileSizeConsumeQueue=6000 * 20)
    root = tmp_path / "store"
    with MessageStore(root, cfg) as s:
        for i in range(N):
            s.put("Bulk", i % QUEUES, str(i).encode(), properties=_props(i))
        assert s.stats()["commitlog_segments"] >= 5
        _check_all(s)
        end = s.max_phys_offset()

    shutil.rmtree(root / "consumequeue")
    with MessageStore(root, cfg) as s:
        assert s.max_phys_offset() == end
        assert s.recovery.cq_entries_rebuilt == N
        assert [s.max_offset("Bulk", q) for q in range(QUEUES)] == [N // QUEUES] * QUEUES
        _check_all(s)

    shutil.rmtree(root / "index")
    with MessageStore(root, cfg) as s:
        assert s.recovery.index_entries_rebuilt >= N // 1000
        _check_all(s)
        # Appends continue after the rebuild with the right queue offsets.
        assert s.put("Bulk", 0, b"more").queue_offset == N // QUEUES
