"""Drive the official RocketMQ C++ client (PyPI ``rocketmq==0.4.4``) in its own process, so its
shared library never loads into pytest. Prints one JSON object per line on stdout.

    python cpp_client.py produce NAMESRV TOPIC COUNT [--mode sync|oneway|orderly|batch]
                                [--tags A] [--keys K] [--body-size N] [--delay LEVEL]
    python cpp_client.py consume NAMESRV TOPIC GROUP EXPECT [--expr '*'] [--seconds S]
                                [--broadcast] [--orderly] [--fail-first N]
    python cpp_client.py pull NAMESRV TOPIC GROUP EXPECT [--seconds S]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time

_out_lock = threading.Lock()


def out(**kw) -> None:
    """One JSON line; the client's callback threads print too, so whole lines under a lock."""
    line = json.dumps(kw) + "\n"
    with _out_lock:
        sys.stdout.write(line)
        sys.stdout.flush()


def produce(a) -> int:
    from rocketmq.client import Message, Producer

    p = Producer(a.group or "PG_INTEROP")
    p.set_namesrv_addr(a.namesrv)
    if a.access_key:
        p.set_session_credentials(a.access_key, a.secret_key, "")
    p.start()
    try:
        def make(i: int):
            m = Message(a.topic)
            body = f"{a.prefix}-{i}".encode()
            if a.body_size > len(body):
                body += b"x" * (a.body_size - len(body))
            m.set_body(body)
            if a.tags:
                m.set_tags(a.tags)
            m.set_keys(f"{a.keys}{i}" if a.keys else f"key-{i}")
            m.set_property("seq", str(i))
            if a.delay:
                m.set_delay_time_level(a.delay)
            return m

        if a.mode == "batch":
            res = p.send_batch([make(i) for i in range(a.count)])
            out(event="sent", status=int(res.status), msg_id=res.msg_id, offset=res.offset)
            return 0
        for i in range(a.count):
            m = make(i)
            t0 = time.time()
            if a.mode == "oneway":
                p.send_oneway(m)
                out(event="sent", i=i)
            elif a.mode == "orderly":
                res = p.send_orderly(m, 7)
                out(event="sent", i=i, status=int(res.status), offset=res.offset)
            elif a.access_key:  # ACL tests: a refusal is an event, not a crash
                try:
                    res = p.send_sync(m)
                except Exception as e:
                    out(event="refused", i=i, error=str(e)[:300])
                    continue
                out(event="sent", i=i, status=int(res.status), msg_id=res.msg_id)
            else:
                res = p.send_sync(m)
                out(event="sent", i=i, status=int(res.status), msg_id=res.msg_id,
                    offset=res.offset, ms=round((time.time() - t0) * 1000, 2))
    finally:
        p.shutdown()
    return 0


def consume(a) -> int:
    from rocketmq.client import MessageModel, PushConsumer, RecvMessage
    from rocketmq.ffi import _CConsumeStatus

    SUCCESS, LATER = _CConsumeStatus.CONSUME_SUCCESS.value, _CConsumeStatus.RECONSUME_LATER.value

    model = MessageModel.BROADCASTING if a.broadcast else MessageModel.CLUSTERING
    c = PushConsumer(a.group, orderly=a.orderly, message_model=model)
    c.set_namesrv_addr(a.namesrv)
    c.set_thread_count(1)
    # Its own instance name: the local offset store dir of BROADCASTING is per instance.
    c.set_instance_name(f"pyrmq-test-{os.getpid()}")
    seen: set[bytes] = set()
    total = [0]
    span = [0.0, 0.0]  # first and last delivery
    failures: dict[bytes, int] = {}
    lock = threading.Lock()
    done = threading.Event()

    def on_message(_consumer, handle):
        # Registered directly so RECONSUME_LATER can be returned (the wrapper cannot).
        msg = RecvMessage(handle)
        body = msg.body
        with lock:
            n = failures.get(body, 0)
            if n < a.fail_first:
                failures[body] = n + 1
                out(event="reconsume_later", body=body.decode(errors="replace"),
                    reconsume_times=msg.reconsume_times)
                return LATER
            if not a.quiet:
                out(event="msg", body=body.decode(errors="replace"), tags=msg.tags.decode()
                if isinstance(msg.tags, bytes) else msg.tags, keys=msg.keys.decode()
                if isinstance(msg.keys, bytes) else msg.keys, queue_id=msg.queue_id,
                queue_offset=msg.queue_offset, seq=(msg.get_property("seq") or b"").decode(),
                reconsume_times=msg.reconsume_times, topic=msg.topic.decode()
                if isinstance(msg.topic, bytes) else msg.topic)
            seen.add(body)
            total[0] += 1
            now = time.perf_counter()
            span[0] = span[0] or now
            span[1] = now
            if (total[0] if a.count_all else len(seen)) >= a.expect:
                done.set()
        return SUCCESS

    c.subscribe(a.topic, lambda m: None, a.expr)
    c._unregister_callback()
    c._register_callback(on_message)
    c.start()
    out(event="started")
    done.wait(a.seconds)
    time.sleep(a.linger)
    c.shutdown()
    out(event="done", count=total[0] if a.count_all else len(seen),
        consume_seconds=round(span[1] - span[0], 6) if span[0] else 0.0)
    return 0


def _summary(lat_ms: list[float], seconds: float, failures: int) -> dict:
    lat = sorted(lat_ms)

    def pct(q: float) -> float:
        return round(lat[min(len(lat) - 1, int(q * len(lat)))], 3) if lat else 0.0
    return {"count": len(lat), "seconds": round(seconds, 3),
            "tps": round(len(lat) / seconds, 1) if seconds else 0.0,
            "avg_ms": round(sum(lat) / len(lat), 3) if lat else 0.0, "p50_ms": pct(0.5),
            "p99_ms": pct(0.99), "p999_ms": pct(0.999), "max_ms": pct(1.0),
            "failures": failures}


def bench_produce(a) -> int:
    """send_sync from N threads; one JSON summary line."""
    from rocketmq.client import Message, Producer

    p = Producer(a.group or "PG_BENCH")
    p.set_namesrv_addr(a.namesrv)
    p.start()
    body = b"b" * a.body_size
    lat: list[float] = []
    failures = [0]
    lock = threading.Lock()
    per = a.count // a.threads

    def worker() -> None:
        m = Message(a.topic)
        m.set_body(body)
        m.set_tags("TagA")
        for _ in range(per):
            t0 = time.perf_counter()
            try:
                p.send_sync(m)
                dt = (time.perf_counter() - t0) * 1000
                with lock:
                    lat.append(dt)
            except Exception as e:
                with lock:
                    failures[0] += 1
                    if failures[0] <= 3:
                        print(f"send failed: {e}", file=sys.stderr, flush=True)

    warm = Message(a.topic)
    warm.set_body(b"warm-up")
    p.send_sync(warm)  # route + connection warm-up (not counted)
    threads = [threading.Thread(target=worker) for _ in range(a.threads)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out(event="summary", **_summary(lat, time.perf_counter() - t0, failures[0]))
    p.shutdown()
    return 0


def pull(a) -> int:
    from rocketmq.client import PullConsumer

    c = PullConsumer(a.group)
    c.set_namesrv_addr(a.namesrv)
    c.start()
    n = 0
    deadline = time.time() + a.seconds
    try:
        for msg in c.pull(a.topic):
            out(event="msg", body=msg.body.decode(errors="replace"), queue_id=msg.queue_id,
                queue_offset=msg.queue_offset)
            n += 1
            if n >= a.expect or time.time() > deadline:
                break
    finally:
        c.shutdown()
    out(event="done", count=n)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("produce")
    p.add_argument("namesrv")
    p.add_argument("topic")
    p.add_argument("count", type=int)
    p.add_argument("--mode", default="sync")
    p.add_argument("--group", default="")
    p.add_argument("--tags", default="")
    p.add_argument("--keys", default="")
    p.add_argument("--prefix", default="m")
    p.add_argument("--body-size", type=int, default=0)
    p.add_argument("--delay", type=int, default=0)
    p.add_argument("--access-key", default="")
    p.add_argument("--secret-key", default="")
    b = sub.add_parser("bench-produce")
    b.add_argument("namesrv")
    b.add_argument("topic")
    b.add_argument("count", type=int)
    b.add_argument("--threads", type=int, default=1)
    b.add_argument("--body-size", type=int, default=128)
    b.add_argument("--group", default="")
    for name in ("consume", "pull"):
        c = sub.add_parser(name)
        c.add_argument("namesrv")
        c.add_argument("topic")
        c.add_argument("group")
        c.add_argument("expect", type=int)
        c.add_argument("--expr", default="*")
        c.add_argument("--seconds", type=float, default=30)
        c.add_argument("--linger", type=float, default=0.5)
        c.add_argument("--broadcast", action="store_true")
        c.add_argument("--orderly", action="store_true")
        c.add_argument("--fail-first", type=int, default=0)
        c.add_argument("--count-all", action="store_true", help="count messages, not bodies")
        c.add_argument("--quiet", action="store_true", help="no line per message")
    a = ap.parse_args()
    return {"produce": produce, "consume": consume, "pull": pull,
            "bench-produce": bench_produce}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
