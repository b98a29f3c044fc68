"""MessageStore through the compiled core: put/get, statuses, batch, lookups, errors."""

from __future__ import annotations

import os
import struct

import pytest
from rmqtest.store import record_body, small_config, split_records

from pyrmq import _store
from pyrmq.store import GetMessageStatus, MessageStore

PROPS = b"KEYS\x01k1 k2\x02TAGS\x01TagA\x02UNIQ_KEY\x01U0001\x02"


@pytest.fixture
def store(tmp_path):
    s = MessageStore(tmp_path / "store", small_config(), store_host=("127.0.0.1", 10911))
    yield s
    if not s.closed:
        s.close()


def test_put_then_get_returns_raw_records_in_order(store):
    results = [store.put("T", 1, f"body-{i}".encode(), properties=PROPS) for i in range(10)]
    assert [r.queue_offset for r in results] == list(range(10))
    assert results[0].phys_offset == 0
    for a, b in zip(results, results[1:], strict=False):
        assert b.phys_offset == a.phys_offset + a.size
    got = store.get("T", 1, 0, 32)
    assert got.status is GetMessageStatus.FOUND
    assert (got.count, got.next_begin_offset, got.min_offset, got.max_offset) == (10, 10, 0, 10)
    records = split_records(got.data)
    assert [record_body(r) for r in records] == [f"body-{i}".encode() for i in range(10)]
    assert store.read_at(results[3].phys_offset) == records[3]


def test_record_header_fields(store):
    r = store.put("TopicX", 2, b"hello", properties=PROPS, flag=7, born_timestamp=1234,
                  born_host=("10.1.2.3", 5555), reconsume_times=3)
    rec = store.read_at(r.phys_offset)
    size, magic, crc, qid, flag, qoff, phys, sysflag, born = struct.unpack_from(
        ">iIiiiqqiq", rec, 0)
    assert (size, magic, qid, flag, qoff, phys, sysflag, born) == (
        len(rec), 0xDAA320A7, 2, 7, 0, r.phys_offset, 0, 1234)
    assert crc == _store.crc32(b"hello")
    assert rec[48:56] == bytes([10, 1, 2, 3]) + struct.pack(">i", 5555)
    assert struct.unpack_from(">q", rec, 56)[0] == r.store_timestamp
    assert rec[64:72] == bytes([127, 0, 0, 1]) + struct.pack(">i", 10911)
    assert len(rec) == 91 + 5 + len("TopicX") + len(PROPS)
    assert r.msg_id == "7F00000100002A9F" + f"{r.phys_offset:016X}"


def test_get_statuses_follow_rocketmq(store):
    empty = store.get("Nope", 0, 0)
    assert empty.status is GetMessageStatus.NO_MESSAGE_IN_QUEUE and empty.next_begin_offset == 0
    for _ in range(3):
        store.put("S", 0, b"x", properties=b"TAGS\x01A\x02")
    one = store.get("S", 0, 3)
    assert one.status is GetMessageStatus.OFFSET_OVERFLOW_ONE and one.next_begin_offset == 3
    bad = store.get("S", 0, 10)
    # RocketMQ corrects a badly overflowed offset to the minimum when the queue starts at 0.
    assert bad.status is GetMessageStatus.OFFSET_OVERFLOW_BADLY and bad.next_begin_offset == 0
    nomatch = store.get("S", 0, 0, tag_codes=[_store.java_hash("B")])
    assert nomatch.status is GetMessageStatus.NO_MATCHED_MESSAGE
    assert nomatch.next_begin_offset == 3 and nomatch.data == b""


def test_tag_filter_keeps_matching_records_only(store):
    for i in range(12):
        store.put("F", 0, str(i).encode(), properties={"TAGS": "TagA" if i % 3 == 0 else "TagB"})
    got = store.get("F", 0, 0, 32, tag_codes=[_store.java_hash("TagA")])
    assert got.status is GetMessageStatus.FOUND
    assert [record_body(r) for r in split_records(got.data)] == [b"0", b"3", b"6", b"9"]
    assert got.next_begin_offset == 12
    limited = store.get("F", 0, 0, 2)
    assert limited.count == 2 and limited.next_begin_offset == 2


def test_java_hash_matches_known_values():
    assert _store.java_hash("TagA") == 2598919
    assert _store.java_hash("TagB") == 2598920
    assert _store.java_hash("*") == 42
    assert _store.java_hash("") == 0


def test_consume_queue_entries_on_disk(store, tmp_path):
    r1 = store.put("CQ", 3, b"a", properties={"TAGS": "TagA"})
    r2 = store.put("CQ", 3, b"bb")
    store.flush()
    path = tmp_path / "store" / "consumequeue" / "CQ" / "3" / ("0" * 20)
    raw = path.read_bytes()
    assert raw[:40] == (struct.pack(">qiq", r1.phys_offset, r1.size, 2598919)
                        + struct.pack(">qiq", r2.phys_offset, r2.size, 0))
    assert sorted(os.listdir(tmp_path / "store" / "commitlog")) == ["0" * 20]


def test_batch_put_gives_consecutive_offsets(store):
    def item(body: bytes, props: bytes) -> bytes:
        return struct.pack(">iiiii", 20 + len(body) + 2 + len(props), 0, 0, 0, len(body)) + \
            body + struct.pack(">h", len(props)) + props

    batch = item(b"one", b"UNIQ_KEY\x01A1\x02") + item(b"two", b"UNIQ_KEY\x01A2")
    r = store.put_batch("B", 0, batch, extra_properties=b"CLUSTER\x01DefaultCluster\x02")
    assert (r.queue_offset, r.count, r.phys_offset) == (0, 2, 0)
    assert r.end_offset == store.max_phys_offset()
    recs = split_records(store.get("B", 0, 0).data)
    assert r.end_offset == sum(len(x) for x in recs)
    ids = r.msg_ids.split(",")  # each item's offset msgId names its own record
    assert [store.view_by_msg_id(i) for i in ids] == recs
    assert store.phys_of("B", 0, 1) == len(recs[0]) and r.store_timestamp > 0
    assert [record_body(r) for r in recs] == [b"one", b"two"]
    assert recs[1].endswith(b"UNIQ_KEY\x01A2\x02CLUSTER\x01DefaultCluster\x02")
    assert len(store.query_by_key("B", "A2")) == 1


def test_lookup_by_key_msg_id_and_time(store):
    r = store.put("K", 0, b"payload", properties=PROPS)
    assert store.query_by_key("K", "k2") == [store.read_at(r.phys_offset)]
    assert store.query_by_key("K", "U0001") == [store.read_at(r.phys_offset)]
    assert store.query_by_key("K", "absent") == []
    assert store.query_by_key("OtherTopic", "k1") == []
    assert store.view_by_msg_id(r.msg_id) == store.read_at(r.phys_offset)
    assert store.offset_by_time("K", 0, r.store_timestamp) == 0
    assert store.offset_by_time("K", 0, r.store_timestamp + 10_000) == 1
    assert store.store_time_at("K", 0, 0) == r.store_timestamp
    assert store.phys_of("K", 0, 0) == r.phys_offset


def test_reopen_keeps_everything(tmp_path):
    cfg = small_config()
    with MessageStore(tmp_path, cfg) as s:
        for i in range(5000):
            s.put(f"T{i % 3}", i % 2, b"x" * 100)
        end = s.max_phys_offset()
    with MessageStore(tmp_path, cfg) as s:
        assert s.recovery.clean_shutdown
        assert s.max_phys_offset() == end
        assert s.max_offset("T0", 0) + s.max_offset("T0", 1) == 1667
        assert s.put("T0", 0, b"y").queue_offset == s.max_offset("T0", 0) - 1
        assert {(t, q) for t, q, _, _ in s.queues()} == {
            (f"T{i}", q) for i in range(3) for q in range(2)}


def test_errors_are_typed(store, tmp_path):
    with pytest.raises(_store.MessageTooLargeError):
        store.put("T", 0, b"x" * (4 * 1024 * 1024 + 1))
    with pytest.raises(_store.StoreError):
        store.put("T" * 200, 0, b"x")
    with pytest.raises(_store.NotFoundError):
        store.read_at(3)
    with pytest.raises(_store.StoreLockedError):
        MessageStore(tmp_path / "store", small_config())
    store.close()
    with pytest.raises(_store.StoreClosedError):
        store.put("T", 0, b"x")


@pytest.mark.parametrize("topic", ["../pwn", "a/b", "..", ".", "x\x00y", "", "T" * 128])
def test_store_refuses_topics_that_are_not_safe_directory_names(store, tmp_path, topic):
    """The store's own last line behind the broker's name check: nothing outside the root."""
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(_store.StoreError):
        store.put(topic, 0, b"x", properties=PROPS)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert not (tmp_path / "pwn").exists()
    assert store.put("Fine", 0, b"x", properties=PROPS).queue_offset == 0  # still writes


def test_the_build_links_libdeflate_when_its_header_is_there():
    # setup.py picks the CRC32 library; zlib is only the fallback for a machine without it
    if not os.path.exists("/usr/include/libdeflate.h"):
        pytest.skip("libdeflate-dev is not installed: the build used zlib's crc32")
    assert _store.CRC32_PROVIDER == "libdeflate"
