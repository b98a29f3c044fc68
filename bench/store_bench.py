"""Storage engine benchmark: raw disk ceiling, put/get throughput, group commit, index, recovery.

    .venv/bin/python bench/store_bench.py            # default sizes (~1-2 minutes)
    .venv/bin/python bench/store_bench.py --quick    # small sizes (seconds; used as a smoke run)
    .venv/bin/python bench/store_bench.py --full     # adds recovery of a 1 GiB log

Prints one line per measurement; numbers go to bench/RESULTS.md by hand. Nothing is asserted:
targets are reported beside the measured values.
"""

from __future__ import annotations

import argparse
import mmap
import os
import shutil
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Callable

from pyrmq.store import MessageStore, StoreConfig

MB = 1024 * 1024


def _line(name: str, value: float, unit: str, extra: str = "") -> None:
    print(f"{name:<44} {value:>14,.0f} {unit:<8} {extra}", flush=True)


def raw_mmap_ceiling(workdir: str, size: int) -> float:
    """MB/s of sequential 1 MiB copies into a fresh, preallocated mapped file (page faults
    included) — the same kind of file the store appends into."""
    path = os.path.join(workdir, "raw.mmap")
    chunk = b"\xab" * MB
    with open(path, "w+b") as f:
        os.posix_fallocate(f.fileno(), 0, size)
        m = mmap.mmap(f.fileno(), size)
        t0 = time.perf_counter()
        for pos in range(0, size, len(chunk)):
            m[pos:pos + len(chunk)] = chunk
        dt = time.perf_counter() - t0
        m.close()
    os.unlink(path)
    return size / MB / dt


def fdatasync_bandwidth(workdir: str, size: int) -> float:
    """MB/s of write() + fdatasync() in 1 MiB steps."""
    path = os.path.join(workdir, "raw.sync")
    chunk = b"\xcd" * MB
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
    try:
        t0 = time.perf_counter()
        for _ in range(size // MB):
            os.write(fd, chunk)
            os.fdatasync(fd)
        dt = time.perf_counter() - t0
    finally:
        os.close(fd)
        os.unlink(path)
    return size / MB / dt


def batch_body(n: int, body: bytes) -> bytes:
    """A SEND_BATCH wire body of n items (ROCKETMQ_FACTS §4.4)."""
    items = []
    for i in range(n):
        props = b"TAGS\x01TagA\x02UNIQ_KEY\x01" + f"{i:032X}".encode() + b"\x02"
        items.append(struct.pack(">iiiii", 20 + len(body) + 2 + len(props), 0, 0, 0, len(body))
                     + body + struct.pack(">h", len(props)) + props)
    return b"".join(items)


def config(**kw) -> StoreConfig:
    base = dict(mappedFileSizeCommitLog=256 * MB, maxHashSlotNum=500_000, maxIndexNum=2_000_000)
    base.update(kw)
    return StoreConfig(**base)


def timed(fn: Callable[[], int]) -> tuple[int, float]:
    t0 = time.perf_counter()
    n = fn()
    return n, time.perf_counter() - t0


def bench_puts(workdir: str, body_size: int, total: int, batch: int, ceiling: float) -> None:
    root = os.path.join(workdir, f"put-{body_size}-{batch}")
    body = b"x" * body_size
    with MessageStore(root, config()) as s:
        if batch == 1:
            put = s.put
            # like a real producer's: a tag and a unique key (indexed), made before timing
            props = [b"TAGS\x01TagA\x02UNIQ_KEY\x01" + f"{i:032X}".encode() + b"\x02"
                     for i in range(total)]

            def run() -> int:
                for i in range(total):
                    put("Bench", i & 7, body, properties=props[i])
                return total
        else:
            bb = batch_body(batch, body)

            def run() -> int:
                for i in range(total // batch):
                    s.put_batch("Bench", i & 7, bb)
                return total // batch * batch
        n, dt = timed(run)
        stored = s.max_phys_offset()
    shutil.rmtree(root)
    mbps = stored / MB / dt
    label = "single puts" if batch == 1 else f"batches of {batch}"
    _line(f"put {body_size} B, {label}", n / dt, "msgs/s",
          f"{mbps:,.0f} MB/s = {mbps / ceiling:.0%} of mmap ceiling")


def bench_group_commit(workdir: str, writers: int, per_writer: int) -> None:
    root = os.path.join(workdir, f"sync-{writers}")
    with MessageStore(root, config(flushDiskType="SYNC_FLUSH")) as s:
        body = b"y" * 1024

        def writer(q: int) -> None:
            for _ in range(per_writer):
                s.put("Sync", q % 8, body)

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        dt = time.perf_counter() - t0
    shutil.rmtree(root)
    _line(f"SYNC_FLUSH group commit, {writers} writers, 1 KiB", writers * per_writer / dt,
          "msgs/s", f"{writers * per_writer / dt / 1000 * 1:.1f}k acked durable puts/s")


def bench_reads_and_index(workdir: str, total: int) -> None:
    root = os.path.join(workdir, "reads")
    with MessageStore(root, config()) as s:
        for i in range(total):
            s.put("Read", 0, b"z" * 128, properties=b"KEYS\x01key%d\x02" % i)
        t0 = time.perf_counter()
        offset = n = 0
        while True:
            r = s.get("Read", 0, offset, 32)
            if not r.count:
                break
            n += r.count
            offset = r.next_begin_offset
        dt = time.perf_counter() - t0
        _line("get through consume queue, 32 per call", n / dt, "msgs/s")
        keys = [f"key{(i * 7919) % total}" for i in range(2000)]
        t0 = time.perf_counter()
        for k in keys:
            assert len(s.query_offsets_by_key("Read", k)) == 1
        dt = time.perf_counter() - t0
        _line("index query by key", dt / len(keys) * 1e6, "us/query")
    shutil.rmtree(root)


def bench_recovery(workdir: str, size: int) -> None:
    root = os.path.join(workdir, "recover")
    bb = batch_body(256, b"r" * 1024)
    with MessageStore(root, config(mappedFileSizeCommitLog=256 * MB)) as s:
        while s.max_phys_offset() < size:
            s.put_batch("Rec", 0, bb)
        end = s.max_phys_offset()
    open(os.path.join(root, "abort"), "wb").close()  # as after a crash
    t0 = time.perf_counter()
    with MessageStore(root, config(mappedFileSizeCommitLog=256 * MB)) as s:
        dt = time.perf_counter() - t0
        rep = s.recovery
    shutil.rmtree(root)
    _line(f"crash recovery of a {end / MB:,.0f} MiB log", dt * 1000, "ms",
          f"scanned {rep.records_scanned:,} records from {rep.scan_from}")
    shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, seconds")
    ap.add_argument("--full", action="store_true", help="also recover a 1 GiB log")
    ap.add_argument("--dir", default=None, help="work directory (default: a temp dir in .)")
    args = ap.parse_args(argv)
    scale = 0.05 if args.quick else 1.0
    workdir = tempfile.mkdtemp(prefix="pyrmq-bench-", dir=args.dir or os.getcwd())
    try:
        print(f"pyrmq store benchmark (python {sys.version.split()[0]}, {os.cpu_count()} cpus,"
              f" dir {workdir})")
        ceiling = raw_mmap_ceiling(workdir, int(512 * MB * max(scale, 0.25)))
        _line("raw ceiling: fresh mmap sequential write", ceiling, "MB/s")
        _line("raw ceiling: write + fdatasync 1 MiB", fdatasync_bandwidth(
            workdir, int(128 * MB * max(scale, 0.25))), "MB/s")
        for size in (128, 1024):
            bench_puts(workdir, size, int(400_000 * scale), 1, ceiling)
            for batch in (32, 256):
                bench_puts(workdir, size, int(2_000_000 * scale) // batch * batch or batch,
                           batch, ceiling)
        for writers in (16, 64):
            bench_group_commit(workdir, writers, max(1, int(400 * scale)))
        bench_reads_and_index(workdir, int(400_000 * scale))
        if args.full:
            bench_recovery(workdir, 1024 * MB)
        elif not args.quick:
            bench_recovery(workdir, 256 * MB)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
