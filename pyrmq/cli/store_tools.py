"""``pyrmq store``: offline inspection, verification and repair of a store directory.

    pyrmq store info DIR                 segments, queues, index files, checkpoint, clean shutdown?
    pyrmq store dump DIR [--from OFF] [--topic T] [--queue Q] [--limit N]
    pyrmq store verify DIR [--segment-size N]   segment sizes, records (magic/size/CRC), CQ
                                         entries, index entries
    pyrmq store rebuild DIR [--cq] [--index] [--fix-segment-size] [--segment-size N]
                                         (refuses while a broker holds the store lock)
    pyrmq store get DIR (--key K --topic T | --msg-id ID | --offset OFF)

Every command takes --json; exit status is non-zero on failure (verify: when problems exist).
"""

from __future__ import annotations

import argparse
import os
import shutil
import struct
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from pyrmq import _store
from pyrmq.cli.output import CommandError, emit, fail
from pyrmq.cli.progress import ByteProgress, wanted
from pyrmq.protocol.message import (
    decode_record,
    java_hash,
    parse_offset_msg_id,
)
from pyrmq.store import files, repair

SCHEDULE = "SCHEDULE_TOPIC_XXXX"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("store", help="inspect, verify and repair a store directory offline")
    s = p.add_subparsers(dest="store_cmd", required=True)
    for name, fn, help_ in (("info", info, "summary of a store"),
                            ("dump", dump, "decoded records"),
                            ("verify", verify, "check records, queues and indexes"),
                            ("rebuild", rebuild, "rebuild consume queues and/or indexes"),
                            ("get", get, "find messages by key, msgId or offset")):
        c = s.add_parser(name, help=help_)
        c.add_argument("dir")
        c.add_argument("--json", action="store_true", help="machine-readable output")
        c.set_defaults(func=lambda a, fn=fn: _run(fn, a))
        if name == "dump":
            c.add_argument("--from", dest="start", type=int, default=0)
            c.add_argument("--topic")
            c.add_argument("--queue", type=int)
            c.add_argument("--limit", type=int, default=100)
        if name in ("verify", "rebuild"):
            c.add_argument("--segment-size", type=int, default=None,
                           help="mappedFileSizeCommitLog (default: the size most segments have)")
        if name == "rebuild":
            c.add_argument("--cq", action="store_true")
            c.add_argument("--index", action="store_true")
            c.add_argument("--fix-segment-size", action="store_true",
                           help="extend short commitlog segments (BLANK-terminated when not the "
                                "last), shrink zero-padded long ones")
        if name == "get":
            c.add_argument("--key")
            c.add_argument("--topic")
            c.add_argument("--msg-id")
            c.add_argument("--offset", type=int)


def _run(fn, args: argparse.Namespace) -> int:
    if not os.path.isdir(os.path.join(args.dir, "commitlog")):
        return fail(f"{args.dir} is not a store directory (no commitlog/)")
    try:
        return fn(args)
    except (CommandError, ValueError) as e:  # ValueError: an index geometry we cannot read
        return fail(str(e))


def _row(phys: int, raw: bytes) -> dict[str, Any]:
    m = decode_record(raw)
    body = m.decompressed_body() if m.sysflag & 1 else m.body
    return {"offset": phys, "msgId": m.offset_msg_id, "topic": m.topic, "queueId": m.queue_id,
            "queueOffset": m.queue_offset, "tags": m.tags or "", "keys": " ".join(m.keys),
            "uniqKey": m.uniq_key or "", "bornTimestamp": m.born_timestamp,
            "storeTimestamp": m.store_timestamp, "size": m.size, "properties": m.properties,
            "body": body[:64].decode("utf-8", "replace")}


def info(args: argparse.Namespace) -> int:
    segs = []
    total = sum(size for _, _, size in files.segments(args.dir))
    done = 0
    with ByteProgress(total, "scanning", wanted(args.json)) as bar:
        for base, path, size in files.segments(args.dir):
            first = last = None
            count, end = 0, base
            for i, (phys, raw) in enumerate(files.scan_commitlog(args.dir, base)):
                if phys >= base + size:
                    break
                ts = struct.unpack_from(">q", raw, 56 + (12 if raw[39] & 0x10 else 0))[0]
                first = ts if first is None else first
                last, count, end = ts, count + 1, phys + len(raw)
                if i % 4096 == 0:
                    bar.update_to(done + phys - base)
            done += size
            bar.update_to(done)
            segs.append({"segment": os.path.basename(path), "size": size, "records": count,
                         "fromOffset": base, "dataEnd": end, "firstStoreTime": first or 0,
                         "lastStoreTime": last or 0})
    queues = []
    for topic, q in files.consume_queues(args.dir):
        entries = list(files.cq_entries(args.dir, topic, q))
        real = [e for e in entries if e[2] != 0x7FFFFFFF]
        queues.append({"topic": topic, "queueId": q, "entries": len(real),
                       "minOffset": real[0][0] if real else 0,
                       "maxOffset": entries[-1][0] + 1 if entries else 0})
    out = {"dir": args.dir, "cleanShutdown": not os.path.exists(os.path.join(args.dir, "abort")),
           "locked": files.store_locked(args.dir), "checkpoint": files.checkpoint(args.dir),
           "segments": segs, "queues": queues, "indexFiles": files.index_files(args.dir)}
    if args.json:
        emit(out, True)
        return 0
    print(f"store {args.dir}: clean shutdown {out['cleanShutdown']}, locked {out['locked']}")
    print(f"checkpoint {out['checkpoint']}")
    emit(segs, False, ["segment", "size", "records", "dataEnd", "firstStoreTime",
                       "lastStoreTime"])
    emit(queues, False, ["topic", "queueId", "entries", "minOffset", "maxOffset"])
    emit(out["indexFiles"], False, ["file", "indexCount", "beginPhyOffset", "endPhyOffset"])
    return 0


def dump(args: argparse.Namespace) -> int:
    rows = []
    start, total = _span(args.dir, args.start)
    with ByteProgress(total, "dumping", wanted(args.json)) as bar:
        for i, (phys, raw) in enumerate(files.scan_commitlog(args.dir, args.start)):
            if i % 4096 == 0:
                bar.update_to(phys - start)
            row = _row(phys, raw)
            if args.topic and row["topic"] != args.topic:
                continue
            if args.queue is not None and row["queueId"] != args.queue:
                continue
            rows.append(row)
            if len(rows) >= args.limit:
                break
        else:
            bar.finish()
    emit(rows, args.json, None if args.json else
         ["offset", "topic", "queueId", "queueOffset", "tags", "keys", "storeTimestamp", "body"])
    return 0


def _span(root: str, start: int) -> tuple[int, int]:
    """(first byte, bytes to scan) of the commitlog from ``start`` on (the progress total)."""
    segs = files.segments(root)
    if not segs:
        return start, 0
    first = max(start, segs[0][0])
    return first, max(0, segs[-1][0] + segs[-1][2] - first)


def _tags_code(m) -> int:
    if m.topic == SCHEDULE and m.properties.get("DELAY"):
        return -1  # delivery time: depends on the broker's delay levels; not checked
    return java_hash(m.tags) if m.tags else 0


def _index_hashes(m) -> set[int]:
    keys = list(m.keys) + ([m.uniq_key] if m.uniq_key else [])
    out = set()
    for k in keys:
        h = java_hash(f"{m.topic}#{k}")
        out.add(0 if h == -(2**31) else abs(h))
    return out


def verify(args: argparse.Namespace) -> int:
    problems: list[files.Problem] = []
    records: dict[int, Any] = {}
    expected = repair.expected_segment_size(args.dir, args.segment_size)
    if expected:
        problems += repair.segment_size_problems(args.dir, expected)
    start, total = _span(args.dir, 0)
    with ByteProgress(total, "verifying commitlog", wanted(args.json)) as bar:
        for i, (phys, raw) in enumerate(files.scan_commitlog(args.dir, 0, problems)):
            records[phys] = decode_record(raw)
            if i % 4096 == 0:
                bar.update_to(phys - start)
        bar.finish()
    # consume queues: every entry points at a record of its topic/queue with its offset
    present: set[tuple[str, int, int]] = set()
    for topic, q in files.consume_queues(args.dir):
        qdir = os.path.join(args.dir, "consumequeue", topic, str(q))
        file_bytes = _cq_file_bytes(qdir)  # once per queue: every file has the same size
        for off, phys, size, tags in files.cq_entries(args.dir, topic, q):
            if size == 0x7FFFFFFF:
                continue
            pos = off * 20
            name = os.path.join(qdir, f"{pos - pos % file_bytes:020d}")
            m = records.get(phys)
            what = None
            if m is None:
                what = f"entry {off} points at {phys}: no record there"
            elif (m.topic, m.queue_id, m.queue_offset, m.size) != (topic, q, off, size):
                what = f"entry {off} does not match the record at {phys}"
            elif _tags_code(m) not in (-1, tags):
                what = f"entry {off} tagsCode {tags} != {_tags_code(m)}"
            if what:
                problems.append(files.Problem(name, pos % file_bytes, what))
            if m is None:
                continue
            present.add((topic, q, off))
    for phys, m in records.items():
        if m.sysflag & 0xC in (0, 0x8) and (m.topic, m.queue_id, m.queue_offset) not in present:
            problems.append(files.Problem(
                os.path.join(args.dir, "consumequeue", m.topic, str(m.queue_id)), 0,
                f"record at {phys} ({m.topic}/{m.queue_id}@{m.queue_offset}) has no consume "
                "queue entry"))
    # index files: entries point at record starts whose keys hash to the entry's hash
    indexed: set[int] = set()
    for ix in files.index_files(args.dir):
        path = os.path.join(args.dir, "index", str(ix["file"]))
        with open(path, "rb") as f:
            data = f.read()
        slots = files.index_slots(len(data))
        for n in range(1, int(ix["indexCount"])):
            pos = files.INDEX_HEADER + slots * 4 + n * 20
            h, phys = struct.unpack_from(">iq", data, pos)
            m = records.get(phys)
            if m is None:
                if phys >= min(records, default=0):
                    problems.append(files.Problem(path, pos, f"index entry {n} points at {phys}: "
                                                  "no record there"))
                continue
            if h not in _index_hashes(m):
                problems.append(files.Problem(path, pos, f"index entry {n} hash {h} matches no "
                                              f"key of the record at {phys}"))
            indexed.add(phys)
    for phys, m in records.items():
        if (m.keys or m.uniq_key) and phys not in indexed and m.sysflag & 0xC != 0xC:
            problems.append(files.Problem(os.path.join(args.dir, "index"), 0,
                                          f"record at {phys} is not in any index file"))
    out = {"records": len(records), "problems": [p.to_dict() for p in problems],
           "clean": not problems}
    if args.json:
        emit(out, True)
    else:
        for p in problems:
            print(f"{p.file}:{p.offset}: {p.what}")
        print(f"{len(records)} records checked, {len(problems)} problem(s)")
    return 0 if not problems else 1


def _cq_file_bytes(qdir: str) -> int:
    names = sorted(n for n in os.listdir(qdir) if n.isdigit()) if os.path.isdir(qdir) else []
    return os.path.getsize(os.path.join(qdir, names[0])) if names else 6_000_000


def rebuild(args: argparse.Namespace) -> int:
    from pyrmq.store import MessageStore, RecoveryReport, StoreConfig

    if not (args.cq or args.index):
        args.cq = args.index = True
    if files.store_locked(args.dir):
        raise CommandError(f"{args.dir} is locked by a running broker; stop it first")
    seg_size = (repair.expected_segment_size(args.dir, args.segment_size)
                or StoreConfig().mappedFileSizeCommitLog)
    fixed: list[str] = []
    wrong = repair.segment_size_problems(args.dir, seg_size)
    if wrong and not args.fix_segment_size:
        raise CommandError("; ".join(f"{p.file}: {p.what}" for p in wrong) +
                           " — run `pyrmq store rebuild DIR --fix-segment-size` (with "
                           "--segment-size N if N is not the size most segments have)")
    if wrong:
        try:
            fixed = repair.fix_segment_sizes(args.dir, seg_size)
        except repair.RepairError as e:
            raise CommandError(str(e)) from None
    if args.cq:
        shutil.rmtree(os.path.join(args.dir, "consumequeue"), ignore_errors=True)
    if args.index:
        shutil.rmtree(os.path.join(args.dir, "index"), ignore_errors=True)
    geometry = {}
    kept = files.index_files(args.dir)
    if kept:  # keep the index geometry of the files that stay (RocketMQ's 1:4 ratio)
        slots = files.index_slots(int(kept[0]["size"]))
        geometry = {"maxHashSlotNum": slots, "maxIndexNum": slots * 4}
    cfg = StoreConfig(storePathRootDir=args.dir, mappedFileSizeCommitLog=seg_size, **geometry)
    _, total = _span(args.dir, 0)

    def reopen() -> RecoveryReport:
        with MessageStore(args.dir, cfg) as s:
            return s.recovery

    try:
        # the C core rebuilds in one call (GIL released) with no progress callback: the bar
        # shows the elapsed time while it runs and fills when it returns
        with ByteProgress(total, "rebuilding", wanted(args.json)) as bar, \
                ThreadPoolExecutor(1) as pool:
            fut = pool.submit(reopen)
            while not fut.done():
                bar.refresh()
                wait([fut], timeout=0.25)
            rep = fut.result()
            bar.finish()
    except _store.StoreError as e:
        raise CommandError(f"cannot open {args.dir}: {e}") from None
    out = {"segmentsFixed": fixed, "consumeQueueEntriesRebuilt": rep.cq_entries_rebuilt,
           "indexEntriesRebuilt": rep.index_entries_rebuilt,
           "recordsTruncated": rep.records_truncated, "summary": rep.summary()}
    emit(out, args.json)
    return 0


def get(args: argparse.Namespace) -> int:
    offsets: list[int] = []
    if args.msg_id:
        try:
            offsets = [parse_offset_msg_id(args.msg_id)[2]]
        except ValueError as e:
            raise CommandError(str(e)) from None
    elif args.offset is not None:
        offsets = [args.offset]
    elif args.key and args.topic:
        offsets = files.index_lookup(args.dir, args.topic, args.key)
    else:
        raise CommandError("give --key with --topic, --msg-id, or --offset")
    rows = []
    for phys in offsets:
        raw = files.read_record(args.dir, phys)
        if raw is None:
            continue
        row = _row(phys, raw)
        if args.key and args.key not in row["keys"].split(" ") + [row["uniqKey"]]:
            continue
        rows.append(row)
    if not rows:
        raise CommandError("no message found")
    emit(rows, args.json, None if args.json else
         ["offset", "msgId", "topic", "queueId", "queueOffset", "tags", "keys", "body"])
    return 0
