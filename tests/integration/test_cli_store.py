"""`pyrmq store` offline tools on a real store, healthy and damaged in known ways."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from rmqtest.procs import REPO
from rmqtest.store import small_config

from pyrmq.store import MessageStore


def cli(*args: str) -> tuple[int, dict | list | str]:
    p = subprocess.run([sys.executable, "-m", "pyrmq", "store", *args, "--json"],
                       capture_output=True, text=True, timeout=120, cwd=REPO)
    try:
        return p.returncode, json.loads(p.stdout)
    except ValueError:
        return p.returncode, p.stdout + p.stderr


@pytest.fixture
def store_dir(tmp_path):
    root = tmp_path / "store"
    with MessageStore(root, small_config(mappedFileSizeCommitLog=64 * 1024)) as s:
        for i in range(600):
            s.put("Ops", i % 2, f"body-{i}".encode() + b"." * 200,
                  properties=f"TAGS\x01T{i % 3}\x02KEYS\x01key-{i}\x02UNIQ_KEY\x01U{i}\x02"
                  .encode())
    return root


def test_info_dump_get_and_clean_verify(store_dir):
    rc, info = cli("info", str(store_dir))
    assert rc == 0 and info["cleanShutdown"] and not info["locked"]
    assert sum(s["records"] for s in info["segments"]) == 600
    assert {(q["topic"], q["queueId"], q["entries"]) for q in info["queues"]} == {
        ("Ops", 0, 300), ("Ops", 1, 300)}
    rc, rows = cli("dump", str(store_dir), "--topic", "Ops", "--queue", "1", "--limit", "3")
    assert rc == 0 and [r["queueOffset"] for r in rows] == [0, 1, 2]
    assert rows[0]["keys"] == "key-1" and rows[0]["tags"] == "T1"
    rc, found = cli("get", str(store_dir), "--topic", "Ops", "--key", "key-77")
    assert rc == 0 and [r["body"][:7] for r in found] == ["body-77"]
    rc, by_id = cli("get", str(store_dir), "--msg-id", found[0]["msgId"])
    assert rc == 0 and by_id[0]["offset"] == found[0]["offset"]
    rc, report = cli("verify", str(store_dir))
    assert rc == 0 and report["clean"] and report["records"] == 600
    rc, _ = cli("get", str(store_dir), "--topic", "Ops", "--key", "nope")
    assert rc != 0


def _last_segment(root):
    d = os.path.join(root, "commitlog")
    return os.path.join(d, sorted(os.listdir(d))[-1])


def test_verify_reports_damage_and_rebuild_repairs(store_dir):
    # 1. flip a byte inside the body of a record in the newest segment
    with MessageStore(store_dir, small_config(mappedFileSizeCommitLog=64 * 1024)) as s:
        phys = s.phys_of("Ops", 1, 299)
    seg = _last_segment(store_dir)
    base = int(os.path.basename(seg))
    with open(seg, "r+b") as f:
        f.seek(phys - base + 90)  # inside the body (it starts at byte 88)
        b = f.read(1)
        f.seek(phys - base + 90)  # inside the body (it starts at byte 88)
        f.write(bytes([b[0] ^ 0xFF]))
    # 2. delete a consume queue file and 3. the index files
    qdir = store_dir / "consumequeue" / "Ops" / "0"
    os.remove(qdir / sorted(os.listdir(qdir))[0])
    shutil.rmtree(store_dir / "index")
    os.makedirs(store_dir / "index")
    rc, report = cli("verify", str(store_dir))
    assert rc == 1 and not report["clean"]
    whats = [p["problem"] for p in report["problems"]]
    assert any("CRC" in w and p["file"] == seg and p["offset"] == phys - base
               for w, p in zip(whats, report["problems"], strict=True))
    assert any("has no consume queue entry" in w and "Ops/0" in p["file"]
               for w, p in zip(whats, report["problems"], strict=True))
    assert any("not in any index file" in w for w in whats)
    rc, out = cli("rebuild", str(store_dir))
    assert rc == 0 and out["consumeQueueEntriesRebuilt"] >= 100
    rc, report = cli("verify", str(store_dir))
    assert rc == 0 and report["clean"], report
    assert report["records"] == 599  # the damaged record (the tail) was truncated


def test_rebuild_refuses_a_locked_store(store_dir):
    with MessageStore(store_dir, small_config(mappedFileSizeCommitLog=64 * 1024)):
        rc, out = cli("rebuild", str(store_dir), "--cq")
    assert rc != 0 and "locked" in str(out)


def test_wrong_size_segment_is_a_problem_and_rebuild_fixes_it(store_dir):
    segs = sorted(os.listdir(store_dir / "commitlog"))
    assert len(segs) >= 3
    middle = str(store_dir / "commitlog" / segs[1])
    os.truncate(middle, 40_000)  # a copy cut short, in the middle of the log
    rc, report = cli("verify", str(store_dir))
    assert rc == 1, report
    assert {"file": middle, "offset": 0,
            "problem": "segment size 40000 bytes, expected 65536 (mappedFileSizeCommitLog)"
            } in report["problems"]
    rc, out = cli("rebuild", str(store_dir))
    assert rc != 0 and middle in str(out) and "--fix-segment-size" in str(out)
    assert "Traceback" not in str(out)
    rc, out = cli("rebuild", str(store_dir), "--fix-segment-size")
    assert rc == 0, out
    assert len(out["segmentsFixed"]) == 1 and "BLANK end marker" in out["segmentsFixed"][0]
    assert os.path.getsize(middle) == 65536
    rc, report = cli("verify", str(store_dir))
    assert rc == 0 and report["clean"], report
    # what the short file lost is gone; the later segments' records are all still there
    rc, info = cli("info", str(store_dir))
    assert rc == 0 and info["segments"][-1]["records"] > 0
    assert 500 < report["records"] < 600


def test_short_last_segment_is_extended(store_dir):
    last = _last_segment(store_dir)
    os.truncate(last, 10_000)
    rc, out = cli("rebuild", str(store_dir), "--fix-segment-size", "--segment-size", "65536")
    assert rc == 0, out
    assert out["segmentsFixed"] == [f"{last}: extended from 10000 to 65536 bytes" + (
        out["segmentsFixed"][0].split("65536 bytes", 1)[1])]
    rc, report = cli("verify", str(store_dir))
    assert rc == 0 and report["clean"], report
