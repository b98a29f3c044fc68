"""The official client (rocketmq==0.4.4) against a pyrmq NameServer + Broker (real processes)."""

from __future__ import annotations

import time

from rmqtest.cluster import driver, driver_start, driver_wait, msgs

from pyrmq.protocol.codes import RequestCode
from pyrmq.protocol.command import request


def _sent_ok(events, n):
    sent = [e for e in events if e["event"] == "sent"]
    assert len(sent) == n
    assert all(e.get("status", 0) == 0 for e in sent)


def test_sync_send_then_push_consume_everything(cluster):
    _sent_ok(driver("produce", cluster.ns_addr, "Orders", "20", "--tags", "TagA",
                    "--keys", "order-"), 20)
    got = msgs(driver("consume", cluster.ns_addr, "Orders", "CG_ALL", "20"))
    assert sorted(m["body"] for m in got) == sorted(f"m-{i}" for i in range(20))
    for m in got:
        i = int(m["body"].split("-")[1])
        assert (m["tags"], m["keys"], m["seq"], m["topic"]) == ("TagA", f"order-{i}", str(i),
                                                                "Orders")
    # per queue, offsets are consecutive from 0
    by_q: dict[int, list[int]] = {}
    for m in got:
        by_q.setdefault(m["queue_id"], []).append(m["queue_offset"])
    for offs in by_q.values():
        assert sorted(offs) == list(range(len(offs)))


def test_oneway_orderly_large_and_batch_sends(cluster):
    _sent_ok(driver("produce", cluster.ns_addr, "Mixed", "5", "--mode", "oneway",
                    "--prefix", "one"), 5)
    _sent_ok(driver("produce", cluster.ns_addr, "Mixed", "5", "--mode", "orderly",
                    "--prefix", "ord"), 5)
    _sent_ok(driver("produce", cluster.ns_addr, "Mixed", "3", "--body-size", "6000",
                    "--prefix", "big"), 3)
    ev = driver("produce", cluster.ns_addr, "Mixed", "4", "--mode", "batch", "--prefix", "bat",
                "--tags", "TagA")
    assert ev[0]["status"] == 0
    got = msgs(driver("consume", cluster.ns_addr, "Mixed", "CG_MIX", "17", "--expr", "*"))
    bodies = [m["body"] for m in got]
    for i in range(5):
        assert f"one-{i}" in bodies
        assert f"ord-{i}" in bodies
    assert sum(b.startswith("big-") and len(b) == 6000 for b in bodies) == 3  # zlib bodies
    assert sorted(b for b in bodies if b.startswith("bat-")) == [f"bat-{i}" for i in range(4)]
    ordered = [m for m in got if m["body"].startswith("ord-")]
    assert len({m["queue_id"] for m in ordered}) == 1  # one queue, in order
    assert [m["body"] for m in sorted(ordered, key=lambda m: m["queue_offset"])] == \
        [f"ord-{i}" for i in range(5)]


def test_tag_subscriptions_filter(cluster):
    driver("produce", cluster.ns_addr, "Tagged", "6", "--tags", "TagA", "--prefix", "a")
    driver("produce", cluster.ns_addr, "Tagged", "6", "--tags", "TagB", "--prefix", "b")
    driver("produce", cluster.ns_addr, "Tagged", "6", "--tags", "TagC", "--prefix", "c")
    only_a = msgs(driver("consume", cluster.ns_addr, "Tagged", "CG_A", "6", "--expr", "TagA",
                         "--linger", "2"))
    assert sorted(m["body"] for m in only_a) == [f"a-{i}" for i in range(6)]
    ab = msgs(driver("consume", cluster.ns_addr, "Tagged", "CG_AB", "12",
                     "--expr", "TagA || TagB", "--linger", "2"))
    assert {m["tags"] for m in ab} == {"TagA", "TagB"} and len(ab) == 12


def test_reconsume_later_retries_then_dead_letter(cluster):
    driver("produce", cluster.ns_addr, "Flaky", "1", "--prefix", "retry")
    ev = driver("consume", cluster.ns_addr, "Flaky", "CG_RETRY", "1", "--fail-first", "1",
                "--seconds", "30")
    got = msgs(ev)
    assert [m["body"] for m in got] == ["retry-0"]
    assert got[0]["reconsume_times"] >= 1 and got[0]["topic"] == "Flaky"
    # a message that always fails ends in %DLQ%<group> after retryMaxTimes (2 here)
    driver("produce", cluster.ns_addr, "Doomed", "1", "--prefix", "doomed")
    driver("consume", cluster.ns_addr, "Doomed", "CG_DLQ", "1", "--fail-first", "99",
           "--seconds", "12")
    r = cluster.invoke(request(RequestCode.GET_MAX_OFFSET, {"topic": "%DLQ%CG_DLQ",
                                                            "queueId": 0}))
    assert r.code == 0 and int(r.ext_fields["offset"]) == 1


def test_delay_level_is_honoured(cluster):
    t0 = time.time()
    driver("produce", cluster.ns_addr, "Later", "1", "--delay", "2", "--prefix", "late")
    p = driver_start("consume", cluster.ns_addr, "Later", "CG_LATE", "1", "--seconds", "20")
    got = msgs(driver_wait(p))
    assert [m["body"] for m in got] == ["late-0"]
    assert time.time() - t0 >= 2.0  # level 2 = 2 s in this broker's messageDelayLevel


def test_clustering_splits_and_broadcasting_copies(cluster):
    driver("produce", cluster.ns_addr, "Shared", "40", "--prefix", "s")
    a = driver_start("consume", cluster.ns_addr, "Shared", "CG_SPLIT", "40", "--seconds", "15")
    b = driver_start("consume", cluster.ns_addr, "Shared", "CG_SPLIT", "40", "--seconds", "15")
    ga, gb = msgs(driver_wait(a)), msgs(driver_wait(b))
    bodies = [m["body"] for m in ga + gb]
    assert sorted(set(bodies)) == sorted(f"s-{i}" for i in range(40))
    # A new BROADCASTING consumer starts at the queue's end (CONSUME_FROM_LAST_OFFSET with
    # no local offset): create the topic, start both, let them settle, then produce.
    driver("produce", cluster.ns_addr, "Cast", "1", "--prefix", "warmup")
    c = driver_start("consume", cluster.ns_addr, "Cast", "CG_BC", "10", "--broadcast",
                     "--seconds", "30")
    d = driver_start("consume", cluster.ns_addr, "Cast", "CG_BC", "10", "--broadcast",
                     "--seconds", "30")
    time.sleep(6)
    driver("produce", cluster.ns_addr, "Cast", "10", "--prefix", "c")
    for p in (c, d):
        assert sorted({m["body"] for m in msgs(driver_wait(p))}) == \
            sorted(f"c-{i}" for i in range(10))


def test_broker_kill9_loses_nothing_acknowledged(cluster):
    _sent_ok(driver("produce", cluster.ns_addr, "Durable", "30", "--prefix", "d"), 30)
    cluster.restart_broker(kill9=True)
    assert "crash recovery" in cluster.broker.log()
    got = msgs(driver("consume", cluster.ns_addr, "Durable", "CG_DUR", "30", "--seconds", "40"))
    assert sorted(m["body"] for m in got) == sorted(f"d-{i}" for i in range(30))


def test_pull_consumer_reads_queues(cluster):
    driver("produce", cluster.ns_addr, "Pulled", "8", "--prefix", "p")
    got = msgs(driver("pull", cluster.ns_addr, "Pulled", "CG_PULL", "8", "--seconds", "20"))
    assert sorted(m["body"] for m in got) == sorted(f"p-{i}" for i in range(8))


def test_orderly_push_consumer_keeps_queue_order(cluster):
    _sent_ok(driver("produce", cluster.ns_addr, "Seq", "12", "--mode", "orderly",
                    "--prefix", "o"), 12)
    got = msgs(driver("consume", cluster.ns_addr, "Seq", "CG_ORD", "12", "--orderly"))
    assert [m["body"] for m in got] == [f"o-{i}" for i in range(12)]  # delivery order
    assert len({m["queue_id"] for m in got}) == 1


def test_consumer_leaves_and_the_other_takes_over(cluster):
    driver("produce", cluster.ns_addr, "Handover", "20", "--prefix", "h1")
    a = driver_start("consume", cluster.ns_addr, "Handover", "CG_HAND", "1000", "--seconds", "8")
    b = driver_start("consume", cluster.ns_addr, "Handover", "CG_HAND", "40", "--seconds", "45")
    first = msgs(driver_wait(a))  # a shuts down cleanly after 8 s
    driver("produce", cluster.ns_addr, "Handover", "20", "--prefix", "h2")
    second = msgs(driver_wait(b, timeout=60))
    seen = {m["body"] for m in first + second}
    assert seen == {f"h1-{i}" for i in range(20)} | {f"h2-{i}" for i in range(20)}
    assert {m["body"] for m in second} >= {f"h2-{i}" for i in range(20)}
